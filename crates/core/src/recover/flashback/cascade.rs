//! Foreign-key cascades the binlog lacks.
//!
//! MariaDB, and MySQL up to 8.4 (9.6+ with `innodb_native_foreign_keys=ON`), apply
//! `ON DELETE CASCADE` and `ON DELETE SET NULL` inside InnoDB: a parent's DELETE is logged,
//! the child rows it removed or changed are not. (MySQL's SQL-layer foreign keys log them,
//! and mark the parent's event `USE_SQL_FOREIGN_KEY_F`: their undo is an ordinary one.)
//!
//! The missing children are rebuilt: the tables as they were just before the transaction, in
//! a side instance (the newest backup and the archive, through the PITR engine), where the
//! cascade is done again by hand, foreign key checks off and the binary log on, so that the
//! server itself writes the child rows' events. Those events, framed as the production
//! binlog's, are undone in the same target transaction right after the transaction's own
//! events (the parents are back first), each row checked against production like any other.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use lifeboat_binlog::events::RowsEvent;
use lifeboat_binlog::{
    BinlogPos, Event, EventType, FileReader, FormatDescription, RowKind, TableDef,
};
use lifeboat_mysql_types::quote::ident as q;
use lifeboat_server::{ServerInfo, connect};
use mysql_async::prelude::Queryable;

use super::scan::{Entry, Trx};
use super::walk::{Map, Source, Step, Walker};
use super::{Plan, bound, check, file_of};
use crate::error::Error;
use crate::target::guard::Refusal;

/// InnoDB's limit on nested cascades.
const DEPTH: usize = 15;

/// Parent rows matched per statement in the side instance.
const BATCH: usize = 200;

/// Where the children of an unlogged cascade are rebuilt from.
pub enum Cascades<'a> {
    /// Nowhere (binlog files given without a repository): a transaction that needs it is
    /// refused.
    Unavailable,
    /// A repository's backups and archive.
    Rebuild {
        /// The repository.
        repo: &'a lifeboat_repo::Repository,
        /// Which archived server.
        server: Option<&'a str>,
        /// The side instance's server binary.
        mysqld: Option<std::path::PathBuf>,
    },
}

/// One foreign key, as production defines it.
#[derive(Debug, Clone)]
pub(super) struct Fk {
    name: String,
    /// `db.table`, lowercased, like the binlog's map names.
    child: String,
    /// The database and table as the server spells them.
    child_name: (String, String),
    child_cols: Vec<String>,
    parent: String,
    parent_name: (String, String),
    parent_cols: Vec<String>,
    on_delete: String,
    on_update: String,
}

impl Fk {
    /// A parent's DELETE changes the child's rows.
    fn deletes_reach(&self) -> bool {
        matches!(self.on_delete.as_str(), "CASCADE" | "SET NULL")
    }

    /// A parent's UPDATE of the referenced columns changes the child's rows.
    fn updates_reach(&self) -> bool {
        matches!(self.on_update.as_str(), "CASCADE" | "SET NULL")
    }

    fn describe(&self) -> String {
        format!(
            "{} ({}: {} -> {}, ON DELETE {})",
            self.child,
            self.name,
            self.child_cols.join(","),
            self.parent,
            self.on_delete
        )
    }
}

