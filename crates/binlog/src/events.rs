//! Decoding event data (after the common header, without the checksum trailer).
//!
//! [`Event::decode`] turns a [`RawEvent`](crate::RawEvent) into a typed event. Events this
//! crate does not decode (yet) come back as [`Event::Other`] with their bytes: never dropped.

use crate::frame::FormatDescription;
use crate::read::{Reader, Short};
use crate::types::EventType;

/// A decoding failure inside one event's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event} event: {reason}")]
pub struct DecodeError {
    /// Event type name.
    pub event: &'static str,
    /// What was wrong.
    pub reason: String,
}

/// A decoded event. Text fields are bytes: their charset is the session's, not always UTF-8.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// FORMAT_DESCRIPTION.
    FormatDescription(FormatDescription),
    /// QUERY or MariaDB QUERY_COMPRESSED.
    Query(Query<'a>),
    /// ROTATE: the next file.
    Rotate {
        /// Position in the next file.
        position: u64,
        /// Its name.
        next_file: &'a [u8],
    },
    /// XID: an InnoDB transaction committed.
    Xid(u64),
    /// INTVAR: LAST_INSERT_ID (1) or INSERT_ID (2) for the next statement.
    Intvar {
        /// 1 LAST_INSERT_ID, 2 INSERT_ID.
        kind: u8,
        /// Value.
        value: u64,
    },
    /// RAND seeds for the next statement.
    Rand {
        /// First seed.
        seed1: u64,
        /// Second seed.
        seed2: u64,
    },
    /// MySQL GTID, ANONYMOUS_GTID.
    Gtid(MySqlGtidEvent),
    /// MySQL PREVIOUS_GTIDS (untagged and 8.3+ tagged forms).
    PreviousGtids(Vec<SidIntervals>),
    /// MariaDB GTID.
    MariadbGtid(MariadbGtidEvent),
    /// MariaDB GTID_LIST.
    GtidList {
        /// (domain, server, sequence) triples.
        gtids: Vec<(u32, u32, u64)>,
        /// The top 4 bits of the count (replication-stream flags).
        flags: u8,
        /// Bytes after the list (padding), kept so the event encodes back exactly.
        extra: &'a [u8],
    },
    /// MariaDB ANNOTATE_ROWS: the statement behind the row events that follow.
    AnnotateRows(&'a [u8]),
    /// MySQL ROWS_QUERY: the same, with binlog_rows_query_log_events.
    RowsQuery(&'a [u8]),
    /// MariaDB BINLOG_CHECKPOINT.
    BinlogCheckpoint(&'a [u8]),
    /// INCIDENT: the binlog may be missing changes from here.
    Incident {
        /// Incident type (1: lost events).
        kind: u16,
        /// Message.
        message: &'a [u8],
    },
    /// MariaDB START_ENCRYPTION: what follows is encrypted.
    StartEncryption {
        /// Scheme.
        scheme: u8,
        /// Key version.
        key_version: u32,
        /// Nonce.
        nonce: &'a [u8],
    },
    /// TABLE_MAP.
    TableMap(TableMap<'a>),
    /// Row events of every version (rows still encoded).
    Rows(RowsEvent<'a>),
    /// MySQL TRANSACTION_PAYLOAD: a compressed transaction.
    TransactionPayload {
        /// Compression (0 zstd, 255 none).
        compression: u64,
        /// Size once decompressed.
        uncompressed_size: u64,
        /// The payload.
        payload: &'a [u8],
    },
    /// STOP: the server shut down.
    Stop,
    /// Any other event, raw.
    Other {
        /// Its type.
        event_type: EventType,
        /// Its data.
        data: &'a [u8],
    },
}

/// One source (UUID and tag) and its GTID intervals (`start`, `end` exclusive).
pub type SidIntervals = (crate::MySqlSid, Vec<(u64, u64)>);

/// A QUERY event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query<'a> {
    /// Thread (connection) id on the origin.
    pub thread_id: u32,
    /// Seconds the statement ran.
    pub exec_time: u32,
    /// Error code it ended with on the origin.
    pub error_code: u16,
    /// Status variables, encoded.
    pub status_vars: &'a [u8],
    /// Default database.
    pub schema: &'a [u8],
    /// The statement (decompressed for QUERY_COMPRESSED).
    pub query: std::borrow::Cow<'a, [u8]>,
}

impl Query<'_> {
    /// The session state the statement ran with.
    pub fn session(&self) -> Result<StatusVars, Short> {
        StatusVars::parse(self.status_vars)
    }
}

/// A MySQL GTID, ANONYMOUS_GTID or GTID_TAGGED event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MySqlGtidEvent {
    /// Commit flag.
    pub flags: u8,
    /// Source UUID.
    pub sid: [u8; 16],
    /// Tag (GTID_TAGGED, MySQL 8.3+), empty otherwise.
    pub tag: String,
    /// Transaction number.
    pub gno: u64,
    /// Logical clock: last committed.
    pub last_committed: Option<i64>,
    /// Logical clock: sequence number.
    pub sequence_number: Option<i64>,
    /// Commit time on this server, µs since the epoch (8.0.1+).
    pub immediate_commit_us: Option<u64>,
    /// Commit time on the original source, µs.
    pub original_commit_us: Option<u64>,
    /// Transaction length in bytes (8.0.2+).
    pub transaction_length: Option<u64>,
    /// Bytes after the fields above (server versions, 8.0.14+; commit group ticket,
    /// 8.0.33+), kept so the event encodes back exactly. For GTID_TAGGED: the serialized
    /// fields from id 9 on.
    pub extra: Vec<u8>,
    /// GTID_TAGGED only: the serialization format's version and last non-ignorable field.
    pub serialization: Option<(u8, u64)>,
}

/// A MariaDB GTID event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MariadbGtidEvent {
    /// Sequence number.
    pub seq_no: u64,
    /// Replication domain.
    pub domain_id: u32,
    /// Flags: 1 standalone, 2 group commit id, 4 transactional, 8 allow parallel, 16 waited,
    /// 32 DDL, 64 prepared XA, 128 completed XA.
    pub flags2: u8,
    /// Group commit id.
    pub commit_id: Option<u64>,
    /// XA transaction id of an XA PREPARE / COMMIT / ROLLBACK: (format id, gtrid, bqual).
    pub xa: Option<(u32, Vec<u8>, Vec<u8>)>,
    /// Bytes after the fields above (padding, extra flags), kept so the event encodes back
    /// exactly.
    pub extra: Vec<u8>,
}

/// A TABLE_MAP event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMap<'a> {
    /// Table id the row events use.
    pub table_id: u64,
    /// Flags.
    pub flags: u16,
    /// Database.
    pub schema: &'a [u8],
    /// Table.
    pub table: &'a [u8],
    /// Column types.
    pub column_types: &'a [u8],
    /// Type metadata, encoded.
    pub metadata: &'a [u8],
    /// Nullability bitmap.
    pub null_bitmap: &'a [u8],
    /// Optional metadata (names, signedness, charsets, keys…), encoded.
    pub optional_metadata: &'a [u8],
}

