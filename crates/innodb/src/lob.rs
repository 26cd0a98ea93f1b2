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
//!
//! A compressed table (ROW_FORMAT=COMPRESSED) stores a LOB longer than 128 KiB as a ZLOB:
//! the value cut into 128 KiB chunks, each chunk one zlib stream. Its pages have the
//! compressed page size and carry no compression of their own. The first page (type 25)
//! holds, after the FIL header, the same version, flags, LOB version and transaction fields
//! as a LOB's first page, then:
//!
//! | at | bytes | |
//! |---|---|---|
//! | 54 | 4 | bytes of stream on this page |
//! | 64 | 4 + 4 | first index page, first fragment-entry page |
//! | 72 | 16 | the free list of index entries |
//! | 88 | 16 | the index list |
//! | 104 | 16 + 16 | the free and used lists of fragment entries |
//! | 136 | n × 66 | index entries, then fragment entries (24 bytes each) and data |
//!
//! A first page of 16, 8, 4, 2 or 1 KiB holds 100, 80, 40, 20 or 5 index entries and 200,
//! 100, 40, 20 or 5 fragment entries. An index entry is 66 bytes: the same lists and
//! transaction fields as a LOB's, then at 48 the page where its stream starts (4), at 52
//! the fragment holding the stream's end (2), at 54 the chunk's length (4), at 58 the
//! stream's length (4) and at 62 the LOB version (4). More entries live on index pages
//! (type 27) from byte 39. A stream starts on the first page, on a data page (type 26: its
//! length at 39, its bytes from 49) or in a fragment, continues through data pages by
//! FIL_PAGE_NEXT and may end in a fragment. A fragment page (type 28) holds many streams'
//! pieces: a directory grows down from 10 bytes before the page's end (its entry count
//! there, the offset of fragment `i` at 12 + 2i from the end), and a fragment is previous
//! and next (2 + 2), its total length (2), its id (2) and its bytes.

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

/// Page type of a ZLOB's data page.
pub const ZLOB_DATA: u16 = 26;
/// Page type of a ZLOB's index page (more index entries).
pub const ZLOB_INDEX: u16 = 27;
/// Page type of a ZLOB's fragment page (small pieces of several streams).
pub const ZLOB_FRAG: u16 = 28;

const INDEX_LIST: usize = 64;
const FIRST_DATA: usize = 96 + 10 * LOB_ENTRY;
pub(crate) const DATA_PAGE_LEN: usize = 39;
pub(crate) const DATA_PAGE_DATA: usize = 49;
const LOB_ENTRY: usize = 60;

pub(crate) const Z_INDEX_LIST: usize = 88;
pub(crate) const Z_FIRST_LEN: usize = 54;
pub(crate) const Z_ENTRIES: usize = 136;
pub(crate) const Z_ENTRY: usize = 66;
pub(crate) const Z_FRAG_ENTRY: usize = 24;

/// The two formats' index entries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Lob,
    Zlob,
}

impl Format {
    fn entry_size(self) -> usize {
        match self {
            Format::Lob => LOB_ENTRY,
            Format::Zlob => Z_ENTRY,
        }
    }

    fn index_page(self) -> u16 {
        match self {
            Format::Lob => LOB_INDEX,
            Format::Zlob => ZLOB_INDEX,
        }
    }
}

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
    /// The data page (LOB) or the page where the stream starts (ZLOB).
    page_no: u32,
    /// Bytes of the value: on the page (LOB), in the chunk (ZLOB).
    data_len: usize,
    lob_version: u32,
    /// ZLOB only: the fragment holding the stream's end, and the stream's length.
    frag_id: u16,
    stream_len: usize,
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
    let (mut index, mut out) = Index::open(Format::Lob, first_no, first, length)?;
    let mut at = addr(first, INDEX_LIST + 4)?;
    while let Some((no, off)) = at {
        let (entry, next) = index.visible(no, off, version, page_of)?;
        at = next;
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
        too_long(&out, length)?;
    }
    whole(out, length, "LOB")
}

/// A LOB's or ZLOB's index: its entries live on the first page and on index pages.
struct Index<'a> {
    format: Format,
    first_no: u32,
    first: &'a [u8],
    /// The index page last read: entries are allocated in order, so one is enough.
    cached: Option<(u32, Vec<u8>)>,
    /// Entries met so far: one met twice is a cycle, which only damage makes.
    seen: HashSet<(u32, usize)>,
}

