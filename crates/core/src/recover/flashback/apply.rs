//! `flashback --apply`: the undo, in production, through the guard.
//!
//! One target transaction per source transaction, newest first. In it, each row event's rows
//! are checked (a locking read: nothing changes them between the check and the undo), the
//! rows production still holds as the incident left them are undone with one `BINLOG`
//! statement, and the rest are conflicts, reported and left alone. The transaction's id goes
//! into `lifeboat_flashback.undone` in the same commit: a rerun skips it, so an interrupted
//! apply is resumed without undoing anything twice.

use std::collections::HashMap;

use lifeboat_server::{ConnectOptions, ServerInfo, connect};
use mysql_async::prelude::Queryable;
use serde::Serialize;

use super::check::{self, Shape};
use super::walk::Walker;
use super::{Counts, Plan, bound, cascade, describe, file_of, undo_kind};
use crate::error::Error;
use crate::target::guard::{self, Policy, Refusal};
use crate::target::journal::Audit;

/// Where applied transactions are recorded, on the target.
pub const PROGRESS_TABLE: &str = "lifeboat_flashback.undone";

/// Conflicts listed in full; the rest are counted.
const LISTED: usize = 1000;

/// What the apply did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The server.
    pub server: String,
    /// `--dry-run`: checked, nothing written.
    pub dry_run: bool,
    /// Source transactions undone now.
    pub transactions: u64,
    /// Source transactions an earlier run undid already (skipped).
    pub already_undone: u64,
    /// Rows undone per table and kind (`insert`: a deleted row put back; `delete`: an
    /// inserted row removed; `update`: a row set back).
    pub rows: Counts,
    /// Rows read back after their undo, in the same transaction, each holding what it held
    /// before the incident (or gone, for an inserted row removed).
    pub verified: u64,
    /// Rows not undone because production no longer holds what the incident left.
    pub conflicts_total: u64,
    /// The first of them.
    pub conflicts: Vec<Conflict>,
    /// Where progress is recorded on the target.
    pub progress_table: &'static str,
    /// Child rows a cascade changed below the binlog, rebuilt in a side instance, per table
    /// (their undo is counted in `rows`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub rebuilt_cascade: std::collections::BTreeMap<String, u64>,
}

/// A row left as production has it.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    /// The source transaction (GTID, else `file:offset`).
    pub transaction: String,
    /// The row event (`file:offset`).
    pub event: String,
    /// `db.table`.
    pub table: String,
    /// The row's key.
    pub key: String,
    /// Why it was not undone.
    pub reason: &'static str,
    /// What the incident left (`absent` for a row it deleted).
    pub incident_left: String,
    /// What production holds now.
    pub production_holds: String,
}

/// How to undo.
#[derive(Debug, Clone, Copy, Default)]
pub struct How {
    /// Check every row and report; write nothing.
    pub dry_run: bool,
    /// Column level (`recover --mode merge`): an update is undone only in the columns it
    /// changed, and is a conflict only when one of those changed since.
    pub merge: bool,
}

