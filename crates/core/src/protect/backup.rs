//! `lifeboat backup`: a consistent, parallel, logical backup into a repository.
//!
//! 1. Block DDL (MariaDB: `BACKUP STAGE BLOCK_DDL`, which also freezes non-transactional
//!    tables; MySQL 8: `LOCK INSTANCE FOR BACKUP`; older servers: FTWRL), then discover
//!    schemas, tables, columns, keys and the server's own DDL text, and read non-InnoDB
//!    tables (they have no snapshot).
//! 2. Block commits briefly (MariaDB: `BACKUP STAGE BLOCK_COMMIT`, else FTWRL), all bounded
//!    by `--lock-wait`. Inside, every worker opens `START TRANSACTION WITH CONSISTENT
//!    SNAPSHOT` and the binlog position and GTID state are read. Then unlock everything.
//! 3. Workers read tables in their snapshots over the text protocol (see [`crate::sql::tsv`]),
//!    split into ranges of the key's leading column (integers by arithmetic on MIN and MAX;
//!    strings, temporals and DECIMAL by walking the key in the snapshot, compared in the
//!    column's own collation so the ranges use the index), copy the rows as LOAD DATA text,
//!    cut it into chunk objects of about `--chunk-mib`, and store them; `CHECKSUM TABLE` runs
//!    inside a snapshot too (it honours the read view: measured).
//! 4. The manifest is written last: the commit point.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifeboat_binlog::{BinlogPos, Flavor};
use lifeboat_repo::{BackupId, Manifest, ObjectRef, ObjectWriter, Repository};
use lifeboat_server::replica::ReplicaConn;
use lifeboat_server::{ConnectOptions, ServerInfo, Version, connect};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::sql::tsv;
use crate::verify::checksum_table::{ColumnFacts, RowChecksum};

/// Schemas never backed up.
pub const SYSTEM_SCHEMAS: &[&str] = &["mysql", "information_schema", "performance_schema", "sys"];

/// Options of `backup`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct BackupOptions {
    /// Parallel reader connections.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 4))]
    pub threads: usize,
    /// Only these databases (comma-separated).
    #[cfg_attr(
        feature = "clap",
        arg(long, value_delimiter = ',', value_name = "DB,...")
    )]
    pub databases: Vec<String>,
    /// Only these tables or views (db.name, comma-separated), with the tables' triggers.
    /// Routines and events belong to a database and come with `--databases`.
    #[cfg_attr(
        feature = "clap",
        arg(long, value_delimiter = ',', value_name = "DB.TABLE,...")
    )]
    pub tables: Vec<String>,
    /// Leave out these databases or tables (db or db.table, comma-separated).
    #[cfg_attr(
        feature = "clap",
        arg(long, value_delimiter = ',', value_name = "DB[.TABLE],...")
    )]
    pub exclude: Vec<String>,
    /// Target size of one chunk before compression, in MiB.
    #[cfg_attr(feature = "clap", arg(long, value_name = "MIB", default_value_t = 64))]
    pub chunk_mib: u64,
    /// Seconds to wait for the snapshot lock before giving up (long-running queries can hold
    /// it; waiting longer would stall the server's writers).
    #[cfg_attr(feature = "clap", arg(long, value_name = "SECS", default_value_t = 30))]
    pub lock_wait: u64,
    /// Also back up accounts and their grants (not the server's own system accounts).
    #[cfg_attr(feature = "clap", arg(long))]
    pub users: bool,
    /// Finish the newest interrupted backup instead of starting a new one. Allowed only when
    /// the server has not written since that backup's snapshot (same binlog position and GTID
    /// state); chunks already stored are not uploaded again. Otherwise says why it must start
    /// over.
    #[cfg_attr(feature = "clap", arg(long))]
    pub resume: bool,
    /// Capture each table's CHECKSUM TABLE value, so a restore can prove itself: computed by
    /// lifeboat from the rows it reads where it can (common column types, MariaDB InnoDB; any
    /// size), else run on the server for tables up to this many MiB (a second scan of the
    /// table). 0: no checksums.
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "MIB", default_value_t = 1024)
    )]
    pub checksum_max_mib: u64,
}

impl Default for BackupOptions {
    fn default() -> Self {
        Self {
            threads: 4,
            databases: Vec::new(),
            tables: Vec::new(),
            exclude: Vec::new(),
            chunk_mib: 64,
            lock_wait: 30,
            users: false,
            resume: false,
            checksum_max_mib: 1024,
        }
    }
}

/// Who was backed up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerRecord {
    /// Identity (`check` prints the same).
    pub identity: String,
    /// Flavor.
    pub flavor: Flavor,
    /// Version string.
    pub version: String,
    /// Hostname.
    pub hostname: String,
    /// Port.
    pub port: u16,
    /// server_id.
    pub server_id: u32,
}

/// A DDL object replayed as the server printed it, with the session it needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ddl {
    /// Object name.
    pub name: String,
    /// The table a trigger belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The server's own CREATE statement.
    pub create: String,
    /// `sql_mode` it was created under (routines, triggers, events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_mode: Option<String>,
    /// `character_set_client` it was created under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub character_set_client: Option<String>,
    /// `collation_connection` it was created under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation_connection: Option<String>,
    /// `time_zone` (events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// One chunk of a table's rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Chunk {
    /// Object path in the repository.
    pub object: String,
    /// Rows in it.
    pub rows: u64,
}

/// One table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableEntry {
    /// Name.
    pub name: String,
    /// `SHOW CREATE TABLE` text.
    pub create: String,
    /// Storage engine.
    pub engine: String,
    /// Columns in the chunk files (generated columns excluded).
    pub columns: Vec<String>,
    /// Columns that must be loaded as character data: MariaDB's UUID and INET types read a
    /// binary-charset string as their 16-byte internal form; MySQL refuses JSON text in the
    /// binary character set (ERROR 3144).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text_columns: Vec<String>,
    /// Rows backed up.
    pub rows: u64,
    /// `CHECKSUM TABLE` inside the snapshot, when captured.
    pub checksum: Option<u64>,
    /// `checksum` was computed by lifeboat from the rows it read (the server's algorithm,
    /// see `docs/repository-format.md`), not by the server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub checksum_computed: bool,
    /// Chunks in key order.
    pub chunks: Vec<Chunk>,
}

/// One database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SchemaEntry {
    /// Name.
    pub name: String,
    /// `SHOW CREATE DATABASE` text.
    pub create: String,
    /// Base tables.
    pub tables: Vec<TableEntry>,
    /// Views.
    pub views: Vec<Ddl>,
    /// Triggers.
    pub triggers: Vec<Ddl>,
    /// Procedures and functions.
    pub routines: Vec<Ddl>,
    /// Events.
    pub events: Vec<Ddl>,
}

/// An account and its grants, as the server prints them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserEntry {
    /// User name.
    pub user: String,
    /// Host pattern.
    pub host: String,
    /// `SHOW CREATE USER` text (includes the password hash, never a password).
    pub create: String,
    /// `SHOW GRANTS FOR` lines.
    pub grants: Vec<String>,
}

/// `backups/<id>/state.json`: written when the snapshot is taken, so an interrupted backup can
/// tell whether it may be resumed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotState {
    /// Server identity.
    pub identity: String,
    /// Binlog position of the snapshot.
    pub binlog: Option<BinlogPos>,
    /// GTID state of the snapshot.
    pub gtid: Option<String>,
}

/// Accounts the server manages itself; never backed up.
const SYSTEM_ACCOUNTS: &[&str] = &[
    "mariadb.sys",
    "mysql.sys",
    "mysql.session",
    "mysql.infoschema",
    "",
];