/// Every foreign key on the server.
pub(super) async fn foreign_keys(conn: &mut mysql_async::Conn) -> Result<Vec<Fk>, Error> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    );
    let rows: Vec<Row> = conn
        .query(
            "SELECT rc.CONSTRAINT_SCHEMA, rc.TABLE_NAME, rc.CONSTRAINT_NAME, \
             rc.UNIQUE_CONSTRAINT_SCHEMA, rc.REFERENCED_TABLE_NAME, rc.DELETE_RULE, rc.UPDATE_RULE, \
             k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME \
             FROM information_schema.REFERENTIAL_CONSTRAINTS rc \
             JOIN information_schema.KEY_COLUMN_USAGE k ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA \
             AND k.TABLE_NAME = rc.TABLE_NAME AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME \
             AND k.REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY rc.CONSTRAINT_SCHEMA, rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        )
        .await
        .map_err(Error::sql("reading the foreign keys"))?;
    let mut out: Vec<Fk> = Vec::new();
    for (db, table, name, pdb, ptable, on_delete, on_update, col, pcol) in rows {
        let child = format!("{db}.{table}").to_lowercase();
        match out.last_mut() {
            Some(f) if f.child == child && f.name == name => {
                f.child_cols.push(col);
                f.parent_cols.push(pcol);
            }
            _ => out.push(Fk {
                name,
                child,
                child_name: (db, table),
                child_cols: vec![col],
                parent: format!("{pdb}.{ptable}").to_lowercase(),
                parent_name: (pdb, ptable),
                parent_cols: vec![pcol],
                on_delete: on_delete.to_uppercase(),
                on_update: on_update.to_uppercase(),
            }),
        }
    }
    Ok(out)
}

/// The transaction whose DELETEs cascaded below the binlog.
pub(super) struct Unlogged {
    trx: Trx,
    entries: Vec<Entry>,
    /// Which of `entries` delete rows of a parent.
    parents: Vec<usize>,
    /// Which of `entries` delete rows before the first of those (the transaction's own
    /// deletes of children, as an application that deletes children first logs them).
    earlier_deletes: Vec<usize>,
    /// The parent tables.
    tables: BTreeSet<String>,
    source: Source,
}

