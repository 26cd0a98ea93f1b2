//! ROW_FORMAT=COMPRESSED pages ("zip" pages of KEY_BLOCK_SIZE bytes), expanded into the
//! uncompressed page the server works on, so the COMPACT record code reads them as any other.
//!
//! The layout, measured on MariaDB 10.11 files (the format is shared with MySQL):
//! - bytes `0..94`, the FIL and page headers, are stored as they are;
//! - a zlib stream starts at byte 94. It holds first a description of the index's fields
//!   (see `Fields`), ended by a full flush (an empty stored block, `00 00 ff ff`), then each
//!   record in heap order (ascending address): the bytes between the previous record's end
//!   and this record's 5-byte header (its null bitmap and lengths), then its data, less the
//!   parts stored uncompressed (below). Infimum, supremum and the 5-byte headers are not
//!   stored: they are rebuilt from the dense directory;
//! - after the stream (its adler32 included) a modification log: per entry a varint
//!   (`(heap_no - 1) << 1`, bit 0 set for "data cleared"; one byte below 0x80, else two with
//!   the top bit set), then for a write the record's null bitmap and lengths in the order
//!   they are read (from the header down), then its data less the uncompressed parts; a 0
//!   ends the log. Records inserted since the page was last compressed live only here;
//! - at the end of the page, growing down: the dense directory, 2 bytes per record of the
//!   heap (`n_heap - 2`), the page's list in key order first, then the free list; the low
//!   14 bits are the record's address in the uncompressed page, 0x4000 marks a record that
//!   owns a slot of the sparse directory, 0x8000 a delete-marked one;
//! - below it, per record by heap number, the uncompressed columns: DB_TRX_ID and
//!   DB_ROLL_PTR (13 bytes) on clustered leaf pages, the child page number (4 bytes) on
//!   non-leaf pages, nothing on secondary index leaves; below those, on leaf pages, the
//!   20-byte BLOB pointers of the records on the list, by heap number then field. A record
//!   on the free list has none: its pointers were cleared when it was purged.
//!
//! The checksum of a zip page covers bytes `4..16`, `24..26` and `34..` (see
//! [`crate::checksum`]); there is no trailer. BLOBs of compressed tables are one zlib stream
//! over a chain of ZBLOB pages ([`read_zblob`]).
//!
//! Forensic choices: a "data cleared" entry (a purged record) is not applied, so the bytes
//! the stream still holds for it stay readable; a record the stream and the log do not
//! both account for is left off the rebuilt lists rather than presented with guessed bytes.

use crate::compressed::ExpandError;
use crate::index::{COMPACT_INFIMUM, COMPACT_SUPREMUM, PAGE_DATA};
use crate::page::{FIL_HEADER, be};

/// Page type of the first page of a compressed BLOB.
pub const ZBLOB: u16 = 11;
/// Page type of the further pages of a compressed BLOB.
pub const ZBLOB2: u16 = 12;

/// Whether pages of type `ty` are a compressed table's BLOB pages.
pub fn is_zblob_type(ty: u16) -> bool {
    ty == ZBLOB || ty == ZBLOB2
}

/// Where the first user record's extra bytes start in the uncompressed page.
const ZIP_START: usize = COMPACT_SUPREMUM + 8;
/// Dense directory entry: the record's address.
const SLOT_MASK: u16 = 0x3fff;
/// Dense directory entry: the record owns a slot of the sparse directory.
const SLOT_OWNED: u16 = 0x4000;
/// Dense directory entry: the record is delete-marked.
const SLOT_DEL: u16 = 0x8000;
/// DB_TRX_ID and DB_ROLL_PTR.
const TRX_ROLL: usize = 13;
/// A child page number on a non-leaf page.
const NODE_PTR: usize = 4;
/// A BLOB pointer.
const EXTERN: usize = 20;

/// One field (or run of NOT NULL fixed-length fields, which the description merges) of the
/// index as the stream's description gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    /// Fixed length, or `None` for a variable-length field.
    fixed: Option<usize>,
    nullable: bool,
    /// Variable-length with a maximum above 255 bytes: lengths above 127 take 2 bytes.
    big: bool,
}

