//! Crash rescue: the forced-recovery procedure, made safe.
//!
//! The original datadir is only ever read. It is copied; a side instance starts on the copy
//! with `innodb_force_recovery` raised step by step (0, then 1 to 6) until it comes up; every
//! table it can read is dumped on its own (a table that fails, or crashes the server, does
//! not stop the rest: the server is restarted at the same level and the next table
//! follows); the tables it could not read are salvaged from their pages; a report says what
//! came from where and what was lost.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lifeboat_binlog::Flavor;
use lifeboat_server::replica::{ReplicaConn, fields};
use lifeboat_server::{Sandbox, SandboxOptions, WantedServer};
use serde::Serialize;

use crate::error::Error;
use crate::forensic::recovered::{Format, TableOut, file_name};
use crate::progress::Progress;
use crate::target::guard::Refusal;

/// What to do first, printed before anything else: the steps that keep a bad situation from
/// getting worse.
pub const FIRST_RESPONSE: &str = "\
First response to a server that will not start:
  1. Stop the server and whatever restarts it (systemd, a container restart policy): every
     start attempt on damaged files can make them worse.
  2. Image the disk or copy the whole datadir before anything else (lifeboat copies it, but a
     disk image also keeps deleted and unlinked files).
  3. Keep every InnoDB file together: ibdata*, undo*, ib_logfile* / redo, *.ibd, and the .frm
     files (MariaDB, MySQL 5.7): the redo and undo logs are part of the data.
  4. Never set innodb_force_recovery on the production datadir; levels 4 and above can damage
     it for good. lifeboat raises it on a copy only.";

/// How a rescue runs.
#[derive(Debug, Clone)]
pub struct RescueOptions {
    /// The damaged datadir (read only).
    pub datadir: PathBuf,
    /// Where the copy, the recovered tables and the report go (must not exist, or be empty).
    pub out: PathBuf,
    /// CREATE TABLE statements for tables salvaged without a server (when neither the side
    /// instance nor the tablespace's own SDI gives a definition).
    pub schema: Option<PathBuf>,
    /// Extra server settings for the side instance (`key=value`), e.g. the original's
    /// `innodb_log_file_size` or `lower_case_table_names`.
    pub settings: Vec<String>,
    /// How long one start attempt may take (crash recovery of a large redo log is slow).
    pub start_timeout: Duration,
    /// How the tables are written.
    pub format: Format,
    /// The server binary (else `LIFEBOAT_MYSQLD`, else one of the datadir's flavor).
    pub mysqld: Option<PathBuf>,
}

/// One start of the side instance.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// innodb_force_recovery.
    pub force_recovery: u8,
    /// Whether it accepted connections.
    pub started: bool,
    /// How long the attempt took, in seconds.
    pub seconds: f64,
    /// The end of its error log when it did not start.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub log: String,
}

/// Where a table's rows came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Read through the side instance.
    Server,
    /// Salvaged from its pages.
    Pages,
    /// Nothing recovered.
    Lost,
}