impl MariadbGtidEvent {
    /// `flags2` bit: the group is one statement without BEGIN (DDL, a non-transactional
    /// statement), not a transaction that ends at XID or COMMIT.
    pub const FL_STANDALONE: u8 = 1;
    /// `flags2` bit: the event carries a group commit id.
    pub const FL_GROUP_COMMIT_ID: u8 = 2;
    /// `flags2` bit: the group is an XA PREPARE.
    pub const FL_PREPARED_XA: u8 = 64;
    /// `flags2` bit: the group is an XA COMMIT or XA ROLLBACK.
    pub const FL_COMPLETED_XA: u8 = 128;

    /// Whether the group is one statement without BEGIN.
    pub fn standalone(&self) -> bool {
        self.flags2 & Self::FL_STANDALONE != 0
    }

    /// Whether the group is part of an XA transaction (its PREPARE, COMMIT or ROLLBACK).
    pub fn is_xa(&self) -> bool {
        self.flags2 & (Self::FL_PREPARED_XA | Self::FL_COMPLETED_XA) != 0
    }
}

/// A row event (rows still encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowsEvent<'a> {
    /// Which kind.
    pub event_type: EventType,
    /// Table id of its TABLE_MAP.
    pub table_id: u64,
    /// Flags (1: end of statement).
    pub flags: u16,
    /// v2 extra data.
    pub extra: &'a [u8],
    /// Columns in the table.
    pub column_count: u64,
    /// Columns present in the (before) image.
    pub present: &'a [u8],
    /// Columns present in the after image (updates).
    pub present_after: Option<&'a [u8]>,
    /// The rows, encoded (decompressed for MariaDB's compressed events).
    pub rows: std::borrow::Cow<'a, [u8]>,
}

impl RowsEvent<'_> {
    /// `flags` bit `STMT_END_F`: the last row event of its statement.
    pub const STMT_END: u16 = 1;
    /// `flags` bit `NO_FOREIGN_KEY_CHECKS_F`: applied with foreign key checks off (the
    /// session's setting; MySQL also marks the rows a cascade changed).
    pub const NO_FOREIGN_KEY_CHECKS: u16 = 1 << 1;
    /// `flags` bit `USE_SQL_FOREIGN_KEY_F` (MySQL 9.6+; unused by MariaDB): the server
    /// enforced foreign keys above the storage engine, so the rows a cascade changed are
    /// logged as row events of their own, before the parent's.
    pub const USE_SQL_FOREIGN_KEY: u16 = 1 << 4;

    /// Whether this is the last row event of its statement.
    pub fn ends_statement(&self) -> bool {
        self.flags & Self::STMT_END != 0
    }
}

