//! Reading a binlog file (or any byte stream in file layout) event by event.
//!
//! Streams: one event is in memory at a time. Every event's CRC32 is verified when the file
//! has checksums (a mismatch is an error naming the file and offset). A file that ends inside
//! an event (a crashed or in-use binlog) ends cleanly at the last complete event, and
//! [`FileReader::end`] says where the bytes stopped and where the last complete transaction
//! ended.

use std::io::Read;

use crate::frame::{Checksum, EventHeader, FormatDescription, HEADER_LEN, MAGIC, crc32};
use crate::read::Reader;
use crate::types::EventType;

/// Largest event accepted: the server's own limit on a packet is 1 GiB.
pub const MAX_EVENT: u32 = (1 << 30) + 4096;

/// Why a file could not be read on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not start with the binlog magic bytes.
    #[error("{file}: not a binlog file (starts with {magic:02x?}, not fe 62 69 6e)")]
    NotABinlog {
        /// File.
        file: String,
        /// The first bytes.
        magic: Vec<u8>,
    },
    /// Reading failed.
    #[error("{file}: read error at offset {offset}: {source}")]
    Io {
        /// File.
        file: String,
        /// Offset.
        offset: u64,
        /// Cause.
        source: std::io::Error,
    },
    /// An event header or body that cannot be right.
    #[error("{file}: bad event at offset {offset}: {reason}")]
    BadEvent {
        /// File.
        file: String,
        /// Offset of the event.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The stored CRC32 does not match the event's bytes.
    #[error(
        "{file}: checksum mismatch in the {event} event at offset {offset} (stored {stored:08x}, computed {computed:08x})"
    )]
    Checksum {
        /// File.
        file: String,
        /// Offset of the event.
        offset: u64,
        /// Event type name.
        event: &'static str,
        /// CRC32 in the file.
        stored: u32,
        /// CRC32 of the bytes.
        computed: u32,
    },
    /// The rest of the file is encrypted (MariaDB `encrypt_binlog`).
    #[error(
        "{file}: encrypted from offset {offset} on (MariaDB encrypt_binlog, scheme {scheme}, key version {key_version}): decrypting needs the server's key for that version from its key management plugin"
    )]
    Encrypted {
        /// File.
        file: String,
        /// Offset of the first encrypted event.
        offset: u64,
        /// Encryption scheme.
        scheme: u8,
        /// Key version.
        key_version: u32,
    },
    /// A format this crate does not read.
    #[error("{file}: {what}")]
    Unsupported {
        /// File.
        file: String,
        /// What.
        what: String,
    },
}

/// How a file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// After a complete event.
    Clean {
        /// File size read.
        size: u64,
    },
    /// Inside an event: the bytes from `offset` on are an incomplete event.
    Truncated {
        /// Offset of the incomplete event.
        offset: u64,
        /// Bytes of it present.
        have: u64,
        /// Bytes it should have (0 when even its header is incomplete).
        need: u64,
    },
}

/// One event as stored.
#[derive(Debug, Clone, Copy)]
pub struct RawEvent<'a> {
    /// Offset of the event in the file.
    pub offset: u64,
    /// Its header.
    pub header: EventHeader,
    /// The whole event: header, data, checksum trailer.
    pub bytes: &'a [u8],
    /// The data after the header, without the checksum trailer.
    pub data: &'a [u8],
}

impl<'a> RawEvent<'a> {
    /// The event at the start of `bytes`, which hold all of it: an event read before, found
    /// again at `offset` of `file` (named in errors), read under the file's `fde`. Its CRC32
    /// is verified when the file has them. Not for format descriptions themselves.
    pub fn frame(
        bytes: &'a [u8],
        offset: u64,
        fde: &FormatDescription,
        file: &str,
    ) -> Result<RawEvent<'a>, Error> {
        let bad = |reason: String| Error::BadEvent {
            file: file.to_owned(),
            offset,
            reason,
        };
        let header = EventHeader::parse(bytes).map_err(|e| bad(e.to_string()))?;
        let size = header.event_size as usize;
        let trailer = fde.checksum().len();
        let start = usize::from(fde.header_len).max(HEADER_LEN);
        // The reader's own minimum: an FDE's longer header may leave no data.
        if size < HEADER_LEN + trailer || header.type_code == EventType::FormatDescription.code() {
            return Err(bad(format!("event size {size} is below the minimum")));
        }
        let ev = bytes
            .get(..size)
            .ok_or_else(|| bad(format!("{size} bytes claimed, {} there", bytes.len())))?;
        let (body, crc) = ev.split_at(size - trailer);
        if trailer == 4 {
            let stored = u32::from_le_bytes(crc.try_into().unwrap_or_default());
            let computed = crc32(body);
            if stored != computed {
                return Err(Error::Checksum {
                    file: file.to_owned(),
                    offset,
                    event: header.event_type().name(),
                    stored,
                    computed,
                });
            }
        }
        Ok(RawEvent {
            offset,
            header,
            bytes: ev,
            data: body.get(start..).unwrap_or_default(),
        })
    }
}

