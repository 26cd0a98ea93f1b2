//! Point-in-time recovery: the newest backup before the target, restored into a side
//! instance, then the archived binlogs from the backup's exact position up to the last
//! transaction that committed before the target — never half a transaction.
//!
//! Into a side instance, the replay hands the archived files to it as relay logs, cut at the
//! stop point, and lets its own replication SQL thread apply them (in parallel where the
//! server can). A named server gets them through one client session instead
//! ([`crate::recover::pitr::session`]). So every event runs with the session state it had on the source: charsets, sql_mode,
//! time zone, foreign-key and unique checks, auto-increment settings, pseudo thread ids and
//! temporary tables, GTIDs — by the server's own code, not a re-implementation of it.

pub mod session;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeboat_binlog::{BinlogPos, Decoder, Event, FileReader, Flavor, Gtid, GtidSet};
use lifeboat_repo::{BackupListing, Repository};
use lifeboat_server::connect;
use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::error::Error;
use crate::protect::backup::Body;

/// Where to stop.
#[derive(Debug, Clone)]
pub enum StopAt {
    /// Before the first transaction that committed at or after this time.
    Time(jiff::Timestamp),
    /// After this transaction (inclusive).
    Gtid(Gtid),
    /// Before the first transaction that ends after this position.
    Position(BinlogPos),
    /// Before the transaction of this incident (`file:offset` of its event).
    BeforeIncident(BinlogPos),
}

impl std::fmt::Display for StopAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopAt::Time(t) => write!(f, "before {t}"),
            StopAt::Gtid(g) => write!(f, "after GTID {g}"),
            StopAt::Position(p) => write!(f, "at {p}"),
            StopAt::BeforeIncident(p) => write!(f, "before incident {p}"),
        }
    }
}

/// The stop point flags of `restore`, as typed.
#[derive(Debug, Clone, Default)]
pub struct StopFlags<'a> {
    /// `--until TIME`.
    pub until: Option<&'a str>,
    /// `--until-gtid GTID`.
    pub until_gtid: Option<&'a str>,
    /// `--until-position FILE:POS`.
    pub until_position: Option<&'a str>,
    /// `--before-incident ID`.
    pub before_incident: Option<&'a str>,
    /// `--time-zone TZ`, for a time without an offset.
    pub time_zone: Option<&'a str>,
}

impl StopAt {
    /// The stop point the flags name, if one (clap lets at most one through).
    pub fn from_flags(f: &StopFlags<'_>) -> Result<Option<StopAt>, Error> {
        let bad = |flag: &'static str, value: &str, reason: String| Error::Argument {
            flag,
            value: value.to_owned(),
            reason,
        };
        Ok(Some(if let Some(t) = f.until {
            let tz = crate::time::zone(f.time_zone)?;
            StopAt::Time(crate::time::parse(t, &tz).map_err(|e| bad("--until", t, e))?)
        } else if let Some(g) = f.until_gtid {
            StopAt::Gtid(
                g.parse()
                    .map_err(|e| bad("--until-gtid", g, format!("{e}")))?,
            )
        } else if let Some(p) = f.until_position {
            StopAt::Position(
                p.parse()
                    .map_err(|e| bad("--until-position", p, format!("{e}")))?,
            )
        } else if let Some(i) = f.before_incident {
            StopAt::BeforeIncident(i.parse().map_err(|_| {
                bad(
                    "--before-incident",
                    i,
                    "expected an id from `lifeboat incidents` (FILE:OFFSET)".into(),
                )
            })?)
        } else {
            return Ok(None);
        }))
    }
}

/// A new directory for the binlogs a replay stages: beside the side instance `side` (same
/// file system, so the server reads them as relay logs without a copy), else in the
/// temporary directory. Removed when dropped.
pub fn staging_dir(side: Option<&Path>) -> Result<tempfile::TempDir, Error> {
    let parent = match side {
        Some(dir) => dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        None => std::env::temp_dir(),
    };
    let fail = |e: std::io::Error| Error::in_file(&parent, e);
    std::fs::create_dir_all(&parent).map_err(fail)?;
    tempfile::Builder::new()
        .prefix(".lifeboat-replay-")
        .tempdir_in(&parent)
        .map_err(fail)
}

/// One transaction of the binlog, as the plan describes it.
#[derive(Debug, Clone, Serialize)]
pub struct Transaction {
    /// Where it starts.
    pub start: BinlogPos,
    /// Offset just past its last event.
    pub end: u64,
    /// Its GTID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
    /// Commit time (µs where the binlog has them).
    pub time: String,
}