async fn discover_users(conn: &mut Conn, flavor: Flavor) -> Result<Vec<UserEntry>, Error> {
    // MariaDB's roles are rows of mysql.user too (is_role), without a host and without
    // SHOW CREATE USER; MySQL's are accounts like any other.
    let list = if flavor == Flavor::MariaDb {
        "SELECT User, Host, is_role = 'Y' FROM mysql.user ORDER BY User, Host"
    } else {
        "SELECT User, Host, 0 FROM mysql.user ORDER BY User, Host"
    };
    let accounts: Vec<(String, String, bool)> = conn
        .query(list)
        .await
        .map_err(Error::sql("listing accounts (--users)"))?;
    let mut out = Vec::new();
    for (user, host, role) in accounts {
        if SYSTEM_ACCOUNTS.contains(&user.as_str()) {
            continue;
        }
        if role {
            let grants: Vec<String> = conn
                .query(format!("SHOW GRANTS FOR {}", q(&user)))
                .await
                .map_err(Error::sql(format!("SHOW GRANTS FOR role {user}")))?;
            out.push(UserEntry {
                create: format!("CREATE ROLE {}", q(&user)),
                user,
                host,
                grants,
            });
            continue;
        }
        let account = format!("{}@{}", lit(&user), lit(&host));
        let create: Option<String> = match conn
            .query_first(format!("SHOW CREATE USER {account}"))
            .await
        {
            Ok(c) => c,
            // 1133: in mysql.user but not loaded, e.g. a host-name account under
            // skip-name-resolve. It cannot log in, so there is nothing to restore.
            Err(mysql_async::Error::Server(e)) if e.code == 1133 => continue,
            Err(e) => return Err(Error::sql(format!("SHOW CREATE USER {account}"))(e)),
        };
        let grants: Vec<String> = conn
            .query(format!("SHOW GRANTS FOR {account}"))
            .await
            .map_err(Error::sql(format!("SHOW GRANTS FOR {account}")))?;
        out.push(UserEntry {
            user,
            host,
            create: create.unwrap_or_default(),
            grants,
        });
    }
    Ok(out)
}

/// The body of a logical backup's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Body {
    /// Source server.
    pub server: ServerRecord,
    /// Binlog position read inside the snapshot lock (`None` without binlog).
    pub binlog: Option<BinlogPos>,
    /// GTID state inside the lock: MariaDB `gtid_binlog_pos`, MySQL `gtid_executed`.
    pub gtid: Option<String>,
    /// When commits were blocked for the snapshot (RFC 3339): every transaction committed
    /// before it is in the backup, none after. Absent in backups of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_time: Option<String>,
    /// How the snapshot was locked.
    pub lock: String,
    /// How long writers were blocked, in milliseconds.
    pub lock_held_ms: u64,
    /// How long DDL was blocked (schema read, snapshot opened), in milliseconds.
    #[serde(default)]
    pub ddl_blocked_ms: u64,
    /// Reader connections.
    pub threads: usize,
    /// Total rows.
    pub rows: u64,
    /// Databases.
    pub schemas: Vec<SchemaEntry>,
    /// Accounts (`--users`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserEntry>,
}

impl Body {
    /// The body of a committed manifest.
    pub fn of(m: &Manifest) -> Result<Self, Error> {
        serde_json::from_value(m.body.clone()).map_err(|e| {
            Error::Repo(lifeboat_repo::Error::BadMetadata {
                path: format!("backups/{}/manifest.json", m.id),
                reason: e.to_string(),
            })
        })
    }
}

/// What `backup` reports.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// Backup id.
    pub id: String,
    /// Databases.
    pub databases: usize,
    /// Tables.
    pub tables: usize,
    /// Rows.
    pub rows: u64,
    /// Bytes before compression.
    pub logical_bytes: u64,
    /// Bytes stored.
    pub stored_bytes: u64,
    /// Objects stored.
    pub objects: usize,
    /// Accounts backed up.
    pub users: usize,
    /// Tables this backup does not hold, and why.
    pub skipped: Vec<String>,
    /// Wall time, ms.
    pub duration_ms: u64,
    /// Writers blocked, ms.
    pub lock_held_ms: u64,
    /// DDL blocked, ms.
    pub ddl_blocked_ms: u64,
    /// Lock used.
    pub lock: String,
    /// Binlog position of the snapshot.
    pub binlog: Option<BinlogPos>,
    /// GTID state of the snapshot.
    pub gtid: Option<String>,
}

pub use lifeboat_mysql_types::quote::ident as q;

/// Whether information_schema.COLUMNS.EXTRA marks a generated column (its values are derived,
/// never stored or compared): `VIRTUAL GENERATED`, `STORED GENERATED` (MySQL, MariaDB 10.2+),
/// `VIRTUAL`/`PERSISTENT` (older MariaDB). MySQL's `DEFAULT_GENERATED` marks an expression
/// default (`DEFAULT CURRENT_TIMESTAMP`): a stored column like any other (DESIGN.md trap).
pub(crate) fn is_generated(extra: &str) -> bool {
    extra.split_ascii_whitespace().any(|word| {
        ["GENERATED", "VIRTUAL", "STORED", "PERSISTENT"]
            .iter()
            .any(|k| word.eq_ignore_ascii_case(k))
    })
}

pub use lifeboat_mysql_types::quote::literal as lit;

struct TablePlan {
    schema: String,
    name: String,
    engine: String,
    data_bytes: u64,
    columns: Vec<String>,
    /// What the SELECT reads: the columns, FLOAT ones as `col * 1e0` (see [`tsv`]).
    select: String,
    /// The key's leading column when its type orders well: chunks are ranges of it.
    split_key: Option<SplitKey>,
    /// Columns of the primary key, or else of a unique key without NULLs, for ordering
    /// (empty: no usable key).
    pk: Vec<String>,
    /// The server's row estimate (sizes the steps of a key walk).
    rows_estimate: u64,
    /// How to compute `CHECKSUM TABLE` from the rows read, when lifeboat can.
    row_checksum: Option<RowChecksum>,
}

/// A row of `information_schema.COLUMNS`: name, EXTRA, DATA_TYPE, CHARACTER_SET_NAME,
/// COLLATION_NAME, IS_NULLABLE, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE.
type ColumnRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<u64>,
    Option<u64>,
    Option<u64>,
);

fn column_facts(r: ColumnRow) -> ColumnFacts {
    let (name, extra, data_type, charset, collation, nullable, octets, precision, scale) = r;
    ColumnFacts {
        generated: is_generated(&extra),
        name,
        data_type,
        nullable: nullable == "YES",
        charset,
        collation,
        octets,
        precision,
        scale,
    }
}

/// The column a table's chunks are ranges of.
struct SplitKey {
    column: String,
    kind: KeyKind,
}

/// How a key column's ranges are found and written.
enum KeyKind {
    /// Integers: ranges cut from MIN and MAX by arithmetic.
    Int,
    /// Anything else that sorts (strings, binary strings, temporals, DECIMAL): boundaries
    /// found by walking the key in the snapshot, every `rows / parts` rows.
    Walked(Literal),
}

/// How a boundary value read from the server (raw bytes, text protocol, binary charset)
/// is written back into a WHERE clause so that it compares as the column does (and the
/// range can use the index).
#[derive(Clone)]
enum Literal {
    /// A character column: its bytes in its character set and collation.
    Text { charset: String, collation: String },
    /// A binary string: the bytes.
    Bytes,
    /// Temporals, DECIMAL, UUID...: the server's text, quoted.
    Quoted,
}

impl KeyKind {
    fn of(ty: &str, charset: Option<&str>, collation: Option<&str>) -> Option<KeyKind> {
        let word = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        Some(match ty {
            "tinyint" | "smallint" | "mediumint" | "int" | "bigint" => KeyKind::Int,
            "char" | "varchar" => match (charset, collation) {
                (Some(cs), Some(co)) if word(cs) && word(co) => KeyKind::Walked(Literal::Text {
                    charset: cs.to_owned(),
                    collation: co.to_owned(),
                }),
                _ => return None,
            },
            "binary" | "varbinary" => KeyKind::Walked(Literal::Bytes),
            "date" | "datetime" | "timestamp" | "time" | "year" | "decimal" | "uuid" | "inet6"
            | "inet4" => KeyKind::Walked(Literal::Quoted),
            _ => return None,
        })
    }
}

impl Literal {
    fn write(&self, raw: &[u8]) -> String {
        match self {
            Literal::Text { charset, collation } => format!(
                "CONVERT(X'{}' USING {charset}) COLLATE {collation}",
                hex::encode(raw)
            ),
            Literal::Bytes => format!("X'{}'", hex::encode(raw)),
            Literal::Quoted => lit(&String::from_utf8_lossy(raw)),
        }
    }
}

