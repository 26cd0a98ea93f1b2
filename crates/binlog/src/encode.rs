//! Encoding events: the inverse of [`Event::decode`], for writing binlogs (flashback writes
//! reversed row events) and for proving the decoder loses nothing.
//!
//! [`Event::encode_data`] gives the bytes after the common header; [`encode_event`] frames
//! them (header, size, CRC32). Decoding and encoding again gives the same bytes for every
//! event type this crate decodes, except that MariaDB's zlib-compressed QUERY and row events
//! come back uncompressed (as QUERY and the plain row types: zlib output differs between
//! implementations).

use crate::events::{Event, MySqlGtidEvent, RowsEvent, TableMap};
use crate::frame::{Checksum, EventHeader, FormatDescription, HEADER_LEN, crc32};
use crate::types::EventType;
use crate::write::{packed, uint, varlen, varlen_signed};

/// An event this crate cannot encode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode a {event} event: {reason}")]
pub struct EncodeError {
    /// Event type name.
    pub event: &'static str,
    /// Why.
    pub reason: String,
}

fn too_long(t: EventType, what: &str) -> EncodeError {
    EncodeError {
        event: t.name(),
        reason: format!("{what} is longer than the format allows"),
    }
}

/// A length that the format stores in one byte.
fn len_u8(t: EventType, what: &str, b: &[u8]) -> Result<u8, EncodeError> {
    u8::try_from(b.len()).map_err(|_| too_long(t, what))
}

/// Post-header length of type `t`, from the FDE or the v4 default.
fn post_header(fde: &FormatDescription, t: EventType, default: u8) -> usize {
    usize::from(fde.post_header_len(t.code()).unwrap_or(default))
}

fn table_id(out: &mut Vec<u8>, id: u64, ph: usize) {
    uint(out, id, if ph == 6 { 4 } else { 6 });
}

