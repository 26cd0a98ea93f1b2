//! Reading binlog files for people and scripts: `lifeboat binlog show` (events with decoded
//! row images, filtered) and `lifeboat binlog verify` (checksums, framing, decoding and GTID
//! continuity, one verdict per file).

use std::fs::File;
use std::path::{Path, PathBuf};

use lifeboat_binlog::file::Error as FileError;
use lifeboat_binlog::{
    Column, Decoder, End, Event, FileReader, Flavor, Gtid, GtidSet, MariaDbGtid, MySqlGtidSet,
    RawEvent, Rendered, Row, TableDef, Value,
};
use serde::Serialize;
use std::borrow::Cow;

use crate::Error;

/// Which events `show` prints.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Events at or after this time.
    pub start_time: Option<jiff::Timestamp>,
    /// Events before this time.
    pub stop_time: Option<jiff::Timestamp>,
    /// In the first file, events at or after this offset.
    pub start_position: Option<u64>,
    /// In the last file, events that start before this offset.
    pub stop_position: Option<u64>,
    /// Only transactions whose GTID is in this set.
    pub include_gtids: Option<GtidSet>,
    /// No transaction whose GTID is in this set.
    pub exclude_gtids: Option<GtidSet>,
    /// Only row events (and their table maps) of these databases.
    pub databases: Vec<String>,
    /// Only row events (and their table maps) of these tables (`db.table` or `table`).
    pub tables: Vec<String>,
}

impl Filter {
    fn by_table(&self) -> bool {
        !self.databases.is_empty() || !self.tables.is_empty()
    }

    fn table_matches(&self, schema: &str, table: &str) -> bool {
        let db_ok = self.databases.is_empty() || self.databases.iter().any(|d| d == schema);
        let tb_ok = self.tables.is_empty()
            || self.tables.iter().any(|t| match t.split_once('.') {
                Some((d, n)) => d == schema && n == table,
                None => t == table,
            });
        db_ok && tb_ok
    }

    fn gtid_matches(&self, gtid: Option<&Gtid>) -> bool {
        let included = self
            .include_gtids
            .as_ref()
            .is_none_or(|inc| gtid.is_some_and(|g| inc.contains(g)));
        let excluded = match (&self.exclude_gtids, gtid) {
            (Some(exc), Some(g)) => exc.contains(g),
            _ => false,
        };
        included && !excluded
    }
}

/// One event as `show` prints it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
pub struct Shown<'a> {
    /// File name.
    pub file: &'a str,
    /// Offset of the event.
    pub start: u64,
    /// Offset after it.
    pub end: u64,
    /// Event time (statement start), UTC, seconds.
    pub time: &'a str,
    /// `server_id` of the origin.
    pub server_id: u32,
    /// Event type name.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// GTID of the transaction.
    pub gtid: Option<&'a str>,
    /// Database (row events and table maps; the default database of a query).
    pub database: Option<Cow<'a, str>>,
    /// Table (row events and table maps).
    pub table: Option<Cow<'a, str>>,
    /// Statement text (QUERY, ANNOTATE_ROWS, ROWS_QUERY).
    pub query: Option<Cow<'a, str>>,
    /// The session a QUERY ran in (charsets, sql_mode, time zone…): what a replay must set.
    pub session: Option<Session>,
    /// insert / update / delete.
    pub kind: Option<&'static str>,
    /// Decoded rows: `before` and `after` images keyed by column name (`@N` when the
    /// binlog has no names). A column absent from an image is absent here, never null.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<ShownRow<'a>>,
    /// Other details (next file of a ROTATE, GTID list, XID…).
    pub info: Option<String>,
}

/// The session state of a QUERY event (from its status variables).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// `character_set_client` (collation id).
    pub charset_client: Option<u16>,
    /// `collation_connection` id.
    pub collation_connection: Option<u16>,
    /// `collation_server` id.
    pub collation_server: Option<u16>,
    /// `sql_mode` bits.
    pub sql_mode: Option<u64>,
    /// `time_zone`.
    pub time_zone: Option<String>,
    /// `flags2` bits (autocommit, foreign_key_checks, unique_checks…).
    pub flags2: Option<u32>,
    /// `auto_increment_increment`, `auto_increment_offset`.
    pub auto_increment: Option<(u16, u16)>,
    /// Databases the statement changed.
    pub updated_dbs: Option<Vec<String>>,
    /// Statement start, microseconds part.
    pub microseconds: Option<u32>,
}

