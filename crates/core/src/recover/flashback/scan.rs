//! Pass 1: one forward read of the binlogs that finds the transactions to undo and writes,
//! to two files on disk, where their row events are. Nothing of the events stays in memory:
//! pass 2 goes back to them newest first through this index.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use lifeboat_binlog::{
    BinlogPos, Event, EventType, FileReader, FormatDescription, RowKind, TableDef,
};
use serde::Serialize;

use super::{Point, Range};
use crate::error::Error;
use crate::target::guard::Refusal;

/// Bytes of one [`Entry`] on disk.
const ENTRY_LEN: u64 = 20;
/// Bytes of one [`Trx`] on disk.
const TRX_LEN: u64 = 40;

/// One row event to undo: the file, its TABLE_MAP's offset and its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub file: u32,
    pub map: u64,
    pub rows: u64,
}

/// One transaction to undo: where it is, and its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Trx {
    pub file: u32,
    pub start: u64,
    pub end: u64,
    pub first_entry: u64,
    pub entries: u32,
    /// A compressed transaction (MySQL's TRANSACTION_PAYLOAD): its events are decompressed
    /// into a file of their own, where they end here (0 otherwise).
    pub inner_end: u64,
}

/// A binlog file read, with the format description its events are read under.
#[derive(Debug, Clone)]
pub(super) struct Source {
    pub path: PathBuf,
    pub name: String,
    pub fde: FormatDescription,
    /// The format description event as stored: sent first, so the server reads the undo
    /// events as this file's.
    pub fde_raw: Vec<u8>,
    /// The events of a file's compressed transactions, decompressed (and framed as that
    /// file's events), not a file that was given.
    pub decompressed: bool,
}

/// What pass 1 found.
pub(super) struct Index {
    pub files: Vec<Source>,
    pub trx_count: u64,
    trx: std::fs::File,
    entries: std::fs::File,
    /// Tables with row events in the range, and their row events per kind.
    pub tables: BTreeMap<String, TableSeen>,
    /// First and last transaction undone (oldest, newest), as `file:offset`.
    pub first: Option<BinlogPos>,
    /// Newest.
    pub last: Option<BinlogPos>,
    /// Transactions in the range that were lifeboat's own undos, left out.
    pub own_undos: u64,
    /// Tables whose definition a statement after the range may have changed (in the
    /// binlogs read), with that statement.
    pub changed_since: BTreeMap<String, String>,
    /// Tables whose table maps carry no column names.
    pub unnamed: std::collections::BTreeSet<String>,
    _dir: tempfile::TempDir,
}

/// A table the range changes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableSeen {
    /// Row events per kind (`insert`, `update`, `delete`).
    pub events: BTreeMap<&'static str, u64>,
}

impl Index {
    /// The transaction `i` (0 = oldest), read through `cache` (records read in blocks,
    /// backwards: pass 2 asks for them newest first).
    pub fn trx(&self, i: u64, cache: &mut (u64, Vec<u8>)) -> Result<Trx, Error> {
        const BLOCK: u64 = 4096;
        let (first, bytes) = cache;
        let have = bytes.len() as u64 / TRX_LEN;
        if i < *first || i >= *first + have {
            let start = (i + 1).saturating_sub(BLOCK);
            bytes.resize(((i + 1 - start) * TRX_LEN) as usize, 0);
            self.trx
                .read_exact_at(bytes, start * TRX_LEN)
                .map_err(|e| Error::Internal(format!("flashback index: transaction {i}: {e}")))?;
            *first = start;
        }
        let at = ((i - *first) * TRX_LEN) as usize;
        let b = bytes.get(at..at + TRX_LEN as usize).unwrap_or_default();
        let u = |r: std::ops::Range<usize>| {
            b.get(r).map_or(0, |s| {
                s.iter().rev().fold(0u64, |a, &x| a << 8 | u64::from(x))
            })
        };
        Ok(Trx {
            file: u(0..4) as u32,
            start: u(4..12),
            end: u(12..20),
            first_entry: u(20..28),
            entries: u(28..32) as u32,
            inner_end: u(32..40),
        })
    }

