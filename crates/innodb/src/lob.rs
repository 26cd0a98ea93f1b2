//! MySQL 8's LOB format for off-page columns of uncompressed tables (MySQL 8.0 replaced the
//! old BLOB chain, which MariaDB and MySQL 5.7 still write, with it to allow partial updates).
//!
//! The record's 20-byte external reference is space id, first page, the LOB version (where
//! the old format keeps an offset) and the length. The first page (type 24) holds, after the
//! FIL header:
//!
//! | at | bytes | |
//! |---|---|---|
//! | 38 | 1 | format version (0) |
//! | 39 | 1 | flags |
//! | 40 | 4 | LOB version |
//! | 44 | 6 + 4 | last transaction id and undo number |
//! | 54 | 4 | bytes of data on this page |
//! | 58 | 6 | creating transaction id |
//! | 64 | 16 | the index list: length, first and last address (page 4 + offset 2) |
//! | 80 | 16 | the free list of index entries |
//! | 96 | 10 × 60 | index entries |
//! | 696 | | data |
//!
//! The index list gives the LOB's pages in order. An entry is 60 bytes: previous and next
//! entry (6 + 6), the base of its older versions' list (16), creating and modifying
//! transaction ids (6 + 6) and undo numbers (4 + 4), then at 48 the page number (4), at 52
//! the bytes of data on it (2) and at 56 the LOB version that wrote it (4). Entries past the
//! first ten live on index pages (type 22). A data page (type 23) holds its data length at
//! 39 (4) and its data from 49. A partial update adds a new entry and keeps the replaced one
//! in the new entry's versions list, so a reference of an older version reads, per entry,
//! the newest version not newer than its own.

use std::collections::HashSet;

use crate::page::{FIL_TRAILER, be};

/// Page type of a LOB index page (more index entries).
pub const LOB_INDEX: u16 = 22;
/// Page type of a LOB data page.
pub const LOB_DATA: u16 = 23;
/// Page type of a LOB's first page.
pub const LOB_FIRST: u16 = 24;
/// Page type of the first page of a compressed table's LOB (MySQL 8's ZLOB format).
pub const ZLOB_FIRST: u16 = 25;

const INDEX_LIST: usize = 64;
const FIRST_DATA: usize = 96 + 10 * ENTRY;
const DATA_PAGE_LEN: usize = 39;
const DATA_PAGE_DATA: usize = 49;
const ENTRY: usize = 60;

/// A file list address: page number and byte offset (`None` for the null address).
fn addr(page: &[u8], at: usize) -> Result<Option<(u32, usize)>, String> {
    let no = be::u32(page, at).ok_or("LOB list address outside its page")?;
    let off = be::u16(page, at + 4).ok_or("LOB list address outside its page")?;
    Ok((no != crate::page::FIL_NULL).then_some((no, usize::from(off))))
}

/// One index entry, read.
struct Entry {
    next: Option<(u32, usize)>,
    versions: Option<(u32, usize)>,
    page_no: u32,
    data_len: usize,
    lob_version: u32,
}