/// One row of a row event.
#[derive(Debug, Clone, Serialize)]
pub struct ShownRow<'a> {
    /// Before image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Cells<'a>>,
    /// After image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Cells<'a>>,
}

/// A row image: (column label, value) for each column present, in table order. Serialized
/// as a JSON object.
#[derive(Debug, Clone, Default)]
pub struct Cells<'a>(pub Vec<(Cow<'a, str>, Cell<'a>)>);

impl Serialize for Cells<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k.as_ref(), v)?;
        }
        m.end()
    }
}

/// A value for people and scripts: numbers as numbers (DECIMAL as a string, to stay exact),
/// text as strings, bytes that are not text as `{"hex": "…"}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// NULL.
    Null,
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// FLOAT, DOUBLE.
    Float(f64),
    /// Text: strings, DECIMAL, temporals, ENUM/SET names, JSON documents.
    Text(Cow<'a, str>),
    /// Bytes that are not text.
    Bytes(Cow<'a, [u8]>),
}

impl Serialize for Cell<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Null => s.serialize_none(),
            Cell::Int(v) => s.serialize_i64(*v),
            Cell::UInt(v) => s.serialize_u64(*v),
            Cell::Float(v) if v.is_finite() => s.serialize_f64(*v),
            Cell::Float(v) => s.serialize_str(&v.to_string()),
            Cell::Text(t) => s.serialize_str(t),
            Cell::Bytes(b) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("hex", &hex::encode(b))?;
                m.end()
            }
        }
    }
}

/// The cell of one value of `col`, borrowing text from the event where it can.
pub fn cell<'a>(v: &Value<'a>, col: &Column) -> Cell<'a> {
    use lifeboat_binlog::table::column_type as ct;
    match v {
        Value::Null => Cell::Null,
        Value::Bytes(b) => match col.collation {
            Some(lifeboat_binlog::table::BINARY_COLLATION) => Cell::Bytes(Cow::Borrowed(b)),
            _ if b.is_ascii() => Cell::Text(Cow::Borrowed(std::str::from_utf8(b).unwrap_or(""))),
            Some(c) if lifeboat_binlog::value::is_latin1(c) => {
                Cell::Text(Cow::Owned(b.iter().map(|&x| char::from(x)).collect()))
            }
            _ => match std::str::from_utf8(b) {
                Ok(t) => Cell::Text(Cow::Borrowed(t)),
                Err(_) => Cell::Bytes(Cow::Borrowed(b)),
            },
        },
        Value::Int(_) | Value::Year(_) | Value::Bit(_) => match v.integer(col) {
            Some(n) => i64::try_from(n)
                .map(Cell::Int)
                .or_else(|_| u64::try_from(n).map(Cell::UInt))
                .unwrap_or(Cell::Null),
            None => Cell::Null,
        },
        Value::Float(f) => Cell::Float(f64::from(*f)),
        Value::Double(d) => Cell::Float(*d),
        _ => match v.render(col) {
            Rendered::Null => Cell::Null,
            Rendered::Number(n) if col.real_type == ct::NEWDECIMAL => Cell::Text(Cow::Owned(n)),
            Rendered::Number(n) => n
                .parse::<i64>()
                .map(Cell::Int)
                .or_else(|_| n.parse::<u64>().map(Cell::UInt))
                .unwrap_or(Cell::Text(Cow::Owned(n))),
            Rendered::Text(t) => Cell::Text(Cow::Owned(t)),
            Rendered::Binary(b) => Cell::Bytes(Cow::Owned(b)),
        },
    }
}

