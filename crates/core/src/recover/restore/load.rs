//! Tables and data: progress records on the target (exactly once), the tables created, the
//! chunks loaded in parallel.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use lifeboat_repo::{ObjectRef, Repository};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::Job;
use super::keys::{add_missing_keys, deferred_keys};
use super::select::rename_create_database;
use super::verify::verify_table;
use crate::error::Error;
use crate::protect::backup::{TableEntry, q};
use crate::target::guard::GuardedTarget;

pub(super) struct Load {
    pub(super) schema: String,
    pub(super) table: String,
    /// The LOAD DATA column list and SET clause.
    pub(super) columns: String,
    pub(super) object: ObjectRef,
    pub(super) rows: u64,
    /// Index of the chunk in its table (the progress key).
    pub(super) chunk_no: usize,
    /// Backup id (the progress key).
    pub(super) backup: String,
    /// InnoDB: streamed into the load (a failure rolls the chunk back). Others are read
    /// whole first, so nothing partial can reach a table that cannot roll back.
    pub(super) transactional: bool,
}

/// Per table: chunks still to load, and the keys to add once they are in.
#[derive(Default)]
pub(super) struct TableWork {
    pub(super) remaining: usize,
    pub(super) keys: Vec<crate::recover::restore::keys::DeferredKey>,
    /// What the backup recorded, for the checks once the table is complete.
    pub(super) entry: Option<TableEntry>,
    /// Created (empty) by this run, so its rows are exactly the chunks loaded now.
    pub(super) fresh: bool,
    /// Rows loaded by this run.
    pub(super) loaded: u64,
    /// Checked by the loader that finished it (row count; checksum with --verify).
    pub(super) checked: bool,
    pub(super) checksum_matched: bool,
}

pub(super) type WorkMap = Arc<Mutex<BTreeMap<(String, String), TableWork>>>;

/// Schema on the target that records which chunks are loaded, in the same transaction as
/// their rows: a killed restore resumes without loading anything twice. Dropped when the
/// restore succeeds.
pub(super) const PROGRESS_DB: &str = "_lifeboat_restore";

pub(super) fn progress_insert(job: &Load) -> String {
    format!(
        "INSERT INTO {PROGRESS_DB}.chunks VALUES ({}, {}, {}, {})",
        crate::protect::backup::lit(&job.backup),
        crate::protect::backup::lit(&job.schema),
        crate::protect::backup::lit(&job.table),
        job.chunk_no
    )
}