/// The description of the index that opens a zip page's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    groups: Vec<Group>,
    /// Clustered leaf pages: the group that starts with DB_TRX_ID and DB_ROLL_PTR.
    trx: Option<usize>,
    /// Nullable fields: the null bitmap's bits.
    n_nullable: usize,
}

/// Reads one value of the description: one byte below 0x80, else two.
fn varint(b: &[u8], at: &mut usize) -> Option<usize> {
    let first = usize::from(*b.get(*at)?);
    *at += 1;
    if first & 0x80 == 0 {
        return Some(first);
    }
    let second = usize::from(*b.get(*at)?);
    *at += 1;
    Some((first & 0x7f) << 8 | second)
}

impl Fields {
    /// The description in `b` (all of it: its end is the stream's first full flush). Each
    /// value but the last is a field: 0/1 a nullable/NOT NULL variable-length field of at
    /// most 255 bytes, 126/127 the same above 255, any other `len << 1 | not_null` fixed
    /// ones. The last is the trx-id group on leaf pages (0 on secondary indexes), the
    /// count of nullable fields on non-leaf pages.
    fn parse(b: &[u8], leaf: bool) -> Option<Fields> {
        let mut values = Vec::new();
        let mut at = 0;
        while at < b.len() {
            values.push(varint(b, &mut at)?);
        }
        let last = values.pop()?;
        if values.is_empty() {
            return None;
        }
        let groups: Vec<Group> = values
            .iter()
            .map(|&v| match v {
                0 | 1 | 126 | 127 => Group {
                    fixed: None,
                    nullable: v & 1 == 0,
                    big: v >= 126,
                },
                _ => Group {
                    fixed: Some(v >> 1),
                    nullable: v & 1 == 0,
                    big: false,
                },
            })
            .collect();
        let nullable = groups.iter().filter(|g| g.nullable).count();
        let (trx, n_nullable) = if leaf {
            ((last != 0).then_some(last), nullable)
        } else {
            (None, last)
        };
        if let Some(t) = trx {
            let g = groups.get(t)?;
            if g.nullable || g.fixed.is_none_or(|n| n < TRX_ROLL) {
                return None;
            }
        }
        if n_nullable < nullable {
            return None;
        }
        Some(Fields {
            groups,
            trx,
            n_nullable,
        })
    }

    fn null_bytes(&self) -> usize {
        self.n_nullable.div_ceil(8)
    }
}

/// A field of a record as its header gives it: length, stored off-page.
#[derive(Debug, Clone, Copy)]
struct Len {
    len: usize,
    external: bool,
}

/// The lengths of the fields of the record at `origin` of `page`, from its null bitmap
/// and length bytes (below its 5-byte header); `None` when they run off the page.
fn lengths(page: &[u8], origin: usize, f: &Fields) -> Option<Vec<Len>> {
    let nulls = origin.checked_sub(6)?;
    let mut len_at = nulls.checked_sub(f.null_bytes())?;
    let mut bit = 0usize;
    let mut out = Vec::with_capacity(f.groups.len());
    for g in &f.groups {
        if g.nullable {
            let byte = *page.get(nulls.checked_sub(bit / 8)?)?;
            let null = byte & (1 << (bit % 8)) != 0;
            bit += 1;
            if null {
                out.push(Len {
                    len: 0,
                    external: false,
                });
                continue;
            }
        }
        let l = match g.fixed {
            Some(len) => Len {
                len,
                external: false,
            },
            None => {
                let b = usize::from(*page.get(len_at)?);
                len_at = len_at.checked_sub(1)?;
                if g.big && b & 0x80 != 0 {
                    let b2 = usize::from(*page.get(len_at)?);
                    len_at = len_at.checked_sub(1)?;
                    Len {
                        len: (b & 0x3f) << 8 | b2,
                        external: b & 0x40 != 0,
                    }
                } else {
                    Len {
                        len: b,
                        external: false,
                    }
                }
            }
        };
        if l.external && l.len < EXTERN {
            return None;
        }
        out.push(l);
    }
    Some(out)
}