/// Reads the LOB whose first page `first` is page `first_no`, as version `version` of it
/// holds `length` bytes. `page_of` gives other pages of the tablespace.
pub fn read(
    first_no: u32,
    first: &[u8],
    version: u32,
    length: u64,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    if be::u16(first, 24) != Some(LOB_FIRST) {
        return Err(format!("page {first_no} is not a LOB first page"));
    }
    if first.get(38) != Some(&0) {
        return Err(format!(
            "LOB first page {first_no}: unknown format version {}",
            first.get(38).copied().unwrap_or_default()
        ));
    }
    let cap = usize::try_from(length).map_err(|_| format!("LOB of {length} bytes"))?;
    let mut out = Vec::with_capacity(cap.min(1 << 26));
    // The index page last read: entries are allocated in order, so one is enough.
    let mut cached: Option<(u32, Vec<u8>)> = None;
    let mut seen = HashSet::new();
    let mut at = addr(first, INDEX_LIST + 4)?;
    while let Some((no, off)) = at {
        let entry = entry(first_no, first, no, off, &mut cached, &mut seen, page_of)?;
        at = entry.next;
        let entry = if entry.lob_version > version {
            older(
                first_no,
                first,
                &entry,
                version,
                &mut cached,
                &mut seen,
                page_of,
            )?
        } else {
            entry
        };
        let data = if entry.page_no == first_no {
            first
                .get(FIRST_DATA..FIRST_DATA + entry.data_len)
                .filter(|_| FIRST_DATA + entry.data_len <= first.len() - FIL_TRAILER)
                .ok_or_else(|| {
                    format!(
                        "LOB first page {first_no}: {} bytes of data do not fit",
                        entry.data_len
                    )
                })?
                .to_vec()
        } else {
            let page = page_of(entry.page_no)
                .ok_or_else(|| format!("LOB page {} is missing", entry.page_no))?;
            if be::u16(&page, 24) != Some(LOB_DATA) {
                return Err(format!("page {} is not a LOB data page", entry.page_no));
            }
            let stored = be::u32(&page, DATA_PAGE_LEN).unwrap_or_default() as usize;
            if stored < entry.data_len || DATA_PAGE_DATA + stored > page.len() - FIL_TRAILER {
                return Err(format!(
                    "LOB data page {}: {} bytes of data do not fit",
                    entry.page_no, entry.data_len
                ));
            }
            page.get(DATA_PAGE_DATA..DATA_PAGE_DATA + entry.data_len)
                .unwrap_or_default()
                .to_vec()
        };
        out.extend_from_slice(&data);
        if out.len() as u64 > length {
            return Err(format!("LOB holds more than its {length} bytes"));
        }
    }
    if out.len() as u64 != length {
        return Err(format!(
            "LOB index ends after {} of its {length} bytes",
            out.len()
        ));
    }
    Ok(out)
}

/// The entry at (`no`, `off`): on the first page or on an index page. An address met twice
/// is a cycle, which only damage makes.
fn entry(
    first_no: u32,
    first: &[u8],
    no: u32,
    off: usize,
    cached: &mut Option<(u32, Vec<u8>)>,
    seen: &mut HashSet<(u32, usize)>,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
) -> Result<Entry, String> {
    if !seen.insert((no, off)) {
        return Err(format!("LOB index loops at page {no} offset {off}"));
    }
    let page: &[u8] = if no == first_no {
        first
    } else {
        if cached.as_ref().is_none_or(|(n, _)| *n != no) {
            let p = page_of(no).ok_or_else(|| format!("LOB index page {no} is missing"))?;
            if be::u16(&p, 24) != Some(LOB_INDEX) {
                return Err(format!("page {no} is not a LOB index page"));
            }
            *cached = Some((no, p));
        }
        cached
            .as_ref()
            .map(|(_, p)| p.as_slice())
            .unwrap_or_default()
    };
    let e = page
        .get(off..off + ENTRY)
        .filter(|_| off >= crate::page::FIL_HEADER && off + ENTRY <= page.len() - FIL_TRAILER)
        .ok_or_else(|| format!("LOB index entry at page {no} offset {off} is outside the page"))?;
    let versions_len = be::u32(e, 12).unwrap_or_default();
    Ok(Entry {
        next: addr(e, 6)?,
        versions: if versions_len == 0 {
            None
        } else {
            addr(e, 16)?
        },
        page_no: be::u32(e, 48).unwrap_or_default(),
        data_len: usize::from(be::u16(e, 52).unwrap_or_default()),
        lob_version: be::u32(e, 56).unwrap_or_default(),
    })
}