impl<'a> Index<'a> {
    /// The index of the LOB (or ZLOB) whose first page `first` is page `first_no`, checked
    /// to be one, and a buffer for its `length` bytes.
    fn open(
        format: Format,
        first_no: u32,
        first: &'a [u8],
        length: u64,
    ) -> Result<(Self, Vec<u8>), String> {
        let (ty, name) = match format {
            Format::Lob => (LOB_FIRST, "LOB"),
            Format::Zlob => (ZLOB_FIRST, "ZLOB"),
        };
        if be::u16(first, 24) != Some(ty) {
            return Err(format!("page {first_no} is not a {name} first page"));
        }
        if first.get(38) != Some(&0) {
            return Err(format!(
                "{name} first page {first_no}: unknown format version {}",
                first.get(38).copied().unwrap_or_default()
            ));
        }
        let cap = usize::try_from(length).map_err(|_| format!("LOB of {length} bytes"))?;
        let index = Index {
            format,
            first_no,
            first,
            cached: None,
            seen: HashSet::new(),
        };
        Ok((index, Vec::with_capacity(cap.min(1 << 26))))
    }

    /// The entry at (`no`, `off`), or the newest of its older versions that LOB version
    /// `version` may see; and the next entry's address.
    fn visible(
        &mut self,
        no: u32,
        off: usize,
        version: u32,
        page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
    ) -> Result<(Entry, Option<(u32, usize)>), String> {
        let current = self.entry(no, off, page_of)?;
        let next = current.next;
        if current.lob_version <= version {
            return Ok((current, next));
        }
        let mut at = current.versions;
        while let Some((no, off)) = at {
            let e = self.entry(no, off, page_of)?;
            if e.lob_version <= version {
                return Ok((e, next));
            }
            at = e.next;
        }
        Err(format!(
            "LOB page {} was rewritten by LOB version {} and version {version}'s copy is gone",
            current.page_no, current.lob_version
        ))
    }

    /// The entry at (`no`, `off`): on the first page or on an index page.
    fn entry(
        &mut self,
        no: u32,
        off: usize,
        page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
    ) -> Result<Entry, String> {
        if !self.seen.insert((no, off)) {
            return Err(format!("LOB index loops at page {no} offset {off}"));
        }
        let size = self.format.entry_size();
        let page: &[u8] = if no == self.first_no {
            self.first
        } else {
            if self.cached.as_ref().is_none_or(|(n, _)| *n != no) {
                let p = page_of(no).ok_or_else(|| format!("LOB index page {no} is missing"))?;
                if be::u16(&p, 24) != Some(self.format.index_page()) {
                    return Err(format!("page {no} is not a LOB index page"));
                }
                self.cached = Some((no, p));
            }
            self.cached
                .as_ref()
                .map(|(_, p)| p.as_slice())
                .unwrap_or_default()
        };
        let e = page
            .get(off..off + size)
            .filter(|_| off >= crate::page::FIL_HEADER && off + size <= page.len() - FIL_TRAILER)
            .ok_or_else(|| {
                format!("LOB index entry at page {no} offset {off} is outside the page")
            })?;
        let versions_len = be::u32(e, 12).unwrap_or_default();
        let u32_at = |at| be::u32(e, at).unwrap_or_default();
        let (data_len, lob_version, frag_id, stream_len) = match self.format {
            Format::Lob => (
                usize::from(be::u16(e, 52).unwrap_or_default()),
                u32_at(56),
                0,
                0,
            ),
            Format::Zlob => (
                u32_at(54) as usize,
                u32_at(62),
                be::u16(e, 52).unwrap_or_default(),
                u32_at(58) as usize,
            ),
        };
        Ok(Entry {
            next: addr(e, 6)?,
            versions: if versions_len == 0 {
                None
            } else {
                addr(e, 16)?
            },
            page_no: u32_at(48),
            data_len,
            lob_version,
            frag_id,
            stream_len,
        })
    }
}

/// An error once `out` holds more than the record's `length` says.
fn too_long(out: &[u8], length: u64) -> Result<(), String> {
    if out.len() as u64 > length {
        return Err(format!("LOB holds more than its {length} bytes"));
    }
    Ok(())
}