/// The parts of a record's data, in order: `true` for bytes the stream (or the log) holds,
/// `false` for bytes stored uncompressed (DB_TRX_ID/DB_ROLL_PTR, BLOB pointers, the child
/// page number), with their lengths.
fn parts(lens: &[Len], f: &Fields, leaf: bool) -> Vec<(bool, usize)> {
    let mut out = Vec::with_capacity(lens.len() + 2);
    for (k, l) in lens.iter().enumerate() {
        if f.trx == Some(k) {
            out.push((false, TRX_ROLL));
            out.push((true, l.len - TRX_ROLL));
        } else if l.external {
            out.push((true, l.len - EXTERN));
            out.push((false, EXTERN));
        } else {
            out.push((true, l.len));
        }
    }
    if !leaf {
        out.push((false, NODE_PTR));
    }
    out
}

/// Whether `page` (stored, `zip_size` bytes) is a zip INDEX page (or a page of MySQL's SDI
/// index, compressed alike in a compressed tablespace): its records area does not start
/// with the infimum record but with a zlib header.
pub fn is_zip_index(page: &[u8]) -> bool {
    matches!(be::u16(page, 24), Some(17855 | 17853))
        && page.get(COMPACT_INFIMUM..COMPACT_INFIMUM + 7) != Some(b"infimum")
        && page.get(PAGE_DATA).is_some_and(|&b| b & 0x0f == 8)
        && page.len() <= 16384
}

