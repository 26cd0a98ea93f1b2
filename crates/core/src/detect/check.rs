//! `lifeboat check`: a disaster-recovery readiness report.
//!
//! Each finding says OK/WARN/FAIL, why it matters when you need to recover, and the exact
//! statement or config line that fixes it. FAIL means a recovery path lifeboat offers is
//! closed on this server (no binlog, no row events, an account that cannot back up).

use lifeboat_binlog::Flavor;
use lifeboat_server::{ServerInfo, Version};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Fine.
    Ok,
    /// Recovery works, but worse or riskier than it could.
    Warn,
    /// A recovery path is closed.
    Fail,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Ok => "OK",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable id for scripts, e.g. `binlog_format`.
    pub id: &'static str,
    /// Verdict.
    pub level: Level,
    /// What was found, one line.
    pub summary: String,
    /// Why it matters for recovery.
    pub why: String,
    /// The statement or config line that fixes it (absent when OK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The server examined.
    pub server: ServerInfo,
    /// Identity to pass as `--confirm-server`.
    pub identity: String,
    /// Findings, in a fixed order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The worst level found.
    pub fn worst(&self) -> Level {
        self.findings
            .iter()
            .map(|f| f.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    /// The finding with this id.
    pub fn get(&self, id: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.id == id)
    }
}

fn finding(
    id: &'static str,
    level: Level,
    summary: impl Into<String>,
    why: impl Into<String>,
    fix: Option<String>,
) -> Finding {
    Finding {
        id,
        level,
        summary: summary.into(),
        why: why.into(),
        fix: if level == Level::Ok { None } else { fix },
    }
}

/// Privilege names as `information_schema.USER_PRIVILEGES` spells them; alternatives
/// separated by `|` (MariaDB 10.5 renamed REPLICATION CLIENT to BINLOG MONITOR).
struct Need {
    command: &'static str,
    id: &'static str,
    level_if_missing: Level,
    privileges: Vec<&'static str>,
    why: &'static str,
}

fn needs(flavor: Flavor, version: Version) -> Vec<Need> {
    let repl_client = if flavor == Flavor::MariaDb && version >= Version::new(10, 5, 2) {
        "BINLOG MONITOR|REPLICATION CLIENT"
    } else {
        "REPLICATION CLIENT"
    };
    let (read_only_admin, binlog_admin) = match flavor {
        Flavor::MariaDb => ("READ_ONLY ADMIN|SUPER", "BINLOG ADMIN|SUPER"),
        Flavor::MySql => (
            "SYSTEM_VARIABLES_ADMIN|SUPER",
            "SYSTEM_VARIABLES_ADMIN|SUPER",
        ),
    };
    vec![
        Need {
            command: "backup",
            id: "privileges_backup",
            level_if_missing: Level::Fail,
            privileges: vec![
                "SELECT",
                "SHOW VIEW",
                "TRIGGER",
                "EVENT",
                "LOCK TABLES",
                "RELOAD",
                repl_client,
            ],
            why: "a consistent backup reads every table, view, trigger and event, takes the brief global lock (RELOAD) and records the binlog position (REPLICATION CLIENT / BINLOG MONITOR)",
        },
        Need {
            command: "archive",
            id: "privileges_archive",
            level_if_missing: Level::Fail,
            privileges: vec!["REPLICATION SLAVE", repl_client],
            why: "continuous binlog archiving connects as a replica; without it recovery stops at the last backup",
        },
        Need {
            command: "freeze/thaw",
            id: "privileges_freeze",
            level_if_missing: Level::Warn,
            privileges: vec![read_only_admin, "PROCESS"],
            why: "stopping the bleeding sets the server read-only and lists every session",
        },
        Need {
            command: "restore (into this server)",
            id: "privileges_restore",
            level_if_missing: Level::Warn,
            privileges: vec![
                "SELECT",
                "INSERT",
                "CREATE",
                "DROP",
                "ALTER",
                "INDEX",
                "CREATE VIEW",
                "CREATE ROUTINE",
                "ALTER ROUTINE",
                "TRIGGER",
                "EVENT",
                "REFERENCES",
                binlog_admin,
            ],
            why: "table-level recovery back into production recreates tables and loads rows without writing them to the binlog",
        },
    ]
}