/// `out`, when it holds the whole `length` bytes.
fn whole(out: Vec<u8>, length: u64, name: &str) -> Result<Vec<u8>, String> {
    if out.len() as u64 != length {
        return Err(format!(
            "{name} index ends after {} of its {length} bytes",
            out.len()
        ));
    }
    Ok(out)
}

/// Index and fragment entries on a ZLOB first page of `size` bytes.
pub(crate) fn z_first_entries(size: usize) -> Option<(usize, usize)> {
    Some(match size {
        16384 => (100, 200),
        8192 => (80, 100),
        4096 => (40, 40),
        2048 => (20, 20),
        1024 => (5, 5),
        _ => return None,
    })
}

/// The uncompressed chunk a zlib stream gives at most (MySQL cuts a ZLOB into 128 KiB).
pub(crate) const Z_CHUNK: usize = 128 * 1024;

/// Reads the ZLOB whose first page `first` is page `first_no`, as version `version` of it
/// holds `length` bytes: each index entry's zlib stream, gathered from its pages and
/// inflated, in the index list's order.
pub fn read_z(
    first_no: u32,
    first: &[u8],
    version: u32,
    length: u64,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let (mut index, mut out) = Index::open(Format::Zlob, first_no, first, length)?;
    let (n_index, n_frag) = z_first_entries(first.len()).ok_or_else(|| {
        format!(
            "ZLOB first page {first_no} is {} bytes, not a compressed page size",
            first.len()
        )
    })?;
    let data_at = Z_ENTRIES + n_index * Z_ENTRY + n_frag * Z_FRAG_ENTRY;
    let mut at = addr(first, Z_INDEX_LIST + 4)?;
    while let Some((no, off)) = at {
        let (entry, next) = index.visible(no, off, version, page_of)?;
        at = next;
        // An entry without a stream holds nothing (MySQL reads it so too).
        if entry.page_no == crate::page::FIL_NULL || entry.data_len == 0 {
            continue;
        }
        if entry.data_len > Z_CHUNK || entry.stream_len > 2 * Z_CHUNK {
            return Err(format!(
                "ZLOB index entry at page {no} offset {off}: a chunk of {} bytes in {}",
                entry.data_len, entry.stream_len
            ));
        }
        let stream = z_stream(first_no, first, data_at, &entry, page_of)?;
        let before = out.len();
        out.reserve(entry.data_len);
        let mut z = flate2::Decompress::new(true);
        let status = z
            .decompress_vec(&stream, &mut out, flate2::FlushDecompress::Finish)
            .map_err(|e| format!("ZLOB stream from page {}: zlib: {e}", entry.page_no))?;
        if status != flate2::Status::StreamEnd || out.len() - before != entry.data_len {
            return Err(format!(
                "ZLOB stream from page {} gives {} bytes, its index entry says {}",
                entry.page_no,
                out.len() - before,
                entry.data_len
            ));
        }
        too_long(&out, length)?;
    }
    whole(out, length, "ZLOB")
}

/// The zlib stream of `entry`: from its start page through data pages to its end, which
/// may be a fragment.
fn z_stream(
    first_no: u32,
    first: &[u8],
    data_at: usize,
    entry: &Entry,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let want = entry.stream_len;
    let mut stream = Vec::with_capacity(want);
    let mut page_no = entry.page_no;
    let mut seen = HashSet::new();
    while stream.len() < want && page_no != crate::page::FIL_NULL {
        if !seen.insert(page_no) {
            return Err(format!("ZLOB stream loops at page {page_no}"));
        }
        let owned;
        let page: &[u8] = if page_no == first_no {
            first
        } else {
            owned = page_of(page_no).ok_or_else(|| format!("ZLOB page {page_no} is missing"))?;
            &owned
        };
        let end = page.len().saturating_sub(FIL_TRAILER);
        let part = match be::u16(page, 24) {
            Some(ZLOB_FIRST) if page_no == first_no => {
                let len = be::u32(page, Z_FIRST_LEN).unwrap_or_default() as usize;
                page.get(data_at..data_at + len)
                    .filter(|_| data_at + len <= end)
            }
            Some(ZLOB_DATA) => {
                let len = be::u32(page, DATA_PAGE_LEN).unwrap_or_default() as usize;
                page.get(DATA_PAGE_DATA..DATA_PAGE_DATA + len)
                    .filter(|_| DATA_PAGE_DATA + len <= end)
            }
            Some(ZLOB_FRAG) => Some(fragment(page, page_no, entry.frag_id)?),
            t => {
                return Err(format!(
                    "page {page_no} of a ZLOB stream has page type {}, not a ZLOB data or fragment page's",
                    t.unwrap_or_default()
                ));
            }
        }
        .ok_or_else(|| format!("ZLOB page {page_no}: its data length runs past the page"))?;
        if stream.len() + part.len() > want {
            return Err(format!(
                "ZLOB stream from page {} holds more than its {want} bytes",
                entry.page_no
            ));
        }
        stream.extend_from_slice(part);
        page_no = be::u32(page, 12).unwrap_or(crate::page::FIL_NULL);
    }
    if stream.len() != want {
        return Err(format!(
            "ZLOB stream from page {} ends after {} of its {want} bytes",
            entry.page_no,
            stream.len()
        ));
    }
    Ok(stream)
}