impl TablePlan {
    fn fq(&self) -> String {
        format!("{}.{}", q(&self.schema), q(&self.name))
    }
    fn transactional(&self) -> bool {
        self.engine.eq_ignore_ascii_case("InnoDB")
    }
}

/// A range of a table's split key.
enum KeyRange {
    /// `lo..=hi` of an integer key.
    Int(i128, i128),
    /// `lo < key <= hi`, either end open; the bounds are SQL literals.
    Walked(Option<String>, Option<String>),
}

enum Task {
    /// A whole table, or a range of its key; `part` orders chunks.
    Data {
        table: usize,
        range: Option<KeyRange>,
        part: usize,
    },
    /// Split a table into ranges of its key (in a snapshot: min/max, or a walk).
    Split {
        table: usize,
    },
    Checksum {
        table: usize,
    },
}

fn selected(opts: &BackupOptions, schema: &str, table: Option<&str>) -> bool {
    let full = table.map(|t| format!("{schema}.{t}"));
    if opts
        .exclude
        .iter()
        .any(|e| e == schema || Some(e) == full.as_ref())
    {
        return false;
    }
    if !opts.databases.is_empty() && !opts.databases.iter().any(|d| d == schema) {
        return false;
    }
    match (&full, opts.tables.is_empty()) {
        (_, true) => true,
        (Some(f), false) => opts.tables.iter().any(|t| t == f),
        // A schema is in if any selected table is in it.
        (None, false) => opts
            .tables
            .iter()
            .any(|t| t.split_once('.').is_some_and(|(s, _)| s == schema)),
    }
}

/// `compute_checksums`: whether [`RowChecksum`] may stand in for the server's `CHECKSUM TABLE`.
async fn discover(
    conn: &mut Conn,
    opts: &BackupOptions,
    compute_checksums: bool,
    skipped: &mut Vec<String>,
) -> Result<(Vec<SchemaEntry>, Vec<TablePlan>), Error> {
    let schemas: Vec<String> = conn
        .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
        .await
        .map_err(Error::sql("listing databases"))?;
    let schemas: Vec<String> = schemas
        .into_iter()
        .filter(|s| !SYSTEM_SCHEMAS.contains(&s.as_str()) && selected(opts, s, None))
        .collect();
    let mut entries = Vec::new();
    let mut plans = Vec::new();
    for s in &schemas {
        let row: Option<Row> = conn
            .query_first(format!("SHOW CREATE DATABASE {}", q(s)))
            .await
            .map_err(Error::sql(format!("SHOW CREATE DATABASE {s}")))?;
        let create = row.and_then(|r| r.get::<String, _>(1)).unwrap_or_default();
        let tables: Vec<(String, String, String, u64, u64, String)> = conn
            .exec(
                "SELECT TABLE_NAME, TABLE_TYPE, COALESCE(ENGINE,''), COALESCE(DATA_LENGTH,0), COALESCE(TABLE_ROWS,0), \
                 COALESCE(CREATE_OPTIONS,'') \
                 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
                (s,),
            )
            .await
            .map_err(Error::sql(format!("listing tables of {s}")))?;
        let mut entry = SchemaEntry {
            name: s.clone(),
            create,
            tables: Vec::new(),
            views: Vec::new(),
            triggers: Vec::new(),
            routines: Vec::new(),
            events: Vec::new(),
        };
        for (t, kind, engine, data_bytes, rows_estimate, create_options) in tables {
            if kind == "VIEW" {
                // With --tables, a view is in when it is named there (its tables need not be).
                if selected(opts, s, Some(&t)) {
                    let r: Option<Row> = conn
                        .query_first(format!("SHOW CREATE VIEW {}.{}", q(s), q(&t)))
                        .await
                        .map_err(Error::sql(format!("SHOW CREATE VIEW {s}.{t}")))?;
                    if let Some(r) = r {
                        entry.views.push(Ddl {
                            name: t.clone(),
                            table: None,
                            create: r.get::<String, _>(1).unwrap_or_default(),
                            sql_mode: None,
                            character_set_client: r.get(2),
                            collation_connection: r.get(3),
                            time_zone: None,
                        });
                    }
                }
                continue;
            }
            if !selected(opts, s, Some(&t)) {
                continue;
            }
            if kind != "BASE TABLE" {
                // Never silently: the operator must know what this backup does not hold.
                skipped.push(format!("{s}.{t} ({kind}): not backed up by this version"));
                continue;
            }
            let (table, plan) = discover_table(
                conn,
                s,
                t,
                TableFacts {
                    engine,
                    data_bytes,
                    rows_estimate,
                    create_options,
                },
                compute_checksums,
            )
            .await?;
            entry.tables.push(table);
            plans.push(plan);
        }
        discover_objects(conn, s, &mut entry, opts).await?;
        entries.push(entry);
    }
    Ok((entries, plans))
}

/// What information_schema.TABLES says of a table.
struct TableFacts {
    engine: String,
    data_bytes: u64,
    rows_estimate: u64,
    create_options: String,
}

