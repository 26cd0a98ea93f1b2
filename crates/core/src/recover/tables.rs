//! `recover --mode side-by-side|replace`: tables as they were just before a point, rebuilt in
//! a side instance (a backup plus the archived binlogs, only those tables), then brought into
//! production.
//!
//! - side-by-side: the recovered table appears beside the live one
//!   (`db.t__recovered_<time>`); nothing live is touched; the difference in rows is reported.
//! - replace: the recovered table takes the live one's place in one `RENAME TABLE` (the live
//!   one, if any, is kept as `db.t__before_recover_<time>`); its foreign keys and triggers are
//!   put back as they were, other tables' foreign keys point at it again, its auto-increment
//!   counter is past every id it holds.
//!
//! Rows are copied through the binary protocol (exact values), into a table that has no
//! trigger while it is loaded; each copy is proven by CHECKSUM TABLE against the side
//! instance before anything is renamed.

use std::time::Instant;

use lifeboat_mysql_types::quote::{ident as q, literal as lit};
use lifeboat_server::{ConnectOptions, ServerInfo, connect};
use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::error::Error;
use crate::recover::pitr::StopAt;
use crate::target::guard::{self, Policy};
use crate::target::journal::Audit;

/// How recovered tables come into production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Beside the live table, under a new name.
    SideBySide,
    /// In the live table's place (the live one kept aside).
    Replace,
}

/// What to recover.
#[derive(Debug, Clone)]
pub struct TablesOptions {
    /// `db.table`, each.
    pub tables: Vec<String>,
    /// Where they go.
    pub placement: Placement,
    /// The side instance's server binary.
    pub mysqld: Option<std::path::PathBuf>,
    /// Show the plan; change nothing.
    pub dry_run: bool,
}

/// What was brought back.
#[derive(Debug, Clone, Serialize)]
pub struct Brought {
    /// The production server.
    pub server: String,
    /// Where the tables went.
    pub placement: Placement,
    /// The point they are recovered to.
    pub stop: String,
    /// The backup restored in the side instance.
    pub backup: String,
    /// Transactions replayed after it.
    pub replayed: u64,
    /// `--dry-run`: nothing was done.
    pub dry_run: bool,
    /// Per table.
    pub tables: Vec<TableBack>,
    /// From the start to the tables in place and verified, ms.
    pub duration_ms: u64,
}

/// One table brought back.
#[derive(Debug, Clone, Serialize)]
pub struct TableBack {
    /// `db.table`.
    pub table: String,
    /// Its name in production now.
    pub placed_as: String,
    /// The live table, set aside (replace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_aside: Option<String>,
    /// Rows recovered.
    pub rows: u64,
    /// The copy's rows equal the side instance's.
    pub checksum_matched: bool,
    /// How that was proven: `CHECKSUM TABLE`, else a fingerprint of every row's values.
    pub proof: &'static str,
    /// Replace: other tables' foreign keys that pointed at the live table, now pointing at
    /// the recovered one (`db.child (constraint)`), each with its child rows whose parent
    /// the recovered table does not hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ChildKey>,
    /// Side by side: rows only in the recovered table, only in the live one, and in both
    /// with other values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<Difference>,
}

/// A foreign key of another table that points at a replaced table.
#[derive(Debug, Clone, Serialize)]
pub struct ChildKey {
    /// `db.child (constraint)`.
    pub key: String,
    /// Child rows whose parent the recovered table does not hold (written since, or their
    /// parent not recovered): kept, and reported.
    pub orphans: u64,
}

/// How the recovered table differs from the live one, by primary key.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// Keys only the recovered table has (rows the live one lost).
    pub only_recovered: u64,
    /// Keys only the live table has (rows written since).
    pub only_live: u64,
    /// Keys in both, with other values.
    pub changed: u64,
}

