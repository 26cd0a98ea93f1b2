//! The restore's target: a side instance sized for the rows, or a named server through the
//! guard; its loading sessions; the refusals.

use lifeboat_server::{ConnectOptions, Sandbox, SandboxOptions, ServerInfo, connect};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::load::{binlog_off, strict_mode_off, table_exists};
use super::{RestoreOptions, Target};
use crate::error::Error;
use crate::protect::backup::{Body, SchemaEntry};
use crate::target::guard::{self, GuardedTarget, Policy, Refusal};
use crate::target::journal::Audit;
use crate::target::side::Started;

/// The buffer pool for a side instance that will hold `logical` bytes of rows: room for them
/// and their indexes (a quarter more), in the server's 128 MiB steps, and at most a quarter of
/// the memory the host has `available` so that a side instance on a busy host leaves it room.
/// `None` when the server's default of 128 MiB is as much, or the host's memory is unknown.
pub(super) fn side_buffer_pool(logical: u64, available: Option<u64>) -> Option<u64> {
    const STEP: u64 = 128 << 20;
    let want = logical
        .saturating_add(logical / 4)
        .div_ceil(STEP)
        .saturating_mul(STEP);
    let size = want.min(available? / 4 / STEP * STEP);
    (size > STEP).then_some(size)
}

/// The memory this host has available (Linux's `MemAvailable`), in bytes.
pub(super) fn memory_available() -> Option<u64> {
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
pub(super) fn side_settings(logical: u64, given: &[String]) -> Vec<String> {
    side_buffer_pool(logical, memory_available())
        .map(|b| format!("innodb_buffer_pool_size={}M", b >> 20))
        .into_iter()
        .chain(given.iter().cloned())
        .collect()
}

pub(super) async fn refusals(
    t: &mut GuardedTarget,
    targets: &[String],
    own_ids: &[u32],
    own_sandbox: bool,
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
    // A side instance this restore just started has no users: a session of its start-up that
    // has not closed yet is not one.
    if own_sandbox {
        return Ok(reasons);
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

/// The target, opened through the guard, with its loading sessions.
pub(super) struct Opened {
    pub(super) t: GuardedTarget,
    pub(super) loaders: Vec<Conn>,
    /// The side instance started for the restore.
    pub(super) sandbox: Option<Started>,
}

/// Opens the target through the guard (a side instance sized for the rows), then its
/// loading sessions; refuses a target with other sessions or the databases already, unless
/// `--force`, and one with the tables already in any case.
#[allow(clippy::too_many_arguments)]
pub(super) async fn open(
    manifest: &lifeboat_repo::Manifest,
    body: &Body,
    selection: &[(SchemaEntry, String)],
    target: Target,
    opts: &RestoreOptions,
    policy: &Policy<'_>,
    audit: &mut Audit,
    warnings: &mut Vec<String>,
) -> Result<Opened, Error> {
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
    let reasons = refusals(&mut t, expect_existing, &own, sandbox.is_some()).await?;
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
        for (s, name) in selection {
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
    Ok(Opened {
        t,
        loaders,
        sandbox,
    })
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
                    o.binlog = side.binlog;
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