/// One base table: its entry in the manifest and the plan for dumping it.
async fn discover_table(
    conn: &mut Conn,
    s: &str,
    t: String,
    facts: TableFacts,
    compute_checksums: bool,
) -> Result<(TableEntry, TablePlan), Error> {
    let TableFacts {
        engine,
        data_bytes,
        rows_estimate,
        create_options,
    } = facts;
    let cols: Vec<ColumnRow> = conn
        .exec(
            "SELECT COLUMN_NAME, COALESCE(EXTRA,''), DATA_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, \
             IS_NULLABLE, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE \
             FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (s, &t),
        )
        .await
        .map_err(Error::sql(format!("reading columns of {s}.{t}")))?;
    let cols: Vec<ColumnFacts> = cols.into_iter().map(column_facts).collect();
    let types: HashMap<String, String> = cols
        .iter()
        .map(|col| (col.name.clone(), col.data_type.clone()))
        .collect();
    let columns: Vec<String> = cols
        .iter()
        .filter(|col| !col.generated)
        .map(|col| col.name.clone())
        .collect();
    let text_columns: Vec<String> = columns
        .iter()
        .filter(|c| {
            types
                .get(*c)
                .is_some_and(|ty| matches!(ty.as_str(), "uuid" | "inet6" | "inet4" | "json"))
        })
        .cloned()
        .collect();
    let pk = row_key(conn, s, &t).await?;
    // Ranges on the key's leading column partition the table whatever the other
    // key columns are.
    let split_key = pk.first().and_then(|c| {
        let col = cols.iter().find(|col| &col.name == c)?;
        Some(SplitKey {
            column: c.clone(),
            kind: KeyKind::of(
                &col.data_type,
                col.charset.as_deref(),
                col.collation.as_deref(),
            )?,
        })
    });
    let r: Option<Row> = conn
        .query_first(format!("SHOW CREATE TABLE {}.{}", q(s), q(&t)))
        .await
        .map_err(Error::sql(format!("SHOW CREATE TABLE {s}.{t}")))?;
    let create = r.and_then(|r| r.get::<String, _>(1)).unwrap_or_default();
    let entry = TableEntry {
        name: t.clone(),
        create,
        engine: engine.clone(),
        columns: columns.clone(),
        text_columns,
        rows: 0,
        checksum: None,
        checksum_computed: false,
        chunks: Vec::new(),
    };
    let select = columns
        .iter()
        .map(|c| match types.get(c).map(String::as_str) {
            Some("float") => format!("{} * 1e0", q(c)),
            _ => q(c),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let row_checksum = (compute_checksums && engine.eq_ignore_ascii_case("InnoDB"))
        .then(|| RowChecksum::of(&cols, &create_options))
        .flatten();
    let plan = TablePlan {
        schema: s.to_owned(),
        name: t,
        engine,
        data_bytes,
        columns,
        select,
        split_key,
        pk,
        rows_estimate,
        row_checksum,
    };
    Ok((entry, plan))
}

/// Triggers, routines, events of database `s`: with the session settings they were created
/// under. Triggers only of the tables backed up; routines and events only of whole databases.
async fn discover_objects(
    conn: &mut Conn,
    s: &str,
    entry: &mut SchemaEntry,
    opts: &BackupOptions,
) -> Result<(), Error> {
    let triggers: Vec<(String, String)> = conn
        .exec(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
             WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER",
            (s,),
        )
        .await
        .map_err(Error::sql(format!("listing triggers of {s}")))?;
    for (name, table) in triggers {
        if !entry.tables.iter().any(|t| t.name == table) {
            continue;
        }
        let r: Option<Row> = conn
            .query_first(format!("SHOW CREATE TRIGGER {}.{}", q(s), q(&name)))
            .await
            .map_err(Error::sql(format!("SHOW CREATE TRIGGER {s}.{name}")))?;
        if let Some(r) = r {
            entry.triggers.push(Ddl {
                name,
                table: Some(table),
                sql_mode: r.get(1),
                create: r.get::<String, _>(2).unwrap_or_default(),
                character_set_client: r.get(3),
                collation_connection: r.get(4),
                time_zone: None,
            });
        }
    }
    if opts.tables.is_empty() {
        let routines: Vec<(String, String)> = conn
            .exec(
                "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES \
                 WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE IN ('PROCEDURE','FUNCTION') ORDER BY 2, 1",
                (s,),
            )
            .await
            .map_err(Error::sql(format!("listing routines of {s}")))?;
        for (name, kind) in routines {
            let r: Option<Row> = conn
                .query_first(format!("SHOW CREATE {kind} {}.{}", q(s), q(&name)))
                .await
                .map_err(Error::sql(format!("SHOW CREATE {kind} {s}.{name}")))?;
            if let Some(r) = r {
                entry.routines.push(Ddl {
                    name,
                    table: None,
                    sql_mode: r.get(1),
                    create: r.get::<Option<String>, _>(2).flatten().unwrap_or_default(),
                    character_set_client: r.get(3),
                    collation_connection: r.get(4),
                    time_zone: None,
                });
            }
        }
        let events: Vec<String> = conn
            .exec(
                "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY 1",
                (s,),
            )
            .await
            .map_err(Error::sql(format!("listing events of {s}")))?;
        for name in events {
            let r: Option<Row> = conn
                .query_first(format!("SHOW CREATE EVENT {}.{}", q(s), q(&name)))
                .await
                .map_err(Error::sql(format!("SHOW CREATE EVENT {s}.{name}")))?;
            if let Some(r) = r {
                entry.events.push(Ddl {
                    name,
                    table: None,
                    sql_mode: r.get(1),
                    time_zone: r.get(2),
                    create: r.get::<String, _>(3).unwrap_or_default(),
                    character_set_client: r.get(4),
                    collation_connection: r.get(5),
                });
            }
        }
    }
    Ok(())
}

/// The columns that identify a row: the primary key, else the first unique key whose columns
/// are all NOT NULL (a unique key with NULLs admits duplicates).
pub(crate) async fn row_key(
    conn: &mut Conn,
    schema: &str,
    table: &str,
) -> Result<Vec<String>, Error> {
    let rows: Vec<(String, String, String)> = conn
        .exec(
            // Both sides name the table: MariaDB does not carry the constants across the
            // join, and an unnamed COLUMNS side reads every column of every table (20 ms per
            // table with a handful of tables, while DDL is blocked).
            "SELECT s.INDEX_NAME, s.COLUMN_NAME, c.IS_NULLABLE FROM information_schema.STATISTICS s \
             JOIN information_schema.COLUMNS c ON c.COLUMN_NAME = s.COLUMN_NAME \
             WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ? \
             AND s.NON_UNIQUE = 0 \
             ORDER BY s.INDEX_NAME <> 'PRIMARY', s.INDEX_NAME, s.SEQ_IN_INDEX",
            (schema, table, schema, table),
        )
        .await
        .map_err(Error::sql(format!("reading the keys of {schema}.{table}")))?;
    let mut key: Vec<String> = Vec::new();
    let mut current: Option<&str> = None;
    let mut usable = true;
    for (index, column, nullable) in &rows {
        if current != Some(index.as_str()) {
            if current.is_some() && usable && !key.is_empty() {
                return Ok(key);
            }
            current = Some(index);
            key.clear();
            usable = true;
        }
        usable &= nullable == "NO";
        key.push(column.clone());
    }
    Ok(if usable { key } else { Vec::new() })
}

/// Session settings of every data connection: raw bytes, UTC timestamps.
const DATA_SESSION: [&str; 2] = [
    "SET NAMES binary, time_zone = '+00:00'",
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
];

#[derive(Default)]
struct Results {
    /// (table, part, seq) -> chunk
    chunks: Vec<(usize, usize, usize, Chunk, ObjectRef)>,
    rows: HashMap<usize, u64>,
    /// `CHECKSUM TABLE` from the server.
    checksums: HashMap<usize, u64>,
    /// Sums of [`RowChecksum`] over the ranges read so far.
    computed: HashMap<usize, u32>,
    /// Tables with a row lifeboat could not checksum: the server's value is asked instead.
    uncomputable: std::collections::HashSet<usize>,
}

struct Shared {
    progress: Arc<dyn crate::progress::Progress>,
    repo: Repository,
    id: BackupId,
    plans: Vec<TablePlan>,
    queue: Mutex<VecDeque<Task>>,
    results: Mutex<Results>,
    chunk_bytes: usize,
    /// Tables up to this size may be scanned by the server's `CHECKSUM TABLE`.
    checksum_max_bytes: u64,
}

impl Shared {
    /// Whether the server may scan this table for its `CHECKSUM TABLE` (`--checksum-max-mib`:
    /// 0 never, else tables up to that size).
    fn server_may_checksum(&self, plan: &TablePlan) -> bool {
        self.checksum_max_bytes > 0 && plan.data_bytes <= self.checksum_max_bytes
    }
}

fn lock_poisoned<T>(_: T) -> Error {
    Error::Internal("a backup worker panicked while holding shared state".into())
}

/// Rows are escaped into a buffer of about this size, then compressed while still in the
/// CPU cache (see [`ObjectWriter`]).
const PIECE: usize = 1 << 20;

/// What a worker writes chunks with: the piece rows are escaped into, and the chunk's
/// compressor, which works on the previous piece on the blocking pool meanwhile (so the
/// worker's connection keeps flowing). Buffers and compressor are reused for the whole backup.
struct ChunkWriter {
    piece: Vec<u8>,
    compressor: Option<Compressor>,
    /// Raw bytes handed to the current chunk, the piece in flight included.
    raw: u64,
}

enum Compressor {
    Idle {
        object: Box<ObjectWriter>,
        spare: Vec<u8>,
    },
    /// Compressing a piece; hands the compressor and the emptied buffer back.
    Busy(tokio::task::JoinHandle<std::io::Result<(Box<ObjectWriter>, Vec<u8>)>>),
}

/// A compression that failed took the compressor with it; the backup stops at that error.
fn compressor_lost() -> std::io::Error {
    std::io::Error::other("the compressor failed earlier")
}

impl ChunkWriter {
    fn new(repo: &Repository) -> Result<Self, Error> {
        Ok(ChunkWriter {
            piece: Vec::with_capacity(PIECE + 64 * 1024),
            compressor: Some(Compressor::Idle {
                object: Box::new(repo.object_writer()?),
                spare: Vec::with_capacity(PIECE + 64 * 1024),
            }),
            raw: 0,
        })
    }

    /// Waits for the piece in flight; the compressor then holds every piece handed over.
    async fn settle(&mut self) -> std::io::Result<&mut ObjectWriter> {
        if let Some(Compressor::Busy(h)) = &mut self.compressor {
            let done = h.await.map_err(std::io::Error::other);
            self.compressor = None;
            let (object, spare) = done??;
            self.compressor = Some(Compressor::Idle { object, spare });
        }
        match &mut self.compressor {
            Some(Compressor::Idle { object, .. }) => Ok(object),
            _ => Err(compressor_lost()),
        }
    }

    /// Hands the piece over as the chunk's next frame and starts a new piece.
    async fn submit(&mut self) -> std::io::Result<()> {
        self.settle().await?;
        let Some(Compressor::Idle {
            mut object,
            mut spare,
        }) = self.compressor.take()
        else {
            return Err(compressor_lost());
        };
        std::mem::swap(&mut self.piece, &mut spare);
        self.raw += spare.len() as u64;
        self.compressor = Some(Compressor::Busy(tokio::task::spawn_blocking(move || {
            object.write(&spare)?;
            spare.clear();
            Ok((object, spare))
        })));
        Ok(())
    }
}

/// Reads one table (or one key range of it) into chunks.
async fn dump(
    conn: &mut ReplicaConn,
    sh: &Shared,
    w: &mut ChunkWriter,
    table: usize,
    range: Option<KeyRange>,
    part: usize,
) -> Result<(), Error> {
    let plan = &sh.plans[table];
    let mut sql = format!("SELECT {} FROM {}", plan.select, plan.fq());
    if let (Some(range), Some(k)) = (range, &plan.split_key) {
        let k = q(&k.column);
        match range {
            KeyRange::Int(lo, hi) => sql.push_str(&format!(" WHERE {k} BETWEEN {lo} AND {hi}")),
            KeyRange::Walked(lo, hi) => {
                let mut conds = Vec::new();
                if let Some(lo) = lo {
                    conds.push(format!("{k} > {lo}"));
                }
                if let Some(hi) = hi {
                    conds.push(format!("{k} <= {hi}"));
                }
                if !conds.is_empty() {
                    sql.push_str(&format!(" WHERE {}", conds.join(" AND ")));
                }
            }
        }
    }
    if !plan.pk.is_empty() {
        let order = plan.pk.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
        sql.push_str(&format!(" ORDER BY {order}"));
    }
    let what = format!("reading {}.{}", plan.schema, plan.name);
    let columns = conn
        .query(&sql)
        .await
        .map_err(Error::query(what.clone()))?
        .map_or(0, |types| types.len());
    if columns != plan.columns.len() {
        return Err(Error::Mismatch {
            subject: format!("{}.{}", plan.schema, plan.name),
            problem: format!(
                "the SELECT returned {columns} columns, {} expected",
                plan.columns.len()
            ),
        });
    }
    let failed = |source: std::io::Error| Error::Compress {
        table: format!("{}.{}", plan.schema, plan.name),
        source,
    };
    w.settle().await.map_err(failed)?.abandon();
    w.piece.clear();
    w.raw = 0;
    let mut rows_in_chunk = 0u64;
    let (mut total, mut rows_reported) = (0u64, 0u64);
    let mut crc_sum = plan.row_checksum.as_ref().map(|_| 0u32);
    // No value the server sends makes a covered table's rows uncomputable, so tests (debug
    // builds only) name a table whose sum to give up, to exercise the server's fallback.
    #[cfg(debug_assertions)]
    if std::env::var("LIFEBOAT_TEST_UNCOMPUTABLE")
        .is_ok_and(|t| t == format!("{}.{}", plan.schema, plan.name))
    {
        crc_sum = None;
    }
    let mut image = Vec::new();
    let mut seq = 0usize;
    // Hands the piece to the compressor and reports it.
    let submit = async |w: &mut ChunkWriter, total: u64, rows_reported: &mut u64| {
        let len = w.piece.len() as u64;
        w.submit().await.map_err(failed)?;
        sh.progress.advance(len, total - *rows_reported);
        *rows_reported = total;
        Ok::<_, Error>(())
    };
    while let Some(row) = conn.next_row().await.map_err(Error::query(what.clone()))? {
        if let (Some(sum), Some(rc)) = (&mut crc_sum, &plan.row_checksum) {
            match rc.row(row, &mut image) {
                Some(crc) => *sum = sum.wrapping_add(crc),
                None => crc_sum = None,
            }
        }
        if !tsv::encode_text_row(row, columns, &mut w.piece) {
            return Err(Error::Mismatch {
                subject: format!("{}.{}", plan.schema, plan.name),
                problem: format!("row {} from the server is cut short", total + 1),
            });
        }
        rows_in_chunk += 1;
        total += 1;
        if w.piece.len() >= PIECE {
            submit(w, total, &mut rows_reported).await?;
            if w.raw >= sh.chunk_bytes as u64 {
                let object = w.settle().await.map_err(failed)?;
                store(sh, table, part, seq, object, rows_in_chunk).await?;
                w.raw = 0;
                seq += 1;
                rows_in_chunk = 0;
            }
        }
    }
    if !w.piece.is_empty() {
        submit(w, total, &mut rows_reported).await?;
    }
    if rows_in_chunk > 0 {
        let object = w.settle().await.map_err(failed)?;
        store(sh, table, part, seq, object, rows_in_chunk).await?;
        w.raw = 0;
    }
    let mut res = sh.results.lock().map_err(lock_poisoned)?;
    *res.rows.entry(table).or_default() += total;
    if plan.row_checksum.is_some() {
        match crc_sum {
            Some(sum) => {
                let e = res.computed.entry(table).or_default();
                *e = e.wrapping_add(sum);
            }
            // The server computes it instead, still in this snapshot, if the table is
            // small enough for a second scan.
            None if res.uncomputable.insert(table) && sh.server_may_checksum(plan) => {
                drop(res);
                sh.queue
                    .lock()
                    .map_err(lock_poisoned)?
                    .push_front(Task::Checksum { table });
            }
            None => {}
        }
    }
    Ok(())
}

/// Stores the chunk `object` holds.
async fn store(
    sh: &Shared,
    table: usize,
    part: usize,
    seq: usize,
    object: &mut ObjectWriter,
    rows: u64,
) -> Result<(), Error> {
    let obj = sh.repo.put_written(&sh.id, object).await?;
    let chunk = Chunk {
        object: obj.path.clone(),
        rows,
    };
    sh.results
        .lock()
        .map_err(lock_poisoned)?
        .chunks
        .push((table, part, seq, chunk, obj));
    Ok(())
}

async fn split(conn: &mut ReplicaConn, sh: &Shared, table: usize) -> Result<Vec<Task>, Error> {
    let plan = &sh.plans[table];
    let whole = || {
        Ok(vec![Task::Data {
            table,
            range: None,
            part: 0,
        }])
    };
    let parts = (plan.data_bytes / sh.chunk_bytes as u64).clamp(1, 4096);
    let Some(key) = &plan.split_key else {
        return whole();
    };
    let literal = match &key.kind {
        KeyKind::Int => return split_int(conn, sh, table, &key.column, parts as i128).await,
        KeyKind::Walked(_) if parts == 1 => return whole(),
        KeyKind::Walked(l) => l,
    };
    // Boundaries: the key value every `step` rows, each found from the previous one (the
    // index is read once in all, in the snapshot).
    let step = (plan.rows_estimate / parts).max(1000);
    let k = q(&key.column);
    let mut bounds: Vec<String> = Vec::new();
    while (bounds.len() as u64) + 1 < parts {
        let after = bounds
            .last()
            .map_or(String::new(), |b| format!(" WHERE {k} > {b}"));
        let row = conn
            .query_first(&format!(
                "SELECT {k} FROM {}{after} ORDER BY {k} LIMIT 1 OFFSET {}",
                plan.fq(),
                step - 1
            ))
            .await
            .map_err(Error::query(format!(
                "walking the key of {}.{}",
                plan.schema, plan.name
            )))?;
        match row.and_then(|r| r.into_iter().next().flatten()) {
            Some(v) => bounds.push(literal.write(&v)),
            None => break,
        }
    }
    let mut tasks = Vec::with_capacity(bounds.len() + 1);
    let mut lo = None;
    for (part, hi) in bounds
        .into_iter()
        .map(Some)
        .chain(std::iter::once(None))
        .enumerate()
    {
        tasks.push(Task::Data {
            table,
            range: Some(KeyRange::Walked(lo.take(), hi.clone())),
            part,
        });
        lo = hi;
    }
    Ok(tasks)
}

/// Ranges of an integer key, cut from its MIN and MAX.
async fn split_int(
    conn: &mut ReplicaConn,
    sh: &Shared,
    table: usize,
    k: &str,
    parts: i128,
) -> Result<Vec<Task>, Error> {
    let plan = &sh.plans[table];
    let row = conn
        .query_first(&format!(
            "SELECT CAST(MIN({0}) AS CHAR), CAST(MAX({0}) AS CHAR) FROM {1}",
            q(k),
            plan.fq()
        ))
        .await
        .map_err(Error::query(format!(
            "reading key range of {}.{}",
            plan.schema, plan.name
        )))?
        .unwrap_or_default();
    let text = |i: usize| {
        row.get(i)
            .cloned()
            .flatten()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    };
    let (Some(lo), Some(hi)) = (text(0), text(1)) else {
        return Ok(Vec::new()); // empty table
    };
    let (lo, hi): (i128, i128) = (lo.parse().unwrap_or(0), hi.parse().unwrap_or(0));
    let step = ((hi - lo) / parts).max(1);
    let mut tasks = Vec::new();
    let mut start = lo;
    let mut part = 0;
    while start <= hi {
        let end = if start + step >= hi || part + 1 == parts as usize {
            hi
        } else {
            start + step - 1
        };
        tasks.push(Task::Data {
            table,
            range: Some(KeyRange::Int(start, end)),
            part,
        });
        part += 1;
        start = end + 1;
    }
    Ok(tasks)
}

async fn worker(mut conn: ReplicaConn, sh: Arc<Shared>) -> Result<(), Error> {
    let mut w = ChunkWriter::new(&sh.repo)?;
    loop {
        let task = sh.queue.lock().map_err(lock_poisoned)?.pop_front();
        let Some(task) = task else { break };
        match task {
            Task::Split { table } => {
                let tasks = split(&mut conn, &sh, table).await?;
                let mut q = sh.queue.lock().map_err(lock_poisoned)?;
                for t in tasks.into_iter().rev() {
                    q.push_front(t);
                }
            }
            Task::Data { table, range, part } => {
                dump(&mut conn, &sh, &mut w, table, range, part).await?
            }
            Task::Checksum { table } => {
                let plan = &sh.plans[table];
                let row = conn
                    .query_first(&format!("CHECKSUM TABLE {}", plan.fq()))
                    .await
                    .map_err(Error::query(format!(
                        "CHECKSUM TABLE {}.{}",
                        plan.schema, plan.name
                    )))?;
                let sum = row
                    .and_then(|r| r.into_iter().nth(1).flatten())
                    .and_then(|v| String::from_utf8_lossy(&v).parse::<u64>().ok());
                if let Some(sum) = sum {
                    sh.results
                        .lock()
                        .map_err(lock_poisoned)?
                        .checksums
                        .insert(table, sum);
                }
            }
        }
    }
    let _ = conn.execute("COMMIT").await;
    conn.quit().await;
    Ok(())
}

fn must_start_over(id: &BackupId, old: &SnapshotState, now: &SnapshotState) -> Error {
    let why = if old.identity != now.identity {
        format!(
            "it was taken from {}, this is {}",
            old.identity, now.identity
        )
    } else if old.binlog.is_none() {
        "the server has no binary log, so lifeboat cannot tell whether it changed since".into()
    } else {
        format!(
            "the server has written since its snapshot (binlog {} -> {}), so its stored chunks are no longer one consistent snapshot",
            old.binlog.as_ref().map_or("?".into(), ToString::to_string),
            now.binlog.as_ref().map_or("?".into(), ToString::to_string)
        )
    };
    Error::Mismatch {
        subject: format!("backup {id}"),
        problem: format!(
            "cannot resume: {why}; run `lifeboat backup` without --resume to start over"
        ),
    }
}

/// The newest interrupted backup that recorded its snapshot, if the server is unchanged since.
async fn resumable(
    conn_opts: &ConnectOptions,
    repo: &Repository,
) -> Result<(BackupId, SnapshotState), Error> {
    let (_, incomplete) = repo.backup_ids().await?;
    let mut found = None;
    for id in incomplete.iter().rev() {
        if let Some(bytes) = repo.get_state(id).await? {
            let state: SnapshotState = serde_json::from_slice(&bytes).map_err(|e| {
                Error::Repo(lifeboat_repo::Error::BadMetadata {
                    path: format!("backups/{id}/state.json"),
                    reason: e.to_string(),
                })
            })?;
            found = BackupId::parse(id).map(|i| (i, state));
            break;
        }
    }
    let Some((id, old)) = found else {
        return Err(Error::Missing {
            what: "interrupted backup to resume".into(),
            within: "the repository".into(),
            hint: Some("run `lifeboat backup` without --resume"),
        });
    };
    let mut conn = connect(conn_opts).await?;
    let info = ServerInfo::probe(&mut conn).await?;
    let now = SnapshotState {
        identity: info.identity.id(),
        binlog: info.binlog.current.clone(),
        gtid: {
            let var = if info.flavor == Flavor::MariaDb {
                "@@GLOBAL.gtid_binlog_pos"
            } else {
                "@@GLOBAL.gtid_executed"
            };
            let g: Option<String> = conn
                .query_first(format!("SELECT {var}"))
                .await
                .map_err(Error::sql("reading GTID state"))?;
            g.filter(|g| !g.is_empty())
        },
    };
    let _ = conn.disconnect().await;
    if old != now || old.binlog.is_none() {
        return Err(must_start_over(&id, &old, &now));
    }
    Ok((id, old))
}

/// Runs a bounded locking statement; on timeout kills it from another connection.
async fn bounded(
    conn: &mut Conn,
    opts: &ConnectOptions,
    stmt: &str,
    secs: u64,
) -> Result<(), Error> {
    let id = conn.id();
    match tokio::time::timeout(Duration::from_secs(secs), conn.query_drop(stmt)).await {
        Ok(r) => r.map_err(|e| match &e {
            mysql_async::Error::Server(s) if s.code == 1205 => Error::Timeout {
                what: format!("`{stmt}` waited for locks"),
                secs,
                hint: "a long-running query or transaction holds a conflicting lock; retry later or raise --lock-wait".into(),
            },
            _ => Error::sql(format!("`{stmt}`"))(e),
        }),
        Err(_) => {
            if let Ok(mut killer) = connect(opts).await {
                let _ = killer.query_drop(format!("KILL QUERY {id}")).await;
                let _ = killer.disconnect().await;
            }
            Err(Error::Timeout {
                what: format!("`{stmt}` did not get the lock"),
                secs,
                hint: "a long-running query blocks the snapshot lock; it was cancelled so writers are not stalled. Retry later or raise --lock-wait".into(),
            })
        }
    }
}

/// The dump workers, aborted when dropped: an interrupted backup's workers stop with it
/// instead of writing on after its lock is released.
struct Workers(Vec<tokio::task::JoinHandle<Result<(), Error>>>);

impl Drop for Workers {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Takes a consistent backup of the server at `conn_opts` into `repo`.
pub async fn run(
    conn_opts: &ConnectOptions,
    repo: &Repository,
    opts: &BackupOptions,
    ctx: &crate::Context,
) -> Result<Outcome, Error> {
    let progress = ctx.progress();
    let started = jiff::Timestamp::now();
    let t0 = Instant::now();
    // Caught before the lock is taken: SIGINT/SIGTERM stop the backup as a crash would (no
    // manifest is written: it stays incomplete, and `--resume` finishes it), but the lock is
    // released and the workers stop.
    let mut interrupts = ctx.interrupts();
    let lock = repo.lock("backup").await?;
    let work = async {
        let resume = if opts.resume {
            Some(resumable(conn_opts, repo).await)
        } else {
            None
        };
        match resume {
            Some(Err(e)) => Err(e),
            Some(Ok(r)) => run_locked(conn_opts, repo, opts, started, t0, progress, Some(r)).await,
            None => run_locked(conn_opts, repo, opts, started, t0, progress, None).await,
        }
    };
    let result = tokio::select! {
        r = work => r,
        signal = crate::interrupt::of(&mut interrupts) => Err(Error::interrupted(
            signal,
            "run the backup again with --resume: it finishes this one (it stays incomplete until then)",
        )),
    };
    // Release the repository lock whatever happened; an interrupted backup stays incomplete.
    lock.release().await?;
    result
}

/// How DDL is kept out while the schema is read and the snapshot opened.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DdlGuard {
    /// MariaDB 10.4.1+: `BACKUP STAGE BLOCK_DDL`, then `BLOCK_COMMIT` for the snapshot.
    BackupStage,
    /// MySQL 8: `LOCK INSTANCE FOR BACKUP`, then a brief FTWRL for the snapshot.
    LockInstance,
    /// Older servers: the schema is read under FTWRL.
    None,
}

impl DdlGuard {
    fn of(info: &ServerInfo) -> Self {
        match info.flavor {
            Flavor::MariaDb if info.version >= Version::new(10, 4, 1) => Self::BackupStage,
            Flavor::MySql if info.version >= Version::new(8, 0, 0) => Self::LockInstance,
            _ => Self::None,
        }
    }

    /// Statements that release whatever this guard and its commit lock may hold.
    fn release(self) -> &'static [&'static str] {
        match self {
            Self::BackupStage => &["BACKUP STAGE END"],
            Self::LockInstance => &["UNLOCK TABLES", "UNLOCK INSTANCE"],
            Self::None => &["UNLOCK TABLES"],
        }
    }
}

/// What the locked part of a backup produced.
struct Snapshot {
    schemas: Vec<SchemaEntry>,
    users: Vec<UserEntry>,
    skipped: Vec<String>,
    shared: Arc<Shared>,
    non_transactional: Vec<usize>,
    state: SnapshotState,
    lock_name: &'static str,
    lock_held_ms: u64,
    ddl_blocked_ms: u64,
    snapshot_time: jiff::Timestamp,
}

/// Whether this server's `CHECKSUM TABLE` is the one [`RowChecksum`] computes: MariaDB
/// 10.5 or later, without the 5.1-compatible checksum (`old_mode=COMPAT_5_1_CHECKSUM` or
/// `old=ON`, which also sum NULL columns' bytes).
async fn computes_checksums(conn: &mut Conn, info: &ServerInfo) -> bool {
    if info.flavor != Flavor::MariaDb || info.version < Version::new(10, 5, 0) {
        return false;
    }
    let mode: Option<String> = conn
        .query_first("SELECT @@SESSION.old_mode")
        .await
        .ok()
        .flatten();
    // `old` is gone from newer servers: an error there means it is off.
    let old: Option<i64> = conn
        .query_first("SELECT @@SESSION.old")
        .await
        .ok()
        .flatten();
    mode.is_some_and(|m| !m.to_ascii_uppercase().contains("COMPAT_5_1_CHECKSUM"))
        && old.unwrap_or(0) == 0
}

/// Blocks DDL, reads the schema, reads non-transactional tables, blocks commits briefly to
/// open every worker's snapshot and read the binlog position and GTID state, and releases
/// the commit lock. The caller releases the DDL guard whatever this returns.
#[allow(clippy::too_many_arguments)]
async fn snapshot(
    main: &mut Conn,
    conn_opts: &ConnectOptions,
    opts: &BackupOptions,
    info: &ServerInfo,
    guard: DdlGuard,
    workers: &mut [ReplicaConn],
    repo: &Repository,
    id: BackupId,
    progress: &Arc<dyn crate::progress::Progress>,
) -> Result<Snapshot, Error> {
    let compute = opts.checksum_max_mib > 0 && computes_checksums(main, info).await;
    let ddl_start = Instant::now();
    match guard {
        DdlGuard::BackupStage => {
            bounded(main, conn_opts, "BACKUP STAGE START", opts.lock_wait).await?;
            // Also freezes non-transactional tables (measured on 10.11), so they are read
            // here, consistent with the commit point below, without blocking InnoDB writes.
            bounded(main, conn_opts, "BACKUP STAGE BLOCK_DDL", opts.lock_wait).await?;
        }
        DdlGuard::LockInstance => {
            bounded(main, conn_opts, "LOCK INSTANCE FOR BACKUP", opts.lock_wait).await?
        }
        DdlGuard::None => {}
    }
    let (lock_name, lock_stmt) = match guard {
        DdlGuard::BackupStage => ("BACKUP STAGE BLOCK_COMMIT", "BACKUP STAGE BLOCK_COMMIT"),
        _ => ("FLUSH TABLES WITH READ LOCK", "FLUSH TABLES WITH READ LOCK"),
    };
    let mut lock_start = None;
    if guard == DdlGuard::None {
        bounded(main, conn_opts, lock_stmt, opts.lock_wait).await?;
        lock_start = Some(Instant::now());
    }
    let mut skipped = Vec::new();
    let (schemas, plans) = discover(main, opts, compute, &mut skipped).await?;
    let users = if opts.users {
        discover_users(main, info.flavor).await?
    } else {
        Vec::new()
    };
    let non_transactional: Vec<usize> = (0..plans.len())
        .filter(|&i| !plans[i].transactional())
        .collect();
    if guard == DdlGuard::LockInstance && !non_transactional.is_empty() {
        // LOCK INSTANCE does not stop writes to MyISAM and friends: read them under FTWRL.
        bounded(main, conn_opts, lock_stmt, opts.lock_wait).await?;
        lock_start = Some(Instant::now());
    }

    progress.start("backup", plans.iter().map(|p| p.data_bytes).sum());
    let shared = Arc::new(Shared {
        progress: progress.clone(),
        repo: repo.clone(),
        id,
        plans,
        queue: Mutex::new(VecDeque::new()),
        results: Mutex::new(Results::default()),
        chunk_bytes: usize::try_from(opts.chunk_mib.clamp(1, 4096) * 1024 * 1024)
            .unwrap_or(64 << 20),
        checksum_max_bytes: opts.checksum_max_mib.saturating_mul(1024 * 1024),
    });
    // Non-transactional tables have no snapshot: read them while they cannot change.
    if !non_transactional.is_empty() {
        let first = workers
            .first_mut()
            .ok_or_else(|| Error::Internal("no reader connection".into()))?;
        let mut w = ChunkWriter::new(&shared.repo)?;
        for &t in &non_transactional {
            dump(first, &shared, &mut w, t, None, 0).await?;
        }
    }
    if lock_start.is_none() {
        bounded(main, conn_opts, lock_stmt, opts.lock_wait).await?;
        lock_start = Some(Instant::now());
    }
    let snapshot_time = jiff::Timestamp::now();
    for w in workers.iter_mut() {
        w.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            .await
            .map_err(Error::query("opening a consistent snapshot"))?;
    }
    let binlog = if info.binlog.enabled {
        let stmt = lifeboat_server::info::binlog_status_statement(info.flavor, info.version);
        let row: Option<Row> = main.query_first(stmt).await.map_err(Error::sql(stmt))?;
        row.and_then(|r| Some(BinlogPos::new(r.get::<String, _>(0)?, r.get::<u64, _>(1)?)))
    } else {
        None
    };
    let gtid_var = if info.flavor == Flavor::MariaDb {
        "@@GLOBAL.gtid_binlog_pos"
    } else {
        "@@GLOBAL.gtid_executed"
    };
    let gtid: Option<String> = main
        .query_first(format!("SELECT {gtid_var}"))
        .await
        .map_err(Error::sql("reading GTID state"))?;
    for stmt in guard.release() {
        main.query_drop(*stmt).await.map_err(Error::sql(*stmt))?;
    }
    let lock_held_ms = lock_start.map_or(0, |t| t.elapsed().as_millis() as u64);
    Ok(Snapshot {
        schemas,
        users,
        skipped,
        shared,
        non_transactional,
        state: SnapshotState {
            identity: info.identity.id(),
            binlog,
            gtid: gtid.filter(|g| !g.is_empty()),
        },
        lock_name,
        lock_held_ms,
        ddl_blocked_ms: ddl_start.elapsed().as_millis() as u64,
        snapshot_time,
    })
}

async fn run_locked(
    conn_opts: &ConnectOptions,
    repo: &Repository,
    opts: &BackupOptions,
    started: jiff::Timestamp,
    t0: Instant,
    progress: Arc<dyn crate::progress::Progress>,
    resume: Option<(BackupId, SnapshotState)>,
) -> Result<Outcome, Error> {
    let mut main = connect(conn_opts).await?;
    let info = ServerInfo::probe(&mut main).await?;
    main.query_drop("SET NAMES utf8mb4")
        .await
        .map_err(Error::sql("SET NAMES"))?;
    let threads = opts.threads.clamp(1, 64);

    // Reader connections, opened before any lock so locks are held as briefly as possible.
    let mut workers = open_readers(conn_opts, threads).await?;
    main.query_drop(format!(
        "SET SESSION lock_wait_timeout = {}",
        opts.lock_wait.max(1)
    ))
    .await
    .map_err(Error::sql("setting lock_wait_timeout"))?;

    let id = resume
        .as_ref()
        .map_or_else(BackupId::new, |(id, _)| id.clone());
    let guard = DdlGuard::of(&info);
    let snap = snapshot(
        &mut main,
        conn_opts,
        opts,
        &info,
        guard,
        &mut workers,
        repo,
        id,
        &progress,
    )
    .await;
    // Whatever happened, nothing stays locked (harmless when nothing is held).
    for stmt in guard.release() {
        let _ = main.query_drop(*stmt).await;
    }
    let Snapshot {
        mut schemas,
        users,
        skipped,
        shared,
        non_transactional,
        state,
        lock_name,
        lock_held_ms,
        ddl_blocked_ms,
        snapshot_time,
    } = snap?;
    if let Some((id, old)) = &resume
        && *old != state
    {
        // Checked before the lock; checked again with the values read inside it.
        return Err(must_start_over(id, old, &state));
    }
    let (binlog, gtid) = (state.binlog.clone(), state.gtid.clone());
    // What a later `--resume` compares with.
    repo.put_state(
        &shared.id,
        &serde_json::to_vec_pretty(&state).unwrap_or_default(),
    )
    .await?;

    queue_tasks(&shared, &non_transactional)?;
    let mut handles = Workers(
        workers
            .into_iter()
            .map(|c| tokio::spawn(worker(c, shared.clone())))
            .collect(),
    );
    let mut first_err = None;
    for h in handles.0.iter_mut() {
        match h.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(join) => {
                first_err.get_or_insert(Error::Internal(format!("a backup worker failed: {join}")));
            }
        }
    }
    progress.finish();
    if let Some(e) = first_err {
        return Err(e);
    }
    let _ = main.disconnect().await;

    // Assemble the manifest.
    let (objects, total_rows) = fill_tables(&mut schemas, &shared)?;
    let body = Body {
        server: ServerRecord {
            identity: info.identity.id(),
            flavor: info.flavor,
            version: info.version_string.clone(),
            hostname: info.identity.hostname.clone(),
            port: info.identity.port,
            server_id: info.identity.server_id,
        },
        binlog: binlog.clone(),
        gtid: gtid.clone().filter(|g| !g.is_empty()),
        snapshot_time: Some(snapshot_time.to_string()),
        lock: lock_name.into(),
        lock_held_ms,
        ddl_blocked_ms,
        threads,
        rows: total_rows,
        schemas,
        users,
    };
    let manifest = Manifest {
        format: lifeboat_repo::FORMAT_VERSION,
        id: shared.id.clone(),
        kind: "logical".into(),
        started: started.to_string(),
        finished: jiff::Timestamp::now().to_string(),
        objects,
        body: serde_json::to_value(&body).map_err(|e| {
            Error::Repo(lifeboat_repo::Error::BadMetadata {
                path: "manifest".into(),
                reason: e.to_string(),
            })
        })?,
    };
    repo.commit(&manifest).await?;
    Ok(Outcome {
        id: manifest.id.to_string(),
        databases: body.schemas.len(),
        tables: body.schemas.iter().map(|s| s.tables.len()).sum(),
        rows: total_rows,
        logical_bytes: manifest.logical_bytes(),
        stored_bytes: manifest.stored_bytes(),
        objects: manifest.objects.len(),
        users: body.users.len(),
        skipped,
        duration_ms: t0.elapsed().as_millis() as u64,
        lock_held_ms,
        ddl_blocked_ms,
        lock: lock_name.into(),
        binlog,
        gtid: body.gtid,
    })
}

