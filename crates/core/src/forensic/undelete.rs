//! `undelete`: deleted rows of a table from its tablespace.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;
use crate::forensic::pages::{TableFile, Tablespace};
use crate::forensic::pages::{for_each_leaf, layout_of, page_reader, row_values, write_report};
use crate::forensic::recovered::{Format, TableOut, Written};

/// What `undelete` recovered from one page, when it found anything there.
#[derive(Debug, Clone, Serialize)]
pub struct PageFinding {
    /// Page number.
    pub page: u64,
    /// Checksum verdict of the page.
    pub checksum: lifeboat_innodb::checksum::Verdict,
    /// Delete-marked records on the page's record list.
    pub delete_marked: u64,
    /// Records on its free list.
    pub free_list: u64,
    /// Rows recovered from it.
    pub recovered: u64,
    /// Records that did not decode, and why (what was lost).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<String>,
}

/// What `undelete` did.
#[derive(Debug, Clone, Serialize)]
pub struct Undeleted {
    /// The table.
    pub table: String,
    /// The clustered index read.
    pub index_id: u64,
    /// Rows recovered (each once, however many page images held it).
    pub rows: u64,
    /// Of them, delete-marked records (deleted, not yet purged).
    pub delete_marked: u64,
    /// Of them, records from free lists (purged, bytes not yet reused).
    pub free_list: u64,
    /// Records that did not decode.
    pub lost: u64,
    /// Records seen again in another page image, counted once.
    pub duplicates: u64,
    /// Of the free-list rows, keys met in several versions that neither a transaction id
    /// nor the index's live pages told apart (a compressed page clears the ids of records
    /// it frees): the version written is the one freed last, which may be an older one.
    pub ambiguous: u64,
    /// The rows written (the SQL or TSV file).
    pub output: Written,
    /// The report written next to it.
    pub report: PathBuf,
    /// Pages where something was found.
    pub pages: Vec<PageFinding>,
}

/// One version of a row on a free list: (transaction id, page, origin, order met).
type Version = (u64, u64, usize, u64);

/// The pages of the index's leaf chain from `first`: the index's live pages (a page it
/// freed keeps copies from before splits and merges).
fn live_pages(first: Option<u64>, next_leaf: &HashMap<u64, u32>) -> HashSet<u64> {
    let mut live = HashSet::new();
    let mut at = first;
    while let Some(no) = at.filter(|no| live.len() <= next_leaf.len() && live.insert(*no)) {
        at = next_leaf
            .get(&no)
            .filter(|&&n| n != lifeboat_innodb::page::FIL_NULL)
            .map(|&n| u64::from(n));
    }
    live
}

/// The newest version of each key: by transaction id, then one on a live page, then the
/// first met (a free list starts with the record freed last). Also the keys whose two best
/// versions tie.
#[allow(clippy::type_complexity)]
fn newest_versions(
    versions: HashMap<Vec<u8>, Vec<Version>>,
    live: &HashSet<u64>,
) -> (HashMap<Vec<u8>, (u64, usize)>, HashSet<Vec<u8>>) {
    let mut candidates = HashMap::new();
    let mut ambiguous = HashSet::new();
    for (key, mut v) in versions {
        let rank = |&(trx, no, _, met): &Version| (trx, live.contains(&no), std::cmp::Reverse(met));
        v.sort_by_key(|x| std::cmp::Reverse(rank(x)));
        if let [best, second, ..] = &v[..]
            && (best.0, live.contains(&best.1)) == (second.0, live.contains(&second.1))
        {
            ambiguous.insert(key.clone());
        }
        if let Some(&(_, no, origin, _)) = v.first() {
            candidates.insert(key, (no, origin));
        }
    }
    (candidates, ambiguous)
}