fn short(event: EventType) -> impl Fn(Short) -> DecodeError {
    move |s| DecodeError {
        event: event.name(),
        reason: format!("truncated: {s}"),
    }
}

impl Event<'_> {
    /// The GTID a GTID event gives its transaction (`server_id` from the event's header:
    /// MariaDB's GTIDs carry it there); `None` for other events and MySQL's anonymous ones.
    pub fn gtid(&self, server_id: u32) -> Option<crate::Gtid> {
        match self {
            // ANONYMOUS_GTID carries an all-zero sid: no GTID.
            Event::Gtid(g) if g.sid != [0; 16] => Some(crate::Gtid::MySql(crate::MySqlGtid {
                sid: crate::MySqlSid {
                    uuid: g.sid,
                    tag: g.tag.clone(),
                },
                gno: g.gno,
            })),
            Event::MariadbGtid(g) => Some(crate::Gtid::MariaDb(crate::MariaDbGtid {
                domain: g.domain_id,
                server_id,
                seq: g.seq_no,
            })),
            _ => None,
        }
    }
}

impl<'a> Event<'a> {
    /// Decodes `data` of an event of type `t`, read under `fde`.
    pub fn decode(
        fde: &FormatDescription,
        t: EventType,
        data: &'a [u8],
    ) -> Result<Event<'a>, DecodeError> {
        let sh = short(t);
        let mut r = Reader::new(data);
        Ok(match t {
            EventType::FormatDescription => {
                // `data` here excludes the trailer; FormatDescription::parse wants it.
                let mut with = data.to_vec();
                with.extend_from_slice([0u8; 4].get(..fde.own_trailer_len()).unwrap_or_default());
                Event::FormatDescription(FormatDescription::parse(&with).map_err(&sh)?)
            }
            EventType::Query | EventType::QueryCompressed => Event::Query(query(fde, t, data)?),
            EventType::Rotate => Event::Rotate {
                position: r.u64().map_err(&sh)?,
                next_file: r.rest(),
            },
            EventType::Xid => Event::Xid(r.u64().map_err(&sh)?),
            EventType::Intvar => Event::Intvar {
                kind: r.u8().map_err(&sh)?,
                value: r.u64().map_err(&sh)?,
            },
            EventType::Rand => Event::Rand {
                seed1: r.u64().map_err(&sh)?,
                seed2: r.u64().map_err(&sh)?,
            },
            EventType::Gtid | EventType::AnonymousGtid => {
                Event::Gtid(mysql_gtid(&mut r).map_err(&sh)?)
            }
            EventType::GtidTagged => {
                Event::Gtid(tagged_gtid(data).map_err(|reason| DecodeError {
                    event: t.name(),
                    reason,
                })?)
            }
            EventType::PreviousGtids => match previous_gtids(data) {
                Some(v) => Event::PreviousGtids(v),
                None => Event::Other {
                    event_type: t,
                    data,
                },
            },
            EventType::MariadbGtid => {
                let seq_no = r.u64().map_err(&sh)?;
                let domain_id = r.u32().map_err(&sh)?;
                let flags2 = r.u8().map_err(&sh)?;
                let commit_id = if flags2 & MariadbGtidEvent::FL_GROUP_COMMIT_ID != 0 {
                    Some(r.u64().map_err(&sh)?)
                } else {
                    None
                };
                let xa = if flags2
                    & (MariadbGtidEvent::FL_PREPARED_XA | MariadbGtidEvent::FL_COMPLETED_XA)
                    != 0
                {
                    let format = r.u32().map_err(&sh)?;
                    let g = usize::from(r.u8().map_err(&sh)?);
                    let b = usize::from(r.u8().map_err(&sh)?);
                    let gtrid = r.take(g).map_err(&sh)?.to_vec();
                    let bqual = r.take(b).map_err(&sh)?.to_vec();
                    Some((format, gtrid, bqual))
                } else {
                    None
                };
                Event::MariadbGtid(MariadbGtidEvent {
                    seq_no,
                    domain_id,
                    flags2,
                    commit_id,
                    xa,
                    extra: r.rest().to_vec(),
                })
            }
            EventType::GtidList => {
                let head = r.u32().map_err(&sh)?;
                let n = head & 0x0fff_ffff;
                let mut list = Vec::with_capacity((n as usize).min(r.remaining() / 16));
                for _ in 0..n {
                    list.push((
                        r.u32().map_err(&sh)?,
                        r.u32().map_err(&sh)?,
                        r.u64().map_err(&sh)?,
                    ));
                }
                Event::GtidList {
                    gtids: list,
                    flags: (head >> 28) as u8,
                    extra: r.rest(),
                }
            }
            EventType::AnnotateRows => Event::AnnotateRows(data),
            EventType::RowsQuery => {
                r.skip(1).map_err(&sh)?; // a length byte that is wrong for long texts
                Event::RowsQuery(r.rest())
            }
            EventType::BinlogCheckpoint => {
                let n = r.u32().map_err(&sh)?;
                Event::BinlogCheckpoint(r.take(n as usize).map_err(&sh)?)
            }
            EventType::Incident => {
                let kind = r.u16().map_err(&sh)?;
                let n = r.u8().map_err(&sh)?;
                Event::Incident {
                    kind,
                    message: r.take(usize::from(n)).map_err(&sh)?,
                }
            }
            EventType::StartEncryption => Event::StartEncryption {
                scheme: r.u8().map_err(&sh)?,
                key_version: r.u32().map_err(&sh)?,
                nonce: r.rest(),
            },
            EventType::TableMap => Event::TableMap(table_map(fde, data).map_err(&sh)?),
            t if t.is_rows() && !matches!(t.code(), 20..=22) => Event::Rows(rows(fde, t, data)?),
            EventType::TransactionPayload => {
                let (mut compression, mut uncompressed_size, mut size) = (255, 0, None);
                loop {
                    let field = r.packed().map_err(&sh)?;
                    if field == 0 {
                        break;
                    }
                    let len = r.packed().map_err(&sh)?;
                    let mut v = Reader::new(r.take(len as usize).map_err(&sh)?);
                    let value = v.packed().map_err(&sh)?;
                    match field {
                        1 => size = Some(value),
                        2 => compression = value,
                        3 => uncompressed_size = value,
                        _ => {}
                    }
                }
                let payload = r.rest();
                if size.is_some_and(|s| s != payload.len() as u64) {
                    return Err(DecodeError {
                        event: t.name(),
                        reason: format!(
                            "payload is {} bytes, the header says {}",
                            payload.len(),
                            size.unwrap_or(0)
                        ),
                    });
                }
                Event::TransactionPayload {
                    compression,
                    uncompressed_size,
                    payload,
                }
            }
            EventType::Stop => Event::Stop,
            _ => Event::Other {
                event_type: t,
                data,
            },
        })
    }
}