/// What a point-in-time restore will do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The target as given.
    pub target: String,
    /// Backup restored first.
    pub backup: String,
    /// Its position: the replay starts here.
    pub start: BinlogPos,
    /// The replay ends here (exclusive): a transaction boundary.
    pub stop: BinlogPos,
    /// The last transaction applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_applied: Option<Transaction>,
    /// The first transaction not applied (absent when the archive ends first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_skipped: Option<Transaction>,
    /// Transactions to replay.
    pub transactions: u64,
    /// Bytes of binlog to replay.
    pub bytes: u64,
    /// Archived server whose binlogs are replayed.
    pub server: String,
    /// Its server_id (the side instance must not share it, or it would skip the events).
    pub source_server_id: u32,
    /// Files and how many of their bytes the replay reads.
    pub files: Vec<(String, u64)>,
    /// Things worth knowing (the archive ends before the target, gaps, …).
    pub warnings: Vec<String>,
}

/// A committed backup and what a plan needs of it.
struct Candidate {
    id: String,
    body: Body,
    /// When its snapshot was taken (or, for older backups, when it finished: later, so safe).
    at: jiff::Timestamp,
}

async fn candidates(repo: &Repository, server: Option<&str>) -> Result<Vec<Candidate>, Error> {
    let mut out = Vec::new();
    for l in repo.list_backups().await? {
        let BackupListing::Complete(m) = l else {
            continue;
        };
        let Ok(body) = Body::of(&m) else { continue };
        if server.is_some_and(|s| lifeboat_repo::server_key(&body.server.identity) != s) {
            continue;
        }
        let at = body
            .snapshot_time
            .as_deref()
            .unwrap_or(&m.finished)
            .parse()
            .unwrap_or(jiff::Timestamp::MAX);
        out.push(Candidate {
            id: m.id.to_string(),
            body,
            at,
        });
    }
    // Newest first.
    out.sort_by_key(|c| std::cmp::Reverse(c.at));
    Ok(out)
}

/// Whether the backup's snapshot is before the target (so replaying from it can reach it).
fn before(c: &Candidate, stop: &StopAt) -> bool {
    let Some(pos) = &c.body.binlog else {
        return false;
    };
    match stop {
        StopAt::Time(t) => c.at < *t,
        StopAt::Position(p) | StopAt::BeforeIncident(p) => pos <= p,
        StopAt::Gtid(g) => {
            let Some(state) = &c.body.gtid else {
                return true;
            };
            state.parse::<GtidSet>().is_ok_and(|set| !set.contains(g))
        }
    }
}

/// Where the scan of the archive stands.
#[derive(Default)]
struct Scan {
    last: Option<Transaction>,
    first_skipped: Option<Transaction>,
    transactions: u64,
}

impl Scan {
    /// Scans one file from `from` (the replay's start in the first file, else 4) for the stop
    /// point. Returns the stop offset in this file once found.
    /// Transactions are the event groups of [`crate::detect::groups`].
    fn file(
        &mut self,
        path: &Path,
        name: &str,
        from: u64,
        stop: &StopAt,
    ) -> Result<Option<u64>, Error> {
        let f = std::fs::File::open(path).map_err(|e| Error::in_file(path, e))?;
        let mut reader = FileReader::new(f, name.to_owned()).map_err(Error::from)?;
        let mut dec = Decoder::new();
        let mut groups = crate::detect::groups::Groups::default();
        while let Some((raw, fde)) = reader.next_with_format().map_err(Error::from)? {
            let at = raw.offset;
            if at < from {
                continue;
            }
            // A compressed transaction (TRANSACTION_PAYLOAD) holds the group's BEGIN ... XID:
            // its inner events close the group, at the end of the payload event.
            let end = raw.end();
            let mut closed = None;
            dec.decode_each(
                fde,
                &raw,
                |e| Error::event(name, at)(e),
                |dec, inner, ev| {
                    if let Some(o) = groups.event(at, end, inner.header.timestamp, ev) {
                        closed = Some((o, dec.gtid_text().map(str::to_owned)));
                    }
                    Ok(())
                },
            )?;
            let Some((o, gtid)) = closed else {
                continue;
            };
            let time_us = o.time_us;
            let t = Transaction {
                start: BinlogPos::new(name, o.start),
                end: o.end,
                gtid,
                time: crate::detect::events::time_text_us(time_us, o.exact),
            };
            let stop_before = match stop {
                StopAt::Time(target) => time_us >= target.as_microsecond(),
                StopAt::Position(p) => p.file == name && o.end > p.pos,
                StopAt::BeforeIncident(p) => p.file == name && (o.start..o.end).contains(&p.pos),
                StopAt::Gtid(_) => false,
            };
            if stop_before {
                self.first_skipped = Some(t);
                return Ok(Some(o.start));
            }
            self.transactions += 1;
            let matched = matches!(stop, StopAt::Gtid(g) if t.gtid.as_deref() == Some(g.to_string().as_str()));
            self.last = Some(t);
            if matched {
                return Ok(Some(o.end));
            }
        }
        // A position inside this file after its last transaction: stop at that transaction's end.
        if let StopAt::Position(p) | StopAt::BeforeIncident(p) = stop
            && p.file == name
        {
            let last_end = self
                .last
                .as_ref()
                .filter(|t| t.start.file == name)
                .map_or(from, |t| t.end);
            return Ok(Some(last_end));
        }
        Ok(None)
    }
}