/// Recovers `opts.tables` to just before `stop` and brings them into the production server
/// at `conn_opts` (after the guard).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    repo: &lifeboat_repo::Repository,
    server: Option<&str>,
    stop: &StopAt,
    conn_opts: &ConnectOptions,
    policy: &Policy<'_>,
    opts: &TablesOptions,
    audit: &mut Audit,
    ctx: &crate::Context,
) -> Result<Brought, Error> {
    let t0 = Instant::now();
    let mut conn = connect(conn_opts).await?;
    let info = ServerInfo::probe(&mut conn).await?;
    let (id, endpoint) = (info.identity.id(), conn_opts.endpoint.to_string());
    for t in &opts.tables {
        if !t.contains('.') {
            return Err(Error::Argument {
                flag: "--tables",
                value: t.clone(),
                reason: "expected DB.TABLE".into(),
            });
        }
    }
    let mut target = if opts.dry_run {
        None
    } else {
        match guard::check(conn, info.clone(), conn_opts, policy) {
            Ok(t) => Some(t),
            Err(refusal) => return Err(audit.refuse("recover", &id, &endpoint, refusal)),
        }
    };
    let staging = crate::recover::pitr::staging_dir(None)?;
    let plan = crate::recover::pitr::plan(repo, server, stop, staging.path()).await?;
    let mut out = Brought {
        server: id.clone(),
        placement: opts.placement,
        stop: stop.to_string(),
        backup: plan.backup.clone(),
        replayed: plan.transactions,
        dry_run: opts.dry_run,
        tables: Vec::new(),
        duration_ms: 0,
    };
    let Some(t) = target.as_mut() else {
        return Ok(out);
    };
    let result = async {
        let side = Rebuilt::start(
            repo,
            plan,
            staging.path(),
            &opts.tables,
            opts.mysqld.clone(),
            false,
            audit,
            ctx,
        )
        .await?;
        let brought = async {
            let mut side_conn = connect(&side.sandbox()?.connect_options()).await?;
            let stamp = jiff::Timestamp::now().strftime("%Y%m%d%H%M%S").to_string();
            for table in &opts.tables {
                let back = bring(&mut side_conn, t.conn(), table, opts.placement, &stamp).await?;
                out.tables.push(back);
            }
            let _ = side_conn.disconnect().await;
            Ok::<(), Error>(())
        }
        .await;
        side.remove().await;
        brought
    }
    .await;
    out.duration_ms = t0.elapsed().as_millis() as u64;
    let detail = match &result {
        Ok(()) => format!(
            "{:?} of {} to {}",
            opts.placement,
            opts.tables.join(","),
            out.stop
        ),
        Err(e) => e.to_string(),
    };
    let outcome = match &result {
        Ok(()) => "ok",
        Err(e) => e.outcome(),
    };
    audit.record("recover", &id, &endpoint, outcome, Some(detail))?;
    result.map(|()| out)
}

/// A side instance of its own holding tables as they were just before a point (the PITR
/// engine: a backup plus the archive), with the tables their foreign keys reference (the
/// replay of their rows needs them). Stopped and removed by [`Rebuilt::remove`].
pub(crate) struct Rebuilt {
    _dir: tempfile::TempDir,
    side_dir: std::path::PathBuf,
}

impl Rebuilt {
    /// Rebuilds `tables` by `plan` (staged in `staging`); `binlog`: with the binary log on.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start(
        repo: &lifeboat_repo::Repository,
        plan: crate::recover::pitr::Plan,
        staging: &std::path::Path,
        tables: &[String],
        mysqld: Option<std::path::PathBuf>,
        binlog: bool,
        audit: &mut Audit,
        ctx: &crate::Context,
    ) -> Result<Rebuilt, Error> {
        let body = crate::protect::backup::Body::of(&repo.manifest(&plan.backup).await?)?;
        let restore_opts = crate::recover::restore::RestoreOptions {
            tables: with_parents(&body, tables),
            threads: 2,
            ..Default::default()
        };
        let dir = tempfile::Builder::new()
            .prefix(".lifeboat-side-")
            .tempdir()
            .map_err(|e| Error::in_file(&std::env::temp_dir(), e))?;
        let side = Rebuilt {
            side_dir: dir.path().join("side"),
            _dir: dir,
        };
        let policy = Policy {
            confirm_server: None,
            prompt: None,
            action: "restore into a side instance".into(),
        };
        let target =
            crate::recover::restore::Target::Sandbox(crate::recover::restore::SideInstance {
                dir: side.side_dir.clone(),
                mysqld,
                binlog,
            });
        let restored = crate::recover::pitr::run(
            repo,
            plan,
            staging,
            target,
            &policy,
            &restore_opts,
            audit,
            ctx,
        )
        .await;
        match restored {
            Ok(_) => Ok(side),
            Err(e) => {
                side.remove().await;
                Err(e)
            }
        }
    }

    /// The side instance.
    pub(crate) fn sandbox(&self) -> Result<lifeboat_server::Sandbox, Error> {
        Ok(lifeboat_server::Sandbox::open(&self.side_dir)?)
    }

    /// Stops the side instance and removes it.
    pub(crate) async fn remove(self) {
        if self.side_dir.exists() {
            let _ = crate::target::side::stop(&self.side_dir, true).await;
        }
    }
}

