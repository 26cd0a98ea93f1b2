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
mod load;
mod objects;
mod open;
mod select;
mod verify;

pub(crate) use load::load_columns;
pub(crate) use open::{local_infile_on, open_target};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use lifeboat_repo::Repository;
use lifeboat_server::ConnectOptions;
use mysql_async::Conn;
use serde::Serialize;

use crate::error::Error;
use crate::protect::backup::{Body, SchemaEntry, lit};
use crate::target::guard::{GuardedTarget, Policy};
use crate::target::journal::Audit;
use crate::target::side::Started;
use open::{Opened, open};
use select::checked_selection;

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
    /// With the binary log on (ROW, FULL images, full metadata): for work after the restore
    /// whose row events lifeboat reads back.
    pub binlog: bool,
}

impl SideInstance {
    /// A side instance in `dir` running the server lifeboat picks.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            mysqld: None,
            binlog: false,
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

/// Restores backup `id` from `repo` into `target`.
pub async fn run(
    repo: &Repository,
    id: &str,
    target: Target,
    policy: &Policy<'_>,
    opts: &RestoreOptions,
    audit: &mut Audit,
    ctx: &crate::Context,
) -> Result<Outcome, Error> {
    let progress = ctx.progress();
    let t0 = Instant::now();
    // Caught from the start: a SIGINT or SIGTERM stops the load, is journaled, and leaves a
    // target that `--resume` finishes (the chunks loaded are recorded with their rows).
    let mut interrupts = ctx.interrupts();
    let manifest = repo.manifest(id).await?;
    let body = Body::of(&manifest)?;
    let (selection, mut warnings) = checked_selection(&body, opts)?;
    let Opened {
        mut t,
        loaders,
        sandbox,
    } = open(
        &manifest,
        &body,
        &selection,
        target,
        opts,
        policy,
        audit,
        &mut warnings,
    )
    .await?;
    let ident = t.info.identity.id();
    let endpoint = t.endpoint.clone();
    let vouched = t.vouched();
    let target_dbs: Vec<String> = selection.iter().map(|(_, n)| n.clone()).collect();
    let job = Job {
        repo,
        manifest: &manifest,
        body: &body,
        selection: &selection,
        opts,
        progress,
        backup_lit: lit(&manifest.id.0),
        own_sandbox: sandbox.is_some(),
    };
    let result = tokio::select! {
        r = job.load(&mut t, loaders, &mut warnings) => r,
        signal = crate::interrupt::of(&mut interrupts) => Err(Error::interrupted(
            signal,
            "run the same restore again with --resume: it loads only what is missing",
        )),
    };
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
            audit.record(
                "restore",
                &ident,
                &endpoint,
                e.outcome(),
                Some(e.to_string()),
            )?;
            Err(e)
        }
    }
}

/// One restore's fixed facts, for its phases.
struct Job<'a> {
    repo: &'a Repository,
    manifest: &'a lifeboat_repo::Manifest,
    body: &'a Body,
    selection: &'a [(SchemaEntry, String)],
    opts: &'a RestoreOptions,
    progress: Arc<dyn crate::progress::Progress>,
    /// The backup id as an SQL literal (the progress records' key).
    backup_lit: String,
    /// Whether the target is a side instance this restore started.
    own_sandbox: bool,
}

impl Job<'_> {
    /// Everything after the target is open: tables, data, keys, objects, accounts, checks.
    /// Returns rows and bytes loaded, and checksums matched.
    async fn load(
        &self,
        t: &mut GuardedTarget,
        loaders: Vec<Conn>,
        warnings: &mut Vec<String>,
    ) -> Result<(u64, u64, usize), Error> {
        let ident = t.info.identity.id();
        // Pre-flight, before anything is created: the load needs LOAD DATA LOCAL.
        if !local_infile_on(t.conn()).await? {
            return Err(Error::Unprepared {
                server: ident,
                problem: "local_infile is OFF, and the parallel load needs it; nothing was changed"
                    .into(),
                hint: "SET GLOBAL local_infile = 1 on it for the restore".into(),
            });
        }
        let mut done = self.progress_records(t).await?;
        let already_complete = self.resume_check(t, &done, warnings).await?;
        let work = self
            .create_tables(t, &mut done, already_complete, warnings)
            .await?;
        let (rows, bytes, skipped, work) = self
            .load_data(loaders, work, &done, already_complete)
            .await?;
        self.finish_keys(t, &work).await?;
        self.create_objects(t).await?;
        self.accounts_and_gtids(t, warnings).await?;
        let matched = self.verify(t, &work).await?;
        if skipped > 0 {
            warnings.push(format!(
                "resumed: {skipped} chunk(s) were already loaded and were skipped"
            ));
        }
        Ok((rows, bytes, matched))
    }
}