/// The uncompressed page (`logical` bytes, the tablespace's page size) of the zip INDEX
/// page `zip`. The result carries a valid `crc32` checksum when `zip`'s checksum holds, an
/// invalid one otherwise, so verdicts on it say what they said on the stored page.
pub fn expand(zip: &[u8], logical: usize) -> Result<Vec<u8>, ExpandError> {
    let corrupt = |what: String| ExpandError::Corrupt(what);
    let size = zip.len();
    if size < PAGE_DATA + 8 || logical < size || logical > 16384 {
        return Err(corrupt(format!(
            "a zip page of {size} bytes does not expand to {logical}"
        )));
    }
    let header =
        crate::index::IndexHeader::parse(zip).ok_or_else(|| corrupt("cut short".into()))?;
    if !header.compact {
        return Err(corrupt("the page header says REDUNDANT".into()));
    }
    let leaf = header.level == 0;
    let n_dense = usize::from(header.n_heap)
        .checked_sub(2)
        .ok_or_else(|| corrupt(format!("n_heap {}", header.n_heap)))?;
    let n_recs = usize::from(header.n_recs);
    let dir_start = size
        .checked_sub(2 * n_dense)
        .filter(|&d| d > PAGE_DATA && n_recs <= n_dense)
        .ok_or_else(|| {
            corrupt(format!(
                "{n_dense} records ({n_recs} on the list) do not fit the page"
            ))
        })?;
    let entries: Vec<u16> = (0..n_dense)
        .map(|i| be::u16(zip, size - 2 * (i + 1)).unwrap_or(0))
        .collect();

    // Heap order is address order: heap number = rank + 2.
    let mut by_addr: Vec<usize> = entries.iter().map(|e| usize::from(e & SLOT_MASK)).collect();
    by_addr.sort_unstable();
    let limit = logical - FIL_HEADER;
    if by_addr.windows(2).any(|w| w.first() == w.last())
        || by_addr.iter().any(|&a| a < ZIP_START + 5 || a >= limit)
    {
        return Err(corrupt(
            "the dense directory holds impossible addresses".into(),
        ));
    }
    let rank_of = |addr: usize| by_addr.binary_search(&addr).ok();

    // The stream: the field description up to the first full flush, then the records.
    let (fields, stream, log_at) = inflate(zip, leaf, logical)?;
    let trx_slot = if !leaf {
        NODE_PTR
    } else if fields.trx.is_some() {
        TRX_ROLL
    } else {
        0
    };
    let externs_end = dir_start
        .checked_sub(n_dense * trx_slot)
        .filter(|&e| e >= PAGE_DATA)
        .ok_or_else(|| corrupt("the uncompressed columns do not fit the page".into()))?;

    let mut page = vec![0u8; logical];
    put(&mut page, 0, zip.get(..PAGE_DATA).unwrap_or_default());
    // Which records the stream or the log gave bytes for.
    let mut have = vec![false; n_dense];
    let mut pos = ZIP_START;
    let mut s = 0usize;
    for (rank, &addr) in by_addr.iter().enumerate() {
        let want = addr - 5;
        if want < pos {
            return Err(corrupt(format!("record {addr:#x} overlaps the one before")));
        }
        let gap = want - pos;
        let rest = stream.get(s..).unwrap_or_default();
        if rest.len() <= gap {
            // The stream ends here; the rest of the records are in the log.
            put(&mut page, pos, rest);
            break;
        }
        put(&mut page, pos, rest.get(..gap).unwrap_or_default());
        s += gap;
        let Some(lens) = lengths(&page, addr, &fields) else {
            break;
        };
        let mut at = addr;
        let mut complete = true;
        for (stored, len) in parts(&lens, &fields, leaf) {
            if at + len > limit {
                complete = false;
                break;
            }
            if stored {
                let Some(src) = stream.get(s..s + len) else {
                    complete = false;
                    break;
                };
                put(&mut page, at, src);
                s += len;
            }
            at += len;
        }
        if !complete {
            break;
        }
        if let Some(h) = have.get_mut(rank) {
            *h = true;
        }
        pos = at;
    }

    apply_log(
        zip, log_at, dir_start, &fields, leaf, &by_addr, &mut page, &mut have,
    )?;

    // The uncompressed columns, by heap number; BLOB pointers only for records on the list.
    let mut live = vec![false; n_dense];
    for e in entries.iter().take(n_recs) {
        if let Some(l) = rank_of(usize::from(e & SLOT_MASK)).and_then(|r| live.get_mut(r)) {
            *l = true;
        }
    }
    let mut externs = externs_end;
    for (rank, &addr) in by_addr.iter().enumerate() {
        if have.get(rank) != Some(&true) {
            continue;
        }
        let Some(lens) = lengths(&page, addr, &fields) else {
            if let Some(h) = have.get_mut(rank) {
                *h = false;
            }
            continue;
        };
        let own = dir_start - (rank + 1) * trx_slot;
        let mut at = addr;
        for (stored, len) in parts(&lens, &fields, leaf) {
            if !stored && at + len <= limit {
                let src = if len == EXTERN {
                    if live.get(rank) == Some(&true) && externs >= PAGE_DATA + EXTERN {
                        externs -= EXTERN;
                        zip.get(externs..externs + EXTERN)
                    } else {
                        None
                    }
                } else {
                    zip.get(own..own + len)
                };
                if let Some(src) = src {
                    put(&mut page, at, src);
                }
            }
            at += len;
        }
    }

    link(&mut page, &entries, &by_addr, &have, n_recs, leaf);

    // The trailer and a checksum that says what the stored page's said.
    put(&mut page, logical - 4, zip.get(20..24).unwrap_or_default());
    let held = crate::checksum::verify(zip, false).is_valid();
    let crc = (crate::checksum::crc32(&page) ^ u32::from(!held)).to_be_bytes();
    put(&mut page, 0, &crc);
    put(&mut page, logical - 8, &crc);
    Ok(page)
}