/// `tables` and, recursively, the tables their foreign keys reference, as the backup
/// defines them.
fn with_parents(body: &crate::protect::backup::Body, tables: &[String]) -> Vec<String> {
    let mut all: Vec<String> = tables.to_vec();
    let mut i = 0;
    while let Some(t) = all.get(i).cloned() {
        i += 1;
        let (db, name) = t.split_once('.').unwrap_or(("", &t));
        let Some(create) = body
            .schemas
            .iter()
            .filter(|s| s.name == db)
            .flat_map(|s| &s.tables)
            .find(|x| x.name == name)
            .map(|x| x.create.clone())
        else {
            continue;
        };
        for part in create.split("REFERENCES ").skip(1) {
            // `t` or `db`.`t`, as SHOW CREATE TABLE writes them.
            let names: Vec<&str> = part
                .split('(')
                .next()
                .unwrap_or_default()
                .trim()
                .split('.')
                .map(|n| n.trim_matches('`'))
                .collect();
            let parent = match names.as_slice() {
                [t] => format!("{db}.{t}"),
                [d, t] => format!("{d}.{t}"),
                _ => continue,
            };
            if !all.contains(&parent) {
                all.push(parent);
            }
        }
    }
    all
}

/// A table's definition without its foreign keys (their names are the schema's, and they
/// would clash with the live table's), and the foreign keys apart.
fn split_foreign_keys(create: &str) -> (String, Vec<String>) {
    let mut keys = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    for line in create.lines() {
        let l = line.trim();
        if l.starts_with("CONSTRAINT") && l.contains("FOREIGN KEY") {
            keys.push(l.trim_end_matches(',').to_owned());
        } else {
            lines.push(line);
        }
    }
    // The line before the closing parenthesis must not end with a comma.
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    if let Some(close) = out.iter().position(|l| l.starts_with(')'))
        && close > 0
        && let Some(prev) = out.get_mut(close - 1)
        && prev.ends_with(',')
    {
        prev.pop();
    }
    (out.join("\n"), keys)
}

