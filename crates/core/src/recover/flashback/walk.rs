//! Pass 2: the indexed transactions newest first, and in each its row events newest first.
//!
//! Events are read back through a window of the file (a few MiB ending at the event wanted),
//! so going backwards reads each byte about once, and memory holds one window.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use lifeboat_binlog::{Event, RawEvent, TableDef};

use super::scan::{Entry, Index, Trx};
use crate::error::Error;

/// Bytes read at once when going back.
const WINDOW: u64 = 8 << 20;

/// A TABLE_MAP: its bytes (sent before the undo) and what it says.
pub(super) struct Map {
    pub raw: Vec<u8>,
    pub def: TableDef,
    /// `db.table`, lowercased.
    pub table: String,
}

/// A transaction to undo.
#[derive(Debug, Clone)]
pub struct Source {
    /// `file:offset` where it starts.
    pub at: String,
    /// Its GTID, when the binlog has GTIDs.
    pub gtid: Option<String>,
    /// When it started (seconds since the epoch).
    pub time: u32,
}

impl Source {
    /// What names it in the progress record and reports: the GTID, else the position.
    pub fn id(&self) -> &str {
        self.gtid.as_deref().unwrap_or(&self.at)
    }
}

/// One row event to undo.
pub(super) struct Step {
    pub map: Arc<Map>,
    /// The whole event, as stored.
    pub raw: Vec<u8>,
    pub offset: u64,
}

pub(super) struct Walker<'a> {
    index: &'a Index,
    /// Transactions left (the next is `left - 1`).
    left: u64,
    files: Vec<std::fs::File>,
    window: (u32, u64, Vec<u8>),
    /// Maps by their data (what follows the header).
    maps: HashMap<Vec<u8>, Arc<Map>>,
    /// Maps by where they were read.
    maps_at: HashMap<(u32, u64), Arc<Map>>,
    trx_cache: (u64, Vec<u8>),
    entries_cache: (u64, Vec<u8>),
}

impl<'a> Walker<'a> {
    pub fn new(index: &'a Index) -> Result<Self, Error> {
        let files = index
            .files
            .iter()
            .map(|f| std::fs::File::open(&f.path).map_err(|e| Error::in_file(&f.path, e)))
            .collect::<Result<_, _>>()?;
        Ok(Walker {
            index,
            left: index.trx_count,
            files,
            window: (u32::MAX, 0, Vec::new()),
            maps: HashMap::new(),
            maps_at: HashMap::new(),
            trx_cache: (0, Vec::new()),
            entries_cache: (0, Vec::new()),
        })
    }

    /// The next transaction (newer ones first) and its entries, oldest first.
    pub fn next_trx(&mut self) -> Result<Option<(Source, Trx, Vec<Entry>)>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let t = self.index.trx(self.left, &mut self.trx_cache)?;
        let entries = self
            .index
            .entries(t.first_entry, t.entries, &mut self.entries_cache)?;
        let first = match entries.first() {
            Some(e) if e.file == t.file => e.map.min(e.rows),
            // Compressed: the GTID event is followed by the payload, read no further.
            _ => t.end.min(t.start + (64 << 10)),
        };
        let head = self.read(t.file, t.start, first.max(t.start + 1))?;
        let f = self.source(t.file)?;
        let raw = RawEvent::frame(&head, t.start, &f.fde, &f.name)?;
        let gtid = Event::decode(&f.fde, raw.event_type(), raw.data)
            .map_err(Error::event(&f.name, t.start))?
            .gtid(raw.header.server_id)
            .map(|g| g.to_string());
        let source = Source {
            at: format!("{}:{}", f.name, t.start),
            gtid,
            time: raw.header.timestamp,
        };
        Ok(Some((source, t, entries)))
    }

    fn source(&self, file: u32) -> Result<&super::scan::Source, Error> {
        self.index
            .files
            .get(file as usize)
            .ok_or_else(|| Error::Internal(format!("flashback index: no file {file}")))
    }

    /// The event `e`, which ends at or before `bound`.
    pub fn step(&mut self, e: &Entry, bound: u64) -> Result<Step, Error> {
        let map = self.map(e)?;
        let raw = self.read(e.file, e.rows, bound)?;
        Ok(Step {
            map,
            raw,
            offset: e.rows,
        })
    }

    fn map(&mut self, e: &Entry) -> Result<Arc<Map>, Error> {
        if let Some(m) = self.maps_at.get(&(e.file, e.map)) {
            return Ok(m.clone());
        }
        let bytes = self.read(e.file, e.map, e.rows)?;
        let f = self.source(e.file)?;
        let raw = RawEvent::frame(&bytes, e.map, &f.fde, &f.name)?;
        // The same table's map repeats in every transaction, byte for byte after the
        // header: decoded once.
        if let Some(m) = self.maps.get(raw.data) {
            let m = m.clone();
            self.remember(e, &m);
            return Ok(m);
        }
        let Event::TableMap(m) = Event::decode(&f.fde, raw.event_type(), raw.data)
            .map_err(Error::event(&f.name, e.map))?
        else {
            return Err(Error::Binlog {
                file: f.name.clone(),
                offset: Some(e.map),
                problem: "not the TABLE_MAP indexed here".into(),
            });
        };
        let def = TableDef::from_map(&m).map_err(|reason| Error::Event {
            file: f.name.clone(),
            offset: e.map,
            source: lifeboat_binlog::DecodeError {
                event: "Table_map",
                reason,
            },
        })?;
        let table = format!("{}.{}", def.schema, def.table).to_lowercase();
        let map = Arc::new(Map {
            raw: raw.bytes.to_vec(),
            def,
            table,
        });
        if self.maps.len() > 1024 {
            self.maps.clear();
        }
        self.maps.insert(raw.data.to_vec(), map.clone());
        self.remember(e, &map);
        Ok(map)
    }

    /// Where `e`'s map is, for the other row events of its statement.
    fn remember(&mut self, e: &Entry, map: &Arc<Map>) {
        if self.maps_at.len() > 64 {
            self.maps_at.clear();
        }
        self.maps_at.insert((e.file, e.map), map.clone());
    }

    /// The bytes of the event at `offset` of `file`, which ends at or before `bound`: from
    /// the window, read anew (ending at `bound`) when the event is not in it.
    fn read(&mut self, file: u32, offset: u64, bound: u64) -> Result<Vec<u8>, Error> {
        let (wf, ws, wb) = &self.window;
        let inside = *wf == file && offset >= *ws && bound <= *ws + wb.len() as u64;
        if !inside {
            let start = offset.min(bound.saturating_sub(WINDOW)).max(4);
            let len = bound.saturating_sub(start) as usize;
            let mut buf = std::mem::take(&mut self.window.2);
            buf.resize(len, 0);
            let f = self
                .files
                .get(file as usize)
                .ok_or_else(|| Error::Internal(format!("flashback index: no file {file}")))?;
            let path = &self.index.files[file as usize].path;
            f.read_exact_at(&mut buf, start)
                .map_err(|e| Error::in_file(path, e))?;
            self.window = (file, start, buf);
        }
        let (_, ws, wb) = &self.window;
        let from = (offset - ws) as usize;
        let name = &self.index.files[file as usize].name;
        let header = wb.get(from..).unwrap_or_default();
        let size = header
            .get(9..13)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| Error::Binlog {
                file: name.clone(),
                offset: Some(offset),
                problem: "the indexed event is cut short".into(),
            })?;
        header
            .get(..size)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| Error::Binlog {
                file: name.clone(),
                offset: Some(offset),
                problem: format!("the indexed event claims {size} bytes, past where it must end"),
            })
    }
}