fn image<'a>(table: &'a TableDef, img: &lifeboat_binlog::Image<'a>) -> Cells<'a> {
    let mut cells = Vec::with_capacity(img.values.len());
    for (i, (col, v)) in table.columns.iter().zip(&img.values).enumerate() {
        if let Some(v) = v {
            let label = match &col.name {
                Some(n) => Cow::Borrowed(n.as_str()),
                None => Cow::Owned(format!("@{}", i + 1)),
            };
            cells.push((label, cell(v, col)));
        }
    }
    Cells(cells)
}

/// A binlog time as RFC 3339 UTC: with microseconds when the binlog has them (`exact`),
/// else to the second.
pub(crate) fn time_text_us(us: i64, exact: bool) -> String {
    let t = jiff::Timestamp::from_microsecond(us).unwrap_or_default();
    if exact {
        t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

pub(crate) fn time_text(ts: u32) -> String {
    time_text_us(i64::from(ts) * 1_000_000, false)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The reader reads in large blocks itself: no buffered reader in front of it.
fn open(path: &Path) -> Result<FileReader<File>, Error> {
    let f = File::open(path).map_err(|e| Error::in_file(path, e))?;
    FileReader::new(f, path.display().to_string()).map_err(file_error)
}

fn file_error(e: FileError) -> Error {
    Error::BinlogFile(e)
}

fn decode_error(file: &str, offset: u64, source: lifeboat_binlog::DecodeError) -> Error {
    Error::Event {
        file: file.to_owned(),
        offset,
        source,
    }
}

/// A row image of the event at `raw` that does not decode.
fn row_error(file: &str, raw: &lifeboat_binlog::RawEvent<'_>, reason: String) -> Error {
    let event = raw.header.event_type().name();
    decode_error(
        file,
        raw.offset,
        lifeboat_binlog::DecodeError { event, reason },
    )
}

/// What `show` went through.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShowSummary {
    /// Events read.
    pub events_read: u64,
    /// Events printed.
    pub events_shown: u64,
    /// Files whose tail was an incomplete event (crashed or still being written), with the
    /// offset where the complete part ends.
    pub truncated: Vec<(String, u64)>,
}

/// Decodes `files` in order and hands each event that passes `filter` to `sink`.
pub fn show(
    files: &[PathBuf],
    filter: &Filter,
    mut sink: impl FnMut(&Shown<'_>) -> std::io::Result<()>,
) -> Result<ShowSummary, Error> {
    let mut summary = ShowSummary::default();
    let last = files.len().saturating_sub(1);
    'files: for (fi, path) in files.iter().enumerate() {
        let mut reader = open(path)?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut dec = Decoder::new();
        // Event times repeat: formatted once per second.
        let mut time: (u32, String) = (0, String::new());
        while let Some((raw, fde)) = reader.next_with_format().map_err(file_error)? {
            summary.events_read += 1;
            if fi == last && filter.stop_position.is_some_and(|p| raw.offset >= p) {
                break 'files;
            }
            let when = i64::from(raw.header.timestamp);
            if filter.stop_time.is_some_and(|t| when >= t.as_second()) {
                break 'files;
            }
            // Skipped events are still decoded: the table maps they carry are needed later.
            let skip = (fi == 0
                && filter.start_position.is_some_and(|p| raw.offset < p)
                && raw.offset > 4)
                || filter.start_time.is_some_and(|t| when < t.as_second());
            // A compressed transaction's events are shown one by one, at its offset.
            dec.decode_each(
                fde,
                &raw,
                |e| decode_error(&name, raw.offset, e),
                |dec, raw, ev| {
                    if skip || !wanted(filter, dec, ev) {
                        return Ok(());
                    }
                    if time.0 != raw.header.timestamp || time.1.is_empty() {
                        time = (raw.header.timestamp, time_text(raw.header.timestamp));
                    }
                    let shown = describe(&name, &time.1, raw, ev, dec)?;
                    summary.events_shown += 1;
                    sink(&shown).map_err(Error::Output)
                },
            )?;
        }
        if let Some(End::Truncated { .. }) = reader.end() {
            summary
                .truncated
                .push((name.clone(), reader.last_transaction_end()));
        }
    }
    Ok(summary)
}

/// The GTID and table filters (time and position are applied by the caller).
fn wanted(filter: &Filter, dec: &Decoder, ev: &Event<'_>) -> bool {
    let in_trx = !matches!(
        ev,
        Event::FormatDescription(_)
            | Event::Rotate { .. }
            | Event::PreviousGtids(_)
            | Event::GtidList { .. }
            | Event::BinlogCheckpoint(_)
            | Event::Stop
    );
    if in_trx && !filter.gtid_matches(dec.gtid()) {
        return false;
    }
    if filter.include_gtids.is_some() && !in_trx {
        return false;
    }
    if !filter.by_table() {
        return true;
    }
    match ev {
        Event::TableMap(m) => filter.table_matches(&text(m.schema), &text(m.table)),
        Event::Rows(r) => dec
            .table(r.table_id)
            .is_some_and(|t| filter.table_matches(&t.schema, &t.table)),
        _ => false,
    }
}

fn describe<'a>(
    file: &'a str,
    time: &'a str,
    raw: &RawEvent<'_>,
    ev: &'a Event<'a>,
    dec: &'a Decoder,
) -> Result<Shown<'a>, Error> {
    let mut s = Shown {
        file,
        start: raw.offset,
        end: raw.offset + u64::from(raw.header.event_size),
        time,
        server_id: raw.header.server_id,
        event_type: raw.event_type().name(),
        gtid: dec.gtid_text(),
        database: None,
        table: None,
        query: None,
        session: None,
        kind: None,
        rows: Vec::new(),
        info: None,
    };
    match ev {
        Event::FormatDescription(f) => {
            s.info = Some(format!(
                "server {} binlog v{}",
                f.server_version, f.binlog_version
            ));
            s.gtid = None;
        }
        Event::Query(q) => {
            s.query = Some(String::from_utf8_lossy(&q.query));
            if let Ok(v) = q.session() {
                s.session = Some(Session {
                    charset_client: v.charset.map(|c| c.0),
                    collation_connection: v.charset.map(|c| c.1),
                    collation_server: v.charset.map(|c| c.2),
                    sql_mode: v.sql_mode,
                    time_zone: v.time_zone,
                    flags2: v.flags2,
                    auto_increment: v.auto_increment,
                    updated_dbs: v.updated_dbs,
                    microseconds: v.microseconds,
                });
            }
            if !q.schema.is_empty() {
                s.database = Some(String::from_utf8_lossy(q.schema));
            }
        }
        Event::AnnotateRows(q) | Event::RowsQuery(q) => {
            s.query = Some(String::from_utf8_lossy(q));
        }
        Event::Rotate {
            position,
            next_file,
        } => {
            s.info = Some(format!("{}:{position}", text(next_file)));
            s.gtid = None;
        }
        Event::Xid(x) => s.info = Some(format!("xid {x}")),
        Event::GtidList { gtids: l, .. } => {
            let list: Vec<String> = l.iter().map(|(d, sv, q)| format!("{d}-{sv}-{q}")).collect();
            s.info = Some(list.join(","));
            s.gtid = None;
        }
        Event::PreviousGtids(p) => {
            s.info = Some(previous_gtids(p).to_string());
            s.gtid = None;
        }
        Event::BinlogCheckpoint(f) => s.info = Some(text(f)),
        Event::Incident { kind, message } => {
            s.info = Some(format!("incident {kind}: {}", text(message)));
        }
        Event::Intvar { kind, value } => {
            let what = if *kind == 1 {
                "LAST_INSERT_ID"
            } else {
                "INSERT_ID"
            };
            s.info = Some(format!("{what}={value}"));
        }
        Event::TableMap(m) => {
            s.database = Some(String::from_utf8_lossy(m.schema));
            s.table = Some(String::from_utf8_lossy(m.table));
            s.info = Some(format!("table id {}", m.table_id));
        }
        Event::Rows(r) => {
            let table = dec.table(r.table_id).ok_or_else(|| {
                decode_error(
                    file,
                    raw.offset,
                    lifeboat_binlog::DecodeError {
                        event: raw.header.event_type().name(),
                        reason: format!(
                            "no TABLE_MAP for table id {} (the file starts mid-transaction?)",
                            r.table_id
                        ),
                    },
                )
            })?;
            s.database = Some(Cow::Borrowed(table.schema.as_str()));
            s.table = Some(Cow::Borrowed(table.table.as_str()));
            s.kind = r.kind().map(|k| k.name());
            let rows = r.rows(table).map_err(|e| row_error(file, raw, e))?;
            for row in rows {
                let row: Row<'_> = row.map_err(|e| row_error(file, raw, e))?;
                s.rows.push(ShownRow {
                    before: row.before.as_ref().map(|i| image(table, i)),
                    after: row.after.as_ref().map(|i| image(table, i)),
                });
            }
        }
        Event::TransactionPayload {
            compression,
            uncompressed_size,
            payload,
        } => {
            let how = if *compression == 0 { "zstd" } else { "none" };
            s.info = Some(format!(
                "compression {how}, {} bytes ({uncompressed_size} uncompressed); its events follow",
                payload.len()
            ));
        }
        _ => {}
    }
    Ok(s)
}

