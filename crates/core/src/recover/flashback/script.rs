//! `flashback --out FILE.sql`: the undo as a script a DBA reviews and runs by hand.
//!
//! Each source transaction's undo is one transaction of the script, newest first. Before
//! each row event's undo, a check reads (and locks) the rows it is about to touch: when
//! production no longer holds what the incident left, the check fails the script there with
//! error 1242 ("Subquery returns more than 1 row") and the client's exit rolls that
//! transaction back; what ran before it stays committed. Rows go in as row events
//! (`BINLOG`), so no trigger fires; a comment above each says what it does.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::check::{self, Shape};
use super::walk::Walker;
use super::{Counts, Plan, bound, describe, file_of, undo_kind};
use crate::error::Error;

/// Rows described in a comment per row event; the rest are counted.
const DESCRIBED: usize = 10;

/// Where column names and keys come from.
pub enum Definitions<'a> {
    /// A server that has the tables (production): its definitions, checked against the
    /// binlog's.
    Server(&'a mut mysql_async::Conn),
    /// The binlog's own metadata (`binlog_row_metadata=FULL`).
    Metadata,
}

/// What the script holds.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// The file.
    pub file: String,
    /// Source transactions undone in it.
    pub transactions: u64,
    /// Rows per table and kind of undo.
    pub rows: Counts,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes the undo of `plan` to `out`.
