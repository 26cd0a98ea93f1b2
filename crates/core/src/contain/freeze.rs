//! Stop the bleeding: `freeze` makes the server read-only, `thaw` undoes it.
//!
//! On MySQL `super_read_only` stops every account. On MariaDB `read_only` does not stop
//! accounts with READ_ONLY ADMIN (SUPER before 10.11), and a transaction that already wrote
//! may still commit: freeze therefore lists those sessions and open write transactions, and
//! `--kill-writers` ends the latter (they roll back). The switch waits at most `--wait`
//! seconds for locks (a global read lock queued behind a long transaction would otherwise
//! stall every writer: DESIGN.md trap).

use std::time::Duration;

use lifeboat_binlog::Flavor;
use lifeboat_server::{ConnectOptions, ServerInfo, Version, connect};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::error::Error;
use crate::target::guard::{self, GuardedTarget, Policy, Refusal};
use crate::target::journal::Audit;

/// A client session.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// Connection id (for KILL).
    pub id: u64,
    /// Account user name.
    pub user: String,
    /// Client host.
    pub host: String,
    /// Default database.
    pub db: String,
    /// `Sleep`, `Query`, ...
    pub command: String,
    /// Seconds in this state.
    pub time: u64,
    /// Statement text, cut to 120 characters.
    pub info: String,
}

/// A transaction that has modified rows and not yet ended.
#[derive(Debug, Clone, Serialize)]
pub struct WriteTransaction {
    /// Connection id holding it.
    pub session_id: u64,
    /// When it started (server time).
    pub started: String,
    /// Rows modified so far.
    pub rows_modified: u64,
    /// Account user name.
    pub user: String,
}

/// What freeze/thaw found and did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Server identity.
    pub server: String,
    /// `freeze` or `thaw`.
    pub action: &'static str,
    /// Nothing was changed.
    pub dry_run: bool,
    /// `read_only` before.
    pub was_read_only: bool,
    /// `read_only` after.
    pub read_only: bool,
    /// `super_read_only` after (MySQL).
    pub super_read_only: Option<bool>,
    /// Other client sessions.
    pub sessions: Vec<Session>,
    /// Open transactions that modified rows.
    pub write_transactions: Vec<WriteTransaction>,
    /// Sessions whose account bypasses read_only (MariaDB READ_ONLY ADMIN / SUPER).
    pub may_still_write: Vec<u64>,
    /// Sessions killed by `--kill-writers`.
    pub killed: Vec<u64>,
    /// The operator's reason.
    pub reason: Option<String>,
}

/// Options of `freeze`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct FreezeOptions {
    /// Why (recorded in the audit journal), e.g. "DROP TABLE orders at 14:30".
    #[cfg_attr(feature = "clap", arg(long))]
    pub reason: String,
    /// Seconds to wait for locks before giving up (a long transaction can block the switch).
    #[cfg_attr(feature = "clap", arg(long, value_name = "SECS", default_value_t = 10))]
    pub wait: u64,
    /// Kill the sessions holding open write transactions (their changes roll back).
    #[cfg_attr(feature = "clap", arg(long))]
    pub kill_writers: bool,
    /// Show what would happen; change nothing.
    #[cfg_attr(feature = "clap", arg(long))]
    pub dry_run: bool,
    /// Leave accounts with the admin privilege able to write (MySQL: read_only without
    /// super_read_only): for lifeboat's own session that writes recovered rows while the
    /// application is held.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub admins_may_write: bool,
}

/// Options of `thaw`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ThawOptions {
    /// Make a replica writable too (replicas are normally kept read-only).
    #[cfg_attr(feature = "clap", arg(long))]
    pub force: bool,
    /// Show what would happen; change nothing.
    #[cfg_attr(feature = "clap", arg(long))]
    pub dry_run: bool,
    /// Leave accounts with the admin privilege able to write (MySQL: read_only without
    /// super_read_only): for lifeboat's own session that writes recovered rows while the
    /// application is held.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub admins_may_write: bool,
}