fn previous_gtids(p: &[lifeboat_binlog::events::SidIntervals]) -> GtidSet {
    let mut set = MySqlGtidSet::default();
    for (sid, ivs) in p {
        for &(a, b) in ivs {
            if b > a {
                set.add_interval(sid.clone(), a, b - 1);
            }
        }
    }
    GtidSet::MySql(set)
}

/// `verify`'s verdict on one file.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// File.
    pub file: String,
    /// Nothing wrong.
    pub ok: bool,
    /// Bytes of complete events.
    pub size: u64,
    /// Server version from the format description.
    pub server: Option<String>,
    /// Times, GTIDs and counts of its events.
    #[serde(flatten)]
    pub span: lifeboat_repo::FileSpan,
    /// The tail is an incomplete event (crash, or the file is being written): where the
    /// complete transactions end.
    pub truncated_at: Option<u64>,
    /// What is wrong (checksum, framing, undecodable event, GTID gap).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Worth knowing, not wrong (an incomplete tail).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Checks `files` (in order): every checksum, every event decoded (row images included),
/// and that each file's starting GTID state continues the previous file's.
pub fn verify(files: &[PathBuf]) -> Vec<Verdict> {
    let mut out = Vec::new();
    // GTID state at the end of the previous file, when it could be followed.
    let mut carried: Option<GtidSet> = None;
    for path in files {
        let (v, end_state) = verify_one(path, carried.take());
        carried = end_state;
        out.push(v);
    }
    out
}

