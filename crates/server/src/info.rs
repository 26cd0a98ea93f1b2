//! What a server is: flavor, version, identity, GTID and binlog state, storage settings.

use std::collections::BTreeMap;
use std::fmt;

use lifeboat_binlog::{BinlogPos, Flavor, GtidSet};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::Serialize;

/// A parsed `major.minor.patch` server version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl Version {
    /// A version from parts.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Parses the leading `X.Y.Z` of a version string such as `10.11.19-MariaDB-0+deb12u1`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.strip_prefix("5.5.5-").unwrap_or(text);
        let head: String = text
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut it = head.split('.').map(|p| p.parse::<u32>().ok());
        Some(Self::new(
            it.next()??,
            it.next()??,
            it.next().flatten().unwrap_or(0),
        ))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Tells the flavor from a version string (`SELECT VERSION()` or `mysqld --version`).
pub fn flavor_of(version_text: &str) -> Flavor {
    if version_text.to_ascii_lowercase().contains("mariadb") {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    }
}

/// Who a server is, as far as a client can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerIdentity {
    /// MySQL's `server_uuid` (MariaDB has none).
    pub server_uuid: Option<String>,
    /// `server_id`.
    pub server_id: u32,
    /// `hostname` as the server reports it.
    pub hostname: String,
    /// `port` as the server reports it (also set when it only listens on a socket).
    pub port: u16,
}

impl ServerIdentity {
    /// The identity string that `check` prints and `--confirm-server` takes: the server UUID
    /// on MySQL, `hostname:port` on MariaDB.
    pub fn id(&self) -> String {
        self.server_uuid
            .clone()
            .unwrap_or_else(|| format!("{}:{}", self.hostname, self.port))
    }

    /// Whether `text` names this server: its UUID or its `hostname:port`, in any case.
    pub fn matches(&self, text: &str) -> bool {
        let text = text.trim();
        let host_port = format!("{}:{}", self.hostname, self.port);
        text.eq_ignore_ascii_case(&host_port)
            || self
                .server_uuid
                .as_deref()
                .is_some_and(|u| text.eq_ignore_ascii_case(u))
    }
}

impl fmt::Display for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

/// GTID settings and state.
#[derive(Debug, Clone, Serialize)]
pub struct GtidState {
    /// MySQL `gtid_mode` (OFF … ON); MariaDB always writes GTIDs: `ON`.
    pub mode: String,
    /// Executed transactions: MySQL `gtid_executed`, MariaDB `gtid_current_pos`.
    pub executed: GtidSet,
    /// MariaDB `gtid_binlog_pos` (what the binlog holds), absent on MySQL.
    pub binlog_pos: Option<GtidSet>,
    /// MariaDB `gtid_strict_mode`, MySQL `enforce_gtid_consistency`.
    pub strict: Option<String>,
}

/// Binary log settings.
#[derive(Debug, Clone, Serialize)]
pub struct BinlogSettings {
    /// `log_bin`.
    pub enabled: bool,
    /// `binlog_format`.
    pub format: Option<String>,
    /// `binlog_row_image`.
    pub row_image: Option<String>,
    /// `binlog_row_metadata` (MySQL 8.0.1+, MariaDB 10.5+).
    pub row_metadata: Option<String>,
    /// `sync_binlog`.
    pub sync_binlog: Option<u64>,
    /// Whether row events come with their statement: MySQL's
    /// `binlog_rows_query_log_events`, MariaDB's `binlog_annotate_row_events`.
    pub statements: Option<bool>,
    /// Retention in seconds (`binlog_expire_logs_seconds`, or `expire_logs_days` × 86400);
    /// 0 means never expire.
    pub expire_seconds: Option<u64>,
    /// Current write position, when the user may see it.
    pub current: Option<BinlogPos>,
}

