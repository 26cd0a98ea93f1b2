//! `undrop`: a dropped table's rows from wherever its pages still are.

mod image;
mod sources;

pub use sources::read_dictionary;

use std::path::{Path, PathBuf};

use serde::Serialize;

use lifeboat_innodb::carve;

use crate::error::Error;
use crate::forensic::pages::{datadir_page_size, row_values, write_report};
use crate::forensic::recovered::{Format, TableOut, Written};
use crate::forensic::undelete::FastHash;
use crate::forensic::undrop::image::{Image, LOGICAL, Stored, expand, keep_blob, load, newer};
use crate::forensic::undrop::sources::{
    datadir_files, freed_trees_in_redo, redo_files, scan_dictionary, undo_drops_in_redo,
};

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
