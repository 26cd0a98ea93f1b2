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
use std::sync::Arc;

use lifeboat_binlog::FormatDescription;

use serde::Serialize;

use super::check::{self, Shape};
use super::walk::{Step, Walker};
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
    cascades: super::Cascades<'_>,
    audit: &mut crate::target::journal::Audit,
    ctx: &crate::Context,
) -> Result<Written, Error> {
    let io = |e: std::io::Error| Error::in_file(out, e);
    // Child rows a cascade changed below the binlog: rebuilt, and undone in the script after
    // their parents (production's foreign keys say which; without a server, unchecked).
    let supplement = match &mut defs {
        Definitions::Server(conn) => {
            match super::cascade::prepare(plan, conn, cascades, audit, ctx).await? {
                Ok(s) => s,
                Err(refusal) => return Err(Error::Refused(refusal)),
            }
        }
        Definitions::Metadata => {
            ctx.note(
                "no server given: foreign-key cascades the binlog lacks (MariaDB; MySQL with InnoDB's own foreign keys) are not checked; give the server's connection options to have them checked and rebuilt",
            );
            None
        }
    };
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
    let file = w.into_inner().map_err(|e| io(e.into_error()))?;
    // Rendering runs on worker threads, a batch of transactions each; one thread writes the
    // batches in order. Memory holds a few batches.
    let fdes: Arc<Vec<(FormatDescription, String)>> = Arc::new(
        plan.index
            .files
            .iter()
            .map(|f| (f.fde.clone(), f.name.clone()))
            .collect(),
    );
    let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<(u64, Vec<TrxWork>)>(2);
    // A permit per batch in flight (walked, not yet written): memory stays bounded however
    // the threads' speeds differ.
    let (permit_tx, permit_rx) = std::sync::mpsc::sync_channel::<()>(IN_FLIGHT);
    let work_rx = Arc::new(std::sync::Mutex::new(work_rx));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(u64, Result<(String, Counts), Error>)>();
    let workers: Vec<_> = (0..std::thread::available_parallelism().map_or(2, |n| n.get().min(4)))
        .map(|_| {
            let (rx, tx, fdes) = (work_rx.clone(), done_tx.clone(), fdes.clone());
            std::thread::spawn(move || {
                let mut scratch = Vec::new();
                loop {
                    let next = rx.lock().ok().and_then(|r| r.recv().ok());
                    let Some((seq, batch)) = next else { return };
                    let mut text = String::with_capacity(BATCH * 3);
                    let mut counts = Counts::default();
                    let r = batch
                        .iter()
                        .try_for_each(|t| render(&mut text, &mut scratch, t, &fdes, &mut counts));
                    if tx.send((seq, r.map(|()| (text, counts)))).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(done_tx);
    let out_path = out.to_path_buf();
    let writer = std::thread::spawn(move || -> Result<(std::fs::File, Counts), Error> {
        let io = |e: std::io::Error| Error::in_file(&out_path, e);
        // What is written goes to disk while the rest is rendered, so the final sync waits
        // for little: a thread syncs the data every SYNC_EVERY bytes (a tick is skipped
        // while it is still busy).
        let (tick, ticks) = std::sync::mpsc::sync_channel::<()>(1);
        let syncing = file.try_clone().map_err(io)?;
        let syncer = std::thread::spawn(move || {
            for () in ticks {
                let _ = syncing.sync_data();
            }
        });
        let mut unsynced = 0usize;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut counts = Counts::default();
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0u64;
        for (seq, r) in done_rx {
            waiting.insert(seq, r);
            while let Some(r) = waiting.remove(&next) {
                let _ = permit_rx.recv();
                let (text, c) = r?;
                w.write_all(text.as_bytes()).map_err(io)?;
                unsynced += text.len();
                if unsynced >= SYNC_EVERY {
                    w.flush().map_err(io)?;
                    let _ = tick.try_send(());
                    unsynced = 0;
                }
                for (t, kinds) in c.rows {
                    for (k, n) in kinds {
                        counts.add(&t, k, n);
                    }
                }
                next += 1;
            }
        }
        drop(tick);
        let _ = syncer.join();
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        Ok((file, counts))
    });
    let walked = walk(
        plan,
        &mut defs,
        supplement.as_ref(),
        &work_tx,
        &permit_tx,
        &progress,
    )
    .await;
    drop(work_tx);
    for h in workers {
        let _ = h.join();
    }
    let written = writer
        .join()
        .map_err(|_| Error::Internal("the script writer panicked".into()))?;
    let (transactions, (mut file, counts)) = match (walked, written) {
        (Ok(t), Ok(w)) => (t, w),
        (Err(e), _) | (_, Err(e)) => {
            // Nothing half-written is left looking like a script.
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    file.write_all(b"-- end of the undo\n").map_err(io)?;
    progress.finish();
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

/// Raw bytes of row events per batch sent to a worker.
const BATCH: usize = 512 << 10;
/// Batches walked and not yet written, at most.
const IN_FLIGHT: usize = 6;
/// Bytes of script written between syncs to disk.
const SYNC_EVERY: usize = 32 << 20;

/// One source transaction to render: what goes before it, and its row events newest first
/// with the shapes of their tables.
struct TrxWork {
    head: String,
    /// Each with its file's number and whether it is of a rebuilt cascade.
    steps: Vec<(Step, u32, Arc<Shape>, bool)>,
}

/// Walks the plan newest first and sends batches of transactions to the workers; returns
/// how many transactions were sent.
async fn walk(
    plan: &Plan,
    defs: &mut Definitions<'_>,
    supplement: Option<&(super::cascade::Unlogged, super::cascade::Supplement)>,
    work: &std::sync::mpsc::SyncSender<(u64, Vec<TrxWork>)>,
    permits: &std::sync::mpsc::SyncSender<()>,
    progress: &Arc<dyn crate::progress::Progress>,
) -> Result<u64, Error> {
    let mut walker = Walker::new(&plan.index)?;
    let mut shapes: HashMap<String, (usize, Arc<Shape>)> = HashMap::new();
    let mut fde_sent: Option<u32> = None;
    let mut transactions = 0u64;
    let (mut batch, mut batch_bytes, mut seq) = (Vec::new(), 0usize, 0u64);
    let stopped = || Error::Internal("a flashback worker stopped".into());
    while let Some((source, trx, entries)) = walker.next_trx()? {
        progress.advance(1, 0);
        let time = jiff::Timestamp::from_second(i64::from(source.time))
            .map_or_else(|_| source.time.to_string(), |t| t.to_string());
        let mut head = String::new();
        if fde_sent != Some(trx.file) {
            // Outside the transaction: MySQL refuses a format description inside one.
            let raw = &plan.index.files[trx.file as usize].fde_raw;
            head.push_str(&super::binlog_statement(raw));
            head.push_str(";\n");
            fde_sent = Some(trx.file);
        }
        head.push_str(&format!(
            "\n-- source transaction {}{} at {} ({time})\n{};\n",
            source.gtid.as_deref().map_or("", |_| "GTID "),
            source.id(),
            source.at,
            super::apply::begin(plan, trx.file)
        ));
        let mut steps = Vec::with_capacity(entries.len());
        for i in (0..entries.len()).rev() {
            let e = entries[i];
            let step = walker.step(&e, bound(&entries, i, &trx))?;
            let (_, name) = file_of(plan, e.file)?;
            let table = step.map.table.clone();
            plan.definition_known(&table, &step.map.def)?;
            let width = step.map.def.columns.len();
            let shape = match shapes.get(&table) {
                Some((w, s)) if *w == width => Arc::clone(s),
                _ => {
                    let s = match defs {
                        Definitions::Server(conn) => check::shape_of(conn, &table, &step.map.def).await?,
                        Definitions::Metadata => check::shape_from_metadata(&table, &step.map.def)
                            .ok_or_else(|| Error::Missing {
                                what: format!("column names and primary key of {table}"),
                                within: format!("the binlog's table map at {name}:{}", e.map),
                                hint: Some("give the production server's connection options (its definitions are read, nothing is written), or write binlogs with binlog_row_metadata=FULL"),
                            })?,
                    };
                    let s = Arc::new(s);
                    shapes.insert(table, (width, s.clone()));
                    s
                }
            };
            batch_bytes += step.raw.len();
            steps.push((step, e.file, shape, false));
            // The children the server changed below the binlog: right after the undo of the
            // transaction's first parent DELETE, before its older events.
            if let Some((found, sup)) = supplement
                && found.is(&trx)
                && found.first_parent() == Some(i)
            {
                let Definitions::Server(conn) = defs else {
                    return Err(Error::Internal("a rebuilt cascade without a server".into()));
                };
                for step in sup.steps() {
                    let step = step?;
                    let table = step.map.table.clone();
                    let width = step.map.def.columns.len();
                    let shape = match shapes.get(&table) {
                        Some((w, s)) if *w == width => Arc::clone(s),
                        _ => {
                            let s = Arc::new(check::shape_of(conn, &table, &step.map.def).await?);
                            shapes.insert(table, (width, s.clone()));
                            s
                        }
                    };
                    batch_bytes += step.raw.len();
                    steps.push((step, trx.file, shape, true));
                }
            }
        }
        batch.push(TrxWork { head, steps });
        transactions += 1;
        if batch_bytes >= BATCH {
            permits.send(()).map_err(|_| stopped())?;
            work.send((seq, std::mem::take(&mut batch)))
                .map_err(|_| stopped())?;
            seq += 1;
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        permits.send(()).map_err(|_| stopped())?;
        work.send((seq, batch)).map_err(|_| stopped())?;
    }
    Ok(transactions)
}

/// One transaction's undo, as script text.
fn render(
    out: &mut String,
    scratch: &mut Vec<u8>,
    t: &TrxWork,
    fdes: &[(FormatDescription, String)],
    counts: &mut Counts,
) -> Result<(), Error> {
    use std::fmt::Write as _;
    out.push_str(&t.head);
    for (step, file, shape, rebuilt) in &t.steps {
        let (fde, name) = fdes
            .get(*file as usize)
            .map(|(f, n)| (f, n.as_str()))
            .ok_or_else(|| Error::Internal(format!("flashback index: no file {file}")))?;
        let name = if *rebuilt {
            super::cascade::Supplement::NAME
        } else {
            name
        };
        let decoded = step.decode(fde, name)?;
        let rows = decoded.rows(&step.map.def)?;
        let table = &step.map.table;
        let cols = shape.columns(&step.map.def);
        let expects = check::expectations(shape, &cols, rows.iter(), name, step.offset)?;
        let mut kinds: std::collections::BTreeMap<&'static str, u64> = Default::default();
        for r in &rows {
            *kinds.entry(undo_kind(r)).or_default() += 1;
        }
        for (k, n) in &kinds {
            counts.add(table, k, *n);
        }
        let _ = write!(out, "-- {table} ({name}:{}): ", step.offset);
        for (n, (k, count)) in kinds.iter().enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            let _ = match *k {
                "insert" => write!(out, "put back {count} deleted rows"),
                "delete" => write!(out, "remove {count} inserted rows"),
                _ => write!(out, "set back {count} updated rows"),
            };
        }
        out.push('\n');
        for r in rows.iter().take(DESCRIBED) {
            let _ = match (&r.before, &r.after) {
                (Some(b), None) => {
                    writeln!(out, "--   put back ({})", describe(shape, &cols, b, None))
                }
                (None, Some(a)) => {
                    writeln!(
                        out,
                        "--   remove ({})",
                        describe(shape, &cols, a, Some(&shape.key))
                    )
                }
                (Some(b), Some(a)) => {
                    // Only the columns the update changed: what they go back to, and what
                    // the incident left.
                    let changed: Vec<usize> = (0..b.values.len().max(a.values.len()))
                        .filter(|&i| match (b.values.get(i), a.values.get(i)) {
                            (Some(Some(x)), Some(Some(y))) => !x.identical(y),
                            (Some(Some(_)), _) | (_, Some(Some(_))) => true,
                            _ => false,
                        })
                        .collect();
                    writeln!(
                        out,
                        "--   at ({}) set back ({}) from ({})",
                        describe(shape, &cols, a, Some(&shape.key)),
                        describe(shape, &cols, b, Some(&changed)),
                        describe(shape, &cols, a, Some(&changed))
                    )
                }
                (None, None) => continue,
            };
        }
        if rows.len() > DESCRIBED {
            let _ = writeln!(out, "--   … and {} more", rows.len() - DESCRIBED);
        }
        assertion(out, shape, &expects);
        out.push_str(";\n");
        let keep: Vec<&lifeboat_binlog::Row<'_>> = rows.iter().collect();
        decoded.binlog_statement_into(out, scratch, &step.map, &keep, None, fde, name)?;
        out.push_str(";\n");
    }
    out.push_str("COMMIT;\n");
    Ok(())
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
    out.push_str(
        "), 0) = 0, 'ok', (SELECT 'conflict' UNION ALL SELECT 'conflict')) AS lifeboat_check FROM ",
    );
    out.push_str(&shape.quoted);
    out.push_str(" WHERE FALSE");
    for e in rows {
        for k in e
            .present
            .as_ref()
            .map(|(k, _)| k)
            .into_iter()
            .chain(&e.free)
        {
            out.push_str(" OR ");
            out.push_str(k);
        }
    }
    out.push_str(" FOR UPDATE");
    let _ = free;
}