/// One table's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RescuedTable {
    /// Database.
    pub database: String,
    /// Table.
    pub table: String,
    /// Where its rows came from.
    pub origin: Origin,
    /// Rows written.
    pub rows: u64,
    /// The SQL file (CREATE TABLE, then the rows), or the TSV file (its load script
    /// beside it, `<table>.load.sql`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// What was written, for loading it.
    #[serde(skip)]
    pub output: Option<crate::forensic::recovered::Written>,
    /// Pages whose rows were (or may have been) lost (salvaged tables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages_lost: Option<u64>,
    /// Records found on its pages that did not decode (tables of the system tablespace,
    /// read like a dropped table).
    #[serde(skip_serializing_if = "is_zero")]
    pub rows_lost: u64,
    /// Why the server could not give it, or why nothing came back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl RescuedTable {
    /// A table nothing has been recovered of yet, and why.
    fn lost(database: &str, table: &str, problems: Vec<String>) -> RescuedTable {
        RescuedTable {
            database: database.to_owned(),
            table: table.to_owned(),
            origin: Origin::Lost,
            rows: 0,
            file: None,
            output: None,
            pages_lost: None,
            rows_lost: 0,
            problems,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a rescue did.
#[derive(Debug, Clone, Serialize)]
pub struct Rescue {
    /// The datadir rescued (never written).
    pub datadir: PathBuf,
    /// The side instance's directory; its `data` is the copy.
    pub copy: PathBuf,
    /// Start attempts, in order.
    pub attempts: Vec<Attempt>,
    /// The innodb_force_recovery level the side instance started with, if it did.
    pub started_with: Option<u8>,
    /// Every table found.
    pub tables: Vec<RescuedTable>,
    /// `report.json` in the output directory.
    pub report: PathBuf,
}

/// Schemas whose tables are the server's own.
const SYSTEM: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::in_file(path, e)
}

/// Refuses a datadir a running server holds: InnoDB keeps a write lock on ibdata1 while it
/// runs (a copy taken then would be torn, and the files are still changing).
fn refuse_if_live(datadir: &Path) -> Result<(), Error> {
    let ibdata = datadir.join("ibdata1");
    let Ok(f) = std::fs::File::open(&ibdata) else {
        return Ok(());
    };
    match rustix::fs::fcntl_lock(&f, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::ACCESS => {
            Err(Error::Refused(Refusal::Unsafe {
                action: format!("rescue {}", datadir.display()),
                reason: "a running server holds its ibdata1; stop it first (its files are still changing)".into(),
            }))
        }
        _ => Ok(()),
    }
}

/// Copies the datadir (regular files and directories; sockets, pid files and lock files
/// stay behind) and returns the bytes copied.
fn copy_tree(from: &Path, to: &Path, progress: &dyn Progress) -> Result<u64, Error> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    let mut total = 0;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let path = entry.path();
        let ty = entry.file_type().map_err(io(&path))?;
        let name = entry.file_name();
        let dest = to.join(&name);
        if ty.is_dir() {
            total += copy_tree(&path, &dest, progress)?;
        } else if ty.is_file() {
            let n = name.to_string_lossy();
            if n.ends_with(".pid") || n.ends_with(".sock") || n.ends_with(".lock") {
                continue;
            }
            let bytes = std::fs::copy(&path, &dest).map_err(io(&path))?;
            progress.advance(bytes, 0);
            total += bytes;
        }
    }
    Ok(total)
}

fn tree_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => tree_size(&e.path()),
                Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
                _ => 0,
            })
            .sum()
    })
}

/// Settings the copy needs to open at all: the page size its system tablespace was made
/// with (the server refuses a mismatch).
fn implied_settings(datadir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(size) = crate::forensic::datadir_page_size(datadir)
        && size != 16384
    {
        out.push(format!("innodb_page_size={size}"));
    }
    out
}

/// The server that wrote a datadir: MySQL 8+ keeps its dictionary in `mysql.ibd`; MariaDB
/// writes its version into `mariadb_upgrade_info` (`mysql_upgrade_info` before 10.5) and
/// keeps Aria's control file. Unknown (an old MySQL) when neither is there.
fn datadir_server(datadir: &Path) -> Option<WantedServer> {
    for name in ["mariadb_upgrade_info", "mysql_upgrade_info"] {
        if let Ok(text) = std::fs::read_to_string(datadir.join(name))
            && text.to_ascii_lowercase().contains("mariadb")
        {
            return Some(WantedServer::from_version(text.trim()));
        }
    }
    if datadir.join("aria_log_control").exists() {
        return Some(WantedServer {
            flavor: Flavor::MariaDb,
            version: None,
        });
    }
    datadir.join("mysql.ibd").exists().then_some(WantedServer {
        flavor: Flavor::MySql,
        version: None,
    })
}