impl Unlogged {
    /// Why the binlog alone cannot undo it.
    pub(super) fn why(&self) -> String {
        format!(
            "transaction {} deleted rows of {} whose children the server changed below the binlog (MariaDB; MySQL with InnoDB's own foreign keys)",
            self.source.id(),
            self.tables.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    }

    /// Which of the transaction's entries is its first parent DELETE.
    pub(super) fn first_parent(&self) -> Option<usize> {
        self.parents.first().copied()
    }

    /// Whether the plan's transaction `t` is this one.
    pub(super) fn is(&self, t: &Trx) -> bool {
        self.trx.file == t.file && self.trx.start == t.start
    }
}

/// Finds the transaction of the plan whose row changes cascaded to children the binlog does
/// not hold. Refused: several such transactions (each needs its own point in time), and an
/// UPDATE of a referenced key with ON UPDATE CASCADE / SET NULL children.
pub(super) async fn find(
    plan: &Plan,
    conn: &mut mysql_async::Conn,
    fks: &[Fk],
) -> Result<Result<Option<Unlogged>, Refusal>, Error> {
    let on_delete: BTreeSet<&str> = fks
        .iter()
        .filter(|f| f.deletes_reach())
        .map(|f| f.parent.as_str())
        .collect();
    let on_update: BTreeSet<&str> = fks
        .iter()
        .filter(|f| f.updates_reach())
        .map(|f| f.parent.as_str())
        .collect();
    let seen = |t: &str, kind: &str| {
        plan.summary
            .tables
            .get(t)
            .is_some_and(|s| s.events.get(kind).copied().unwrap_or(0) > 0)
    };
    if !on_delete.iter().any(|t| seen(t, "delete")) && !on_update.iter().any(|t| seen(t, "update"))
    {
        return Ok(Ok(None));
    }
    let mut found: Option<Unlogged> = None;
    let mut walker = Walker::new(&plan.index)?;
    // Per parent table: where its referenced columns are.
    let mut referenced: HashMap<String, Vec<usize>> = HashMap::new();
    while let Some((source, trx, entries)) = walker.next_trx()? {
        let mut parents = Vec::new();
        let mut earlier_deletes = Vec::new();
        let mut tables = BTreeSet::new();
        for (i, e) in entries.iter().enumerate() {
            let step = walker.step(e, bound(&entries, i, &trx))?;
            let table = step.map.table.as_str();
            let (fde, name) = file_of(plan, e.file)?;
            let code = step.raw.get(4).copied().unwrap_or(0);
            let kind = RowKind::of(EventType::from_code(code));
            let deleting = kind == Some(RowKind::Delete) && on_delete.contains(table);
            let updating = kind == Some(RowKind::Update) && on_update.contains(table);
            if kind == Some(RowKind::Delete) && parents.is_empty() && !deleting {
                earlier_deletes.push(i);
            }
            if !deleting && !updating {
                continue;
            }
            let decoded = step.decode(fde, name)?;
            if !fde.is_mariadb() && decoded.ev.flags & RowsEvent::USE_SQL_FOREIGN_KEY != 0 {
                continue;
            }
            if updating {
                let def = &step.map.def;
                if !referenced.contains_key(table) {
                    let shape = check::shape_of(conn, table, def).await?;
                    let keys: Vec<usize> = fks
                        .iter()
                        .filter(|f| f.parent == table && f.updates_reach())
                        .flat_map(|f| &f.parent_cols)
                        .filter_map(|c| shape.names.iter().position(|n| n.eq_ignore_ascii_case(c)))
                        .collect();
                    referenced.insert(table.to_owned(), keys);
                }
                let keys = referenced.get(table).cloned().unwrap_or_default();
                let rows = decoded.rows(def)?;
                let changed = rows.iter().any(|r| {
                    keys.iter().any(|&k| {
                        let before = r.before.as_ref().and_then(|i| i.values.get(k));
                        let after = r.after.as_ref().and_then(|i| i.values.get(k));
                        before != after
                    })
                });
                if changed {
                    let children: Vec<String> = fks
                        .iter()
                        .filter(|f| f.parent == table && f.updates_reach())
                        .map(|f| format!("{} (ON UPDATE {})", f.child, f.on_update))
                        .collect();
                    return Ok(Err(Refusal::Unsafe {
                        action: format!("undo transaction {}", source.id()),
                        reason: format!(
                            "it changed keys of {table} that {} follow by ON UPDATE, below the binlog; undoing a cascaded key change is not supported: `lifeboat recover --mode side-by-side` brings the tables back as they were",
                            children.join(", ")
                        ),
                    }));
                }
                continue;
            }
            parents.push(i);
            tables.insert(table.to_owned());
        }
        if parents.is_empty() {
            continue;
        }
        if let Some(other) = &found {
            return Ok(Err(Refusal::Unsafe {
                action: "undo the range".into(),
                reason: format!(
                    "transactions {} and {} both deleted parent rows whose children the server changed below the binlog; each needs the tables rebuilt at its own point: flash them back one at a time (--incident)",
                    source.id(),
                    other.source.id()
                ),
            }));
        }
        found = Some(Unlogged {
            trx,
            entries,
            parents,
            earlier_deletes,
            tables,
            source,
        });
    }
    Ok(Ok(found))
}

/// The rebuilt cascade of the plan's one transaction that needs it, if any: found, then
/// rebuilt from `cascades` (refused when there is nothing to rebuild it from).
pub(super) async fn prepare(
    plan: &Plan,
    prod: &mut mysql_async::Conn,
    cascades: Cascades<'_>,
    audit: &mut crate::target::journal::Audit,
    ctx: &crate::Context,
) -> Result<Result<Option<(Unlogged, Supplement)>, Refusal>, Error> {
    let fks = foreign_keys(prod).await?;
    let found = match find(plan, prod, &fks).await? {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(Ok(None)),
        Err(r) => return Ok(Err(r)),
    };
    match cascades {
        Cascades::Unavailable => Ok(Err(Refusal::Unsafe {
            action: format!("undo transaction {}", found.source.id()),
            reason: format!(
                "{}, so the binlog cannot put them back: read the binlogs from the repository (--repo) and lifeboat rebuilds them from its backup and archive",
                found.why()
            ),
        })),
        Cascades::Rebuild {
            repo,
            server,
            mysqld,
        } => Ok(
            rebuild(plan, &found, &fks, prod, repo, server, mysqld, audit, ctx)
                .await?
                .map(|s| Some((found, s))),
        ),
    }
}

/// The foreign keys a DELETE of `parents` reaches, as paths from a parent (`path[0]`) to the
/// child whose rows change (`path.last()`): CASCADE edges all the way, the last one CASCADE
/// or SET NULL.
fn paths<'f>(fks: &'f [Fk], parents: &BTreeSet<String>) -> Result<Vec<Vec<&'f Fk>>, String> {
    let mut out: Vec<Vec<&Fk>> = Vec::new();
    let mut open: Vec<Vec<&Fk>> = fks
        .iter()
        .filter(|f| f.deletes_reach() && parents.contains(&f.parent))
        .map(|f| vec![f])
        .collect();
    while let Some(path) = open.pop() {
        let Some(last) = path.last().copied() else {
            continue;
        };
        let mut tables: Vec<&str> = path.iter().map(|f| f.parent.as_str()).collect();
        if tables.contains(&last.child.as_str()) {
            tables.push(&last.child);
            return Err(format!(
                "the cascade goes round ({}): a self-referencing or circular ON DELETE",
                tables.join(" -> ")
            ));
        }
        if path.len() > DEPTH {
            return Err(format!("the cascade is deeper than {DEPTH} tables"));
        }
        if last.on_delete == "CASCADE" {
            for f in fks
                .iter()
                .filter(|f| f.deletes_reach() && f.parent == last.child)
            {
                let mut next = path.clone();
                next.push(f);
                open.push(next);
            }
        }
        out.push(path);
    }
    // Deepest first: a child's rows are found through its parents' rows, which must still
    // be there.
    out.sort_by_key(|p| std::cmp::Reverse(p.len()));
    Ok(out)
}

