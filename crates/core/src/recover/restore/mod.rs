//! `lifeboat restore`: a committed backup into a new side instance or a named server.
//!
//! Safety first: the target passes the guard (a sandbox lifeboat just started needs no
//! confirmation; any other server must be named), and it is refused (exit 3) when it already
//! has a database being restored or other client sessions, unless `--force`. (A published
//! incident: a scheduled restore fired on the live production server.) Every restore is
//! journaled.
//!
//! Then: databases and tables are created from the server's own DDL text; chunks load in
//! parallel with LOAD DATA LOCAL (largest tables first; binlog, FK and unique checks off for
//! the loading sessions); every object's SHA-256 is checked before its bytes are used, then
//! the chunk is decompressed piece by piece into the load; a load that warns or loads a
//! different row count fails; secondary keys are built once a table's rows are in (see
//! [`crate::recover::restore::keys`]); then triggers, views, routines and events are created; row counts are compared with the manifest, and with `--verify` CHECKSUM TABLE
//! with the values captured in the backup's snapshot.

pub mod keys;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use lifeboat_repo::{ObjectRef, Repository};
use lifeboat_server::{ConnectOptions, Sandbox, SandboxOptions, ServerInfo, connect};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::error::Error;
use crate::protect::backup::{Body, Ddl, SYSTEM_SCHEMAS, SchemaEntry, TableEntry, lit, q};
use crate::target::guard::{self, GuardedTarget, Policy, Refusal};
use crate::target::journal::Audit;
use crate::target::side::Started;

/// Options of `restore`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct RestoreOptions {
    /// Only these tables or views (db.name, comma-separated), with the tables' triggers.
    /// Routines and events come only with whole databases.
    #[cfg_attr(
        feature = "clap",
        arg(long, value_delimiter = ',', value_name = "DB.TABLE,...")
    )]
    pub tables: Vec<String>,
    /// Restore a database under another name (repeatable), e.g. --rename shop=shop_restored.
    #[cfg_attr(feature = "clap", arg(long, value_name = "DB=NEWDB"))]
    pub rename: Vec<String>,
    /// Restore even if the target has the databases or other client sessions.
    #[cfg_attr(feature = "clap", arg(long))]
    pub force: bool,
    /// Compare CHECKSUM TABLE of every restored table with the value captured at backup time.
    #[cfg_attr(feature = "clap", arg(long))]
    pub verify: bool,
    /// Also restore the accounts and grants saved with `backup --users` (accounts that exist
    /// on the target are left alone and reported).
    #[cfg_attr(feature = "clap", arg(long))]
    pub users: bool,
    /// Continue an interrupted restore into the same target: chunks already loaded (recorded
    /// atomically with their data) are skipped, so nothing is loaded twice.
    #[cfg_attr(feature = "clap", arg(long))]
    pub resume: bool,
    /// Parallel loading connections.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 4))]
    pub threads: usize,
    /// Point in time into a named server: let it give the replayed transactions its own
    /// GTIDs instead of the source's (for a MariaDB target whose gtid_strict_mode would
    /// refuse the source's sequence numbers after its own)
    #[cfg_attr(feature = "clap", arg(long))]
    pub new_gtids: bool,
    /// A server setting for the side instance --sandbox starts (repeatable), e.g.
    /// --sandbox-set innodb_buffer_pool_size=8G. Without one, its buffer pool is sized for the
    /// backup: the rows' logical size and a quarter more, at most a quarter of the memory
    /// this host has available, at least the server's 128 MiB.
    #[cfg_attr(
        feature = "clap",
        arg(long = "sandbox-set", value_name = "NAME=VALUE", requires = "sandbox")
    )]
    pub sandbox_set: Vec<String>,
}

/// The buffer pool for a side instance that will hold `logical` bytes of rows: room for them
/// and their indexes (a quarter more), in the server's 128 MiB steps, and at most a quarter of
/// the memory the host has `available` so that a side instance on a busy host leaves it room.
/// `None` when the server's default of 128 MiB is as much, or the host's memory is unknown.
fn side_buffer_pool(logical: u64, available: Option<u64>) -> Option<u64> {
    const STEP: u64 = 128 << 20;
    let want = logical
        .saturating_add(logical / 4)
        .div_ceil(STEP)
        .saturating_mul(STEP);
    let size = want.min(available? / 4 / STEP * STEP);
    (size > STEP).then_some(size)
}

/// The memory this host has available (Linux's `MemAvailable`), in bytes.
fn memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = info.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    kib.trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?
        .checked_mul(1024)
}

/// The settings of a side instance started for a restore of `logical` bytes: the sizing,
/// then the user's (a later line of the option file wins).
fn side_settings(logical: u64, given: &[String]) -> Vec<String> {
    side_buffer_pool(logical, memory_available())
        .map(|b| format!("innodb_buffer_pool_size={}M", b >> 20))
        .into_iter()
        .chain(given.iter().cloned())
        .collect()
}

/// Where to restore.
#[derive(Debug, Clone)]
pub enum Target {
    /// A new side instance, left running.
    Sandbox(SideInstance),
    /// An existing server.
    Server(ConnectOptions),
}

/// A side instance to start: its directory and, when the caller names it, its server binary
/// (else `LIFEBOAT_MYSQLD`, else one of the data's flavor and major version).
#[derive(Debug, Clone)]
pub struct SideInstance {
    /// The sandbox directory.
    pub dir: PathBuf,
    /// The server binary (`--mysqld`).
    pub mysqld: Option<PathBuf>,
}

impl SideInstance {
    /// A side instance in `dir` running the server lifeboat picks.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            mysqld: None,
        }
    }
}

/// What `restore` did.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// Backup restored.
    pub backup: String,
    /// Target identity.
    pub target: String,
    /// The sandbox started for it, if any.
    pub sandbox: Option<Started>,
    /// Databases created.
    pub databases: Vec<String>,
    /// Tables loaded.
    pub tables: usize,
    /// Rows loaded.
    pub rows: u64,
    /// Bytes loaded (before compression).
    pub bytes: u64,
    /// Wall time, ms.
    pub duration_ms: u64,
    /// Tables whose CHECKSUM TABLE matched the backup's (with --verify).
    pub checksums_matched: usize,
    /// Things worth knowing.
    pub warnings: Vec<String>,
    /// Later writes to the same target (a point-in-time replay) go through this.
    #[serde(skip)]
    pub(crate) vouched: crate::target::guard::Vouched,
}