async fn start(
    opts: &RescueOptions,
    dir: &Path,
    level: u8,
    extra: &[String],
) -> Result<Sandbox, lifeboat_server::SandboxError> {
    let mut so = SandboxOptions::new(dir);
    so.start_timeout = opts.start_timeout;
    // A level that found a corrupt page and went quiet will not come up: the next one is
    // tried after 30 s, not after the whole start timeout.
    so.stall_timeout = Some(Duration::from_secs(30));
    let wanted = datadir_server(&opts.datadir);
    so.server_settings = vec![
        // The copy's own users and passwords are not needed, nor trusted.
        "skip-grant-tables".into(),
        "event-scheduler=OFF".into(),
        "innodb-buffer-pool-size=256M".into(),
        // Nothing is replicated from the copy; and MySQL at innodb_force_recovery >= 4
        // (read-only InnoDB) aborts its start when the binlog makes it write its GTID
        // table ("Table 'gtid_executed' is read only").
        "skip-log-bin".into(),
    ];
    if wanted.as_ref().is_none_or(|w| w.flavor == Flavor::MariaDb) {
        // MariaDB starts without a storage engine that fails to initialise: that is no
        // start here. (MySQL has no such option and refuses to start with it; InnoDB is
        // not optional there.)
        so.server_settings.push("innodb=FORCE".into());
    }
    so.wanted = wanted;
    so.server_binary = opts.mysqld.clone();
    if level > 0 {
        so.server_settings
            .push(format!("innodb-force-recovery={level}"));
    }
    so.server_settings.extend(extra.iter().cloned());
    so.server_settings.extend(opts.settings.iter().cloned());
    Sandbox::start(&so).await
}

/// A table found on the side instance.
struct Found {
    database: String,
    table: String,
    create: Option<String>,
    /// Columns to insert, and what to select for each.
    columns: Vec<(String, String)>,
    /// Those that take only character data when loaded (see [`crate::recover::restore::load_columns`]).
    text_columns: Vec<String>,
}

async fn list_tables(conn: &mut ReplicaConn) -> Result<Vec<Found>, Error> {
    let text = |v: Option<Vec<u8>>| String::from_utf8_lossy(&v.unwrap_or_default()).into_owned();
    let mut tables = Vec::new();
    let sql = "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
               WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME";
    conn.query(sql)
        .await
        .map_err(Error::query("listing tables"))?;
    let mut names = Vec::new();
    while let Some(row) = conn
        .next_row()
        .await
        .map_err(Error::query("listing tables"))?
    {
        let v: Vec<Option<Vec<u8>>> = fields(row)
            .map(|f| f.ok().flatten().map(<[u8]>::to_vec))
            .collect();
        let mut it = v.into_iter();
        let (db, t) = (text(it.next().flatten()), text(it.next().flatten()));
        if !SYSTEM.contains(&db.as_str()) {
            names.push((db, t));
        }
    }
    for (db, t) in names {
        let fq = format!(
            "{}.{}",
            crate::protect::backup::q(&db),
            crate::protect::backup::q(&t)
        );
        let create = conn
            .query_first(&format!("SHOW CREATE TABLE {fq}"))
            .await
            .ok()
            .flatten()
            .and_then(|r| r.into_iter().nth(1).flatten())
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        let mut columns = Vec::new();
        let mut text_columns = Vec::new();
        let sql = format!(
            "SELECT COLUMN_NAME, DATA_TYPE, COALESCE(EXTRA, '') FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
            crate::protect::backup::lit(&db),
            crate::protect::backup::lit(&t)
        );
        if conn.query(&sql).await.is_ok() {
            while let Ok(Some(row)) = conn.next_row().await {
                let v: Vec<String> = fields(row)
                    .map(|f| text(f.ok().flatten().map(<[u8]>::to_vec)))
                    .collect();
                if let [name, ty, extra] = v.as_slice()
                    && !crate::protect::backup::is_generated(extra)
                {
                    let select = if ty == "float" {
                        format!("{} * 1e0", crate::protect::backup::q(name))
                    } else {
                        crate::protect::backup::q(name)
                    };
                    columns.push((name.clone(), select));
                    if matches!(ty.as_str(), "json" | "uuid" | "inet4" | "inet6") {
                        text_columns.push(name.clone());
                    }
                }
            }
        }
        tables.push(Found {
            database: db,
            table: t,
            text_columns,
            create,
            columns,
        });
    }
    Ok(tables)
}

/// MySQL type codes whose text is a numeric literal as it stands.
fn numeric(ty: u8) -> bool {
    matches!(ty, 0 | 1 | 2 | 3 | 4 | 5 | 8 | 9 | 13 | 246)
}