    /// Entries `first..first + n`, read through `cache` as [`Index::trx`] is.
    pub fn entries(
        &self,
        first: u64,
        n: u32,
        cache: &mut (u64, Vec<u8>),
    ) -> Result<Vec<Entry>, Error> {
        const BLOCK: u64 = 16384;
        let end = first + u64::from(n);
        let (at, bytes) = cache;
        let have = bytes.len() as u64 / ENTRY_LEN;
        if first < *at || end > *at + have {
            let start = end.saturating_sub(BLOCK.max(u64::from(n)));
            bytes.resize(((end - start) * ENTRY_LEN) as usize, 0);
            self.entries
                .read_exact_at(bytes, start * ENTRY_LEN)
                .map_err(|e| {
                    Error::Internal(format!("flashback index: entries at {first}: {e}"))
                })?;
            *at = start;
        }
        let from = ((first - *at) * ENTRY_LEN) as usize;
        let b = bytes
            .get(from..from + n as usize * ENTRY_LEN as usize)
            .unwrap_or_default();
        Ok(b.chunks_exact(ENTRY_LEN as usize)
            .map(|c| {
                let u = |r: std::ops::Range<usize>| {
                    c.get(r).map_or(0, |s| {
                        s.iter().rev().fold(0u64, |a, &x| a << 8 | u64::from(x))
                    })
                };
                Entry {
                    file: u(0..4) as u32,
                    map: u(4..12),
                    rows: u(12..20),
                }
            })
            .collect())
    }
}

/// The transaction being read.
#[derive(Default)]
struct Open {
    start: Option<u64>,
    gtid: Option<String>,
    time: u32,
    /// Inside BEGIN … COMMIT (or a MariaDB GTID that implies BEGIN).
    inside: bool,
    entries: Vec<Entry>,
    /// Statements (DDL, or DML in STATEMENT format) in it, with their offsets.
    statements: Vec<(u64, String, String)>,
    /// Each entry's table and kind, counted once the transaction is known in range.
    kinds: Vec<(String, &'static str)>,
    /// An undo of lifeboat's own (it records itself in `lifeboat_flashback.undone`): never
    /// undone by a later flashback over the same binlogs.
    own: bool,
}

/// One file's events as they are read: the transaction open, and the table maps seen.
#[derive(Default)]
struct Reading {
    open: Open,
    /// Table id -> the map's offset and `db.table`.
    maps: HashMap<u64, (u64, String)>,
    /// Tables whose maps were looked at for column names, and those without them.
    named_checked: std::collections::HashSet<String>,
    unnamed: std::collections::BTreeSet<String>,
}

impl Reading {
    /// Takes in one event (at `offset` of file `file_no`, named `name` in errors); true when
    /// it ends a transaction.
    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        t: EventType,
        format: &FormatDescription,
        header: &lifeboat_binlog::EventHeader,
        data: &[u8],
        offset: u64,
        file_no: u32,
        name: &str,
        selected: &dyn Fn(&str) -> bool,
    ) -> Result<bool, Error> {
        let open = &mut self.open;
        let fresh = |offset: u64| Open {
            start: Some(offset),
            time: header.timestamp,
            ..Open::default()
        };
        match t {
            EventType::Gtid
            | EventType::AnonymousGtid
            | EventType::GtidTagged
            | EventType::MariadbGtid => {
                let ev = Event::decode(format, t, data).map_err(Error::event(name, offset))?;
                *open = fresh(offset);
                open.gtid = ev.gtid(header.server_id).map(|g| g.to_string());
                if let Event::MariadbGtid(g) = ev {
                    open.inside =
                        g.flags2 & lifeboat_binlog::events::MariadbGtidEvent::FL_STANDALONE == 0;
                }
            }
            EventType::Query | EventType::QueryCompressed => {
                let Event::Query(q) =
                    Event::decode(format, t, data).map_err(Error::event(name, offset))?
                else {
                    return Ok(false);
                };
                let text = String::from_utf8_lossy(&q.query);
                let word = text
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                match word.as_str() {
                    "BEGIN" | "XA" if !open.inside => {
                        if open.start.is_none() {
                            *open = fresh(offset);
                        }
                        open.inside = true;
                    }
                    "COMMIT" | "ROLLBACK" => return Ok(true),
                    "SAVEPOINT" | "RELEASE" | "BEGIN" | "XA" => {}
                    _ => {
                        let db = String::from_utf8_lossy(q.schema).into_owned();
                        if open.start.is_none() {
                            *open = fresh(offset);
                        }
                        open.statements.push((offset, db, text.into_owned()));
                        // A statement outside BEGIN is a transaction of its own.
                        return Ok(!open.inside);
                    }
                }
            }
            EventType::Xid => return Ok(true),
            EventType::TableMap => {
                if let Event::TableMap(m) =
                    Event::decode(format, t, data).map_err(Error::event(name, offset))?
                {
                    let table = format!(
                        "{}.{}",
                        String::from_utf8_lossy(m.schema),
                        String::from_utf8_lossy(m.table)
                    )
                    .to_lowercase();
                    // Once per table: whether its rows can be told by column name.
                    if !self.named_checked.contains(&table) {
                        let named = TableDef::from_map(&m)
                            .is_ok_and(|d| d.columns.iter().any(|c| c.name.is_some()));
                        if !named {
                            self.unnamed.insert(table.clone());
                        }
                        self.named_checked.insert(table.clone());
                    }
                    self.maps.insert(m.table_id, (offset, table));
                }
            }
            t if t.is_rows() => {
                if let Event::Rows(rows) =
                    Event::decode(format, t, data).map_err(Error::event(name, offset))?
                {
                    let Some((map, table)) = self.maps.get(&rows.table_id) else {
                        return Err(Error::Binlog {
                            file: name.to_owned(),
                            offset: Some(offset),
                            problem: format!(
                                "row event for table id {} without its TABLE_MAP",
                                rows.table_id
                            ),
                        });
                    };
                    if table.starts_with("lifeboat_flashback.") {
                        open.own = true;
                    }
                    if selected(table) {
                        open.entries.push(Entry {
                            file: file_no,
                            map: *map,
                            rows: offset,
                        });
                        let kind = rows.kind().map_or("other", RowKind::name);
                        open.kinds.push((table.clone(), kind));
                    }
                }
            }
            _ => {}
        }
        Ok(false)
    }
}

