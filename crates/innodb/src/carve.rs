//! Finding InnoDB pages in any bytes (a disk image, free blocks, a damaged file), at any
//! byte alignment: every INDEX page carries its infimum and supremum records at fixed
//! offsets, which a fast substring search finds. A ROW_FORMAT=COMPRESSED page keeps no such
//! literal: it is found by its header (the INDEX type, then the eight bytes only page 0
//! fills) and the zlib header its records start with. A MariaDB page_compressed page is
//! found by its header too: the older layout's page type and algorithm, or (full_crc32) the
//! stored-size marker in the page-type field, a zlib header after it and its checksum.

use crate::checksum;
use crate::index::{COMPACT_INFIMUM, COMPACT_SUPREMUM, REDUNDANT_INFIMUM, REDUNDANT_SUPREMUM};
use crate::page::{FIL_TRAILER, PAGE_SIZES, be};

/// The page start an "infimum" at `p` of `hay` belongs to: where "infimum" and "supremum"
/// sit as a COMPACT or REDUNDANT page holds them.
fn index_page_of(hay: &[u8], p: usize) -> Option<usize> {
    let supremum_at = |infimum: usize, supremum: usize| {
        let at = p + (supremum - infimum);
        p >= infimum && hay.get(at..at + 8) == Some(b"supremum".as_slice())
    };
    if supremum_at(COMPACT_INFIMUM, COMPACT_SUPREMUM) {
        Some(p - COMPACT_INFIMUM)
    } else if supremum_at(REDUNDANT_INFIMUM, REDUNDANT_SUPREMUM) {
        Some(p - REDUNDANT_INFIMUM)
    } else {
        None
    }
}

/// Offsets in `hay` where INDEX pages start (see `index_page_of`). A page is found if its
/// first 130 bytes are in `hay`.
pub fn index_pages(hay: &[u8]) -> Vec<usize> {
    memchr::memmem::find_iter(hay, INFIMUM)
        .filter_map(|p| index_page_of(hay, p))
        .collect()
}

const INFIMUM: &[u8] = b"infimum\0";

/// The INDEX page type and the flush LSN field after it, zero on every page but page 0.
const ZIP_INDEX_AT_24: [u8; 10] = [0x45, 0xbf, 0, 0, 0, 0, 0, 0, 0, 0];

