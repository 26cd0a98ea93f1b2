//! The redo log as forensic recovery reads it: a stream of bytes that holds, among the
//! page changes it logs, every undo record written since its oldest checkpoint still in
//! the file.
//!
//! Why it matters: a DROP's undo records name the dropped table's index ids (see
//! [`crate::undo`]), but the undo page that holds them may be freed by purge before the
//! page cleaner ever writes it, and then it never reaches the undo tablespace. The redo log
//! got those bytes at commit. Measured on MariaDB 10.11: the undo record of a DROP's
//! SYS_TABLES delete-mark, and those of its SYS_INDEXES, appear in `ib_logfile0` byte for
//! byte, a few hundred bytes apart, so [`crate::undo::dropped_tables`] finds them there
//! as it does on undo pages. The records are not parsed: the undo bytes are searched for.
//!
//! Two framings:
//! - MariaDB 10.8 and later (`ib_logfile0` starting with the format tag `Phys`): a
//!   12,288-byte header, then the log as one circular stream of records;
//! - everything older, and MySQL (5.7's `ib_logfile*`, 8.0.30's `#ib_redo*`): a 2,048-byte
//!   header, then 512-byte blocks, each a 12-byte header (block number, data length, first
//!   record group, checkpoint number) and a 4-byte checksum around 496 bytes of the
//!   stream. [`unframe`] joins the blocks' payloads, so that a record cut by a block
//!   boundary is whole again.

/// Size of a log block in the block framing.
pub const BLOCK: usize = 512;

/// Header bytes of a log block.
const BLOCK_HEADER: usize = 12;

/// Trailer bytes (checksum) of a log block.
const BLOCK_TRAILER: usize = 4;

/// How a redo log file frames its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// MariaDB 10.8+: one stream from byte [`Framing::start`].
    Stream,
    /// 512-byte blocks from byte [`Framing::start`].
    Blocks,
}

impl Framing {
    /// The framing of the file whose first bytes are `head`.
    pub fn of(head: &[u8]) -> Framing {
        if head.starts_with(b"Phys") {
            Framing::Stream
        } else {
            Framing::Blocks
        }
    }

    /// Where the log records start (the file header and checkpoints come before).
    pub fn start(self) -> u64 {
        match self {
            Framing::Stream => 12_288,
            Framing::Blocks => 2_048,
        }
    }
}

/// What the first bytes of a redo log file say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// How its records are framed.
    pub framing: Framing,
    /// The server (or backup tool) that created it, e.g. `MariaDB 10.11.19`.
    pub creator: String,
}

impl Header {
    /// The header of a redo log file, or `None` when `head` is not one: the creator field
    /// (32 bytes at byte 16, in every format) names a server or backup tool that writes
    /// InnoDB logs.
    pub fn parse(head: &[u8]) -> Option<Header> {
        let field = head.get(16..48)?;
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        let creator = std::str::from_utf8(field.get(..end)?).ok()?.trim();
        let known = [
            "MariaDB",
            "MySQL",
            "ibbackup",
            "xtrabkup",
            "mariabackup",
            "Percona",
        ];
        known
            .iter()
            .any(|k| creator.starts_with(k))
            .then(|| Header {
                framing: Framing::of(head),
                creator: creator.to_owned(),
            })
    }
}

/// The stream bytes of `blocks`, which start at a block boundary: each block's payload, in
/// file order. A block's own data length cuts a block that was not filled; a length that
/// makes no sense (a block never written, or damaged) keeps the whole payload, since these
/// bytes are searched, not trusted.
pub fn unframe(blocks: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(blocks.len() / BLOCK * (BLOCK - BLOCK_HEADER));
    for block in blocks.chunks(BLOCK) {
        let Some(body) = block.get(BLOCK_HEADER..) else {
            break;
        };
        let full = BLOCK - BLOCK_HEADER - BLOCK_TRAILER;
        // The data length counts the header (a full block's is the block size); its top bit
        // is a flush mark.
        let len = crate::page::be::u16(block, 4)
            .map(|l| usize::from(l & 0x7fff))
            .filter(|l| (BLOCK_HEADER..BLOCK_HEADER + full).contains(l))
            .map_or(full, |l| l - BLOCK_HEADER);
        out.extend_from_slice(body.get(..len.min(body.len())).unwrap_or(body));
    }
    out
}

#[cfg(test)]
/// Frames `stream` (a test's log records) into blocks as the block format writes them.
pub(crate) fn framed(stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, piece) in stream
        .chunks(BLOCK - BLOCK_HEADER - BLOCK_TRAILER)
        .enumerate()
    {
        let mut block = vec![0u8; BLOCK];
        block[..4].copy_from_slice(&(n as u32 + 1).to_be_bytes());
        // A full block's data length is the block size.
        let full = piece.len() == BLOCK - BLOCK_HEADER - BLOCK_TRAILER;
        let len = if full {
            BLOCK
        } else {
            BLOCK_HEADER + piece.len()
        };
        block[4..6].copy_from_slice(&(len as u16).to_be_bytes());
        block[BLOCK_HEADER..BLOCK_HEADER + piece.len()].copy_from_slice(piece);
        block[BLOCK - 4..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        out.extend(block);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_name_their_creator() {
        let mut head = vec![0u8; 512];
        head[..4].copy_from_slice(b"Phys");
        head[16..32].copy_from_slice(b"MariaDB 10.11.19");
        assert_eq!(
            Header::parse(&head),
            Some(Header {
                framing: Framing::Stream,
                creator: "MariaDB 10.11.19".into()
            })
        );
        head[..4].copy_from_slice(&[0, 0, 0, 1]);
        head[16..32].fill(0);
        head[16..28].copy_from_slice(b"MySQL 5.7.44");
        assert_eq!(Header::parse(&head).unwrap().framing, Framing::Blocks);
        // A tablespace's page 0 has no creator there.
        head[16..48].fill(0);
        assert_eq!(Header::parse(&head), None);
        assert_eq!(Header::parse(b"short"), None);
    }

    #[test]
    fn framing_is_told_by_the_format_tag() {
        assert_eq!(Framing::of(b"Phys\0\0\0\0"), Framing::Stream);
        assert_eq!(Framing::of(&[0, 0, 0, 1]), Framing::Blocks);
        assert_eq!(Framing::of(b""), Framing::Blocks);
        assert_eq!(Framing::Stream.start(), 12_288);
    }

    #[test]
    fn a_record_cut_by_a_block_boundary_is_whole_again() {
        let stream: Vec<u8> = (0..2000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let blocks = framed(&stream);
        // The record straddles the first boundary: the framed bytes do not hold it.
        let record = &stream[480..520];
        assert!(memchr::memmem::find(&blocks, record).is_none());
        assert_eq!(unframe(&blocks), stream);
    }

    #[test]
    fn damaged_or_short_blocks_do_not_panic() {
        let mut blocks = framed(&[7u8; 1000]);
        blocks[4] = 0xff; // a data length past the block
        blocks.truncate(BLOCK + 100);
        let out = unframe(&blocks);
        assert_eq!(
            out.len(),
            BLOCK - BLOCK_HEADER - BLOCK_TRAILER + 100 - BLOCK_HEADER
        );
        assert!(unframe(&[1, 2, 3]).is_empty());
    }
}
