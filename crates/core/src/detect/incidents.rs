//! `lifeboat incidents`: the destructive events in binlogs, with exact time, GTID and
//! position, so that "when exactly, and what" takes seconds, not a day of bisecting.
//!
//! One pass over the files in order. Statements are classified from QUERY events (DDL, and
//! DML in STATEMENT format) and from ANNOTATE_ROWS / ROWS_QUERY text; row events are counted
//! per statement and table (a statement ends at the row event flagged end-of-statement).

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use lifeboat_binlog::events::RowsEvent;
use lifeboat_binlog::{Decoder, Event, RawEvent, RowKind};
use lifeboat_repo::Repository;
use serde::Serialize;

use crate::error::Error;
use crate::sql::statement::{Kind, classify};

/// `foreign_key_checks=0` in a QUERY event's flags2.
const OPTION_NO_FOREIGN_KEY_CHECKS: u32 = 1 << 26;

/// What to look for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only incidents at or after this time.
    pub since: Option<jiff::Timestamp>,
    /// Only incidents before this time.
    pub until: Option<jiff::Timestamp>,
    /// A DELETE or UPDATE statement is destructive from this many rows (of one table).
    pub min_rows: u64,
    /// Transactions listed before and after each incident (what else happened around it).
    pub context: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            since: None,
            until: None,
            min_rows: 1000,
            context: 0,
        }
    }
}

/// One destructive event.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Incident {
    /// Stable id: `<file>:<offset of the event>` (what `restore --before-incident` takes).
    pub id: String,
    /// `drop_table`, `drop_database`, `truncate`, `delete`, `update`, `delete_without_where`,
    /// `update_without_where`, `drop_column`, `rename_onto_existing`.
    pub kind: &'static str,
    /// When (RFC 3339, µs where the binlog has them; else seconds).
    pub time: String,
    /// GTID of its transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
    /// Binlog file of the event.
    pub file: String,
    /// Offset of the event.
    pub position: u64,
    /// Offset where its transaction starts (its GTID event, else its BEGIN): a restore that
    /// must stop before the incident stops here.
    pub transaction_position: u64,
    /// File the transaction starts in.
    pub transaction_file: String,
    /// Server id of the origin.
    pub server_id: u32,
    /// Connection id on the origin, when the binlog has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u32>,
    /// The statement (from the QUERY event, or ANNOTATE_ROWS / ROWS_QUERY).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// Tables (`db.table`; the database for DROP DATABASE).
    pub tables: Vec<String>,
    /// Rows changed per table, for row events.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rows: BTreeMap<String, u64>,
    /// Ran with foreign_key_checks=0 (the classic `SET FOREIGN_KEY_CHECKS=0; DROP TABLE`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub foreign_key_checks_off: bool,
    /// With `--context`: everything its own transaction did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transaction: Vec<String>,
    /// With `--context`: the transactions just before it, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<Neighbor>,
    /// With `--context`: the transactions just after it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<Neighbor>,
    /// Why it is not an incident after all (a `DROP … IF EXISTS` of what did not exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harmless: Option<String>,
}

/// A transaction near an incident, in a few words.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Neighbor {
    /// `file:offset` where it starts.
    pub transaction: String,
    /// Its GTID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
    /// When.
    pub time: String,
    /// Connection id on the origin, when the binlog has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u32>,
    /// What it did: statements, and rows changed per table.
    pub what: Vec<String>,
}

/// At most this many entries describe one transaction.
const WHAT_MAX: usize = 8;