/// Writes the records of `page` at `origins` (in page order) that decode; returns how many.
#[allow(clippy::too_many_arguments)]
fn write_rows(
    page: &[u8],
    mut origins: Vec<usize>,
    schema: &lifeboat_innodb::schema::TableSchema,
    layout: &lifeboat_innodb::record::Layout,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
    format: Format,
    sql: &mut TableOut,
    f: &mut PageFinding,
) -> Result<u64, Error> {
    origins.sort_unstable();
    let mut n = 0;
    for origin in origins {
        let Ok(row) = lifeboat_innodb::record::decode_with(page, origin, schema, layout) else {
            continue;
        };
        let mut v = Vec::new();
        match row_values(&row, schema, origin, page_of, format, &mut v) {
            Ok(()) => {
                sql.row(&v)?;
                f.recovered += 1;
                n += 1;
            }
            Err(e) => f.lost.push(e),
        }
    }
    Ok(n)
}

/// Recovers the deleted rows of the table whose tablespace is `ibd`, decoded with `schema`:
/// the delete-marked records purge has not removed yet, and the records on the pages' free
/// lists whose key no live or delete-marked record has (a free list also holds stale copies
/// of rows a page split moved: those are not deleted rows). Writes `<table>.sql` (the CREATE
/// TABLE, then INSERTs) and `report.json` to `out`. Reads `ibd` only, in a few sequential
/// passes; memory grows with the deleted rows' keys, not with the table.
pub fn undelete(table: &TableFile<'_>, out: &Path, format: Format) -> Result<Undeleted, Error> {
    let (ibd, index_id) = (table.ibd, table.index_id);
    use lifeboat_innodb::record::decode_with;
    let ts = Tablespace::open(ibd, table.schema)?;
    let (report, schema, page_size, full_crc32) =
        (&ts.report, &*ts.schema, ts.page_size, ts.full_crc32);
    // The clustered index is the first one created: the lowest root page.
    let index_id = match index_id {
        Some(i) => i,
        None => report
            .indexes
            .iter()
            .filter(|i| i.root_page.is_some())
            .min_by_key(|i| i.root_page)
            .map(|i| i.index_id)
            .ok_or_else(|| Error::Tablespace {
                path: ibd.to_path_buf(),
                page: None,
                problem: "no index pages to read rows from".into(),
            })?,
    };
    let mut sql = TableOut::create(
        out,
        schema,
        &format!("undelete from {}", ibd.display()),
        format,
    )?;
    let mut page_of = page_reader(ibd, page_size, report.flags)?;
    let summary = report.indexes.iter().find(|i| i.index_id == index_id);
    let layout = layout_of(schema, summary, &mut page_of);
    let mut result = Undeleted {
        table: schema.table.clone(),
        index_id,
        rows: 0,
        delete_marked: 0,
        free_list: 0,
        lost: 0,
        duplicates: 0,
        ambiguous: 0,
        output: sql.written(),
        report: out.join("report.json"),
        pages: Vec::new(),
    };
    let mut findings: BTreeMap<u64, PageFinding> = BTreeMap::new();
    let finding = |findings: &mut BTreeMap<u64, PageFinding>, no: u64, page: &[u8]| {
        findings.entry(no).or_insert_with(|| PageFinding {
            page: no,
            checksum: lifeboat_innodb::checksum::verify(page, full_crc32),
            delete_marked: 0,
            free_list: 0,
            recovered: 0,
            lost: Vec::new(),
        });
    };

    // Pass 1: delete-marked records are the rows as they were deleted: written at once.
    // Free-list records are candidates, newest version per key.
    let mut deleted: HashSet<Vec<u8>> = HashSet::new();
    let mut versions: HashMap<Vec<u8>, Vec<Version>> = HashMap::new();
    let mut met = 0u64;
    // The leaf chain, to tell the index's live pages from pages it freed.
    let mut next_leaf: HashMap<u64, u32> = HashMap::new();
    for_each_leaf(ibd, page_size, report.flags, index_id, |no, page, ip| {
        if let Some(fil) = lifeboat_innodb::FilHeader::parse(page) {
            next_leaf.insert(no, fil.next);
        }
        for rec in ip.records().filter_map(Result::ok) {
            if !rec.deleted || rec.min_rec {
                continue;
            }
            finding(&mut findings, no, page);
            let f = findings.get_mut(&no);
            let Some(f) = f else { continue };
            f.delete_marked += 1;
            let row = match decode_with(page, rec.origin, schema, &layout) {
                Ok(r) => r,
                Err(e) => {
                    f.lost.push(e.to_string());
                    continue;
                }
            };
            if !deleted.insert(row.key.clone()) {
                result.duplicates += 1;
                continue;
            }
            let mut v = Vec::new();
            match row_values(&row, schema, rec.origin, &mut page_of, format, &mut v) {
                Ok(()) => {
                    sql.row(&v)?;
                    f.recovered += 1;
                    result.rows += 1;
                    result.delete_marked += 1;
                }
                Err(e) => f.lost.push(e),
            }
        }
        // A freed instant-ALTER metadata record is not a row either.
        for rec in ip
            .free_records()
            .filter_map(Result::ok)
            .filter(|r| !r.min_rec)
        {
            finding(&mut findings, no, page);
            let Some(f) = findings.get_mut(&no) else {
                continue;
            };
            f.free_list += 1;
            // Free space is reused piecemeal: a record that no longer decodes is gone. A
            // record whose data bytes are all zero was cleared (a roll pointer is never
            // zero otherwise; a compressed page clears only the roll pointer of a purged
            // record, and its data stays readable).
            if let Ok(row) = decode_with(page, rec.origin, schema, &layout)
                && (row.roll_ptr != 0
                    || page
                        .get(rec.origin..row.span.1)
                        .is_some_and(|b| b.iter().any(|&x| x != 0)))
            {
                met += 1;
                versions
                    .entry(row.key)
                    .or_default()
                    .push((row.trx_id, no, rec.origin, met));
            }
        }
        Ok(())
    })?;
    let live = live_pages(summary.and_then(|s| s.first_leaf), &next_leaf);
    let (mut candidates, ambiguous) = newest_versions(versions, &live);
    // Pass 2: a free-list copy of a row that still exists, or that is delete-marked, is a
    // stale copy, not a deleted row.
    candidates.retain(|k, _| !deleted.contains(k));
    if !candidates.is_empty() {
        for_each_leaf(ibd, page_size, report.flags, index_id, |_, page, ip| {
            for rec in ip.records().filter_map(Result::ok) {
                if let Ok(row) = decode_with(page, rec.origin, schema, &layout) {
                    candidates.remove(&row.key);
                }
            }
            Ok(())
        })?;
    }
    result.ambiguous = candidates.keys().filter(|k| ambiguous.contains(*k)).count() as u64;
    // Then the free-list rows that exist nowhere else, read from their pages alone (in
    // page order, as the passes write), not from another pass over the file.
    let mut wanted: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (_, (no, origin)) in candidates.drain() {
        wanted.entry(no).or_default().push(origin);
    }
    for (no, origins) in wanted {
        let Some(f) = findings.get_mut(&no) else {
            continue;
        };
        let page = u32::try_from(no)
            .ok()
            .and_then(&mut page_of)
            .ok_or_else(|| Error::Tablespace {
                path: ibd.to_path_buf(),
                page: Some(no),
                problem: "could not be read again".into(),
            })?;
        let n = write_rows(
            &page,
            origins,
            schema,
            &layout,
            &mut page_of,
            format,
            &mut sql,
            f,
        )?;
        result.rows += n;
        result.free_list += n;
    }
    result.output = sql.finish()?;
    result.pages = findings.into_values().collect();
    result.lost = result.pages.iter().map(|p| p.lost.len() as u64).sum();
    write_report(&result.report, &result)?;
    Ok(result)
}

/// A quick hasher for row keys (the keys come from the file, not from an adversary who
/// could pick collisions to slow a recovery down much).
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0xcbf2_9ce4_8422_2325)
    }
}

/// FNV-1a over 8-byte words, finished with a multiply-xorshift.
pub(crate) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or_default());
            self.0 = (self.0 ^ w).wrapping_mul(0x0100_0000_01b3);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}