/// Why the check could not run.
#[derive(Debug, thiserror::Error)]
#[error("check: {0}")]
pub struct CheckError(#[from] pub mysql_async::Error);

const SYSTEM_SCHEMAS: &str = "'mysql','information_schema','performance_schema','sys'";

/// Connects to the server `opts` name, runs every check, and with a repository adds what
/// it holds for that server.
pub async fn audit(
    opts: &lifeboat_server::ConnectOptions,
    repo: Option<&lifeboat_repo::Repository>,
) -> Result<Report, crate::Error> {
    let mut c = lifeboat_server::connect(opts).await?;
    let info = ServerInfo::probe(&mut c).await?;
    let mut report = run(&mut c, info)
        .await
        .map_err(|CheckError(source)| crate::Error::Sql {
            what: "check".into(),
            source,
        })?;
    let _ = c.disconnect().await;
    if let Some(r) = repo {
        report.findings.extend(repository(r, &report.server).await?);
    }
    Ok(report)
}

/// Runs every check against a connected server.
pub async fn run(conn: &mut Conn, info: ServerInfo) -> Result<Report, CheckError> {
    let mut f = Vec::new();
    binlog(&mut f, &info);
    durability(&mut f, &info);
    retention(&mut f, &info, conn).await?;
    gtids(&mut f, &info);
    tables(&mut f, &info, conn).await?;
    read_only(&mut f, &info);
    account(&mut f, &info, conn).await?;

    Ok(Report {
        identity: info.identity.id(),
        server: info,
        findings: f,
    })
}

/// The binary log: on, ROW format, full images and metadata, statements beside rows.
fn binlog(f: &mut Vec<Finding>, info: &ServerInfo) {
    let b = &info.binlog;
    // Binary log.
    f.push(if b.enabled {
        finding(
            "binlog",
            Level::Ok,
            match &b.current {
                Some(p) => format!("binary log is on (now at {p})"),
                None => "binary log is on".into(),
            },
            "point-in-time recovery replays the binlog from the backup's position",
            None,
        )
    } else {
        finding(
            "binlog",
            Level::Fail,
            "binary log is OFF",
            "without the binlog, everything written since the last backup is lost in a disaster, and destructive statements cannot be located",
            Some("my.cnf [mysqld]: log_bin = mysql-bin and server_id = 1 (needs a restart)".into()),
        )
    });

    // Format.
    let fmt = b.format.clone().unwrap_or_default().to_ascii_uppercase();
    f.push(match fmt.as_str() {
        "ROW" => finding("binlog_format", Level::Ok, "binlog_format=ROW", "row events record every changed row exactly", None),
        "MIXED" => finding(
            "binlog_format",
            Level::Warn,
            "binlog_format=MIXED",
            "statements logged as text cannot be flashed back and may replay differently (NOW(), LIMIT without ORDER BY); mass DELETE/UPDATE row counts are unknown",
            Some("SET GLOBAL binlog_format='ROW'; and my.cnf [mysqld]: binlog_format = ROW".into()),
        ),
        other => finding(
            "binlog_format",
            Level::Fail,
            format!("binlog_format={other}"),
            "statement-based logs cannot be flashed back, hide how many rows a statement destroyed, and can replay to different data",
            Some("SET GLOBAL binlog_format='ROW'; and my.cnf [mysqld]: binlog_format = ROW".into()),
        ),
    });

    // Row image and metadata.
    f.extend(b.row_image.as_deref().map(|v| {
        must_be_full(
            "binlog_row_image",
            v,
            "before and after images hold every column",
            "row events miss columns: a DELETE or UPDATE cannot be undone from the binlog (flashback refuses such events)",
        )
    }));
    f.extend(b.row_metadata.as_deref().map(|v| {
        must_be_full(
            "binlog_row_metadata",
            v,
            "row events carry column names, signedness and charsets",
            "without column names in the binlog, a row image is positional: after a schema change, recovered rows are hard to map to columns",
        )
    }));

    // The statement beside its row events: how a DELETE or UPDATE without WHERE is told
    // from a large one with a WHERE.
    if let Some(on) = b.statements {
        let (var, value) = match info.flavor {
            lifeboat_binlog::Flavor::MySql => ("binlog_rows_query_log_events", "ON"),
            lifeboat_binlog::Flavor::MariaDb => ("binlog_annotate_row_events", "ON"),
        };
        f.push(if on {
            finding("binlog_statements", Level::Ok, format!("{var}={value}"), "row events come with the statement that made them", None)
        } else {
            finding(
                "binlog_statements",
                Level::Warn,
                format!("{var}=OFF"),
                "row events come without their statement: `lifeboat incidents` cannot tell a DELETE or UPDATE without WHERE from a large one with a WHERE",
                Some(format!("SET GLOBAL {var}={value}; and my.cnf [mysqld]: {var} = {value}")),
            )
        });
    }
}

/// A setting that should be FULL: OK when it is, else a warning with the fix.
fn must_be_full(name: &'static str, value: &str, ok: &'static str, risk: &'static str) -> Finding {
    let value = value.to_ascii_uppercase();
    if value == "FULL" {
        finding(name, Level::Ok, format!("{name}=FULL"), ok, None)
    } else {
        finding(
            name,
            Level::Warn,
            format!("{name}={value}"),
            risk,
            Some(format!(
                "SET GLOBAL {name}='FULL'; and my.cnf [mysqld]: {name} = FULL"
            )),
        )
    }
}

/// Durability: sync_binlog and innodb_flush_log_at_trx_commit.
fn durability(f: &mut Vec<Finding>, info: &ServerInfo) {
    let b = &info.binlog;
    // Durability.
    f.push(match b.sync_binlog {
        Some(1) => finding("sync_binlog", Level::Ok, "sync_binlog=1", "every commit is on disk in the binlog", None),
        other => finding(
            "sync_binlog",
            Level::Warn,
            format!("sync_binlog={}", other.map_or("?".into(), |n| n.to_string())),
            "after an OS crash or power loss the binlog can miss transactions InnoDB kept: replicas and point-in-time recovery lose them",
            Some("SET GLOBAL sync_binlog=1; and my.cnf [mysqld]: sync_binlog = 1".into()),
        ),
    });
    f.push(match info.flush_log_at_trx_commit {
        Some(1) => finding("innodb_flush_log_at_trx_commit", Level::Ok, "innodb_flush_log_at_trx_commit=1", "committed transactions survive a crash", None),
        other => finding(
            "innodb_flush_log_at_trx_commit",
            Level::Warn,
            format!("innodb_flush_log_at_trx_commit={}", other.map_or("?".into(), |n| n.to_string())),
            "up to about a second of committed transactions is lost in an OS crash or power loss",
            Some("SET GLOBAL innodb_flush_log_at_trx_commit=1; and my.cnf [mysqld]: innodb_flush_log_at_trx_commit = 1".into()),
        ),
    });
}

/// Retention: how long binlogs are kept, and how much is there.
async fn retention(
    f: &mut Vec<Finding>,
    info: &ServerInfo,
    conn: &mut Conn,
) -> Result<(), CheckError> {
    let maria = info.flavor == Flavor::MariaDb;
    let b = &info.binlog;
    // Retention.
    let binlog_files = if b.enabled {
        binlog_file_summary(conn).await
    } else {
        None
    };
    let files_note = binlog_files
        .map(|(n, bytes)| {
            format!(
                "; {n} binlog files, {:.1} MiB on disk",
                bytes as f64 / 1_048_576.0
            )
        })
        .unwrap_or_default();
    let expire_fix = if maria && info.version < Version::new(10, 6, 1) {
        "SET GLOBAL expire_logs_days=7; and my.cnf [mysqld]: expire_logs_days = 7 (longer than your backup interval)"
    } else {
        "SET GLOBAL binlog_expire_logs_seconds=604800; and my.cnf [mysqld]: binlog_expire_logs_seconds = 604800 (longer than your backup interval)"
    };
    if b.enabled {
        f.push(match b.expire_seconds {
            Some(0) | None => finding(
                "binlog_retention",
                Level::Warn,
                format!("binlogs never expire{files_note}"),
                "point-in-time recovery can reach back to any backup, but the disk fills until the server stops; archive binlogs off the server and set a retention",
                Some(expire_fix.into()),
            ),
            Some(s) if s < 86_400 * 2 => finding(
                "binlog_retention",
                Level::Warn,
                format!("binlogs kept {:.1} h{files_note}", s as f64 / 3600.0),
                "point-in-time recovery needs every binlog since the last good backup; with daily backups, less than two days of binlogs leaves no margin for a failed backup",
                Some(expire_fix.into()),
            ),
            Some(s) => finding(
                "binlog_retention",
                Level::Ok,
                format!("binlogs kept {:.1} days{files_note}", s as f64 / 86_400.0),
                "point-in-time recovery works from any backup younger than this",
                None,
            ),
        });
    }
    Ok(())
}

/// GTIDs.
fn gtids(f: &mut Vec<Finding>, info: &ServerInfo) {
    let maria = info.flavor == Flavor::MariaDb;
    // GTIDs.
    f.push(if maria {
        finding(
            "gtid",
            Level::Ok,
            format!(
                "GTIDs on (MariaDB always writes them); gtid_current_pos={}, gtid_strict_mode={}",
                if info.gtid.executed.is_empty() { "(empty)".to_owned() } else { info.gtid.executed.to_string() },
                info.gtid.strict.clone().unwrap_or_default()
            ),
            "transactions are identified across binlog files and servers, so a replay starts exactly where the backup ends",
            None,
        )
    } else if info.gtid.mode.eq_ignore_ascii_case("ON") {
        finding("gtid", Level::Ok, format!("gtid_mode=ON; gtid_executed={}", info.gtid.executed), "transactions are identified across binlog files and servers", None)
    } else {
        finding(
            "gtid",
            Level::Warn,
            format!("gtid_mode={}", info.gtid.mode),
            "without GTIDs a transaction is known only by file and offset; after a failover file names collide and recovery must be stitched by hand",
            Some("SET GLOBAL enforce_gtid_consistency=ON; then gtid_mode OFF_PERMISSIVE -> ON_PERMISSIVE -> ON one step at a time; and the same in my.cnf".into()),
        )
    });
}

/// Tablespaces, tables without a primary key, non-transactional tables.
async fn tables(
    f: &mut Vec<Finding>,
    info: &ServerInfo,
    conn: &mut Conn,
) -> Result<(), CheckError> {
    let maria = info.flavor == Flavor::MariaDb;
    // Tablespaces.
    f.push(if info.file_per_table {
        finding("innodb_file_per_table", Level::Ok, "innodb_file_per_table=ON", "each table has its own .ibd: dropped space returns and a single table's pages can be salvaged", None)
    } else {
        finding(
            "innodb_file_per_table",
            Level::Warn,
            "innodb_file_per_table=OFF",
            "every table shares ibdata1: space is never returned and one damaged system tablespace takes all tables with it",
            Some("SET GLOBAL innodb_file_per_table=ON; and my.cnf [mysqld]: innodb_file_per_table = ON (existing tables move on ALTER TABLE ... FORCE)".into()),
        )
    });

    // Tables without a primary key.
    let no_pk: Vec<String> = conn
        .query(format!(
            "SELECT CONCAT(t.TABLE_SCHEMA,'.',t.TABLE_NAME) FROM information_schema.TABLES t \
             WHERE t.TABLE_TYPE='BASE TABLE' AND t.TABLE_SCHEMA NOT IN ({SYSTEM_SCHEMAS}) \
             AND NOT EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c \
               WHERE c.TABLE_SCHEMA=t.TABLE_SCHEMA AND c.TABLE_NAME=t.TABLE_NAME AND c.CONSTRAINT_TYPE='PRIMARY KEY') \
             ORDER BY 1"
        ))
        .await?;
    f.push(if no_pk.is_empty() {
        finding("primary_keys", Level::Ok, "every table has a primary key", "backups split tables into ranges; row events identify rows", None)
    } else {
        finding(
            "primary_keys",
            Level::Warn,
            format!("{} table(s) without a primary key: {}", no_pk.len(), list(&no_pk)),
            "such tables are backed up in one stream (no parallel chunks), and replaying or undoing their UPDATE/DELETE events scans the whole table per row",
            Some(format!(
                "ALTER TABLE {} ADD COLUMN lifeboat_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY{}; (or a natural key)",
                no_pk.first().map_or("db.t", String::as_str),
                if maria { " INVISIBLE" } else { "" }
            )),
        )
    });

    // Non-transactional tables.
    let non_innodb: Vec<(String, String)> = conn
        .query(format!(
            "SELECT CONCAT(TABLE_SCHEMA,'.',TABLE_NAME), COALESCE(ENGINE,'?') FROM information_schema.TABLES \
             WHERE TABLE_TYPE='BASE TABLE' AND TABLE_SCHEMA NOT IN ({SYSTEM_SCHEMAS}) \
             AND ENGINE NOT IN ('InnoDB') ORDER BY 1"
        ))
        .await?;
    f.push(if non_innodb.is_empty() {
        finding("engines", Level::Ok, "every table is InnoDB", "one consistent snapshot covers all data", None)
    } else {
        let names: Vec<String> = non_innodb.iter().map(|(t, e)| format!("{t} ({e})")).collect();
        finding(
            "engines",
            Level::Warn,
            format!("{} non-InnoDB table(s): {}", names.len(), list(&names)),
            "they are outside the consistent snapshot (a backup must lock them while it reads them) and a crash can leave them corrupt",
            Some(format!(
                "ALTER TABLE {} ENGINE=InnoDB;",
                non_innodb.first().map_or("db.t", |(t, _)| t.as_str())
            )),
        )
    });
    Ok(())
}

/// Read-only state.
fn read_only(f: &mut Vec<Finding>, info: &ServerInfo) {
    // Read-only state.
    if info.read_only || info.super_read_only == Some(true) {
        f.push(finding(
            "read_only",
            Level::Warn,
            "server is read-only",
            "writes are refused (a replica, or frozen with `lifeboat freeze`); expected on a replica, an outage on a primary",
            Some("after an incident is resolved: lifeboat thaw --confirm-server ID".into()),
        ));
    }
}

/// Privileges of this account for each lifeboat command.
async fn account(
    f: &mut Vec<Finding>,
    info: &ServerInfo,
    conn: &mut Conn,
) -> Result<(), CheckError> {
    // Privileges of this account.
    let granted = privileges(conn).await?;
    let limited_view = !granted.iter().any(|p| p == "SELECT");
    for need in needs(info.flavor, info.version) {
        let missing: Vec<&str> = need
            .privileges
            .iter()
            .filter(|alts| !alts.split('|').any(|a| granted.iter().any(|g| g == a)))
            .copied()
            .collect();
        let user = &info.current_user;
        f.push(if missing.is_empty() {
            finding(
                need.id,
                Level::Ok,
                format!("{user} can run `lifeboat {}`", need.command),
                need.why,
                None,
            )
        } else {
            let shown: Vec<String> = missing.iter().map(|m| m.replace('|', " or ")).collect();
            let grant: Vec<&str> = missing.iter().filter_map(|m| m.split('|').next()).collect();
            finding(
                need.id,
                need.level_if_missing,
                format!(
                    "{user} cannot run `lifeboat {}`: missing {}",
                    need.command,
                    shown.join(", ")
                ),
                need.why,
                Some(format!(
                    "GRANT {} ON *.* TO {};",
                    grant.join(", "),
                    quote_account(user)
                )),
            )
        });
    }
    if limited_view {
        f.push(finding(
            "visibility",
            Level::Warn,
            format!(
                "{} has no global SELECT: tables it cannot see were not checked",
                info.current_user
            ),
            "the key and engine checks above only cover tables visible to this account",
            Some(format!(
                "GRANT SELECT ON *.* TO {};",
                quote_account(&info.current_user)
            )),
        ));
    }
    Ok(())
}

fn list(items: &[String]) -> String {
    const SHOW: usize = 8;
    let mut s = items
        .iter()
        .take(SHOW)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOW {
        s.push_str(&format!(" and {} more", items.len() - SHOW));
    }
    s
}

/// `user@host` as `'user'@'host'`.
fn quote_account(current_user: &str) -> String {
    let (u, h) = current_user.rsplit_once('@').unwrap_or((current_user, "%"));
    let lit = lifeboat_mysql_types::quote::literal;
    format!("{}@{}", lit(u), lit(h))
}

/// Global privileges of the current account.
async fn privileges(conn: &mut Conn) -> Result<Vec<String>, mysql_async::Error> {
    conn.query(
        "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = \
         CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(),'@',1), '''@''', SUBSTRING_INDEX(CURRENT_USER(),'@',-1), '''')",
    )
    .await
}

/// Number and total size of binlog files; `None` without the privilege.
async fn binlog_file_summary(conn: &mut Conn) -> Option<(usize, u64)> {
    let rows: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await.ok()?;
    let sizes: Vec<u64> = rows.iter().filter_map(|r| r.get::<u64, _>(1)).collect();
    Some((sizes.len(), sizes.iter().sum()))
}

/// How long the archive may store nothing while behind the server before `check` warns.
const ARCHIVE_STALL_SECS: i64 = 60;

/// How old the newest backup may be before `check` warns.
const BACKUP_MAX_AGE_HOURS: i64 = 26;

/// Findings about what a repository holds for this server: its newest backup, and its
/// archived binlogs (gaps, and whether the archive keeps up with the server).
pub async fn repository(
    repo: &lifeboat_repo::Repository,
    info: &ServerInfo,
) -> Result<Vec<Finding>, crate::Error> {
    let identity = info.identity.id();
    let mut f = Vec::new();
    let location = repo.location().to_owned();

    // The newest committed backup of this server.
    let mut newest: Option<(jiff::Timestamp, String)> = None;
    for l in repo.list_backups().await? {
        if let lifeboat_repo::BackupListing::Complete(m) = l
            && crate::protect::backup::Body::of(&m).is_ok_and(|b| b.server.identity == identity)
            && let Ok(t) = m.finished.parse::<jiff::Timestamp>()
            && newest.as_ref().is_none_or(|(n, _)| t > *n)
        {
            newest = Some((t, m.id.to_string()));
        }
    }
    let why = "a restore starts from the newest backup; everything after it must come from binlogs";
    let fix = Some(format!("lifeboat backup --repo {location}"));
    f.push(match newest {
        None => finding(
            "backup_recent",
            Level::Fail,
            format!("no backup of {identity} in {location}"),
            why,
            fix,
        ),
        Some((t, id)) => {
            let hours = jiff::Timestamp::now().duration_since(t).as_hours();
            let level = if hours > BACKUP_MAX_AGE_HOURS {
                Level::Warn
            } else {
                Level::Ok
            };
            finding(
                "backup_recent",
                level,
                format!("newest backup {id} finished {hours} h ago"),
                why,
                fix,
            )
        }
    });

    // Archived binlogs.
    let server = lifeboat_repo::server_key(&identity);
    let coverage = crate::protect::archive::coverage(repo).await?;
    let why =
        "point-in-time recovery past the newest backup replays archived binlogs; a gap stops it";
    let fix = Some(format!("lifeboat archive --repo {location} --follow"));
    let Some(c) = coverage.into_iter().find(|c| c.server == server) else {
        f.push(finding(
            "archive_gaps",
            Level::Warn,
            format!("no archived binlogs of {identity} in {location}"),
            why,
            fix,
        ));
        return Ok(f);
    };
    let (first, last) = (c.files.first(), c.files.last());
    f.push(if c.gaps.is_empty() {
        finding(
            "archive_gaps",
            Level::Ok,
            format!(
                "binlogs archived from {} to {}, no gaps",
                first.map_or("?", |x| x.file.as_str()),
                last.map_or("?", |x| x.file.as_str())
            ),
            why,
            None,
        )
    } else {
        finding(
            "archive_gaps",
            Level::Fail,
            format!("the binlog archive has gaps: {}", c.gaps.join("; ")),
            why,
            Some(
                "take a new backup: recovery to a point after a gap must start from a backup taken after it"
                    .into(),
            ),
        )
    });
    if let (Some(now), Some(last)) = (&info.binlog.current, last) {
        // Behind the server, and nothing stored for a minute: no archiver is keeping up. (Just
        // behind is normal: the server writes before the archiver can store.)
        let archived = lifeboat_binlog::BinlogPos::new(last.file.clone(), last.archived);
        let stored = repo.file_segments(&server, &last.file).await?;
        let newest = stored
            .iter()
            .filter_map(|s| s.stored_at.parse::<jiff::Timestamp>().ok())
            .max();
        let idle_secs = newest.map_or(i64::MAX, |t| {
            jiff::Timestamp::now().duration_since(t).as_secs()
        });
        let stalled = *now > archived && idle_secs > ARCHIVE_STALL_SECS;
        f.push(finding(
            "archive_current",
            if stalled { Level::Warn } else { Level::Ok },
            if stalled {
                format!(
                    "the server writes {now}, the archive ends at {archived}, stored nothing for {idle_secs} s: is the archiver running?"
                )
            } else {
                format!("the archive follows the server (server at {now}, archive at {archived})")
            },
            "what the archive does not hold is lost with the server",
            fix,
        ));
    }
    Ok(f)
}