/// The transaction being read.
#[derive(Default)]
struct Trx {
    file: String,
    position: u64,
    gtid: Option<String>,
    /// Seconds and µs of its start (GTID commit time on MySQL; BEGIN's time on MariaDB).
    time: Option<(u32, Option<u32>)>,
    thread_id: Option<u32>,
    server_id: u32,
    /// Statement text from ANNOTATE_ROWS / ROWS_QUERY, for the row events that follow.
    statement: Option<String>,
    /// Rows of the current statement: (table, kind) -> (count, offset of its first event).
    rows: BTreeMap<(String, u8), (u64, u64)>,
    /// With context: statements of the transaction, and rows per (table, insert/update/delete).
    statements: Vec<String>,
    changes: BTreeMap<(String, &'static str), u64>,
    /// Time of its last event.
    last_time: u32,
}

impl Trx {
    /// The transaction in a few words.
    fn neighbor(&self) -> Neighbor {
        let mut what: Vec<String> = self.statements.clone();
        what.extend(
            self.changes
                .iter()
                .map(|((t, k), n)| format!("{k} {n} row{} of {t}", if *n == 1 { "" } else { "s" })),
        );
        if what.len() > WHAT_MAX {
            let more = what.len() - WHAT_MAX;
            what.truncate(WHAT_MAX);
            what.push(format!("… and {more} more"));
        }
        let (sec, micros) = self.time.unwrap_or((self.last_time, None));
        Neighbor {
            transaction: format!("{}:{}", self.file, self.position),
            gtid: self.gtid.clone(),
            time: time_text(sec, micros),
            thread_id: self.thread_id,
            what,
        }
    }
}

/// Scans binlog files in order for incidents.
pub struct Scanner {
    opts: Options,
    groups: crate::detect::groups::Groups,
    trx: Trx,
    found: Vec<Incident>,
    /// With context: the last transactions closed, incidents of the open one, and incidents
    /// still waiting for transactions after them.
    recent: VecDeque<Neighbor>,
    in_trx: Vec<usize>,
    waiting: Vec<(usize, usize)>,
    /// Transactions seen (for the summary).
    pub transactions: u64,
    /// Events seen.
    pub events: u64,
    /// The scan started at the server's first binlog (number 1, nothing before it): what no
    /// event names before a point did not exist then.
    from_start: Option<bool>,
    /// Tables and databases named so far (lowercased `db`, `db.table`).
    named: std::collections::HashSet<String>,
    /// `DROP … IF EXISTS` of objects that did not exist: not incidents.
    harmless: Vec<Incident>,
}

fn time_text(sec: u32, micros: Option<u32>) -> String {
    let us = i64::from(sec) * 1_000_000 + i64::from(micros.unwrap_or(0));
    crate::detect::events::time_text_us(us, micros.is_some())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Scanner {
    /// A scanner with these options.
    pub fn new(opts: Options) -> Self {
        Self {
            opts,
            groups: crate::detect::groups::Groups::default(),
            trx: Trx::default(),
            found: Vec::new(),
            recent: VecDeque::new(),
            in_trx: Vec::new(),
            waiting: Vec::new(),
            transactions: 0,
            events: 0,
            from_start: None,
            named: std::collections::HashSet::new(),
            harmless: Vec::new(),
        }
    }

    /// Reads one file (files must come in order: a transaction's context carries over).
    pub fn scan_file(&mut self, path: &Path, name: &str) -> Result<(), Error> {
        let f = std::fs::File::open(path).map_err(|e| Error::in_file(path, e))?;
        let mut reader =
            lifeboat_binlog::FileReader::new(f, name.to_owned()).map_err(Error::from)?;
        let mut dec = Decoder::new();
        // Transactions never span files.
        self.groups = crate::detect::groups::Groups::default();
        while let Some((raw, fde)) = reader.next_with_format().map_err(Error::from)? {
            self.events += 1;
            let at = raw.offset;
            dec.decode_each(
                fde,
                &raw,
                |e| Error::event(name, at)(e),
                |dec, inner, ev| self.event(dec, name, &raw, inner, ev),
            )?;
        }
        Ok(())
    }

    /// The incidents found, in binlog order.
    pub fn finish(self) -> Vec<Incident> {
        self.found
    }

    fn event(
        &mut self,
        dec: &Decoder,
        file: &str,
        outer: &RawEvent<'_>,
        raw: &RawEvent<'_>,
        ev: &Event<'_>,
    ) -> Result<(), Error> {
        let at = outer.offset;
        // Transactions as the server delimits them (crate::detect::groups); a new one resets what
        // is known of the transaction, a closed one ends its last statement.
        let before = self.groups.current().map(|o| o.start);
        let closed = self.groups.event(at, outer.end(), raw.header.timestamp, ev);
        let now = self.groups.current().map(|o| o.start);
        let opened = match (before, closed, now) {
            (None, Some(c), _) => Some(c.start),
            (_, _, Some(n)) if Some(n) != before => Some(n),
            _ => None,
        };
        if let Some(start) = opened {
            self.trx = Trx {
                file: file.to_owned(),
                position: start,
                ..Trx::default()
            };
        }
        self.trx.server_id = raw.header.server_id;
        self.trx.last_time = raw.header.timestamp;
        // The first file's list of earlier GTIDs says whether anything came before it.
        if self.from_start.is_none() {
            let first = lifeboat_binlog::BinlogPos::file_sequence(file) == Some(1);
            match ev {
                Event::PreviousGtids(l) => self.from_start = Some(first && l.is_empty()),
                Event::GtidList { gtids, .. } => self.from_start = Some(first && gtids.is_empty()),
                Event::FormatDescription(_) => {}
                _ => self.from_start = Some(false),
            }
        }
        if let Event::TableMap(m) = ev {
            let db = text(m.schema).to_lowercase();
            self.named
                .insert(format!("{db}.{}", text(m.table).to_lowercase()));
            self.named.insert(db);
        }
        match ev {
            Event::Gtid(g) => {
                self.trx.gtid = dec.gtid_text().map(str::to_owned);
                if let Some(us) = g.immediate_commit_us {
                    self.trx.time = Some(((us / 1_000_000) as u32, Some((us % 1_000_000) as u32)));
                }
            }
            Event::MariadbGtid(_) => {
                self.trx.gtid = dec.gtid_text().map(str::to_owned);
            }
            Event::Query(q) => {
                let session = q.session().ok();
                let micros = session.as_ref().and_then(|s| s.microseconds);
                let sql = String::from_utf8_lossy(&q.query);
                if sql.eq_ignore_ascii_case("BEGIN") || sql.eq_ignore_ascii_case("XA START") {
                    self.trx.thread_id = Some(q.thread_id);
                    if self.trx.time.is_none_or(|(_, m)| m.is_none()) {
                        self.trx.time = Some((raw.header.timestamp, micros));
                    }
                    return Ok(());
                }
                // A DDL or (STATEMENT format) DML statement.
                self.trx.thread_id = Some(q.thread_id);
                if self.opts.context > 0 && !is_commit(&sql) {
                    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                    let mut shown: String = one_line.chars().take(120).collect();
                    if one_line.chars().count() > 120 {
                        shown.push_str(" …");
                    }
                    self.trx.statements.push(shown);
                }
                let time = match self.trx.time {
                    Some((s, Some(m))) => (s, Some(m)),
                    _ => (raw.header.timestamp, micros),
                };
                let c = classify(&sql, &text(q.schema));
                let harmless = self.never_existed(&sql, &c);
                let schema = text(q.schema).to_lowercase();
                for n in crate::sql::statement::names(&sql, &schema) {
                    if let Some((db, _)) = n.split_once('.') {
                        self.named.insert(db.to_owned());
                    }
                    self.named.insert(n);
                }
                if !schema.is_empty() {
                    self.named.insert(schema);
                }
                let fk_off = session
                    .and_then(|s| s.flags2)
                    .is_some_and(|f| f & OPTION_NO_FOREIGN_KEY_CHECKS != 0);
                if let Some(kind) = incident_kind(&c.kind, None, self.opts.min_rows) {
                    let incident = Incident {
                        id: format!("{file}:{at}"),
                        kind,
                        time: time_text(time.0, time.1),
                        gtid: self.trx.gtid.clone(),
                        file: file.to_owned(),
                        position: at,
                        transaction_position: self.trx.position_or(at, file).1,
                        transaction_file: self.trx.position_or(at, file).0,
                        server_id: raw.header.server_id,
                        thread_id: Some(q.thread_id),
                        statement: Some(sql.to_string()),
                        tables: c.tables,
                        rows: BTreeMap::new(),
                        foreign_key_checks_off: fk_off,
                        transaction: Vec::new(),
                        before: Vec::new(),
                        after: Vec::new(),
                        harmless: harmless.clone(),
                    };
                    if harmless.is_some() {
                        self.harmless.push(incident);
                    } else {
                        self.record(incident, time.0);
                    }
                }
            }
            Event::AnnotateRows(q) | Event::RowsQuery(q) => {
                self.end_statement(file);
                self.trx.statement = Some(text(q));
            }
            Event::Rows(r) => self.rows(dec, file, at, raw, r)?,
            _ => {}
        }
        if closed.is_some() {
            self.end_statement(file);
            self.transactions += 1;
            if self.opts.context > 0 {
                self.closed_context();
            }
            self.trx = Trx::default();
        }
        Ok(())
    }

    /// A transaction closed: it is context for the incidents before and in it.
    fn closed_context(&mut self) {
        let n = self.trx.neighbor();
        for &i in &self.in_trx {
            if let Some(inc) = self.found.get_mut(i) {
                inc.transaction = n.what.clone();
            }
        }
        self.waiting.retain_mut(|(i, left)| {
            if let Some(inc) = self.found.get_mut(*i) {
                inc.after.push(n.clone());
            }
            *left -= 1;
            *left > 0
        });
        let context = self.opts.context;
        self.waiting
            .extend(self.in_trx.drain(..).map(|i| (i, context)));
        self.recent.push_back(n);
        while self.recent.len() > context {
            self.recent.pop_front();
        }
    }

    fn rows(
        &mut self,
        dec: &Decoder,
        file: &str,
        at: u64,
        raw: &RawEvent<'_>,
        r: &RowsEvent<'_>,
    ) -> Result<(), Error> {
        let Some(kind) = r.kind() else { return Ok(()) };
        if self.opts.context > 0
            && let Some(table) = dec.table(r.table_id)
        {
            let n = r.rows(table).map_err(Error::rows(file, at))?.count() as u64;
            let verb = kind.name();
            *self
                .trx
                .changes
                .entry((format!("{}.{}", table.schema, table.table), verb))
                .or_default() += n;
        }
        if kind == RowKind::Insert {
            if r.ends_statement() {
                self.end_statement(file);
            }
            return Ok(());
        }
        let Some(table) = dec.table(r.table_id) else {
            return Err(Error::Binlog {
                file: file.to_owned(),
                offset: Some(at),
                problem: format!(
                    "row event for table id {} without its TABLE_MAP",
                    r.table_id
                ),
            });
        };
        let n = r.rows(table).map_err(Error::rows(file, at))?.count() as u64;
        if self.trx.time.is_none() {
            self.trx.time = Some((raw.header.timestamp, None));
        }
        let key = (
            format!("{}.{}", table.schema, table.table),
            if kind == RowKind::Delete { 0 } else { 1 },
        );
        let e = self.trx.rows.entry(key).or_insert((0, at));
        e.0 += n;
        if r.ends_statement() {
            self.end_statement(file);
        }
        Ok(())
    }

    /// Closes the statement whose row events were counted: a destructive one is recorded.
    fn end_statement(&mut self, file: &str) {
        let rows = std::mem::take(&mut self.trx.rows);
        let statement = self.trx.statement.take();
        if rows.is_empty() {
            return;
        }
        let classified = statement.as_deref().map(|s| classify(s, ""));
        for ((table, kind), (n, first)) in rows {
            let is_delete = kind == 0;
            let stated = classified.as_ref().map(|c| &c.kind);
            let Some(incident) = incident_kind(
                &if is_delete {
                    Kind::Delete
                } else {
                    Kind::Update
                },
                Some((n, stated)),
                self.opts.min_rows,
            ) else {
                continue;
            };
            let (sec, micros) = self.trx.time.unwrap_or((0, None));
            let (trx_file, trx_pos) = self.trx.position_or(first, file);
            self.record(
                Incident {
                    id: format!("{file}:{first}"),
                    kind: incident,
                    time: time_text(sec, micros),
                    gtid: self.trx.gtid.clone(),
                    file: file.to_owned(),
                    position: first,
                    transaction_position: trx_pos,
                    transaction_file: trx_file,
                    server_id: self.trx.server_id,
                    thread_id: self.trx.thread_id,
                    statement: statement.clone(),
                    tables: vec![table.clone()],
                    rows: BTreeMap::from([(table, n)]),
                    foreign_key_checks_off: false,
                    transaction: Vec::new(),
                    before: Vec::new(),
                    after: Vec::new(),
                    harmless: None,
                },
                sec,
            );
        }
    }

    /// Why a `DROP … IF EXISTS` dropped nothing, when the binlogs prove it: they start at the
    /// server's first, and nothing before the statement named what it drops.
    fn never_existed(&self, sql: &str, c: &crate::sql::statement::Classified) -> Option<String> {
        use crate::sql::statement::Kind;
        if !matches!(c.kind, Kind::DropTable | Kind::DropDatabase) || self.from_start != Some(true)
        {
            return None;
        }
        let words: Vec<String> = sql
            .split_whitespace()
            .take(5)
            .map(str::to_ascii_lowercase)
            .collect();
        let if_exists = words.windows(2).any(|w| w[0] == "if" && w[1] == "exists");
        if !if_exists || c.tables.is_empty() {
            return None;
        }
        let unknown = c
            .tables
            .iter()
            .all(|t| !self.named.contains(&t.to_lowercase()));
        unknown.then(|| {
            format!(
                "IF EXISTS of {} that did not exist: the binlogs start at the server's first and nothing before named it",
                c.tables.join(", ")
            )
        })
    }

    fn record(&mut self, i: Incident, sec: u32) {
        let t = i64::from(sec);
        if self.opts.since.is_some_and(|s| t < s.as_second())
            || self.opts.until.is_some_and(|u| t >= u.as_second())
        {
            return;
        }
        let mut i = i;
        if self.opts.context > 0 {
            i.before = self.recent.iter().cloned().collect();
            self.in_trx.push(self.found.len());
        }
        self.found.push(i);
    }
}

impl Trx {
    /// Where the transaction starts, or `(file, at)` when no start was seen.
    fn position_or(&self, at: u64, file: &str) -> (String, u64) {
        if self.file.is_empty() {
            (file.to_owned(), at)
        } else {
            (self.file.clone(), self.position)
        }
    }
}

fn is_commit(sql: &str) -> bool {
    sql.eq_ignore_ascii_case("COMMIT") || sql.eq_ignore_ascii_case("ROLLBACK")
}

/// The incident kind for a statement kind; for row events, `rows` gives the count and the
/// statement's own kind (from its text) when known.
fn incident_kind(
    kind: &Kind,
    rows: Option<(u64, Option<&Kind>)>,
    min_rows: u64,
) -> Option<&'static str> {
    match (kind, rows) {
        (Kind::DropTable, None) => Some("drop_table"),
        (Kind::DropDatabase, None) => Some("drop_database"),
        (Kind::Truncate, None) => Some("truncate"),
        (Kind::DropColumn, None) => Some("drop_column"),
        (Kind::RenameOntoExisting, None) => Some("rename_onto_existing"),
        (Kind::DeleteWithoutWhere, None) => Some("delete_without_where"),
        (Kind::UpdateWithoutWhere, None) => Some("update_without_where"),
        (Kind::Delete, Some((_, Some(Kind::DeleteWithoutWhere)))) => Some("delete_without_where"),
        (Kind::Update, Some((_, Some(Kind::UpdateWithoutWhere)))) => Some("update_without_where"),
        (Kind::Delete, Some((n, _))) if n >= min_rows => Some("delete"),
        (Kind::Update, Some((n, _))) if n >= min_rows => Some("update"),
        _ => None,
    }
}

/// Scans local files, in the order given.
pub fn scan_files(files: &[std::path::PathBuf], opts: Options) -> Result<Scanned, Error> {
    let mut s = Scanner::new(opts);
    for f in files {
        let name = f.file_name().map_or_else(
            || f.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        s.scan_file(f, &name)?;
    }
    Ok(s.into())
}

/// Scans every archived binlog file of `server` in `repo`, one temporary copy at a time.
pub async fn scan_archive(
    repo: &Repository,
    server: &str,
    opts: Options,
) -> Result<Scanned, Error> {
    let coverage = crate::protect::archive::coverage(repo).await?;
    let Some(c) = coverage.into_iter().find(|c| c.server == server) else {
        return Err(Error::Missing {
            what: format!("archived binlogs of {server}"),
            within: "the repository".into(),
            hint: Some("`lifeboat archive` archives a server's binlogs"),
        });
    };
    let dir = tempfile::tempdir().map_err(|e| Error::in_file(&std::env::temp_dir(), e))?;
    let mut s = Scanner::new(opts);
    for f in &c.files {
        let path = dir.path().join(&f.file);
        let mut out = std::fs::File::create(&path).map_err(|e| Error::in_file(&path, e))?;
        crate::protect::archive::read_archived(repo, server, &f.file, &mut out).await?;
        drop(out);
        s.scan_file(&path, &f.file)?;
        let _ = std::fs::remove_file(&path);
    }
    let mut scanned: Scanned = s.into();
    scanned.gaps = c.gaps;
    Ok(scanned)
}

/// What a scan found.
#[derive(Debug, Serialize)]
pub struct Scanned {
    /// The incidents, in binlog order.
    pub incidents: Vec<Incident>,
    /// Transactions read.
    pub transactions: u64,
    /// Events read.
    pub events: u64,
    /// Holes in the archive (the scan cannot see what is in them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<String>,
    /// Destructive-looking statements that destroyed nothing (`DROP … IF EXISTS` of what did
    /// not exist), with why: not listed among the incidents.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub harmless: Vec<Incident>,
}

impl From<Scanner> for Scanned {
    fn from(mut s: Scanner) -> Self {
        let (transactions, events) = (s.transactions, s.events);
        let harmless = std::mem::take(&mut s.harmless);
        Scanned {
            incidents: s.finish(),
            transactions,
            events,
            gaps: Vec::new(),
            harmless,
        }
    }
}