/// The statement that does, in the side instance, what the cascade along `path` did: the
/// rows of `path.last().child` reached from the parent rows in `gone` are deleted (CASCADE)
/// or have their foreign key set to NULL (SET NULL).
fn statement(path: &[&Fk], gone: &str) -> String {
    let n = path.len();
    let table = |(db, name): &(String, String)| format!("{}.{}", q(db), q(name));
    let mut from = String::new();
    for (i, f) in path.iter().enumerate().rev() {
        let (this, up) = (format!("t{}", i + 1), format!("t{i}"));
        if i + 1 == n {
            from.push_str(&format!("{} {this}", table(&f.child_name)));
        }
        let parent = if i == 0 {
            gone.to_owned()
        } else {
            table(&f.parent_name)
        };
        let on: Vec<String> = f
            .child_cols
            .iter()
            .zip(&f.parent_cols)
            .map(|(c, p)| format!("{this}.{} = {up}.{}", q(c), q(p)))
            .collect();
        from.push_str(&format!(" JOIN {parent} {up} ON {}", on.join(" AND ")));
    }
    let last = path[n - 1];
    if last.on_delete == "CASCADE" {
        format!("DELETE t{n} FROM {from}")
    } else {
        let set: Vec<String> = last
            .child_cols
            .iter()
            .map(|c| format!("t{n}.{} = NULL", q(c)))
            .collect();
        format!("UPDATE {from} SET {}", set.join(", "))
    }
}

/// The rebuilt child rows' events, framed as the production binlog's, in a file of their own.
pub(super) struct Supplement {
    file: tempfile::NamedTempFile,
    maps: Vec<Arc<Map>>,
    /// Row events in the order the side instance wrote them: map, offset, length.
    events: Vec<(usize, u64, u32)>,
    /// Rows per table the cascade changed.
    pub rows: BTreeMap<String, u64>,
}

impl Supplement {
    /// The events newest first (the order their undo goes in).
    pub(super) fn steps(&self) -> impl Iterator<Item = Result<Step, Error>> + '_ {
        self.events.iter().rev().map(|&(m, offset, len)| {
            let mut raw = vec![0; len as usize];
            self.file
                .as_file()
                .read_exact_at(&mut raw, offset)
                .map_err(|e| Error::in_file(self.file.path(), e))?;
            Ok(Step {
                map: self.maps[m].clone(),
                raw,
                offset,
            })
        })
    }

    /// What names these events in errors and reports.
    pub(super) const NAME: &'static str = "rebuilt-cascade";
}