/// Copies `table` from the side instance into production under a new name, proves the copy,
/// and places it.
async fn bring(
    side: &mut mysql_async::Conn,
    prod: &mut mysql_async::Conn,
    table: &str,
    placement: Placement,
    stamp: &str,
) -> Result<TableBack, Error> {
    let (db, name) = table.split_once('.').unwrap_or(("", table));
    let session = "SET SESSION time_zone = '+00:00', sql_mode = 'NO_AUTO_VALUE_ON_ZERO', foreign_key_checks = 0";
    side.query_drop(session)
        .await
        .map_err(Error::sql("preparing the side instance's session"))?;
    prod.query_drop(session)
        .await
        .map_err(Error::sql("preparing the session"))?;
    let row: Option<(String, String)> = side
        .query_first(format!("SHOW CREATE TABLE {}.{}", q(db), q(name)))
        .await
        .map_err(Error::sql(format!("reading the definition of {table}")))?;
    let Some((_, create)) = row else {
        return Err(Error::Missing {
            what: format!("table {table}"),
            within: "the recovered side instance (it did not exist at that point)".into(),
            hint: None,
        });
    };
    let copy = format!("{name}__recovered_{stamp}");
    let (bare, foreign_keys) = split_foreign_keys(&create);
    let ddl = bare.replacen(&q(name), &format!("{}.{}", q(db), q(&copy)), 1);
    prod.query_drop(ddl)
        .await
        .map_err(Error::sql(format!("creating {db}.{copy}")))?;
    let columns: Vec<String> = side
        .exec_map(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             AND (EXTRA NOT LIKE '%GENERATED%' OR EXTRA IS NULL) ORDER BY ORDINAL_POSITION",
            (db, name),
            |c: String| q(&c),
        )
        .await
        .map_err(Error::sql(format!("reading the columns of {table}")))?;
    let rows = copy_rows(side, prod, db, name, &copy, &columns).await?;
    let theirs: Option<(String, Option<u64>)> = side
        .query_first(format!("CHECKSUM TABLE {}.{}", q(db), q(name)))
        .await
        .map_err(Error::sql(format!(
            "CHECKSUM TABLE {table} in the side instance"
        )))?;
    let ours: Option<(String, Option<u64>)> = prod
        .query_first(format!("CHECKSUM TABLE {}.{}", q(db), q(&copy)))
        .await
        .map_err(Error::sql(format!("CHECKSUM TABLE {db}.{copy}")))?;
    let mut proof = "CHECKSUM TABLE";
    let mut matched = theirs.and_then(|r| r.1) == ours.and_then(|r| r.1);
    if !matched {
        // CHECKSUM TABLE also sums how rows are stored (MySQL: a table rebuilt by a restore
        // and one filled by INSERTs can differ with the same values): then every row's
        // values, compared as bytes.
        let print = |t: &str| {
            let cols: Vec<String> = columns
                .iter()
                .map(|c| format!("IFNULL(HEX(CAST({c} AS BINARY)), 'NULL')"))
                .collect();
            format!(
                "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', {}))), BIT_XOR(CRC32(CONCAT_WS('/', {}))) FROM {}.{}",
                cols.join(", "),
                cols.join(", "),
                q(db),
                q(t)
            )
        };
        type Print = Option<(u64, Option<u64>, Option<u64>)>;
        let a: Print = side
            .query_first(print(name))
            .await
            .map_err(Error::sql(format!(
                "fingerprinting {table} in the side instance"
            )))?;
        let b: Print = prod
            .query_first(print(&copy))
            .await
            .map_err(Error::sql(format!("fingerprinting {db}.{copy}")))?;
        matched = a == b;
        proof = "row fingerprint";
    }
    if !matched {
        // Which columns differ, for the message.
        let mut differ = Vec::new();
        for c in &columns {
            let sum = |t: &str| {
                format!(
                    "SELECT COUNT(*), SUM(CRC32(CAST({c} AS BINARY))) FROM {}.{}",
                    q(db),
                    q(t)
                )
            };
            let a: Option<(u64, Option<u64>)> = side.query_first(sum(name)).await.unwrap_or(None);
            let b: Option<(u64, Option<u64>)> = prod.query_first(sum(&copy)).await.unwrap_or(None);
            if a != b {
                differ.push(c.clone());
            }
        }
        let _ = prod
            .query_drop(format!("DROP TABLE {}.{}", q(db), q(&copy)))
            .await;
        return Err(Error::Mismatch {
            subject: table.to_owned(),
            problem: format!(
                "the copy's rows differ from the recovered table's (in {}); the copy was dropped, nothing was placed",
                if differ.is_empty() {
                    "the order of values within rows".to_owned()
                } else {
                    differ.join(", ")
                }
            ),
        });
    }
    let mut back = TableBack {
        table: table.to_owned(),
        placed_as: format!("{db}.{copy}"),
        set_aside: None,
        rows,
        checksum_matched: matched,
        proof,
        children: Vec::new(),
        difference: None,
    };
    match placement {
        Placement::SideBySide => {
            back.difference = difference(prod, db, name, &copy).await?;
        }
        Placement::Replace => {
            (back.set_aside, back.children) =
                replace(side, prod, db, name, &copy, stamp, &foreign_keys).await?;
            back.placed_as = table.to_owned();
        }
    }
    Ok(back)
}