fn mysql_gtid(r: &mut Reader<'_>) -> Result<MySqlGtidEvent, Short> {
    let flags = r.u8()?;
    let mut sid = [0u8; 16];
    sid.copy_from_slice(r.take(16)?);
    let gno = r.u64()?;
    let mut g = MySqlGtidEvent {
        flags,
        sid,
        tag: String::new(),
        gno,
        last_committed: None,
        sequence_number: None,
        immediate_commit_us: None,
        original_commit_us: None,
        transaction_length: None,
        extra: Vec::new(),
        serialization: None,
    };
    // The logical clock (type code 2), then, only after it, the commit timestamps and the
    // transaction length; anything else stays in `extra`.
    if r.remaining() >= 17 && r.peek() == Some(2) {
        r.skip(1)?;
        g.last_committed = Some(r.i64()?);
        g.sequence_number = Some(r.i64()?);
        if r.remaining() >= 7 {
            let imm = r.uint(7)?;
            let (imm, has_orig) = (imm & !(1 << 55), imm & (1 << 55) != 0);
            g.immediate_commit_us = Some(imm);
            g.original_commit_us = Some(if has_orig { r.uint(7)? } else { imm });
            if r.remaining() > 0 {
                g.transaction_length = Some(r.packed()?);
            }
        }
    }
    g.extra = r.rest().to_vec();
    Ok(g)
}

fn previous_gtids(data: &[u8]) -> Option<Vec<SidIntervals>> {
    let mut r = Reader::new(data);
    let head = r.u64().ok()?;
    // MySQL 8.3+ marks the tagged form in the top byte (and repeats it in the low byte).
    let tagged = head >> 56 != 0;
    let n = if tagged {
        (head >> 8) & ((1 << 48) - 1)
    } else {
        head
    };
    let mut out = Vec::new();
    for _ in 0..n {
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(r.take(16).ok()?);
        let tag = if tagged {
            let len = r.varlen().ok()? as usize;
            String::from_utf8_lossy(r.take(len).ok()?).to_lowercase()
        } else {
            String::new()
        };
        let k = r.u64().ok()?;
        let mut iv = Vec::with_capacity((k as usize).min(r.remaining() / 16));
        for _ in 0..k {
            iv.push((r.u64().ok()?, r.u64().ok()?));
        }
        out.push((crate::MySqlSid { uuid, tag }, iv));
    }
    Some(out)
}