/// Whether the page starting at `s` of `hay`, whose header has [`ZIP_INDEX_AT_24`], starts
/// its records with a zlib header.
fn zip_stream_at(hay: &[u8], s: usize) -> bool {
    let (Some(&cmf), Some(&flg)) = (hay.get(s + 94), hay.get(s + 95)) else {
        return false;
    };
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

/// Offsets in `hay` where ROW_FORMAT=COMPRESSED INDEX pages start (see the module doc), as
/// [`Scanner`] finds them. A page is found if its first 96 bytes are in `hay`.
pub fn zip_index_pages(hay: &[u8]) -> Vec<usize> {
    Scanner::new(None).scan(hay).zip_index
}

/// The sizes a compressed page may have (KEY_BLOCK_SIZE 1 to 16).
pub const ZIP_SIZES: [usize; 5] = [1024, 2048, 4096, 8192, 16384];

/// The size of the compressed page (INDEX or BLOB) starting at `start` of `hay`: the size
/// whose checksum (CRC-32C or Adler-32 over the compressed page's ranges) holds.
pub fn zip_checksum_size(hay: &[u8], start: usize) -> Option<usize> {
    let stored = be::u32(hay, start)?;
    ZIP_SIZES.iter().copied().find(|&size| {
        hay.get(start..start + size)
            .is_some_and(|p| stored == checksum::zip_crc32(p) || stored == checksum::zip_adler32(p))
    })
}

/// The size of the compressed INDEX page starting at `start` of `hay`: the size its
/// checksum gives, else the smallest that expands to a `logical`-byte page (a page written
/// without checksums, or damaged).
pub fn zip_size_at(hay: &[u8], start: usize, logical: usize) -> Option<usize> {
    zip_checksum_size(hay, start).or_else(|| {
        ZIP_SIZES.iter().copied().find(|&size| {
            hay.get(start..start + size)
                .is_some_and(|p| crate::zip::expand(p, logical).is_ok())
        })
    })
}

/// Types of the pages that hold off-page columns: the old BLOB chain (10), a compressed
/// table's chain (11 and 12), MySQL 8's LOB index, data and first pages (22 to 24) and its
/// compressed tables' ZLOB first, data, index and fragment pages (25 to 28).
pub const OFF_PAGE_TYPES: [u16; 10] = [10, 11, 12, 22, 23, 24, 25, 26, 27, 28];

/// Whether pages of type `ty` exist only in compressed tablespaces, at the compressed page
/// size, with a compressed page's checksum (and no LSN in a trailer).
fn zip_sized(ty: u16) -> bool {
    crate::zip::is_zblob_type(ty) || (crate::lob::ZLOB_FIRST..=crate::lob::ZLOB_FRAG).contains(&ty)
}

/// Where pages of [`OFF_PAGE_TYPES`] start in `hay`, and their sizes: their type, then the
/// eight bytes only page 0 fills. A page counts when it is whole in `hay` and its size is
/// known: its trailer repeats its LSN, or (compressed tables) its checksum holds.
pub fn off_page_pages(hay: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for ty in OFF_PAGE_TYPES {
        let [hi, lo] = ty.to_be_bytes();
        // MySQL 8 writes its space id and a page number where page 0 keeps the flush LSN
        // on ZBLOB pages: those are searched by type, the space id repeated at 34.
        let zblob = crate::zip::is_zblob_type(ty);
        let needle: &[u8] = if zblob {
            &[hi, lo]
        } else {
            &[hi, lo, 0, 0, 0, 0, 0, 0, 0, 0]
        };
        for hit in memchr::memmem::find_iter(hay, needle) {
            let Some(start) = hit.checked_sub(24) else {
                continue;
            };
            if zblob
                && !(hay.get(start + 26..start + 34) == Some(&[0; 8][..])
                    || hay
                        .get(start + 26..start + 30)
                        .is_some_and(|a| hay.get(start + 34..start + 38) == Some(a)))
            {
                continue;
            }
            let size = if zip_sized(ty) {
                zip_checksum_size(hay, start)
            } else {
                Some(page_size_at(hay, start, 0)).filter(|&n| n != 0)
            };
            if let Some(size) = size {
                out.push((start, size));
            }
        }
    }
    out
}

/// The page type and the algorithm field's first seven bytes of a page_compressed page in
/// the older layout.
const PAGE_COMPRESSED_AT_24: [u8; 9] = [0x86, 0x32, 0, 0, 0, 0, 0, 0, 0];

/// zlib's stream headers, one per class of compression level.
const ZLIB_HEADERS: [[u8; 2]; 4] = [[0x78, 0x01], [0x78, 0x5e], [0x78, 0x9c], [0x78, 0xda]];

/// The stored length of the older layout's page_compressed page at `s` of `hay` (its header
/// has [`PAGE_COMPRESSED_AT_24`]), when its algorithm byte is one and it is whole in `hay`.
fn old_page_compressed_at(hay: &[u8], s: usize) -> Option<usize> {
    if !hay.get(s + 33).is_some_and(|&a| (1..=6).contains(&a)) {
        return None;
    }
    let stored = 40 + usize::from(be::u16(hay, s + 38)?);
    (s + stored <= hay.len()).then_some(stored)
}

/// The stored length of a full_crc32 page_compressed page at `s` of `hay`, when its
/// page-type field holds a stored size and its checksum over that size holds.
fn full_crc32_page_compressed_at(hay: &[u8], s: usize) -> Option<usize> {
    let t = be::u16(hay, s + 24)?;
    // A stored page is shorter than its page, at most 64 KiB: random bytes rarely pass
    // this (after the zlib header the search found, about 500 places per GiB), so few
    // checksums are computed.
    let size = usize::from(t & 0x7fff) * 256;
    if t & 0x8000 == 0 || !(256..65536).contains(&size) {
        return None;
    }
    let (body, tail) = hay.get(s..s + size)?.split_at(size - 4);
    (be::u32(tail, 0) == Some(crc32c::crc32c(body))).then_some(size)
}

/// Where MariaDB page_compressed pages start in `hay` (see the module doc), and how many
/// bytes each stores (the rest of its page is a hole in the file). The full_crc32 layout is
/// found at any offset when its stream is zlib's (the default algorithm); lz4 and the others
/// leave no mark to search for, so they are found where pages sit on a disk: at offsets of
/// `hay` that are multiples of 512.
pub fn page_compressed_pages(hay: &[u8]) -> Vec<(usize, usize)> {
    Scanner::new(None).scan(hay).page_compressed
}

/// What one [`Scanner::scan`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    /// Starts of INDEX pages ([`index_pages`]).
    pub index: Vec<usize>,
    /// Starts of ROW_FORMAT=COMPRESSED INDEX pages ([`zip_index_pages`]).
    pub zip_index: Vec<usize>,
    /// page_compressed pages and their stored lengths ([`page_compressed_pages`]).
    pub page_compressed: Vec<(usize, usize)>,
    /// Where the table name the scanner was made for occurs as an undo record's field
    /// (see [`crate::undo::dropped_table_at`]).
    pub undo_names: Vec<usize>,
}

/// The searches above, and the one for a table name in undo records, in one pass: a SIMD
/// multi-pattern search over marks that all start with a non-zero byte (so runs of zeros
/// cost nothing), each hit then checked as its own search checks it. The marks cannot
/// overlap one another, so taking the leftmost match at each place misses none.
pub struct Scanner {
    marks: aho_corasick::AhoCorasick,
    undo_field: Option<Vec<u8>>,
}