/// Undoes `plan` on the server at `conn_opts` (after the guard), or checks it (`dry_run`).
pub async fn apply(
    plan: &Plan,
    conn_opts: &ConnectOptions,
    policy: &Policy<'_>,
    how: How,
    cascades: cascade::Cascades<'_>,
    audit: &mut Audit,
    ctx: &crate::Context,
) -> Result<Applied, Error> {
    let dry_run = how.dry_run;
    let mut conn = connect(conn_opts).await?;
    let info = ServerInfo::probe(&mut conn).await?;
    let id = info.identity.id();
    let endpoint = conn_opts.endpoint.to_string();
    // A dry run only reads: it needs no confirmation, and holds no writer.
    let mut access = if dry_run {
        Access::Observe(conn)
    } else {
        match guard::check(conn, info.clone(), conn_opts, policy) {
            Ok(t) => Access::Write(Box::new(t)),
            Err(refusal) => return Err(audit.refuse("flashback", &id, &endpoint, refusal)),
        }
    };
    if let Err(refusal) = preflight(access.conn(), &info, plan).await? {
        return Err(audit.refuse("flashback", &id, &endpoint, refusal));
    }
    let supplement = match cascade::prepare(plan, access.conn(), cascades, audit, ctx).await? {
        Ok(s) => s,
        Err(refusal) => return Err(audit.refuse("flashback", &id, &endpoint, refusal)),
    };
    let mut interrupts = ctx.interrupts();
    let progress = ctx.progress();
    let mut out = Applied {
        server: id.clone(),
        dry_run,
        transactions: 0,
        already_undone: 0,
        rows: Counts::default(),
        verified: 0,
        conflicts_total: 0,
        conflicts: Vec::new(),
        progress_table: PROGRESS_TABLE,
        rebuilt_cascade: supplement
            .as_ref()
            .map(|(_, s)| s.rows.clone())
            .unwrap_or_default(),
    };
    let work = async {
        session(&mut access).await?;
        progress.start("flashback", plan.summary.transactions);
        let mut walker = Walker::new(&plan.index)?;
        let mut shapes: HashMap<String, (usize, std::sync::Arc<Shape>)> = HashMap::new();
        let mut fde_sent: Option<u32> = None;
        let mut sim = Simulated::default();
        while let Some((source, trx, entries)) = walker.next_trx()? {
            progress.advance(1, 0);
            if !dry_run && undone(access.conn(), source.id()).await? {
                out.already_undone += 1;
                continue;
            }
            // The file's format description goes first, outside the transaction (MySQL
            // refuses it inside one): the server reads the undo events as that file's.
            if let Some(t) = access.writer()
                && fde_sent != Some(trx.file)
            {
                let (_, name) = file_of(plan, trx.file)?;
                let raw = &plan.index.files[trx.file as usize].fde_raw;
                t.conn()
                    .query_drop(super::binlog_statement(raw))
                    .await
                    .map_err(Error::sql(format!(
                        "sending the format description of {name}"
                    )))?;
                fde_sent = Some(trx.file);
            }
            access
                .conn()
                .query_drop(begin(plan, trx.file))
                .await
                .map_err(Error::sql("starting the undo's transaction"))?;
            for i in (0..entries.len()).rev() {
                let e = entries[i];
                let step = walker.step(&e, bound(&entries, i, &trx))?;
                let (fde, name) = file_of(plan, e.file)?;
                plan.definition_known(&step.map.table, &step.map.def)?;
                undo_event(
                    &mut access,
                    &mut shapes,
                    &mut out,
                    how,
                    &source,
                    &step,
                    fde,
                    name,
                    &mut sim,
                )
                .await?;
                // The children the server changed below the binlog: right after the undo
                // of the transaction's first parent DELETE (every parent is back by then),
                // before its older events (which may need them).
                if let Some((found, sup)) = &supplement
                    && found.is(&trx)
                    && found.first_parent() == Some(i)
                {
                    let (fde, _) = file_of(plan, trx.file)?;
                    for step in sup.steps() {
                        let name = cascade::Supplement::NAME;
                        undo_event(
                            &mut access,
                            &mut shapes,
                            &mut out,
                            how,
                            &source,
                            &step?,
                            fde,
                            name,
                            &mut sim,
                        )
                        .await?;
                    }
                }
            }
            match access.writer() {
                None => {
                    access
                        .conn()
                        .query_drop("ROLLBACK")
                        .await
                        .map_err(Error::sql("ROLLBACK"))?;
                }
                Some(t) => {
                    t.conn()
                        .exec_drop(
                            format!("INSERT INTO {PROGRESS_TABLE} (source, undone_at) VALUES (?, NOW(6))"),
                            (source.id(),),
                        )
                        .await
                        .map_err(Error::sql("recording the undone transaction"))?;
                    t.conn()
                        .query_drop("COMMIT")
                        .await
                        .map_err(Error::sql("COMMIT of the undo"))?;
                }
            }
            out.transactions += 1;
        }
        progress.finish();
        if sim.full {
            ctx.note(&format!(
                "the dry run remembered the first {SIMULATED} keys its undo would touch; checks of keys touched again after those read production as it is"
            ));
        }
        Ok::<(), Error>(())
    };
    let result = tokio::select! {
        r = work => r,
        signal = crate::interrupt::of(&mut interrupts) => Err(Error::interrupted(
            signal,
            "run the same command again: the transactions undone are recorded and skipped",
        )),
    };
    drop(interrupts);
    if !dry_run {
        let detail = match &result {
            Ok(()) => format!(
                "{} transactions undone, {} skipped as undone before, {} conflicts",
                out.transactions, out.already_undone, out.conflicts_total
            ),
            Err(e) => e.to_string(),
        };
        let outcome = match &result {
            Ok(()) if out.conflicts_total > 0 => "conflicts",
            Ok(()) => "ok",
            Err(e) => e.outcome(),
        };
        audit.record("flashback", &id, &endpoint, outcome, Some(detail))?;
    }
    result.map(|()| out)
}