/// Plans a point-in-time restore: chooses the backup, and reads the archive from its position
/// to the stop point, leaving the files to replay (whole, the last one cut at the stop) in
/// `staging`. `server` names the archived server when the repository holds several.
pub async fn plan(
    repo: &Repository,
    server: Option<&str>,
    stop: &StopAt,
    staging: &Path,
) -> Result<Plan, Error> {
    let all = candidates(repo, server).await?;
    if all.is_empty() {
        return Err(Error::Missing {
            what: match server {
                Some(s) => format!("committed backup of {s}"),
                None => "committed backup".into(),
            },
            within: "the repository".into(),
            hint: Some("`lifeboat backups` lists what it holds"),
        });
    }
    let mut servers: Vec<String> = all
        .iter()
        .map(|c| lifeboat_repo::server_key(&c.body.server.identity))
        .collect();
    servers.sort();
    servers.dedup();
    if servers.len() > 1 {
        return Err(Error::Argument {
            flag: "--archived-server",
            value: "(not given)".into(),
            reason: format!(
                "the repository holds backups of several servers ({}): name one",
                servers.join(", ")
            ),
        });
    }
    let Some(chosen) = all.iter().find(|c| before(c, stop)) else {
        let oldest = all.last().map_or(String::new(), |c| {
            format!(" (the oldest, {}, has its snapshot at {})", c.id, c.at)
        });
        return Err(Error::Missing {
            what: format!("backup with a binlog position before the target {stop}{oldest}"),
            within: "the repository".into(),
            hint: None,
        });
    };
    let Some(start) = chosen.body.binlog.clone() else {
        return Err(Error::Internal("chosen backup without position".into()));
    };
    let server = lifeboat_repo::server_key(&chosen.body.server.identity);
    let coverage = crate::protect::archive::coverage(repo).await?;
    let files: Vec<crate::protect::archive::CoveredFile> = coverage
        .into_iter()
        .find(|c| c.server == server)
        .map(|c| c.files)
        .unwrap_or_default()
        .into_iter()
        .filter(|f| BinlogPos::new(f.file.clone(), u64::MAX) >= start)
        .collect();
    if files.first().is_none_or(|f| f.file != start.file) {
        return Err(Error::Missing {
            what: format!("{}, where backup {} ends", start.file, chosen.id),
            within: format!("the archive of {server}"),
            hint: Some("archive the server's binlogs (`lifeboat archive`)"),
        });
    }
    let mut scan = Scan::default();
    let mut stop_at: Option<BinlogPos> = None;
    let mut to_copy = Vec::new();
    let mut bytes = 0u64;
    let mut warnings = Vec::new();
    let mut previous: Option<u64> = None;
    for f in &files {
        let seq = BinlogPos::file_sequence(&f.file);
        if let (Some(p), Some(s)) = (previous, seq)
            && s != p + 1
        {
            return Err(Error::Missing {
                what: format!(
                    "file between sequence {p} and {}: the replay cannot cross a gap",
                    f.file
                ),
                within: format!("the archive of {server}"),
                hint: None,
            });
        }
        previous = seq;
        let path = staging.join(&f.file);
        let mut out = std::fs::File::create(&path).map_err(|e| Error::in_file(&path, e))?;
        let size = crate::protect::archive::read_archived(repo, &server, &f.file, &mut out).await?;
        drop(out);
        let from = if f.file == start.file { start.pos } else { 0 };
        let found = scan.file(&path, &f.file, from, stop)?;
        let end = found.unwrap_or(size);
        bytes += end.saturating_sub(from);
        to_copy.push((f.file.clone(), end));
        if let Some(at) = found {
            stop_at = Some(BinlogPos::new(f.file.clone(), at));
            break;
        }
        if !f.complete {
            // The open file is the end of the archive.
            break;
        }
    }
    let stop_pos =
        match (stop_at, stop) {
            (Some(p), _) => p,
            (None, StopAt::Time(_)) => {
                let end = scan.last.as_ref().map_or(start.clone(), |t| {
                    BinlogPos::new(t.start.file.clone(), t.end)
                });
                warnings.push(format!(
                "the archive ends before the target: recovering up to its last transaction ({})",
                scan.last.as_ref().map_or("none after the backup".into(), |t| t.time.clone())
            ));
                // Only whole transactions: cut the last file at the last one's end.
                if let Some(last) = to_copy.last_mut()
                    && last.0 == end.file
                {
                    bytes = bytes.saturating_sub(last.1 - end.pos);
                    last.1 = end.pos;
                }
                end
            }
            (None, StopAt::Gtid(g)) => {
                return Err(Error::Missing {
                    what: format!("GTID {g}"),
                    within: format!("the archive after backup {} ({start})", chosen.id),
                    hint: None,
                });
            }
            (None, StopAt::Position(p) | StopAt::BeforeIncident(p)) => {
                return Err(Error::Missing {
                    what: format!("position {p}"),
                    within: format!("the archive after backup {} ({start})", chosen.id),
                    hint: None,
                });
            }
        };
    Ok(Plan {
        target: stop.to_string(),
        backup: chosen.id.clone(),
        start,
        stop: stop_pos,
        last_applied: scan.last,
        first_skipped: scan.first_skipped,
        transactions: scan.transactions,
        bytes,
        server,
        source_server_id: chosen.body.server.server_id,
        files: to_copy,
        warnings,
    })
}