struct Load {
    schema: String,
    table: String,
    /// The LOAD DATA column list and SET clause.
    columns: String,
    object: ObjectRef,
    rows: u64,
    /// Index of the chunk in its table (the progress key).
    chunk_no: usize,
    /// Backup id (the progress key).
    backup: String,
    /// InnoDB: streamed into the load (a failure rolls the chunk back). Others are read
    /// whole first, so nothing partial can reach a table that cannot roll back.
    transactional: bool,
}

/// Per table: chunks still to load, and the keys to add once they are in.
#[derive(Default)]
struct TableWork {
    remaining: usize,
    keys: Vec<crate::recover::restore::keys::DeferredKey>,
    /// What the backup recorded, for the checks once the table is complete.
    entry: Option<TableEntry>,
    /// Created (empty) by this run, so its rows are exactly the chunks loaded now.
    fresh: bool,
    /// Rows loaded by this run.
    loaded: u64,
    /// Checked by the loader that finished it (row count; checksum with --verify).
    checked: bool,
    checksum_matched: bool,
}

type WorkMap = Arc<Mutex<BTreeMap<(String, String), TableWork>>>;

/// `ALTER TABLE … ADD <key>, …` for the keys of `table` that it does not have yet.
async fn add_missing_keys(
    conn: &mut Conn,
    db: &str,
    table: &str,
    keys: &[crate::recover::restore::keys::DeferredKey],
) -> Result<(), Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let have: Vec<String> = conn
        .exec(
            "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (db, table),
        )
        .await
        .map_err(Error::sql(format!("reading the indexes of {db}.{table}")))?;
    let add: Vec<String> = keys
        .iter()
        .filter(|k| !have.contains(&k.name))
        .map(|k| format!("ADD {}", k.definition))
        .collect();
    if add.is_empty() {
        return Ok(());
    }
    // The definitions are text from SHOW CREATE TABLE: sent as utf8mb4, not binary.
    let r = async {
        conn.query_drop("SET NAMES utf8mb4").await?;
        conn.query_drop(format!(
            "ALTER TABLE {}.{} {}",
            q(db),
            q(table),
            add.join(", ")
        ))
        .await
    }
    .await;
    let _ = conn.query_drop("SET NAMES binary").await;
    r.map_err(Error::sql(format!("building the indexes of {db}.{table}")))
}

/// Schema on the target that records which chunks are loaded, in the same transaction as
/// their rows: a killed restore resumes without loading anything twice. Dropped when the
/// restore succeeds.
const PROGRESS_DB: &str = "_lifeboat_restore";

fn progress_insert(job: &Load) -> String {
    format!(
        "INSERT INTO {PROGRESS_DB}.chunks VALUES ({}, {}, {}, {})",
        crate::protect::backup::lit(&job.backup),
        crate::protect::backup::lit(&job.schema),
        crate::protect::backup::lit(&job.table),
        job.chunk_no
    )
}

fn parse_renames(list: &[String]) -> Result<BTreeMap<String, String>, Error> {
    list.iter()
        .map(|r| {
            r.split_once('=')
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| Error::Mismatch(format!("--rename {r:?}: expected DB=NEWDB")))
        })
        .collect()
}

/// The schemas and tables to restore, under their target names.
fn select(body: &Body, opts: &RestoreOptions) -> Result<Vec<(SchemaEntry, String)>, Error> {
    let renames = parse_renames(&opts.rename)?;
    let mut out = Vec::new();
    for s in &body.schemas {
        let mut s = s.clone();
        if !opts.tables.is_empty() {
            let named = |n: &str| opts.tables.contains(&format!("{}.{n}", s.name));
            s.tables.retain(|t| named(&t.name));
            s.views.retain(|v| named(&v.name));
            if s.tables.is_empty() && s.views.is_empty() {
                continue;
            }
            let names: Vec<&String> = s.tables.iter().map(|t| &t.name).collect();
            s.triggers
                .retain(|tr| tr.table.as_ref().is_some_and(|t| names.contains(&t)));
            s.routines.clear();
            s.events.clear();
        }
        let target = renames
            .get(&s.name)
            .cloned()
            .unwrap_or_else(|| s.name.clone());
        if target != s.name {
            for d in s
                .views
                .iter_mut()
                .chain(&mut s.triggers)
                .chain(&mut s.routines)
                .chain(&mut s.events)
            {
                d.create = requalify(&d.create, &s.name, &target);
            }
        }
        out.push((s, target));
    }
    for t in &opts.tables {
        let found = body.schemas.iter().any(|s| {
            let named = |n: &str| format!("{}.{n}", s.name) == *t;
            s.tables.iter().any(|x| named(&x.name)) || s.views.iter().any(|v| named(&v.name))
        });
        if !found {
            return Err(Error::Mismatch(format!(
                "table or view {t} is not in this backup"
            )));
        }
    }
    if out.is_empty() {
        return Err(Error::Mismatch(
            "nothing to restore: the backup holds no matching database".into(),
        ));
    }
    Ok(out)
}

async fn refusals(
    t: &mut GuardedTarget,
    targets: &[String],
    own_ids: &[u32],
) -> Result<Vec<String>, Error> {
    let mut reasons = Vec::new();
    let list = targets
        .iter()
        .map(|d| crate::protect::backup::lit(d))
        .collect::<Vec<_>>()
        .join(",");
    let existing: Vec<String> = if list.is_empty() {
        Vec::new()
    } else {
        t.conn()
            .query(format!(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ({list})"
            ))
            .await
            .map_err(Error::sql("checking the target's databases"))?
    };
    if !existing.is_empty() {
        reasons.push(format!(
            "it already has database(s) {}",
            existing.join(", ")
        ));
    }
    let ids = own_ids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let others: Vec<(u64, String, String)> = t
        .conn()
        .query(format!(
            "SELECT ID, USER, HOST FROM information_schema.PROCESSLIST WHERE ID NOT IN ({ids}) \
             AND COMMAND NOT IN ('Daemon','Binlog Dump','Binlog Dump GTID') \
             AND USER NOT IN ('system user','event_scheduler')"
        ))
        .await
        .map_err(Error::sql("listing the target's sessions"))?;
    if !others.is_empty() {
        let who: Vec<String> = others
            .iter()
            .take(5)
            .map(|(id, u, h)| format!("{u}@{h} (id {id})"))
            .collect();
        reasons.push(format!(
            "{} other client session(s) are connected: {}",
            others.len(),
            who.join(", ")
        ));
    }
    Ok(reasons)
}

