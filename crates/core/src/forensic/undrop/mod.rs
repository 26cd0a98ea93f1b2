//! `undrop`: a dropped table's rows from wherever its pages still are.

mod choose;
mod image;
mod rows;
mod scan;
mod sources;

pub use sources::read_dictionary;

use std::path::{Path, PathBuf};

use serde::Serialize;

use std::collections::HashMap;

use lifeboat_innodb::record::Layout;

use crate::error::Error;
use crate::forensic::pages::{datadir_page_size, write_report};
use crate::forensic::recovered::{Format, Written};
use image::LOGICAL;
use sources::{datadir_files, redo_files, scan_dictionary};

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
    let started = std::time::Instant::now();
    let src = Sources::of(source)?;
    let mut def = definition(&src, table, schema)?;
    // Pass 1: every INDEX and BLOB page at any offset.
    let mut found = scan::pages(&src, &mut def, table, grep)?;
    let dict_name = table.replacen('.', "/", 1);
    let logs: Vec<PathBuf> = src.dirs.iter().flat_map(|d| redo_files(d)).collect();
    // The redo log keeps the undo records of a DROP whose undo page never reached the disk.
    let redo_only = match index_id {
        None => sources::drops_in_redo(&mut found.undo_drops, &logs, &dict_name)?,
        Some(_) => HashMap::new(),
    };
    let scan_ms = started.elapsed().as_millis() as u64;
    let choice = choose::index(&mut found, &def, &src, &logs, &redo_only, table, index_id)?;
    let decoding = choose::decoding(choice, &found, def, &src, table)?;
    // Pass 2: the chosen index's pages, newest first, each row once.
    let mut result = rows::write(&mut found, decoding, &src, table, out, format, scan_ms)?;
    result.decode_ms = (started.elapsed().as_millis() as u64).saturating_sub(scan_ms);
    write_report(&result.report, &result)?;
    Ok(result)
}

/// The files to scan and what the datadir says about them.
struct Sources {
    /// A datadir's directories: its own, then those the server kept files in elsewhere.
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
    /// In a datadir's files each page has its place (page number × size); in an image not.
    in_place: bool,
    /// What compressed pages expand to: the server's page size, which its system tablespace
    /// records.
    logical: usize,
}

impl Sources {
    fn of(source: &Source) -> Result<Sources, Error> {
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
            let (path, problem) = match source {
                Source::Datadir(d, _) => (d, "no InnoDB files (ibdata*, undo*, *.ibd) in it"),
                Source::Image(p) => (p, "nothing to scan"),
            };
            return Err(Error::Tablespace {
                path: path.to_path_buf(),
                page: None,
                problem: problem.into(),
            });
        }
        Ok(Sources {
            dirs: dirs.into_iter().map(Path::to_path_buf).collect(),
            files,
            in_place,
            logical,
        })
    }
}

/// The table's definition, and what the dictionary in the sources said of it.
struct Definition {
    schema: lifeboat_innodb::schema::TableSchema,
    /// Rebuilt from the dictionary, when none was given.
    definition: Option<lifeboat_innodb::dict::Definition>,
    /// The dictionary, when reading it gave the definition.
    prescanned: Option<lifeboat_innodb::dict::Dictionary>,
    /// A table dropped and created again under its name with another definition: the old
    /// table id's own (delete-marked) column records fit its pages, the name's do not.
    recreated: HashMap<u64, (lifeboat_innodb::schema::TableSchema, Layout)>,
    /// The clustered index the SDI of a MySQL 8 table names.
    sdi_index: Option<u64>,
}

/// A definition from MySQL 8's dictionary is an SDI document, which gives the layout whole
/// (binary JSON, instant columns); SYS_ records give CREATE TABLE text.
fn parse(
    d: &lifeboat_innodb::dict::Definition,
) -> Result<lifeboat_innodb::schema::TableSchema, Error> {
    match &d.sdi {
        Some(doc) => lifeboat_innodb::sdi::table_schema(doc),
        None => {
            lifeboat_innodb::schema::parse_create_table(&d.create_sql).map_err(|e| e.to_string())
        }
    }
    .map_err(|e| Error::Internal(format!("the definition rebuilt from the dictionary: {e}")))
}

/// The definition given, else the one the dictionary records in the sources rebuild.
fn definition(
    src: &Sources,
    table: &str,
    schema: Option<&lifeboat_innodb::schema::TableSchema>,
) -> Result<Definition, Error> {
    let (files, in_place) = (&src.files, src.in_place);
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
                        return Err(Error::Definition {
                            table: table.to_string(),
                            problem: "not in the dictionary of the files given".into(),
                            source: Some(Box::new(e)),
                            hint: Some(
                                "give the definition with --schema DDL_FILE or --schema-from-backup",
                            ),
                        });
                    };
                    sdi_index = index;
                    let s = lifeboat_innodb::sdi::table_schema(&json).map_err(|e| {
                        Error::Definition {
                            table: table.to_string(),
                            problem: "the definition in its SDI is not usable".into(),
                            source: Some(e.into()),
                            hint: Some("give the definition with --schema DDL_FILE"),
                        }
                    })?;
                    (s, None, Some(dict))
                }
            }
        }
    };
    Ok(Definition {
        schema,
        definition,
        prescanned,
        recreated,
        sdi_index,
    })
}