impl RawEvent<'_> {
    /// Type of the event.
    pub fn event_type(&self) -> EventType {
        self.header.event_type()
    }

    /// Offset just past the event.
    pub fn end(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }
}

/// Where the reader stands inside a transaction, for [`FileReader::last_transaction_end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trx {
    Outside,
    /// After a GTID that is not followed by BEGIN: the next statement is the transaction.
    AfterGtid,
    /// Between BEGIN (or a MariaDB GTID that implies it) and COMMIT/XID.
    Inside,
}

/// Reads events from a binlog file.
pub struct FileReader<R> {
    src: R,
    name: String,
    offset: u64,
    /// Bytes read from `src`: `block[at..len]` is not consumed yet, the current event is
    /// `block[at..at + cur]`. Read in large blocks and handed out as slices: one copy from
    /// the source, none per event.
    block: Vec<u8>,
    at: usize,
    len: usize,
    cur: usize,
    eof: bool,
    fde: FormatDescription,
    verify: bool,
    end: Option<End>,
    encrypted: Option<(u8, u32)>,
    trx: Trx,
    last_trx_end: u64,
}

impl<R: Read> FileReader<R> {
    /// Opens a reader on `src`, a file's bytes from offset 0; `name` names it in errors.
    pub fn new(mut src: R, name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let mut magic = Vec::with_capacity(4);
        read_up_to(&mut src, &mut magic, 4).map_err(|source| Error::Io {
            file: name.clone(),
            offset: 0,
            source,
        })?;
        if magic != MAGIC {
            return Err(Error::NotABinlog { file: name, magic });
        }
        Ok(Self {
            src,
            name,
            offset: 4,
            block: Vec::new(),
            at: 0,
            len: 0,
            cur: 0,
            eof: false,
            fde: FormatDescription::default_v4(),
            verify: true,
            end: None,
            encrypted: None,
            trx: Trx::Outside,
            last_trx_end: 4,
        })
    }

    /// Turns CRC32 verification off (it is on by default).
    pub fn verify_checksums(mut self, on: bool) -> Self {
        self.verify = on;
        self
    }

    /// The file's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The format description in force.
    pub fn format(&self) -> &FormatDescription {
        &self.fde
    }

    /// Offset of the next event.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How the file ended, once [`FileReader::next_event`] returned `None`.
    pub fn end(&self) -> Option<End> {
        self.end
    }

    /// Offset just past the last complete transaction (or of the last event outside one):
    /// where a reader of a truncated file can safely stop.
    pub fn last_transaction_end(&self) -> u64 {
        self.last_trx_end
    }