/// Rebuilds, in a side instance, the child rows `found`'s DELETEs changed below the binlog.
#[allow(clippy::too_many_arguments)]
pub(super) async fn rebuild(
    plan: &Plan,
    found: &Unlogged,
    fks: &[Fk],
    prod: &mut mysql_async::Conn,
    repo: &lifeboat_repo::Repository,
    server: Option<&str>,
    mysqld: Option<std::path::PathBuf>,
    audit: &mut crate::target::journal::Audit,
    ctx: &crate::Context,
) -> Result<Result<Supplement, Refusal>, Error> {
    let paths = match paths(fks, &found.tables) {
        Ok(p) => p,
        Err(reason) => {
            return Ok(Err(Refusal::Unsafe {
                action: format!("undo transaction {}", found.source.id()),
                reason,
            }));
        }
    };
    let reached: BTreeSet<String> = paths
        .iter()
        .flat_map(|p| p.iter().map(|f| f.child.clone()))
        .collect();
    ctx.note(&format!(
        "transaction {} deleted rows of {} whose children the server changed below the binlog ({}): rebuilding them just before it, in a side instance",
        found.source.id(),
        found.tables.iter().cloned().collect::<Vec<_>>().join(", "),
        paths
            .iter()
            .filter_map(|p| p.last())
            .map(|f| f.describe())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join("; ")
    ));
    let (fde, file) = file_of(plan, found.trx.file)?;
    let stop = crate::recover::pitr::StopAt::BeforeIncident(BinlogPos::new(
        file.to_owned(),
        found.trx.start,
    ));
    let staging = crate::recover::pitr::staging_dir(None)?;
    let pitr = crate::recover::pitr::plan(repo, server, &stop, staging.path()).await?;
    let wanted: Vec<String> = found.tables.iter().chain(&reached).cloned().collect();
    let side = crate::recover::tables::Rebuilt::start(
        repo,
        pitr,
        staging.path(),
        &wanted,
        mysqld,
        true,
        audit,
        ctx,
    )
    .await?;
    let result = async {
        let sandbox = side.sandbox()?;
        let mut side_conn = connect(&sandbox.connect_options()).await?;
        let r = cascade_in_side(
            plan,
            found,
            &paths,
            prod,
            &mut side_conn,
            &sandbox.datadir,
            fde,
        )
        .await;
        let _ = side_conn.disconnect().await;
        r
    }
    .await;
    side.remove().await;
    result.map(Ok)
}