/// GTID_TAGGED: MySQL's serialization format, a version byte, the payload size, the last
/// field that may not be ignored, then (field id, value) pairs.
fn tagged_gtid(data: &[u8]) -> Result<MySqlGtidEvent, String> {
    let sh = |e: Short| format!("truncated: {e}");
    let mut r = Reader::new(data);
    let version = r.u8().map_err(sh)?;
    if version != 1 && version != 2 {
        return Err(format!("serialization version {version} is not known"));
    }
    let before = r.remaining();
    let size = r.varlen().map_err(sh)? as usize;
    let last_non_ignorable = r.varlen().map_err(sh)?;
    let envelope = 1 + before - r.remaining();
    let fields = r
        .take(
            size.checked_sub(envelope)
                .ok_or("payload size below its envelope")?,
        )
        .map_err(sh)?;
    let mut f = Reader::new(fields);
    let mut g = MySqlGtidEvent {
        flags: 0,
        sid: [0; 16],
        tag: String::new(),
        gno: 0,
        last_committed: None,
        sequence_number: None,
        immediate_commit_us: None,
        original_commit_us: None,
        transaction_length: None,
        extra: Vec::new(),
        serialization: Some((version, last_non_ignorable)),
    };
    while f.remaining() > 0 {
        let field_at = fields.len() - f.remaining();
        match f.varlen().map_err(sh)? {
            0 => g.flags = f.varlen().map_err(sh)? as u8,
            1 => {
                for b in g.sid.iter_mut() {
                    *b = f.varlen().map_err(sh)? as u8;
                }
            }
            2 => g.gno = f.varlen_signed().map_err(sh)?.max(0) as u64,
            3 => {
                let n = f.varlen().map_err(sh)? as usize;
                g.tag = String::from_utf8_lossy(f.take(n).map_err(sh)?).to_lowercase();
            }
            4 => g.last_committed = Some(f.varlen_signed().map_err(sh)?),
            5 => g.sequence_number = Some(f.varlen_signed().map_err(sh)?),
            6 => g.immediate_commit_us = Some(f.varlen().map_err(sh)?),
            7 => g.original_commit_us = Some(f.varlen().map_err(sh)?),
            8 => g.transaction_length = Some(f.varlen().map_err(sh)?),
            // Server versions, commit group ticket and anything later: not needed here, kept
            // as they are.
            _ => {
                g.extra = fields.get(field_at..).unwrap_or_default().to_vec();
                break;
            }
        }
    }
    if g.original_commit_us.is_none() {
        g.original_commit_us = g.immediate_commit_us;
    }
    Ok(g)
}

/// Post-header length of type `t`, from the FDE or the v4 default.
fn post_header(fde: &FormatDescription, t: EventType, default: u8) -> usize {
    usize::from(fde.post_header_len(t.code()).unwrap_or(default))
}

fn query<'a>(
    fde: &FormatDescription,
    t: EventType,
    data: &'a [u8],
) -> Result<Query<'a>, DecodeError> {
    let sh = short(t);
    let ph = post_header(fde, t, 13);
    let mut r = Reader::new(data);
    let thread_id = r.u32().map_err(&sh)?;
    let exec_time = r.u32().map_err(&sh)?;
    let db_len = r.u8().map_err(&sh)?;
    let error_code = r.u16().map_err(&sh)?;
    let status_len = if ph >= 13 { r.u16().map_err(&sh)? } else { 0 };
    r.skip(ph.saturating_sub(13)).map_err(&sh)?;
    let status_vars = r.take(usize::from(status_len)).map_err(&sh)?;
    let schema = r.take(usize::from(db_len)).map_err(&sh)?;
    r.skip(1).map_err(&sh)?;
    let text = r.rest();
    let query = if t == EventType::QueryCompressed {
        std::borrow::Cow::Owned(mariadb_uncompress(text).map_err(|reason| DecodeError {
            event: t.name(),
            reason,
        })?)
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    Ok(Query {
        thread_id,
        exec_time,
        error_code,
        status_vars,
        schema,
        query,
    })
}

/// The first bytes of a QUERY event's statement (for transaction tracking), or nothing.
pub(crate) fn query_text_prefix<'a>(
    fde: &FormatDescription,
    t: EventType,
    data: &'a [u8],
) -> std::borrow::Cow<'a, [u8]> {
    match query(fde, t, data) {
        Ok(q) => q.query,
        Err(_) => std::borrow::Cow::Borrowed(&[]),
    }
}