/// Whether a transaction is in the range, as the range's points say.
struct InRange<'a> {
    range: &'a Range,
    /// GTID ranges: whether the start was met, and whether the end was passed.
    started: bool,
    ended: bool,
}

impl InRange<'_> {
    fn test(&mut self, file: &str, start: u64, end: u64, time: u32, gtid: Option<&str>) -> bool {
        let pos = |p: &BinlogPos, at: u64| BinlogPos::new(file, at).cmp(p);
        match self.range {
            Range::Incident(p) => p.file == file && start <= p.pos && p.pos < end,
            Range::Between { from, to } => {
                let after_from = match from {
                    Point::Time(t) => i64::from(time) >= t.as_second(),
                    Point::Position(p) => pos(p, start).is_ge(),
                    Point::Gtid(g) => {
                        if !self.started && gtid == Some(g.as_str()) {
                            self.started = true;
                        }
                        self.started
                    }
                };
                let before_to = match to {
                    None => true,
                    Some(Point::Time(t)) => i64::from(time) <= t.as_second(),
                    Some(Point::Position(p)) => pos(p, end).is_le(),
                    Some(Point::Gtid(g)) => {
                        let ok = !self.ended;
                        if gtid == Some(g.as_str()) {
                            self.ended = true;
                        }
                        ok
                    }
                };
                after_from && before_to
            }
        }
    }
}