/// Replaces the database name in `CREATE DATABASE `old` ...`.
fn rename_create_database(create: &str, old: &str, new: &str) -> String {
    if old == new {
        return create.to_owned();
    }
    create.replacen(&q(old), &q(new), 1)
}

/// Points qualified references `` `old`. `` in a view, trigger, routine or event at `new`.
/// The server writes view definitions fully qualified and backquoted; bodies written by hand
/// may not be (see [`mentions_unquoted`]).
fn requalify(create: &str, old: &str, new: &str) -> String {
    create.replace(&format!("{}.", q(old)), &format!("{}.", q(new)))
}

/// Whether `text` names `db.` without backquotes (a reference [`requalify`] cannot rename).
fn mentions_unquoted(text: &str, db: &str) -> bool {
    let (t, d) = (
        text.to_ascii_lowercase(),
        format!("{}.", db.to_ascii_lowercase()),
    );
    t.match_indices(&d).any(|(i, _)| {
        i == 0
            || !t.as_bytes()[i - 1].is_ascii_alphanumeric()
                && !matches!(t.as_bytes()[i - 1], b'_' | b'`' | b'$')
    })
}

async fn ddl_session(conn: &mut Conn) -> Result<(), Error> {
    conn.query_drop(
        "SET NAMES utf8mb4, foreign_key_checks = 0, sql_mode = 'NO_AUTO_VALUE_ON_ZERO'",
    )
    .await
    .map_err(Error::sql("preparing the DDL session"))?;
    strict_mode_off(conn).await;
    Ok(())
}

/// For a session that creates or alters the backup's tables (the DDL session, and loaders,
/// which add deferred keys back): the source's tables exist with their options, and InnoDB's
/// strict mode refuses some that it accepted then with a warning (ROW_FORMAT=FIXED: "Wrong
/// create options", also when a key is added to such a table). Best effort: a server
/// without the variable has no such check.
async fn strict_mode_off(conn: &mut Conn) {
    let _ = conn.query_drop("SET SESSION innodb_strict_mode = 0").await;
}

/// Turns the binlog off for a session; false when not allowed (then loads are logged).
async fn binlog_off(conn: &mut Conn) -> bool {
    conn.query_drop("SET SESSION sql_log_bin = 0").await.is_ok()
}

async fn apply_ddl(conn: &mut Conn, db: &str, d: &Ddl) -> Result<(), mysql_async::Error> {
    let mut set = Vec::new();
    if let Some(m) = &d.sql_mode {
        set.push(format!("sql_mode = {}", crate::protect::backup::lit(m)));
    }
    if let Some(c) = &d.character_set_client {
        set.push(format!(
            "character_set_client = {}",
            crate::protect::backup::lit(c)
        ));
    }
    if let Some(c) = &d.collation_connection {
        set.push(format!(
            "collation_connection = {}",
            crate::protect::backup::lit(c)
        ));
    }
    if let Some(z) = &d.time_zone {
        set.push(format!("time_zone = {}", crate::protect::backup::lit(z)));
    }
    conn.query_drop(format!("USE {}", q(db))).await?;
    if !set.is_empty() {
        conn.query_drop(format!("SET {}", set.join(", "))).await?;
    }
    let r = conn.query_drop(&d.create).await;
    conn.query_drop("SET NAMES utf8mb4, sql_mode = 'NO_AUTO_VALUE_ON_ZERO'")
        .await?;
    r
}