/// Rows of `db.name` in the side instance into `db.copy` in production, in batches, through
/// the binary protocol (values exact).
async fn copy_rows(
    side: &mut mysql_async::Conn,
    prod: &mut mysql_async::Conn,
    db: &str,
    name: &str,
    copy: &str,
    columns: &[String],
) -> Result<u64, Error> {
    let list = columns.join(", ");
    let per_batch = (60_000 / columns.len().max(1)).clamp(1, 500);
    let one = format!("({})", vec!["?"; columns.len()].join(", "));
    let insert = |n: usize| {
        format!(
            "INSERT INTO {}.{} ({list}) VALUES {}",
            q(db),
            q(copy),
            vec![one.as_str(); n].join(", ")
        )
    };
    let full = insert(per_batch);
    let mut result = side
        .exec_iter(format!("SELECT {list} FROM {}.{}", q(db), q(name)), ())
        .await
        .map_err(Error::sql(format!(
            "reading {db}.{name} in the side instance"
        )))?;
    let (mut values, mut n, mut total) =
        (Vec::with_capacity(per_batch * columns.len()), 0usize, 0u64);
    while let Some(row) = result.next().await.map_err(Error::sql(format!(
        "reading {db}.{name} in the side instance"
    )))? {
        values.extend(row.unwrap());
        n += 1;
        if n == per_batch {
            prod.exec_drop(&full, std::mem::take(&mut values))
                .await
                .map_err(Error::sql(format!("loading {db}.{copy}")))?;
            total += n as u64;
            n = 0;
        }
    }
    drop(result);
    if n > 0 {
        prod.exec_drop(insert(n), values)
            .await
            .map_err(Error::sql(format!("loading {db}.{copy}")))?;
        total += n as u64;
    }
    Ok(total)
}

/// Puts `db.copy` in `db.name`'s place in one rename (the live table, if any, kept as
/// `name__before_recover_<stamp>`), then its foreign keys and triggers as they were. Other
/// tables' foreign keys that point at the live table would follow it aside in the rename:
/// they are dropped first and added back after, pointing at the recovered table (unchecked,
/// as before; their orphans are counted).
async fn replace(
    side: &mut mysql_async::Conn,
    prod: &mut mysql_async::Conn,
    db: &str,
    name: &str,
    copy: &str,
    stamp: &str,
    foreign_keys: &[String],
) -> Result<(Option<String>, Vec<ChildKey>), Error> {
    let live: Option<u64> = prod
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (db, name),
        )
        .await
        .map_err(Error::sql("looking for the live table"))?;
    let aside = format!("{name}__before_recover_{stamp}");
    let fq = |t: &str| format!("{}.{}", q(db), q(t));
    let children = if live.unwrap_or(0) > 0 {
        children_keys(prod, db, name).await?
    } else {
        Vec::new()
    };
    for c in &children {
        prod.query_drop(format!(
            "ALTER TABLE {}.{} DROP FOREIGN KEY {}",
            q(&c.db),
            q(&c.table),
            q(&c.name)
        ))
        .await
        .map_err(Error::sql(format!(
            "setting aside foreign key {} of {}.{}",
            c.name, c.db, c.table
        )))?;
    }
    let set_aside = if live.unwrap_or(0) > 0 {
        // Its triggers and foreign keys go aside with it; their names are freed for the
        // recovered table's.
        let triggers: Vec<String> = prod
            .exec_map(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?",
                (db, name),
                |t: String| t,
            )
            .await
            .map_err(Error::sql("reading the live table's triggers"))?;
        prod.query_drop(format!(
            "RENAME TABLE {} TO {}, {} TO {}",
            fq(name),
            fq(&aside),
            fq(copy),
            fq(name)
        ))
        .await
        .map_err(Error::sql(format!("renaming {db}.{copy} to {db}.{name}")))?;
        for t in triggers {
            prod.query_drop(format!("DROP TRIGGER {}.{}", q(db), q(&t)))
                .await
                .map_err(Error::sql(format!(
                    "dropping trigger {t} of the table set aside"
                )))?;
        }
        let keys: Vec<String> = prod
            .exec_map(
                "SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
                (db, aside.as_str()),
                |k: String| k,
            )
            .await
            .map_err(Error::sql("reading the foreign keys of the table set aside"))?;
        for k in keys {
            prod.query_drop(format!(
                "ALTER TABLE {} DROP FOREIGN KEY {}",
                fq(&aside),
                q(&k)
            ))
            .await
            .map_err(Error::sql(format!(
                "dropping foreign key {k} of the table set aside"
            )))?;
        }
        Some(format!("{db}.{aside}"))
    } else {
        prod.query_drop(format!("RENAME TABLE {} TO {}", fq(copy), fq(name)))
            .await
            .map_err(Error::sql(format!("renaming {db}.{copy} to {db}.{name}")))?;
        None
    };
    for k in foreign_keys {
        prod.query_drop(format!("ALTER TABLE {} ADD {k}", fq(name)))
            .await
            .map_err(Error::sql(format!("adding back `{k}` to {db}.{name}")))?;
    }
    let mut repointed = Vec::new();
    for c in &children {
        // An unqualified REFERENCES names a table of the child's database.
        prod.query_drop(format!("USE {}", q(&c.db)))
            .await
            .map_err(Error::sql("choosing the child's database"))?;
        prod.query_drop(format!(
            "ALTER TABLE {}.{} ADD {}",
            q(&c.db),
            q(&c.table),
            c.clause
        ))
        .await
        .map_err(Error::sql(format!(
            "adding back foreign key {} of {}.{}",
            c.name, c.db, c.table
        )))?;
        let on: Vec<String> = c
            .columns
            .iter()
            .map(|(cc, pc)| format!("c.{} = p.{}", q(cc), q(pc)))
            .collect();
        let set: Vec<String> = c
            .columns
            .iter()
            .map(|(cc, _)| format!("c.{} IS NOT NULL", q(cc)))
            .collect();
        let orphans: Option<u64> = prod
            .query_first(format!(
                "SELECT COUNT(*) FROM {}.{} c LEFT JOIN {} p ON {} WHERE {} AND p.{} IS NULL",
                q(&c.db),
                q(&c.table),
                fq(name),
                on.join(" AND "),
                set.join(" AND "),
                q(&c.columns[0].1)
            ))
            .await
            .map_err(Error::sql(format!(
                "counting the rows of {}.{} without a parent",
                c.db, c.table
            )))?;
        repointed.push(ChildKey {
            key: format!("{}.{} ({})", c.db, c.table, c.name),
            orphans: orphans.unwrap_or(0),
        });
    }
    // The triggers as the side instance has them (their definers and SQL modes kept).
    let names: Vec<String> = side
        .exec_map(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ? ORDER BY ACTION_ORDER",
            (db, name),
            |t: String| t,
        )
        .await
        .map_err(Error::sql("reading the recovered table's triggers"))?;
    for t in names {
        let row: Option<mysql_async::Row> = side
            .query_first(format!("SHOW CREATE TRIGGER {}.{}", q(db), q(&t)))
            .await
            .map_err(Error::sql(format!("reading trigger {t}")))?;
        let Some(row) = row else { continue };
        let (mode, create): (Option<String>, Option<String>) = (row.get(1), row.get(2));
        let Some(create) = create else { continue };
        prod.query_drop(format!(
            "SET SESSION sql_mode = {}; USE {}",
            lit(&mode.unwrap_or_default()),
            q(db)
        ))
        .await
        .map_err(Error::sql("preparing the trigger's session"))?;
        prod.query_drop(create)
            .await
            .map_err(Error::sql(format!("creating trigger {t} on {db}.{name}")))?;
    }
    Ok((set_aside, repointed))
}

