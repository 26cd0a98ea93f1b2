//! A whole tablespace summarized page by page: page types, checksum verdicts, and the indexes
//! with their records. Fed one page at a time, so any file size takes the same memory.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checksum::{self, Verdict};
use crate::fsp::{FspHeader, SpaceFlags};
use crate::index::{IndexPage, WalkError};
use crate::page::{FIL_NULL, FilHeader, PageType, Vendor};

/// At most this many damaged pages are listed one by one (all are counted).
const LISTED: usize = 100;

/// One index of the tablespace, as its pages show it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexSummary {
    /// Index id.
    pub index_id: u64,
    /// Pages of the index.
    pub pages: u64,
    /// Leaf pages.
    pub leaf_pages: u64,
    /// Levels of the B-tree (highest level seen + 1).
    pub levels: u16,
    /// The root: the page of the highest level.
    pub root_page: Option<u64>,
    /// The leftmost leaf (no previous page): where MariaDB keeps an instant ADD COLUMN's
    /// metadata record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_leaf: Option<u64>,
    /// User records on the leaves, delete-marked ones included.
    pub records: u64,
    /// Of those, delete-marked (deleted, not yet purged).
    pub delete_marked: u64,
    /// Records on the leaves' free lists (purged; their bytes may still be there).
    pub free_records: u64,
    /// Leaf pages whose record list is broken (walked as far as it goes).
    pub broken_pages: u64,
    /// Pages of the index the tablespace lists as free (left by splits and merges): their
    /// records are stale and not counted above.
    #[serde(skip_serializing_if = "is_zero")]
    pub free_pages: u64,
}

/// What [`Inspector`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Who wrote the file, as far as it shows.
    pub vendor: Vendor,
    /// The tablespace flags from page 0 (absent when page 0 is unreadable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<SpaceFlags>,
    /// Tablespace id (page 0, else the most common id in page headers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space_id: Option<u32>,
    /// Page size in bytes.
    pub page_size: usize,
    /// Pages read.
    pub pages: u64,
    /// Pages per type.
    pub page_types: BTreeMap<String, u64>,
    /// Pages with a valid checksum, per algorithm.
    pub checksums_valid: BTreeMap<String, u64>,
    /// All-zero pages.
    pub empty_pages: u64,
    /// Pages whose checksum does not match.
    pub invalid_pages: u64,
    /// The first of them (page number in the file).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_list: Vec<u64>,
    /// Pages whose header names another page number than their place in the file (a copy, a
    /// carved image, or damage).
    pub misplaced_pages: u64,
    /// Indexes by id.
    pub indexes: Vec<IndexSummary>,
    /// Bytes after the last whole page (a file cut short).
    #[serde(skip_serializing_if = "is_zero")]
    pub trailing_bytes: u64,
    /// Pages stored compressed (MariaDB page_compressed, or ROW_FORMAT=COMPRESSED index
    /// pages); they were read expanded.
    #[serde(skip_serializing_if = "is_zero")]
    pub compressed_pages: u64,
    /// Of them, pages that did not expand.
    #[serde(skip_serializing_if = "is_zero")]
    pub unexpanded_pages: u64,
    /// Why the first of those did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unexpanded_reason: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Summarizes a tablespace fed page by page.
pub struct Inspector {
    flags: Option<SpaceFlags>,
    space_id: Option<u32>,
    vendor: Vendor,
    page_size: usize,
    pages: u64,
    types: BTreeMap<PageType, u64>,
    valid: BTreeMap<checksum::Algorithm, u64>,
    empty: u64,
    invalid: u64,
    invalid_list: Vec<u64>,
    misplaced: u64,
    indexes: BTreeMap<u64, IndexSummary>,
    compressed: u64,
    unexpanded: u64,
    unexpanded_reason: Option<String>,
    free: crate::fsp::FreePages,
}

impl Inspector {
    /// An inspector for pages of `page_size` bytes, with the file's flags when page 0 had
    /// them (they decide the checksum format and the vendor).
    pub fn new(page_size: usize, fsp: Option<FspHeader>) -> Inspector {
        let flags = fsp.map(|f| f.flags);
        Inspector {
            flags,
            space_id: fsp.map(|f| f.space_id),
            vendor: flags.map_or(Vendor::Unknown, |f| f.vendor()),
            page_size,
            pages: 0,
            types: BTreeMap::new(),
            valid: BTreeMap::new(),
            empty: 0,
            invalid: 0,
            invalid_list: Vec::new(),
            misplaced: 0,
            indexes: BTreeMap::new(),
            compressed: 0,
            unexpanded: 0,
            unexpanded_reason: None,
            free: crate::fsp::FreePages::new(page_size, flags.map_or(page_size, |f| f.page_size)),
        }
    }