/// The newest of `current`'s older versions that `version` may see.
fn older(
    first_no: u32,
    first: &[u8],
    current: &Entry,
    version: u32,
    cached: &mut Option<(u32, Vec<u8>)>,
    seen: &mut HashSet<(u32, usize)>,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
) -> Result<Entry, String> {
    let mut at = current.versions;
    while let Some((no, off)) = at {
        let e = entry(first_no, first, no, off, cached, seen, page_of)?;
        if e.lob_version <= version {
            return Ok(e);
        }
        at = e.next;
    }
    Err(format!(
        "LOB page {} was rewritten by LOB version {} and version {version}'s copy is gone",
        current.page_no, current.lob_version
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_addr(p: &mut [u8], at: usize, a: Option<(u32, u16)>) {
        let (no, off) = a.unwrap_or((crate::page::FIL_NULL, 0));
        p[at..at + 4].copy_from_slice(&no.to_be_bytes());
        p[at + 4..at + 6].copy_from_slice(&off.to_be_bytes());
    }

    fn put_entry(p: &mut [u8], at: usize, next: Option<(u32, u16)>, page_no: u32, len: u16) {
        put_addr(p, at, None);
        put_addr(p, at + 6, next);
        p[at + 48..at + 52].copy_from_slice(&page_no.to_be_bytes());
        p[at + 52..at + 54].copy_from_slice(&len.to_be_bytes());
        p[at + 56..at + 60].copy_from_slice(&1u32.to_be_bytes());
    }

    /// A LOB of `a` bytes on its first page (page 3) and `b` on one data page (page 4).
    fn lob(a: usize, b: usize) -> (Vec<u8>, Vec<u8>) {
        let mut first = vec![0u8; 4096];
        first[24..26].copy_from_slice(&LOB_FIRST.to_be_bytes());
        first[64..68].copy_from_slice(&2u32.to_be_bytes());
        put_addr(&mut first, 68, Some((3, 96)));
        put_entry(&mut first, 96, Some((3, 156)), 3, a as u16);
        put_entry(&mut first, 156, None, 4, b as u16);
        first[FIRST_DATA..FIRST_DATA + a].fill(b'a');
        let mut data = vec![0u8; 4096];
        data[24..26].copy_from_slice(&LOB_DATA.to_be_bytes());
        data[39..43].copy_from_slice(&(b as u32).to_be_bytes());
        data[49..49 + b].fill(b'b');
        (first, data)
    }

    /// A partial update rewrote page 4's part as page 5 (LOB version 2) and kept the old
    /// entry in the new one's versions list: version 1 reads page 4, version 2 page 5.
    #[test]
    fn an_older_version_reads_the_pages_it_wrote() {
        let (mut first, data) = lob(100, 50);
        // Entry 2 (at 156) becomes version 2's, on page 5; entry 3 (at 216) keeps version
        // 1's page 4 and hangs from entry 2's versions list.
        put_entry(&mut first, 156, None, 5, 50);
        first[156 + 56..156 + 60].copy_from_slice(&2u32.to_be_bytes());
        first[156 + 12..156 + 16].copy_from_slice(&1u32.to_be_bytes());
        put_addr(&mut first, 156 + 16, Some((3, 216)));
        put_entry(&mut first, 216, None, 4, 50);
        let mut newer = data.clone();
        newer[49..99].fill(b'c');
        let mut page_of = |n: u32| match n {
            4 => Some(data.clone()),
            5 => Some(newer.clone()),
            _ => None,
        };
        let v1 = read(3, &first, 1, 150, &mut page_of).unwrap();
        assert_eq!(&v1[100..], vec![b'b'; 50].as_slice());
        let v2 = read(3, &first, 2, 150, &mut page_of).unwrap();
        assert_eq!(&v2[100..], vec![b'c'; 50].as_slice());
        // A version older than every copy kept is an error that says so.
        first[216 + 56..216 + 60].copy_from_slice(&2u32.to_be_bytes());
        let e = read(3, &first, 1, 150, &mut page_of).unwrap_err();
        assert!(e.contains("is gone"), "{e}");
    }

    #[test]
    fn reads_the_index_list_in_order() {
        let (first, data) = lob(3000, 100);
        let mut page_of = |n: u32| (n == 4).then(|| data.clone());
        let v = read(3, &first, 1, 3100, &mut page_of).unwrap();
        assert_eq!(&v[..3000], vec![b'a'; 3000].as_slice());
        assert_eq!(&v[3000..], vec![b'b'; 100].as_slice());
        // A length the pages do not hold, a missing page, a cycle: errors.
        assert!(read(3, &first, 1, 3099, &mut page_of).is_err());
        assert!(read(3, &first, 1, 3100, &mut |_| None).is_err());
        let mut looped = first.clone();
        put_addr(&mut looped, 156 + 6, Some((3, 96)));
        let e = read(3, &looped, 1, 1 << 20, &mut page_of).unwrap_err();
        assert!(e.contains("loops"), "{e}");
        // Data lengths larger than the page.
        let (first, data) = lob(3392, 100);
        assert!(read(3, &first, 1, 3492, &mut |_| Some(data.clone())).is_ok());
        let (first, data) = lob(3393, 100);
        assert!(read(3, &first, 1, 3493, &mut |_| Some(data.clone())).is_err());
    }
}