fn verify_one(path: &Path, carried: Option<GtidSet>) -> (Verdict, Option<GtidSet>) {
    let mut w = Walk::new(&path.display().to_string());
    let reader = match open(path) {
        Ok(r) => r,
        Err(e) => {
            w.v.problems.push(e.to_string());
            return (w.v, None);
        }
    };
    let mut dec = Decoder::new();
    let mut ending: Option<(Option<End>, u64)> = None;
    // One thread reads, frames and checks CRC32; this one decodes: two cores, one file.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(4);
    // Batches go back to the reader to be filled again: no allocation per batch.
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        scope.spawn(move || read_ahead(reader, tx, back_rx));
        for msg in rx {
            match msg {
                Msg::Batch(b) => {
                    if !w.batch(&mut dec, &b) {
                        break;
                    }
                    let _ = back_tx.send(b);
                }
                Msg::End(end, trx) => ending = Some((end, trx)),
                Msg::Failed(e) => {
                    w.v.problems.push(e);
                    break;
                }
            }
        }
    });
    if let Some((Some(End::Truncated { offset, have, need }), trx_end)) = ending {
        w.v.truncated_at = Some(trx_end);
        w.v.notes.push(format!(
            "incomplete event at offset {offset} ({have} of {need} bytes): a crash or a file still being written; complete transactions end at {trx_end}"
        ));
    }
    // A server writes the format description right after the magic: a file without one was
    // cut short (or caught before the server wrote it).
    if w.v.span.events == 0 && w.v.problems.is_empty() {
        w.v.problems.push(
            "no format description event after the 4-byte header: the file was cut short".into(),
        );
    }
    if let (Some(prev), Some(before)) = (&carried, &w.before)
        && prev != before
    {
        w.v.problems.push(format!(
            "GTID gap: this file starts from {before}, the previous file ended at {prev}"
        ));
    }
    w.finish(&dec)
}