/// Reads `files` (in binlog order) and indexes the transactions of `range` that change
/// `wanted` tables (all user tables when empty).
pub(super) fn scan(paths: &[PathBuf], range: &Range, wanted: &[String]) -> Result<Index, Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::in_file(&std::env::temp_dir(), e))?;
    let trx_path = dir.path().join("transactions");
    let entries_path = dir.path().join("entries");
    let create = |p: &Path| {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(p)
            .map_err(|e| Error::in_file(p, e))
    };
    let (trx_file, entries_file) = (create(&trx_path)?, create(&entries_path)?);
    let mut trx_out = BufWriter::new(&trx_file);
    let mut entries_out = BufWriter::new(&entries_file);
    let wanted: Vec<String> = wanted.iter().map(|t| t.to_lowercase()).collect();
    let selected = |name: &str| {
        if wanted.is_empty() {
            let db = name.split('.').next().unwrap_or_default();
            !crate::protect::backup::SYSTEM_SCHEMAS.contains(&db) && !db.starts_with("lifeboat")
        } else {
            wanted.iter().any(|w| w == name)
        }
    };
    let mut files = Vec::new();
    let mut tables: BTreeMap<String, TableSeen> = BTreeMap::new();
    let mut in_range = InRange {
        range,
        started: false,
        ended: false,
    };
    let (mut trx_count, mut entry_count, mut own_undos) = (0u64, 0u64, 0u64);
    let (mut first, mut last) = (None, None);
    // Statements in the range that name a table, for the check after the pass.
    let mut statements: Vec<(BinlogPos, String, String)> = Vec::new();
    let mut later: Vec<(BinlogPos, String, String)> = Vec::new();
    // Files of decompressed transactions: (number, path, the file's name, the file's number).
    let mut decompressed: Vec<(u32, PathBuf, String, u32)> = Vec::new();
    let mut reading_unnamed = std::collections::BTreeSet::new();
    for path in paths {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let file_no = files.len() as u32;
        let f = std::fs::File::open(path).map_err(|e| Error::in_file(path, e))?;
        let mut r = FileReader::new(std::io::BufReader::with_capacity(1 << 20, f), name.clone())?;
        let mut reading = Reading::default();
        let mut fde = None;
        // This file's compressed transactions, decompressed: (its number, writer, length).
        let mut inner: Option<(u32, BufWriter<std::fs::File>, u64)> = None;
        while let Some((raw, format)) = r.next_with_format()? {
            if fde.is_none() && raw.event_type() == EventType::FormatDescription {
                fde = Some((format.clone(), raw.bytes.to_vec()));
            }
            let t = raw.event_type();
            let offset = raw.offset;
            let end = raw.end();
            let mut inner_end = 0;
            let close = if t == EventType::TransactionPayload {
                let Event::TransactionPayload {
                    compression,
                    uncompressed_size,
                    payload,
                } = Event::decode(format, t, raw.data).map_err(Error::event(&name, offset))?
                else {
                    continue;
                };
                let bytes =
                    lifeboat_binlog::events::payload_bytes(compression, uncompressed_size, payload)
                        .map_err(Error::event(&name, offset))?;
                if inner.is_none() {
                    let n = (paths.len() + decompressed.len()) as u32;
                    let path = dir.path().join(format!("decompressed-{n}"));
                    let f = create(&path)?;
                    decompressed.push((n, path, name.clone(), file_no));
                    inner = Some((n, BufWriter::new(f), 0));
                }
                let Some((n, w, len)) = inner.as_mut() else {
                    continue;
                };
                let mut close = false;
                for item in lifeboat_binlog::events::payload_events(&bytes) {
                    let (header, data) = item.map_err(Error::event(&name, offset))?;
                    let it = EventType::from_code(header.type_code);
                    // Framed as this file's events (with its checksums): pass 2 reads them so.
                    let framed = lifeboat_binlog::encode_event(&header, it, data, format)?;
                    let at = *len;
                    w.write_all(&framed)
                        .map_err(|e| Error::in_file(dir.path(), e))?;
                    *len += framed.len() as u64;
                    close |= reading.event(it, format, &header, data, at, *n, &name, &selected)?;
                }
                inner_end = *len;
                close
            } else {
                reading.event(
                    t,
                    format,
                    &raw.header,
                    raw.data,
                    offset,
                    file_no,
                    &name,
                    &selected,
                )?
            };
            if !close {
                continue;
            }
            let done = std::mem::take(&mut reading.open);
            let Some(start) = done.start else { continue };
            if !in_range.test(&name, start, end, done.time, done.gtid.as_deref()) {
                // After the range: what changed a table's definition since.
                if first.is_some() {
                    for (at, db, text) in done.statements {
                        later.push((BinlogPos::new(&name, at), db, text));
                    }
                }
                continue;
            }
            if done.own {
                own_undos += 1;
                continue;
            }
            for (table, kind) in &done.kinds {
                *tables
                    .entry(table.clone())
                    .or_default()
                    .events
                    .entry(kind)
                    .or_default() += 1;
            }
            for (at, db, text) in done.statements {
                statements.push((BinlogPos::new(&name, at), db, text));
            }
            if done.entries.is_empty() {
                continue;
            }
            for e in &done.entries {
                let mut b = [0u8; ENTRY_LEN as usize];
                put(&mut b[0..4], u64::from(e.file));
                put(&mut b[4..12], e.map);
                put(&mut b[12..20], e.rows);
                entries_out
                    .write_all(&b)
                    .map_err(|e| Error::in_file(&entries_path, e))?;
            }
            let mut b = [0u8; TRX_LEN as usize];
            put(&mut b[0..4], u64::from(file_no));
            put(&mut b[4..12], start);
            put(&mut b[12..20], end);
            put(&mut b[20..28], entry_count);
            put(&mut b[28..32], done.entries.len() as u64);
            put(&mut b[32..40], inner_end);
            trx_out
                .write_all(&b)
                .map_err(|e| Error::in_file(&trx_path, e))?;
            entry_count += done.entries.len() as u64;
            trx_count += 1;
            let at = BinlogPos::new(&name, start);
            first.get_or_insert_with(|| at.clone());
            last = Some(at);
        }
        let Some((fde, fde_raw)) = fde else {
            return Err(Error::Binlog {
                file: name,
                offset: Some(4),
                problem: "no format description event".into(),
            });
        };
        if let Some((_, mut w, _)) = inner {
            w.flush().map_err(|e| Error::in_file(dir.path(), e))?;
        }
        reading_unnamed.append(&mut reading.unnamed);
        files.push(Source {
            path: path.clone(),
            name,
            fde,
            fde_raw,
            decompressed: false,
        });
    }
    // The decompressed events, after the files given, under their file's format.
    for (n, path, name, of) in decompressed {
        let Some(f) = files.get(of as usize).cloned() else {
            continue;
        };
        debug_assert_eq!(n as usize, files.len());
        files.push(Source {
            path,
            name: format!("{name} (decompressed)"),
            decompressed: true,
            ..f
        });
    }
    trx_out.flush().map_err(|e| Error::in_file(&trx_path, e))?;
    entries_out
        .flush()
        .map_err(|e| Error::in_file(&entries_path, e))?;
    drop((trx_out, entries_out));
    refuse_statements(&statements, &tables)?;
    let changed_since = changed_since(&later, &tables);
    Ok(Index {
        files,
        trx_count,
        trx: trx_file,
        entries: entries_file,
        tables,
        first,
        last,
        own_undos,
        changed_since,
        unnamed: reading_unnamed,
        _dir: dir,
    })
}