/// One reader connection per thread, each in the data session's settings. lifeboat's own
/// protocol client: rows are copied from its read buffer into the chunk, without a driver's
/// per-value allocations (a quarter of the CPU before).
async fn open_readers(
    conn_opts: &ConnectOptions,
    threads: usize,
) -> Result<Vec<ReplicaConn>, Error> {
    let mut workers = Vec::with_capacity(threads);
    for _ in 0..threads {
        let mut c = ReplicaConn::connect(conn_opts)
            .await
            .map_err(Error::query("connecting a reader"))?;
        for stmt in DATA_SESSION {
            c.execute(stmt)
                .await
                .map_err(Error::query("preparing a reader session"))?;
        }
        workers.push(c);
    }
    Ok(workers)
}

/// The work queue: largest tables first.
fn queue_tasks(shared: &Shared, non_transactional: &[usize]) -> Result<(), Error> {
    let mut order: Vec<usize> = (0..shared.plans.len())
        .filter(|i| !non_transactional.contains(i))
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(shared.plans[i].data_bytes));
    let mut q = shared.queue.lock().map_err(lock_poisoned)?;
    // A table's checksum right behind its ranges (a split puts them in front of it):
    // it scans the table while the dump does. Measured against all checksums last,
    // 8 alternated runs each: 3.49-3.65 s against 3.58-3.78 s.
    // Tables whose checksum lifeboat computes from the rows it reads need no scan.
    let checksum = |i: usize| {
        let p = &shared.plans[i];
        p.row_checksum.is_none() && shared.server_may_checksum(p)
    };
    for &i in &order {
        q.push_back(Task::Split { table: i });
        if checksum(i) {
            q.push_back(Task::Checksum { table: i });
        }
    }
    for &i in non_transactional {
        if checksum(i) {
            q.push_back(Task::Checksum { table: i });
        }
    }
    Ok(())
}