/// Everything lifeboat needs to know about a server before acting on it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    /// MySQL or MariaDB.
    pub flavor: Flavor,
    /// Parsed version.
    pub version: Version,
    /// `VERSION()` as printed by the server.
    pub version_string: String,
    /// `version_comment`.
    pub version_comment: String,
    /// Who it is.
    pub identity: ServerIdentity,
    /// GTID state.
    pub gtid: GtidState,
    /// Binlog settings.
    pub binlog: BinlogSettings,
    /// `datadir`.
    pub datadir: String,
    /// `innodb_page_size`.
    pub page_size: u32,
    /// `innodb_file_per_table`.
    pub file_per_table: bool,
    /// `innodb_flush_log_at_trx_commit`.
    pub flush_log_at_trx_commit: Option<u32>,
    /// `read_only`.
    pub read_only: bool,
    /// `super_read_only` (MySQL only).
    pub super_read_only: Option<bool>,
    /// The account the connection authenticated as (`CURRENT_USER()`).
    pub current_user: String,
}

/// Why a server could not be described.
#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    /// A query failed.
    #[error("reading server settings: {0}")]
    Query(#[from] mysql_async::Error),
    /// The server answered something lifeboat cannot interpret.
    #[error("server reported {what} as {value:?}, which lifeboat cannot interpret")]
    Unexpected {
        /// Which value.
        what: &'static str,
        /// What it was.
        value: String,
    },
}

/// Reads global variables by name; names that do not exist on this server are absent.
pub async fn global_variables(
    conn: &mut Conn,
    names: &[&str],
) -> Result<BTreeMap<String, String>, mysql_async::Error> {
    let list = names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(",");
    let rows: Vec<(String, Option<String>)> = conn
        .query(format!(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ({list})"
        ))
        .await?;
    Ok(rows
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.unwrap_or_default()))
        .collect())
}

fn on(v: Option<&String>) -> bool {
    v.is_some_and(|s| matches!(s.to_ascii_uppercase().as_str(), "ON" | "1" | "TRUE"))
}

/// The variables [`ServerInfo::probe`] reads.
const VARS: &[&str] = &[
    "version",
    "version_comment",
    "server_id",
    "server_uuid",
    "hostname",
    "port",
    "datadir",
    "innodb_page_size",
    "innodb_file_per_table",
    "innodb_flush_log_at_trx_commit",
    "log_bin",
    "binlog_format",
    "binlog_row_image",
    "binlog_row_metadata",
    "binlog_rows_query_log_events",
    "binlog_annotate_row_events",
    "sync_binlog",
    "binlog_expire_logs_seconds",
    "expire_logs_days",
    "gtid_mode",
    "gtid_executed",
    "enforce_gtid_consistency",
    "gtid_current_pos",
    "gtid_binlog_pos",
    "gtid_strict_mode",
    "read_only",
    "super_read_only",
];