/// Inflates the stream of `zip`: the field description, the records' bytes, and where the
/// modification log starts.
fn inflate(
    zip: &[u8],
    leaf: bool,
    logical: usize,
) -> Result<(Fields, Vec<u8>, usize), ExpandError> {
    let corrupt = |what: String| ExpandError::Corrupt(what);
    let body = zip.get(PAGE_DATA..).unwrap_or_default();
    let mut desc = [0u8; 2048];
    // The description ends at the first full flush; a false match of its marker inside the
    // first block gives a description that does not parse, so the next one is tried.
    for marker in
        memchr::memmem::find_iter(body.get(2..).unwrap_or_default(), &[0, 0, 0xff, 0xff]).take(8)
    {
        let end = marker + 2 + 4;
        let mut z = flate2::Decompress::new(true);
        if z.decompress(
            body.get(..end).unwrap_or_default(),
            &mut desc,
            flate2::FlushDecompress::Sync,
        )
        .is_err()
            || z.total_in() != end as u64
        {
            continue;
        }
        let Some(fields) = desc
            .get(..z.total_out() as usize)
            .and_then(|d| Fields::parse(d, leaf))
        else {
            continue;
        };
        let mut stream = vec![0u8; logical];
        let desc_len = z.total_out();
        let status = z
            .decompress(
                body.get(end..).unwrap_or_default(),
                &mut stream,
                flate2::FlushDecompress::Finish,
            )
            .map_err(|e| corrupt(format!("zlib: {e}")))?;
        if status != flate2::Status::StreamEnd {
            return Err(corrupt("the compressed stream does not end".into()));
        }
        stream.truncate((z.total_out() - desc_len) as usize);
        let log_at = PAGE_DATA + z.total_in() as usize;
        return Ok((fields, stream, log_at));
    }
    Err(corrupt(
        "no index description at the start of the compressed stream".into(),
    ))
}

/// Writes `src` into `page` at `at` (nothing when it would not fit).
fn put(page: &mut [u8], at: usize, src: &[u8]) {
    if let Some(dst) = page.get_mut(at..at + src.len()) {
        dst.copy_from_slice(src);
    }
}

/// Applies the modification log at `at` (writes only: "data cleared" entries are left
/// unapplied, see the module doc).
#[allow(clippy::too_many_arguments)]
fn apply_log(
    zip: &[u8],
    mut at: usize,
    dir_start: usize,
    fields: &Fields,
    leaf: bool,
    by_addr: &[usize],
    page: &mut [u8],
    have: &mut [bool],
) -> Result<(), ExpandError> {
    let fail = |at: usize, what: &str| {
        ExpandError::Corrupt(format!("modification log at byte {at}: {what}"))
    };
    let limit = page.len() - FIL_HEADER;
    while at < dir_start {
        let entry = at;
        let byte = |at: &mut usize| -> Result<u8, ExpandError> {
            let b = zip
                .get(*at)
                .filter(|_| *at < dir_start)
                .copied()
                .ok_or_else(|| fail(entry, "cut short"))?;
            *at += 1;
            Ok(b)
        };
        let v = varint(zip, &mut at).ok_or_else(|| fail(entry, "cut short"))?;
        if v == 0 {
            return Ok(());
        }
        let rank = (v >> 1)
            .checked_sub(1)
            .filter(|&r| r < by_addr.len())
            .ok_or_else(|| fail(entry, "a heap number beyond the page's"))?;
        if v & 1 != 0 {
            continue;
        }
        let addr = by_addr.get(rank).copied().unwrap_or(0);
        // The null bitmap, then the lengths, each byte going down from the header.
        let mut header = Vec::new();
        for _ in 0..fields.null_bytes() {
            header.push(byte(&mut at)?);
        }
        let mut bit = 0usize;
        for g in &fields.groups {
            if g.nullable {
                let null = header
                    .get(bit / 8)
                    .is_some_and(|b| b & (1 << (bit % 8)) != 0);
                bit += 1;
                if null {
                    continue;
                }
            }
            if g.fixed.is_none() {
                let b = byte(&mut at)?;
                header.push(b);
                if g.big && b & 0x80 != 0 {
                    header.push(byte(&mut at)?);
                }
            }
        }
        let low = addr
            .checked_sub(5 + header.len())
            .filter(|&t| t >= ZIP_START)
            .ok_or_else(|| fail(entry, "record header off the page"))?;
        header.reverse();
        put(page, low, &header);
        let lens = lengths(page, addr, fields).ok_or_else(|| fail(entry, "bad lengths"))?;
        let mut to = addr;
        for (stored, len) in parts(&lens, fields, leaf) {
            if to + len > limit {
                return Err(fail(entry, "a record beyond the page"));
            }
            if stored {
                let src = zip
                    .get(at..at + len)
                    .filter(|_| at + len <= dir_start)
                    .ok_or_else(|| fail(entry, "cut short"))?;
                put(page, to, src);
                at += len;
            }
            to += len;
        }
        if let Some(h) = have.get_mut(rank) {
            *h = true;
        }
    }
    Ok(())
}