    /// The next event, `None` at the end of the file (see [`FileReader::end`]).
    pub fn next_event(&mut self) -> Result<Option<RawEvent<'_>>, Error> {
        Ok(self.next_with_format()?.map(|(ev, _)| ev))
    }

    /// The next event and the format description that governs it.
    pub fn next_with_format(
        &mut self,
    ) -> Result<Option<(RawEvent<'_>, &FormatDescription)>, Error> {
        let Some((offset, header, data_end)) = self.step()? else {
            return Ok(None);
        };
        let ev = self.event_bytes();
        let data = ev
            .get(self.data_start(&header)..data_end)
            .unwrap_or_default();
        Ok(Some((
            RawEvent {
                offset,
                header,
                bytes: ev,
                data,
            },
            &self.fde,
        )))
    }

    fn step(&mut self) -> Result<Option<(u64, EventHeader, usize)>, Error> {
        if self.end.is_some() {
            return Ok(None);
        }
        if let Some((scheme, key_version)) = self.encrypted {
            return Err(Error::Encrypted {
                file: self.name.clone(),
                offset: self.offset,
                scheme,
                key_version,
            });
        }
        let offset = self.offset;
        self.at += std::mem::take(&mut self.cur);
        let n = self.fill(HEADER_LEN).map_err(|source| self.io(source))?;
        if n == 0 {
            self.end = Some(End::Clean { size: offset });
            return Ok(None);
        }
        if n < HEADER_LEN {
            self.end = Some(End::Truncated {
                offset,
                have: n as u64,
                need: 0,
            });
            return Ok(None);
        }
        let header = EventHeader::parse(self.available()).map_err(|e| self.bad(e.to_string()))?;
        let size = header.event_size;
        let is_fde = header.type_code == EventType::FormatDescription.code();
        let min = HEADER_LEN + if is_fde { 0 } else { self.fde.checksum().len() };
        if (size as usize) < min {
            return Err(self.bad(format!("event size {size} is below the minimum {min}")));
        }
        if size > MAX_EVENT {
            return Err(self.bad(format!(
                "event size {size} exceeds the 1 GiB a server can write"
            )));
        }
        // Grown as bytes arrive: a damaged size field costs no memory beyond the file.
        let got = self.fill(size as usize).map_err(|source| self.io(source))?;
        if got < size as usize {
            self.end = Some(End::Truncated {
                offset,
                have: got as u64,
                need: u64::from(size),
            });
            return Ok(None);
        }
        self.cur = size as usize;

        // The FDE governs itself and everything after it.
        let trailer = if is_fde {
            let body = self.event_bytes().get(HEADER_LEN..).unwrap_or_default();
            let fde = FormatDescription::parse(body)
                .map_err(|e| self.bad(format!("format description: {e}")))?;
            if fde.binlog_version != 4 {
                return Err(Error::Unsupported {
                    file: self.name.clone(),
                    what: format!(
                        "binlog format version {} (servers before MySQL 5.0)",
                        fde.binlog_version
                    ),
                });
            }
            let own = fde.own_trailer_len();
            let crc = fde.checksum();
            self.fde = fde;
            if crc == Checksum::Crc32 { own } else { 0 }
        } else if offset == 4 && header.type_code == EventType::StartV3.code() {
            return Err(Error::Unsupported {
                file: self.name.clone(),
                what: "binlog format version 1 or 3 (MySQL 3.23 to 4.x)".into(),
            });
        } else {
            self.fde.checksum().len()
        };
        let data_end = self.cur.saturating_sub(trailer);
        if self.verify && trailer == 4 {
            let (body, crc) = self.event_bytes().split_at(data_end);
            let stored = u32::from_le_bytes(crc.try_into().unwrap_or_default());
            // The server clears an FDE's "in use" flag (bit 0 of the flags, byte 17) when it
            // closes the file, without updating the checksum, which it computed without it.
            let computed = if is_fde && header.flags & 1 != 0 {
                let mut h = crc32fast::Hasher::new();
                h.update(body.get(..17).unwrap_or_default());
                h.update(&[body.get(17).map_or(0, |f| f & !1)]);
                h.update(body.get(18..).unwrap_or_default());
                h.finalize()
            } else {
                crc32(body)
            };
            if stored != computed {
                return Err(Error::Checksum {
                    file: self.name.clone(),
                    offset,
                    event: header.event_type().name(),
                    stored,
                    computed,
                });
            }
        }
        // An FDE with checksums off still carries an (ignored) 4-byte field.
        let data_end = if is_fde && trailer == 0 {
            self.cur.saturating_sub(self.fde.own_trailer_len())
        } else {
            data_end
        };
        self.offset = offset + u64::from(size);
        let data_start = self.data_start(&header);
        let data = self
            .block
            .get(self.at..self.at + self.cur)
            .and_then(|ev| ev.get(data_start..data_end))
            .unwrap_or_default();
        self.trx = next_trx(self.trx, &self.fde, header, data);
        if self.trx == Trx::Outside {
            self.last_trx_end = self.offset;
        }
        if header.type_code == EventType::StartEncryption.code() {
            let mut r = Reader::new(data);
            if let (Ok(scheme), Ok(kv)) = (r.u8(), r.u32()) {
                self.encrypted = Some((scheme, kv));
            }
        }
        Ok(Some((offset, header, data_end)))
    }

    /// The current event's bytes.
    fn event_bytes(&self) -> &[u8] {
        self.block
            .get(self.at..self.at + self.cur)
            .unwrap_or_default()
    }

    /// The bytes read and not consumed yet.
    fn available(&self) -> &[u8] {
        self.block.get(self.at..self.len).unwrap_or_default()
    }

    /// Reads until `n` bytes are available past `at` or the source ends; returns how many
    /// are. The block grows only by what was read (at most [`READ_STEP`] past the bytes
    /// present), so a damaged size field costs no memory beyond the file.
    fn fill(&mut self, n: usize) -> std::io::Result<usize> {
        // Below this much free room, the unconsumed bytes move to the front before reading.
        const MIN_FREE: usize = 64 << 10;
        while self.len - self.at < n && !self.eof {
            if self.block.is_empty() {
                // Zeroed by the allocator: pages a small input never reaches cost nothing.
                self.block = vec![0; READ_STEP];
            }
            if self.at > 0 && self.block.len() - self.len < MIN_FREE {
                self.block.copy_within(self.at..self.len, 0);
                self.len -= self.at;
                self.at = 0;
            }
            let short = self.at + n - self.len;
            if self.block.len() - self.len < short.min(MIN_FREE) {
                // An event larger than the block: grown by at most a step past the bytes
                // present.
                let want = self.len + short.min(READ_STEP);
                self.block.resize(want.max(self.block.len()), 0);
            }
            let dst = self.block.get_mut(self.len..).unwrap_or_default();
            match self.src.read(dst) {
                Ok(0) => self.eof = true,
                Ok(k) => self.len += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((self.len - self.at).min(n))
    }

    /// Where an event's data starts: after the common header, which an FDE may declare
    /// longer than 19 bytes (servers with extra header fields, e.g. a group id).
    fn data_start(&self, header: &EventHeader) -> usize {
        if header.type_code == EventType::FormatDescription.code() {
            HEADER_LEN
        } else {
            usize::from(self.fde.header_len).max(HEADER_LEN)
        }
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            file: self.name.clone(),
            offset: self.offset,
            source,
        }
    }

    fn bad(&self, reason: String) -> Error {
        Error::BadEvent {
            file: self.name.clone(),
            offset: self.offset,
            reason,
        }
    }
}