/// Dumps one table through the side instance into `dir/<table>.sql` (or `.tsv`).
async fn dump_table(
    conn: &mut ReplicaConn,
    t: &Found,
    dir: &Path,
    format: Format,
) -> Result<crate::forensic::recovered::Written, String> {
    let create = t
        .create
        .as_deref()
        .ok_or("the server could not show its definition")?;
    if t.columns.is_empty() {
        return Err("the server could not list its columns".into());
    }
    let names: Vec<String> = t.columns.iter().map(|(n, _)| n.clone()).collect();
    let select: Vec<&str> = t.columns.iter().map(|(_, s)| s.as_str()).collect();
    let sql = format!(
        "SELECT {} FROM {}.{}",
        select.join(", "),
        crate::protect::backup::q(&t.database),
        crate::protect::backup::q(&t.table)
    );
    let types = conn
        .query(&sql)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the SELECT returned no result set")?;
    let mut out = TableOut::create_with(
        dir,
        &t.table,
        create,
        (&names, &t.text_columns),
        "rescue, read by the side instance",
        format,
    )
    .map_err(|e| e.to_string())?;
    match write_rows(conn, &types, &mut out).await {
        Ok(_) => out.finish().map_err(|e| e.to_string()),
        Err(e) => {
            out.abandon();
            Err(e)
        }
    }
}

/// Writes the rows of the open result set as INSERTs: numbers as the server prints them,
/// everything else as hex literals (bytes exact whatever the character set).
async fn write_rows(
    conn: &mut ReplicaConn,
    types: &[u8],
    out: &mut TableOut,
) -> Result<u64, String> {
    let format = out.format();
    let mut rows = 0u64;
    let mut values = Vec::new();
    loop {
        let row = match conn.next_row().await {
            Ok(Some(row)) => row,
            Ok(None) => return Ok(rows),
            Err(e) => return Err(format!("after {rows} rows: {e}")),
        };
        values.clear();
        for (i, f) in fields(row).enumerate() {
            if i > 0 {
                values.extend_from_slice(crate::forensic::recovered::separator(format));
            }
            match f {
                Ok(None) => crate::forensic::recovered::push_null(&mut values, format),
                Ok(Some(v)) if types.get(i).is_some_and(|&t| numeric(t)) => {
                    values.extend_from_slice(v);
                }
                Ok(Some(v)) => crate::forensic::recovered::push_hex(&mut values, v, format),
                Err(()) => return Err(format!("row {} is cut short", rows + 1)),
            }
        }
        out.row(&values).map_err(|e| e.to_string())?;
        rows += 1;
    }
}