/// Largest uncompressed size accepted for MariaDB's compressed events.
const MAX_UNCOMPRESSED: u64 = 1 << 30;

/// MariaDB's compressed-event layout: one header byte (0x80 | n), an n-byte big-endian
/// uncompressed length, then a zlib stream.
pub(crate) fn mariadb_uncompress(src: &[u8]) -> Result<Vec<u8>, String> {
    let mut r = Reader::new(src);
    let h = r.u8().map_err(|e| format!("compressed header: {e}"))?;
    if h & 0x80 == 0 {
        return Err(format!(
            "compressed header byte {h:#04x} lacks the 0x80 flag"
        ));
    }
    let n = usize::from(h & 0x07);
    let len_bytes = r.take(n).map_err(|e| format!("compressed length: {e}"))?;
    let len = len_bytes.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
    if len > MAX_UNCOMPRESSED {
        return Err(format!("claims {len} bytes uncompressed"));
    }
    let mut out = Vec::with_capacity(len as usize);
    let mut z = flate2::read::ZlibDecoder::new(r.rest());
    use std::io::Read;
    (&mut z)
        .take(len + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("zlib: {e}"))?;
    if out.len() as u64 != len {
        return Err(format!(
            "{} bytes uncompressed, the header says {len}",
            out.len()
        ));
    }
    Ok(out)
}

fn table_id(r: &mut Reader<'_>, ph: usize) -> Result<u64, Short> {
    if ph == 6 {
        Ok(u64::from(r.u32()?))
    } else {
        r.uint(6)
    }
}

fn table_map<'a>(fde: &FormatDescription, data: &'a [u8]) -> Result<TableMap<'a>, Short> {
    let ph = post_header(fde, EventType::TableMap, 8);
    let mut r = Reader::new(data);
    let table_id = table_id(&mut r, ph)?;
    let flags = r.u16()?;
    r.skip(ph.saturating_sub(8))?;
    let n = r.u8()?;
    let schema = r.take(usize::from(n))?;
    r.skip(1)?;
    let n = r.u8()?;
    let table = r.take(usize::from(n))?;
    r.skip(1)?;
    let cols = r.packed()? as usize;
    let column_types = r.take(cols)?;
    // Servers before 5.1.18 wrote neither metadata nor a NULL bitmap.
    let (metadata, null_bitmap) = if r.remaining() == 0 {
        (&[][..], &[][..])
    } else {
        let meta_len = r.packed()? as usize;
        (r.take(meta_len)?, r.take(cols.div_ceil(8))?)
    };
    let optional_metadata = r.rest();
    Ok(TableMap {
        table_id,
        flags,
        schema,
        table,
        column_types,
        metadata,
        null_bitmap,
        optional_metadata,
    })
}

fn rows<'a>(
    fde: &FormatDescription,
    t: EventType,
    data: &'a [u8],
) -> Result<RowsEvent<'a>, DecodeError> {
    let sh = short(t);
    let v2 = matches!(t.code(), 30..=32 | 39 | 169..=171);
    let ph = post_header(fde, t, if v2 { 10 } else { 8 });
    let mut r = Reader::new(data);
    let table_id = table_id(&mut r, ph).map_err(&sh)?;
    let flags = r.u16().map_err(&sh)?;
    let extra = if v2 && ph >= 10 {
        let n = r.u16().map_err(&sh)?;
        r.take(usize::from(n.saturating_sub(2))).map_err(&sh)?
    } else {
        &[]
    };
    let column_count = r.packed().map_err(&sh)?;
    let bitmap = (column_count as usize).div_ceil(8);
    let present = r.take(bitmap).map_err(&sh)?;
    let update = matches!(t.code(), 21 | 24 | 31 | 39 | 167 | 170);
    let present_after = if update {
        Some(r.take(bitmap).map_err(&sh)?)
    } else {
        None
    };
    let rest = r.rest();
    let rows = if matches!(t.code(), 166..=171) {
        std::borrow::Cow::Owned(mariadb_uncompress(rest).map_err(|reason| DecodeError {
            event: t.name(),
            reason,
        })?)
    } else {
        std::borrow::Cow::Borrowed(rest)
    };
    Ok(RowsEvent {
        event_type: t,
        table_id,
        flags,
        extra,
        column_count,
        present,
        present_after,
        rows,
    })
}

/// Largest transaction a payload may claim once decompressed.
const MAX_PAYLOAD: u64 = 1 << 30;

