//! Forensic recovery from InnoDB files: reading tablespaces, datadirs and disk images page by
//! page through the pure `lifeboat-innodb` crate.

pub mod recovered;
pub mod rescue;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use lifeboat_innodb::{FspHeader, Inspector, Report, SpaceFlags, carve, checksum, fsp};

use crate::error::Error;
use recovered::{Format, TableOut, Written};

/// Bytes read from the start of a file to find its page size when page 0 is unusable.
const PROBE: u64 = 1 << 20;

/// Summarizes the tablespace at `path`: format, page types, checksum verdicts, indexes with
/// their record counts. A damaged page 0 is survived: the page size is then found from the
/// page numbers the other pages carry.
pub fn inspect(path: &Path) -> Result<Report, Error> {
    let (page_size, fsp) = page_size_of(path)?;
    let mut ins = Inspector::new(page_size, fsp);
    let trailing = each_page(path, page_size, &mut |n, page| {
        ins.page(n, page);
        Ok(())
    })?;
    let mut report = ins.finish();
    report.trailing_bytes = trailing;
    Ok(report)
}

/// A redo log given where a tablespace belongs: named, since its bytes read as pages would
/// make a report of nonsense.
fn redo_log_given(path: &Path, h: &lifeboat_innodb::redo::Header) -> Error {
    Error::Forensic(format!(
        "{} is an InnoDB redo log written by {} ({}), not a tablespace: `innodb inspect`, `salvage` and `undelete` read ibdata*, undo* and .ibd files; `undrop --datadir` reads the redo log for the undo records of DROP TABLE",
        path.display(),
        h.creator,
        match h.framing {
            lifeboat_innodb::redo::Framing::Stream => "MariaDB 10.8+ format",
            lifeboat_innodb::redo::Framing::Blocks => "512-byte block format",
        }
    ))
}

/// A tablespace's page size (and page 0's header when it can be trusted), from the start of
/// the file only.
pub fn page_size_of(path: &Path) -> Result<(usize, Option<FspHeader>), Error> {
    let err = |e: std::io::Error| Error::Forensic(format!("{}: {e}", path.display()));
    let mut head = Vec::new();
    std::fs::File::open(path)
        .map_err(err)?
        .take(PROBE)
        .read_to_end(&mut head)
        .map_err(err)?;
    if let Some(h) = lifeboat_innodb::redo::Header::parse(&head) {
        return Err(redo_log_given(path, &h));
    }
    // Page 0's flags are trusted when its checksum holds, or when the page size the other
    // pages show agrees with them; else the page numbers decide alone.
    let detected = fsp::detect_page_size(&head);
    // Pages of a ROW_FORMAT=COMPRESSED tablespace are stored at the compressed size.
    let stored = |f: &SpaceFlags| f.zip_size.unwrap_or(f.page_size);
    let fsp = FspHeader::parse(&head).filter(|h| {
        // A page 0 cut short is no evidence of anything.
        if head.len() < stored(&h.flags) {
            return false;
        }
        let intact = head
            .get(..stored(&h.flags))
            .is_some_and(|p0| checksum::verify(p0, h.flags.full_crc32).is_valid());
        intact || detected.is_none_or(|d| d == stored(&h.flags))
    });
    let page_size = match (fsp, detected) {
        (Some(h), _) => stored(&h.flags),
        (None, Some(size)) => size,
        (None, None) => {
            return Err(Error::Forensic(format!(
                "{}: not an InnoDB tablespace: page 0 has no valid tablespace flags, and no page size from 4 to 64 KiB fits the page numbers of the first {} bytes",
                path.display(),
                head.len()
            )));
        }
    };
    Ok((page_size, fsp))
}

/// A datadir's innodb_page_size: its system tablespace's, which every tablespace shares.
pub fn datadir_page_size(dir: &Path) -> Option<usize> {
    page_size_of(&dir.join("ibdata1"))
        .ok()
        .map(|(size, _)| size)
}

/// Called with each page of a file (its number, its bytes).
type PageVisitor<'a> = dyn FnMut(u64, &[u8]) -> Result<(), Error> + 'a;

