//! `lifeboat demo`: the whole runbook on a sandbox, end to end. A production stand-in with
//! Sakila and binlogs, a backup, continuous archiving while an application writes, then an
//! accident (DELETE without WHERE, later DROP TABLE with foreign key checks off, more writes).
//! lifeboat finds the incidents, freezes the server, recovers to just before the first one in
//! a side instance, proves the recovered tables equal the state captured before the accident,
//! and prints the timeline with the measured RPO and RTO.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lifeboat_server::{ConnectOptions, Sandbox, SandboxOptions, connect};
use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::error::Error;

/// The Sakila SQL the demo loads (the binary carries it).
pub struct Sakila {
    /// Schema, views, routines and triggers (with DELIMITER lines).
    pub schema: &'static str,
    /// Rows.
    pub data: &'static str,
}

/// What the demo measured.
#[derive(Debug, Serialize)]
pub struct Timeline {
    /// Backup taken before the accident.
    pub backup: String,
    /// Transactions the application committed.
    pub app_transactions: u64,
    /// The incidents found in the archive.
    pub incidents: Vec<crate::detect::incidents::Incident>,
    /// RPO at the incident, ms: how far the archive was behind when the DELETE committed,
    /// i.e. how long after it everything committed before it was durable in the archive
    /// (0: already there). Had the server been lost at the incident, the transactions of
    /// that window would have been lost.
    pub rpo_ms: u64,
    /// How long after the DELETE its own event was durable in the archive, ms.
    pub incident_archived_ms: u64,
    /// Restore of the backup plus replay to just before the first incident, ms.
    pub rto_ms: u64,
    /// Transactions replayed.
    pub replayed: u64,
    /// Tables whose CHECKSUM TABLE in the recovered instance equals the one captured just
    /// before the accident (all of them, or the demo fails).
    pub tables_proven: usize,
    /// What `diff` says about production against the recovered instance.
    pub damage: Vec<String>,
    /// Production repaired: what came back, and how long from the incident found to
    /// production repaired and verified.
    pub repaired: Repaired,
}

/// Production repaired.
#[derive(Debug, Clone, Serialize)]
pub struct Repaired {
    /// The dropped table, back in place (`recover --mode replace`).
    pub table: crate::recover::tables::TableBack,
    /// The deleted rows put back (`flashback --apply`), per table.
    pub rows_put_back: u64,
    /// Rows production no longer held as the incident left them (left alone).
    pub conflicts: u64,
    /// The payments of before the accident are all back, value for value (payment_date,
    /// which a trigger sets on insert, included); the application's later ones kept.
    pub payments_verified: bool,
    /// From the incidents found to production repaired and verified, ms.
    pub end_to_end_ms: u64,
}

fn mariadb_client() -> Result<PathBuf, Error> {
    for name in ["mariadb", "mysql"] {
        if let Some(dir) = std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).find(|d| d.join(name).is_file()))
        {
            return Ok(dir.join(name));
        }
    }
    Err(Error::Missing {
        what: "mariadb or mysql client (the demo loads Sakila with it)".into(),
        within: "PATH".into(),
        hint: Some("scripts/install-deps installs it"),
    })
}