/// Checks one row event's rows against production and, unless dry, undoes those that hold
/// what the incident left (one `BINLOG` statement); the rest are conflicts.
#[allow(clippy::too_many_arguments)]
async fn undo_event(
    access: &mut Access,
    shapes: &mut HashMap<String, (usize, std::sync::Arc<Shape>)>,
    out: &mut Applied,
    how: How,
    source: &super::walk::Source,
    step: &super::walk::Step,
    fde: &lifeboat_binlog::FormatDescription,
    name: &str,
    sim: &mut Simulated,
) -> Result<(), Error> {
    let How { dry_run, merge } = how;
    let decoded = step.decode(fde, name)?;
    let rows = decoded.rows(&step.map.def)?;
    let table = step.map.table.clone();
    let width = step.map.def.columns.len();
    let shape = match shapes.get(&table) {
        Some((w, s)) if *w == width => std::sync::Arc::clone(s),
        _ => {
            let s =
                std::sync::Arc::new(check::shape_of(access.conn(), &table, &step.map.def).await?);
            shapes.insert(table.clone(), (width, s.clone()));
            s
        }
    };
    let cols = shape.columns(&step.map.def);
    let groups = if merge {
        super::merge::groups(&rows, &shape.key, width)
    } else {
        vec![(None, rows)]
    };
    for (narrow, rows) in &groups {
        let expects = check::expectations(&shape, &cols, rows.iter(), name, step.offset)?;
        let found: Vec<(Option<u64>, Option<i64>)> = access
            .conn()
            .query(check::query(&shape, &expects, !dry_run))
            .await
            .map_err(Error::sql(format!("checking the rows of {table}")))?;
        let mut findings = check::findings(&expects, &found);
        if dry_run {
            sim.correct(&table, &expects, &mut findings);
        }
        let verdicts: Vec<_> = findings
            .iter()
            .zip(&expects)
            .map(|(f, e)| f.verdict(e))
            .collect();
        let mut keep = Vec::with_capacity(rows.len());
        for (row, verdict) in rows.iter().zip(&verdicts) {
            match verdict {
                None => {
                    keep.push(row);
                    out.rows.add(&table, undo_kind(row), 1);
                }
                Some(reason) => {
                    out.conflicts_total += 1;
                    if out.conflicts.len() < LISTED {
                        let now = holds(access.conn(), &shape, &cols, row).await?;
                        out.conflicts.push(Conflict {
                            transaction: source.id().to_owned(),
                            event: format!("{name}:{}", step.offset),
                            table: table.clone(),
                            key: key_text(&shape, &cols, row),
                            reason,
                            incident_left: row.after.as_ref().map_or_else(
                                || "absent".into(),
                                |a| describe(&shape, &cols, a, None),
                            ),
                            production_holds: now,
                        });
                    }
                }
            }
        }
        let Some(t) = access.writer() else {
            sim.record(&shape, &cols, &table, &keep);
            continue;
        };
        if keep.is_empty() {
            continue;
        }
        let stmt = decoded.binlog_statement(&step.map, &keep, narrow.as_deref(), fde, name)?;
        if let Err(err) = t.conn().query_drop(stmt).await {
            let _ = t.conn().query_drop("ROLLBACK").await;
            return Err(Error::sql(format!(
                "undoing {table} ({name}:{}; source transaction {}); nothing of that transaction was undone",
                step.offset,
                source.id()
            ))(err));
        }
        // Read back in the same transaction: each row now holds what it held before the
        // incident (or is gone), as the undo meant, whatever the server made of the event.
        let undone: Vec<lifeboat_binlog::Row<'_>> = keep
            .iter()
            .map(|r| lifeboat_binlog::Row {
                before: r.after.clone(),
                after: r.before.clone(),
            })
            .collect();
        let expects = check::expectations(&shape, &cols, undone.iter(), name, step.offset)?;
        let found: Vec<(Option<u64>, Option<i64>)> = t
            .conn()
            .query(check::query(&shape, &expects, false))
            .await
            .map_err(Error::sql(format!("reading back the rows of {table}")))?;
        let wrong = check::verdicts(&expects, &found)
            .iter()
            .filter(|v| v.is_some())
            .count();
        if wrong > 0 {
            let _ = t.conn().query_drop("ROLLBACK").await;
            return Err(Error::Mismatch {
                subject: table,
                problem: format!(
                    "after the undo of {name}:{} (source transaction {}), {wrong} of {} rows do not hold what they held before the incident; that transaction was rolled back, nothing of it was undone",
                    step.offset,
                    source.id(),
                    keep.len()
                ),
            });
        }
        out.verified += keep.len() as u64;
    }
    Ok(())
}