/// The bytes of fragment `id` of fragment page `page`.
fn fragment(page: &[u8], page_no: u32, id: u16) -> Result<&[u8], String> {
    let size = page.len();
    let bad = |what: String| format!("ZLOB fragment page {page_no}: {what}");
    let n = be::u16(page, size.saturating_sub(10)).ok_or_else(|| bad("too short".into()))?;
    if id >= n {
        return Err(bad(format!("fragment {id} is not among its {n}")));
    }
    let dir_end = size.saturating_sub(10 + 2 * usize::from(n));
    let at = usize::from(
        be::u16(page, size.saturating_sub(12 + 2 * usize::from(id))).unwrap_or_default(),
    );
    let total = usize::from(be::u16(page, at + 4).unwrap_or_default());
    if be::u16(page, at + 6) != Some(id) {
        return Err(bad(format!(
            "the directory's fragment {id} at {at} has another id"
        )));
    }
    page.get(at + 8..at + total)
        .filter(|_| at >= crate::page::FIL_HEADER && total >= 8 && at + total <= dir_end)
        .ok_or_else(|| {
            bad(format!(
                "fragment {id} at {at} of {total} bytes runs past its space"
            ))
        })
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

    fn zlob(size: usize, value: &[u8]) -> std::collections::HashMap<u32, Vec<u8>> {
        crate::testing::zlob(size, 3, value).into_iter().collect()
    }

    /// Bytes that deflate to about a third: streams of several pages and short tails.
    fn sample(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b"abcdefgh"[(x >> 16) as usize % 8]
            })
            .collect()
    }

    #[test]
    fn zlob_streams_over_first_data_and_fragment_pages() {
        // 16 KiB: three chunks, the last short enough for a fragment of its own; 1 KiB:
        // more entries than the first page holds, so some are on an index page.
        for (size, len) in [
            (16384, 2 * Z_CHUNK + 700),
            (8192, 300_000),
            (1024, 1_000_000),
        ] {
            let value = sample(len, size as u32);
            let pages = zlob(size, &value);
            let types: HashSet<u16> = pages.values().map(|p| be::u16(p, 24).unwrap()).collect();
            assert!(
                types.contains(&ZLOB_DATA) && types.contains(&ZLOB_FRAG),
                "{size}"
            );
            assert_eq!(types.contains(&ZLOB_INDEX), size == 1024, "{size}");
            let mut page_of = |n: u32| pages.get(&n).cloned();
            let got = crate::record::read_blob(3, 1, len as u64, &mut page_of).unwrap();
            assert!(got == value, "{size}: the value comes back");
            // A length the streams do not give, a missing page: errors that say so.
            let e = crate::record::read_blob(3, 1, len as u64 + 1, &mut page_of).unwrap_err();
            assert!(e.contains("index ends after"), "{e}");
            let e = read_z(3, &pages[&3], 1, len as u64, &mut |n| {
                (n != 4).then(|| pages.get(&n).cloned()).flatten()
            })
            .unwrap_err();
            assert!(e.contains("page 4 is missing"), "{e}");
        }
    }

    #[test]
    fn damaged_zlobs_are_errors_naming_the_page() {
        let value = sample(2 * Z_CHUNK + 700, 7);
        let pages = zlob(16384, &value);
        let read = |pages: &std::collections::HashMap<u32, Vec<u8>>| {
            read_z(3, &pages[&3], 1, value.len() as u64, &mut |n| {
                pages.get(&n).cloned()
            })
        };
        assert!(read(&pages).is_ok());
        let frag_no = *pages
            .iter()
            .find(|(_, p)| be::u16(p, 24) == Some(ZLOB_FRAG))
            .unwrap()
            .0;
        // A fragment id the directory lacks; a fragment running into the directory.
        let mut bad = pages.clone();
        bad.get_mut(&frag_no).unwrap()[16384 - 10..16384 - 8].copy_from_slice(&0u16.to_be_bytes());
        let e = read(&bad).unwrap_err();
        assert!(e.contains(&format!("fragment page {frag_no}")), "{e}");
        let mut bad = pages.clone();
        bad.get_mut(&frag_no).unwrap()[57 + 4..57 + 6].copy_from_slice(&16320u16.to_be_bytes());
        let e = read(&bad).unwrap_err();
        assert!(e.contains("runs past"), "{e}");
        // A data page whose stream bytes were overwritten: zlib's verdict, not wrong data.
        // The first chunk's stream continues from the first page on data pages 4, 5, ...
        let data_no = 4;
        assert_eq!(be::u16(&pages[&data_no], 24), Some(ZLOB_DATA));
        let mut bad = pages.clone();
        bad.get_mut(&data_no).unwrap()[100..400].fill(0x55);
        let e = read(&bad).unwrap_err();
        assert!(e.contains("ZLOB stream from page"), "{e}");
        // A data page linked to itself.
        let mut bad = pages.clone();
        bad.get_mut(&data_no).unwrap()[12..16].copy_from_slice(&data_no.to_be_bytes());
        let e = read(&bad).unwrap_err();
        assert!(e.contains("loops at page 4"), "{e}");
        // A first page of a size no compressed table has.
        let mut odd = pages[&3].clone();
        odd.truncate(10000);
        let e = read_z(3, &odd, 1, 1, &mut |_| None).unwrap_err();
        assert!(e.contains("not a compressed page size"), "{e}");
    }

    /// An update of part of a ZLOB (LOB version 2) keeps the replaced chunk's entry in the
    /// new entry's versions list: version 1 reads the old chunk.
    #[test]
    fn zlob_versions_read_the_chunk_their_version_wrote() {
        let old = sample(Z_CHUNK + 5000, 1);
        let mut new = old.clone();
        new[Z_CHUNK..].fill(b'z');
        let old_pages = zlob(16384, &old);
        let new_pages = zlob(16384, &new);
        // The new second chunk's pages, renumbered past the old ones, and its entry (at
        // 202) made version 2 with the old entry (copied to 268) as its older version.
        let shift = 100;
        let mut pages = old_pages.clone();
        for (no, p) in &new_pages {
            if *no != 3 {
                let mut p = p.clone();
                let next = be::u32(&p, 12).unwrap();
                if next != crate::page::FIL_NULL {
                    p[12..16].copy_from_slice(&(next + shift).to_be_bytes());
                }
                pages.insert(no + shift, p);
            }
        }
        let first = pages.get_mut(&3).unwrap();
        let (e1, e2) = (Z_ENTRIES + Z_ENTRY, Z_ENTRIES + 2 * Z_ENTRY);
        let old_entry = first[e1..e1 + Z_ENTRY].to_vec();
        first[e2..e2 + Z_ENTRY].copy_from_slice(&old_entry);
        let new_first = &new_pages[&3];
        first[e1..e1 + Z_ENTRY].copy_from_slice(&new_first[e1..e1 + Z_ENTRY]);
        let start = be::u32(first, e1 + 48).unwrap() + shift;
        first[e1 + 48..e1 + 52].copy_from_slice(&start.to_be_bytes());
        first[e1 + 62..e1 + 66].copy_from_slice(&2u32.to_be_bytes());
        first[e1 + 12..e1 + 16].copy_from_slice(&1u32.to_be_bytes());
        put_addr(first, e1 + 16, Some((3, e2 as u16)));
        let first = first.clone();
        let mut page_of = |n: u32| pages.get(&n).cloned();
        let len = old.len() as u64;
        assert!(read_z(3, &first, 1, len, &mut page_of).unwrap() == old);
        assert!(read_z(3, &first, 2, len, &mut page_of).unwrap() == new);
    }
}