/// What reading a file through has found so far: the verdict being built, and the GTID
/// state. Used by `verify` and by the archive's file index.
pub(crate) struct Walk {
    /// The verdict so far.
    pub(crate) v: Verdict,
    /// GTID state the file started from.
    pub(crate) before: Option<GtidSet>,
    /// GTID state after the events read.
    pub(crate) state: Option<GtidSet>,
    /// Type code of the last event read.
    pub(crate) last_type: Option<u8>,
    /// Go on after a problem (to describe a file, not to judge it).
    pub(crate) keep_going: bool,
    last_ts: u32,
    /// The file name for messages (shared: every event's error closure holds it).
    name: std::rc::Rc<str>,
    /// Where events are encoded back (reused: no allocation per event).
    scratch: Vec<u8>,
    /// The last TABLE_MAP checked per table id: the same map repeats in every transaction
    /// and is encoded back only when it changes.
    maps_checked: std::collections::HashMap<u64, Vec<u8>>,
}

impl Walk {
    pub(crate) fn new(file: &str) -> Walk {
        Walk {
            v: Verdict {
                file: file.to_owned(),
                ok: false,
                size: 0,
                span: lifeboat_repo::FileSpan::default(),
                server: None,
                truncated_at: None,
                problems: Vec::new(),
                notes: Vec::new(),
            },
            before: None,
            state: None,
            last_type: None,
            keep_going: false,
            last_ts: 0,
            name: file.into(),
            scratch: Vec::new(),
            maps_checked: std::collections::HashMap::new(),
        }
    }

    /// Takes the events of a batch; false once a problem was found.
    fn batch(&mut self, dec: &mut Decoder, b: &Batch) -> bool {
        for (offset, header, whole, data, fde) in &b.events {
            let Some(fde) = b.fdes.get(*fde) else {
                return false;
            };
            let raw = RawEvent {
                offset: *offset,
                header: *header,
                bytes: b.bytes.get(whole.clone()).unwrap_or_default(),
                data: b.bytes.get(data.clone()).unwrap_or_default(),
            };
            if !self.raw_event(dec, fde, &raw) {
                return false;
            }
        }
        true
    }

    /// Decodes and checks one event of the file (and those of a compressed transaction);
    /// false once a problem was found.
    pub(crate) fn raw_event(
        &mut self,
        dec: &mut Decoder,
        fde: &lifeboat_binlog::FormatDescription,
        raw: &RawEvent<'_>,
    ) -> bool {
        self.v.span.events += 1;
        self.v.size = raw.offset + u64::from(raw.header.event_size);
        self.last_type = Some(raw.header.type_code);
        let ts = raw.header.timestamp;
        if ts != 0 {
            self.v.span.first_time.get_or_insert_with(|| time_text(ts));
            self.last_ts = ts;
        }
        let name = self.name.clone();
        let outer = raw.offset;
        let decoded = dec.decode_each(
            fde,
            raw,
            |e| format!("{name}: offset {outer}: {e}"),
            |dec, raw, ev| {
                self.event(dec, fde, raw, ev);
                Ok(())
            },
        );
        if let Err(p) = decoded {
            self.v.problems.push(p);
        }
        self.keep_going || self.v.problems.is_empty()
    }