/// The transaction state after an event.
fn next_trx(state: Trx, fde: &FormatDescription, header: EventHeader, data: &[u8]) -> Trx {
    let t = header.event_type();
    match t {
        EventType::Gtid | EventType::AnonymousGtid | EventType::GtidTagged => Trx::AfterGtid,
        EventType::MariadbGtid => {
            // flags2 (at 12): a statement without BEGIN, such as DDL.
            if data
                .get(12)
                .is_some_and(|f| f & crate::events::MariadbGtidEvent::FL_STANDALONE != 0)
            {
                Trx::AfterGtid
            } else {
                Trx::Inside
            }
        }
        EventType::Xid | EventType::XaPrepare | EventType::TransactionPayload => Trx::Outside,
        EventType::Query | EventType::QueryCompressed => {
            let q = crate::events::query_text_prefix(fde, t, data);
            let word = |w: &[u8]| q.get(..w.len()).is_some_and(|p| p.eq_ignore_ascii_case(w));
            if word(b"BEGIN") || word(b"XA START") {
                Trx::Inside
            } else if word(b"COMMIT") || word(b"ROLLBACK") || word(b"XA END") {
                Trx::Outside
            } else if state == Trx::Inside {
                Trx::Inside
            } else {
                Trx::Outside
            }
        }
        _ => state,
    }
}

/// Bytes asked of the source at a time, at most.
const READ_STEP: usize = 1 << 20;

/// Appends up to `n` bytes from `src` to `buf` (growing it only as bytes arrive); returns
/// how many came.
fn read_up_to(src: &mut impl Read, buf: &mut Vec<u8>, n: u64) -> std::io::Result<usize> {
    // Up to 1 MiB at a time: a damaged size field costs no memory beyond the bytes present.
    const STEP: u64 = 1 << 20;
    let mut got = 0usize;
    let mut left = n;
    while left > 0 {
        let want = left.min(STEP) as usize;
        let start = buf.len();
        buf.resize(start + want, 0);
        let mut filled = 0;
        while filled < want {
            let dst = buf
                .get_mut(start + filled..start + want)
                .unwrap_or_default();
            match src.read(dst) {
                Ok(0) => break,
                Ok(k) => filled += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    buf.truncate(start + filled);
                    return Err(e);
                }
            }
        }
        buf.truncate(start + filled);
        got += filled;
        if filled < want {
            break;
        }
        left -= want as u64;
    }
    Ok(got)
}
