//! INDEX pages: the page header, and the record headers in both physical formats (REDUNDANT,
//! and COMPACT which DYNAMIC and COMPRESSED share), walked along the record list and along
//! the free list (deleted records whose space is waiting for reuse still hold their bytes).

use serde::Serialize;

use crate::page::{FIL_HEADER, be};

/// Start of the page header.
const PAGE_HEADER: usize = FIL_HEADER;
/// Start of the records area (after the page header and the two segment headers).
pub const PAGE_DATA: usize = PAGE_HEADER + 36 + 2 * 10;
/// Origin of the infimum record on a COMPACT page.
pub const COMPACT_INFIMUM: usize = PAGE_DATA + 5;
/// Origin of the supremum record on a COMPACT page.
pub const COMPACT_SUPREMUM: usize = COMPACT_INFIMUM + 8 + 5;
/// Origin of the infimum record on a REDUNDANT page.
pub const REDUNDANT_INFIMUM: usize = PAGE_DATA + 1 + 6;
/// Origin of the supremum record on a REDUNDANT page.
pub const REDUNDANT_SUPREMUM: usize = PAGE_DATA + 2 + 2 * 6 + 8;

/// The info bit marking a delete-marked record.
const DELETED_FLAG: u8 = 0x20;
/// The info bit marking the leftmost node pointer of a non-leaf level (or MariaDB's metadata
/// record of an instant ALTER on the leaf level).
const MIN_REC_FLAG: u8 = 0x10;

/// The header of an INDEX page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IndexHeader {
    /// Slots in the page directory.
    pub n_dir_slots: u16,
    /// First byte of free space in the heap.
    pub heap_top: u16,
    /// Records in the heap, including infimum, supremum and deleted ones.
    pub n_heap: u16,
    /// COMPACT record format (else REDUNDANT).
    pub compact: bool,
    /// Origin of the first record of the free list (0: empty).
    pub free: u16,
    /// Bytes in deleted records.
    pub garbage: u16,
    /// User records on the list (delete-marked ones included).
    pub n_recs: u16,
    /// Largest transaction id that changed a record (secondary indexes).
    pub max_trx_id: u64,
    /// B-tree level: 0 for leaves.
    pub level: u16,
    /// Index id: which index of which table the page belongs to.
    pub index_id: u64,
}

impl IndexHeader {
    /// The header of an INDEX page.
    pub fn parse(page: &[u8]) -> Option<IndexHeader> {
        let h = PAGE_HEADER;
        let n_heap = be::u16(page, h + 4)?;
        Some(IndexHeader {
            n_dir_slots: be::u16(page, h)?,
            heap_top: be::u16(page, h + 2)?,
            n_heap: n_heap & 0x7fff,
            compact: n_heap & 0x8000 != 0,
            free: be::u16(page, h + 6)?,
            garbage: be::u16(page, h + 8)?,
            n_recs: be::u16(page, h + 16)?,
            max_trx_id: be::u64(page, h + 18)?,
            level: be::u16(page, h + 26)?,
            index_id: be::u64(page, h + 28)?,
        })
    }
}

/// What a record header says (the bytes before the record's origin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecordHeader {
    /// Offset of the record's origin in the page (where its first field starts).
    pub origin: usize,
    /// Its number in the heap.
    pub heap_no: u16,
    /// Delete-marked.
    pub deleted: bool,
    /// The min-rec flag (leftmost node pointer; MariaDB's instant-ALTER metadata record).
    pub min_rec: bool,
    /// COMPACT status: 0 ordinary, 1 node pointer, 2 infimum, 3 supremum (REDUNDANT pages:
    /// 0 or 1 by level, 2/3 for the two fixed records).
    pub status: u8,
    /// REDUNDANT: number of fields, and whether field offsets take one byte.
    pub n_fields: Option<(u16, bool)>,
    /// Origin of the next record (`None` at the end of a list).
    pub next: Option<usize>,
}

/// Why walking a record list stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum WalkError {
    /// A next pointer leads outside the records area.
    OutOfPage {
        /// The record whose pointer is bad.
        from: usize,
        /// Where it points.
        to: usize,
    },
    /// The list comes back to a record already visited.
    Loop {
        /// The record visited twice.
        at: usize,
    },
    /// The list is longer than the heap can hold.
    TooLong,
}

/// A page as an index page: its header and record lists.
#[derive(Debug, Clone, Copy)]
pub struct IndexPage<'a> {
    /// The page's bytes.
    pub bytes: &'a [u8],
    /// Its header.
    pub header: IndexHeader,
}