    fn event(
        &mut self,
        dec: &Decoder,
        fde: &lifeboat_binlog::FormatDescription,
        raw: &RawEvent<'_>,
        ev: &Event<'_>,
    ) {
        let v = &mut self.v;
        match ev {
            Event::FormatDescription(f) => v.server = Some(f.server_version.clone()),
            Event::PreviousGtids(p) => self.set_before(previous_gtids(p)),
            Event::GtidList { gtids, .. } => self.set_before(gtid_list(gtids)),
            Event::Gtid(_) | Event::MariadbGtid(_) => {
                if let Some(g) = dec.gtid() {
                    v.span.transactions += 1;
                    if v.span.first_gtid.is_none() {
                        v.span.first_gtid = dec.gtid_text().map(str::to_owned);
                    }
                    let flavor = if fde.is_mariadb() {
                        Flavor::MariaDb
                    } else {
                        Flavor::MySql
                    };
                    self.state
                        .get_or_insert_with(|| GtidSet::empty(flavor))
                        .add(g);
                }
            }
            Event::Incident { kind, message } => v.problems.push(format!(
                "{}: offset {}: INCIDENT {kind} ({}): the source says events may be missing here",
                v.file,
                raw.offset,
                text(message)
            )),
            _ => {}
        }
        let problem = match ev {
            Event::Rows(r) => check_rows(dec, r, &mut self.scratch),
            // These carry their bytes as they are: nothing to encode back.
            Event::AnnotateRows(_) | Event::RowsQuery(_) | Event::Other { .. } => None,
            Event::TableMap(m) => {
                if self
                    .maps_checked
                    .get(&m.table_id)
                    .is_some_and(|d| d.as_slice() == raw.data)
                {
                    None
                } else {
                    self.maps_checked.insert(m.table_id, raw.data.to_vec());
                    check_encoding(fde, raw, ev, &mut self.scratch)
                }
            }
            _ => check_encoding(fde, raw, ev, &mut self.scratch),
        };
        if let Some(p) = problem {
            let v = &mut self.v;
            v.problems
                .push(format!("{}: offset {}: {p}", v.file, raw.offset));
        }
    }

    fn set_before(&mut self, set: GtidSet) {
        self.v.span.gtids_before = Some(set.to_string());
        self.before = Some(set.clone());
        self.state = Some(set);
    }

    /// The verdict and the GTID state the file ends at.
    pub(crate) fn finish(mut self, dec: &Decoder) -> (Verdict, Option<GtidSet>) {
        if self.last_ts != 0 {
            self.v.span.last_time = Some(time_text(self.last_ts));
        }
        if self.v.span.first_gtid.is_some() {
            self.v.span.last_gtid = dec.gtid_text().map(str::to_owned);
        }
        self.v.ok = self.v.problems.is_empty();
        (self.v, self.state)
    }
}

/// A MariaDB GTID_LIST as a GTID state. The list has the last GTID of each (domain, server);
/// a domain's position is its highest sequence number.
fn gtid_list(l: &[(u32, u32, u64)]) -> GtidSet {
    let mut set = GtidSet::empty(Flavor::MariaDb);
    let mut sorted = l.to_vec();
    sorted.sort_by_key(|&(_, _, seq)| seq);
    for &(domain, server_id, seq) in &sorted {
        set.add(&Gtid::MariaDb(MariaDbGtid {
            domain,
            server_id,
            seq,
        }));
    }
    set
}

/// Encodes a (non-row) event back and compares the bytes: a check of lifeboat's own decoder.
/// Events the encoder writes in another form (compressed) are compared no further.
fn check_encoding(
    fde: &lifeboat_binlog::FormatDescription,
    raw: &RawEvent<'_>,
    ev: &Event<'_>,
    scratch: &mut Vec<u8>,
) -> Option<String> {
    let t = raw.event_type();
    match ev.encode_data_into(t, fde, scratch) {
        Ok(as_t) if as_t != t || scratch.as_slice() == raw.data => None,
        Ok(_) => Some(format!(
            "the decoded {} event does not encode to the same bytes (a lifeboat bug; please report it)",
            t.name()
        )),
        Err(_) => None,
    }
}