impl ServerInfo {
    /// Asks the server. Needs no privilege beyond a login, except the binlog position
    /// (REPLICATION CLIENT / BINLOG MONITOR), which is left empty when not allowed.
    pub async fn probe(conn: &mut Conn) -> Result<Self, InfoError> {
        let v = global_variables(conn, VARS).await?;
        let get = |k: &str| v.get(k).cloned().unwrap_or_default();
        let version_string = get("version");
        let flavor = flavor_of(&version_string);
        let version = Version::parse(&version_string).ok_or_else(|| InfoError::Unexpected {
            what: "version",
            value: version_string.clone(),
        })?;
        let num = |k: &str| v.get(k).and_then(|s| s.trim().parse::<f64>().ok());
        let gtid_text = |k: &str| {
            GtidSet::parse(flavor, &get(k)).map_err(|_| InfoError::Unexpected {
                what: "GTID state",
                value: get(k),
            })
        };
        let gtid = match flavor {
            Flavor::MySql => GtidState {
                mode: v.get("gtid_mode").cloned().unwrap_or_else(|| "OFF".into()),
                executed: gtid_text("gtid_executed")?,
                binlog_pos: None,
                strict: v.get("enforce_gtid_consistency").cloned(),
            },
            Flavor::MariaDb => GtidState {
                mode: "ON".into(),
                executed: gtid_text("gtid_current_pos")?,
                binlog_pos: Some(gtid_text("gtid_binlog_pos")?),
                strict: v.get("gtid_strict_mode").cloned(),
            },
        };
        // `binlog_expire_logs_seconds` wins when set; MariaDB before 10.6 and MySQL 5.7 only
        // have `expire_logs_days` (fractional on MariaDB).
        let expire_seconds = match num("binlog_expire_logs_seconds") {
            Some(s) if s > 0.0 => Some(s as u64),
            _ => num("expire_logs_days").map(|d| (d * 86_400.0) as u64),
        };
        let binlog_enabled = on(v.get("log_bin"));
        let current = if binlog_enabled {
            current_binlog_pos(conn, flavor, version).await
        } else {
            None
        };
        let current_user: Option<String> = conn.query_first("SELECT CURRENT_USER()").await?;
        Ok(Self {
            flavor,
            version,
            version_comment: get("version_comment"),
            identity: ServerIdentity {
                server_uuid: v.get("server_uuid").cloned().filter(|s| !s.is_empty()),
                server_id: num("server_id").unwrap_or(0.0) as u32,
                hostname: get("hostname"),
                port: num("port").unwrap_or(0.0) as u16,
            },
            gtid,
            binlog: BinlogSettings {
                enabled: binlog_enabled,
                format: v.get("binlog_format").cloned(),
                row_image: v.get("binlog_row_image").cloned(),
                row_metadata: v.get("binlog_row_metadata").cloned(),
                sync_binlog: num("sync_binlog").map(|n| n as u64),
                statements: v
                    .get("binlog_rows_query_log_events")
                    .or_else(|| v.get("binlog_annotate_row_events"))
                    .map(|s| on(Some(s))),
                expire_seconds,
                current,
            },
            datadir: get("datadir"),
            page_size: num("innodb_page_size").unwrap_or(16384.0) as u32,
            file_per_table: on(v.get("innodb_file_per_table")),
            flush_log_at_trx_commit: num("innodb_flush_log_at_trx_commit").map(|n| n as u32),
            read_only: on(v.get("read_only")),
            super_read_only: v.get("super_read_only").map(|s| on(Some(s))),
            current_user: current_user.unwrap_or_default(),
            version_string,
        })
    }
}

/// `SHOW MASTER STATUS` under its per-version name (MySQL 8.2 removed the old one).
pub fn binlog_status_statement(flavor: Flavor, version: Version) -> &'static str {
    match flavor {
        Flavor::MySql if version >= Version::new(8, 2, 0) => "SHOW BINARY LOG STATUS",
        Flavor::MariaDb if version >= Version::new(10, 5, 2) => "SHOW BINLOG STATUS",
        _ => "SHOW MASTER STATUS",
    }
}

/// The binlog's write position; `None` without the binlog or the privilege.
pub async fn current_binlog_pos(
    conn: &mut Conn,
    flavor: Flavor,
    version: Version,
) -> Option<BinlogPos> {
    let stmt = binlog_status_statement(flavor, version);
    let row: Option<mysql_async::Row> = conn.query_first(stmt).await.ok()?;
    let row = row?;
    let file: String = row.get(0)?;
    let pos: u64 = row.get(1)?;
    Some(BinlogPos::new(file, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            Version::parse("10.11.19-MariaDB-0+deb12u1"),
            Some(Version::new(10, 11, 19))
        );
        assert_eq!(
            Version::parse("5.5.5-10.3.39-MariaDB"),
            Some(Version::new(10, 3, 39))
        );
        assert_eq!(
            Version::parse("8.4.0-commercial"),
            Some(Version::new(8, 4, 0))
        );
        assert_eq!(Version::parse("8.0"), Some(Version::new(8, 0, 0)));
        assert_eq!(Version::parse("garbage"), None);
        assert_eq!(flavor_of("10.11.19-MariaDB"), Flavor::MariaDb);
        assert_eq!(flavor_of("8.0.36"), Flavor::MySql);
    }

    #[test]
    fn identity_matching() {
        let maria = ServerIdentity {
            server_uuid: None,
            server_id: 1,
            hostname: "db1".into(),
            port: 3306,
        };
        assert_eq!(maria.id(), "db1:3306");
        assert!(maria.matches("DB1:3306"));
        assert!(!maria.matches("db2:3306"));
        let mysql = ServerIdentity {
            server_uuid: Some("3e11fa47-71ca-11e1-9e33-c80aa9429562".into()),
            ..maria
        };
        assert!(mysql.matches("3E11FA47-71CA-11E1-9E33-C80AA9429562"));
        assert!(mysql.matches("db1:3306"));
    }
}