/// What a point-in-time restore did.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// The plan it followed.
    pub plan: Plan,
    /// The restore of the backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<crate::recover::restore::Outcome>,
    /// Replay wall time, ms.
    pub replay_ms: u64,
    /// Position the side instance reports at the end (equals the plan's stop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached: Option<BinlogPos>,
    /// A named server: what the client-side replay applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<crate::recover::pitr::session::Applied>,
    /// GTID state of the side instance afterwards (a named server: the last GTID applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
}

/// Name of the `n`-th relay log (the side instance runs with `relay-log=relay-bin`).
fn relay_name(n: usize) -> String {
    format!("relay-bin.{:06}", n + 1)
}

/// Restores the plan's backup into `target` and replays the staged binlogs up to the stop
/// point: a new side instance replays through its replication SQL thread, a named server
/// through one client session ([`crate::recover::pitr::session`]).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    repo: &Repository,
    plan: Plan,
    staging: &Path,
    target: crate::recover::restore::Target,
    policy: &crate::target::guard::Policy<'_>,
    opts: &crate::recover::restore::RestoreOptions,
    audit: &mut crate::target::journal::Audit,
    ctx: &crate::Context,
) -> Result<Outcome, Error> {
    let progress = ctx.progress();
    if !opts.rename.is_empty() {
        return Err(Error::Argument {
            flag: "--rename",
            value: opts.rename.join(","),
            reason: "cannot be combined with a point-in-time target (the binlog names the original databases)".into(),
        });
    }
    let apply_opts = crate::recover::pitr::session::ApplyOptions {
        tables: opts.tables.clone(),
        new_gtids: opts.new_gtids,
    };
    if let crate::recover::restore::Target::Server(server) = &target
        && let Err(e) = crate::recover::pitr::session::preflight(
            server,
            staging,
            &plan.files,
            &plan.start,
            &apply_opts,
        )
        .await
    {
        let Error::Refused(refusal) = e else {
            return Err(e);
        };
        let mut conn = connect(server).await?;
        let info = lifeboat_server::ServerInfo::probe(&mut conn).await?;
        let _ = conn.disconnect().await;
        return Err(audit.refuse(
            "restore",
            &info.identity.id(),
            &server.endpoint.to_string(),
            refusal,
        ));
    }
    let restored =
        crate::recover::restore::run(repo, &plan.backup, target.clone(), policy, opts, audit, ctx)
            .await?;
    let mut outcome = Outcome {
        plan,
        restore: Some(restored),
        replay_ms: 0,
        reached: None,
        gtid: None,
        applied: None,
    };
    if outcome.plan.stop <= outcome.plan.start {
        return Ok(outcome);
    }
    let ident = outcome
        .restore
        .as_ref()
        .map_or_else(String::new, |r| r.target.clone());
    let endpoint = match &target {
        crate::recover::restore::Target::Sandbox(side) => side.dir.display().to_string(),
        crate::recover::restore::Target::Server(o) => o.endpoint.to_string(),
    };
    let t0 = Instant::now();
    let mut interrupts = ctx.interrupts();
    let replay = async {
        match target {
            crate::recover::restore::Target::Sandbox(side) => {
                replay_relay(&mut outcome, &side.dir, staging, opts, progress).await
            }
            crate::recover::restore::Target::Server(_) => {
                // The server the restore's guard vouched for, not the options again.
                let vouched = outcome.restore.as_ref().map(|r| r.vouched.clone());
                match vouched {
                    Some(v) => {
                        replay_session(&mut outcome, &v, staging, &apply_opts, progress).await
                    }
                    None => Err(Error::Internal("a replay without its restore".into())),
                }
            }
        }
    };
    // A signal stops the replay between statements; what was applied stays applied (whole
    // transactions: the session's open one rolls back when it disconnects).
    let result = tokio::select! {
        r = replay => r,
        signal = crate::interrupt::of(&mut interrupts) => Err(Error::interrupted(
            signal,
            "the target holds whole transactions up to where it stopped; `lifeboat journal` and the server's GTID state tell where",
        )),
    };
    outcome.replay_ms = t0.elapsed().as_millis() as u64;
    // The journal says what the replay really did: the restore before it was journaled as
    // its own action.
    match &result {
        Ok(()) => audit.record(
            "replay",
            &ident,
            &endpoint,
            "ok",
            Some(format!(
                "{} transactions from {} to {}",
                outcome.plan.transactions, outcome.plan.start, outcome.plan.stop
            )),
        )?,
        Err(e) => audit.record(
            "replay",
            &ident,
            &endpoint,
            e.outcome(),
            Some(e.to_string()),
        )?,
    }
    result.map(|()| outcome)
}