async fn sessions(conn: &mut Conn) -> Result<Vec<Session>, Error> {
    let rows: Vec<(u64, String, String, String, String, u64, String)> = conn
        .query(
            "SELECT ID, USER, HOST, COALESCE(DB,''), COMMAND, COALESCE(TIME,0), LEFT(COALESCE(INFO,''),120) \
             FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
             AND COMMAND NOT IN ('Daemon','Binlog Dump','Binlog Dump GTID') \
             AND USER NOT IN ('system user','event_scheduler') ORDER BY ID",
        )
        .await
        .map_err(Error::sql("listing sessions"))?;
    Ok(rows
        .into_iter()
        .map(|(id, user, host, db, command, time, info)| Session {
            id,
            user,
            host,
            db,
            command,
            time,
            info,
        })
        .collect())
}

async fn write_transactions(conn: &mut Conn) -> Result<Vec<WriteTransaction>, Error> {
    let rows: Vec<(u64, String, u64, String)> = conn
        .query(
            "SELECT t.trx_mysql_thread_id, CAST(t.trx_started AS CHAR), t.trx_rows_modified, COALESCE(p.USER,'') \
             FROM information_schema.INNODB_TRX t LEFT JOIN information_schema.PROCESSLIST p \
             ON p.ID = t.trx_mysql_thread_id WHERE t.trx_rows_modified > 0 AND t.trx_mysql_thread_id <> CONNECTION_ID() \
             ORDER BY t.trx_started",
        )
        .await
        .map_err(Error::sql("listing open transactions"))?;
    Ok(rows
        .into_iter()
        .map(
            |(session_id, started, rows_modified, user)| WriteTransaction {
                session_id,
                started,
                rows_modified,
                user,
            },
        )
        .collect())
}

/// Account user names that bypass `read_only` on MariaDB.
async fn bypassing_users(conn: &mut Conn, info: &ServerInfo) -> Result<Vec<String>, Error> {
    if info.flavor != Flavor::MariaDb {
        return Ok(Vec::new()); // super_read_only stops everyone
    }
    let privs = if info.version >= Version::new(10, 11, 0) {
        "'READ_ONLY ADMIN'"
    } else {
        "'READ_ONLY ADMIN','SUPER'"
    };
    let grantees: Vec<String> = conn
        .query(format!(
            "SELECT DISTINCT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN ({privs})"
        ))
        .await
        .map_err(Error::sql("reading privileges"))?;
    Ok(grantees
        .iter()
        .filter_map(|g| {
            g.strip_prefix('\'')?
                .split_once("'@'")
                .map(|(u, _)| u.replace("''", "'"))
        })
        .collect())
}

async fn read_only_state(
    conn: &mut Conn,
    info: &ServerInfo,
) -> Result<(bool, Option<bool>), Error> {
    let stmt = if info.flavor == Flavor::MySql {
        "SELECT @@GLOBAL.read_only, @@GLOBAL.super_read_only"
    } else {
        "SELECT @@GLOBAL.read_only, NULL"
    };
    let row: Option<(u8, Option<u8>)> = conn
        .query_first(stmt)
        .await
        .map_err(Error::sql("reading read_only"))?;
    let (ro, sro) = row.unwrap_or((0, None));
    Ok((ro != 0, sro.map(|v| v != 0)))
}

/// A server opened for freeze/thaw: read access always; write access only through the guard,
/// so a `--dry-run` (which skips the guard) has no way to write.
enum Access {
    Observe(Conn, ServerInfo, String),
    Write(GuardedTarget),
}

impl Access {
    fn parts(&mut self) -> (&mut Conn, &ServerInfo) {
        match self {
            Access::Observe(c, i, _) => (c, i),
            Access::Write(t) => t.parts(),
        }
    }

    fn writer(&mut self) -> Option<&mut GuardedTarget> {
        match self {
            Access::Observe(..) => None,
            Access::Write(t) => Some(t),
        }
    }