/// The manifest's tables filled in with what the workers found (rows, checksums, chunks),
/// and the objects they wrote, each once; also the rows in all.
fn fill_tables(
    schemas: &mut [SchemaEntry],
    shared: &Shared,
) -> Result<(Vec<ObjectRef>, u64), Error> {
    let mut results = std::mem::take(&mut *shared.results.lock().map_err(lock_poisoned)?);
    results.chunks.sort_by_key(|(t, p, s, _, _)| (*t, *p, *s));
    let mut objects = Vec::new();
    let mut listed = std::collections::HashSet::new();
    let mut table_index = 0usize;
    let mut total_rows = 0u64;
    for schema in schemas.iter_mut() {
        for table in &mut schema.tables {
            let i = table_index;
            table_index += 1;
            table.rows = results.rows.get(&i).copied().unwrap_or(0);
            let computed =
                shared.plans[i].row_checksum.is_some() && !results.uncomputable.contains(&i);
            table.checksum = if computed {
                Some(u64::from(results.computed.get(&i).copied().unwrap_or(0)))
            } else {
                results.checksums.get(&i).copied()
            };
            table.checksum_computed = computed;
            total_rows += table.rows;
            for (_, _, _, chunk, obj) in results.chunks.iter().filter(|c| c.0 == i) {
                table.chunks.push(chunk.clone());
                // Identical chunks share one content-addressed object: list it once.
                if listed.insert(obj.path.clone()) {
                    objects.push(obj.clone());
                }
            }
        }
    }
    Ok((objects, total_rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expression_defaults_are_not_generated_columns() {
        for extra in [
            "VIRTUAL GENERATED",
            "STORED GENERATED",
            "VIRTUAL GENERATED INVISIBLE",
            "PERSISTENT",
            "VIRTUAL",
        ] {
            assert!(is_generated(extra), "{extra}");
        }
        // MySQL's EXTRA for `DEFAULT CURRENT_TIMESTAMP`, `DEFAULT (expr)`, ON UPDATE.
        for extra in [
            "DEFAULT_GENERATED",
            "DEFAULT_GENERATED on update CURRENT_TIMESTAMP",
            "on update CURRENT_TIMESTAMP",
            "auto_increment",
            "INVISIBLE",
            "",
        ] {
            assert!(!is_generated(extra), "{extra}");
        }
    }

    #[test]
    fn selection() {
        let o = BackupOptions {
            databases: vec!["a".into(), "b".into()],
            exclude: vec!["b.x".into()],
            ..Default::default()
        };
        assert!(selected(&o, "a", None));
        assert!(selected(&o, "b", Some("y")));
        assert!(!selected(&o, "b", Some("x")));
        assert!(!selected(&o, "c", None));
        let o = BackupOptions {
            tables: vec!["a.t".into()],
            ..Default::default()
        };
        assert!(selected(&o, "a", None));
        assert!(selected(&o, "a", Some("t")));
        assert!(!selected(&o, "a", Some("u")));
        assert!(!selected(&o, "b", None));
    }

    #[test]
    fn quoting() {
        assert_eq!(q("we`ird"), "`we``ird`");
        assert_eq!(lit("it's \\"), "'it''s \\\\'");
    }
}