/// Replays into a named server through one client session ([`crate::recover::pitr::session`]).
async fn replay_session(
    outcome: &mut Outcome,
    server: &crate::target::guard::Vouched,
    staging: &Path,
    apply_opts: &crate::recover::pitr::session::ApplyOptions,
    progress: Arc<dyn crate::progress::Progress>,
) -> Result<(), Error> {
    let applied = crate::recover::pitr::session::replay(
        server,
        staging,
        &outcome.plan.files,
        &outcome.plan.start,
        apply_opts,
        progress,
    )
    .await?;
    if applied.reached != outcome.plan.stop {
        return Err(Error::Stopped {
            reached: applied.reached.to_string(),
            stop: outcome.plan.stop.to_string(),
        });
    }
    outcome.reached = Some(applied.reached.clone());
    outcome.gtid = applied.last_gtid.clone();
    outcome.applied = Some(applied);
    Ok(())
}

/// Replays into a side instance through its own replication SQL thread, the staged files
/// handed to it as relay logs.
async fn replay_relay(
    outcome: &mut Outcome,
    dir: &Path,
    staging: &Path,
    opts: &crate::recover::restore::RestoreOptions,
    progress: Arc<dyn crate::progress::Progress>,
) -> Result<(), Error> {
    let sb = lifeboat_server::Sandbox::open(dir)?;
    // The staged files become the side instance's relay logs: each its own format
    // description, then a ROTATE naming the source file and position (as relay logs
    // written by a replica's I/O thread have; the SQL thread keeps the source position
    // from it), then the source events from the replay's start to the stop.
    let mut index = String::new();
    let mut last_relay = String::new();
    let (mut relay_start, mut relay_stop) = (0u64, 0u64);
    let last = outcome.plan.files.len().saturating_sub(1);
    for (n, (file, len)) in outcome.plan.files.iter().enumerate() {
        let name = relay_name(n);
        let from = if n == 0 {
            Some(outcome.plan.start.pos)
        } else {
            None
        };
        let (rotate_at, shift) = write_relay(
            &staging.join(file),
            &sb.datadir.join(&name),
            sb.flavor,
            file,
            from,
            *len,
        )?;
        if n == 0 {
            relay_start = rotate_at;
        }
        if n == last {
            relay_stop = (*len).saturating_add_signed(shift);
        }
        let _ = std::fs::remove_file(staging.join(file));
        index.push_str(&format!("./{name}\n"));
        last_relay = name;
    }
    let index_path = sb.datadir.join("relay-bin.index");
    std::fs::write(&index_path, index).map_err(|e| Error::in_file(&index_path, e))?;

    let mut c = connect(&sb.connect_options()).await?;
    let sql = |what: &'static str| Error::sql(what);
    let source_id = outcome.plan.source_server_id;
    let own: Option<u32> = c
        .query_first("SELECT @@server_id")
        .await
        .map_err(sql("server_id"))?;
    if own == Some(source_id) {
        // Events carrying the instance's own id would be skipped as its own.
        c.query_drop(format!(
            "SET GLOBAL server_id = {}",
            source_id.wrapping_add(1).max(1)
        ))
        .await
        .map_err(sql("SET GLOBAL server_id"))?;
    }
    let r = Replication::of(sb.flavor);
    let threads = opts.threads.clamp(1, 64);
    c.query_drop(format!("SET GLOBAL {} = {threads}", r.workers))
        .await
        .map_err(sql("SET GLOBAL (parallel replication workers)"))?;
    if !opts.tables.is_empty() {
        c.query_drop(r.filter(&opts.tables))
            .await
            .map_err(sql("replication filter (--tables)"))?;
    }
    // The side instance is being rebuilt: a crash during the replay means replaying again,
    // so commits need not reach the disk one by one. Put back afterwards.
    let flush: Option<u64> = c
        .query_first("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit")
        .await
        .map_err(sql("innodb_flush_log_at_trx_commit"))?;
    c.query_drop("SET GLOBAL innodb_flush_log_at_trx_commit = 0")
        .await
        .map_err(sql("SET GLOBAL innodb_flush_log_at_trx_commit"))?;
    let start = &outcome.plan.start;
    let stop = outcome.plan.stop.clone();
    c.query_drop(r.change(&relay_name(0), relay_start))
        .await
        .map_err(sql("CHANGE MASTER/REPLICATION SOURCE TO (relay logs)"))?;
    c.query_drop(format!(
        "{} SQL_THREAD UNTIL RELAY_LOG_FILE = '{last_relay}', RELAY_LOG_POS = {relay_stop}",
        r.start
    ))
    .await
    .map_err(sql("START SLAVE/REPLICA SQL_THREAD"))?;

    progress.start("replay", outcome.plan.bytes);
    let (mut file_no, mut reported_pos) = (0usize, start.pos);
    let result = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let row: Option<mysql_async::Row> = c
            .query_first(r.status)
            .await
            .map_err(sql("SHOW SLAVE/REPLICA STATUS"))?;
        let Some(row) = row else {
            break Err(Error::Internal(format!(
                "{} is empty during the replay",
                r.status
            )));
        };
        let get = |name: &str| -> Option<String> {
            let i = row
                .columns_ref()
                .iter()
                .position(|c| c.name_str() == name)?;
            row.get::<Option<String>, _>(i).flatten()
        };
        let running = get(r.sql_running).unwrap_or_default();
        let errno: u64 = get("Last_SQL_Errno")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        let exec_pos: u64 = get(r.exec_pos).and_then(|e| e.parse().ok()).unwrap_or(0);
        let master_file = get(r.exec_file).unwrap_or_default();
        // Progress: bytes of the files before the current one, plus the offset in it.
        if let Some(n) = outcome
            .plan
            .files
            .iter()
            .position(|(f, _)| *f == master_file)
            && n > file_no
        {
            let rest = outcome
                .plan
                .files
                .get(file_no)
                .map_or(0, |f| f.1)
                .saturating_sub(reported_pos);
            progress.advance(rest, 0);
            file_no = n;
            reported_pos = 0;
        }
        if exec_pos > reported_pos {
            progress.advance(exec_pos - reported_pos, 0);
            reported_pos = exec_pos;
        }
        if errno != 0 {
            let msg = get("Last_SQL_Error").unwrap_or_default();
            break Err(Error::Applier {
                at: format!("{master_file}:{exec_pos}"),
                code: errno,
                message: msg,
            });
        }
        // Done when everything up to the stop is committed (with parallel workers the
        // executed position only moves past committed transactions). The UNTIL clause is a
        // second fence: MariaDB does not stop at the end of a relay log by itself.
        if running != "Yes" || (master_file == stop.file && exec_pos == stop.pos) {
            break Ok(BinlogPos::new(master_file, exec_pos));
        }
    };
    progress.finish();
    let _ = c.query_drop(r.stop).await;
    if let Some(v) = flush {
        let _ = c
            .query_drop(format!("SET GLOBAL innodb_flush_log_at_trx_commit = {v}"))
            .await;
    }
    // On failure the replication state stays for inspection (SHOW SLAVE/REPLICA STATUS).
    let reached = result?;
    let _ = c.query_drop(r.reset).await;
    if !opts.tables.is_empty() {
        let _ = c.query_drop(r.filter(&[])).await;
    }
    outcome.gtid = c
        .query_first::<Option<String>, _>(r.gtid_state)
        .await
        .ok()
        .flatten()
        .flatten();
    if reached.pos != stop.pos {
        return Err(Error::Stopped {
            reached: reached.to_string(),
            stop: stop.to_string(),
        });
    }
    outcome.reached = Some(reached);
    let _ = c.disconnect().await;
    Ok(())
}