/// Calls `f` with each whole page of the file in order; returns the bytes after the last
/// whole page (a file cut short).
fn each_page(path: &Path, page_size: usize, f: &mut PageVisitor<'_>) -> Result<u64, Error> {
    let err = |e: std::io::Error| Error::Forensic(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    let mut file = std::io::BufReader::with_capacity(1 << 20, file);
    let mut page = vec![0u8; page_size];
    for n in 0..len / page_size as u64 {
        file.read_exact(&mut page).map_err(err)?;
        f(n, &page)?;
    }
    Ok(len % page_size as u64)
}

/// Like [`each_page`], with each page as the server has it in memory (page_compressed pages
/// expanded, see [`lifeboat_innodb::compressed::in_memory`]). A page that does not expand
/// because it is damaged is handed over as stored (its checksum says so); an algorithm
/// lifeboat cannot decompress, or encryption, stops the read with an error naming the page.
fn each_page_in_memory(
    path: &Path,
    page_size: usize,
    flags: Option<SpaceFlags>,
    f: &mut PageVisitor<'_>,
) -> Result<u64, Error> {
    use lifeboat_innodb::compressed::{ExpandError, in_memory};
    each_page(
        path,
        page_size,
        &mut |n, page| match in_memory(page, flags.as_ref()) {
            Ok(p) => f(n, &p),
            Err(ExpandError::Corrupt(_)) => f(n, page),
            Err(e) => Err(Error::Forensic(format!(
                "{}: page {n}: {e}",
                path.display()
            ))),
        },
    )
}

/// Pages of a file by number, read where they are (BLOB chains, SDI documents), as the
/// server has them in memory.
fn page_reader(
    path: &Path,
    page_size: usize,
    flags: Option<SpaceFlags>,
) -> Result<impl FnMut(u32) -> Option<Vec<u8>>, Error> {
    let f = std::fs::File::open(path)
        .map_err(|e| Error::Forensic(format!("{}: {e}", path.display())))?;
    Ok(move |no: u32| {
        let page = read_at(&f, u64::from(no) * page_size as u64, page_size).ok()?;
        match lifeboat_innodb::compressed::in_memory(&page, flags.as_ref()) {
            Ok(std::borrow::Cow::Owned(p)) => Some(p),
            _ => Some(page),
        }
    })
}

/// The layout of `schema`'s records in the index `summary` describes, with what a MariaDB
/// instant ADD COLUMN left there: the root page's count of the fields older records hold,
/// and the added columns' defaults from the leftmost leaf's metadata record.
fn layout_of(
    schema: &lifeboat_innodb::schema::TableSchema,
    summary: Option<&lifeboat_innodb::inspect::IndexSummary>,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
) -> lifeboat_innodb::record::Layout {
    let mut layout = lifeboat_innodb::record::Layout::new(schema);
    let Some(s) = summary else {
        return layout;
    };
    let page = |no: Option<u64>, page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>| {
        no.and_then(|n| u32::try_from(n).ok()).and_then(page_of)
    };
    if let Some(n_core) = page(s.root_page, page_of)
        .as_deref()
        .and_then(lifeboat_innodb::record::instant_core_fields)
    {
        layout.set_instant_core(n_core);
        if let Some(leaf) = page(s.first_leaf, page_of) {
            // Without it, records that need it fail to decode and are reported.
            let _ = layout.learn_metadata(&leaf, schema, page_of);
        }
    }
    layout
}

/// Writes `value` as pretty JSON to `path` (the reports next to recovered SQL).
fn write_report(path: &Path, value: &impl Serialize) -> Result<(), Error> {
    let json = serde_json::to_vec_pretty(value).unwrap_or_default();
    std::fs::write(path, json).map_err(|e| Error::Forensic(format!("{}: {e}", path.display())))
}

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

/// Calls `f` with each leaf page of index `index_id` in the file (page number, bytes, the page
/// as an index page), in file order.
fn for_each_leaf(
    ibd: &Path,
    page_size: usize,
    flags: Option<SpaceFlags>,
    index_id: u64,
    mut f: impl FnMut(u64, &[u8], &lifeboat_innodb::index::IndexPage<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    each_page_in_memory(ibd, page_size, flags, &mut |no, page| {
        if leaf_index(page) == Some(index_id)
            && let Some(ip) = lifeboat_innodb::index::IndexPage::new(page)
        {
            f(no, page, &ip)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The index id of a B-tree leaf page (INDEX, or MariaDB's instant-ALTER root).
fn leaf_index(page: &[u8]) -> Option<u64> {
    let fil = lifeboat_innodb::FilHeader::parse(page)?;
    let ip = lifeboat_innodb::index::IndexPage::new(page)?;
    ((fil.page_type == 17855 || fil.page_type == 18) && ip.header.level == 0)
        .then_some(ip.header.index_id)
}

/// The definition as the file's server reads it: a MySQL file (its flags say so) keeps its
/// JSON columns in binary form, whatever the `--schema` text says.
fn for_vendor(
    schema: &lifeboat_innodb::schema::TableSchema,
    vendor: lifeboat_innodb::Vendor,
) -> std::borrow::Cow<'_, lifeboat_innodb::schema::TableSchema> {
    if vendor == lifeboat_innodb::Vendor::Mysql && schema.json.contains(&true) {
        let mut s = schema.clone();
        s.mysql_json();
        std::borrow::Cow::Owned(s)
    } else {
        std::borrow::Cow::Borrowed(schema)
    }
}

/// A record's values encoded for `format`, appended to `out` (BLOB chains followed through
/// `page_of`), or why not.
fn row_values(
    row: &lifeboat_innodb::record::Row<'_>,
    schema: &lifeboat_innodb::schema::TableSchema,
    origin: usize,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
    format: Format,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    use lifeboat_innodb::record::Field;
    let mut first = true;
    for (k, (field, col)) in row.fields.iter().zip(&schema.columns).enumerate() {
        if !schema.loaded(k) {
            continue;
        }
        if !first {
            out.extend_from_slice(recovered::separator(format));
        }
        first = false;
        match field {
            Field::Null => recovered::push_null(out, format),
            Field::Value(v) => recovered::push_value(out, v, col, format),
            Field::External { .. } => {
                let all = field.read_external(page_of).map_err(|e| {
                    format!(
                        "record at {origin}: column `{}`: {e}",
                        col.name.as_deref().unwrap_or("?")
                    )
                })?;
                // An off-page value is whole only now: MySQL's binary JSON is decoded too.
                let v = if col.real_type == lifeboat_binlog::table::column_type::JSON {
                    lifeboat_binlog::Value::Json(&all)
                } else {
                    lifeboat_binlog::Value::Bytes(&all)
                };
                recovered::push_value(out, &v, col, format);
            }
        }
    }
    Ok(())
}

/// Recovers the deleted rows of the table whose tablespace is `ibd`, decoded with `schema`:
/// the delete-marked records purge has not removed yet, and the records on the pages' free
/// lists whose key no live or delete-marked record has (a free list also holds stale copies
/// of rows a page split moved: those are not deleted rows). Writes `<table>.sql` (the CREATE
/// TABLE, then INSERTs) and `report.json` to `out`. Reads `ibd` only, in a few sequential
/// passes; memory grows with the deleted rows' keys, not with the table.
pub fn undelete(
    ibd: &Path,
    schema: &lifeboat_innodb::schema::TableSchema,
    out: &Path,
    format: Format,
    index_id: Option<u64>,
) -> Result<Undeleted, Error> {
    use lifeboat_innodb::record::decode_with;
    use std::collections::{BTreeMap, HashMap, HashSet};
    let report = inspect(ibd)?;
    let schema = &*for_vendor(schema, report.vendor);
    let page_size = report.page_size;
    let full_crc32 = report.flags.is_some_and(|f| f.full_crc32);
    // The clustered index is the first one created: the lowest root page.
    let index_id = match index_id {
        Some(i) => i,
        None => report
            .indexes
            .iter()
            .filter(|i| i.root_page.is_some())
            .min_by_key(|i| i.root_page)
            .map(|i| i.index_id)
            .ok_or_else(|| {
                Error::Forensic(format!(
                    "{}: no index pages to read rows from",
                    ibd.display()
                ))
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
    // Per key, each free-list version: (trx id, page, origin, order met).
    type Version = (u64, u64, usize, u64);
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
    // The newest version of each key: by transaction id, then one on a live page (a page
    // the index freed keeps copies from before splits and merges), then the first met (a
    // free list starts with the record freed last).
    let mut live = HashSet::new();
    let mut at = summary.and_then(|s| s.first_leaf);
    while let Some(no) = at.filter(|no| live.len() <= next_leaf.len() && live.insert(*no)) {
        at = next_leaf
            .get(&no)
            .filter(|&&n| n != lifeboat_innodb::page::FIL_NULL)
            .map(|&n| u64::from(n));
    }
    let mut candidates: HashMap<Vec<u8>, (u64, usize)> = HashMap::new();
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
    for (no, mut origins) in wanted {
        origins.sort_unstable();
        let page = u32::try_from(no)
            .ok()
            .and_then(&mut page_of)
            .ok_or_else(|| {
                Error::Forensic(format!(
                    "{}: page {no} could not be read again",
                    ibd.display()
                ))
            })?;
        let Some(f) = findings.get_mut(&no) else {
            continue;
        };
        for origin in origins {
            let Ok(row) = decode_with(&page, origin, schema, &layout) else {
                continue;
            };
            let mut v = Vec::new();
            match row_values(&row, schema, origin, &mut page_of, format, &mut v) {
                Ok(()) => {
                    sql.row(&v)?;
                    f.recovered += 1;
                    result.rows += 1;
                    result.free_list += 1;
                }
                Err(e) => f.lost.push(e),
            }
        }
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
struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0xcbf2_9ce4_8422_2325)
    }
}

/// FNV-1a over 8-byte words, finished with a multiply-xorshift.
struct FastHasher(u64);

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

/// Where `undrop` looks for a dropped table's pages.
#[derive(Debug, Clone)]
pub enum Source {
    /// A datadir: its system tablespace (the table lived there with file_per_table=OFF),
    /// undo tablespaces, .ibd files and redo log; then the directories outside it where the
    /// server kept some of them (innodb_data_home_dir, innodb_undo_directory,
    /// innodb_log_group_home_dir).
    Datadir(PathBuf, Vec<PathBuf>),
    /// Any file: a raw disk or partition image, free blocks dumped with a tool, a copy.
    Image(PathBuf),
}

/// A set of pages of one index that could be the table's.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Candidate {
    /// Tablespace id.
    pub space_id: u32,
    /// Index id.
    pub index_id: u64,
    /// Leaf pages found (distinct page numbers).
    pub pages: u64,
    /// Leaf pages whose records all decode with the definition, without overlaps.
    pub consistent: u64,
    /// Of those, pages the records fill byte for byte.
    pub exact: u64,
    /// Pages that hold the `--grep` value.
    pub grep_hits: u64,
}

/// What `undrop` did.
#[derive(Debug, Clone, Serialize)]
pub struct Undropped {
    /// The table asked for.
    pub table: String,
    /// Files scanned.
    pub files: Vec<PathBuf>,
    /// Bytes scanned.
    pub bytes: u64,
    /// Wall time of the pass that finds the pages, ms.
    pub scan_ms: u64,
    /// Wall time of reading the chosen pages and writing their rows, ms.
    pub decode_ms: u64,
    /// Indexes whose pages fit the definition, best first.
    pub candidates: Vec<Candidate>,
    /// The one read.
    pub chosen: Candidate,
    /// How it was chosen.
    pub chosen_by: String,
    /// Rows recovered, each once.
    pub rows: u64,
    /// Rows taken from a copy of a page whose own place in its tablespace holds something
    /// else now (the doublewrite buffer): they may be an older version than the last.
    pub rows_from_copies: u64,
    /// Copies of rows already recovered (older page images), skipped.
    pub duplicates: u64,
    /// Records that did not decode.
    pub lost: u64,
    /// Why, for the first of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost_examples: Vec<String>,
    /// The rows written (the SQL or TSV file).
    pub output: Written,
    /// The report written next to it.
    pub report: PathBuf,
    /// The definition rebuilt from the dictionary records in the sources, when none was
    /// given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<lifeboat_innodb::dict::Definition>,
}

/// Where a page image is: file, offset, size, and its LSN (the newest image wins).
#[derive(Debug, Clone, Copy)]
struct Image {
    file: usize,
    offset: u64,
    size: usize,
    lsn: u64,
    /// A copy away from the page's own place in a tablespace file (the doublewrite buffer,
    /// say): the page itself was overwritten, and this image may be older than its last state.
    copy: bool,
    /// How the page is stored.
    stored: Stored,
}

/// How a page image is stored, and so how [`load`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// As the server works on it.
    Plain,
    /// A ROW_FORMAT=COMPRESSED INDEX page.
    Zip,
    /// A MariaDB page_compressed page (`size` is what it stores).
    PageCompressed,
}

/// The logical page size compressed pages found without their tablespace expand to, when
/// nothing tells it: the default innodb_page_size. In a datadir, the system tablespace's
/// page size is every tablespace's.
const LOGICAL: usize = 16384;

/// The page `img` holds, as the server works on it (expanded to `logical` bytes when
/// compressed).
fn load(f: &std::fs::File, img: &Image, logical: usize) -> std::io::Result<Vec<u8>> {
    let page = read_at(f, img.offset, img.size)?;
    expand(&page, img.stored, logical)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// `stored` bytes as the server works on them.
fn expand(stored: &[u8], how: Stored, logical: usize) -> Result<Vec<u8>, String> {
    match how {
        Stored::Plain => Ok(stored.to_vec()),
        Stored::Zip => lifeboat_innodb::zip::expand(stored, logical).map_err(|e| e.to_string()),
        Stored::PageCompressed => {
            // The stored bytes, then the hole the file had there. Nothing in the page says
            // its size, and it expands only to its own: the expected size first, then the
            // others.
            let sizes = std::iter::once(logical).chain(
                lifeboat_innodb::page::PAGE_SIZES
                    .into_iter()
                    .filter(|&s| s != logical),
            );
            let mut why = String::from("larger than any page size");
            for size in sizes.filter(|&s| s >= stored.len()) {
                let mut page = stored.to_vec();
                page.resize(size, 0);
                match lifeboat_innodb::compressed::expand(&page, None) {
                    Ok(p) => return Ok(p),
                    Err(e) => why = e.to_string(),
                }
            }
            Err(why)
        }
    }
}

/// Keeps an off-page column's page found at `offset` of file `file` (the newest image of
/// each page number wins).
fn keep_blob(
    blobs: &mut std::collections::HashMap<(u32, u32), Image>,
    fil: &lifeboat_innodb::FilHeader,
    file: usize,
    offset: u64,
    size: usize,
    stored: Stored,
) {
    let img = Image {
        file,
        offset,
        size,
        lsn: fil.lsn,
        copy: false,
        stored,
    };
    newer(blobs, (fil.space_id, fil.page_no), img);
}

fn newer<K: std::hash::Hash + Eq>(
    map: &mut std::collections::HashMap<K, Image>,
    key: K,
    img: Image,
) {
    let e = map.entry(key).or_insert(img);
    if img.lsn > e.lsn {
        *e = img;
    }
}

/// Reads `len` bytes at `offset` of `path`.
fn read_at(f: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// Recovers a dropped table's rows from wherever its pages still are: finds INDEX pages at
/// any byte alignment, keeps the leaf pages whose records fit `schema`, groups them by
/// (tablespace, index), reads the best group (or `index_id`) from the newest image of each
/// page, and writes `<table>.sql` and `report.json` to `out`. Reads the sources only.
pub fn undrop(
    source: &Source,
    table: &str,
    schema: Option<&lifeboat_innodb::schema::TableSchema>,
    out: &Path,
    format: Format,
    index_id: Option<u64>,
    grep: Option<&str>,
) -> Result<Undropped, Error> {
    use lifeboat_innodb::index::IndexPage;
    use lifeboat_innodb::record::{Layout, decode_with, fit_with};
    use std::collections::{BTreeMap, HashMap, HashSet};
    let started = std::time::Instant::now();
    // A datadir's directories: its own, then those the server kept files in elsewhere.
    let dirs: Vec<&Path> = match source {
        Source::Datadir(d, elsewhere) => std::iter::once(d)
            .chain(elsewhere)
            .map(PathBuf::as_path)
            .collect(),
        Source::Image(_) => Vec::new(),
    };
    let files: Vec<PathBuf> = match source {
        Source::Image(p) => vec![p.clone()],
        Source::Datadir(..) => {
            let mut files = Vec::new();
            for d in &dirs {
                files.extend(datadir_files(d)?);
            }
            files.sort();
            files.dedup();
            files
        }
    };
    // In a datadir's files each page has its place (page number × size); in an image not.
    let in_place = matches!(source, Source::Datadir(..));
    // What compressed pages expand to: the server's page size, which its system tablespace
    // records.
    let logical = dirs
        .iter()
        .find_map(|d| datadir_page_size(d))
        .unwrap_or(LOGICAL);
    if files.is_empty() {
        let what = match source {
            Source::Datadir(d, _) => format!(
                "{}: no InnoDB files (ibdata*, undo*, *.ibd) in it",
                d.display()
            ),
            Source::Image(p) => format!("{}: nothing to scan", p.display()),
        };
        return Err(Error::Forensic(what));
    }
    // A definition from MySQL 8's dictionary is an SDI document, which gives the layout
    // whole (binary JSON, instant columns); SYS_ records give CREATE TABLE text.
    let parse = |d: &lifeboat_innodb::dict::Definition| {
        match &d.sdi {
            Some(doc) => lifeboat_innodb::sdi::table_schema(doc),
            None => lifeboat_innodb::schema::parse_create_table(&d.create_sql)
                .map_err(|e| e.to_string()),
        }
        .map_err(|e| Error::Internal(format!("the definition rebuilt from the dictionary: {e}")))
    };
    // A table dropped and created again under its name with another definition: the old
    // table id's own (delete-marked) column records fit its pages, the name's do not.
    let mut recreated: HashMap<u64, (lifeboat_innodb::schema::TableSchema, Layout)> =
        HashMap::new();
    // The clustered index the SDI of a MySQL 8 table names.
    let mut sdi_index: Option<u64> = None;
    let (schema, definition, prescanned) = match schema {
        Some(s) => (s.clone(), None, None),
        None => {
            // The dictionary lives in the system tablespace: in a datadir, its ibdata files.
            let system: Vec<PathBuf> = files
                .iter()
                .filter(|f| {
                    !in_place
                        || !f.to_string_lossy().ends_with(".ibd")
                        || f.file_name().is_some_and(|n| n == "mysql.ibd")
                })
                .cloned()
                .collect();
            // In an image, the SDI too (in a datadir, SDI pages are live tables').
            let (dict, sdi) = scan_dictionary(&system, (!in_place).then_some(table))?;
            let name = table.replacen('.', "/", 1);
            match dict.definition(&name) {
                Ok(d) => {
                    for (tid, index_id) in dict.recreated_from(&name) {
                        if let Ok(own) = dict.definition_of(tid, &name)
                            && own.create_sql != d.create_sql
                            && let Ok(s) = parse(&own)
                        {
                            let l = Layout::new(&s);
                            recreated.insert(index_id, (s, l));
                        }
                    }
                    (parse(&d)?, Some(d), Some(dict))
                }
                // No SYS_ tables (MySQL 8): the SDI the dropped tablespace carried.
                Err(e) => {
                    let Some((json, index)) = sdi else {
                        return Err(Error::Forensic(format!(
                            "{e}; give the definition with --schema DDL_FILE or --schema-from-backup"
                        )));
                    };
                    sdi_index = index;
                    let s = lifeboat_innodb::sdi::table_schema(&json).map_err(|e| {
                        Error::Forensic(format!("the definition in the SDI of {table}: {e}"))
                    })?;
                    (s, None, Some(dict))
                }
            }
        }
    };
    let schema = &schema;
    let layout = Layout::new(schema);
    // Pass 1: every INDEX and BLOB page at any offset. One thread reads blocks ahead (into
    // recycled buffers) while this one looks through the last.
    const BLOCK: usize = 64 << 20;
    const OVERLAP: usize = 64 << 10;
    let mut groups: BTreeMap<(u32, u64), Candidate> = BTreeMap::new();
    let mut leaves: HashMap<(u32, u64), HashMap<(u32, u32), Image>> = HashMap::new();
    let mut blobs: HashMap<(u32, u32), Image> = HashMap::new();
    // The dictionary: read already when it gave the definition (it lives in the system
    // tablespace, which that scan covered), else gathered by this pass.
    let gather_dict = prescanned.is_none();
    let mut dict = prescanned.unwrap_or_default();
    // What MariaDB's instant ADD COLUMN left, per index: the root's count of the fields
    // older records hold (and a layout for fitting them), and the leftmost leaf, which
    // holds the added columns' defaults.
    let mut cores: HashMap<(u32, u64), usize> = HashMap::new();
    let mut instant_layouts: HashMap<(u32, u64), Layout> = HashMap::new();
    let mut first_leaves: HashMap<(u32, u64), Image> = HashMap::new();
    let mut g_hits: Vec<(u32, u64)> = Vec::new();
    let blobs_needed = layout.may_store_off_page(schema)
        || recreated.values().any(|(s, l)| l.may_store_off_page(s));
    // What undo logs kept of DROPs of the name: table ids and their index ids.
    let dict_name = table.replacen('.', "/", 1);
    let mut undo_drops: Vec<lifeboat_innodb::undo::DroppedTable> = Vec::new();
    let undo_field = lifeboat_innodb::undo::name_field(&dict_name);
    let scanner = carve::Scanner::new(Some(&dict_name));
    let mut handles = Vec::new();
    let mut lens = Vec::new();
    for path in &files {
        let err = |e: std::io::Error| Error::Forensic(format!("{}: {e}", path.display()));
        let f = std::fs::File::open(path).map_err(err)?;
        lens.push(f.metadata().map_err(err)?.len());
        handles.push(f);
    }
    let bytes: u64 = lens.iter().sum();
    type Block = Result<(usize, u64, Vec<u8>), Error>;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Block>(1);
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let (reader_files, reader_handles, reader_lens) = (&files, &handles, &lens);
    std::thread::scope(|scope| -> Result<(), Error> {
        scope.spawn(move || {
            use std::os::unix::fs::FileExt;
            for (fi, (f, &len)) in reader_handles.iter().zip(reader_lens).enumerate() {
                let mut at = 0u64;
                while at < len {
                    let want = (BLOCK + OVERLAP).min((len - at) as usize);
                    let mut buf = back_rx.try_recv().unwrap_or_default();
                    buf.resize(want, 0);
                    let block = f
                        .read_exact_at(&mut buf, at)
                        .map(|()| (fi, at, buf))
                        .map_err(|e| {
                            Error::Forensic(format!("{}: {e}", reader_files[fi].display()))
                        });
                    let failed = block.is_err();
                    if tx.send(block).is_err() || failed {
                        return;
                    }
                    at += BLOCK as u64;
                }
            }
        });
        // One INDEX page found in a block (expanded when the table is compressed): its
        // dictionary records, MariaDB's instant-ALTER marks, and, for a leaf that fits, its
        // place in its index's group.
        let mut consider = |page: &[u8], fi: usize, offset: u64, size: usize, stored: Stored| {
            let (Some(fil), Some(ip)) = (
                lifeboat_innodb::FilHeader::parse(page),
                IndexPage::new(page),
            ) else {
                return;
            };
            if gather_dict {
                dict.page(page);
            }
            let key = (fil.space_id, ip.header.index_id);
            let (schema, layout) = recreated
                .get(&ip.header.index_id)
                .map_or((schema, &layout), |(s, l)| (s, l));
            if let Some(n) = lifeboat_innodb::record::instant_core_fields(page) {
                cores.insert(key, n);
                let mut l = Layout::new(schema);
                l.set_instant_core(n);
                instant_layouts.insert(key, l.lenient());
            }
            if !(fil.page_type == 17855 || fil.page_type == 18)
                || ip.header.level != 0
                || !ip.header.compact
            {
                return;
            }
            // A page_compressed page keeps its whole page's place in the file (the rest of
            // it a hole); a compressed table's page is its stored size.
            let slot = if stored == Stored::PageCompressed {
                page.len()
            } else {
                size
            };
            let img = Image {
                file: fi,
                offset,
                size,
                lsn: fil.lsn,
                copy: in_place && offset != u64::from(fil.page_no) * slot as u64,
                stored,
            };
            let g = groups.entry(key).or_insert_with(|| Candidate {
                space_id: fil.space_id,
                index_id: ip.header.index_id,
                ..Candidate::default()
            });
            if fil.prev == lifeboat_innodb::page::FIL_NULL
                && ip
                    .records()
                    .next()
                    .is_some_and(|r| r.is_ok_and(|r| r.min_rec))
            {
                newer(&mut first_leaves, key, Image { copy: false, ..img });
            }
            let f = fit_with(&ip, schema, instant_layouts.get(&key).unwrap_or(layout));
            if let Some(g) = grep
                && f.consistent
                && memchr::memmem::find(page, g.as_bytes()).is_some()
            {
                g_hits.push(key);
            }
            let imgs = leaves.entry(key).or_default();
            if !imgs.contains_key(&(fil.space_id, fil.page_no)) {
                g.pages += 1;
                g.consistent += u64::from(f.consistent);
                g.exact += u64::from(f.exact);
            }
            newer(imgs, (fil.space_id, fil.page_no), img);
        };
        for block in rx {
            let (fi, at, buf) = block?;
            let limit = BLOCK.min(buf.len());
            // The searches over the block: every page mark and the table's name in undo
            // records in one pass; the off-page page types (marks starting with a zero byte,
            // which the one pass leaves out) on the other core, when needed.
            let (found, off_page) = std::thread::scope(|s| {
                let other = s.spawn(|| {
                    if blobs_needed {
                        carve::off_page_pages(&buf)
                    } else {
                        Vec::new()
                    }
                });
                (scanner.scan(&buf), other.join().unwrap_or_default())
            });
            for start in found.index {
                if start >= limit {
                    continue;
                }
                let size = carve::page_size_at(&buf, start, 16384);
                if let Some(page) = buf.get(start..start + size) {
                    consider(page, fi, at + start as u64, size, Stored::Plain);
                }
            }
            // Compressed pages, expanded to the page the server works on: ROW_FORMAT=
            // COMPRESSED INDEX pages, and MariaDB page_compressed pages.
            let zipped = found.zip_index.into_iter().filter_map(|start| {
                let size = carve::zip_size_at(&buf, start, logical)?;
                Some((start, size, Stored::Zip))
            });
            let page_compressed = found
                .page_compressed
                .into_iter()
                .map(|(start, size)| (start, size, Stored::PageCompressed));
            for (start, size, how) in zipped.chain(page_compressed) {
                if start >= limit {
                    continue;
                }
                let Some(Ok(page)) = buf
                    .get(start..start + size)
                    .map(|p| expand(p, how, logical))
                else {
                    continue;
                };
                match lifeboat_innodb::FilHeader::parse(&page) {
                    // A page_compressed table compresses its BLOB pages too.
                    Some(fil) if carve::OFF_PAGE_TYPES.contains(&fil.page_type) => {
                        keep_blob(&mut blobs, &fil, fi, at + start as u64, size, how);
                    }
                    _ => consider(&page, fi, at + start as u64, size, how),
                }
            }
            for at in found.undo_names {
                if let Some(field) = &undo_field
                    && let Some(d) = lifeboat_innodb::undo::dropped_table_at(&buf, at, field)
                {
                    lifeboat_innodb::undo::merge(&mut undo_drops, d);
                }
            }
            // Pages of off-page columns (BLOB, ZBLOB, LOB), read as stored, when the table
            // has columns that may be stored there.
            for (start, size) in off_page {
                if start >= limit {
                    continue;
                }
                if let Some(fil) = buf
                    .get(start..start + size)
                    .and_then(lifeboat_innodb::FilHeader::parse)
                {
                    keep_blob(&mut blobs, &fil, fi, at + start as u64, size, Stored::Plain);
                }
            }
            let _ = back_tx.send(buf);
        }
        Ok(())
    })?;
    // The redo log keeps the undo records of a DROP whose undo page never reached the disk.
    let mut redo_only: HashMap<u64, PathBuf> = HashMap::new();
    let logs: Vec<PathBuf> = dirs.iter().flat_map(|d| redo_files(d)).collect();
    if index_id.is_none() {
        for (t, path) in undo_drops_in_redo(&logs, &dict_name)? {
            if !undo_drops.iter().any(|u| u.table_id == t.table_id) {
                redo_only.insert(t.table_id, path);
            }
            lifeboat_innodb::undo::merge(&mut undo_drops, t);
        }
    }
    let scan_ms = started.elapsed().as_millis() as u64;
    let mut candidates: Vec<Candidate> =
        groups.into_values().filter(|c| c.consistent > 0).collect();
    candidates.sort_by_key(|c| std::cmp::Reverse((c.exact, c.consistent, c.pages)));
    for (space, id) in &g_hits {
        if let Some(c) = candidates
            .iter_mut()
            .find(|c| c.space_id == *space && c.index_id == *id)
        {
            c.grep_hits += 1;
        }
    }
    // Which index: the one asked for; else a dropped index of that name the dictionary's
    // deleted records name; else pages holding the --grep value; else the best fit that is
    // not the index of a live table of that name (a table dropped and created again).
    let (live, dropped) = dict.clustered_of(&dict_name);
    // Pages of the other live tables are never this table's, however well they fit.
    let elsewhere = dict.live_elsewhere(&dict_name);
    candidates.retain(|c| !elsewhere.contains(&c.index_id));
    // Where some indexes fit mostly byte for byte, a loose fit elsewhere is another table
    // whose records happen to decode.
    let exactly = |c: &Candidate| c.exact * 2 >= c.pages;
    let plausible: Vec<&Candidate> = if candidates.iter().any(exactly) {
        candidates.iter().filter(|c| exactly(c)).collect()
    } else {
        candidates.iter().collect()
    };
    let none = || {
        Error::Forensic(format!(
            "no INDEX pages in {} fit the definition of {table}: they were overwritten, or the definition differs (column types, their order, ROW_FORMAT)",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    let (chosen, chosen_by) = if let Some(id) = index_id {
        let c = candidates
            .iter()
            .find(|c| c.index_id == id)
            .cloned()
            .ok_or_else(|| {
                Error::Forensic(format!(
                    "no pages of index {id} fit the definition of {table}"
                ))
            })?;
        (c, "--index-id".to_owned())
    } else if let Some(c) = sdi_index.and_then(|id| candidates.iter().find(|c| c.index_id == id)) {
        (
            c.clone(),
            format!("the SDI of {table}'s dropped tablespace, which names its clustered index"),
        )
    } else if let Some(c) = candidates.iter().find(|c| dropped.contains(&c.index_id)) {
        (
            c.clone(),
            format!("the dictionary's deleted records of {dict_name}"),
        )
    } else if let Some((c, d)) = candidates.iter().find_map(|c| {
        undo_drops
            .iter()
            .find(|d| d.index_ids.contains(&c.index_id) && !live.contains(&c.index_id))
            .map(|d| (c, d))
    }) {
        (
            c.clone(),
            match redo_only.get(&d.table_id) {
                Some(log) => format!(
                    "the undo log's records of the DROP of {dict_name} (table id {}), as the redo log {} kept them",
                    d.table_id,
                    log.display()
                ),
                None => format!(
                    "the undo log's records of the DROP of {dict_name} (table id {})",
                    d.table_id
                ),
            },
        )
    } else if let Some((c, (root, log))) = {
        // MySQL's DDL log, in the redo log, names the B-trees DROPs freed.
        let open: Vec<(u32, u64)> = plausible
            .iter()
            .filter(|c| !live.contains(&c.index_id))
            .map(|c| (c.space_id, c.index_id))
            .collect();
        // MariaDB has no such log: only a MySQL 8+ dictionary's datadir is searched.
        let freed = if open.is_empty() || dict.documents.is_empty() {
            HashMap::new()
        } else {
            freed_trees_in_redo(&logs, &open)?
        };
        plausible
            .iter()
            .filter(|c| !live.contains(&c.index_id))
            .find_map(|c| {
                freed
                    .get(&(c.space_id, c.index_id))
                    .map(|f| (*c, f.clone()))
            })
    } {
        (
            c.clone(),
            format!(
                "the DDL log record in the redo log {} of the B-tree of index {} (root page {root}), which no live table owns",
                log.display(),
                c.index_id
            ),
        )
    } else if let Some(c) = candidates
        .iter()
        .find(|c| recreated.contains_key(&c.index_id))
    {
        (
            c.clone(),
            format!(
                "the dictionary's deleted records of a dropped table whose columns match {dict_name}'s (created again with another definition)"
            ),
        )
    } else if let Some(c) = candidates
        .iter()
        .filter(|c| c.grep_hits > 0)
        .max_by_key(|c| (c.grep_hits, c.exact, c.consistent))
    {
        (c.clone(), "pages holding the --grep value".to_owned())
    } else if let Some(&c) = plausible.iter().find(|c| !live.contains(&c.index_id)) {
        let by = if live.is_empty() {
            "the best fit of the definition".to_owned()
        } else {
            format!(
                "the best fit of the definition other than the live {dict_name} (index {})",
                live.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        (c.clone(), by)
    } else {
        // Only the index the dictionary lists fits. Either the DROP had not reached the
        // data files (a server stopped right after it), or the table was created again and
        // the old rows never reached them (their pages were freed before being flushed):
        // then these are the new table's rows, which the user must be told.
        let c = plausible.first().cloned().cloned().ok_or_else(none)?;
        (
            c,
            format!(
                "the only index that fits is the one the dictionary in the files lists for {dict_name}: the DROP had not reached the files, or the table was created again and these are the new table's rows (the old ones never reached the data files; look for a copy of the files from before the drop)"
            ),
        )
    };

    let (mut chosen_by, mut definition) = (chosen_by, definition);
    let owner = dict.table_of_index(chosen.index_id);
    if let Some((tid, true)) = owner
        && !chosen_by.contains("deleted records")
    {
        chosen_by.push_str(&format!(
            "; the dictionary's deleted records give this index to a dropped table (id {tid})"
        ));
    }
    // A definition from the dictionary was the name's; the chosen index may be another
    // table id's (the table was created again under the name): its own columns decode it.
    let mut rebuilt = None;
    if let (Some(d), Some((tid, _))) = (&definition, owner)
        && tid != d.table_id
        && let Ok(own) = dict.definition_of(tid, &dict_name)
    {
        if own.create_sql != d.create_sql {
            rebuilt = Some(parse(&own)?);
        }
        definition = Some(own);
    }
    let schema = rebuilt.as_ref().unwrap_or(schema);
    let key = (chosen.space_id, chosen.index_id);
    let mut layout = if rebuilt.is_some() {
        Layout::new(schema)
    } else {
        layout
    };
    if let Some(&n) = cores.get(&key) {
        layout.set_instant_core(n);
        if let Some(img) = first_leaves.get(&key)
            && let Some(f) = handles.get(img.file)
            && let Ok(page) = load(f, img, logical)
        {
            let mut page_of = |no: u32| -> Option<Vec<u8>> {
                let img = blobs.get(&(chosen.space_id, no))?;
                load(handles.get(img.file)?, img, logical).ok()
            };
            let _ = layout.learn_metadata(&page, schema, &mut page_of);
        }
    }

    // Pass 2: the chosen index's pages, newest first, each row once.
    let mut sql = TableOut::create(out, schema, &format!("undrop of {table}"), format)?;
    let mut pages: Vec<Image> = leaves
        .remove(&(chosen.space_id, chosen.index_id))
        .unwrap_or_default()
        .into_values()
        .collect();
    pages.sort_by_key(|i| std::cmp::Reverse(i.lsn));
    let space = chosen.space_id;
    let mut seen: HashSet<Vec<u8>, FastHash> = HashSet::default();
    let mut result = Undropped {
        table: table.to_owned(),
        files: files.clone(),
        bytes,
        scan_ms,
        decode_ms: 0,
        candidates: candidates.clone(),
        chosen: chosen.clone(),
        chosen_by,
        rows: 0,
        rows_from_copies: 0,
        duplicates: 0,
        lost: 0,
        lost_examples: Vec::new(),
        output: sql.written(),
        report: out.join("report.json"),
        definition,
    };
    // Two threads read, decode and render chunks of pages (the first the even chunks, the
    // second the odd ones); this one takes the chunks back in order, keeps each row once
    // (newest page images first) and writes.
    struct PageRows {
        rows: Vec<(Vec<u8>, Vec<u8>)>,
        lost: Vec<String>,
        copy: bool,
    }
    const CHUNK: usize = 64;
    let chunks: Vec<&[Image]> = pages.chunks(CHUNK).collect();
    let (handles, blobs, files_ref, layout, chunks) = (&handles, &blobs, &files, &layout, &chunks);
    let work = move |first: usize,
                     tx: std::sync::mpsc::SyncSender<Result<Vec<PageRows>, Error>>| {
        let mut page_of = |no: u32| -> Option<Vec<u8>> {
            let img = blobs.get(&(space, no))?;
            load(handles.get(img.file)?, img, logical).ok()
        };
        for chunk in chunks.iter().skip(first).step_by(2) {
            let mut done = Vec::with_capacity(chunk.len());
            for img in chunk.iter() {
                let Some(f) = handles.get(img.file) else {
                    continue;
                };
                let page = match load(f, img, logical) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(Error::Forensic(format!(
                            "{}: {e}",
                            files_ref[img.file].display()
                        ))));
                        return;
                    }
                };
                let Some(ip) = IndexPage::new(&page) else {
                    continue;
                };
                let mut out = PageRows {
                    rows: Vec::new(),
                    lost: Vec::new(),
                    copy: img.copy,
                };
                for rec in ip.records() {
                    let Ok(rec) = rec else {
                        break;
                    };
                    // Rows deleted before the drop stay deleted.
                    if rec.deleted || rec.min_rec {
                        continue;
                    }
                    let rendered = decode_with(&page, rec.origin, schema, layout)
                        .map_err(|e| e.to_string())
                        .and_then(|row| {
                            let mut v = Vec::with_capacity(128);
                            row_values(&row, schema, rec.origin, &mut page_of, format, &mut v)
                                .map(|()| (row.key, v))
                        });
                    match rendered {
                        Ok(r) => out.rows.push(r),
                        Err(e) => out.lost.push(format!("offset {}: {e}", img.offset)),
                    }
                }
                done.push(out);
            }
            if tx.send(Ok(done)).is_err() {
                return;
            }
        }
    };
    std::thread::scope(|scope| -> Result<(), Error> {
        let (tx0, rx0) = std::sync::mpsc::sync_channel(2);
        let (tx1, rx1) = std::sync::mpsc::sync_channel(2);
        scope.spawn(move || work(0, tx0));
        scope.spawn(move || work(1, tx1));
        for n in 0..chunks.len() {
            let got = if n % 2 == 0 { rx0.recv() } else { rx1.recv() };
            let Ok(pages) = got else {
                return Err(Error::Internal("a page reader stopped early".into()));
            };
            for page in pages? {
                for e in page.lost {
                    result.lost += 1;
                    if result.lost_examples.len() < 20 {
                        result.lost_examples.push(e);
                    }
                }
                for (key, values) in page.rows {
                    if !seen.insert(key) {
                        result.duplicates += 1;
                        continue;
                    }
                    sql.row(&values)?;
                    result.rows += 1;
                    result.rows_from_copies += u64::from(page.copy);
                }
            }
        }
        Ok(())
    })?;
    result.output = sql.finish()?;
    result.decode_ms = (started.elapsed().as_millis() as u64).saturating_sub(scan_ms);
    write_report(&result.report, &result)?;
    Ok(result)
}

/// The dictionary records (SYS_TABLES, SYS_COLUMNS, SYS_INDEXES, SYS_FIELDS: live,
/// delete-marked or freed) found anywhere in `files`.
pub fn read_dictionary(files: &[PathBuf]) -> Result<lifeboat_innodb::dict::Dictionary, Error> {
    Ok(scan_dictionary(files, None)?.0)
}

/// A table's SDI document and clustered index id.
type SdiDefinition = (String, Option<u64>);

/// The dictionary records found anywhere in `files`, and, when `sdi_of` names a table
/// (`db.name`), its definition from an SDI page found there: MySQL 8 keeps no SYS_ tables,
/// and a dropped table's tablespace carried its definition and clustered index id in its
/// SDI. One read of the files serves both.
fn scan_dictionary(
    files: &[PathBuf],
    sdi_of: Option<&str>,
) -> Result<(lifeboat_innodb::dict::Dictionary, Option<SdiDefinition>), Error> {
    let mut dict = lifeboat_innodb::dict::Dictionary::default();
    let mut sdi: Option<SdiDefinition> = None;
    let wanted = sdi_of.map(|t| t.split_once('.').unwrap_or(("", t)));
    // MySQL 8+'s dictionary: mysql.ibd, read in place (its records name their pages).
    let (mysql, files): (Vec<PathBuf>, Vec<PathBuf>) = files
        .iter()
        .cloned()
        .partition(|f| f.file_name().is_some_and(|n| n == "mysql.ibd"));
    for m in &mysql {
        read_mysql_dictionary(m, &mut dict)?;
    }
    each_index_page(&files, &mut |block, start, size| {
        let Some(page) = block.get(start..start + size) else {
            return;
        };
        dict.page(page);
        let Some((db, name)) = wanted else {
            return;
        };
        let Some(fil) = lifeboat_innodb::FilHeader::parse(page).filter(|h| h.page_type == 17853)
        else {
            return;
        };
        if sdi.is_some() {
            return;
        }
        // A long document continues on SDI BLOB pages of the same tablespace: found where
        // they lie when the tablespace sits whole in the block (a file's blocks in order).
        let mut page_of = |no: u32| -> Option<Vec<u8>> {
            let at = (start as u64 + u64::from(no) * size as u64)
                .checked_sub(u64::from(fil.page_no) * size as u64)?;
            let at = usize::try_from(at).ok()?;
            let p = block.get(at..at + size)?;
            lifeboat_innodb::FilHeader::parse(p)
                .filter(|h| h.page_no == no && h.space_id == fil.space_id)
                .map(|_| p.to_vec())
        };
        sdi = lifeboat_innodb::sdi::records(page, &mut page_of)
            .into_iter()
            .flatten()
            .filter(|r| r.kind == lifeboat_innodb::sdi::SDI_TYPE_TABLE)
            .find_map(|r| {
                let t = lifeboat_innodb::sdi::table_of(&r.json).ok()?;
                (t.schema == db && t.name == name).then_some((r.json, t.clustered_index))
            });
    })?;
    Ok((dict, sdi))
}

/// Adds what MySQL 8+'s data dictionary in `mysql_ibd` holds (live, delete-marked and
/// purged records, see [`lifeboat_innodb::dd`]) to `dict`. A file whose SDI does not
/// describe the dictionary tables adds nothing.
fn read_mysql_dictionary(
    mysql_ibd: &Path,
    dict: &mut lifeboat_innodb::dict::Dictionary,
) -> Result<(), Error> {
    let (page_size, fsp) = page_size_of(mysql_ibd)?;
    let flags = fsp.map(|h| h.flags);
    let mut page_of = page_reader(mysql_ibd, page_size, flags)?;
    let mut documents = Vec::new();
    each_page_in_memory(mysql_ibd, page_size, flags, &mut |_, page| {
        if lifeboat_innodb::FilHeader::parse(page).is_some_and(|h| h.page_type == 17853) {
            documents.extend(
                lifeboat_innodb::sdi::records(page, &mut page_of)
                    .into_iter()
                    .flatten()
                    .filter(|r| r.kind == lifeboat_innodb::sdi::SDI_TYPE_TABLE)
                    .map(|r| r.json),
            );
        }
        Ok(())
    })?;
    let Some(mut reader) =
        lifeboat_innodb::dd::Reader::from_sdi(documents.iter().map(String::as_str))
    else {
        return Ok(());
    };
    each_page_in_memory(mysql_ibd, page_size, flags, &mut |_, page| {
        reader.page(page, &mut page_of);
        Ok(())
    })?;
    reader.finish(dict);
    Ok(())
}

/// Calls `f` with every INDEX page found anywhere in `files`, at any offset, as the block
/// read, the page's start in it and its size.
fn each_index_page(files: &[PathBuf], f: &mut dyn FnMut(&[u8], usize, usize)) -> Result<(), Error> {
    use std::io::Read;
    const BLOCK: usize = 64 << 20;
    const OVERLAP: usize = 64 << 10;
    for path in files {
        let err = |e: std::io::Error| Error::Forensic(format!("{}: {e}", path.display()));
        let mut file = std::fs::File::open(path).map_err(err)?;
        // Each block starts with the last OVERLAP bytes of the one before: a page cut by
        // the block's end is whole in the next.
        let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + OVERLAP);
        loop {
            let kept = buf.len();
            buf.resize(kept + BLOCK, 0);
            let mut got = 0;
            while got < BLOCK {
                match file.read(&mut buf[kept + got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(err(e)),
                }
            }
            buf.truncate(kept + got);
            for start in carve::index_pages(&buf) {
                let size = carve::page_size_at(&buf, start, 16384);
                f(&buf, start, size);
            }
            if got < BLOCK {
                break;
            }
            let tail = buf.len().saturating_sub(OVERLAP);
            buf.drain(..tail);
        }
    }
    Ok(())
}

/// The files of a datadir that hold InnoDB pages: the system tablespace, the undo
/// tablespaces (their records name what a DROP removed) and every .ibd.
fn datadir_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let err = |p: &Path, e: std::io::Error| Error::Forensic(format!("{}: {e}", p.display()));
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| err(&d, e))? {
            let path = entry.map_err(|e| err(&d, e))?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                stack.push(path);
            } else if name.starts_with("ibdata")
                || is_undo_tablespace(&name)
                || name.ends_with(".ibd")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The redo log files of a datadir: `ib_logfile*` (MariaDB, MySQL before 8.0.30) and
/// `#innodb_redo/#ib_redo*` (MySQL 8.0.30 and later).
fn redo_files(dir: &Path) -> Vec<PathBuf> {
    let named = |d: &Path, prefix: &str| -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(d) else {
            return Vec::new();
        };
        let mut v: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect();
        v.sort();
        v
    };
    let mut files = named(dir, "ib_logfile");
    files.extend(named(&dir.join("#innodb_redo"), "#ib_redo"));
    files
}

/// Calls `f` with each redo log file of `files` and its records' stream, in chunks that
/// overlap by more than any search reads past a hit (see [`lifeboat_innodb::redo`]): memory
/// stays bounded whatever the log's size.
fn each_redo_chunk(files: &[PathBuf], f: &mut dyn FnMut(&Path, &[u8])) -> Result<(), Error> {
    use lifeboat_innodb::redo::{self, Framing};
    use std::os::unix::fs::FileExt;
    // Both multiples of the log block.
    const READ: usize = 64 << 20;
    const OVERLAP: usize = 64 << 10;
    for path in files {
        let err = |e: std::io::Error| Error::Forensic(format!("{}: {e}", path.display()));
        let file = std::fs::File::open(path).map_err(err)?;
        let len = file.metadata().map_err(err)?.len();
        let mut head = [0u8; 4];
        if len < head.len() as u64 {
            continue;
        }
        file.read_exact_at(&mut head, 0).map_err(err)?;
        let framing = Framing::of(&head);
        let mut at = framing.start();
        let mut buf = Vec::new();
        while at < len {
            buf.resize((READ + OVERLAP).min((len - at) as usize), 0);
            file.read_exact_at(&mut buf, at).map_err(err)?;
            let stream = match framing {
                Framing::Stream => std::borrow::Cow::Borrowed(buf.as_slice()),
                Framing::Blocks => std::borrow::Cow::Owned(redo::unframe(&buf)),
            };
            f(path, &stream);
            at += READ as u64;
        }
    }
    Ok(())
}

/// The DROPs of `dict_name` (`db/name`) whose undo records the redo log `files` hold, each
/// with the file it was found in.
fn undo_drops_in_redo(
    files: &[PathBuf],
    dict_name: &str,
) -> Result<Vec<(lifeboat_innodb::undo::DroppedTable, PathBuf)>, Error> {
    let mut found: Vec<lifeboat_innodb::undo::DroppedTable> = Vec::new();
    // The file each table was first found in.
    let mut first_in: std::collections::HashMap<u64, PathBuf> = Default::default();
    each_redo_chunk(files, &mut |path, stream| {
        for t in lifeboat_innodb::undo::dropped_tables(stream, dict_name) {
            first_in
                .entry(t.table_id)
                .or_insert_with(|| path.to_path_buf());
            lifeboat_innodb::undo::merge(&mut found, t);
        }
    })?;
    Ok(found
        .into_iter()
        .filter_map(|t| {
            let path = first_in.remove(&t.table_id)?;
            Some((t, path))
        })
        .collect())
}

/// Root page and redo log file of B-trees, by (space id, index id).
type FreedTrees = std::collections::HashMap<(u32, u64), (u32, PathBuf)>;

/// Of the indexes `wanted` ((space id, index id)), those whose B-tree MySQL's DDL log names
/// in the redo log `files` (see [`lifeboat_innodb::dd::freed_tree_root`]): their root page
/// and the file it was found in.
fn freed_trees_in_redo(files: &[PathBuf], wanted: &[(u32, u64)]) -> Result<FreedTrees, Error> {
    let mut found = std::collections::HashMap::new();
    each_redo_chunk(files, &mut |path, stream| {
        for &(space, index) in wanted {
            if found.contains_key(&(space, index)) {
                continue;
            }
            if let Some(root) = lifeboat_innodb::dd::freed_tree_root(stream, space, index) {
                found.insert((space, index), (root, path.to_path_buf()));
            }
        }
    })?;
    Ok(found)
}

/// An undo tablespace's file name: MariaDB's `undo001`, MySQL 8's `undo_001` or `*.ibu`.
fn is_undo_tablespace(name: &str) -> bool {
    name.ends_with(".ibu")
        || name.strip_prefix("undo").is_some_and(|n| {
            let n = n.strip_prefix('_').unwrap_or(n);
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        })
}

/// One page of a tablespace as `salvage` found it, when something was wrong or lost there.
#[derive(Debug, Clone, Serialize)]
pub struct SalvagedPage {
    /// Page number.
    pub page: u64,
    /// Its checksum verdict.
    pub checksum: lifeboat_innodb::checksum::Verdict,
    /// Page type as its header says.
    pub page_type: String,
    /// Records its header counts (a leaf of the table's index).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// Rows recovered from it.
    pub recovered: u64,
    /// Rows were (or may have been) lost here.
    pub lost: bool,
    /// What is wrong there.
    pub problem: String,
}

/// What `salvage` did.
#[derive(Debug, Clone, Serialize)]
pub struct Salvaged {
    /// The file.
    pub file: PathBuf,
    /// The index read (the table's clustered index).
    pub index_id: u64,
    /// Pages in the file.
    pub pages: u64,
    /// Leaf pages of the index read.
    pub leaf_pages: u64,
    /// Rows recovered, each once.
    pub rows: u64,
    /// Of them, rows from pages whose checksum does not match but whose every record
    /// decodes with the definition.
    pub rows_from_damaged_pages: u64,
    /// Pages with a bad checksum, or whose records could not all be read.
    pub damaged: Vec<SalvagedPage>,
    /// The rows written (the SQL or TSV file).
    pub output: Written,
    /// The report written next to it.
    pub report: PathBuf,
}

/// Every readable row of a damaged tablespace: reads each page in place, picks the index
/// whose leaf pages fit `schema` best (the table's clustered index), and takes the rows of
/// every leaf page whose records all decode: pages with a valid checksum, and damaged pages
/// whose records still fit exactly. Pages that are damaged and do not fit are listed as
/// lost, with the records their headers counted. Writes `<table>.sql` and `report.json` to
/// `out`. Reads `ibd` only.
pub fn salvage(
    ibd: &Path,
    schema: &lifeboat_innodb::schema::TableSchema,
    out: &Path,
    format: Format,
    index_id: Option<u64>,
) -> Result<Salvaged, Error> {
    use lifeboat_innodb::index::IndexPage;
    use lifeboat_innodb::record::{Layout, decode_with, fit_with};
    let report = inspect(ibd)?;
    let schema = &*for_vendor(schema, report.vendor);
    let page_size = report.page_size;
    let full_crc32 = report.flags.is_some_and(|f| f.full_crc32);
    let mut page_of = page_reader(ibd, page_size, report.flags)?;
    // Each index's records as the definition lays them out there (an instant ADD COLUMN
    // is an index's own history).
    let layouts: std::collections::HashMap<u64, Layout> = report
        .indexes
        .iter()
        .map(|i| (i.index_id, layout_of(schema, Some(i), &mut page_of)))
        .collect();
    let plain = Layout::new(schema);
    let layout_for = |id: u64| layouts.get(&id).unwrap_or(&plain);
    // Pass 1: which index's leaves fit the definition best.
    let index_id = match index_id {
        Some(i) => i,
        None => {
            let mut fits: std::collections::HashMap<u64, u64> = Default::default();
            // Why the first leaf that did not fit failed: the error's hint.
            let mut why: Option<String> = None;
            each_page_in_memory(ibd, page_size, report.flags, &mut |no, page| {
                if let (Some(id), Some(ip)) = (leaf_index(page), IndexPage::new(page)) {
                    let layout = layout_for(id);
                    if fit_with(&ip, schema, layout).consistent {
                        *fits.entry(id).or_default() += 1;
                    } else if why.is_none() {
                        why = ip.records().flatten().find_map(|r| {
                            decode_with(page, r.origin, schema, layout)
                                .err()
                                .map(|e| format!(" (page {no}, index {id}: {e})"))
                        });
                    }
                }
                Ok(())
            })?;
            fits.into_iter()
                .max_by_key(|&(id, n)| (n, std::cmp::Reverse(id)))
                .map(|(id, _)| id)
                .ok_or_else(|| {
                    Error::Forensic(format!(
                        "{}: no page's records fit the definition of {}{}",
                        ibd.display(),
                        schema.table,
                        why.unwrap_or_default()
                    ))
                })?
        }
    };
    // Pass 2: the rows.
    let mut sql = TableOut::create(
        out,
        schema,
        &format!("salvage of {}", ibd.display()),
        format,
    )?;
    let layout = layout_for(index_id);
    let mut result = Salvaged {
        file: ibd.to_path_buf(),
        index_id,
        pages: 0,
        leaf_pages: 0,
        rows: 0,
        rows_from_damaged_pages: 0,
        damaged: Vec::new(),
        output: sql.written(),
        report: out.join("report.json"),
    };
    let mut seen: std::collections::HashSet<Vec<u8>, FastHash> = Default::default();
    // Pages the tablespace lists as free hold stale records (older versions of rows that
    // live on elsewhere): never read as the table's.
    let mut free = lifeboat_innodb::fsp::FreePages::new(
        page_size,
        report.flags.map_or(page_size, |f| f.page_size),
    );
    each_page_in_memory(ibd, page_size, report.flags, &mut |no, page| {
        result.pages += 1;
        let verdict = lifeboat_innodb::checksum::verify(page, full_crc32);
        let valid = verdict.is_valid() || verdict == lifeboat_innodb::checksum::Verdict::Empty;
        free.page(no, page, verdict.is_valid());
        if free.is_free(no, page) {
            return Ok(());
        }
        let type_name = lifeboat_innodb::FilHeader::parse(page).map_or_else(
            || "unknown".to_owned(),
            |h| lifeboat_innodb::PageType::from_code(h.page_type, report.vendor).name(),
        );
        let mut finding = SalvagedPage {
            page: no,
            checksum: verdict,
            page_type: type_name,
            records: None,
            recovered: 0,
            lost: false,
            problem: String::new(),
        };
        let ours = leaf_index(page) == Some(index_id);
        if !ours {
            if !valid {
                finding.lost = true;
                finding.problem =
                    "damaged; not recognizable as a page of the table's index (its rows, if it held any, are lost)".into();
                result.damaged.push(finding);
            }
            return Ok(());
        }
        result.leaf_pages += 1;
        let Some(ip) = IndexPage::new(page) else {
            return Ok(());
        };
        finding.records = Some(u64::from(ip.header.n_recs));
        let f = fit_with(&ip, schema, layout);
        if !valid && !f.consistent {
            finding.lost = true;
            finding.problem = format!(
                "damaged: {} of its {} records decode; none taken",
                f.decoded, f.records
            );
            result.damaged.push(finding);
            return Ok(());
        }
        let mut problems = Vec::new();
        for rec in ip.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("record list broken: {e:?}"));
                    break;
                }
            };
            if rec.deleted || rec.min_rec {
                continue;
            }
            let row = match decode_with(page, rec.origin, schema, layout) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            if !seen.insert(row.key.clone()) {
                continue;
            }
            let mut v = Vec::with_capacity(128);
            match row_values(&row, schema, rec.origin, &mut page_of, format, &mut v) {
                Ok(()) => {
                    sql.row(&v)?;
                    finding.recovered += 1;
                    result.rows += 1;
                    if !valid {
                        result.rows_from_damaged_pages += 1;
                    }
                }
                Err(e) => problems.push(e),
            }
        }
        if !valid || !problems.is_empty() {
            finding.lost = !problems.is_empty();
            finding.problem = if problems.is_empty() {
                "checksum does not match; every record decodes with the definition and was taken"
                    .into()
            } else {
                problems.join("; ")
            };
            result.damaged.push(finding);
        }
        Ok(())
    })?;
    result.output = sql.finish()?;
    write_report(&result.report, &result)?;
    Ok(result)
}

/// The definition of the table whose tablespace is `ibd`, from the files themselves: the
/// .frm file beside it (MariaDB; MySQL 5.7 writes the same format, untested), else the SDI inside it (MySQL 8).
pub fn schema_of(ibd: &Path) -> Result<lifeboat_innodb::schema::TableSchema, Error> {
    if ibd.is_dir() {
        return Err(Error::Forensic(format!(
            "{} is a directory: give a tablespace file (.ibd, ibdata1)",
            ibd.display()
        )));
    }
    // A redo log is said to be one before anything is looked for beside it.
    let mut head = Vec::new();
    if let Ok(f) = std::fs::File::open(ibd) {
        let _ = f.take(512).read_to_end(&mut head);
    }
    if let Some(h) = lifeboat_innodb::redo::Header::parse(&head) {
        return Err(redo_log_given(ibd, &h));
    }
    let frm = ibd.with_extension("frm");
    if !frm.is_file() {
        return schema_from_sdi(ibd).map_err(|e| {
            Error::Forensic(format!(
                "{e}, and no {} beside it (MariaDB and MySQL 5.7 keep the definition there): give --schema DDL_FILE",
                frm.display()
            ))
        });
    }
    let bytes =
        std::fs::read(&frm).map_err(|e| Error::Forensic(format!("{}: {e}", frm.display())))?;
    let stem = frm.file_stem().unwrap_or_default().to_string_lossy();
    let table = crate::forensic::rescue::decode_file_name(&stem);
    let ddl = lifeboat_innodb::frm::create_table(&bytes, &table)
        .map_err(|e| Error::Forensic(format!("{}: {e}", frm.display())))?;
    lifeboat_innodb::schema::parse_create_table(&ddl).map_err(|e| {
        Error::Forensic(format!(
            "{}: the definition read from it is not usable ({e}): give --schema",
            frm.display()
        ))
    })
}

/// The table a tablespace file belongs to, from its path (`DATADIR/db/name.ibd`, names
/// decoded from MariaDB's and MySQL's file-name encoding).
pub fn table_of_path(ibd: &Path) -> Option<(String, String)> {
    let table = ibd.file_stem()?.to_str()?;
    let db = ibd.parent()?.file_name()?.to_str()?;
    Some((
        crate::forensic::rescue::decode_file_name(db),
        crate::forensic::rescue::decode_file_name(table),
    ))
}

/// The definition of `db.table` as a lifeboat backup recorded it (the server's own SHOW
/// CREATE TABLE, taken inside the backup's snapshot): backup `id`, or the newest committed
/// backup in `repo` that holds the table. Returns the definition and the backup's id.
pub async fn schema_from_backup(
    repo: &lifeboat_repo::Repository,
    id: Option<&str>,
    db: &str,
    table: &str,
) -> Result<(lifeboat_innodb::schema::TableSchema, String), Error> {
    let ids = match id {
        Some(id) => vec![id.to_owned()],
        None => repo.backup_ids().await?.0.into_iter().rev().collect(),
    };
    for id in &ids {
        let body = crate::protect::backup::Body::of(&repo.manifest(id).await?)?;
        let found = body
            .schemas
            .iter()
            .filter(|s| s.name == db)
            .flat_map(|s| &s.tables)
            .find(|t| t.name == table);
        if let Some(t) = found {
            let schema = lifeboat_innodb::schema::parse_create_table(&t.create).map_err(|e| {
                Error::Forensic(format!("backup {id}: the definition of {db}.{table}: {e}"))
            })?;
            return Ok((schema, id.clone()));
        }
    }
    Err(Error::Forensic(match id {
        Some(id) => format!("backup {id} does not hold {db}.{table}"),
        None => format!(
            "no committed backup in the repository holds {db}.{table} ({} looked at)",
            ids.len()
        ),
    }))
}

/// The table definition a MySQL 8 tablespace carries in its SDI (serialized dictionary
/// information).
pub fn schema_from_sdi(ibd: &Path) -> Result<lifeboat_innodb::schema::TableSchema, Error> {
    let (page_size, fsp) = page_size_of(ibd)?;
    let flags = fsp.map(|h| h.flags);
    let mut page_of = page_reader(ibd, page_size, flags)?;
    let mut found = None;
    let mut problems = Vec::new();
    // A compressed tablespace's SDI pages are compressed too.
    each_page_in_memory(ibd, page_size, flags, &mut |_, page| {
        if lifeboat_innodb::FilHeader::parse(page).is_none_or(|h| h.page_type != 17853) {
            return Ok(());
        }
        for r in lifeboat_innodb::sdi::records(page, &mut page_of) {
            match r {
                Ok(r) if r.kind == lifeboat_innodb::sdi::SDI_TYPE_TABLE => {
                    found = Some(lifeboat_innodb::sdi::table_schema(&r.json));
                }
                Ok(_) => {}
                Err(e) => problems.push(e),
            }
        }
        Ok(())
    })?;
    match found {
        Some(Ok(schema)) => Ok(schema),
        Some(Err(e)) => Err(Error::Forensic(format!("{}: SDI: {e}", ibd.display()))),
        None => Err(Error::Forensic(format!(
            "{}: no table definition in the file's SDI{}",
            ibd.display(),
            problems
                .first()
                .map_or(String::new(), |p| format!(" ({p})"))
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tablespace_path_names_its_table() {
        let t = super::table_of_path(std::path::Path::new(
            "/var/lib/mysql/we@0020ird/t@002d1.ibd",
        ));
        assert_eq!(t, Some(("we ird".into(), "t-1".into())));
    }

    #[test]
    fn undo_tablespaces_are_told_by_name() {
        for yes in ["undo001", "undo_002", "extra.ibu"] {
            assert!(super::is_undo_tablespace(yes), "{yes}");
        }
        for no in ["undo", "undo_", "undo.frm", "undone.ibd", "ibdata1"] {
            assert!(!super::is_undo_tablespace(no), "{no}");
        }
    }
}