/// Decompresses a TRANSACTION_PAYLOAD (compression 0 zstd, 255 none).
pub fn payload_bytes(
    compression: u64,
    uncompressed_size: u64,
    payload: &[u8],
) -> Result<std::borrow::Cow<'_, [u8]>, DecodeError> {
    let bad = |reason: String| DecodeError {
        event: "Transaction_payload",
        reason,
    };
    match compression {
        255 => Ok(std::borrow::Cow::Borrowed(payload)),
        0 => {
            if uncompressed_size > MAX_PAYLOAD {
                return Err(bad(format!(
                    "claims {uncompressed_size} bytes uncompressed"
                )));
            }
            let mut out = Vec::with_capacity(uncompressed_size as usize);
            let dec =
                zstd::stream::read::Decoder::new(payload).map_err(|e| bad(format!("zstd: {e}")))?;
            use std::io::Read;
            dec.take(uncompressed_size + 1)
                .read_to_end(&mut out)
                .map_err(|e| bad(format!("zstd: {e}")))?;
            if out.len() as u64 != uncompressed_size {
                return Err(bad(format!(
                    "{} bytes uncompressed, the header says {uncompressed_size}",
                    out.len()
                )));
            }
            Ok(std::borrow::Cow::Owned(out))
        }
        other => Err(bad(format!("compression type {other} is not known"))),
    }
}

/// The events inside a decompressed payload: whole events (common header, data), written
/// without checksums.
pub fn payload_events(
    bytes: &[u8],
) -> impl Iterator<Item = Result<(crate::EventHeader, &[u8]), DecodeError>> {
    let mut pos = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= bytes.len() {
            return None;
        }
        let rest = bytes.get(pos..).unwrap_or_default();
        let bad = |reason: String| DecodeError {
            event: "Transaction_payload",
            reason,
        };
        let item = crate::EventHeader::parse(rest)
            .map_err(|e| bad(format!("inner event at {pos}: {e}")))
            .and_then(|h| {
                let size = h.event_size as usize;
                match rest.get(crate::frame::HEADER_LEN..size) {
                    Some(data) if size >= crate::frame::HEADER_LEN => Ok((h, data)),
                    _ => Err(bad(format!(
                        "inner event at {pos} claims {size} bytes, {} left",
                        rest.len()
                    ))),
                }
            });
        match &item {
            Ok((h, _)) => pos += h.event_size as usize,
            Err(_) => failed = true,
        }
        Some(item)
    })
}

/// The session state a QUERY event carries (its status variables), as far as they are known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusVars {
    /// `flags2` (autocommit, foreign_key_checks, unique_checks, …).
    pub flags2: Option<u32>,
    /// `sql_mode` bits.
    pub sql_mode: Option<u64>,
    /// `auto_increment_increment` and `auto_increment_offset`.
    pub auto_increment: Option<(u16, u16)>,
    /// `character_set_client`, `collation_connection`, `collation_server` (collation ids).
    pub charset: Option<(u16, u16, u16)>,
    /// `time_zone`.
    pub time_zone: Option<String>,
    /// Catalog (normally `std`).
    pub catalog: Option<String>,
    /// `lc_time_names` id.
    pub lc_time_names: Option<u16>,
    /// `collation_database` id.
    pub charset_database: Option<u16>,
    /// Databases the statement changed (`None` when more than the server tracks).
    pub updated_dbs: Option<Vec<String>>,
    /// Definer of a routine, view or trigger statement: (user, host).
    pub invoker: Option<(String, String)>,
    /// Microseconds of the statement's start time.
    pub microseconds: Option<u32>,
    /// MySQL's DDL XID / MariaDB's XID of the statement.
    pub xid: Option<u64>,
    /// A status variable code this parser does not know: the rest was not read.
    pub unknown_code: Option<u8>,
}