/// In the side instance (the tables just before the transaction): the parent rows the
/// transaction deleted, found by their whole images, then the cascade done by hand in one
/// logged transaction; its events read back.
async fn cascade_in_side(
    plan: &Plan,
    found: &Unlogged,
    paths: &[Vec<&Fk>],
    prod: &mut mysql_async::Conn,
    side: &mut mysql_async::Conn,
    datadir: &std::path::Path,
    prod_fde: &FormatDescription,
) -> Result<Supplement, Error> {
    let info = ServerInfo::probe(side).await?;
    side.query_drop("SET SESSION foreign_key_checks = 0, time_zone = '+00:00', sql_log_bin = 1")
        .await
        .map_err(Error::sql("preparing the side instance's session"))?;
    // Nothing may fire in the side instance: its events would be taken for the cascade's.
    let reached: BTreeSet<&str> = paths
        .iter()
        .flat_map(|p| p.iter().map(|f| f.child.as_str()))
        .collect();
    let triggers: Vec<(String, String, String)> = side
        .query(
            "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, LOWER(CONCAT(EVENT_OBJECT_SCHEMA, '.', EVENT_OBJECT_TABLE)) \
             FROM information_schema.TRIGGERS",
        )
        .await
        .map_err(Error::sql("reading the side instance's triggers"))?;
    for (db, name, table) in triggers {
        if reached.contains(table.as_str()) {
            side.query_drop(format!("DROP TRIGGER {}.{}", q(&db), q(&name)))
                .await
                .map_err(Error::sql("dropping a trigger in the side instance"))?;
        }
    }
    // The parent rows the transaction deleted, copied aside by their whole images: proof
    // that the side instance holds them as the binlog says.
    let mut gone: HashMap<String, String> = HashMap::new();
    let mut walker = Walker::new(&plan.index)?;
    let (mut wanted, mut matched) = (HashMap::<String, u64>::new(), HashMap::<String, u64>::new());
    let mut server_id = None;
    let mut shapes: HashMap<String, Arc<check::Shape>> = HashMap::new();
    for &i in &found.parents {
        let deleted = before_images(plan, found, &mut walker, prod, &mut shapes, i, true).await?;
        server_id.get_or_insert(deleted.server_id);
        let table = deleted.table;
        if !gone.contains_key(&table) {
            let aside = format!(
                "{}.{}",
                q(&deleted.schema),
                q(&format!("lifeboat_gone_{}", gone.len()))
            );
            side.query_drop(format!(
                "CREATE TEMPORARY TABLE {aside} LIKE {}",
                deleted.quoted
            ))
            .await
            .map_err(Error::sql(format!("copying rows of {table} aside")))?;
            gone.insert(table.clone(), aside);
        }
        for any in deleted.batches {
            let aside = &gone[&table];
            let r = side
                .query_iter(format!(
                    "INSERT IGNORE INTO {aside} SELECT * FROM {} WHERE {}",
                    deleted.quoted,
                    any.join(" OR ")
                ))
                .await
                .map_err(Error::sql(format!(
                    "finding the deleted rows of {table} in the side instance"
                )))?;
            *matched.entry(table.clone()).or_default() += r.affected_rows();
            drop(r);
            *wanted.entry(table.clone()).or_default() += any.len() as u64;
        }
    }
    for (t, n) in &wanted {
        let m = matched.get(t).copied().unwrap_or(0);
        if m != *n {
            return Err(Error::Mismatch {
                subject: t.clone(),
                problem: format!(
                    "the side instance rebuilt just before transaction {} holds {m} of the {n} rows it deleted: the cascade below them cannot be rebuilt",
                    found.source.id()
                ),
            });
        }
    }
    // Rows of the children the transaction deleted itself before its parents (logged, and
    // put back by its own undo): gone in the side instance too, unlogged, so that the
    // cascade does not find them again.
    side.query_drop("SET SESSION sql_log_bin = 0")
        .await
        .map_err(Error::sql("preparing the side instance's session"))?;
    for &i in &found.earlier_deletes {
        let e = found.entries[i];
        let table = walker
            .step(&e, bound(&found.entries, i, &found.trx))?
            .map
            .table
            .clone();
        if !reached.contains(table.as_str()) {
            continue;
        }
        let deleted = before_images(plan, found, &mut walker, prod, &mut shapes, i, false).await?;
        for keys in deleted.batches {
            side.query_drop(format!(
                "DELETE FROM {} WHERE {}",
                deleted.quoted,
                keys.join(" OR ")
            ))
            .await
            .map_err(Error::sql(format!(
                "deleting in the side instance the rows of {table} the transaction deleted"
            )))?;
        }
    }
    side.query_drop("SET SESSION sql_log_bin = 1")
        .await
        .map_err(Error::sql("preparing the side instance's session"))?;
    let start = lifeboat_server::info::current_binlog_pos(side, info.flavor, info.version)
        .await
        .ok_or_else(|| Error::Missing {
            what: "the binary log".into(),
            within: "the side instance".into(),
            hint: None,
        })?;
    side.query_drop("START TRANSACTION")
        .await
        .map_err(Error::sql("START TRANSACTION in the side instance"))?;
    let mut rows = BTreeMap::new();
    for path in paths {
        let Some(first) = path.first() else { continue };
        // A multi-table DELETE names its aliases relative to a default database.
        side.query_drop(format!("USE {}", q(&first.parent_name.0)))
            .await
            .map_err(Error::sql("choosing the database in the side instance"))?;
        let sql = statement(path, &gone[&first.parent]);
        let r = side
            .query_iter(sql)
            .await
            .map_err(Error::sql("doing the cascade again in the side instance"))?;
        let n = r.affected_rows();
        drop(r);
        if let Some(last) = path.last() {
            *rows.entry(last.child.clone()).or_default() += n;
        }
    }
    side.query_drop("COMMIT")
        .await
        .map_err(Error::sql("COMMIT in the side instance"))?;
    let end = lifeboat_server::info::current_binlog_pos(side, info.flavor, info.version)
        .await
        .unwrap_or_else(|| start.clone());
    if end.file != start.file {
        return Err(Error::Internal(format!(
            "the side instance's binlog moved from {} to {} during one transaction",
            start.file, end.file
        )));
    }
    let mut sup = reframe(
        &datadir.join(&start.file),
        start.pos,
        end.pos,
        prod_fde,
        server_id.unwrap_or(0),
    )?;
    sup.rows = rows;
    Ok(sup)
}