/// Decodes a row event's rows and encodes them back; a problem, or `None` when the bytes
/// come back the same (a check of lifeboat's own decoder on every file it verifies).
fn check_rows(
    dec: &Decoder,
    r: &lifeboat_binlog::events::RowsEvent<'_>,
    scratch: &mut Vec<u8>,
) -> Option<String> {
    let Some(t) = dec.table(r.table_id) else {
        return Some(format!(
            "row event for table id {} without its TABLE_MAP",
            r.table_id
        ));
    };
    let rows = match r.rows(t) {
        Ok(rows) => rows,
        Err(e) => return Some(e),
    };
    // Row by row into one buffer: no collection of rows, no allocation per event.
    scratch.clear();
    for row in rows {
        match row {
            Ok(row) => {
                if let Err(e) = r.encode_row_into(t, &row, scratch) {
                    return Some(format!("decoded rows cannot be re-encoded: {e}"));
                }
            }
            Err(e) => return Some(e),
        }
    }
    if scratch.as_slice() == &*r.rows {
        None
    } else {
        Some(
            "decoded rows do not re-encode to the same bytes (a lifeboat bug; please report it)"
                .into(),
        )
    }
}

/// Events read ahead by [`read_ahead`]: their bytes back to back, and where each one is.
struct Batch {
    bytes: Vec<u8>,
    /// Offset, header, whole event and data in `bytes`, index in `fdes` of its format.
    #[allow(clippy::type_complexity)]
    events: Vec<(
        u64,
        lifeboat_binlog::EventHeader,
        std::ops::Range<usize>,
        std::ops::Range<usize>,
        usize,
    )>,
    /// The format descriptions in force in this batch (one, unless the file has several).
    fdes: Vec<std::sync::Arc<lifeboat_binlog::FormatDescription>>,
}

enum Msg {
    Batch(Batch),
    End(Option<End>, u64),
    Failed(String),
}

/// Reads a file (framing, CRC32) and hands its events over in batches of about 1 MiB.
fn read_ahead(
    mut reader: FileReader<File>,
    tx: std::sync::mpsc::SyncSender<Msg>,
    back: std::sync::mpsc::Receiver<Batch>,
) {
    let new_batch = || match back.try_recv() {
        Ok(mut b) => {
            b.bytes.clear();
            b.events.clear();
            b.fdes.clear();
            b
        }
        Err(_) => Batch {
            bytes: Vec::with_capacity(1 << 20),
            events: Vec::new(),
            fdes: Vec::new(),
        },
    };
    let mut batch = new_batch();
    let mut fde = std::sync::Arc::new(reader.format().clone());
    loop {
        match reader.next_with_format() {
            Ok(Some((raw, f))) => {
                if raw.header.type_code == lifeboat_binlog::EventType::FormatDescription.code() {
                    fde = std::sync::Arc::new(f.clone());
                    batch.fdes.push(fde.clone());
                } else if batch.fdes.is_empty() {
                    batch.fdes.push(fde.clone());
                }
                let start = batch.bytes.len();
                batch.bytes.extend_from_slice(raw.bytes);
                let data_at = raw.data.as_ptr() as usize - raw.bytes.as_ptr() as usize;
                let data = start + data_at..start + data_at + raw.data.len();
                batch.events.push((
                    raw.offset,
                    raw.header,
                    start..batch.bytes.len(),
                    data,
                    batch.fdes.len() - 1,
                ));
                if batch.bytes.len() >= 1 << 20
                    && tx
                        .send(Msg::Batch(std::mem::replace(&mut batch, new_batch())))
                        .is_err()
                {
                    return;
                }
            }
            Ok(None) => {
                let _ = tx.send(Msg::Batch(batch));
                let _ = tx.send(Msg::End(reader.end(), reader.last_transaction_end()));
                return;
            }
            Err(e) => {
                let _ = tx.send(Msg::Batch(batch));
                let _ = tx.send(Msg::Failed(e.to_string()));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_binlog_without_its_format_description_is_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let magic_only = dir.path().join("binlog.000001");
        std::fs::write(&magic_only, b"\xfebin").unwrap();
        let v = super::verify(&[magic_only]);
        assert!(!v[0].ok, "{:?}", v[0]);
        assert!(
            v[0].problems[0].contains("no format description event"),
            "{:?}",
            v[0]
        );
    }
}
