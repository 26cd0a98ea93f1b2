//! Framing: the v4 event header, the format description that governs a file, checksums.

use crate::read::{Reader, Short};
use crate::types::EventType;

/// Length of the v4 common header.
pub const HEADER_LEN: usize = 19;

/// Header flag `LOG_EVENT_ARTIFICIAL_F`: an event made up by a dump thread or a replica (a
/// ROTATE naming where a dump continues), never in the source's file.
pub const FLAG_ARTIFICIAL: u16 = 0x20;

/// Header flag `LOG_EVENT_BINLOG_IN_USE_F`, in a file's format description: the server had
/// the file open (cleared when it closes the file; outside the event's checksum).
pub const FLAG_IN_USE: u16 = 0x01;

/// Offset in a binlog file of the byte that holds the format description's
/// [`FLAG_IN_USE`]: the magic, then the header fields before `flags`.
pub const IN_USE_FLAG_OFFSET: u64 = MAGIC.len() as u64 + 17;

/// Sets or clears [`FLAG_IN_USE`] in the byte at [`IN_USE_FLAG_OFFSET`].
pub fn set_in_use(byte: &mut u8, in_use: bool) {
    if in_use {
        *byte |= FLAG_IN_USE as u8;
    } else {
        *byte &= !(FLAG_IN_USE as u8);
    }
}

/// The four bytes every binlog and relay log file starts with.
pub const MAGIC: [u8; 4] = [0xfe, b'b', b'i', b'n'];

/// The common header of every v4 event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHeader {
    /// Seconds since the epoch: when the statement or transaction started on its origin.
    pub timestamp: u32,
    /// Type code.
    pub type_code: u8,
    /// Server id of the origin.
    pub server_id: u32,
    /// Whole event, header and checksum included.
    pub event_size: u32,
    /// Offset just past this event in the origin's file (0 in some relay/stream cases).
    pub log_pos: u32,
    /// Header flags.
    pub flags: u16,
}

impl EventHeader {
    /// Parses the first [`HEADER_LEN`] bytes of `b`.
    pub fn parse(b: &[u8]) -> Result<Self, Short> {
        let mut r = Reader::new(b);
        Ok(Self {
            timestamp: r.u32()?,
            type_code: r.u8()?,
            server_id: r.u32()?,
            event_size: r.u32()?,
            log_pos: r.u32()?,
            flags: r.u16()?,
        })
    }

    /// The event type.
    pub fn event_type(&self) -> EventType {
        EventType::from_code(self.type_code)
    }

    /// Appends the header's encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        out.push(self.type_code);
        out.extend_from_slice(&self.server_id.to_le_bytes());
        out.extend_from_slice(&self.event_size.to_le_bytes());
        out.extend_from_slice(&self.log_pos.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
    }
}

/// Checksum algorithm of the events that follow a format description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// No trailer.
    None,
    /// A 4-byte CRC32 (ISO-HDLC, as zlib) of the event without its trailer.
    Crc32,
}

impl Checksum {
    /// Bytes of the trailer.
    pub fn len(self) -> usize {
        match self {
            Checksum::None => 0,
            Checksum::Crc32 => 4,
        }
    }

    /// Whether there is no trailer.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// A FORMAT_DESCRIPTION event: server version, header and post-header lengths, checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatDescription {
    /// Binlog format version (4 for every server this crate reads).
    pub binlog_version: u16,
    /// The server's version string (`10.11.19-MariaDB-log`, `8.4.0`).
    pub server_version: String,
    /// When the file was created.
    pub create_timestamp: u32,
    /// Common header length (19).
    pub header_len: u8,
    /// Post-header length per event type, indexed by type code − 1.
    pub post_header_lens: Vec<u8>,
    /// The raw checksum algorithm byte, when the server writes one (MySQL ≥ 5.6.1, MariaDB
    /// ≥ 5.3): 0 off, 1 CRC32.
    pub checksum_alg: Option<u8>,
}

impl FormatDescription {
    /// Parses an FDE's body (after the common header, checksum trailer included).
    pub fn parse(body: &[u8]) -> Result<Self, Short> {
        let mut r = Reader::new(body);
        let binlog_version = r.u16()?;
        let ver = r.take(50)?;
        let ver_end = ver.iter().position(|&b| b == 0).unwrap_or(ver.len());
        let server_version =
            String::from_utf8_lossy(ver.get(..ver_end).unwrap_or_default()).into_owned();
        let create_timestamp = r.u32()?;
        let header_len = r.u8()?;
        let rest = r.rest();
        let (lens, checksum_alg) = if checksum_capable(&server_version) {
            // [post-header lengths][alg:1][crc:4]
            let n = rest.len().checked_sub(5).ok_or(Short { at: 57, need: 5 })?;
            let (lens, tail) = rest.split_at(n);
            (lens, tail.first().copied())
        } else {
            (rest, None)
        };
        Ok(Self {
            binlog_version,
            server_version,
            create_timestamp,
            header_len,
            post_header_lens: lens.to_vec(),
            checksum_alg,
        })
    }

    /// The checksum of the events this FDE governs.
    pub fn checksum(&self) -> Checksum {
        match self.checksum_alg {
            Some(1) => Checksum::Crc32,
            _ => Checksum::None,
        }
    }

    /// The checksum trailer of the FDE event itself (present, though ignored, with alg 0).
    pub fn own_trailer_len(&self) -> usize {
        if self.checksum_alg.is_some() { 4 } else { 0 }
    }

    /// Post-header length of events of type `t`, when this FDE lists it.
    pub fn post_header_len(&self, t: u8) -> Option<u8> {
        self.post_header_lens
            .get(usize::from(t).checked_sub(1)?)
            .copied()
    }

    /// Whether the server is MariaDB.
    pub fn is_mariadb(&self) -> bool {
        self.server_version.contains("MariaDB")
    }

    /// The FDE a v4 file is assumed to have before its own is read (also used for events
    /// that arrive without one).
    pub fn default_v4() -> Self {
        Self {
            binlog_version: 4,
            server_version: "5.0.0".into(),
            create_timestamp: 0,
            header_len: HEADER_LEN as u8,
            post_header_lens: Vec::new(),
            checksum_alg: None,
        }
    }
}

/// `major.minor.patch` of a version string; missing parts are 0.
pub fn version_triple(v: &str) -> (u32, u32, u32) {
    let mut it = v
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// Whether a server of this version writes the checksum algorithm byte in its FDE.
fn checksum_capable(version: &str) -> bool {
    let v = version_triple(version);
    if version.contains("MariaDB") {
        v >= (5, 3, 0)
    } else {
        v >= (5, 6, 1)
    }
}

/// CRC32 of `bytes` as the server computes it.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = EventHeader {
            timestamp: 1_700_000_000,
            type_code: 15,
            server_id: 7,
            event_size: 120,
            log_pos: 124,
            flags: 1,
        };
        let mut b = Vec::new();
        h.encode(&mut b);
        assert_eq!(b.len(), HEADER_LEN);
        assert_eq!(EventHeader::parse(&b), Ok(h));
        assert!(EventHeader::parse(&b[..18]).is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(
            version_triple("10.11.19-MariaDB-0+deb12u1-log"),
            (10, 11, 19)
        );
        assert!(checksum_capable("5.6.1"));
        assert!(!checksum_capable("5.5.40-log"));
        assert!(checksum_capable("5.5.5-10.11.1-MariaDB"));
    }
}