impl Event<'_> {
    /// Encodes the event's data (what follows the common header, without the checksum) as
    /// an event read with type `t` under `fde`. Returns the type the bytes are: `t`, or the
    /// uncompressed counterpart of a MariaDB compressed type.
    pub fn encode_data(
        &self,
        t: EventType,
        fde: &FormatDescription,
    ) -> Result<(EventType, Vec<u8>), EncodeError> {
        let mut out = Vec::new();
        let as_type = self.encode_data_into(t, fde, &mut out)?;
        Ok((as_type, out))
    }

    /// [`Event::encode_data`] into a buffer the caller reuses (it is cleared first).
    pub fn encode_data_into(
        &self,
        t: EventType,
        fde: &FormatDescription,
        out: &mut Vec<u8>,
    ) -> Result<EventType, EncodeError> {
        out.clear();
        let mut as_type = t;
        match self {
            Event::FormatDescription(f) => {
                out.extend_from_slice(&f.binlog_version.to_le_bytes());
                let mut ver = [0u8; 50];
                let v = f.server_version.as_bytes();
                ver.get_mut(..v.len().min(50))
                    .unwrap_or_default()
                    .copy_from_slice(v.get(..v.len().min(50)).unwrap_or_default());
                out.extend_from_slice(&ver);
                out.extend_from_slice(&f.create_timestamp.to_le_bytes());
                out.push(f.header_len);
                out.extend_from_slice(&f.post_header_lens);
                if let Some(alg) = f.checksum_alg {
                    out.push(alg);
                }
            }
            Event::Query(q) => {
                as_type = EventType::Query;
                let ph = post_header(fde, t, 13);
                out.extend_from_slice(&q.thread_id.to_le_bytes());
                out.extend_from_slice(&q.exec_time.to_le_bytes());
                out.push(len_u8(t, "database name", q.schema)?);
                out.extend_from_slice(&q.error_code.to_le_bytes());
                if ph >= 13 {
                    let n = u16::try_from(q.status_vars.len())
                        .map_err(|_| too_long(t, "status variables"))?;
                    out.extend_from_slice(&n.to_le_bytes());
                }
                out.resize(out.len() + ph.saturating_sub(13), 0);
                out.extend_from_slice(q.status_vars);
                out.extend_from_slice(q.schema);
                out.push(0);
                out.extend_from_slice(&q.query);
            }
            Event::Rotate {
                position,
                next_file,
            } => {
                out.extend_from_slice(&position.to_le_bytes());
                out.extend_from_slice(next_file);
            }
            Event::Xid(x) => out.extend_from_slice(&x.to_le_bytes()),
            Event::Intvar { kind, value } => {
                out.push(*kind);
                out.extend_from_slice(&value.to_le_bytes());
            }
            Event::Rand { seed1, seed2 } => {
                out.extend_from_slice(&seed1.to_le_bytes());
                out.extend_from_slice(&seed2.to_le_bytes());
            }
            Event::Gtid(g) if t == EventType::GtidTagged => tagged_gtid(out, g),
            Event::Gtid(g) => mysql_gtid(out, g),
            Event::PreviousGtids(list) => {
                // MySQL 8.3+ writes the tagged form (a marker in the top and low bytes of the
                // count) when any source has a tag.
                let tagged = list.iter().any(|(sid, _)| !sid.tag.is_empty());
                let n = list.len() as u64;
                let head = if tagged { 1 << 56 | n << 8 | 1 } else { n };
                out.extend_from_slice(&head.to_le_bytes());
                for (sid, intervals) in list {
                    out.extend_from_slice(&sid.uuid);
                    if tagged {
                        varlen(out, sid.tag.len() as u64);
                        out.extend_from_slice(sid.tag.as_bytes());
                    }
                    out.extend_from_slice(&(intervals.len() as u64).to_le_bytes());
                    for (a, b) in intervals {
                        out.extend_from_slice(&a.to_le_bytes());
                        out.extend_from_slice(&b.to_le_bytes());
                    }
                }
            }
            Event::MariadbGtid(g) => {
                out.extend_from_slice(&g.seq_no.to_le_bytes());
                out.extend_from_slice(&g.domain_id.to_le_bytes());
                out.push(g.flags2);
                if let Some(c) = g.commit_id {
                    out.extend_from_slice(&c.to_le_bytes());
                }
                if let Some((format, gtrid, bqual)) = &g.xa {
                    out.extend_from_slice(&format.to_le_bytes());
                    out.push(len_u8(t, "XA gtrid", gtrid)?);
                    out.push(len_u8(t, "XA bqual", bqual)?);
                    out.extend_from_slice(gtrid);
                    out.extend_from_slice(bqual);
                }
                out.extend_from_slice(&g.extra);
            }
            Event::GtidList {
                gtids,
                flags,
                extra,
            } => {
                let n = u32::try_from(gtids.len())
                    .ok()
                    .filter(|&n| n <= 0x0fff_ffff)
                    .ok_or_else(|| too_long(t, "GTID list"))?;
                out.extend_from_slice(&(n | u32::from(*flags) << 28).to_le_bytes());
                for (domain, server, seq) in gtids {
                    out.extend_from_slice(&domain.to_le_bytes());
                    out.extend_from_slice(&server.to_le_bytes());
                    out.extend_from_slice(&seq.to_le_bytes());
                }
                out.extend_from_slice(extra);
            }
            Event::AnnotateRows(q) => out.extend_from_slice(q),
            Event::RowsQuery(q) => {
                // One length byte that the server writes modulo 256; readers ignore it.
                out.push(q.len() as u8);
                out.extend_from_slice(q);
            }
            Event::BinlogCheckpoint(name) => {
                let n = u32::try_from(name.len()).map_err(|_| too_long(t, "file name"))?;
                out.extend_from_slice(&n.to_le_bytes());
                out.extend_from_slice(name);
            }
            Event::Incident { kind, message } => {
                out.extend_from_slice(&kind.to_le_bytes());
                out.push(len_u8(t, "message", message)?);
                out.extend_from_slice(message);
            }
            Event::StartEncryption {
                scheme,
                key_version,
                nonce,
            } => {
                out.push(*scheme);
                out.extend_from_slice(&key_version.to_le_bytes());
                out.extend_from_slice(nonce);
            }
            Event::TableMap(m) => table_map(out, t, fde, m)?,
            Event::Rows(r) => as_type = rows(out, fde, r)?,
            Event::TransactionPayload {
                compression,
                uncompressed_size,
                payload,
            } => {
                // (field, length, value) triples in the server's order (compression,
                // uncompressed size, payload size), then the end mark; values are packed.
                for (field, value) in [
                    (2u64, *compression),
                    (3, *uncompressed_size),
                    (1, payload.len() as u64),
                ] {
                    let mut v = Vec::new();
                    packed(&mut v, value);
                    packed(out, field);
                    packed(out, v.len() as u64);
                    out.extend_from_slice(&v);
                }
                out.push(0);
                out.extend_from_slice(payload);
            }
            Event::Stop => {}
            Event::Other { data, .. } => out.extend_from_slice(data),
        }
        Ok(as_type)
    }
}