/// The rows one of `found`'s DELETE events removed, as predicates that find them
/// (`whole`: by key and every value; else by key), [`BATCH`] rows a statement.
struct Deleted {
    table: String,
    schema: String,
    quoted: String,
    server_id: u32,
    batches: Vec<Vec<String>>,
}

async fn before_images(
    plan: &Plan,
    found: &Unlogged,
    walker: &mut Walker<'_>,
    prod: &mut mysql_async::Conn,
    shapes: &mut HashMap<String, Arc<check::Shape>>,
    i: usize,
    whole: bool,
) -> Result<Deleted, Error> {
    let e = found.entries[i];
    let step = walker.step(&e, bound(&found.entries, i, &found.trx))?;
    let (fde, name) = file_of(plan, e.file)?;
    let decoded = step.decode(fde, name)?;
    let table = step.map.table.clone();
    let shape = match shapes.get(&table) {
        Some(s) => s.clone(),
        None => {
            let s = Arc::new(check::shape_of(prod, &table, &step.map.def).await?);
            shapes.insert(table.clone(), s.clone());
            s
        }
    };
    let cols = shape.columns(&step.map.def);
    let rows = decoded.rows(&step.map.def)?;
    let mut batches = Vec::new();
    for chunk in rows.chunks(BATCH) {
        let batch = chunk
            .iter()
            .filter_map(|r| r.before.as_ref())
            .map(|b| {
                // The key for the index, then every value.
                let key = check::key_of(&shape, &cols, b)?;
                if !whole {
                    return Ok(key);
                }
                check::same_as(&shape, &cols, b).map(|all| format!("({key} AND {all})"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|problem| Error::Binlog {
                file: name.to_owned(),
                offset: Some(step.offset),
                problem: format!("{table}: {problem}"),
            })?;
        if !batch.is_empty() {
            batches.push(batch);
        }
    }
    Ok(Deleted {
        schema: step.map.def.schema.clone(),
        quoted: shape.quoted.clone(),
        server_id: decoded.header.server_id,
        table,
        batches,
    })
}

/// The row events (and their maps) between `from` and `to` of the side instance's binlog
/// `path`, framed under the production file's format description with its server id.
fn reframe(
    path: &std::path::Path,
    from: u64,
    to: u64,
    prod_fde: &FormatDescription,
    server_id: u32,
) -> Result<Supplement, Error> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let src = std::fs::File::open(path).map_err(|e| Error::in_file(path, e))?;
    let mut reader = FileReader::new(std::io::BufReader::new(src), name.clone())?;
    let file =
        tempfile::NamedTempFile::new().map_err(|e| Error::in_file(&std::env::temp_dir(), e))?;
    let mut out =
        std::io::BufWriter::new(file.reopen().map_err(|e| Error::in_file(file.path(), e))?);
    let mut at = 0u64;
    let mut maps: Vec<Arc<Map>> = Vec::new();
    let mut by_id: HashMap<u64, usize> = HashMap::new();
    let mut events = Vec::new();
    let mut data = Vec::new();
    while let Some((raw, fde)) = reader.next_with_format()? {
        if raw.offset < from {
            continue;
        }
        if raw.offset >= to {
            break;
        }
        let offset = raw.offset;
        let t = raw.event_type();
        let event = Event::decode(fde, t, raw.data).map_err(Error::event(&name, offset))?;
        let mut header = raw.header;
        header.server_id = server_id;
        match &event {
            Event::TableMap(m) => {
                let def = TableDef::from_map(m).map_err(|reason| Error::Event {
                    file: name.clone(),
                    offset,
                    source: lifeboat_binlog::DecodeError {
                        event: "Table_map",
                        reason,
                    },
                })?;
                let as_type = event.encode_data_into(t, prod_fde, &mut data)?;
                let bytes = lifeboat_binlog::encode_event(&header, as_type, &data, prod_fde)?;
                let table = format!("{}.{}", def.schema, def.table).to_lowercase();
                by_id.insert(m.table_id, maps.len());
                maps.push(Arc::new(Map {
                    raw: bytes,
                    def,
                    table,
                }));
            }
            Event::Rows(r) => {
                let Some(&m) = by_id.get(&r.table_id) else {
                    return Err(Error::Binlog {
                        file: name.clone(),
                        offset: Some(offset),
                        problem: "a row event without its table map".into(),
                    });
                };
                let as_type = event.encode_data_into(t, prod_fde, &mut data)?;
                let bytes = lifeboat_binlog::encode_event(&header, as_type, &data, prod_fde)?;
                out.write_all(&bytes)
                    .map_err(|e| Error::in_file(file.path(), e))?;
                events.push((m, at, bytes.len() as u32));
                at += bytes.len() as u64;
            }
            _ => {}
        }
    }
    out.flush().map_err(|e| Error::in_file(file.path(), e))?;
    drop(out);
    Ok(Supplement {
        file,
        maps,
        events,
        rows: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(child: &str, col: &str, parent: &str, on_delete: &str) -> Fk {
        let split = |t: &str| {
            let (d, n) = t.split_once('.').unwrap();
            (d.to_owned(), n.to_owned())
        };
        Fk {
            name: format!("{child}_fk"),
            child: child.into(),
            child_name: split(child),
            child_cols: vec![col.into()],
            parent: parent.into(),
            parent_name: split(parent),
            parent_cols: vec!["id".into()],
            on_delete: on_delete.into(),
            on_update: "RESTRICT".into(),
        }
    }

    #[test]
    fn cascades_are_done_deepest_first_through_their_parents() {
        let fks = vec![
            fk("s.orders", "customer", "s.customers", "CASCADE"),
            fk("s.items", "order_id", "s.orders", "CASCADE"),
            fk("s.notes", "customer", "s.customers", "SET NULL"),
            fk("s.audit", "customer", "s.customers", "RESTRICT"),
        ];
        let parents = BTreeSet::from(["s.customers".to_owned()]);
        let p = paths(&fks, &parents).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].len(), 2);
        assert_eq!(
            statement(&p[0], "`s`.`gone`"),
            "DELETE t2 FROM `s`.`items` t2 JOIN `s`.`orders` t1 ON t2.`order_id` = t1.`id` JOIN `s`.`gone` t0 ON t1.`customer` = t0.`id`"
        );
        let notes = p.iter().find(|p| p[0].child == "s.notes").unwrap();
        assert_eq!(
            statement(notes, "`s`.`gone`"),
            "UPDATE `s`.`notes` t1 JOIN `s`.`gone` t0 ON t1.`customer` = t0.`id` SET t1.`customer` = NULL"
        );
    }

    #[test]
    fn a_cascade_that_goes_round_is_refused() {
        let fks = vec![fk("s.emp", "manager", "s.emp", "CASCADE")];
        let parents = BTreeSet::from(["s.emp".to_owned()]);
        assert!(paths(&fks, &parents).unwrap_err().contains("goes round"));
    }
}