/// Writes infimum, supremum, the records' 5-byte headers (list and free list, from the
/// dense directory) and the sparse directory.
fn link(
    page: &mut [u8],
    entries: &[u16],
    by_addr: &[usize],
    have: &[bool],
    n_recs: usize,
    leaf: bool,
) {
    let logical = page.len();
    let put16 = |page: &mut [u8], at: usize, v: u16| put(page, at, &v.to_be_bytes());
    let rel = |from: usize, to: usize| (to.wrapping_sub(from) % 65536) as u16;
    put(page, COMPACT_INFIMUM - 5, &[0x01]);
    put16(page, COMPACT_INFIMUM - 4, 2);
    put(page, COMPACT_INFIMUM, b"infimum\0");
    put16(page, COMPACT_SUPREMUM - 4, 1 << 3 | 3);
    put16(page, COMPACT_SUPREMUM - 2, 0);
    put(page, COMPACT_SUPREMUM, b"supremum");
    let status: u16 = if leaf { 0 } else { 1 };
    let leftmost = be::u32(page, 8) == Some(crate::page::FIL_NULL);
    let ours = |addr: usize| {
        by_addr
            .binary_search(&addr)
            .ok()
            .filter(|&r| have.get(r) == Some(&true))
    };

    // The list, in key order.
    let mut prev = COMPACT_INFIMUM;
    let mut owned = 0u8;
    let mut slots = vec![COMPACT_INFIMUM];
    for (i, e) in entries.iter().take(n_recs).enumerate() {
        let addr = usize::from(e & SLOT_MASK);
        let Some(rank) = ours(addr) else {
            continue;
        };
        owned = owned.saturating_add(1);
        let mut info = 0u8;
        if e & SLOT_DEL != 0 {
            info |= 0x20;
        }
        if !leaf && i == 0 && leftmost {
            info |= 0x10;
        }
        if e & SLOT_OWNED != 0 {
            info |= owned.min(15);
            owned = 0;
            slots.push(addr);
        }
        put(page, addr - 5, &[info]);
        put16(page, addr - 4, ((rank + 2) as u16) << 3 | status);
        put16(page, prev - 2, rel(prev, addr));
        prev = addr;
    }
    put16(page, prev - 2, rel(prev, COMPACT_SUPREMUM));
    put(
        page,
        COMPACT_SUPREMUM - 5,
        &[owned.saturating_add(1).min(15)],
    );
    slots.push(COMPACT_SUPREMUM);

    // The free list, in its order.
    let mut prev: Option<usize> = None;
    let mut first = 0u16;
    for e in entries.iter().skip(n_recs) {
        let addr = usize::from(e & SLOT_MASK);
        let Some(rank) = ours(addr) else {
            continue;
        };
        put(page, addr - 5, &[0]);
        put16(page, addr - 4, ((rank + 2) as u16) << 3 | status);
        put16(page, addr - 2, 0);
        match prev {
            Some(p) => put16(page, p - 2, rel(p, addr)),
            None => first = addr as u16,
        }
        prev = Some(addr);
    }
    put16(page, FIL_HEADER + 6, first);

    // The sparse directory, growing down from the trailer.
    for (i, &s) in slots.iter().enumerate() {
        let at = logical - 8 - 2 * (i + 1);
        if at > PAGE_DATA {
            put16(page, at, s as u16);
        }
    }
    put16(page, FIL_HEADER, slots.len() as u16);
}