/// Pattern ids of [`Scanner`]'s marks, in the order given to the automaton.
const MARK_INFIMUM: usize = 0;
const MARK_ZIP_INDEX: usize = 1;
const MARK_PAGE_COMPRESSED: usize = 2;
const MARK_ZLIB: std::ops::Range<usize> = 3..7;
const MARK_UNDO_NAME: usize = 7;

impl Scanner {
    /// A scanner for pages, and for undo records naming `undo_name` (`db/table`) when given.
    pub fn new(undo_name: Option<&str>) -> Scanner {
        let undo_field = undo_name.and_then(crate::undo::name_field);
        let mut marks: Vec<&[u8]> = vec![INFIMUM, &ZIP_INDEX_AT_24, &PAGE_COMPRESSED_AT_24];
        marks.extend(ZLIB_HEADERS.iter().map(|h| h.as_slice()));
        if let Some(f) = &undo_field {
            marks.push(f);
        }
        let marks = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(marks)
            .expect("a handful of short patterns always builds");
        Scanner { marks, undo_field }
    }

    /// Everything found in `hay`.
    pub fn scan(&self, hay: &[u8]) -> Found {
        let mut f = Found::default();
        for m in self.marks.find_iter(hay) {
            let (id, at) = (m.pattern().as_usize(), m.start());
            match id {
                MARK_INFIMUM => f.index.extend(index_page_of(hay, at)),
                MARK_ZIP_INDEX => {
                    if let Some(s) = at.checked_sub(24).filter(|&s| zip_stream_at(hay, s)) {
                        f.zip_index.push(s);
                    }
                }
                MARK_PAGE_COMPRESSED => {
                    if let Some(s) = at.checked_sub(24)
                        && let Some(n) = old_page_compressed_at(hay, s)
                    {
                        f.page_compressed.push((s, n));
                    }
                }
                id if MARK_ZLIB.contains(&id) => {
                    if let Some(s) = at.checked_sub(26)
                        && let Some(n) = full_crc32_page_compressed_at(hay, s)
                    {
                        f.page_compressed.push((s, n));
                    }
                }
                MARK_UNDO_NAME if self.undo_field.is_some() => f.undo_names.push(at),
                _ => {}
            }
        }
        // Any algorithm at 512-byte boundaries (see [`page_compressed_pages`]).
        for s in (0..hay.len()).step_by(512) {
            if let Some(n) = full_crc32_page_compressed_at(hay, s) {
                f.page_compressed.push((s, n));
            }
        }
        f.page_compressed.sort_unstable();
        f.page_compressed.dedup();
        f
    }
}

/// The size of the page starting at `start` of `hay`: the size whose trailer repeats the
/// header's LSN and whose checksum holds, else whose trailer repeats the LSN, else `default`.
pub fn page_size_at(hay: &[u8], start: usize, default: usize) -> usize {
    let mut lsn_fits = None;
    for size in PAGE_SIZES {
        let Some(p) = hay.get(start..start + size) else {
            continue;
        };
        // A page written has an LSN: zeros there are free space (where a stray byte can look
        // like a page type), so no checksum is computed over them.
        let lsn_low = be::u32(p, 20).filter(|&l| l != 0);
        // crc32/innodb pages repeat the LSN's low half in their last 4 bytes; full_crc32
        // pages keep it in the 4 bytes before the checksum. A cheap test before the sums.
        let full = lsn_low.is_some() && be::u32(p, size - FIL_TRAILER) == lsn_low;
        let old = lsn_low.is_some() && be::u32(p, size - 4) == lsn_low;
        if (full && checksum::verify(p, true).is_valid())
            || (old && checksum::verify(p, false).is_valid())
        {
            return size;
        }
        if (full || old) && lsn_fits.is_none() {
            lsn_fits = Some(size);
        }
    }
    lsn_fits.unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pages_at_odd_offsets() {
        let mut page = vec![0u8; 4096];
        page[COMPACT_INFIMUM..COMPACT_INFIMUM + 8].copy_from_slice(b"infimum\0");
        page[COMPACT_SUPREMUM..COMPACT_SUPREMUM + 8].copy_from_slice(b"supremum");
        page[20..24].copy_from_slice(&7u32.to_be_bytes());
        page[4092..4096].copy_from_slice(&7u32.to_be_bytes());
        let mut hay = vec![0x33u8; 1001];
        hay.extend_from_slice(&page);
        hay.extend_from_slice(&[0x44; 77]);
        assert_eq!(index_pages(&hay), vec![1001]);
        assert_eq!(Scanner::new(None).scan(&hay).index, vec![1001]);
        assert_eq!(page_size_at(&hay, 1001, 16384), 4096);
        assert!(index_pages(b"infimum\0 no supremum here").is_empty());
    }

    #[test]
    fn random_bytes_hold_no_pages() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let hay: Vec<u8> = (0..4 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(index_pages(&hay).is_empty());
        assert!(zip_index_pages(&hay).is_empty());
        assert!(page_compressed_pages(&hay).is_empty());
        assert!(off_page_pages(&hay).is_empty());
        assert_eq!(Scanner::new(Some("db/t")).scan(&hay), Found::default());
    }
}