fn load(cnf: &Path, sql: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut child = std::process::Command::new(mariadb_client()?)
        .arg(format!("--defaults-file={}", cnf.display()))
        .arg("--default-character-set=utf8mb4")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| Error::Program {
            what: "starting the mysql client",
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(sql.as_bytes())
            .map_err(|source| Error::Program {
                what: "loading Sakila",
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| Error::Program {
        what: "loading Sakila",
        source,
    })?;
    if !out.status.success() {
        return Err(Error::ProgramFailed {
            what: "loading Sakila",
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

async fn checksums(opts: &ConnectOptions) -> Result<BTreeMap<String, Option<u64>>, Error> {
    let mut c = connect(opts).await?;
    let tables: Vec<String> = c
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sakila' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1")
        .await
        .map_err(Error::sql("listing Sakila's tables"))?;
    let mut out = BTreeMap::new();
    for t in tables {
        let row: Option<(String, Option<u64>)> = c
            .query_first(format!("CHECKSUM TABLE sakila.`{t}`"))
            .await
            .map_err(Error::sql("CHECKSUM TABLE"))?;
        out.insert(t, row.and_then(|r| r.1));
    }
    Ok(out)
}

/// The application: small transactions on payments, customers and (while it exists) rentals.
fn application(
    opts: ConnectOptions,
    stop: Arc<AtomicBool>,
    pause: Arc<AtomicBool>,
    rentals: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<Result<(), Error>> {
    tokio::spawn(async move {
        let mut c = connect(&opts).await?;
        let mut i: u64 = 0;
        while !stop.load(Ordering::SeqCst) {
            if pause.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            i += 1;
            let customer = 1 + i % 599;
            let sql = if rentals.load(Ordering::SeqCst) && i.is_multiple_of(3) {
                format!(
                    "UPDATE sakila.rental SET return_date = NOW() WHERE rental_id = {}",
                    1 + i % 16000
                )
            } else if i % 3 == 1 {
                format!(
                    "INSERT INTO sakila.payment (customer_id, staff_id, amount, payment_date) VALUES ({customer}, 1, {}.99, NOW())",
                    i % 10
                )
            } else {
                format!(
                    "UPDATE sakila.customer SET last_update = NOW() WHERE customer_id = {customer}"
                )
            };
            c.query_drop(sql)
                .await
                .map_err(Error::sql("the demo application"))?;
            count.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    })
}

/// Runs the demo in `work` (which it fills and leaves to the caller to remove); the
/// context's notes tell the story as it goes.
/// `mysqld` names the server binary of both instances (else `LIFEBOAT_MYSQLD`, else the first
/// server found).
pub async fn run(
    work: &Path,
    sakila: &Sakila,
    mysqld: Option<&Path>,
    ctx: &crate::Context,
) -> Result<Timeline, Error> {
    let say = |m: &str| ctx.note(m);
    let say = &say;
    let prod_dir = work.join("production");
    let side_dir = work.join("recovered");
    let result = story(work, &prod_dir, &side_dir, sakila, mysqld, say, ctx).await;
    for dir in [&side_dir, &prod_dir] {
        if let Ok(mut sb) = Sandbox::open(dir) {
            let _ = sb.stop(Duration::from_secs(30)).await;
            crate::target::side::registry().remove(dir);
        }
    }
    result
}

async fn story(
    work: &Path,
    prod_dir: &Path,
    side_dir: &Path,
    sakila: &Sakila,
    mysqld: Option<&Path>,
    say: &(dyn Fn(&str) + Sync),
    ctx: &crate::Context,
) -> Result<Timeline, Error> {
    let (target, repo, b) = production(work, prod_dir, sakila, mysqld, say, ctx).await?;
    let acc = accidents(&target, &repo, say).await?;
    let (scanned, first) = detect(&repo, &acc.server, &b, say).await?;
    let found = Instant::now();
    let after_backup = |i: &&crate::detect::incidents::Incident| {
        b.binlog
            .as_ref()
            .is_none_or(|p| lifeboat_binlog::BinlogPos::new(i.file.clone(), i.position) >= *p)
    };
    let mut rec = recover(
        work,
        side_dir,
        mysqld,
        &target,
        &repo,
        &acc.server,
        &first,
        say,
        ctx,
    )
    .await?;
    let damage = prove(&target, side_dir, &acc.truth, say).await?;
    let repaired = repair(
        &target, &repo, &acc, &scanned, &first, mysqld, &mut rec, say, ctx,
    )
    .await;
    crate::contain::freeze::thaw(
        &target,
        &rec.policy,
        &crate::contain::freeze::ThawOptions::default(),
        &mut rec.audit,
    )
    .await?;
    Ok(Timeline {
        backup: b.id,
        app_transactions: acc.app_transactions,
        incidents: scanned
            .incidents
            .iter()
            .filter(after_backup)
            .cloned()
            .collect(),
        rpo_ms: acc.rpo_ms,
        incident_archived_ms: acc.incident_archived_ms,
        rto_ms: rec.rto_ms,
        replayed: rec.replayed,
        tables_proven: acc.truth.len(),
        damage,
        repaired: crate::demo::Repaired {
            end_to_end_ms: found.elapsed().as_millis() as u64,
            ..repaired?
        },
    })
}

/// A production stand-in with Sakila and binlogs, and its first backup.
async fn production(
    work: &Path,
    prod_dir: &Path,
    sakila: &Sakila,
    mysqld: Option<&Path>,
    say: &(dyn Fn(&str) + Sync),
    ctx: &crate::Context,
) -> Result<
    (
        lifeboat_server::ConnectOptions,
        lifeboat_repo::Repository,
        crate::protect::backup::Outcome,
    ),
    Error,
> {
    let mut opts = SandboxOptions::new(prod_dir);
    opts.binlog = true;
    opts.server_binary = mysqld.map(Path::to_path_buf);
    let prod = Sandbox::start(&opts).await?;
    crate::target::side::registry().add(&prod)?;
    let target = prod.connect_options();
    say(&format!(
        "production stand-in: {} {} on port {} with binlogs",
        prod.flavor, prod.version, prod.port
    ));
    load(&prod.defaults_file, sakila.schema)?;
    load(&prod.defaults_file, sakila.data)?;
    say("loaded the Sakila sample database (16 tables, views, routines, triggers, foreign keys)");

    let repo_dir = work.join("repo");
    let repo = lifeboat_repo::Repository::init(&repo_dir.display().to_string(), None).await?;
    let b = crate::protect::backup::run(
        &target,
        &repo,
        &crate::protect::backup::BackupOptions {
            threads: 2,
            ..Default::default()
        },
        ctx,
    )
    .await?;
    say(&format!(
        "backup {}: {} tables, {} rows, writers blocked {} ms",
        b.id, b.tables, b.rows, b.lock_held_ms
    ));

    Ok((target, repo, b))
}

/// What happened in production, and what was true just before it.
struct Accidents {
    /// CHECKSUM TABLE of every table just before the first accident.
    truth: std::collections::BTreeMap<String, Option<u64>>,
    /// The production server's key in the repository.
    server: String,
    rpo_ms: u64,
    incident_archived_ms: u64,
    app_transactions: u64,
    /// The payments just before the first accident: highest id, and the fingerprint of the
    /// rows up to it.
    payments_before: (u64, Fingerprint),
}

/// Row count and a sum of per-row CRC32s of `sakila.payment` up to an id: equal when the
/// same rows hold the same values.
type Fingerprint = (u64, u64);

async fn payments_up_to(c: &mut mysql_async::Conn, max: u64) -> Result<Fingerprint, Error> {
    let row: Option<(u64, Option<u64>)> = c
        .query_first(format!(
            "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', payment_id, customer_id, staff_id, \
             IFNULL(rental_id, '-'), amount, payment_date, last_update))) \
             FROM sakila.payment WHERE payment_id <= {max}"
        ))
        .await
        .map_err(Error::sql("fingerprinting the payments"))?;
    Ok(row.map_or((0, 0), |(n, s)| (n, s.unwrap_or(0))))
}

/// Continuous archiving and an application's writes, then the two accidents.
async fn accidents(
    target: &lifeboat_server::ConnectOptions,
    repo: &lifeboat_repo::Repository,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Accidents, Error> {
    // Continuous archiving, as it would run next to production.
    let archiver = {
        let (t, r) = (target.clone(), repo.clone());
        tokio::spawn(async move {
            let opts = crate::protect::archive::ArchiveOptions {
                flush_interval: Duration::from_millis(200),
                ..Default::default()
            };
            crate::protect::archive::run(&t, &r, &opts, &crate::Context::silent()).await
        })
    };
    say("archiving binlogs continuously (flush interval 0.2 s)");

    let (stop, pause, rentals, count) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicU64::new(0)),
    );
    let app = application(
        target.clone(),
        stop.clone(),
        pause.clone(),
        rentals.clone(),
        count.clone(),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The state just before the accident, to prove the recovery against.
    pause.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let truth = checksums(target).await?;
    let mut c = connect(target).await?;
    let max: Option<Option<u64>> = c
        .query_first("SELECT MAX(payment_id) FROM sakila.payment")
        .await
        .map_err(Error::sql("reading the payments"))?;
    let max = max.flatten().unwrap_or(0);
    let payments_before = (max, payments_up_to(&mut c, max).await?);
    let info = lifeboat_server::ServerInfo::probe(&mut c).await?;
    let position = async |c: &mut mysql_async::Conn| {
        lifeboat_server::info::current_binlog_pos(c, info.flavor, info.version)
            .await
            .map(|p| (p.file, p.pos))
            .ok_or_else(|| Error::Internal("the production stand-in has no binlog position".into()))
    };
    // Where the binlog stands just before the accident: everything up to here committed
    // before it.
    let (before_file, before_pos) = position(&mut c).await?;
    c.query_drop("DELETE FROM sakila.payment")
        .await
        .map_err(Error::sql("the accident"))?;
    let t_incident = Instant::now();
    let (file, pos) = position(&mut c).await?;
    say("ACCIDENT: `DELETE FROM payment` without WHERE");
    pause.store(false, Ordering::SeqCst);
    // How long until the DELETE is durable in the archive.
    let server = lifeboat_repo::server_key(&prod_info_identity(target).await?);
    let archived_end = |f: String| {
        let (repo, server) = (repo, &server);
        async move {
            Ok::<u64, Error>(
                repo.file_segments(server, &f)
                    .await?
                    .last()
                    .map_or(0, |s| s.end),
            )
        }
    };
    let mut rpo_ms: Option<u64> = None;
    let incident_archived_ms = loop {
        let at = t_incident.elapsed().as_millis() as u64;
        if rpo_ms.is_none() && archived_end(before_file.clone()).await? >= before_pos {
            rpo_ms = Some(at);
        }
        if archived_end(file.clone()).await? >= pos {
            break t_incident.elapsed().as_millis() as u64;
        }
        if t_incident.elapsed() > Duration::from_secs(30) {
            return Err(Error::Timeout {
                what: format!("archiving the incident's binlog ({file}:{pos})"),
                secs: 30,
                hint: "the archiver fell behind; `lifeboat binlogs` shows what it holds".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    rentals.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.query_drop(
        "SET FOREIGN_KEY_CHECKS = 0; DROP TABLE sakila.rental; SET FOREIGN_KEY_CHECKS = 1",
    )
    .await
    .map_err(Error::sql("the second accident"))?;
    say("ACCIDENT: `SET FOREIGN_KEY_CHECKS=0; DROP TABLE rental`; the application writes on");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    app.await.map_err(Error::from)??;
    drop(c);
    tokio::time::sleep(Duration::from_millis(600)).await;
    archiver.abort();

    Ok(Accidents {
        truth,
        server,
        rpo_ms: rpo_ms.unwrap_or(incident_archived_ms),
        incident_archived_ms,
        app_transactions: count.load(Ordering::SeqCst),
        payments_before,
    })
}

/// The incidents in the archive, and the first one after the backup.
async fn detect(
    repo: &lifeboat_repo::Repository,
    server: &str,
    b: &crate::protect::backup::Outcome,
    say: &(dyn Fn(&str) + Sync),
) -> Result<
    (
        crate::detect::incidents::Scanned,
        crate::detect::incidents::Incident,
    ),
    Error,
> {
    // Detect.
    let scanned = crate::detect::incidents::scan_archive(
        repo,
        server,
        crate::detect::incidents::Options::default(),
    )
    .await?;
    for i in &scanned.incidents {
        say(&format!(
            "incident {}: {} {} at {} (GTID {}), transaction starts at {}:{}",
            i.id,
            i.kind,
            i.tables.join(","),
            i.time,
            i.gtid.as_deref().unwrap_or("-"),
            i.transaction_file,
            i.transaction_position
        ));
    }
    // The first one after the backup (loading Sakila began with a DROP SCHEMA IF EXISTS).
    let after_backup = |i: &&crate::detect::incidents::Incident| {
        b.binlog
            .as_ref()
            .is_none_or(|p| lifeboat_binlog::BinlogPos::new(i.file.clone(), i.position) >= *p)
    };
    let Some(first) = scanned.incidents.iter().find(after_backup).cloned() else {
        return Err(Error::Missing {
            what: "incident after the backup (the demo's own)".into(),
            within: "the archived binlogs".into(),
            hint: None,
        });
    };

    Ok((scanned, first))
}

/// What the recovery did, and the journal and guard policy it ran with.
struct Recovered {
    audit: crate::target::journal::Audit,
    policy: crate::target::guard::Policy<'static>,
    rto_ms: u64,
    replayed: u64,
}

/// Freezes production, then recovers to just before `first` in a side instance.
#[allow(clippy::too_many_arguments)]
async fn recover(
    work: &Path,
    side_dir: &Path,
    mysqld: Option<&Path>,
    target: &lifeboat_server::ConnectOptions,
    repo: &lifeboat_repo::Repository,
    server: &str,
    first: &crate::detect::incidents::Incident,
    say: &(dyn Fn(&str) + Sync),
    ctx: &crate::Context,
) -> Result<Recovered, Error> {
    // Stop the bleeding.
    let journal = crate::target::journal::Journal::open(&work.join("journal.jsonl"))?;
    let mut audit = crate::target::journal::Audit {
        journal,
        args: vec!["lifeboat".into(), "demo".into()],
    };
    let identity = prod_info_identity(target).await?;
    let policy = crate::target::guard::Policy {
        confirm_server: Some(identity.clone()),
        prompt: None,
        action: "set the server read-only".into(),
    };
    crate::contain::freeze::freeze(
        target,
        &policy,
        &crate::contain::freeze::FreezeOptions {
            reason: format!("demo: {} {}", first.kind, first.tables.join(",")),
            wait: 10,
            kill_writers: false,
            dry_run: false,
            // The repair writes while the application is held.
            admins_may_write: true,
        },
        &mut audit,
    )
    .await?;
    say("froze production (read-only)");

    // Recover to just before the first incident.
    let t0 = Instant::now();
    let stop_at = crate::recover::pitr::StopAt::BeforeIncident(lifeboat_binlog::BinlogPos::new(
        first.file.clone(),
        first.position,
    ));
    let staging = tempfile::tempdir_in(work).map_err(|e| Error::in_file(work, e))?;
    let plan = crate::recover::pitr::plan(repo, Some(server), &stop_at, staging.path()).await?;
    let replayed = plan.transactions;
    let outcome = crate::recover::pitr::run(
        repo,
        plan,
        staging.path(),
        crate::recover::restore::Target::Sandbox(crate::recover::restore::SideInstance {
            dir: side_dir.to_path_buf(),
            mysqld: mysqld.map(Path::to_path_buf),
            binlog: false,
        }),
        &policy,
        &crate::recover::restore::RestoreOptions {
            threads: 2,
            ..Default::default()
        },
        &mut audit,
        ctx,
    )
    .await?;
    let rto_ms = t0.elapsed().as_millis() as u64;
    say(&format!(
        "recovered into a side instance: backup {} + {} transactions replayed to {}",
        outcome.plan.backup,
        replayed,
        outcome
            .reached
            .as_ref()
            .map_or_else(String::new, ToString::to_string)
    ));

    Ok(Recovered {
        audit,
        policy,
        rto_ms,
        replayed,
    })
}

/// Brings production back: the dropped table in place as it was just before its drop, the
/// deleted payments put back beside the application's later ones, then proves the payments.
#[allow(clippy::too_many_arguments)]
async fn repair(
    target: &lifeboat_server::ConnectOptions,
    repo: &lifeboat_repo::Repository,
    acc: &Accidents,
    scanned: &crate::detect::incidents::Scanned,
    first: &crate::detect::incidents::Incident,
    mysqld: Option<&Path>,
    rec: &mut Recovered,
    say: &(dyn Fn(&str) + Sync),
    ctx: &crate::Context,
) -> Result<Repaired, Error> {
    let Some(drop) = scanned
        .incidents
        .iter()
        .find(|i| i.kind == "drop_table" && i.tables.iter().any(|t| t == "sakila.rental"))
    else {
        return Err(Error::Missing {
            what: "the DROP TABLE rental incident".into(),
            within: "the archived binlogs".into(),
            hint: None,
        });
    };
    let brought = crate::recover::tables::run(
        repo,
        Some(&acc.server),
        &crate::recover::pitr::StopAt::BeforeIncident(lifeboat_binlog::BinlogPos::new(
            drop.file.clone(),
            drop.position,
        )),
        target,
        &rec.policy,
        &crate::recover::tables::TablesOptions {
            tables: vec!["sakila.rental".into()],
            placement: crate::recover::tables::Placement::Replace,
            mysqld: mysqld.map(Path::to_path_buf),
            dry_run: false,
        },
        &mut rec.audit,
        ctx,
    )
    .await?;
    let Some(table) = brought.tables.into_iter().next() else {
        return Err(Error::Internal("recover brought no table back".into()));
    };
    say(&format!(
        "repaired: sakila.rental back in place as it was just before its DROP ({} rows, {} matched), foreign keys and triggers included",
        table.rows, table.proof
    ));
    let plan = crate::recover::flashback::plan(
        crate::recover::flashback::Binlogs::Archive {
            repo,
            server: Some(&acc.server),
        },
        &crate::recover::flashback::Range::Incident(lifeboat_binlog::BinlogPos::new(
            first.file.clone(),
            first.position,
        )),
        &["sakila.payment".into()],
    )
    .await?;
    let applied = crate::recover::flashback::apply::apply(
        &plan,
        target,
        &rec.policy,
        crate::recover::flashback::apply::How::default(),
        crate::recover::flashback::Cascades::Rebuild {
            repo,
            server: Some(&acc.server),
            mysqld: mysqld.map(Path::to_path_buf),
        },
        &mut rec.audit,
        ctx,
    )
    .await?;
    let rows_put_back: u64 = applied.rows.rows.values().flat_map(|k| k.values()).sum();
    let mut c = connect(target).await?;
    let (max, before) = acc.payments_before;
    let now = payments_up_to(&mut c, max).await?;
    let _ = c.disconnect().await;
    let payments_verified = now == before;
    if !payments_verified {
        return Err(Error::Mismatch {
            subject: "sakila.payment".into(),
            problem: format!(
                "after the flashback, the payments up to id {max} are {now:?} (rows, fingerprint), not {before:?} as before the accident"
            ),
        });
    }
    say(&format!(
        "repaired: {rows_put_back} deleted payments put back as row events (their trigger-set payment_date kept), the application's later payments kept; verified"
    ));
    Ok(Repaired {
        table,
        rows_put_back,
        conflicts: applied.conflicts_total,
        payments_verified,
        end_to_end_ms: 0,
    })
}

/// Proves the side instance equals the state before the accident, and lists what production
/// lost since.
async fn prove(
    target: &lifeboat_server::ConnectOptions,
    side_dir: &Path,
    truth: &std::collections::BTreeMap<String, Option<u64>>,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Vec<String>, Error> {
    // Prove it.
    let side = lifeboat_server::Sandbox::open(side_dir)?.connect_options();
    let recovered = checksums(&side).await?;
    if recovered != *truth {
        let bad: Vec<&String> = truth
            .keys()
            .filter(|k| truth.get(*k) != recovered.get(*k))
            .collect();
        return Err(Error::Mismatch {
            subject: format!("recovered tables {bad:?}"),
            problem: "CHECKSUM TABLE differs from the state before the accident".into(),
        });
    }
    say(&format!(
        "proven: CHECKSUM TABLE of all {} tables equals the state captured just before the accident",
        truth.len()
    ));
    let report = crate::verify::diff::run(
        target,
        &side,
        &crate::verify::diff::Options {
            databases: vec!["sakila".into()],
            ..Default::default()
        },
    )
    .await?;
    let damage: Vec<String> = report
        .tables
        .iter()
        .filter(|t| t.status != "equal")
        .map(|t| match t.status {
            "differs" => format!(
                "{}: production lacks {} rows the recovered instance has, has {} it lacks, and {} differ",
                t.table, t.extra, t.missing, t.changed
            ),
            "missing_on_source" => format!("{}: dropped in production", t.table),
            "missing_on_target" => format!("{}: not in the recovered instance", t.table),
            s => format!("{}: {}", t.table, s.replace('_', " ")),
        })
        .collect();

    Ok(damage)
}

async fn prod_info_identity(opts: &ConnectOptions) -> Result<String, Error> {
    let mut c = connect(opts).await?;
    let info = lifeboat_server::ServerInfo::probe(&mut c).await?;
    let _ = c.disconnect().await;
    Ok(info.identity.id())
}