/// A foreign key of another table that points at a table.
struct Child {
    db: String,
    table: String,
    name: String,
    /// As SHOW CREATE TABLE writes it (`CONSTRAINT … FOREIGN KEY … REFERENCES …`).
    clause: String,
    /// (child column, parent column).
    columns: Vec<(String, String)>,
}

/// The foreign keys of other tables that point at `db.name`.
async fn children_keys(
    prod: &mut mysql_async::Conn,
    db: &str,
    name: &str,
) -> Result<Vec<Child>, Error> {
    let rows: Vec<(String, String, String, String, String)> = prod
        .exec(
            "SELECT k.CONSTRAINT_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME              FROM information_schema.KEY_COLUMN_USAGE k              WHERE k.REFERENCED_TABLE_SCHEMA = ? AND k.REFERENCED_TABLE_NAME = ?              AND NOT (k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ?)              ORDER BY k.CONSTRAINT_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
            (db, name, db, name),
        )
        .await
        .map_err(Error::sql("reading the foreign keys that point at the table"))?;
    let mut out: Vec<Child> = Vec::new();
    for (cdb, table, cname, col, pcol) in rows {
        if let Some(c) = out
            .last_mut()
            .filter(|c| c.db == cdb && c.table == table && c.name == cname)
        {
            c.columns.push((col, pcol));
            continue;
        }
        let row: Option<(String, String)> = prod
            .query_first(format!("SHOW CREATE TABLE {}.{}", q(&cdb), q(&table)))
            .await
            .map_err(Error::sql(format!(
                "reading the definition of {cdb}.{table}"
            )))?;
        let head = format!("CONSTRAINT {} FOREIGN KEY", q(&cname));
        let clause = row
            .and_then(|(_, create)| {
                create
                    .lines()
                    .map(str::trim)
                    .find(|l| l.starts_with(&head))
                    .map(|l| l.trim_end_matches(',').to_owned())
            })
            .ok_or_else(|| Error::Missing {
                what: format!("foreign key {cname}"),
                within: format!("SHOW CREATE TABLE {cdb}.{table}"),
                hint: None,
            })?;
        out.push(Child {
            db: cdb,
            table,
            name: cname,
            clause,
            columns: vec![(col, pcol)],
        });
    }
    Ok(out)
}