/// The statements and status columns of a side instance's replication applier: MariaDB
/// keeps the MASTER/SLAVE words, MySQL 8.0.22+ has only SOURCE/REPLICA forms of some.
struct Replication {
    workers: &'static str,
    start: &'static str,
    status: &'static str,
    sql_running: &'static str,
    exec_pos: &'static str,
    exec_file: &'static str,
    stop: &'static str,
    reset: &'static str,
    gtid_state: &'static str,
    flavor: Flavor,
}

impl Replication {
    fn of(flavor: Flavor) -> Self {
        match flavor {
            Flavor::MariaDb => Self {
                workers: "slave_parallel_threads",
                start: "START SLAVE",
                status: "SHOW SLAVE STATUS",
                sql_running: "Slave_SQL_Running",
                exec_pos: "Exec_Master_Log_Pos",
                exec_file: "Relay_Master_Log_File",
                stop: "STOP SLAVE",
                reset: "RESET SLAVE ALL",
                gtid_state: "SELECT @@gtid_slave_pos",
                flavor,
            },
            Flavor::MySql => Self {
                workers: "replica_parallel_workers",
                start: "START REPLICA",
                status: "SHOW REPLICA STATUS",
                sql_running: "Replica_SQL_Running",
                exec_pos: "Exec_Source_Log_Pos",
                exec_file: "Relay_Source_Log_File",
                stop: "STOP REPLICA",
                reset: "RESET REPLICA ALL",
                gtid_state: "SELECT @@GLOBAL.gtid_executed",
                flavor,
            },
        }
    }