    /// Takes the page at position `n` of the file.
    pub fn page(&mut self, n: u64, page: &[u8]) {
        self.pages += 1;
        // Without page 0 the checksum format is unknown: either may hold.
        let verdict = match self.flags {
            Some(f) => checksum::verify(page, f.full_crc32),
            None => {
                let v = checksum::verify(page, false);
                let w = checksum::verify(page, true);
                if w.is_valid() { w } else { v }
            }
        };
        match verdict {
            Verdict::Valid { algorithm } => *self.valid.entry(algorithm).or_default() += 1,
            Verdict::Empty => {
                self.empty += 1;
                *self.types.entry(PageType::Allocated).or_default() += 1;
                return;
            }
            Verdict::Invalid { .. } => {
                self.invalid += 1;
                if self.invalid_list.len() < LISTED {
                    self.invalid_list.push(n);
                }
            }
        }
        // Compressed pages are read as the server has them in memory.
        let page = match crate::compressed::in_memory(page, self.flags.as_ref()) {
            Ok(p) => {
                self.compressed += u64::from(matches!(p, std::borrow::Cow::Owned(_)));
                p
            }
            Err(e) => {
                self.compressed += 1;
                self.unexpanded += 1;
                self.unexpanded_reason.get_or_insert(e.to_string());
                return;
            }
        };
        let page = &page[..];
        let Some(fil) = FilHeader::parse(page) else {
            return;
        };
        self.free.page(n, page, verdict.is_valid());
        if u64::from(fil.page_no) != n {
            self.misplaced += 1;
        }
        let t = PageType::from_code(fil.page_type, self.vendor);
        if t == PageType::Sdi && self.vendor == Vendor::Unknown {
            self.vendor = Vendor::Mysql;
        }
        *self.types.entry(t).or_default() += 1;
        if t.is_index()
            && t != PageType::Sdi
            && let Some(ip) = IndexPage::new(page)
        {
            let stale = self.free.is_free(n, page);
            self.index_page(n, &fil, &ip, stale);
        }
    }

    fn index_page(&mut self, n: u64, fil: &FilHeader, ip: &IndexPage<'_>, stale: bool) {
        let h = ip.header;
        let s = self
            .indexes
            .entry(h.index_id)
            .or_insert_with(|| IndexSummary {
                index_id: h.index_id,
                ..IndexSummary::default()
            });
        if stale {
            s.free_pages += 1;
            return;
        }
        s.pages += 1;
        let levels = h.level.saturating_add(1);
        if levels > s.levels {
            s.levels = levels;
            s.root_page = Some(n);
        } else if levels == s.levels && fil.prev == FIL_NULL && fil.next == FIL_NULL {
            s.root_page = Some(n);
        }
        if h.level != 0 {
            return;
        }
        s.leaf_pages += 1;
        if fil.prev == FIL_NULL && s.first_leaf.is_none() {
            s.first_leaf = Some(n);
        }
        let mut broken = false;
        for r in ip.records() {
            match r {
                // MariaDB's instant-ALTER metadata record is not a row.
                Ok(rec) if rec.min_rec => {}
                Ok(rec) => {
                    s.records += 1;
                    if rec.deleted {
                        s.delete_marked += 1;
                    }
                }
                Err(WalkError::OutOfPage { .. } | WalkError::Loop { .. } | WalkError::TooLong) => {
                    broken = true;
                }
            }
        }
        s.free_records += ip.free_records().filter(|r| r.is_ok()).count() as u64;
        if broken {
            s.broken_pages += 1;
        }
    }

    /// The summary.
    pub fn finish(self) -> Report {
        Report {
            vendor: self.vendor,
            flags: self.flags,
            space_id: self.space_id,
            page_size: self.page_size,
            pages: self.pages,
            page_types: self.types.into_iter().map(|(t, n)| (t.name(), n)).collect(),
            checksums_valid: self
                .valid
                .into_iter()
                .map(|(a, n)| {
                    let name = match a {
                        checksum::Algorithm::Crc32 => "crc32",
                        checksum::Algorithm::Innodb => "innodb",
                        checksum::Algorithm::None => "none",
                        checksum::Algorithm::FullCrc32 => "full_crc32",
                    };
                    (name.to_owned(), n)
                })
                .collect(),
            empty_pages: self.empty,
            invalid_pages: self.invalid,
            invalid_list: self.invalid_list,
            misplaced_pages: self.misplaced,
            indexes: self.indexes.into_values().collect(),
            trailing_bytes: 0,
            compressed_pages: self.compressed,
            unexpanded_pages: self.unexpanded,
            unexpanded_reason: self.unexpanded_reason,
        }
    }
}