/// Rows only in one of the two tables, and rows in both with other values, by primary key.
async fn difference(
    prod: &mut mysql_async::Conn,
    db: &str,
    live: &str,
    copy: &str,
) -> Result<Option<Difference>, Error> {
    let exists: Option<u64> = prod
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (db, live),
        )
        .await
        .map_err(Error::sql("looking for the live table"))?;
    if exists.unwrap_or(0) == 0 {
        return Ok(None);
    }
    let cols = |t: &str| {
        format!(
            "SELECT COLUMN_NAME, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
            lit(db),
            lit(t)
        )
    };
    let recovered: Vec<(String, String)> = prod
        .query(cols(copy))
        .await
        .map_err(Error::sql("reading the columns"))?;
    let now: Vec<(String, String)> = prod
        .query(cols(live))
        .await
        .map_err(Error::sql("reading the columns"))?;
    let key: Vec<&String> = recovered
        .iter()
        .filter(|(_, k)| k == "PRI")
        .map(|(c, _)| c)
        .collect();
    if key.is_empty() || recovered.iter().map(|c| &c.0).ne(now.iter().map(|c| &c.0)) {
        return Ok(None);
    }
    let on: Vec<String> = key.iter().map(|k| format!("r.{0} = l.{0}", q(k))).collect();
    let on = on.join(" AND ");
    let same: Vec<String> = recovered
        .iter()
        .map(|(c, _)| format!("r.{0} <=> l.{0}", q(c)))
        .collect();
    let (r, l) = (
        format!("{}.{}", q(db), q(copy)),
        format!("{}.{}", q(db), q(live)),
    );
    let k0 = q(key[0]);
    let count = async |prod: &mut mysql_async::Conn, sql: String| -> Result<u64, Error> {
        let n: Option<u64> = prod.query_first(sql).await.map_err(Error::sql(
            "comparing the recovered table with the live one",
        ))?;
        Ok(n.unwrap_or(0))
    };
    Ok(Some(Difference {
        only_recovered: count(
            prod,
            format!("SELECT COUNT(*) FROM {r} r LEFT JOIN {l} l ON {on} WHERE l.{k0} IS NULL"),
        )
        .await?,
        only_live: count(
            prod,
            format!("SELECT COUNT(*) FROM {l} l LEFT JOIN {r} r ON {on} WHERE r.{k0} IS NULL"),
        )
        .await?,
        changed: count(
            prod,
            format!(
                "SELECT COUNT(*) FROM {r} r JOIN {l} l ON {on} WHERE NOT ({})",
                same.join(" AND ")
            ),
        )
        .await?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_keys_are_split_from_the_definition() {
        let create = "CREATE TABLE `rental` (\n  `rental_id` int NOT NULL,\n  `customer_id` int NOT NULL,\n  PRIMARY KEY (`rental_id`),\n  CONSTRAINT `fk_c` FOREIGN KEY (`customer_id`) REFERENCES `customer` (`customer_id`)\n) ENGINE=InnoDB";
        let (bare, keys) = split_foreign_keys(create);
        assert_eq!(
            keys,
            vec![
                "CONSTRAINT `fk_c` FOREIGN KEY (`customer_id`) REFERENCES `customer` (`customer_id`)"
            ]
        );
        assert!(
            bare.contains("PRIMARY KEY (`rental_id`)\n) ENGINE"),
            "{bare}"
        );
    }
}