    fn endpoint(&self) -> &str {
        match self {
            Access::Observe(_, _, e) => e,
            Access::Write(t) => &t.endpoint,
        }
    }
}

/// Connects and identifies the server; with a policy, passes the guard (journaling a refusal).
async fn open(
    conn_opts: &ConnectOptions,
    policy: Option<&Policy<'_>>,
    command: &str,
    audit: &mut Audit,
) -> Result<Access, Error> {
    let mut conn = connect(conn_opts).await?;
    let info = ServerInfo::probe(&mut conn).await?;
    let endpoint = conn_opts.endpoint.to_string();
    let Some(policy) = policy else {
        return Ok(Access::Observe(conn, info, endpoint));
    };
    let id = info.identity.id();
    match guard::check(conn, info, conn_opts, policy) {
        Ok(t) => Ok(Access::Write(t)),
        Err(refusal) => Err(audit.refuse(command, &id, &endpoint, refusal)),
    }
}

fn describe(o: &Outcome) -> String {
    format!(
        "read_only {} -> {}; {} other sessions, {} open write transactions, {} killed",
        o.was_read_only,
        o.read_only,
        o.sessions.len(),
        o.write_transactions.len(),
        o.killed.len()
    )
}

/// Sets the server read-only (after the guard), then reports who is still connected.
pub async fn freeze(
    conn_opts: &ConnectOptions,
    policy: &Policy<'_>,
    opts: &FreezeOptions,
    audit: &mut Audit,
) -> Result<Outcome, Error> {
    let mut access = open(
        conn_opts,
        (!opts.dry_run).then_some(policy),
        "freeze",
        audit,
    )
    .await?;
    let (conn, info) = access.parts();
    let (was_read_only, _) = read_only_state(conn, info).await?;
    if let Some(t) = access.writer()
        && let Err(e) = set_read_only(t, true, opts.admins_may_write, opts.wait).await
    {
        let (id, ep) = (t.info.identity.id(), t.endpoint.clone());
        audit.record("freeze", &id, &ep, "failed", Some(e.to_string()))?;
        return Err(e);
    }
    let (conn, info) = access.parts();
    let sessions = sessions(conn).await?;
    let write_transactions = write_transactions(conn).await?;
    let bypass = bypassing_users(conn, info).await?;
    let may_still_write = sessions
        .iter()
        .filter(|s| bypass.contains(&s.user))
        .map(|s| s.id)
        .collect();
    let mut killed = Vec::new();
    if opts.kill_writers
        && let Some(t) = access.writer()
    {
        for w in &write_transactions {
            // The session may have ended between the listing and now: not an error.
            let kill = format!("KILL CONNECTION {}", w.session_id);
            if t.conn().query_drop(kill).await.is_ok() {
                killed.push(w.session_id);
            }
        }
    }
    let (conn, info) = access.parts();
    let (read_only, super_read_only) = read_only_state(conn, info).await?;
    let outcome = Outcome {
        server: info.identity.id(),
        action: "freeze",
        dry_run: opts.dry_run,
        was_read_only,
        read_only: if opts.dry_run { true } else { read_only },
        super_read_only,
        sessions,
        write_transactions,
        may_still_write,
        killed,
        reason: Some(opts.reason.clone()),
    };
    if !opts.dry_run {
        let detail = format!("reason: {}; {}", opts.reason, describe(&outcome));
        let endpoint = access.endpoint().to_owned();
        audit.record("freeze", &outcome.server, &endpoint, "ok", Some(detail))?;
    }
    Ok(outcome)
}