/// What a dry run's undo would have left at the keys it touched, so that a later check of
/// the same key (an older change of the row: a dry run goes newest first and writes nothing)
/// reads that instead of production. Hashes of the check's predicates: the table and key,
/// and the whole row (`None`: the key would be free). Bounded: past [`SIMULATED`] keys, the
/// rest are read from production as they are (their counts may then include conflicts a real
/// run would not have), and the report says so.
#[derive(Default)]
struct Simulated {
    rows: HashMap<u64, Option<u64>>,
    full: bool,
}

/// Keys a dry run remembers (about 40 bytes each).
const SIMULATED: usize = 1 << 20;

fn hash(parts: &[&str]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

impl Simulated {
    /// Replaces what production says by what the undo so far would have left.
    fn correct(&self, table: &str, expects: &[check::Expect], findings: &mut [check::Found]) {
        if self.rows.is_empty() {
            return;
        }
        for (e, f) in expects.iter().zip(findings.iter_mut()) {
            if let Some((key, same)) = &e.present
                && let Some(state) = self.rows.get(&hash(&[table, key]))
            {
                f.present = state.is_some();
                f.same = *state == Some(hash(&[same]));
            }
            if let Some(key) = &e.free
                && let Some(state) = self.rows.get(&hash(&[table, key]))
            {
                f.taken = state.is_some();
            }
        }
    }

    /// Remembers what undoing `rows` would leave.
    fn record(
        &mut self,
        shape: &Shape,
        cols: &[lifeboat_binlog::Column],
        table: &str,
        rows: &[&lifeboat_binlog::Row<'_>],
    ) {
        for r in rows {
            if self.rows.len() >= SIMULATED {
                self.full = true;
                return;
            }
            let undone = lifeboat_binlog::Row {
                before: r.after.clone(),
                after: r.before.clone(),
            };
            let Ok(e) = check::expect(shape, cols, &undone) else {
                continue;
            };
            if let Some(key) = &e.free {
                self.rows.insert(hash(&[table, key]), None);
            }
            if let Some((key, same)) = &e.present {
                self.rows.insert(hash(&[table, key]), Some(hash(&[same])));
            }
        }
    }
}

/// How an undo transaction starts. MySQL: a format description sent by a BINLOG statement
/// leaves gtid_next "not yet determined", which gtid_mode=ON refuses at the next statement
/// (error 1782); the server numbers the undo itself.
pub(super) fn begin(plan: &Plan, file: u32) -> &'static str {
    let mysql = plan
        .index
        .files
        .get(file as usize)
        .is_some_and(|f| !f.fde.is_mariadb());
    if mysql {
        "SET @@SESSION.gtid_next = 'AUTOMATIC'; START TRANSACTION"
    } else {
        "START TRANSACTION"
    }
}

/// What must hold before anything is written: the binlogs are this flavor's, and no
/// trigger fires for row events.
async fn preflight(
    conn: &mut mysql_async::Conn,
    info: &ServerInfo,
    plan: &Plan,
) -> Result<Result<(), Refusal>, Error> {
    let mariadb_binlogs = plan.index.files.iter().any(|f| f.fde.is_mariadb());
    let mariadb_server = info.flavor == lifeboat_binlog::Flavor::MariaDb;
    if mariadb_binlogs != mariadb_server {
        return Ok(Err(Refusal::Unsafe {
            action: "undo the range on this server".into(),
            reason: format!(
                "the binlogs were written by {}, the server is {} {}: their row events are undone on the server that wrote them",
                if mariadb_binlogs { "MariaDB" } else { "MySQL" },
                info.flavor,
                info.version
            ),
        }));
    }
    if mariadb_server {
        let v: Option<String> = conn
            .query_first("SELECT @@GLOBAL.slave_run_triggers_for_rbr")
            .await
            .map_err(Error::sql("reading slave_run_triggers_for_rbr"))?;
        if v.as_deref().is_some_and(|v| !v.eq_ignore_ascii_case("NO")) {
            return Ok(Err(Refusal::Unsafe {
                action: "undo the range on this server".into(),
                reason: format!(
                    "slave_run_triggers_for_rbr is {}: triggers would fire for the undo's row events and change what is put back; SET GLOBAL slave_run_triggers_for_rbr = NO for the flashback",
                    v.unwrap_or_default()
                ),
            }));
        }
    }
    Ok(Ok(()))
}

/// The server, read (`--dry-run`) or written (after the guard).
enum Access {
    Observe(mysql_async::Conn),
    Write(Box<guard::GuardedTarget>),
}

impl Access {
    fn conn(&mut self) -> &mut mysql_async::Conn {
        match self {
            Access::Observe(c) => c,
            Access::Write(t) => t.conn(),
        }
    }

    fn writer(&mut self) -> Option<&mut guard::GuardedTarget> {
        match self {
            Access::Observe(_) => None,
            Access::Write(t) => Some(t),
        }
    }
}

/// The session the checks and the undo run in: values compared in UTC; the progress table.
async fn session(access: &mut Access) -> Result<(), Error> {
    access
        .conn()
        .query_drop(
            "SET SESSION time_zone = '+00:00'; SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        )
        .await
        .map_err(Error::sql("preparing the session"))?;
    if let Some(t) = access.writer() {
        let conn = t.conn();
        // Created through the binlog like the records it will hold, so replicas have it too.
        conn.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS lifeboat_flashback; \
             CREATE TABLE IF NOT EXISTS {PROGRESS_TABLE} (source VARCHAR(255) NOT NULL PRIMARY KEY, \
             undone_at DATETIME(6) NOT NULL) ENGINE=InnoDB"
        ))
        .await
        .map_err(Error::sql("creating the progress table"))?;
    }
    Ok(())
}

