//! Writers of formats no server here writes, for tests (feature `test-support`): the pages
//! are laid out as the documented format says, so a test can put them in a real tablespace.
//! Test code: it indexes and panics where the caller's input is wrong.
#![allow(clippy::indexing_slicing, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use crate::lob::{
    DATA_PAGE_DATA, DATA_PAGE_LEN, Z_CHUNK, Z_ENTRIES, Z_ENTRY, Z_FIRST_LEN, Z_FRAG_ENTRY,
    Z_INDEX_LIST, ZLOB_DATA, ZLOB_FIRST, ZLOB_FRAG, ZLOB_INDEX, z_first_entries,
};
use crate::page::{FIL_NULL, FIL_TRAILER};

/// Where fragments start on a fragment page: after its version, fragment-entry address and
/// free and used fragment lists.
const FRAGS_BEGIN: usize = 57;

/// Pages being written, numbered from the first page on.
struct Pages {
    size: usize,
    pages: BTreeMap<u32, Vec<u8>>,
    next_no: u32,
    /// The fragment page being filled: its number, where its free space starts, its next id.
    frag: Option<(u32, usize, u16)>,
}

impl Pages {
    fn alloc(&mut self, ty: u16) -> u32 {
        let no = self.next_no;
        self.next_no += 1;
        let mut p = vec![0u8; self.size];
        p[4..8].copy_from_slice(&no.to_be_bytes());
        p[8..16].copy_from_slice(&[0xff; 8]);
        p[24..26].copy_from_slice(&ty.to_be_bytes());
        self.pages.insert(no, p);
        no
    }

    fn page(&mut self, no: u32) -> &mut Vec<u8> {
        self.pages.get_mut(&no).expect("a page written here")
    }

    fn link(&mut self, from: u32, to: u32) {
        self.page(from)[12..16].copy_from_slice(&to.to_be_bytes());
    }

    /// Stores `bytes` as the next fragment of the fragment page, which the first call
    /// allocates; returns the page and the fragment's id.
    fn fragment(&mut self, bytes: &[u8]) -> (u32, u16) {
        let (no, at, id) = match self.frag {
            Some(f) => f,
            None => (self.alloc(ZLOB_FRAG), FRAGS_BEGIN, 0),
        };
        let size = self.size;
        let p = self.page(no);
        p[at + 4..at + 6].copy_from_slice(&((8 + bytes.len()) as u16).to_be_bytes());
        p[at + 6..at + 8].copy_from_slice(&id.to_be_bytes());
        p[at + 8..at + 8 + bytes.len()].copy_from_slice(bytes);
        p[size - 10..size - 8].copy_from_slice(&(id + 1).to_be_bytes());
        let dir = size - 12 - 2 * usize::from(id);
        p[dir..dir + 2].copy_from_slice(&(at as u16).to_be_bytes());
        self.frag = Some((no, at + 8 + bytes.len(), id + 1));
        (no, id)
    }
}

fn put_addr(p: &mut [u8], at: usize, a: Option<(u32, usize)>) {
    let (no, off) = a.unwrap_or((FIL_NULL, 0));
    p[at..at + 4].copy_from_slice(&no.to_be_bytes());
    p[at + 4..at + 6].copy_from_slice(&(off as u16).to_be_bytes());
}

/// The pages of a ZLOB (LOB version 1) holding `value`, for a compressed page size `size`,
/// numbered from `first_no`, as MySQL's z_insert writes one: 128 KiB chunks, each one zlib
/// stream that starts on the first page (the first chunk), on a data page or, when short,
/// in a fragment; continues on data pages; and ends in a fragment when its tail is short.
/// Index entries past the first page's go to an index page. Space ids and checksums are
/// left to the caller.
pub fn zlob(size: usize, first_no: u32, value: &[u8]) -> BTreeMap<u32, Vec<u8>> {
    use std::io::Write;
    let (n_index, n_frag) = z_first_entries(size).expect("a compressed page size");
    let data_at = Z_ENTRIES + n_index * Z_ENTRY + n_frag * Z_FRAG_ENTRY;
    let mut w = Pages {
        size,
        pages: BTreeMap::new(),
        next_no: first_no,
        frag: None,
    };
    w.alloc(ZLOB_FIRST);
    // MySQL looks for a fragment only for less than a quarter of a fragment page.
    let fits_fragment = |n: usize| n < (size - 100) / 4;
    let data_room = size - DATA_PAGE_DATA - FIL_TRAILER;
    let no_frag = FIL_NULL as u16;
    let mut entries = Vec::new();
    for chunk in value.chunks(Z_CHUNK) {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        z.write_all(chunk).expect("deflate into memory");
        let stream = z.finish().expect("deflate into memory");
        let mut rest = stream.as_slice();
        let (mut start, mut frag_id, mut prev) = (FIL_NULL, no_frag, None);
        if entries.is_empty() {
            let n = rest.len().min(size - data_at - FIL_TRAILER);
            let p = w.page(first_no);
            p[Z_FIRST_LEN..Z_FIRST_LEN + 4].copy_from_slice(&(n as u32).to_be_bytes());
            p[data_at..data_at + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            (start, prev) = (first_no, Some(first_no));
        } else if fits_fragment(rest.len()) {
            (start, frag_id) = w.fragment(rest);
            rest = &[];
        }
        while !rest.is_empty() && !fits_fragment(rest.len()) {
            let no = w.alloc(ZLOB_DATA);
            let n = rest.len().min(data_room);
            let p = w.page(no);
            p[DATA_PAGE_LEN..DATA_PAGE_LEN + 4].copy_from_slice(&(n as u32).to_be_bytes());
            p[DATA_PAGE_DATA..DATA_PAGE_DATA + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            match prev {
                Some(from) => w.link(from, no),
                None => start = no,
            }
            prev = Some(no);
        }
        if !rest.is_empty() {
            let (no, id) = w.fragment(rest);
            w.link(prev.expect("a page before the tail"), no);
            frag_id = id;
        }
        entries.push((start, frag_id, chunk.len(), stream.len()));
    }
    let index_page = (entries.len() > n_index).then(|| w.alloc(ZLOB_INDEX));
    let place = |i: usize| match index_page {
        Some(no) if i >= n_index => (no, 39 + (i - n_index) * Z_ENTRY),
        _ => (first_no, Z_ENTRIES + i * Z_ENTRY),
    };
    for (i, &(start, frag_id, len, zlen)) in entries.iter().enumerate() {
        let (no, at) = place(i);
        let next = (i + 1 < entries.len()).then(|| place(i + 1));
        let p = w.page(no);
        put_addr(p, at, None);
        put_addr(p, at + 6, next);
        put_addr(p, at + 16, None);
        p[at + 48..at + 52].copy_from_slice(&start.to_be_bytes());
        p[at + 52..at + 54].copy_from_slice(&frag_id.to_be_bytes());
        p[at + 54..at + 58].copy_from_slice(&(len as u32).to_be_bytes());
        p[at + 58..at + 62].copy_from_slice(&(zlen as u32).to_be_bytes());
        p[at + 62..at + 66].copy_from_slice(&1u32.to_be_bytes());
    }
    let p = w.page(first_no);
    p[40..44].copy_from_slice(&1u32.to_be_bytes());
    p[Z_INDEX_LIST..Z_INDEX_LIST + 4].copy_from_slice(&(entries.len() as u32).to_be_bytes());
    put_addr(p, Z_INDEX_LIST + 4, Some((first_no, Z_ENTRIES)));
    put_addr(p, Z_INDEX_LIST + 10, Some(place(entries.len() - 1)));
    w.pages
}