async fn set_read_only(
    t: &mut GuardedTarget,
    on: bool,
    admins_may_write: bool,
    wait_secs: u64,
) -> Result<(), Error> {
    let flavor = t.info.flavor;
    let v = u8::from(on);
    let stmts: Vec<String> = match (flavor, on) {
        (Flavor::MySql, true) if admins_may_write => vec!["SET GLOBAL read_only = 1".into()],
        (Flavor::MySql, true) => vec![format!("SET GLOBAL super_read_only = {v}")],
        (Flavor::MySql, false) => vec![
            "SET GLOBAL super_read_only = 0".into(),
            "SET GLOBAL read_only = 0".into(),
        ],
        (Flavor::MariaDb, _) => vec![format!("SET GLOBAL read_only = {v}")],
    };
    t.conn()
        .query_drop(format!(
            "SET SESSION lock_wait_timeout = {}",
            wait_secs.max(1)
        ))
        .await
        .map_err(Error::sql("setting lock_wait_timeout"))?;
    for stmt in stmts {
        let fut = t.conn().query_drop(stmt.clone());
        match tokio::time::timeout(Duration::from_secs(wait_secs.max(1) + 5), fut).await {
            Ok(Ok(())) => {}
            Ok(Err(mysql_async::Error::Server(s))) if s.code == 1205 => {
                return Err(Error::Timeout {
                    what: format!("`{stmt}` waited for locks held by other sessions"),
                    secs: wait_secs,
                    hint: "`lifeboat freeze --dry-run` lists open write transactions; end them or retry with --kill-writers".into(),
                });
            }
            Ok(Err(e)) => return Err(Error::sql(format!("`{stmt}`"))(e)),
            Err(_) => {
                return Err(Error::Timeout {
                    what: format!("`{stmt}` did not return"),
                    secs: wait_secs + 5,
                    hint:
                        "another session holds a lock; `lifeboat freeze --dry-run` lists sessions"
                            .into(),
                });
            }
        }
    }
    Ok(())
}

/// Makes the server writable again (after the guard).
pub async fn thaw(
    conn_opts: &ConnectOptions,
    policy: &Policy<'_>,
    opts: &ThawOptions,
    audit: &mut Audit,
) -> Result<Outcome, Error> {
    let mut access = open(conn_opts, (!opts.dry_run).then_some(policy), "thaw", audit).await?;
    let (conn, info) = access.parts();
    let (was_read_only, _) = read_only_state(conn, info).await?;
    let replica = is_replica(conn, info).await;
    if let Some(t) = access.writer() {
        if replica && !opts.force {
            let refusal = Refusal::Unsafe {
                action: "make the server writable".into(),
                reason:
                    "it is a replica, and replicas are kept read-only; pass --force to do it anyway"
                        .into(),
            };
            let (id, ep) = (t.info.identity.id(), t.endpoint.clone());
            return Err(audit.refuse("thaw", &id, &ep, refusal));
        }
        if let Err(e) = set_read_only(t, false, false, 10).await {
            let (id, ep) = (t.info.identity.id(), t.endpoint.clone());
            audit.record("thaw", &id, &ep, "failed", Some(e.to_string()))?;
            return Err(e);
        }
    }
    let (conn, info) = access.parts();
    let (read_only, super_read_only) = read_only_state(conn, info).await?;
    let outcome = Outcome {
        server: info.identity.id(),
        action: "thaw",
        dry_run: opts.dry_run,
        was_read_only,
        read_only: if opts.dry_run { false } else { read_only },
        super_read_only,
        sessions: sessions(conn).await?,
        write_transactions: Vec::new(),
        may_still_write: Vec::new(),
        killed: Vec::new(),
        reason: None,
    };
    if !opts.dry_run {
        let endpoint = access.endpoint().to_owned();
        audit.record(
            "thaw",
            &outcome.server,
            &endpoint,
            "ok",
            Some(describe(&outcome)),
        )?;
    }
    Ok(outcome)
}

/// Whether replication is configured (needs REPLICATION CLIENT / SLAVE MONITOR; false if not allowed).
async fn is_replica(conn: &mut Conn, info: &ServerInfo) -> bool {
    let stmt = if info.flavor == Flavor::MySql && info.version >= Version::new(8, 0, 22) {
        "SHOW REPLICA STATUS"
    } else {
        "SHOW SLAVE STATUS"
    };
    let rows: Result<Vec<mysql_async::Row>, _> = conn.query(stmt).await;
    rows.is_ok_and(|r| !r.is_empty())
}