/// Reads a BLOB of a compressed table: one zlib stream over a chain of ZBLOB pages, each
/// with the next page's number in its FIL header and its part of the stream from byte 38.
pub fn read_zblob(
    first_page: u32,
    length: u64,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let cap = usize::try_from(length).map_err(|_| format!("BLOB of {length} bytes"))?;
    let mut out = Vec::with_capacity(cap.min(1 << 26));
    let mut z = flate2::Decompress::new(true);
    let mut page_no = first_page;
    let mut hops = 0u64;
    loop {
        hops += 1;
        if hops > length / 16 + 2 {
            return Err(format!(
                "compressed BLOB chain longer than its {length} bytes"
            ));
        }
        let page = page_of(page_no).ok_or_else(|| format!("BLOB page {page_no} is missing"))?;
        let want = if hops == 1 { ZBLOB } else { ZBLOB2 };
        if be::u16(&page, 24) != Some(want) {
            return Err(format!(
                "page {page_no} of a compressed BLOB is not of type {want}"
            ));
        }
        let next = be::u32(&page, 12).unwrap_or(crate::page::FIL_NULL);
        let mut input = page.get(FIL_HEADER..).unwrap_or_default();
        while !input.is_empty() {
            let before = z.total_in();
            if out.len() == out.capacity() {
                if out.len() >= cap {
                    return Err(format!("compressed BLOB expands past its {length} bytes"));
                }
                out.reserve((cap - out.len()).min(1 << 20));
            }
            let status = z
                .decompress_vec(input, &mut out, flate2::FlushDecompress::None)
                .map_err(|e| format!("compressed BLOB page {page_no}: zlib: {e}"))?;
            input = input
                .get((z.total_in() - before) as usize..)
                .unwrap_or_default();
            if status == flate2::Status::StreamEnd {
                if out.len() as u64 != length {
                    return Err(format!(
                        "compressed BLOB gives {} bytes, its pointer says {length}",
                        out.len()
                    ));
                }
                return Ok(out);
            }
            if z.total_in() == before && out.len() < out.capacity() {
                break;
            }
        }
        if next == crate::page::FIL_NULL {
            return Err(format!(
                "compressed BLOB chain ends after {} of its {length} bytes",
                out.len()
            ));
        }
        page_no = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_descriptions_as_measured() {
        // Leaf of (id INT NOT NULL PK, DB_TRX_ID, DB_ROLL_PTR, name VARCHAR(40) latin1,
        // qty INT NOT NULL, note TEXT, big LONGBLOB): DB_TRX_ID starts group 1.
        let f = Fields::parse(&[0x09, 0x1b, 0x00, 0x09, 0x7e, 0x7e, 0x01], true).unwrap();
        assert_eq!(f.trx, Some(1));
        assert_eq!(f.n_nullable, 3);
        assert_eq!(f.groups[1].fixed, Some(13));
        assert!(f.groups[4].big && f.groups[4].nullable && f.groups[4].fixed.is_none());
        // Its non-leaf pages: the key, then the count of nullable fields.
        let f = Fields::parse(&[0x09, 0x03], false).unwrap();
        assert_eq!((f.groups.len(), f.trx, f.n_nullable), (1, None, 3));
        // A fixed length of 126 bytes or more takes two bytes.
        let f = Fields::parse(&[0x80, 0xc9, 0x00], true).unwrap();
        assert_eq!(f.groups[0].fixed, Some(100));
        // A trx-id group too short for DB_TRX_ID and DB_ROLL_PTR is not a description.
        assert!(Fields::parse(&[0x09, 0x09, 0x01], true).is_none());
        assert!(Fields::parse(&[0x09], true).is_none());
    }

    #[test]
    fn mod_log_numbers_take_one_or_two_bytes() {
        let b = [0x04, 0x82, 0x02];
        let mut at = 0;
        assert_eq!(varint(&b, &mut at), Some(4));
        assert_eq!(varint(&b, &mut at), Some(0x202));
        assert_eq!(varint(&b, &mut at), None);
    }
}