/// Whether an earlier run undid transaction `id`.
async fn undone(conn: &mut mysql_async::Conn, id: &str) -> Result<bool, Error> {
    let n: Option<u64> = conn
        .exec_first(
            format!("SELECT COUNT(*) FROM {PROGRESS_TABLE} WHERE source = ?"),
            (id,),
        )
        .await
        .map_err(Error::sql("reading the progress table"))?;
    Ok(n.unwrap_or(0) > 0)
}

/// The key of a row change, as a report shows it.
fn key_text(
    shape: &Shape,
    cols: &[lifeboat_binlog::Column],
    row: &lifeboat_binlog::Row<'_>,
) -> String {
    row.after
        .as_ref()
        .or(row.before.as_ref())
        .map_or_else(String::new, |img| {
            describe(shape, cols, img, Some(&shape.key))
        })
}

/// What production holds now at the row's key (the key the incident left it at).
async fn holds(
    conn: &mut mysql_async::Conn,
    shape: &Shape,
    cols: &[lifeboat_binlog::Column],
    row: &lifeboat_binlog::Row<'_>,
) -> Result<String, Error> {
    let Some(img) = row.after.as_ref().or(row.before.as_ref()) else {
        return Ok(String::new());
    };
    let Ok(key) = check::key_of(shape, cols, img) else {
        return Ok(String::new());
    };
    let found: Option<mysql_async::Row> = conn
        .query_first(format!("SELECT * FROM {} WHERE {key}", shape.quoted))
        .await
        .map_err(Error::sql(format!(
            "reading a conflicting row of {}",
            shape.table
        )))?;
    Ok(match found {
        None => "absent".into(),
        Some(r) => {
            let names = shape.names.iter();
            names
                .zip(r.unwrap())
                .map(|(n, v)| {
                    let t = v.as_sql(false);
                    let t = if t.chars().count() > 40 {
                        format!("{}…", t.chars().take(40).collect::<String>())
                    } else {
                        t
                    };
                    format!("{n}={t}")
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    })
}