    /// Points the applier at the relay logs lifeboat wrote. The source is a name that
    /// resolves nowhere: only the SQL thread runs.
    fn change(&self, relay_file: &str, relay_pos: u64) -> String {
        match self.flavor {
            Flavor::MariaDb => format!(
                "CHANGE MASTER TO MASTER_HOST = 'lifeboat.invalid', MASTER_USER = 'lifeboat', MASTER_USE_GTID = no, \
                 RELAY_LOG_FILE = '{relay_file}', RELAY_LOG_POS = {relay_pos}"
            ),
            // Positions, not auto-positioning: the relay logs say where each event is.
            Flavor::MySql => format!(
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'lifeboat.invalid', SOURCE_USER = 'lifeboat', SOURCE_AUTO_POSITION = 0, \
                 RELAY_LOG_FILE = '{relay_file}', RELAY_LOG_POS = {relay_pos}"
            ),
        }
    }

    /// Only these tables are replayed (`db.table`); none: the filter is cleared.
    fn filter(&self, tables: &[String]) -> String {
        match self.flavor {
            Flavor::MariaDb => format!(
                "SET GLOBAL replicate_do_table = {}",
                crate::protect::backup::lit(&tables.join(","))
            ),
            Flavor::MySql => {
                let list: Vec<String> = tables
                    .iter()
                    .map(|t| match t.split_once('.') {
                        Some((d, n)) => format!(
                            "{}.{}",
                            crate::protect::backup::q(d),
                            crate::protect::backup::q(n)
                        ),
                        None => crate::protect::backup::q(t),
                    })
                    .collect();
                format!(
                    "CHANGE REPLICATION FILTER REPLICATE_DO_TABLE = ({})",
                    list.join(", ")
                )
            }
        }
    }
}