/// The statements of `paths` that may redefine a table (ALTER, RENAME, DROP, CREATE), with
/// where they are and their default database: what changed after a range.
pub(super) fn statements(paths: &[PathBuf]) -> Result<Vec<(BinlogPos, String, String)>, Error> {
    let mut out = Vec::new();
    for path in paths {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let f = std::fs::File::open(path).map_err(|e| Error::in_file(path, e))?;
        let mut r = FileReader::new(std::io::BufReader::with_capacity(1 << 20, f), name.clone())?;
        while let Some((raw, format)) = r.next_with_format()? {
            let t = raw.event_type();
            if !matches!(t, EventType::Query | EventType::QueryCompressed) {
                continue;
            }
            let Event::Query(q) =
                Event::decode(format, t, raw.data).map_err(Error::event(&name, raw.offset))?
            else {
                continue;
            };
            let text = String::from_utf8_lossy(&q.query);
            let word = text.split_whitespace().next().unwrap_or("");
            if ["ALTER", "RENAME", "DROP", "CREATE"]
                .iter()
                .any(|w| w.eq_ignore_ascii_case(word))
            {
                out.push((
                    BinlogPos::new(&name, raw.offset),
                    String::from_utf8_lossy(q.schema).into_owned(),
                    text.into_owned(),
                ));
            }
        }
    }
    Ok(out)
}

/// The first statement after the range that may have changed the definition of each table
/// whose rows are undone (ALTER, RENAME, DROP, CREATE), with where it is.
pub(super) fn changed_since(
    later: &[(BinlogPos, String, String)],
    tables: &BTreeMap<String, TableSeen>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (at, db, text) in later {
        let word = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        if !matches!(word.as_str(), "ALTER" | "RENAME" | "DROP" | "CREATE") {
            continue;
        }
        let names = crate::sql::statement::names(text, db);
        for t in tables.keys().filter(|t| names.contains(t)) {
            out.entry(t.clone())
                .or_insert_with(|| format!("{at}: {}", crate::sql::statement::excerpt(text, 80)));
        }
    }
    out
}

/// Little-endian `v` into `b`.
fn put(b: &mut [u8], v: u64) {
    for (i, x) in b.iter_mut().enumerate() {
        *x = (v >> (8 * i)) as u8;
    }
}

/// A statement in the range that changes a table whose rows are undone (DDL, or DML logged
/// as a statement) makes the undo unsound: refused by name, with where it is.
fn refuse_statements(
    statements: &[(BinlogPos, String, String)],
    tables: &BTreeMap<String, TableSeen>,
) -> Result<(), Error> {
    for (at, db, text) in statements {
        let names = crate::sql::statement::names(text, db);
        if let Some(t) = tables.keys().find(|t| names.contains(t)) {
            return Err(Refusal::Unsafe {
                action: format!("undo the row changes of {t}"),
                reason: format!(
                    "the range holds a statement on it at {at} ({}), which flashback cannot undo (DDL, or a change logged as a statement): end the range before it",
                    crate::sql::statement::excerpt(text, 80)
                ),
            }
            .into());
        }
    }
    Ok(())
}