impl StatusVars {
    /// Parses the status variables block of a QUERY event.
    pub fn parse(b: &[u8]) -> Result<StatusVars, Short> {
        let mut r = Reader::new(b);
        let mut v = StatusVars::default();
        let string = |r: &mut Reader<'_>| -> Result<String, Short> {
            let n = usize::from(r.u8()?);
            Ok(String::from_utf8_lossy(r.take(n)?).into_owned())
        };
        while r.remaining() > 0 {
            let code = r.u8()?;
            match code {
                0 => v.flags2 = Some(r.u32()?),
                1 => v.sql_mode = Some(r.u64()?),
                2 => {
                    v.catalog = Some(string(&mut r)?);
                    r.skip(1)?;
                }
                3 => v.auto_increment = Some((r.u16()?, r.u16()?)),
                4 => v.charset = Some((r.u16()?, r.u16()?, r.u16()?)),
                5 => v.time_zone = Some(string(&mut r)?),
                6 => v.catalog = Some(string(&mut r)?),
                7 => v.lc_time_names = Some(r.u16()?),
                8 => v.charset_database = Some(r.u16()?),
                9 => {
                    r.u64()?;
                }
                10 => {
                    r.u32()?;
                }
                11 => v.invoker = Some((string(&mut r)?, string(&mut r)?)),
                12 => {
                    let n = r.u8()?;
                    if n == 254 {
                        v.updated_dbs = None;
                    } else {
                        let mut dbs = Vec::new();
                        for _ in 0..n {
                            let rest = r.clone().rest();
                            let end = rest.iter().position(|&c| c == 0).ok_or(Short {
                                at: b.len() - rest.len(),
                                need: 1,
                            })?;
                            dbs.push(String::from_utf8_lossy(r.take(end)?).into_owned());
                            r.skip(1)?;
                        }
                        v.updated_dbs = Some(dbs);
                    }
                }
                13 => v.microseconds = Some(r.uint(3)? as u32),
                // MySQL: commit timestamps (unused), explicit_defaults_for_timestamp, DDL XID,
                // default utf8mb4 collation, sql_require_primary_key, default_table_encryption.
                14 | 15 => {
                    r.u64()?;
                }
                16 | 19 | 20 => {
                    r.u8()?;
                }
                17 => v.xid = Some(r.u64()?),
                18 => {
                    r.u16()?;
                }
                // MariaDB: Q_HRNOW (microseconds), Q_XID, Q_GTID_FLAGS3.
                128 => v.microseconds = Some(r.uint(3)? as u32),
                129 => v.xid = Some(r.u64()?),
                130 => {
                    r.u8()?;
                }
                other => {
                    v.unknown_code = Some(other);
                    break;
                }
            }
        }
        Ok(v)
    }
}

/// A USER_VAR event: a user variable a statement-format event reads (`@name`), as it was set.
#[derive(Debug, Clone, PartialEq)]
pub struct UserVar<'a> {
    /// Variable name, without the `@`.
    pub name: &'a [u8],
    /// Its value.
    pub value: UserValue<'a>,
}

/// The value of a [`UserVar`].
#[derive(Debug, Clone, PartialEq)]
pub enum UserValue<'a> {
    /// NULL.
    Null,
    /// A string in the collation with this id.
    String {
        /// Collation id.
        collation: u32,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// A double.
    Real(f64),
    /// An integer.
    Int {
        /// Its bits.
        value: i64,
        /// Unsigned (the value is `value as u64`).
        unsigned: bool,
    },
    /// A DECIMAL, as text.
    Decimal(String),
}

impl<'a> UserVar<'a> {
    /// Parses the data of a USER_VAR event (type 14).
    pub fn parse(data: &'a [u8]) -> Result<UserVar<'a>, DecodeError> {
        let bad = |what: &str| DecodeError {
            event: "User_var",
            reason: what.to_owned(),
        };
        let mut r = Reader::new(data);
        let n = r.u32().map_err(|_| bad("truncated name length"))? as usize;
        let name = r.take(n).map_err(|_| bad("truncated name"))?;
        let is_null = r.u8().map_err(|_| bad("truncated null flag"))?;
        if is_null != 0 {
            return Ok(UserVar {
                name,
                value: UserValue::Null,
            });
        }
        let kind = r.u8().map_err(|_| bad("truncated type"))?;
        let collation = r.u32().map_err(|_| bad("truncated charset"))?;
        let len = r.u32().map_err(|_| bad("truncated value length"))? as usize;
        let v = r.take(len).map_err(|_| bad("truncated value"))?;
        let flags = r.u8().unwrap_or(0);
        let value = match kind {
            0 => UserValue::String {
                collation,
                bytes: v,
            },
            1 => UserValue::Real(f64::from_le_bytes(
                v.try_into()
                    .map_err(|_| bad("a REAL value is not 8 bytes"))?,
            )),
            2 => UserValue::Int {
                value: i64::from_le_bytes(
                    v.get(..8)
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(|| bad("an INT value is not 8 bytes"))?,
                ),
                unsigned: flags & 1 != 0,
            },
            4 => {
                let (&p, rest) = v.split_first().ok_or_else(|| bad("empty DECIMAL"))?;
                let (&s, digits) = rest.split_first().ok_or_else(|| bad("empty DECIMAL"))?;
                let (text, _) = crate::value::decimal_from(digits, p, s)
                    .map_err(|e| bad(&format!("DECIMAL: {e}")))?;
                UserValue::Decimal(text)
            }
            other => return Err(bad(&format!("unknown value type {other}"))),
        };
        Ok(UserVar { name, value })
    }
}