/// A name as MariaDB and MySQL write it in file names (`@0024` for `$`, `@002d` for `-`…),
/// decoded; names without such sequences come back as they are.
pub(crate) fn decode_file_name(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name;
    while let Some(i) = rest.find('@') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 5)
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        match code.and_then(char::from_u32) {
            Some(c) => {
                out.push(c);
                rest = &rest[i + 5..];
            }
            None => {
                out.push('@');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The definition for a table salvaged from its pages: the side instance's, else one from
/// `--schema`, else the .frm file beside the tablespace (MariaDB), else the
/// tablespace's own SDI (MySQL 8).
fn definition(
    create: Option<&str>,
    given: &[lifeboat_innodb::schema::TableSchema],
    table: &str,
    ibd: &Path,
) -> Result<lifeboat_innodb::schema::TableSchema, String> {
    if let Some(c) = create {
        return lifeboat_innodb::schema::parse_create_table(c)
            .map_err(|e| format!("its definition cannot be read: {e}"));
    }
    if let Some(s) = given.iter().find(|s| s.table == table) {
        return Ok(s.clone());
    }
    crate::forensic::schema_of(ibd).map_err(|e| {
        format!("no definition: the side instance never started, --schema has no CREATE TABLE for it, and {e}")
    })
}

/// Salvages one table from its pages in the copy into `dir/<table>.sql`: from its .ibd, or
/// (file_per_table=OFF) from the system tablespace, where the dictionary names its index.
fn salvage_table(
    t: &mut RescuedTable,
    copy: &Path,
    schema: Result<lifeboat_innodb::schema::TableSchema, String>,
    system: &mut Option<Result<lifeboat_innodb::dict::Dictionary, String>>,
    dir: &Path,
    format: Format,
) {
    let ibd = table_file(copy, &t.database, &t.table);
    let work = dir.join(format!(".salvage-{}", file_name(&t.table)));
    let done = if ibd.is_file() {
        let schema = match schema {
            Ok(s) => s,
            Err(e) => {
                t.problems.push(e);
                return;
            }
        };
        crate::forensic::salvage(
            &crate::forensic::TableFile {
                ibd: &ibd,
                schema: &schema,
                index_id: None,
            },
            &work,
            format,
        )
        .map(|s| {
            let lost = s.damaged.iter().filter(|p| p.lost).count() as u64;
            (s.output, s.report, s.rows, Some(lost))
        })
    } else {
        let dict = system.get_or_insert_with(|| {
            crate::forensic::read_dictionary(&system_files(copy)).map_err(|e| e.to_string())
        });
        match from_system_tablespace(t, copy, schema, dict, &work, format) {
            Ok(u) => {
                if u.lost > 0 {
                    t.rows_lost = u.lost;
                    t.problems.push(format!(
                        "{} records on its pages did not decode: {}",
                        u.lost,
                        u.lost_examples.join("; ")
                    ));
                }
                Ok((u.output, u.report, u.rows, None))
            }
            Err(e) => {
                t.problems.push(e);
                let _ = std::fs::remove_dir_all(&work);
                return;
            }
        }
    };
    match done {
        Ok((output, report, rows, pages_lost)) => {
            let beside = |p: &Path| dir.join(p.file_name().unwrap_or_default());
            let file = beside(&output.file);
            if std::fs::rename(&output.file, &file).is_ok() {
                let mut output = output.clone();
                if let Some(script) = &output.script {
                    let _ = std::fs::rename(script, beside(script));
                    output.script = Some(beside(script));
                }
                output.file = file.clone();
                t.output = Some(output);
                let name = file_name(&t.table);
                let _ = std::fs::rename(&report, dir.join(format!("{name}.salvage.json")));
                let _ = std::fs::remove_dir_all(&work);
                t.origin = Origin::Pages;
                t.rows = rows;
                t.file = Some(file);
                t.pages_lost = pages_lost;
            }
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&work);
            t.problems.push(format!("salvage: {e}"));
        }
    }
}

/// The system tablespace's files in a datadir (ibdata1, and more when
/// innodb_data_file_path names them).
fn system_files(datadir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(datadir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("ibdata"))
        })
        .collect();
    files.sort();
    files
}