pub async fn write(
    plan: &Plan,
    mut defs: Definitions<'_>,
    out: &Path,
    ctx: &crate::Context,
) -> Result<Written, Error> {
    let io = |e: std::io::Error| Error::in_file(out, e);
    let tmp = out.with_extension("sql.partial");
    let file = std::fs::File::create(&tmp).map_err(|e| Error::in_file(&tmp, e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let progress = ctx.progress();
    progress.start("flashback", plan.summary.transactions);
    writeln!(
        w,
        "-- lifeboat flashback: the undo of {} ({} transactions, newest first)\n\
         -- read from {}\n\
         -- Run it with the mysql or mariadb client, without --force. Before each undo a check\n\
         -- reads the rows it touches; when production no longer holds what the incident left,\n\
         -- the check stops the script (error 1242, \"Subquery returns more than 1 row\") and\n\
         -- that transaction is rolled back; the ones before it stay committed.\n\
         -- Rows go in as row events (BINLOG): no trigger fires, values are exact.\n\
         SET SESSION time_zone = '+00:00';",
        plan.summary.range,
        plan.summary.transactions,
        plan.summary.files.join(", ")
    )
    .map_err(io)?;
    let mut walker = Walker::new(&plan.index)?;
    let mut shapes: HashMap<String, (usize, std::sync::Arc<Shape>)> = HashMap::new();
    let mut fde_sent: Option<u32> = None;
    let mut counts = Counts::default();
    let mut transactions = 0u64;
    // Reused for each statement: one allocation for the whole script.
    let (mut line, mut scratch) = (String::new(), Vec::new());
    while let Some((source, trx, entries)) = walker.next_trx()? {
        progress.advance(1, 0);
        let time = jiff::Timestamp::from_second(i64::from(source.time))
            .map_or_else(|_| source.time.to_string(), |t| t.to_string());
        if fde_sent != Some(trx.file) {
            // Outside the transaction: MySQL refuses a format description inside one.
            let raw = &plan.index.files[trx.file as usize].fde_raw;
            writeln!(w, "{};", super::binlog_statement(raw)).map_err(io)?;
            fde_sent = Some(trx.file);
        }
        writeln!(
            w,
            "\n-- source transaction {}{} at {} ({time})\n{};",
            source.gtid.as_deref().map_or("", |_| "GTID "),
            source.id(),
            source.at,
            super::apply::begin(plan, trx.file)
        )
        .map_err(io)?;
        for i in (0..entries.len()).rev() {
            let e = entries[i];
            let step = walker.step(&e, bound(&entries, i, &trx))?;
            let (fde, name) = file_of(plan, e.file)?;
            let decoded = step.decode(fde, name)?;
            let rows = decoded.rows(&step.map.def)?;
            let table = step.map.table.clone();
            let width = step.map.def.columns.len();
            let shape = match shapes.get(&table) {
                Some((w, s)) if *w == width => std::sync::Arc::clone(s),
                _ => {
                    let s = match &mut defs {
                        Definitions::Server(conn) => check::shape_of(conn, &table, &step.map.def).await?,
                        Definitions::Metadata => check::shape_from_metadata(&table, &step.map.def)
                            .ok_or_else(|| Error::Missing {
                                what: format!("column names and primary key of {table}"),
                                within: format!("the binlog's table map at {name}:{}", e.map),
                                hint: Some("give the production server's connection options (its definitions are read, nothing is written), or write binlogs with binlog_row_metadata=FULL"),
                            })?,
                    };
                    let s = std::sync::Arc::new(s);
                    shapes.insert(table.clone(), (width, s.clone()));
                    s
                }
            };
            let cols = shape.columns(&step.map.def);
            let expects = rows
                .iter()
                .map(|r| check::expect(&shape, &cols, r))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|reason| Error::Binlog {
                    file: name.to_owned(),
                    offset: Some(step.offset),
                    problem: format!("{table}: {reason}"),
                })?;
            let mut kinds: std::collections::BTreeMap<&str, u64> = Default::default();
            for r in &rows {
                *kinds.entry(undo_kind(r)).or_default() += 1;
                counts.add(&table, undo_kind(r), 1);
            }
            let what: Vec<String> = kinds
                .iter()
                .map(|(k, n)| match *k {
                    "insert" => format!("put back {n} deleted rows"),
                    "delete" => format!("remove {n} inserted rows"),
                    _ => format!("set back {n} updated rows"),
                })
                .collect();
            writeln!(
                w,
                "-- {table} ({name}:{}): {}",
                step.offset,
                what.join(", ")
            )
            .map_err(io)?;
            for r in rows.iter().take(DESCRIBED) {
                let line = match (&r.before, &r.after) {
                    (Some(b), None) => format!("put back ({})", describe(&shape, &cols, b, None)),
                    (None, Some(a)) => {
                        format!("remove ({})", describe(&shape, &cols, a, Some(&shape.key)))
                    }
                    (Some(b), Some(a)) => format!(
                        "at ({}) set back ({})",
                        describe(&shape, &cols, a, Some(&shape.key)),
                        describe(&shape, &cols, b, None)
                    ),
                    (None, None) => continue,
                };
                writeln!(w, "--   {line}").map_err(io)?;
            }
            if rows.len() > DESCRIBED {
                writeln!(w, "--   … and {} more", rows.len() - DESCRIBED).map_err(io)?;
            }
            line.clear();
            assertion(&mut line, &shape, &expects);
            line.push_str(";\n");
            let keep: Vec<&lifeboat_binlog::Row<'_>> = rows.iter().collect();
            decoded.binlog_statement_into(&mut line, &mut scratch, &step.map, &keep, None, fde, name)?;
            line.push_str(";\n");
            w.write_all(line.as_bytes()).map_err(io)?;
        }
        writeln!(w, "COMMIT;").map_err(io)?;
        transactions += 1;
    }
    progress.finish();
    let file = w.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    std::fs::rename(&tmp, out).map_err(io)?;
    Ok(Written {
        file: out.display().to_string(),
        transactions,
        rows: counts,
        bytes,
    })
}

/// A statement that returns `ok` when production holds what the incident left at every
/// row, and fails (error 1242) otherwise; it locks the rows it reads.
fn assertion(out: &mut String, shape: &Shape, rows: &[check::Expect]) {
    let (mut held, mut free) = (0usize, 0usize);
    out.push_str("SELECT IF(COALESCE(SUM(FALSE");
    for e in rows {
        if let Some((k, m)) = &e.present {
            out.push_str(" OR (");
            out.push_str(k);
            out.push_str(" AND ");
            out.push_str(m);
            out.push(')');
            held += 1;
        }
    }
    out.push_str("), 0) = ");
    out.push_str(&held.to_string());
    out.push_str(" AND COALESCE(SUM(FALSE");
    for k in rows.iter().filter_map(|e| e.free.as_ref()) {
        out.push_str(" OR ");
        out.push_str(k);
        free += 1;
    }
    out.push_str("), 0) = 0, 'ok', (SELECT 'conflict' UNION ALL SELECT 'conflict')) AS lifeboat_check FROM ");
    out.push_str(&shape.quoted);
    out.push_str(" WHERE FALSE");
    for e in rows {
        for k in e.present.as_ref().map(|(k, _)| k).into_iter().chain(&e.free) {
            out.push_str(" OR ");
            out.push_str(k);
        }
    }
    out.push_str(" FOR UPDATE");
    let _ = free;
}
