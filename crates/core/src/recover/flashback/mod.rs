//! `lifeboat flashback`: undo the row changes of an incident's transaction (or of every
//! transaction in a range, newest first) in production, keeping every write made since.
//!
//! 1. [`plan`]: one forward pass over the binlogs (archived or local files) writes an index of
//!    the transactions to undo and where their row events are, to disk ([`scan`]).
//! 2. The index is walked newest first ([`walk`]); each row event becomes its undo (the
//!    binlog crate's `RowsEvent::undo`: inserts deleted, deletes put back, updates set back),
//!    applied as a row event (`BINLOG` statement: exact values, no trigger fires).
//! 3. Each row goes back only if production still holds what the incident left ([`check`]);
//!    otherwise it is a conflict, never overwritten, and reported.
//!
//! [`apply`] does it on a server (guarded, one target transaction per source transaction,
//! recorded so that a rerun after an interruption does nothing twice); [`script`] writes the
//! same as an SQL file with the checks in it.

pub mod apply;
mod cascade;
pub mod check;
mod merge;
mod scan;
pub mod script;
mod walk;

use std::path::PathBuf;

use base64::Engine;
use lifeboat_binlog::{BinlogPos, Event, EventType, FormatDescription, RawEvent, Row};
use lifeboat_repo::Repository;
use serde::Serialize;

pub use cascade::Cascades;
pub use scan::TableSeen;
pub use walk::Source;

use crate::error::Error;

/// A point in the binlogs: a time, a GTID, or a position.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    /// Transactions that started at or after (for `--from`) or at or before (`--to`) it.
    Time(jiff::Timestamp),
    /// The transaction with this GTID, inclusive.
    Gtid(String),
    /// A position: transactions starting at or after it (`--from`), ending at or before it
    /// (`--to`).
    Position(BinlogPos),
}

impl Point {
    /// A time (`2026-12-07 10:00:00`, RFC 3339), a GTID (`0-1-42`, `uuid:42`) or a position
    /// (`binlog.000042:1234`).
    pub fn parse(text: &str, tz: &jiff::tz::TimeZone) -> Result<Point, String> {
        if let Ok(t) = crate::time::parse(text, tz) {
            return Ok(Point::Time(t));
        }
        if let Ok(g) = text.parse::<lifeboat_binlog::Gtid>() {
            return Ok(Point::Gtid(g.to_string()));
        }
        if let Ok(p) = text.parse::<BinlogPos>() {
            return Ok(Point::Position(p));
        }
        Err("expected a time (YYYY-MM-DD HH:MM:SS), a GTID, or FILE:POS".into())
    }
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Point::Time(t) => write!(f, "{t}"),
            Point::Gtid(g) => write!(f, "GTID {g}"),
            Point::Position(p) => write!(f, "{p}"),
        }
    }
}

/// Which transactions to undo.
#[derive(Debug, Clone, PartialEq)]
pub enum Range {
    /// The transaction of this incident (`file:offset` of its event, as `incidents` lists).
    Incident(BinlogPos),
    /// Every transaction from `from` to `to` (the end of the binlogs when `None`).
    Between {
        /// Oldest.
        from: Point,
        /// Newest.
        to: Option<Point>,
    },
}

/// Where the binlogs come from.
pub enum Binlogs<'a> {
    /// Local files (in any order: read in binlog order).
    Files(&'a [PathBuf]),
    /// A repository's archive of a server's binlogs (`server`: its key, when the repository
    /// archives several).
    Archive {
        /// The repository.
        repo: &'a Repository,
        /// Which server.
        server: Option<&'a str>,
    },
}

/// What the range holds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The range, as given.
    pub range: String,
    /// Transactions to undo.
    pub transactions: u64,
    /// Oldest of them (`file:offset`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    /// Newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    /// Tables changed, with their row events per kind.
    pub tables: std::collections::BTreeMap<String, TableSeen>,
    /// Binlog files read.
    pub files: Vec<String>,
    /// Transactions in the range that were flashback undos (`--apply` of an earlier run),
    /// left out: an undo is never undone by accident.
    pub own_undos_skipped: u64,
    /// Tables a statement after the range may have redefined (in the binlogs read), with
    /// that statement: their rows are undone only when the binlog names their columns.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub changed_since: std::collections::BTreeMap<String, String>,
}

/// The transactions to undo, indexed: what [`apply`] and [`script`] walk.
pub struct Plan {
    index: scan::Index,
    /// What it holds.
    pub summary: Summary,
    _staging: Option<tempfile::TempDir>,
}