impl<'a> IndexPage<'a> {
    /// Views `bytes` as an index page.
    pub fn new(bytes: &'a [u8]) -> Option<IndexPage<'a>> {
        Some(IndexPage {
            bytes,
            header: IndexHeader::parse(bytes)?,
        })
    }

    /// The header of the record whose origin is at `origin`.
    pub fn record(&self, origin: usize) -> Option<RecordHeader> {
        let p = self.bytes;
        if origin < PAGE_DATA || origin >= p.len() {
            return None;
        }
        if self.header.compact {
            let info = *p.get(origin - 5)?;
            let v = be::u16(p, origin - 4)?;
            let rel = be::u16(p, origin - 2)?;
            let next = (rel != 0).then(|| (origin + usize::from(rel)) % 65536);
            Some(RecordHeader {
                origin,
                heap_no: v >> 3,
                deleted: info & DELETED_FLAG != 0,
                min_rec: info & MIN_REC_FLAG != 0,
                status: (v & 7) as u8,
                n_fields: None,
                next,
            })
        } else {
            let info = *p.get(origin - 6)?;
            let heap = be::u16(p, origin - 5)?;
            let nf = be::u16(p, origin - 4)?;
            let abs = be::u16(p, origin - 2)?;
            let status = match origin {
                REDUNDANT_INFIMUM => 2,
                REDUNDANT_SUPREMUM => 3,
                _ if self.header.level > 0 => 1,
                _ => 0,
            };
            Some(RecordHeader {
                origin,
                heap_no: heap >> 3,
                deleted: info & DELETED_FLAG != 0,
                min_rec: info & MIN_REC_FLAG != 0,
                status,
                n_fields: Some(((nf >> 1) & 0x3ff, nf & 1 != 0)),
                next: (abs != 0).then_some(usize::from(abs)),
            })
        }
    }

    fn infimum(&self) -> usize {
        if self.header.compact {
            COMPACT_INFIMUM
        } else {
            REDUNDANT_INFIMUM
        }
    }

    /// The user records in key order (delete-marked ones included), following next pointers
    /// from the infimum to the supremum.
    pub fn records(&self) -> Walk<'a> {
        let first = self.record(self.infimum()).and_then(|r| r.next);
        Walk::new(*self, first)
    }

    /// The records on the free list: deleted and purged, their bytes not yet reused.
    pub fn free_records(&self) -> Walk<'a> {
        let first = (self.header.free != 0).then_some(usize::from(self.header.free));
        Walk::new(*self, first)
    }
}

/// Records along a list of next pointers; ends at the supremum, at the end of the list, or
/// with one [`WalkError`].
pub struct Walk<'a> {
    page: IndexPage<'a>,
    at: Option<usize>,
    /// The record whose pointer led here (0 for the list head).
    prev: usize,
    /// Origins visited, one bit each.
    seen: Vec<u64>,
    steps: usize,
    done: bool,
}

impl<'a> Walk<'a> {
    fn new(page: IndexPage<'a>, first: Option<usize>) -> Walk<'a> {
        Walk {
            page,
            at: first,
            prev: 0,
            seen: vec![0; page.bytes.len().div_ceil(64)],
            steps: 0,
            done: false,
        }
    }
}

impl Iterator for Walk<'_> {
    type Item = Result<RecordHeader, WalkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let origin = self.at?;
        let supremum = if self.page.header.compact {
            COMPACT_SUPREMUM
        } else {
            REDUNDANT_SUPREMUM
        };
        if origin == supremum {
            self.done = true;
            return None;
        }
        let end = self
            .page
            .bytes
            .len()
            .saturating_sub(crate::page::FIL_TRAILER);
        let fail = |s: &mut Self, e| {
            s.done = true;
            Some(Err(e))
        };
        if origin < PAGE_DATA || origin >= end {
            let from = self.prev;
            return fail(self, WalkError::OutOfPage { from, to: origin });
        }
        let (word, bit) = (origin / 64, 1u64 << (origin % 64));
        if self.seen.get(word).is_none_or(|w| w & bit != 0) {
            return fail(self, WalkError::Loop { at: origin });
        }
        if let Some(w) = self.seen.get_mut(word) {
            *w |= bit;
        }
        self.steps += 1;
        // A 64 KiB page holds at most 8190 records (the 13-bit heap number).
        if self.steps > 8192 {
            return fail(self, WalkError::TooLong);
        }
        let Some(rec) = self.page.record(origin) else {
            let from = self.prev;
            return fail(self, WalkError::OutOfPage { from, to: origin });
        };
        self.prev = origin;
        self.at = rec.next;
        if rec.next.is_none() {
            self.done = true;
        }
        Some(Ok(rec))
    }
}