/// Tables the system tablespace's dictionary lists as living in it (space 0), as
/// (database, table).
fn system_tablespace_tables(dict: &lifeboat_innodb::dict::Dictionary) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = dict
        .tables
        .iter()
        .filter(|t| !t.deleted && t.space == Some(0))
        .filter_map(|t| t.name.split_once('/'))
        .map(|(db, name)| (decode_file_name(db), decode_file_name(name)))
        .filter(|(db, _)| !SYSTEM.contains(&db.as_str()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Reads a table of the system tablespace from its clustered index's pages, which the live
/// dictionary names; the definition is the one given, else the dictionary's.
fn from_system_tablespace(
    t: &RescuedTable,
    copy: &Path,
    schema: Result<lifeboat_innodb::schema::TableSchema, String>,
    dict: &Result<lifeboat_innodb::dict::Dictionary, String>,
    work: &Path,
    format: Format,
) -> Result<crate::forensic::Undropped, String> {
    let dict = dict
        .as_ref()
        .map_err(|e| format!("the system tablespace's dictionary cannot be read: {e}"))?;
    let name = format!(
        "{}/{}",
        encode_file_name(&t.database),
        encode_file_name(&t.table)
    );
    let live = dict
        .tables
        .iter()
        .find(|x| x.name == name && !x.deleted && x.space == Some(0))
        .ok_or_else(|| {
            format!(
                "{} does not exist and the system tablespace's dictionary does not list the table",
                table_file(copy, &t.database, &t.table).display()
            )
        })?;
    let index_id = dict.clustered_of(&name).0.first().copied().ok_or_else(|| {
        format!(
            "the dictionary lists no clustered index of {name} (table id {})",
            live.id
        )
    })?;
    let schema = match schema {
        Ok(s) => s,
        Err(given) => {
            let d = dict
                .definition_of(live.id, &name)
                .map_err(|e| format!("{given}; and the dictionary's records: {e}"))?;
            lifeboat_innodb::schema::parse_create_table(&d.create_sql)
                .map_err(|e| format!("the definition rebuilt from the dictionary: {e}"))?
        }
    };
    let ibdata = system_files(copy)
        .into_iter()
        .next()
        .ok_or("the copy has no system tablespace file")?;
    crate::forensic::undrop(
        &crate::forensic::Source::Image(ibdata),
        &name.replacen('/', ".", 1),
        Some(&schema),
        work,
        format,
        Some(index_id),
        None,
    )
    .map_err(|e| format!("salvage from the system tablespace: {e}"))
}

/// Runs the rescue.
pub async fn run(opts: &RescueOptions, ctx: &crate::Context) -> Result<Rescue, Error> {
    let progress = ctx.progress();
    let datadir = &opts.datadir;
    if !datadir.is_dir() {
        return Err(Error::Tablespace {
            path: datadir.clone(),
            page: None,
            problem: "not a directory".into(),
        });
    }
    if !datadir.join("ibdata1").is_file() && !datadir.join("mysql").is_dir() {
        return Err(Error::Tablespace {
            path: datadir.clone(),
            page: None,
            problem: "not a MariaDB or MySQL datadir (no ibdata1, no mysql/)".into(),
        });
    }
    refuse_if_live(datadir)?;
    let out = &opts.out;
    if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(Error::Refused(Refusal::Unsafe {
            action: format!("write the rescue into {}", out.display()),
            reason: "it is not empty; name a new directory".into(),
        }));
    }
    let out = &std::path::absolute(out).map_err(io(out))?;
    let copy_dir = out.join("server");
    let copy = copy_dir.join("data");
    progress.start("copying the datadir", tree_size(datadir));
    copy_tree(datadir, &copy, progress.as_ref())?;
    progress.finish();

    let given: Vec<_> = match &opts.schema {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(io(p))?;
            lifeboat_innodb::schema::split_statements(&text)
                .iter()
                .filter_map(|s| lifeboat_innodb::schema::parse_create_table(s).ok())
                .collect()
        }
        None => Vec::new(),
    };
    let extra = implied_settings(&copy);
    let mut attempts = Vec::new();
    let mut server = None;
    for level in 0..=6u8 {
        progress.status(&format!(
            "starting the copy with innodb_force_recovery={level}"
        ));
        let t0 = Instant::now();
        match start(opts, &copy_dir, level, &extra).await {
            Ok(sb) => {
                attempts.push(Attempt {
                    force_recovery: level,
                    started: true,
                    seconds: t0.elapsed().as_secs_f64(),
                    log: String::new(),
                });
                server = Some((sb, level));
                break;
            }
            Err(e) => attempts.push(Attempt {
                force_recovery: level,
                started: false,
                seconds: t0.elapsed().as_secs_f64(),
                log: e.to_string(),
            }),
        }
    }
    let started_with = server.as_ref().map(|(_, l)| *l);
    // The system tablespace's dictionary, read when first needed.
    let mut system: Option<Result<lifeboat_innodb::dict::Dictionary, String>> = None;
    let mut tables: Vec<RescuedTable> = Vec::new();
    let mut creates: Vec<Option<String>> = Vec::new();
    if let Some((mut sb, level)) = server {
        let mut conn = ReplicaConn::connect(&sb.connect_options())
            .await
            .map_err(Error::query("connecting to the side instance"))?;
        let found = list_tables(&mut conn).await?;
        progress.start("reading tables through the side instance", 0);
        for t in &found {
            progress.status(&format!("{}.{}", t.database, t.table));
            let dir = out.join(file_name(&t.database));
            let mut entry = RescuedTable::lost(&t.database, &t.table, Vec::new());
            match dump_table(&mut conn, t, &dir, opts.format).await {
                Ok(w) => {
                    entry.origin = Origin::Server;
                    entry.rows = w.rows;
                    entry.file = Some(w.file.clone());
                    progress.advance(0, w.rows);
                    entry.output = Some(w);
                }
                Err(e) => {
                    // A server that died, or is dying, is replaced; else only the connection
                    // (it was left in the middle of a result).
                    drop(conn);
                    let reconnected = if sb.is_running() {
                        ReplicaConn::connect(&sb.connect_options()).await.ok()
                    } else {
                        None
                    };
                    entry.problems.push(match reconnected {
                        Some(_) => format!("the side instance could not read it: {e}"),
                        None => format!("the side instance crashed reading it ({e})"),
                    });
                    conn = match reconnected {
                        Some(c) => c,
                        None => {
                            sb.kill();
                            sb = start(opts, &copy_dir, level, &extra)
                                .await
                                .map_err(Error::Sandbox)?;
                            ReplicaConn::connect(&sb.connect_options())
                                .await
                                .map_err(Error::query("reconnecting to the side instance"))?
                        }
                    };
                }
            }
            tables.push(entry);
            creates.push(t.create.clone());
        }
        progress.finish();
        conn.quit().await;
        let _ = sb.stop(Duration::from_secs(120)).await;
    } else {
        // No server: every tablespace in the copy's database directories.
        let mut found: Vec<(String, String)> = Vec::new();
        let mut dbs: Vec<_> = std::fs::read_dir(&copy)
            .map_err(io(&copy))?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        dbs.sort();
        for db in dbs {
            let decoded = decode_file_name(&db);
            if SYSTEM.contains(&decoded.as_str()) {
                continue;
            }
            let mut files: Vec<_> = std::fs::read_dir(copy.join(&db))
                .map_err(io(&copy))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter_map(|n| n.strip_suffix(".ibd").map(str::to_owned))
                .collect();
            files.sort();
            for f in files {
                found.push((decoded.clone(), decode_file_name(&f)));
            }
        }
        // Tables of the system tablespace (file_per_table=OFF) have no file of their own:
        // its dictionary names them.
        let dict = system.get_or_insert_with(|| {
            crate::forensic::read_dictionary(&system_files(&copy)).map_err(|e| e.to_string())
        });
        if let Ok(dict) = dict {
            found.extend(system_tablespace_tables(dict));
        }
        found.sort();
        found.dedup();
        for (database, table) in found {
            tables.push(RescuedTable::lost(
                &database,
                &table,
                vec!["the side instance did not start at any level".into()],
            ));
            creates.push(None);
        }
    }

    // What the server could not give is salvaged from the copy's pages.
    for (t, create) in tables.iter_mut().zip(&creates) {
        if t.origin != Origin::Lost {
            continue;
        }
        progress.status(&format!("salvaging {}.{}", t.database, t.table));
        let ibd = table_file(&copy, &t.database, &t.table);
        let schema = definition(create.as_deref(), &given, &t.table, &ibd);
        let dir = out.join(file_name(&t.database));
        salvage_table(t, &copy, schema, &mut system, &dir, opts.format);
    }

    let rescue = Rescue {
        datadir: datadir.clone(),
        copy,
        attempts,
        started_with,
        tables,
        report: out.join("report.json"),
    };
    let json = serde_json::to_vec_pretty(&rescue).unwrap_or_default();
    std::fs::write(&rescue.report, json).map_err(io(&rescue.report))?;
    Ok(rescue)
}

/// The .ibd of `db.table` in a datadir, under the file-name encoding the server uses.
fn table_file(datadir: &Path, db: &str, table: &str) -> PathBuf {
    datadir
        .join(encode_file_name(db))
        .join(format!("{}.ibd", encode_file_name(table)))
}

/// A database or table name in the server's file-name encoding (the inverse of
/// [`decode_file_name`]).
fn encode_file_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_string()
            } else {
                format!("@{:04x}", c as u32)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_decode_and_encode() {
        assert_eq!(decode_file_name("we@0020ird@002ddb"), "we ird-db");
        assert_eq!(decode_file_name("plain_name"), "plain_name");
        assert_eq!(decode_file_name("odd@zz"), "odd@zz");
        assert_eq!(
            table_file(Path::new("/d"), "we ird", "t-1"),
            PathBuf::from("/d/we@0020ird/t@002d1.ibd")
        );
    }
}