/// Finds the transactions of `range` that change `tables` (every user table when empty).
pub async fn plan(binlogs: Binlogs<'_>, range: &Range, tables: &[String]) -> Result<Plan, Error> {
    let (paths, staging) = match binlogs {
        Binlogs::Files(files) => {
            let mut paths = files.to_vec();
            paths.sort_by_key(|p| {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                BinlogPos::file_sequence(&name).unwrap_or(u64::MAX)
            });
            (paths, None)
        }
        Binlogs::Archive { repo, server } => {
            let (paths, dir) = stage(repo, server, range, false).await?;
            (paths, Some(dir))
        }
    };
    let range2 = range.clone();
    let tables2 = tables.to_vec();
    let mut index =
        tokio::task::spawn_blocking(move || scan::scan(&paths, &range2, &tables2)).await??;
    // Without column names in the binlog, a table redefined after the range must be seen:
    // the archive's later files are read for DDL (their statements only).
    if let Binlogs::Archive { repo, server } = binlogs
        && index.tables.keys().any(|t| index.unnamed.contains(t))
    {
        let (later, _dir) = stage(repo, server, range, true).await?;
        let statements = tokio::task::spawn_blocking(move || scan::statements(&later)).await??;
        for (t, stmt) in scan::changed_since(&statements, &index.tables) {
            index.changed_since.entry(t).or_insert(stmt);
        }
    }
    if index.trx_count == 0 {
        return Err(Error::Missing {
            what: match range {
                Range::Incident(p) => format!("transaction with row changes at {p}"),
                Range::Between { .. } => "transaction with row changes in the range".into(),
            },
            within: format!(
                "the binlogs read ({})",
                index
                    .files
                    .iter()
                    .filter(|f| !f.decompressed)
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: Some(
                "`lifeboat incidents` lists incidents with their ids; a DROP or TRUNCATE has no rows to put back: `lifeboat restore --before-incident` brings the table back",
            ),
        });
    }
    let summary = Summary {
        range: match range {
            Range::Incident(p) => format!("incident {p}"),
            Range::Between { from, to } => match to {
                Some(to) => format!("{from} .. {to}"),
                None => format!("{from} .. the end"),
            },
        },
        transactions: index.trx_count,
        first: index.first.as_ref().map(ToString::to_string),
        last: index.last.as_ref().map(ToString::to_string),
        tables: index.tables.clone(),
        files: index
            .files
            .iter()
            .filter(|f| !f.decompressed)
            .map(|f| f.name.clone())
            .collect(),
        own_undos_skipped: index.own_undos,
        changed_since: index.changed_since.clone(),
    };
    Ok(Plan {
        index,
        summary,
        _staging: staging,
    })
}

impl Plan {
    /// Refuses the rows of `table` when a statement after the range may have redefined it
    /// and the binlog's rows carry no column names: today's columns could be others.
    pub(super) fn definition_known(
        &self,
        table: &str,
        def: &lifeboat_binlog::TableDef,
    ) -> Result<(), Error> {
        match self.index.changed_since.get(table) {
            Some(stmt) if def.columns.iter().all(|c| c.name.is_none()) => {
                Err(Error::Refused(crate::target::guard::Refusal::Unsafe {
                    action: format!("undo the row changes of {table}"),
                    reason: format!(
                        "its definition may have changed after the range ({stmt}), and the binlog's rows carry no column names (binlog_row_metadata=FULL writes them) to match them to today's columns"
                    ),
                }))
            }
            _ => Ok(()),
        }
    }
}

/// Copies the archived files the range may be in (`later`: the files after those) to a
/// temporary directory.
async fn stage(
    repo: &Repository,
    server: Option<&str>,
    range: &Range,
    later: bool,
) -> Result<(Vec<PathBuf>, tempfile::TempDir), Error> {
    let coverage = crate::protect::archive::coverage(repo).await?;
    let chosen = match server {
        Some(s) => coverage.into_iter().find(|c| c.server == s),
        None if coverage.len() > 1 => {
            return Err(Error::Argument {
                flag: "--archived-server",
                value: "(not given)".into(),
                reason: format!(
                    "the repository archives several servers ({}): name one",
                    coverage
                        .iter()
                        .map(|c| c.server.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        None => coverage.into_iter().next(),
    };
    let Some(c) = chosen else {
        return Err(Error::Missing {
            what: "archived binlogs".into(),
            within: "the repository".into(),
            hint: Some("`lifeboat archive` archives a server's binlogs"),
        });
    };
    let in_range = |file: &str| match range {
        Range::Incident(p) => p.file == file,
        Range::Between { from, to } => {
            let seq = BinlogPos::file_sequence(file);
            let after = match from {
                Point::Position(p) => seq >= BinlogPos::file_sequence(&p.file),
                _ => true,
            };
            let before = match to {
                Some(Point::Position(p)) => seq <= BinlogPos::file_sequence(&p.file),
                _ => true,
            };
            after && before
        }
    };
    let after_range = |file: &str| {
        let seq = BinlogPos::file_sequence(file);
        match range {
            Range::Incident(p) => seq > BinlogPos::file_sequence(&p.file),
            Range::Between {
                to: Some(Point::Position(p)),
                ..
            } => seq > BinlogPos::file_sequence(&p.file),
            // The range reads to the end already.
            Range::Between { .. } => false,
        }
    };
    let wanted = |file: &str| {
        if later {
            after_range(file)
        } else {
            in_range(file)
        }
    };
    let dir = crate::recover::pitr::staging_dir(None)?;
    let mut paths = Vec::new();
    for f in c.files.iter().filter(|f| wanted(&f.file)) {
        let path = dir.path().join(&f.file);
        let mut out = std::fs::File::create(&path).map_err(|e| Error::in_file(&path, e))?;
        crate::protect::archive::read_archived(repo, &c.server, &f.file, &mut out).await?;
        paths.push(path);
    }
    Ok((paths, dir))
}

/// One row event, decoded for its undo.
pub(super) struct Decoded<'s> {
    ev: lifeboat_binlog::events::RowsEvent<'s>,
    header: lifeboat_binlog::EventHeader,
    file: &'s str,
    offset: u64,
}

impl walk::Step {
    /// The event's rows, newest first.
    pub(super) fn decode<'s>(
        &'s self,
        fde: &FormatDescription,
        file: &'s str,
    ) -> Result<Decoded<'s>, Error> {
        let raw = RawEvent::frame(&self.raw, self.offset, fde, file)?;
        let header = raw.header;
        let Event::Rows(ev) = Event::decode(fde, raw.event_type(), raw.data)
            .map_err(Error::event(file, self.offset))?
        else {
            return Err(Error::Binlog {
                file: file.to_owned(),
                offset: Some(self.offset),
                problem: "not the row event indexed here".into(),
            });
        };
        Ok(Decoded {
            ev,
            header,
            file,
            offset: self.offset,
        })
    }
}

impl<'s> Decoded<'s> {
    /// The event's rows, newest first (the order their undo goes in).
    pub(super) fn rows<'d>(
        &'d self,
        def: &'d lifeboat_binlog::TableDef,
    ) -> Result<Vec<Row<'d>>, Error> {
        let mut rows = self
            .ev
            .rows(def)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(Error::rows(self.file, self.offset))?;
        rows.reverse();
        Ok(rows)
    }

    /// The undo of `keep` (rows of this event, in undo order) as one `BINLOG` statement: the
    /// table map, then the undo event marked as the statement's end.
    /// `narrow`: the columns present in narrowed update rows (see [`merge`]).
    fn binlog_statement(
        &self,
        map: &walk::Map,
        keep: &[&Row<'_>],
        narrow: Option<&[u8]>,
        fde: &FormatDescription,
        file: &str,
    ) -> Result<String, Error> {
        let mut out = String::new();
        let mut scratch = Vec::new();
        self.binlog_statement_into(&mut out, &mut scratch, map, keep, narrow, fde, file)?;
        Ok(out)
    }

    /// [`Decoded::binlog_statement`] appended to `out`, with `scratch` reused for the bytes.
    #[allow(clippy::too_many_arguments)]
    fn binlog_statement_into(
        &self,
        out: &mut String,
        scratch: &mut Vec<u8>,
        map: &walk::Map,
        keep: &[&Row<'_>],
        narrow: Option<&[u8]>,
        fde: &FormatDescription,
        file: &str,
    ) -> Result<(), Error> {
        let mut ev = self.ev.clone();
        if let Some(bitmap) = narrow {
            ev.present = bitmap;
            ev.present_after = Some(bitmap);
        }
        let mut undo = ev
            .undo(&map.def, keep.iter().copied())
            .map_err(|e| irreversible(file, e))?;
        undo.flags |= lifeboat_binlog::events::RowsEvent::STMT_END;
        let t: EventType = undo.event_type;
        let (t, data) = Event::Rows(undo).encode_data(t, fde).map_err(Error::from)?;
        let event = lifeboat_binlog::encode_event(&self.header, t, &data, fde)?;
        scratch.clear();
        scratch.extend_from_slice(&map.raw);
        scratch.extend_from_slice(&event);
        out.push_str("BINLOG '");
        base64::engine::general_purpose::STANDARD.encode_string(&scratch[..], out);
        out.push('\'');
        Ok(())
    }
}

/// `BINLOG '…'` for whole events.
fn binlog_statement(events: &[u8]) -> String {
    format!(
        "BINLOG '{}'",
        base64::engine::general_purpose::STANDARD.encode(events)
    )
}

fn irreversible(file: &str, e: lifeboat_binlog::rows::Irreversible) -> Error {
    Error::Refused(crate::target::guard::Refusal::Unsafe {
        action: format!("undo the row changes in {file}"),
        reason: e.reason,
    })
}

/// The rows a range's undo would put back, per table and kind (`insert` = a deleted row put
/// back, `delete` = an inserted row removed, `update` = a row set back).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Rows per table and kind of undo.
    pub rows: std::collections::BTreeMap<String, std::collections::BTreeMap<&'static str, u64>>,
}

impl Counts {
    fn add(&mut self, table: &str, kind: &'static str, n: u64) {
        // Called per row event: the table's name is copied only the first time.
        let kinds = match self.rows.get_mut(table) {
            Some(k) => k,
            None => self.rows.entry(table.to_owned()).or_default(),
        };
        *kinds.entry(kind).or_default() += n;
    }
}

/// What the undo of a row change does, as a word.
fn undo_kind(row: &Row<'_>) -> &'static str {
    match (&row.before, &row.after) {
        (Some(_), None) => "insert",
        (None, Some(_)) => "delete",
        _ => "update",
    }
}

/// The format description of file `n` of the plan, and its name.
fn file_of(plan: &Plan, n: u32) -> Result<(&FormatDescription, &str), Error> {
    plan.index
        .files
        .get(n as usize)
        .map(|f| (&f.fde, f.name.as_str()))
        .ok_or_else(|| Error::Internal(format!("flashback index: no file {n}")))
}

/// Where an entry's event must end: where the next entry's events start (its own table map
/// when that comes after this event), or the transaction's end.
fn bound(entries: &[scan::Entry], i: usize, trx: &scan::Trx) -> u64 {
    let Some(e) = entries.get(i) else {
        return trx.end;
    };
    // A compressed transaction's events are in the file they were decompressed to.
    let end = if e.file == trx.file {
        trx.end
    } else {
        trx.inner_end
    };
    entries
        .get(i + 1)
        .filter(|n| n.file == e.file)
        .map_or(end, |n| if n.map > e.rows { n.map } else { n.rows })
}

/// A value as a report shows it: short (long strings cut before they are rendered), and
/// bytes that are not text in hex.
fn show(out: &mut String, v: Option<&lifeboat_binlog::Value<'_>>, col: &lifeboat_binlog::Column) {
    use std::fmt::Write;
    const CUT: usize = 40;
    let short;
    let v = match v {
        Some(lifeboat_binlog::Value::Bytes(b)) if b.len() > CUT * 4 => {
            let mut head = b.get(..CUT * 4).unwrap_or(b);
            // Not in the middle of a UTF-8 character: the rest would read as bytes.
            if let Err(e) = std::str::from_utf8(head)
                && e.error_len().is_none()
            {
                head = head.get(..e.valid_up_to()).unwrap_or(head);
            }
            short = lifeboat_binlog::Value::Bytes(head);
            Some(&short)
        }
        v => v,
    };
    let cut = |out: &mut String, s: &str| match s.char_indices().nth(CUT) {
        Some((at, _)) => {
            out.push_str(s.get(..at).unwrap_or(s));
            out.push('…');
        }
        None => out.push_str(s),
    };
    match v.map(|v| v.render(col)) {
        None => out.push_str("(not in the binlog)"),
        Some(lifeboat_binlog::Rendered::Null) => out.push_str("NULL"),
        Some(lifeboat_binlog::Rendered::Number(n)) => out.push_str(&n),
        Some(lifeboat_binlog::Rendered::Text(t)) => {
            cut(out, &lifeboat_mysql_types::quote::literal(&t));
        }
        Some(lifeboat_binlog::Rendered::Binary(b)) => {
            out.push_str("0x");
            for x in b.iter().take(CUT / 2) {
                let _ = write!(out, "{x:02x}");
            }
            if b.len() > CUT / 2 {
                out.push('…');
            }
        }
    }
}

/// `name=value, …` of the image's columns `only` (all present ones when `None`).
fn describe(
    shape: &check::Shape,
    columns: &[lifeboat_binlog::Column],
    image: &lifeboat_binlog::Image<'_>,
    only: Option<&[usize]>,
) -> String {
    let mut out = String::with_capacity(128);
    let mut one = |i: usize| {
        let Some(col) = columns.get(i) else { return };
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(shape.names.get(i).map_or("?", String::as_str));
        out.push('=');
        show(&mut out, image.values.get(i).and_then(Option::as_ref), col);
    };
    match only {
        Some(cols) => cols.iter().for_each(|&i| one(i)),
        None => (0..image.values.len())
            .filter(|&i| image.values.get(i).is_some_and(Option::is_some))
            .for_each(&mut one),
    }
    out
}