fn mysql_gtid(out: &mut Vec<u8>, g: &MySqlGtidEvent) {
    out.push(g.flags);
    out.extend_from_slice(&g.sid);
    out.extend_from_slice(&g.gno.to_le_bytes());
    if let (Some(lc), Some(seq)) = (g.last_committed, g.sequence_number) {
        out.push(2); // logical timestamp type code
        out.extend_from_slice(&lc.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        if let Some(imm) = g.immediate_commit_us {
            let orig = g.original_commit_us.filter(|&o| o != imm);
            uint(out, imm | if orig.is_some() { 1 << 55 } else { 0 }, 7);
            if let Some(o) = orig {
                uint(out, o, 7);
            }
            if let Some(len) = g.transaction_length {
                packed(out, len);
            }
        }
    }
    out.extend_from_slice(&g.extra);
}

/// GTID_TAGGED in MySQL's serialization format: version, payload size, last non-ignorable
/// field, then (field id, value) pairs; fields equal to their default are left out as the
/// server does (the original commit time when it equals the immediate one).
fn tagged_gtid(out: &mut Vec<u8>, g: &MySqlGtidEvent) {
    let mut f = Vec::new();
    varlen(&mut f, 0);
    varlen(&mut f, u64::from(g.flags));
    varlen(&mut f, 1);
    for b in g.sid {
        varlen(&mut f, u64::from(b));
    }
    varlen(&mut f, 2);
    varlen_signed(&mut f, g.gno as i64);
    varlen(&mut f, 3);
    varlen(&mut f, g.tag.len() as u64);
    f.extend_from_slice(g.tag.as_bytes());
    if let Some(lc) = g.last_committed {
        varlen(&mut f, 4);
        varlen_signed(&mut f, lc);
    }
    if let Some(seq) = g.sequence_number {
        varlen(&mut f, 5);
        varlen_signed(&mut f, seq);
    }
    if let Some(imm) = g.immediate_commit_us {
        varlen(&mut f, 6);
        varlen(&mut f, imm);
    }
    // The original commit time alone, or unlike the immediate one (which it defaults to).
    if let Some(orig) = g
        .original_commit_us
        .filter(|&o| Some(o) != g.immediate_commit_us)
    {
        varlen(&mut f, 7);
        varlen(&mut f, orig);
    }
    if let Some(len) = g.transaction_length {
        varlen(&mut f, 8);
        varlen(&mut f, len);
    }
    f.extend_from_slice(&g.extra);
    let (version, last_non_ignorable) = g.serialization.unwrap_or((1, 0));
    let mut lni = Vec::new();
    varlen(&mut lni, last_non_ignorable);
    // The size counts the whole payload, its own encoding included.
    let base = 1 + lni.len() + f.len();
    let mut size = base + 1;
    let mut enc = Vec::new();
    loop {
        enc.clear();
        varlen(&mut enc, size as u64);
        if base + enc.len() == size {
            break;
        }
        size = base + enc.len();
    }
    out.push(version);
    out.extend_from_slice(&enc);
    out.extend_from_slice(&lni);
    out.extend_from_slice(&f);
}

fn table_map(
    out: &mut Vec<u8>,
    t: EventType,
    fde: &FormatDescription,
    m: &TableMap<'_>,
) -> Result<(), EncodeError> {
    let ph = post_header(fde, t, 8);
    table_id(out, m.table_id, ph);
    out.extend_from_slice(&m.flags.to_le_bytes());
    out.resize(out.len() + ph.saturating_sub(8), 0);
    out.push(len_u8(t, "database name", m.schema)?);
    out.extend_from_slice(m.schema);
    out.push(0);
    out.push(len_u8(t, "table name", m.table)?);
    out.extend_from_slice(m.table);
    out.push(0);
    packed(out, m.column_types.len() as u64);
    out.extend_from_slice(m.column_types);
    if !(m.metadata.is_empty() && m.null_bitmap.is_empty() && m.optional_metadata.is_empty()) {
        packed(out, m.metadata.len() as u64);
        out.extend_from_slice(m.metadata);
        out.extend_from_slice(m.null_bitmap);
        out.extend_from_slice(m.optional_metadata);
    }
    Ok(())
}

/// The plain type of a MariaDB compressed row type.
fn uncompressed(t: EventType) -> EventType {
    match t.code() {
        166 => EventType::from_code(23),
        167 => EventType::from_code(24),
        168 => EventType::from_code(25),
        169 => EventType::from_code(30),
        170 => EventType::from_code(31),
        171 => EventType::from_code(32),
        _ => t,
    }
}

fn rows(
    out: &mut Vec<u8>,
    fde: &FormatDescription,
    r: &RowsEvent<'_>,
) -> Result<EventType, EncodeError> {
    let t = uncompressed(r.event_type);
    let v2 = matches!(t.code(), 30..=32 | 39);
    let ph = post_header(fde, r.event_type, if v2 { 10 } else { 8 });
    table_id(out, r.table_id, ph);
    out.extend_from_slice(&r.flags.to_le_bytes());
    if v2 && ph >= 10 {
        let n = u16::try_from(r.extra.len() + 2).map_err(|_| too_long(t, "extra data"))?;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(r.extra);
    }
    packed(out, r.column_count);
    out.extend_from_slice(r.present);
    if let Some(after) = r.present_after {
        out.extend_from_slice(after);
    }
    out.extend_from_slice(&r.rows);
    Ok(t)
}

/// Frames `data` as a whole event of type `t`: the common header from `header` (its size
/// and type replaced), then the data, then a CRC32 trailer when `fde` says so.
pub fn encode_event(
    header: &EventHeader,
    t: EventType,
    data: &[u8],
    fde: &FormatDescription,
) -> Result<Vec<u8>, EncodeError> {
    let trailer = match t {
        // The FDE carries its own trailer whatever algorithm it announces.
        EventType::FormatDescription => fde.own_trailer_len(),
        _ => fde.checksum().len(),
    };
    let size =
        u32::try_from(HEADER_LEN + data.len() + trailer).map_err(|_| too_long(t, "the event"))?;
    let mut out = Vec::with_capacity(size as usize);
    EventHeader {
        type_code: t.code(),
        event_size: size,
        ..*header
    }
    .encode(&mut out);
    out.extend_from_slice(data);
    if trailer > 0 {
        let crc = if t != EventType::FormatDescription {
            crc32(&out)
        } else if fde.checksum() == Checksum::Crc32 {
            // The server flips the FDE's in-use flag (bit 0 of the flags) when it closes the
            // file without rewriting the checksum, so the checksum is of the flag cleared.
            let mut clean = out.clone();
            if let Some(f) = clean.get_mut(17) {
                *f &= !1;
            }
            crc32(&clean)
        } else {
            // An FDE announcing no checksums still has the 4 bytes: MariaDB 10.x leaves them
            // zero (older servers wrote a CRC32 there; readers ignore it either way).
            0
        };
        out.extend_from_slice(&crc.to_le_bytes());
    }
    Ok(out)
}