async fn loader(
    mut conn: Conn,
    repo: Repository,
    queue: Arc<Mutex<VecDeque<Load>>>,
    work: WorkMap,
    verify: bool,
    progress: Arc<dyn crate::progress::Progress>,
) -> Result<(u64, u64), Error> {
    let (mut rows, mut bytes) = (0u64, 0u64);
    loop {
        let job = queue
            .lock()
            .map_err(|_| Error::Mismatch("loader state poisoned".into()))?
            .pop_front();
        let Some(job) = job else { break };
        bytes += job.object.raw_size;
        // Non-transactional tables get the whole chunk, checked, before the load starts.
        let whole = if job.transactional {
            None
        } else {
            Some(Bytes::from(repo.get_object(&job.object).await?))
        };
        let sql = format!(
            "LOAD DATA LOCAL INFILE 'lifeboat-chunk' INTO TABLE {}.{} CHARACTER SET binary \
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' {}",
            q(&job.schema),
            q(&job.table),
            job.columns
        );
        let what = format!(
            "loading {} into {}.{}",
            job.object.path, job.schema, job.table
        );
        let mut attempt = 0;
        let loaded = loop {
            // A damaged piece ends the stream with an error: the server has then seen part of
            // the chunk, so the transaction is rolled back and the object named.
            let failure: Arc<Mutex<Option<Error>>> = Arc::default();
            match &whole {
                Some(chunk) => {
                    let chunk = chunk.clone(); // Bytes: a reference count, not a copy
                    conn.set_infile_handler(async move {
                        Ok(futures::stream::once(async move { Ok(chunk) }).boxed())
                    });
                }
                None => {
                    let pieces = repo.open_object(&job.object).await?;
                    let slot = failure.clone();
                    conn.set_infile_handler(async move {
                        Ok(futures::stream::iter(pieces.map(move |p| {
                            p.map_err(|e| {
                                let msg = e.to_string();
                                if let Ok(mut s) = slot.lock() {
                                    s.get_or_insert(e.into());
                                }
                                std::io::Error::other(msg)
                            })
                        }))
                        .boxed())
                    });
                }
            }
            // The rows and the progress record commit together, or not at all. A load that
            // warns (values changed) or loads another row count is rolled back and fails.
            let done = async {
                conn.query_drop("START TRANSACTION").await?;
                conn.query_drop(&sql).await?;
                let loaded = conn.affected_rows();
                if conn.get_warnings() > 0 {
                    let w: Vec<(String, u32, String)> = conn
                        .query("SHOW WARNINGS LIMIT 3")
                        .await
                        .unwrap_or_default();
                    conn.query_drop("ROLLBACK").await?;
                    let text: Vec<String> = w
                        .into_iter()
                        .map(|(_, code, msg)| format!("{code}: {msg}"))
                        .collect();
                    return Ok(Err(format!(
                        "the server changed values while loading ({})",
                        text.join("; ")
                    )));
                }
                if loaded != job.rows {
                    conn.query_drop("ROLLBACK").await?;
                    return Ok(Err(format!(
                        "loaded {loaded} rows, the backup recorded {}",
                        job.rows
                    )));
                }
                conn.query_drop(progress_insert(&job)).await?;
                conn.query_drop("COMMIT").await?;
                Ok::<_, mysql_async::Error>(Ok(loaded))
            }
            .await;
            let damaged = failure.lock().ok().and_then(|mut s| s.take());
            if let Some(e) = damaged {
                let _ = conn.query_drop("ROLLBACK").await;
                return Err(e);
            }
            match done {
                Ok(Ok(loaded)) => break loaded,
                Ok(Err(msg)) => return Err(Error::Mismatch(format!("{what}: {msg}"))),
                // Two loaders filling one table can deadlock (1213) or time out on a lock
                // (1205); the transaction is rolled back whole, so a retry cannot duplicate.
                Err(mysql_async::Error::Server(e))
                    if (e.code == 1213 || e.code == 1205) && attempt < 8 =>
                {
                    let _ = conn.query_drop("ROLLBACK").await;
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => return Err(Error::sql(what.clone())(e)),
            }
        };
        rows += loaded;
        progress.advance(job.object.raw_size, loaded);
        // The table's last chunk: build its deferred keys and check it now, while others
        // still load.
        let key = (job.schema.clone(), job.table.clone());
        let finished = {
            let mut w = work
                .lock()
                .map_err(|_| Error::Internal("loader state poisoned".into()))?;
            match w.get_mut(&key) {
                Some(t) => {
                    t.remaining = t.remaining.saturating_sub(1);
                    t.loaded += loaded;
                    if t.remaining == 0 {
                        let entry = t.entry.take().map(|e| (e, t.fresh, t.loaded));
                        Some((std::mem::take(&mut t.keys), entry))
                    } else {
                        None
                    }
                }
                None => None,
            }
        };
        if let Some((keys, entry)) = finished {
            add_missing_keys(&mut conn, &job.schema, &job.table, &keys).await?;
            if let Some((tb, fresh, loaded)) = entry {
                // A table created empty by this run whose every chunk loaded its recorded
                // count (checked in the chunk's transaction) needs no COUNT(*).
                let count = !(fresh && loaded == tb.rows);
                let mut matched = 0;
                verify_table(&mut conn, &job.schema, &tb, count, verify, &mut matched).await?;
                if let Some(t) = work
                    .lock()
                    .map_err(|_| Error::Internal("loader state poisoned".into()))?
                    .get_mut(&key)
                {
                    t.checked = true;
                    t.checksum_matched = matched > 0;
                }
            }
        }
    }
    let _ = conn.disconnect().await;
    Ok((rows, bytes))
}

/// Restores backup `id` from `repo` into `target`.
pub async fn run(
    repo: &Repository,
    id: &str,
    target: Target,
    policy: &Policy<'_>,
    opts: &RestoreOptions,
    audit: &mut Audit,
    progress: Arc<dyn crate::progress::Progress>,
) -> Result<Outcome, Error> {
    let t0 = Instant::now();
    let manifest = repo.manifest(id).await?;
    let body = Body::of(&manifest)?;
    let selection = select(&body, opts)?;
    for (_, target_name) in &selection {
        if SYSTEM_SCHEMAS.contains(&target_name.as_str()) {
            return Err(crate::target::guard::Refusal::Unsafe {
                action: format!("restore into {target_name}"),
                reason: "it is a system schema".into(),
            }
            .into());
        }
    }
    let mut warnings = Vec::new();
    for (s, target_name) in &selection {
        for d in s
            .views
            .iter()
            .chain(&s.triggers)
            .chain(&s.routines)
            .chain(&s.events)
        {
            if target_name != &s.name && mentions_unquoted(&d.create, &s.name) {
                warnings.push(format!(
                    "{target_name}.{}: its definition names `{}` without backquotes; such references were not renamed, check them",
                    d.name, s.name
                ));
            }
        }
    }

    // The target, through the guard; a side instance sized for the rows.
    let logical: u64 = selection
        .iter()
        .flat_map(|(s, _)| &s.tables)
        .flat_map(|tb| &tb.chunks)
        .filter_map(|c| manifest.object(&c.object))
        .map(|o| o.raw_size)
        .sum();
    let side = side_settings(logical, &opts.sandbox_set);
    let (mut t, conn_opts, sandbox) = open_target(
        target,
        Some(lifeboat_server::WantedServer::from_version(
            &body.server.version,
        )),
        &side,
        opts.resume,
        policy,
        audit,
        "restore",
    )
    .await?;
    let ident = t.info.identity.id();
    let endpoint = t.endpoint.clone();
    let vouched = t.vouched();
    let target_dbs: Vec<String> = selection.iter().map(|(_, n)| n.clone()).collect();

    // Loading connections first, so the session check sees them as ours.
    let threads = opts.threads.clamp(1, 64);
    let mut loaders = Vec::with_capacity(threads);
    let mut binlog_logged = false;
    for _ in 0..threads {
        let mut c = connect(&conn_opts).await?;
        c.query_drop(
            "SET NAMES binary, time_zone = '+00:00', foreign_key_checks = 0, unique_checks = 0, \
             sql_mode = 'NO_AUTO_VALUE_ON_ZERO'",
        )
        .await
        .map_err(Error::sql("preparing a loading session"))?;
        strict_mode_off(&mut c).await;
        binlog_logged |= !binlog_off(&mut c).await;
        loaders.push(c);
    }
    if binlog_logged {
        warnings.push(
            "the account may not disable sql_log_bin: the load is written to the target's binlog"
                .into(),
        );
    }
    let mut own: Vec<u32> = loaders.iter().map(Conn::id).collect();
    own.push(t.conn().id());
    let expect_existing: &[String] = if opts.resume { &[] } else { &target_dbs };
    let reasons = refusals(&mut t, expect_existing, &own).await?;
    if !reasons.is_empty() {
        if opts.force {
            warnings.push(format!(
                "--force: restoring although {}",
                reasons.join("; ")
            ));
        } else {
            let refusal = Refusal::Unsafe {
                action: format!("restore into {ident}"),
                reason: format!("{} (pass --force if this is intended)", reasons.join("; ")),
            };
            return Err(audit.refuse("restore", &ident, &endpoint, refusal));
        }
    }

    // --force lets the restore into a database the target has, never into a table it has:
    // the rows would mix with the table's own.
    if !opts.resume {
        let mut clash = Vec::new();
        for (s, name) in &selection {
            for tb in &s.tables {
                if table_exists(t.conn(), name, &tb.name)
                    .await
                    .map_err(Error::sql("checking tables"))?
                {
                    clash.push(format!("{name}.{}", tb.name));
                }
            }
        }
        if !clash.is_empty() {
            let refusal = Refusal::Unsafe {
                action: format!("restore into {ident}"),
                reason: format!(
                    "it has table(s) {} already; a restore creates its tables (drop or rename them, or restore under another name with --rename DB=NEWDB)",
                    clash.join(", ")
                ),
            };
            return Err(audit.refuse("restore", &ident, &endpoint, refusal));
        }
    }

    let result = async {
        // Pre-flight, before anything is created: the load needs LOAD DATA LOCAL.
        if !local_infile_on(t.conn()).await? {
            return Err(Error::Mismatch(format!(
                "{ident} has local_infile=OFF, which the parallel load needs; nothing was changed. Run SET GLOBAL local_infile = 1 on it for the restore"
            )));
        }

        // Progress, recorded on the target with the rows it describes.
        ddl_session(t.conn()).await?;
        let _ = binlog_off(t.conn()).await;
        t.conn()
            .query_drop(format!(
                "CREATE DATABASE IF NOT EXISTS {PROGRESS_DB}; \
                 CREATE TABLE IF NOT EXISTS {PROGRESS_DB}.chunks (backup_id VARCHAR(64) NOT NULL, \
                 db VARCHAR(64) NOT NULL, tbl VARCHAR(64) NOT NULL, chunk_no INT UNSIGNED NOT NULL, \
                 PRIMARY KEY (backup_id, db, tbl, chunk_no)) ENGINE=InnoDB"
            ))
            .await
            .map_err(Error::sql("creating the restore progress table"))?;
        let backup_lit = crate::protect::backup::lit(&manifest.id.0);
        let mut done: std::collections::HashSet<(String, String, u64)> = if opts.resume {
            t.conn()
                .query(format!("SELECT db, tbl, chunk_no FROM {PROGRESS_DB}.chunks WHERE backup_id = {backup_lit}"))
                .await
                .map_err(Error::sql("reading restore progress"))?
                .into_iter()
                .collect()
        } else {
            t.conn()
                .query_drop(format!("DELETE FROM {PROGRESS_DB}.chunks WHERE backup_id = {backup_lit}"))
                .await
                .map_err(Error::sql("clearing restore progress"))?;
            Default::default()
        };
        // No record of this backup on the target: the restore either finished (it drops its
        // records when done, so a kill in its last moments leaves none) or never committed a
        // chunk. Loading onto full tables would duplicate rows: resume only from empty
        // tables, or recognise a finished restore by its row counts.
        let mut already_complete = false;
        if opts.resume && done.is_empty() {
            let mut populated = Vec::new();
            let mut all_match = true;
            for (s, name) in &selection {
                for tb in &s.tables {
                    let present = table_exists(t.conn(), name, &tb.name)
                    .await
                    .map_err(Error::sql("checking tables"))?;
                    let rows: u64 = if present {
                        t.conn()
                            .query_first(format!("SELECT COUNT(*) FROM {}.{}", q(name), q(&tb.name)))
                            .await
                            .map_err(Error::sql("counting rows"))?
                            .unwrap_or(0)
                    } else {
                        0
                    };
                    if rows > 0 {
                        populated.push(format!("{name}.{}", tb.name));
                    }
                    all_match &= present && rows == tb.rows;
                }
            }
            if all_match && !populated.is_empty() {
                already_complete = true;
                warnings.push("--resume: every table already holds the backup's row count; nothing left to load".into());
            } else if !populated.is_empty() {
                return Err(Error::Mismatch(format!(
                    "nothing to resume: the target has no progress record of backup {} and its tables hold other row counts than the backup ({})",
                    manifest.id,
                    populated.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let mut skipped = 0usize;
        let mut work: BTreeMap<(String, String), TableWork> = BTreeMap::new();

        // Databases and tables (on resume, those already there are kept).
        for (s, name) in &selection {
            let db_there = (opts.resume || opts.force)
                && exists(t.conn(), format!("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}", crate::protect::backup::lit(name)))
                    .await
                    .map_err(Error::sql("checking databases"))?;
            if !db_there {
                let create = rename_create_database(&s.create, &s.name, name);
                t.conn()
                    .query_drop(&create)
                    .await
                    .map_err(Error::sql(format!("creating database {name}")))?;
            }
            t.conn()
                .query_drop(format!("USE {}", q(name)))
                .await
                .map_err(Error::sql("USE"))?;
            for tb in &s.tables {
                let table_there = opts.resume
                    && table_exists(t.conn(), name, &tb.name)
                    .await
                    .map_err(Error::sql("checking tables"))?;
                if !table_there {
                    t.conn()
                        .query_drop(&tb.create)
                        .await
                        .map_err(Error::sql(format!("creating table {name}.{}", tb.name)))?;
                    let keys = deferred_keys(&selection, tb);
                    if !keys.is_empty() {
                        let drop = keys
                            .iter()
                            .map(|k| format!("DROP INDEX {}", q(&k.name)))
                            .collect::<Vec<_>>()
                            .join(", ");
                        // Refused (say, an AUTO_INCREMENT column indexed only there): the
                        // table loads with its keys in place.
                        let dropped = t
                            .conn()
                            .query_drop(format!("ALTER TABLE {}.{} {drop}", q(name), q(&tb.name)))
                            .await
                            .is_ok();
                        if !dropped {
                            warnings.push(format!(
                                "{name}.{}: secondary keys kept during the load (the server refused to drop them first)",
                                tb.name
                            ));
                        }
                    }
                    work.entry((name.clone(), tb.name.clone())).or_default().fresh = true;
                } else if !tb.engine.eq_ignore_ascii_case("InnoDB") && !already_complete {
                    // Non-transactional: a chunk may be half in. Reload the table whole.
                    t.conn()
                        .query_drop(format!("TRUNCATE TABLE {}.{}", q(name), q(&tb.name)))
                        .await
                        .map_err(Error::sql(format!("emptying {name}.{}", tb.name)))?;
                    t.conn()
                        .query_drop(format!(
                            "DELETE FROM {PROGRESS_DB}.chunks WHERE backup_id = {backup_lit} AND db = {} AND tbl = {}",
                            crate::protect::backup::lit(name),
                            crate::protect::backup::lit(&tb.name)
                        ))
                        .await
                        .map_err(Error::sql("clearing restore progress"))?;
                    done.retain(|(d, tbl, _)| !(d == name && tbl == &tb.name));
                }
            }
        }

        // Data: largest tables first.
        let mut jobs: Vec<(u64, Load)> = Vec::new();
        for (s, name) in &selection {
            for tb in &s.tables {
                let size: u64 = tb
                    .chunks
                    .iter()
                    .filter_map(|c| manifest.object(&c.object))
                    .map(|o| o.raw_size)
                    .sum();
                for (chunk_no, c) in tb.chunks.iter().enumerate() {
                    if already_complete || done.contains(&(name.clone(), tb.name.clone(), chunk_no as u64)) {
                        skipped += 1;
                        continue;
                    }
                    let object = manifest.object(&c.object).cloned().ok_or_else(|| {
                        Error::Mismatch(format!(
                            "manifest of {id} names object {} but does not list it",
                            c.object
                        ))
                    })?;
                    jobs.push((
                        size,
                        Load {
                            schema: name.clone(),
                            table: tb.name.clone(),
                            columns: load_columns(&tb.columns, &tb.text_columns),
                            object,
                            rows: c.rows,
                            chunk_no,
                            backup: manifest.id.to_string(),
                            transactional: tb.engine.eq_ignore_ascii_case("InnoDB"),
                        },
                    ));
                    let w = work.entry((name.clone(), tb.name.clone())).or_default();
                    w.remaining += 1;
                    if w.entry.is_none() {
                        w.entry = Some(tb.clone());
                        // Whoever dropped them (this run or an interrupted one), the loader
                        // that finishes the table adds back the ones missing.
                        w.keys = deferred_keys(&selection, tb);
                    }
                }
            }
        }
        jobs.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
        progress.start("restore", jobs.iter().map(|(_, j)| j.object.raw_size).sum());
        let queue = Arc::new(Mutex::new(
            jobs.into_iter().map(|(_, j)| j).collect::<VecDeque<_>>(),
        ));
        let work: WorkMap = Arc::new(Mutex::new(work));
        let handles: Vec<_> = loaders
            .drain(..)
            .map(|c| {
                tokio::spawn(loader(
                    c,
                    repo.clone(),
                    queue.clone(),
                    work.clone(),
                    opts.verify,
                    progress.clone(),
                ))
            })
            .collect();
        let (mut rows, mut bytes) = (0u64, 0u64);
        let mut first_err = None;
        for h in handles {
            match h.await {
                Ok(Ok((r, b))) => {
                    rows += r;
                    bytes += b;
                }
                Ok(Err(e)) => {
                    // Stop the others early: nothing more is worth loading.
                    if let Ok(mut q) = queue.lock() {
                        q.clear();
                    }
                    first_err.get_or_insert(e);
                }
                Err(j) => {
                    first_err.get_or_insert(Error::Mismatch(format!("a loader failed: {j}")));
                }
            }
        }
        progress.finish();
        if let Some(e) = first_err {
            return Err(e);
        }
        // Every deferred key exists now: tables no loader finished (no chunks, or loaded by
        // an interrupted run that had dropped their keys) get theirs here.
        let work = std::mem::take(
            &mut *work
                .lock()
                .map_err(|_| Error::Internal("loader state poisoned".into()))?,
        );
        let finished = |db: &String, tb: &TableEntry| {
            work.get(&(db.clone(), tb.name.clone()))
                .is_some_and(|w| w.checked)
        };
        for (s, name) in &selection {
            for tb in s.tables.iter().filter(|tb| !finished(name, tb)) {
                let keys = deferred_keys(&selection, tb);
                add_missing_keys(t.conn(), name, &tb.name, &keys).await?;
            }
        }
        ddl_session(t.conn()).await?;

        // Objects that depend on the data: triggers after it (they must not fire during the
        // load), then views (in dependency order), routines, events.
        for (s, name) in &selection {
            for d in &s.triggers {
                tolerate_existing(apply_ddl(t.conn(), name, d).await, opts.resume)
                    .map_err(Error::sql(format!("creating trigger {name}.{}", d.name)))?;
            }
            for d in &s.routines {
                tolerate_existing(apply_ddl(t.conn(), name, d).await, opts.resume)
                    .map_err(Error::sql(format!("creating routine {name}.{}", d.name)))?;
            }
            for d in &s.events {
                tolerate_existing(apply_ddl(t.conn(), name, d).await, opts.resume)
                    .map_err(Error::sql(format!("creating event {name}.{}", d.name)))?;
            }
        }
        let mut views: Vec<(String, Ddl)> = selection
            .iter()
            .flat_map(|(s, name)| {
                s.views.iter().map(move |v| (name.clone(), v.clone()))
            })
            .collect();
        // A view may use another view: retry until a round makes no progress.
        while !views.is_empty() {
            let before = views.len();
            let mut failed = Vec::new();
            let mut last_err = None;
            for (db, v) in views.drain(..) {
                if let Err(e) = tolerate_existing(apply_ddl(t.conn(), &db, &v).await, opts.resume) {
                    last_err = Some((format!("creating view {db}.{}", v.name), e));
                    failed.push((db, v));
                }
            }
            if failed.len() == before
                && let Some((what, e)) = last_err
            {
                return Err(Error::sql(what)(e));
            }
            views = failed;
        }

        if opts.users {
            if body.users.is_empty() {
                warnings.push(
                    "--users: this backup holds no accounts (take it with `backup --users`)".into(),
                );
            }
            restore_accounts(t.conn(), &body.users, &mut warnings).await?;
        }

        if let Some(w) = cover_backup_gtids(
            t.conn(),
            body.gtid.as_deref(),
            opts.tables.is_empty(),
            sandbox.is_some(),
        )
        .await?
        {
            warnings.push(w);
        }

        // Row counts always; checksums with --verify. Tables a loader finished are checked
        // already.
        let mut matched = 0usize;
        for (s, name) in &selection {
            for tb in &s.tables {
                match work.get(&(name.clone(), tb.name.clone())) {
                    Some(w) if w.checked => matched += usize::from(w.checksum_matched),
                    _ => verify_table(t.conn(), name, tb, true, opts.verify, &mut matched).await?,
                }
            }
        }
        // Done: the progress records are no longer needed.
        t.conn()
            .query_drop(format!("DELETE FROM {PROGRESS_DB}.chunks WHERE backup_id = {backup_lit}"))
            .await
            .map_err(Error::sql("clearing restore progress"))?;
        let left: Option<u64> = t
            .conn()
            .query_first(format!("SELECT COUNT(*) FROM {PROGRESS_DB}.chunks"))
            .await
            .map_err(Error::sql("reading restore progress"))?;
        if left == Some(0) {
            t.conn()
                .query_drop(format!("DROP DATABASE {PROGRESS_DB}"))
                .await
                .map_err(Error::sql("dropping the restore progress schema"))?;
        }
        if skipped > 0 {
            warnings.push(format!("resumed: {skipped} chunk(s) were already loaded and were skipped"));
        }
        Ok::<_, Error>((rows, bytes, matched))
    }
    .await;

    match result {
        Ok((rows, bytes, matched)) => {
            let outcome = Outcome {
                backup: manifest.id.to_string(),
                target: ident.clone(),
                sandbox,
                databases: target_dbs,
                tables: selection.iter().map(|(s, _)| s.tables.len()).sum(),
                rows,
                bytes,
                duration_ms: t0.elapsed().as_millis() as u64,
                checksums_matched: matched,
                warnings,
                vouched,
            };
            let detail = format!(
                "backup {} -> {}: {} tables, {} rows{}",
                outcome.backup,
                outcome.databases.join(","),
                outcome.tables,
                rows,
                if opts.verify {
                    format!(", {matched} checksums matched")
                } else {
                    String::new()
                }
            );
            audit.record("restore", &ident, &endpoint, "ok", Some(detail))?;
            Ok(outcome)
        }
        Err(e) => {
            audit.record("restore", &ident, &endpoint, "failed", Some(e.to_string()))?;
            Err(e)
        }
    }
}

/// The accounts of `backup --users`: every account first, then every grant, so a role exists
/// before it is granted or named as a default role (`CREATE USER ... DEFAULT ROLE r` fails
/// with 3162 until `r` exists), whatever order the names sort in. Accounts the target has
/// are left alone and reported.
async fn restore_accounts(
    conn: &mut Conn,
    users: &[crate::protect::backup::UserEntry],
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    let mut new = Vec::new();
    for u in users {
        let exists: Option<u64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?",
                (&u.user, &u.host),
            )
            .await
            .map_err(Error::sql("checking accounts"))?;
        if exists.unwrap_or(0) > 0 {
            warnings.push(format!(
                "account '{}'@'{}' exists on the target: left unchanged",
                u.user, u.host
            ));
        } else {
            new.push(u);
        }
    }
    let what = |u: &crate::protect::backup::UserEntry| {
        format!("restoring account '{}'@'{}'", u.user, u.host)
    };
    // Passes until every account exists: one that names an account not created yet waits.
    let mut pending = new.clone();
    while !pending.is_empty() {
        let mut waiting = Vec::new();
        let mut last = None;
        for u in &pending {
            match conn.query_drop(&u.create).await {
                Ok(()) => {}
                Err(mysql_async::Error::Server(e)) if e.code == 3162 => {
                    waiting.push(*u);
                    last = Some((*u, mysql_async::Error::Server(e)));
                }
                Err(e) => return Err(Error::sql(what(u))(e)),
            }
        }
        if waiting.len() == pending.len()
            && let Some((u, e)) = last
        {
            return Err(Error::sql(what(u))(e));
        }
        pending = waiting;
    }
    for u in new {
        for g in &u.grants {
            conn.query_drop(g).await.map_err(Error::sql(what(u)))?;
        }
    }
    Ok(())
}

/// After a whole backup is restored, the target's GTID state covers the backup's, so it can
/// become a replica of the source (auto-positioning starts after the backup) and a replay
/// continues from it: MySQL gets the GTIDs it lacks added to `gtid_purged`; MariaDB gets
/// `gtid_slave_pos` on a side instance, or on a server that replicates from nowhere yet.
/// Returns a warning when the state is left alone.
async fn cover_backup_gtids(
    conn: &mut Conn,
    backup_gtids: Option<&str>,
    whole: bool,
    own_sandbox: bool,
) -> Result<Option<String>, Error> {
    let Some(gtids) = backup_gtids.map(str::trim).filter(|g| !g.is_empty()) else {
        return Ok(None);
    };
    if !whole {
        // Some tables only: the others' transactions are not in the target.
        return Ok(None);
    }
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(Error::sql("VERSION()"))?;
    if version.is_some_and(|v| v.to_ascii_lowercase().contains("mariadb")) {
        let current: Option<String> = conn
            .query_first("SELECT @@GLOBAL.gtid_slave_pos")
            .await
            .map_err(Error::sql("gtid_slave_pos"))?;
        if !own_sandbox && current.as_deref().is_some_and(|c| !c.trim().is_empty()) {
            return Ok(Some(format!(
                "the target's gtid_slave_pos ({}) was left alone; the backup's GTID position is {gtids}",
                current.unwrap_or_default()
            )));
        }
        // gtid_strict_mode refuses a position behind the target's own binlog: the data is
        // restored all the same.
        return Ok(conn
            .query_drop(format!("SET GLOBAL gtid_slave_pos = {}", lit(gtids)))
            .await
            .err()
            .map(|e| {
                format!("the target's gtid_slave_pos could not be set to the backup's GTID position {gtids} ({e})")
            }));
    }
    let missing: Option<String> = conn
        .query_first(format!(
            "SELECT GTID_SUBTRACT({}, @@GLOBAL.gtid_executed)",
            lit(gtids)
        ))
        .await
        .map_err(Error::sql("GTID_SUBTRACT"))?;
    let missing = missing.unwrap_or_default();
    if missing.trim().is_empty() {
        return Ok(None);
    }
    match conn
        .query_drop(format!(
            "SET GLOBAL gtid_purged = {}",
            lit(&format!("+{missing}"))
        ))
        .await
    {
        Ok(()) => Ok(None),
        // gtid_mode=OFF, or GTIDs the server cannot take: the data is restored all the same.
        Err(e) => Ok(Some(format!(
            "the backup's GTIDs could not be added to the target's gtid_purged ({e}); to make it a replica, SET GLOBAL gtid_purged = '+{missing}'"
        ))),
    }
}

/// Whether the server accepts LOAD DATA LOCAL (its `local_infile`).
pub(crate) async fn local_infile_on(conn: &mut Conn) -> Result<bool, Error> {
    let v: Option<String> = conn
        .query_first("SELECT @@GLOBAL.local_infile")
        .await
        .map_err(Error::sql("reading local_infile"))?;
    Ok(!matches!(v.as_deref(), Some("0" | "OFF")))
}

/// Connects to where a command writes: a new side instance started in the directory (one
/// already running there is reused when `reuse_running`, as by a resumed restore), or a
/// server the operator vouches for through the guard (a refusal is journaled under
/// `command`).
pub(crate) async fn open_target(
    target: Target,
    wanted: Option<lifeboat_server::WantedServer>,
    settings: &[String],
    reuse_running: bool,
    policy: &Policy<'_>,
    audit: &mut Audit,
    command: &str,
) -> Result<(GuardedTarget, ConnectOptions, Option<Started>), Error> {
    Ok(match target {
        Target::Sandbox(side) => {
            let dir = side.dir;
            let (sb, applied) = match Sandbox::open(&dir) {
                Ok(sb) if reuse_running && sb.is_running() => {
                    sb.await_ready(std::time::Duration::from_secs(120)).await?;
                    (sb, Vec::new())
                }
                _ => {
                    let mut o = SandboxOptions::new(dir);
                    o.server_binary = side.mysqld;
                    o.wanted = wanted;
                    o.server_settings = settings.to_vec();
                    (Sandbox::start(&o).await?, o.server_settings)
                }
            };
            crate::target::side::registry().add(&sb)?;
            let o = sb.connect_options();
            let mut conn = connect(&o).await?;
            let info = ServerInfo::probe(&mut conn).await?;
            let started = Started {
                settings: applied,
                ..Started::from(&sb)
            };
            (guard::own_sandbox(conn, info, &o), o, Some(started))
        }
        Target::Server(o) => {
            let mut conn = connect(&o).await?;
            let info = ServerInfo::probe(&mut conn).await?;
            let (ident, ep) = (info.identity.id(), o.endpoint.to_string());
            match guard::check(conn, info, &o, policy) {
                Ok(t) => (t, o, None),
                Err(r) => return Err(audit.refuse(command, &ident, &ep, r)),
            }
        }
    })
}

async fn exists(conn: &mut Conn, sql: String) -> Result<bool, mysql_async::Error> {
    conn.query_first::<u64, _>(sql)
        .await
        .map(|n| n.unwrap_or(0) > 0)
}

async fn table_exists(conn: &mut Conn, db: &str, table: &str) -> Result<bool, mysql_async::Error> {
    let sql = format!(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
        crate::protect::backup::lit(db),
        crate::protect::backup::lit(table)
    );
    exists(conn, sql).await
}

/// The keys of `tb` that the load builds afterwards (none when another restored table's
/// foreign key may rely on them).
fn deferred_keys(
    selection: &[(SchemaEntry, String)],
    tb: &TableEntry,
) -> Vec<crate::recover::restore::keys::DeferredKey> {
    let creates = selection
        .iter()
        .flat_map(|(s, _)| s.tables.iter().map(|t| t.create.as_str()));
    if crate::recover::restore::keys::referenced_by_foreign_key(&tb.name, creates) {
        return Vec::new();
    }
    crate::recover::restore::keys::deferrable(&tb.create)
}

/// On resume, an object the interrupted run already created is fine.
fn tolerate_existing(
    r: Result<(), mysql_async::Error>,
    resume: bool,
) -> Result<(), mysql_async::Error> {
    match r {
        // 1050 table/view, 1304 routine, 1359 trigger, 1537 event: already exists.
        Err(mysql_async::Error::Server(e))
            if resume && matches!(e.code, 1050 | 1304 | 1359 | 1537) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// `(a, @v1, c) SET b = CONVERT(@v1 USING utf8mb4)` for LOAD DATA ... CHARACTER SET binary:
/// columns that take only character data (MySQL's JSON, MariaDB's UUID and INET types) go
/// through a variable.
pub(crate) fn load_columns(columns: &[String], text_columns: &[String]) -> String {
    let mut list = Vec::new();
    let mut set = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        if text_columns.contains(c) {
            list.push(format!("@v{i}"));
            set.push(format!("{} = CONVERT(@v{i} USING utf8mb4)", q(c)));
        } else {
            list.push(q(c));
        }
    }
    let mut s = format!("({})", list.join(", "));
    if !set.is_empty() {
        s.push_str(" SET ");
        s.push_str(&set.join(", "));
    }
    s
}

async fn verify_table(
    conn: &mut Conn,
    db: &str,
    tb: &TableEntry,
    count: bool,
    checksum: bool,
    matched: &mut usize,
) -> Result<(), Error> {
    let fq = format!("{}.{}", q(db), q(&tb.name));
    let n: Option<u64> = if count {
        conn.query_first(format!("SELECT COUNT(*) FROM {fq}"))
            .await
            .map_err(Error::sql(format!("counting rows of {db}.{}", tb.name)))?
    } else {
        Some(tb.rows)
    };
    if n != Some(tb.rows) {
        return Err(Error::Mismatch(format!(
            "{db}.{} has {} rows after restore; the backup recorded {}",
            tb.name,
            n.unwrap_or(0),
            tb.rows
        )));
    }
    if checksum && let Some(expected) = tb.checksum {
        let row: Option<(String, Option<u64>)> = conn
            .query_first(format!("CHECKSUM TABLE {fq}"))
            .await
            .map_err(Error::sql(format!("CHECKSUM TABLE {db}.{}", tb.name)))?;
        let got = row.and_then(|r| r.1);
        if got != Some(expected) {
            return Err(Error::Mismatch(format!(
                "{db}.{}: CHECKSUM TABLE is {} after restore; the backup recorded {expected}",
                tb.name,
                got.map_or("NULL".into(), |g| g.to_string())
            )));
        }
        *matched += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::side_buffer_pool;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    #[test]
    fn side_buffer_pool_fits_the_rows_within_a_quarter_of_the_memory() {
        // Small backups keep the server's default.
        assert_eq!(side_buffer_pool(0, Some(16 * GIB)), None);
        assert_eq!(side_buffer_pool(100 * MIB, Some(16 * GIB)), None);
        // The rows and a quarter more, in 128 MiB steps.
        assert_eq!(
            side_buffer_pool(1109 * MIB, Some(16 * GIB)),
            Some(1408 * MIB)
        );
        assert_eq!(
            side_buffer_pool(1024 * MIB, Some(16 * GIB)),
            Some(1280 * MIB)
        );
        // At most a quarter of the available memory, in whole steps.
        assert_eq!(side_buffer_pool(100 * GIB, Some(16 * GIB)), Some(4 * GIB));
        assert_eq!(side_buffer_pool(100 * GIB, Some(3 * GIB)), Some(768 * MIB));
        // Too little memory for more than the default, or memory unknown.
        assert_eq!(side_buffer_pool(100 * GIB, Some(512 * MIB)), None);
        assert_eq!(side_buffer_pool(100 * GIB, None), None);
        assert_eq!(
            side_buffer_pool(u64::MAX, Some(u64::MAX)),
            Some(u64::MAX / 4 / (128 * MIB) * (128 * MIB))
        );
    }
}