/// Writes the relay log `dst` from the source binlog `src` (named `name`): magic, the
/// source's format description, an artificial ROTATE to (`name`, first offset), then the
/// source's events from `from` (default: right after its format description) to `end`.
/// Returns the relay offset of the ROTATE, and how much relay offsets differ from source
/// offsets for the events copied (relay = source + shift).
fn write_relay(
    src: &Path,
    dst: &Path,
    flavor: Flavor,
    name: &str,
    from: Option<u64>,
    end: u64,
) -> Result<(u64, i64), Error> {
    use std::io::{Read, Seek, Write};
    let err = |p: &Path, e: std::io::Error| Error::in_file(p, e);
    let mut input = std::fs::File::open(src).map_err(|e| err(src, e))?;
    let mut reader = FileReader::new(
        std::fs::File::open(src).map_err(|e| err(src, e))?,
        name.to_owned(),
    )
    .map_err(Error::from)?;
    // The format description is known once the first event is read.
    let fde = match reader.next_with_format() {
        Ok(Some((_, fde))) => fde.clone(),
        Ok(None) => {
            return Err(Error::Binlog {
                file: name.to_owned(),
                offset: Some(4),
                problem: "no format description event".into(),
            });
        }
        Err(e) => return Err(Error::from(e)),
    };
    let mut head = [0u8; 4 + lifeboat_binlog::frame::HEADER_LEN];
    input.read_exact(&mut head).map_err(|e| err(src, e))?;
    let fde_header =
        lifeboat_binlog::EventHeader::parse(&head[4..]).map_err(|source| Error::Truncated {
            file: name.to_owned(),
            offset: 4,
            part: "format description header",
            source,
        })?;
    let fde_end = 4 + u64::from(fde_header.event_size);
    let from = from.unwrap_or(fde_end).max(fde_end);
    let mut fde_bytes = vec![0u8; fde_end as usize];
    input
        .seek(std::io::SeekFrom::Start(0))
        .map_err(|e| err(src, e))?;
    input.read_exact(&mut fde_bytes).map_err(|e| err(src, e))?;
    // Closed, as far as the replica is concerned (the bit is outside the FDE's checksum).
    if let Some(flags) = fde_bytes.get_mut(lifeboat_binlog::frame::IN_USE_FLAG_OFFSET as usize) {
        lifeboat_binlog::frame::set_in_use(flags, false);
    }
    let rotate = Event::Rotate {
        position: from,
        next_file: name.as_bytes(),
    };
    let t = lifeboat_binlog::EventType::Rotate;
    let (_, data) = rotate.encode_data(t, &fde).map_err(Error::from)?;
    let header = lifeboat_binlog::EventHeader {
        timestamp: 0,
        type_code: 4,
        server_id: fde_header.server_id,
        event_size: 0,
        log_pos: 0,
        // Made by the replica, not by the source.
        flags: lifeboat_binlog::frame::FLAG_ARTIFICIAL,
    };
    let rotate = lifeboat_binlog::encode_event(&header, t, &data, &fde).map_err(Error::from)?;
    let mut out = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(dst).map_err(|e| err(dst, e))?,
    );
    out.write_all(&fde_bytes).map_err(|e| err(dst, e))?;
    let mut previous_len = 0u64;
    if flavor == Flavor::MySql {
        // MySQL reads the GTIDs a relay log holds from its PREVIOUS_GTIDS event and refuses
        // one whose first GTID comes without it (error 1866), as a receiver thread writes it
        // after the format description. Empty: the side instance's own state is what counts.
        let t = lifeboat_binlog::EventType::PreviousGtids;
        let (_, data) = Event::PreviousGtids(Vec::new())
            .encode_data(t, &fde)
            .map_err(Error::from)?;
        let previous = lifeboat_binlog::encode_event(
            &lifeboat_binlog::EventHeader {
                type_code: t.code(),
                ..header
            },
            t,
            &data,
            &fde,
        )
        .map_err(Error::from)?;
        out.write_all(&previous).map_err(|e| err(dst, e))?;
        previous_len = previous.len() as u64;
    }
    out.write_all(&rotate).map_err(|e| err(dst, e))?;
    input
        .seek(std::io::SeekFrom::Start(from))
        .map_err(|e| err(src, e))?;
    let n = std::io::copy(&mut input.take(end.saturating_sub(from)), &mut out)
        .map_err(|e| err(dst, e))?;
    if n != end.saturating_sub(from) {
        return Err(Error::Binlog {
            file: name.to_owned(),
            offset: Some(from + n),
            problem: format!(
                "the archive's copy ends here, {} bytes short of the planned cut",
                end.saturating_sub(from) - n
            ),
        });
    }
    out.flush().map_err(|e| err(dst, e))?;
    let shift = (fde_end + previous_len + rotate.len() as u64) as i64 - from as i64;
    Ok((fde_end + previous_len, shift))
}