pub(super) async fn ddl_session(conn: &mut Conn) -> Result<(), Error> {
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
pub(super) async fn strict_mode_off(conn: &mut Conn) {
    let _ = conn.query_drop("SET SESSION innodb_strict_mode = 0").await;
}

/// Turns the binlog off for a session; false when not allowed (then loads are logged).
pub(super) async fn binlog_off(conn: &mut Conn) -> bool {
    conn.query_drop("SET SESSION sql_log_bin = 0").await.is_ok()
}

pub(super) async fn loader(
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
            .map_err(|_| Error::Internal("loader state poisoned".into()))?
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
                Ok(Err(problem)) => {
                    return Err(Error::Mismatch {
                        subject: what,
                        problem,
                    });
                }
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

pub(super) async fn exists(conn: &mut Conn, sql: String) -> Result<bool, mysql_async::Error> {
    conn.query_first::<u64, _>(sql)
        .await
        .map(|n| n.unwrap_or(0) > 0)
}

pub(super) async fn table_exists(
    conn: &mut Conn,
    db: &str,
    table: &str,
) -> Result<bool, mysql_async::Error> {
    let sql = format!(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
        crate::protect::backup::lit(db),
        crate::protect::backup::lit(table)
    );
    exists(conn, sql).await
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

impl Job<'_> {
    /// The chunks the target already holds (with `--resume`); else its records cleared.
    pub(super) async fn progress_records(
        &self,
        t: &mut GuardedTarget,
    ) -> Result<std::collections::HashSet<(String, String, u64)>, Error> {
        let (opts, backup_lit) = (self.opts, &self.backup_lit);
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
        let done: std::collections::HashSet<(String, String, u64)> = if opts.resume {
            t.conn()
                .query(format!("SELECT db, tbl, chunk_no FROM {PROGRESS_DB}.chunks WHERE backup_id = {backup_lit}"))
                .await
                .map_err(Error::sql("reading restore progress"))?
                .into_iter()
                .collect()
        } else {
            t.conn()
                .query_drop(format!(
                    "DELETE FROM {PROGRESS_DB}.chunks WHERE backup_id = {backup_lit}"
                ))
                .await
                .map_err(Error::sql("clearing restore progress"))?;
            Default::default()
        };
        Ok(done)
    }

    /// With `--resume` and no progress records: whether the restore finished already.
    pub(super) async fn resume_check(
        &self,
        t: &mut GuardedTarget,
        done: &std::collections::HashSet<(String, String, u64)>,
        warnings: &mut Vec<String>,
    ) -> Result<bool, Error> {
        let (manifest, selection, opts) = (self.manifest, self.selection, self.opts);
        // No record of this backup on the target: the restore either finished (it drops its
        // records when done, so a kill in its last moments leaves none) or never committed a
        // chunk. Loading onto full tables would duplicate rows: resume only from empty
        // tables, or recognise a finished restore by its row counts.
        let mut already_complete = false;
        if opts.resume && done.is_empty() {
            let mut populated = Vec::new();
            let mut all_match = true;
            for (s, name) in selection {
                for tb in &s.tables {
                    let present = table_exists(t.conn(), name, &tb.name)
                        .await
                        .map_err(Error::sql("checking tables"))?;
                    let rows: u64 = if present {
                        t.conn()
                            .query_first(format!(
                                "SELECT COUNT(*) FROM {}.{}",
                                q(name),
                                q(&tb.name)
                            ))
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
                return Err(Error::Mismatch {
                    subject: populated
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                    problem: format!(
                        "nothing to resume: the target has no progress record of backup {}, and these tables hold other row counts than the backup",
                        manifest.id
                    ),
                });
            }
        }
        Ok(already_complete)
    }

    /// Databases and tables (on resume, those already there are kept).
    pub(super) async fn create_tables(
        &self,
        t: &mut GuardedTarget,
        done: &mut std::collections::HashSet<(String, String, u64)>,
        already_complete: bool,
        warnings: &mut Vec<String>,
    ) -> Result<BTreeMap<(String, String), TableWork>, Error> {
        let (selection, opts, backup_lit) = (self.selection, self.opts, &self.backup_lit);
        let mut work: BTreeMap<(String, String), TableWork> = BTreeMap::new();
        // Databases and tables (on resume, those already there are kept).
        for (s, name) in selection {
            let db_there = (opts.resume || opts.force)
                && exists(
                    t.conn(),
                    format!(
                        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
                        crate::protect::backup::lit(name)
                    ),
                )
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
                    let keys = deferred_keys(selection, tb);
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
                    work.entry((name.clone(), tb.name.clone()))
                        .or_default()
                        .fresh = true;
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
        Ok(work)
    }

    /// The data, by the loading sessions, largest tables first; returns rows and bytes loaded, chunks skipped and what each table's loaders did.
    pub(super) async fn load_data(
        &self,
        mut loaders: Vec<Conn>,
        mut work: BTreeMap<(String, String), TableWork>,
        done: &std::collections::HashSet<(String, String, u64)>,
        already_complete: bool,
    ) -> Result<(u64, u64, usize, BTreeMap<(String, String), TableWork>), Error> {
        let (manifest, selection, opts) = (self.manifest, self.selection, self.opts);
        let (repo, progress, id) = (self.repo, &self.progress, &manifest.id);
        let mut skipped = 0usize;
        // Data: largest tables first.
        let mut jobs: Vec<(u64, Load)> = Vec::new();
        for (s, name) in selection {
            for tb in &s.tables {
                let size: u64 = tb
                    .chunks
                    .iter()
                    .filter_map(|c| manifest.object(&c.object))
                    .map(|o| o.raw_size)
                    .sum();
                for (chunk_no, c) in tb.chunks.iter().enumerate() {
                    if already_complete
                        || done.contains(&(name.clone(), tb.name.clone(), chunk_no as u64))
                    {
                        skipped += 1;
                        continue;
                    }
                    let object =
                        manifest
                            .object(&c.object)
                            .cloned()
                            .ok_or_else(|| Error::Mismatch {
                                subject: format!("the manifest of backup {id}"),
                                problem: format!("names object {} but does not list it", c.object),
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
                        w.keys = deferred_keys(selection, tb);
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
                    first_err.get_or_insert(Error::Task(j));
                }
            }
        }
        progress.finish();
        if let Some(e) = first_err {
            return Err(e);
        }
        let work = std::mem::take(
            &mut *work
                .lock()
                .map_err(|_| Error::Internal("loader state poisoned".into()))?,
        );
        Ok((rows, bytes, skipped, work))
    }
}
