//! Reading binlog files for people and scripts: `lifeboat binlog show` (events with decoded
//! row images, filtered) and `lifeboat binlog verify` (checksums, framing, decoding and GTID
//! continuity, one verdict per file).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use lifeboat_binlog::file::Error as FileError;
use lifeboat_binlog::{
    Decoder, End, Event, FileReader, Flavor, Gtid, GtidSet, MariaDbGtid, MySqlGtidSet, RawEvent,
    Rendered, Row, TableDef,
};
use serde::Serialize;
use serde_json::{Map, Value as Json};

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
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    /// File name.
    pub file: String,
    /// Offset of the event.
    pub start: u64,
    /// Offset after it.
    pub end: u64,
    /// Event time (statement start), UTC, seconds.
    pub time: String,
    /// `server_id` of the origin.
    pub server_id: u32,
    /// Event type name.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// GTID of the transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
    /// Database (row events and table maps; the default database of a query).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Table (row events and table maps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Statement text (QUERY, ANNOTATE_ROWS, ROWS_QUERY).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// insert / update / delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// Decoded rows: `before` and `after` images keyed by column name (`@N` when the
    /// binlog has no names). A column absent from an image is absent here, never null.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<ShownRow>,
    /// Other details (next file of a ROTATE, GTID list, XID…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
}

/// One row of a row event.
#[derive(Debug, Clone, Serialize)]
pub struct ShownRow {
    /// Before image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Map<String, Json>>,
    /// After image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Map<String, Json>>,
}

/// A value for JSON: numbers as numbers (DECIMAL as a string, to stay exact), text as
/// strings, bytes that are not text as `{"hex": "…"}`.
pub fn cell(r: Rendered, decimal: bool) -> Json {
    match r {
        Rendered::Null => Json::Null,
        Rendered::Number(n) if decimal => Json::String(n),
        Rendered::Number(n) => {
            if let Ok(v) = n.parse::<i64>() {
                Json::from(v)
            } else if let Ok(v) = n.parse::<u64>() {
                Json::from(v)
            } else {
                n.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Json::String(n), Json::Number)
            }
        }
        Rendered::Text(t) => Json::String(t),
        Rendered::Binary(b) => {
            let mut m = Map::new();
            m.insert("hex".into(), Json::String(hex(&b)));
            Json::Object(m)
        }
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn image(table: &TableDef, img: &lifeboat_binlog::Image<'_>) -> Map<String, Json> {
    let mut m = Map::new();
    for (i, (col, v)) in table.columns.iter().zip(&img.values).enumerate() {
        if let Some(v) = v {
            let decimal = col.real_type == lifeboat_binlog::table::column_type::NEWDECIMAL;
            m.insert(col.label(i), cell(v.render(col), decimal));
        }
    }
    m
}

fn time_text(ts: u32) -> String {
    jiff::Timestamp::from_second(i64::from(ts))
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn open(path: &Path) -> Result<FileReader<BufReader<File>>, Error> {
    let f = File::open(path).map_err(|e| Error::Binlog(format!("{}: {e}", path.display())))?;
    FileReader::new(
        BufReader::with_capacity(1 << 20, f),
        path.display().to_string(),
    )
    .map_err(file_error)
}

fn file_error(e: FileError) -> Error {
    Error::Binlog(e.to_string())
}

fn decode_error(file: &str, offset: u64, e: impl std::fmt::Display) -> Error {
    Error::Binlog(format!("{file}: offset {offset}: {e}"))
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
    mut sink: impl FnMut(&Shown) -> std::io::Result<()>,
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
        while let Some((raw, fde)) = reader.next_with_format().map_err(file_error)? {
            summary.events_read += 1;
            let ev = dec
                .decode(fde, &raw)
                .map_err(|e| decode_error(&name, raw.offset, e))?;
            if fi == 0 && filter.start_position.is_some_and(|p| raw.offset < p) && raw.offset > 4 {
                continue;
            }
            if fi == last && filter.stop_position.is_some_and(|p| raw.offset >= p) {
                break 'files;
            }
            let when = i64::from(raw.header.timestamp);
            if filter.start_time.is_some_and(|t| when < t.as_second()) {
                continue;
            }
            if filter.stop_time.is_some_and(|t| when >= t.as_second()) {
                break 'files;
            }
            // A compressed transaction: its events are shown one by one, at its offset.
            let inner = match &ev {
                Event::TransactionPayload {
                    compression,
                    uncompressed_size,
                    payload,
                } => Some(
                    lifeboat_binlog::events::payload_bytes(
                        *compression,
                        *uncompressed_size,
                        payload,
                    )
                    .map_err(|e| decode_error(&name, raw.offset, e))?,
                ),
                _ => None,
            };
            let mut items = vec![(raw, ev)];
            if let Some(bytes) = &inner {
                for item in lifeboat_binlog::events::payload_events(bytes) {
                    let (header, data) = item.map_err(|e| decode_error(&name, raw.offset, e))?;
                    let inner_raw = RawEvent {
                        offset: raw.offset,
                        header,
                        bytes: data,
                        data,
                    };
                    let ev = dec
                        .decode(fde, &inner_raw)
                        .map_err(|e| decode_error(&name, raw.offset, e))?;
                    items.push((inner_raw, ev));
                }
            }
            for (raw, ev) in &items {
                if !wanted(filter, &dec, ev) {
                    continue;
                }
                let shown = describe(&name, raw, ev, &dec)?;
                summary.events_shown += 1;
                sink(&shown).map_err(|e| Error::Binlog(format!("writing output: {e}")))?;
            }
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
            | Event::GtidList(_)
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

fn describe(file: &str, raw: &RawEvent<'_>, ev: &Event<'_>, dec: &Decoder) -> Result<Shown, Error> {
    let mut s = Shown {
        file: file.to_owned(),
        start: raw.offset,
        end: raw.offset + u64::from(raw.header.event_size),
        time: time_text(raw.header.timestamp),
        server_id: raw.header.server_id,
        event_type: raw.event_type().name(),
        gtid: dec.gtid().map(ToString::to_string),
        database: None,
        table: None,
        query: None,
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
            s.query = Some(text(&q.query));
            if !q.schema.is_empty() {
                s.database = Some(text(q.schema));
            }
        }
        Event::AnnotateRows(q) | Event::RowsQuery(q) => s.query = Some(text(q)),
        Event::Rotate {
            position,
            next_file,
        } => {
            s.info = Some(format!("{}:{position}", text(next_file)));
            s.gtid = None;
        }
        Event::Xid(x) => s.info = Some(format!("xid {x}")),
        Event::GtidList(l) => {
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
            s.database = Some(text(m.schema));
            s.table = Some(text(m.table));
            s.info = Some(format!("table id {}", m.table_id));
        }
        Event::Rows(r) => {
            let table = dec.table(r.table_id).ok_or_else(|| {
                decode_error(
                    file,
                    raw.offset,
                    format!(
                        "row event for table id {} without its TABLE_MAP (the file starts mid-transaction?)",
                        r.table_id
                    ),
                )
            })?;
            s.database = Some(table.schema.clone());
            s.table = Some(table.table.clone());
            s.kind = r.kind().map(|k| k.name());
            let rows = r
                .rows(table)
                .map_err(|e| decode_error(file, raw.offset, e))?;
            for row in rows {
                let row: Row<'_> = row.map_err(|e| decode_error(file, raw.offset, e))?;
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
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// File.
    pub file: String,
    /// Nothing wrong.
    pub ok: bool,
    /// Bytes of complete events.
    pub size: u64,
    /// Events.
    pub events: u64,
    /// Transactions (GTID events).
    pub transactions: u64,
    /// Server version from the format description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// First event time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_time: Option<String>,
    /// Last event time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_time: Option<String>,
    /// GTID state the file starts from (PREVIOUS_GTIDS or GTID_LIST).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtids_before: Option<String>,
    /// First GTID in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_gtid: Option<String>,
    /// Last GTID in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_gtid: Option<String>,
    /// The tail is an incomplete event (crash, or the file is being written): where the
    /// complete transactions end.
    #[serde(skip_serializing_if = "Option::is_none")]
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
    let name = path.display().to_string();
    let mut v = Verdict {
        file: name.clone(),
        ok: false,
        size: 0,
        events: 0,
        transactions: 0,
        server: None,
        first_time: None,
        last_time: None,
        gtids_before: None,
        first_gtid: None,
        last_gtid: None,
        truncated_at: None,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let mut reader = match open(path) {
        Ok(r) => r,
        Err(e) => {
            v.problems.push(e.to_string());
            return (v, None);
        }
    };
    let mut dec = Decoder::new();
    let mut state: Option<GtidSet> = None;
    let mut before: Option<GtidSet> = None;
    let mut last_ts = 0u32;
    loop {
        let (raw, fde) = match reader.next_with_format() {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) => {
                v.problems.push(e.to_string());
                break;
            }
        };
        v.events += 1;
        v.size = raw.offset + u64::from(raw.header.event_size);
        let ts = raw.header.timestamp;
        if ts != 0 {
            if v.first_time.is_none() {
                v.first_time = Some(time_text(ts));
            }
            last_ts = ts;
        }
        let ev = match dec.decode(fde, &raw) {
            Ok(ev) => ev,
            Err(e) => {
                v.problems
                    .push(format!("{name}: offset {}: {e}", raw.offset));
                break;
            }
        };
        match &ev {
            Event::FormatDescription(f) => v.server = Some(f.server_version.clone()),
            Event::PreviousGtids(p) => {
                let set = previous_gtids(p);
                v.gtids_before = Some(set.to_string());
                before = Some(set.clone());
                state = Some(set);
            }
            Event::GtidList(l) => {
                // The list has the last GTID of each (domain, server); a domain's position is
                // its highest sequence number.
                let mut set = GtidSet::empty(Flavor::MariaDb);
                let mut sorted = l.clone();
                sorted.sort_by_key(|&(_, _, seq)| seq);
                for &(domain, server_id, seq) in &sorted {
                    set.add(&Gtid::MariaDb(MariaDbGtid {
                        domain,
                        server_id,
                        seq,
                    }));
                }
                v.gtids_before = Some(set.to_string());
                before = Some(set.clone());
                state = Some(set);
            }
            Event::Gtid(_) | Event::MariadbGtid(_) => {
                if let Some(g) = dec.gtid() {
                    v.transactions += 1;
                    if v.first_gtid.is_none() {
                        v.first_gtid = Some(g.to_string());
                    }
                    v.last_gtid = Some(g.to_string());
                    let st = state.get_or_insert_with(|| {
                        GtidSet::empty(if fde.is_mariadb() {
                            Flavor::MariaDb
                        } else {
                            Flavor::MySql
                        })
                    });
                    st.add(g);
                }
            }
            Event::Incident { kind, message } => v.problems.push(format!(
                "{name}: offset {}: INCIDENT {kind} ({}): the source says events may be missing here",
                raw.offset,
                text(message)
            )),
            Event::Rows(r) => {
                if let Some(p) = check_rows(&dec, r) {
                    v.problems.push(format!("{name}: offset {}: {p}", raw.offset));
                }
            }
            Event::TransactionPayload {
                compression,
                uncompressed_size,
                payload,
            } => {
                let at = raw.offset;
                match lifeboat_binlog::events::payload_bytes(*compression, *uncompressed_size, payload) {
                    Err(e) => v.problems.push(format!("{name}: offset {at}: {e}")),
                    Ok(bytes) => {
                        for item in lifeboat_binlog::events::payload_events(&bytes) {
                            let problem = item.map_err(|e| e.to_string()).and_then(|(header, data)| {
                                let inner = RawEvent { offset: at, header, bytes: data, data };
                                match dec.decode(fde, &inner).map_err(|e| e.to_string())? {
                                    Event::Rows(r) => check_rows(&dec, &r).map_or(Ok(()), Err),
                                    _ => Ok(()),
                                }
                            });
                            if let Err(p) = problem {
                                v.problems.push(format!("{name}: offset {at} (compressed transaction): {p}"));
                                break;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        if !v.problems.is_empty() {
            break;
        }
    }
    if last_ts != 0 {
        v.last_time = Some(time_text(last_ts));
    }
    if let Some(End::Truncated { offset, have, need }) = reader.end() {
        v.truncated_at = Some(reader.last_transaction_end());
        v.notes.push(format!(
            "incomplete event at offset {offset} ({have} of {need} bytes): a crash or a file still being written; complete transactions end at {}",
            reader.last_transaction_end()
        ));
    }
    if let (Some(prev), Some(before)) = (&carried, &before)
        && prev != before
    {
        v.problems.push(format!(
            "GTID gap: this file starts from {before}, the previous file ended at {prev}"
        ));
    }
    v.ok = v.problems.is_empty();
    (v, state)
}

/// Decodes a row event's rows and encodes them back; a problem, or `None` when the bytes
/// come back the same (a check of lifeboat's own decoder on every file it verifies).
fn check_rows(dec: &Decoder, r: &lifeboat_binlog::events::RowsEvent<'_>) -> Option<String> {
    let Some(t) = dec.table(r.table_id) else {
        return Some(format!(
            "row event for table id {} without its TABLE_MAP",
            r.table_id
        ));
    };
    let decoded = match r
        .rows(t)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
    {
        Ok(d) => d,
        Err(e) => return Some(e),
    };
    match r.encode_rows(t, &decoded) {
        Ok(bytes) if bytes == *r.rows => None,
        Ok(_) => Some(
            "decoded rows do not re-encode to the same bytes (a lifeboat bug; please report it)"
                .into(),
        ),
        Err(e) => Some(format!("decoded rows cannot be re-encoded: {e}")),
    }
}
