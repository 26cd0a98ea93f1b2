//! Replaying archived binlog events into a server lifeboat does not run, through one client
//! session.
//!
//! A side instance replays through its own replication SQL thread (see [`crate::recover::pitr`]). A
//! named server cannot be handed relay logs, so the events go to it as statements on one
//! session, run as its SQL thread would run them: row events as `BINLOG` statements (the
//! server decodes and applies the events itself: no value is rendered as text), QUERY events
//! as their own bytes after the session state they carry (charsets, sql_mode, time zone,
//! checks, auto-increment settings, pseudo thread id, timestamp, default database),
//! INTVAR/RAND/USER_VAR as the variables they set, GTIDs kept (MariaDB) or taken over
//! (MySQL). One session keeps temporary tables from one transaction to the next. Our own
//! statements of a transaction travel together in one round trip.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use lifeboat_binlog::{
    BinlogPos, Event, EventType, FileReader, Flavor, GtidSet, RawEvent, UserValue, UserVar,
};
use lifeboat_server::ConnectOptions;

use crate::target::guard::Vouched;
use lifeboat_server::replica::ReplicaConn;
use serde::Serialize;

use crate::error::Error;
use crate::progress::Progress;
use crate::protect::backup::{lit, q};

/// How to replay.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Only events that touch these tables (`db.table`); empty: all.
    pub tables: Vec<String>,
    /// Let the target give the replayed transactions its own GTIDs instead of the source's
    /// (MariaDB: for a target whose gtid_strict_mode would reject the source's sequence).
    pub new_gtids: bool,
}

/// What a replay did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// Events read in the replay range.
    pub events: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Where the replay ended: just past the last transaction applied.
    pub reached: BinlogPos,
    /// GTID of the last transaction applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_gtid: Option<String>,
}

/// A large transaction is sent in parts of about this many bytes or statements (bounded
/// memory; and the answers to a part must fit the socket buffers while it is written).
const FLUSH_BYTES: usize = 4 << 20;
const FLUSH_STATEMENTS: usize = 1000;

/// Flag bits of a QUERY event's `flags2` and the session variable each one stands for:
/// (bit, variable, value when the bit is set, MariaDB only). MariaDB's extra bits exist only
/// on its newer versions, so they are sent only when they differ from the default.
const FLAGS2: [(u32, &str, u8, bool); 8] = [
    (1 << 14, "sql_auto_is_null", 1, false),
    (1 << 19, "autocommit", 0, false),
    (1 << 26, "foreign_key_checks", 0, false),
    (1 << 27, "unique_checks", 0, false),
    (1 << 15, "check_constraint_checks", 0, true),
    (1 << 24, "explicit_defaults_for_timestamp", 1, true),
    (1 << 28, "sql_if_exists", 1, true),
    (1 << 30, "system_versioning_insert_history", 1, true),
];

/// The session state last sent, so that each event sends only what changed.
#[derive(Default)]
struct Session {
    thread_id: Option<u32>,
    flags2: Option<u32>,
    sql_mode: Option<u64>,
    auto_increment: Option<(u16, u16)>,
    charset: Option<(u16, u16, u16)>,
    time_zone: Option<String>,
    lc_time_names: u16,
    collation_database: Option<u16>,
    db: Option<Vec<u8>>,
}

/// Where a statement of a batch came from, to name it when the server rejects it.
#[derive(Clone)]
struct Origin {
    file: Arc<str>,
    offset: u64,
    event: &'static str,
}

/// The target as the replay found it.
struct TargetState {
    flavor: Flavor,
    /// gtid_strict_mode and binlog on: the source's GTIDs must come after the target's own.
    strict: bool,
    /// The target's binlog GTID position (MariaDB), per domain: the highest sequence number.
    binlog_seq: HashMap<u32, u64>,
    /// Largest statement the target takes.
    max_packet: usize,
}

struct Applier<'a> {
    conn: ReplicaConn,
    opts: &'a ApplyOptions,
    target: TargetState,
    session: Session,
    /// Table maps and row events of the statement being read, sent together at its end.
    rows: Vec<u8>,
    /// Statements waiting to be sent, back to back (`ends` says where each ends), and where
    /// each came from.
    batch: Vec<u8>,
    ends: Vec<usize>,
    origins: Vec<Origin>,
    /// Table ids of the current file whose table is not replayed (`--tables`).
    skipped_ids: HashSet<u64>,
    /// Filter, as lowercase `db.table`.
    wanted: HashSet<String>,
    /// Domains whose GTID order against the target's binlog was checked.
    checked_domains: HashSet<u32>,
    /// A MySQL transaction with GTID_NEXT set is open.
    gtid_next_set: bool,
    /// The MariaDB XA transaction of the current group, for XA PREPARE.
    xa: Option<(u32, Vec<u8>, Vec<u8>)>,
    /// Collation id → (charset, collation) names, for USER_VAR strings.
    collations: HashMap<u32, (String, String)>,
    events: u64,
    transactions: u64,
    last_gtid: Option<String>,
    gtid: Option<String>,
    reached: BinlogPos,
}

/// Replays `files` (in `staging`; the first from `start`, each up to its length) into the
/// server at `target`, which only the guard gives out: no replay reaches a server nobody
/// confirmed.
///
/// ```compile_fail
/// # async fn f(o: &lifeboat_server::ConnectOptions, a: &lifeboat_core::recover::pitr::session::ApplyOptions) {
/// // Plain connection options are not a target.
/// lifeboat_core::recover::pitr::session::replay(o, std::path::Path::new("."), &[], &"f:4".parse().unwrap(), a, std::sync::Arc::new(lifeboat_core::progress::Silent)).await;
/// # }
/// ```
pub async fn replay(
    target: &Vouched,
    staging: &Path,
    files: &[(String, u64)],
    start: &BinlogPos,
    opts: &ApplyOptions,
    progress: Arc<dyn Progress>,
) -> Result<Applied, Error> {
    let mut c = target.connect("replay binlogs into the server").await?;
    let (state, collations) = target_state(&mut c).await?;
    let _ = c.disconnect().await;
    let conn = ReplicaConn::connect(target.options())
        .await
        .map_err(Error::query("opening the replay session"))?;
    let mut a = Applier {
        conn,
        opts,
        target: state,
        session: Session::default(),
        rows: Vec::new(),
        batch: Vec::new(),
        ends: Vec::new(),
        origins: Vec::new(),
        skipped_ids: HashSet::new(),
        wanted: opts.tables.iter().map(|t| t.to_lowercase()).collect(),
        checked_domains: HashSet::new(),
        gtid_next_set: false,
        xa: None,
        collations,
        events: 0,
        transactions: 0,
        last_gtid: None,
        gtid: None,
        reached: start.clone(),
    };
    a.prepare().await?;
    let total: u64 = files
        .iter()
        .enumerate()
        .map(|(i, (_, len))| len.saturating_sub(if i == 0 { start.pos } else { 0 }))
        .sum();
    progress.start("replay", total);
    let t0 = Instant::now();
    for (i, (name, len)) in files.iter().enumerate() {
        let from = if i == 0 { start.pos } else { 0 };
        a.file(&staging.join(name), name, from, *len, &*progress, t0)
            .await?;
    }
    progress.finish();
    // The range ends on a transaction boundary: only session statements can be left.
    a.flush(true).await?;
    Ok(Applied {
        events: a.events,
        transactions: a.transactions,
        reached: a.reached,
        last_gtid: a.last_gtid,
    })
}

impl Applier<'_> {
    /// Sets up the session.
    async fn prepare(&mut self) -> Result<(), Error> {
        // As the replica's SQL thread: statements are the source's, not this session's.
        let mode: &[u8] = if self.target.flavor == Flavor::MariaDb {
            b"SET @@session.pseudo_slave_mode = 1"
        } else {
            b"SET @@session.pseudo_replica_mode = 1"
        };
        self.conn
            .pipeline(&[mode, b"SET NAMES binary"])
            .await
            .map_err(|(_, e)| Error::query("setting up the replay session")(e))?;
        Ok(())
    }

    async fn file(
        &mut self,
        path: &Path,
        name: &str,
        from: u64,
        len: u64,
        progress: &dyn Progress,
        t0: Instant,
    ) -> Result<(), Error> {
        let f = std::fs::File::open(path).map_err(|e| Error::in_file(path, e))?;
        let mut reader = FileReader::new(f, name.to_owned()).map_err(Error::from)?;
        let file: Arc<str> = name.into();
        self.skipped_ids.clear();
        let mut groups = crate::detect::groups::Groups::default();
        let mut done = from;
        while let Some((raw, fde)) = reader.next_with_format().map_err(Error::from)? {
            if raw.offset >= len {
                break;
            }
            let t = raw.event_type();
            if raw.offset < from && t != EventType::FormatDescription {
                continue;
            }
            let ev = Event::decode(fde, t, raw.data).map_err(Error::event(name, raw.offset))?;
            let mut closed = false;
            if let Event::TransactionPayload {
                compression,
                uncompressed_size,
                payload,
            } = &ev
            {
                // A compressed transaction (binlog_transaction_compression): its events go
                // as the server would apply them, each re-framed with the checksum the
                // format description announces (inside the payload they have none), and
                // they close the group at the payload's end.
                let bytes = lifeboat_binlog::events::payload_bytes(
                    *compression,
                    *uncompressed_size,
                    payload,
                )
                .map_err(|e| Error::event(name, raw.offset)(e))?;
                for item in lifeboat_binlog::events::payload_events(&bytes) {
                    let (header, data) = item.map_err(|e| Error::event(name, raw.offset)(e))?;
                    let it = header.event_type();
                    let framed = lifeboat_binlog::encode_event(&header, it, data, fde)
                        .map_err(Error::from)?;
                    let inner = RawEvent {
                        offset: raw.offset,
                        header: lifeboat_binlog::EventHeader {
                            event_size: u32::try_from(framed.len()).unwrap_or(u32::MAX),
                            ..header
                        },
                        bytes: &framed,
                        data,
                    };
                    let iev = Event::decode(fde, it, data)
                        .map_err(|e| Error::event(name, raw.offset)(e))?;
                    self.event(&file, &inner, &iev).await?;
                    closed |= groups
                        .event(raw.offset, raw.end(), raw.header.timestamp, &iev)
                        .is_some();
                }
            } else {
                self.event(&file, &raw, &ev).await?;
                closed = groups
                    .event(raw.offset, raw.end(), raw.header.timestamp, &ev)
                    .is_some();
            }
            if self.batch.len() >= FLUSH_BYTES || self.ends.len() >= FLUSH_STATEMENTS {
                // A large transaction: sent in parts, its COMMIT at the end.
                self.flush(false).await?;
            }
            if raw.offset < from {
                continue;
            }
            self.events += 1;
            if closed {
                // The transaction's COMMIT (or XA PREPARE) goes alone, only after every
                // statement before it succeeded: pipelined with them, it would commit a
                // partial transaction under the source's GTID after a failed statement, and
                // a retry would skip that GTID as done.
                self.flush(true).await?;
                // Queued: it goes ahead of the next transaction's statements.
                self.end_gtid_next(Origin {
                    file: file.clone(),
                    offset: raw.offset,
                    event: t.name(),
                });
                self.transactions += 1;
                self.reached = BinlogPos::new(name, raw.end());
                self.last_gtid = self.gtid.clone();
                if self.transactions.is_multiple_of(256) {
                    progress.advance(raw.end().saturating_sub(done), 0);
                    done = raw.end();
                    let secs = t0.elapsed().as_secs_f64().max(0.001);
                    progress.status(&format!(
                        "{} events ({:.0}/s), at {}",
                        self.events,
                        self.events as f64 / secs,
                        crate::detect::events::time_text(raw.header.timestamp)
                    ));
                }
            }
        }
        if let Some(open) = groups.current() {
            return Err(Error::Internal(format!(
                "{name}: the replay range ends inside the transaction that starts at {}",
                open.start
            )));
        }
        // Events between transactions (checkpoints, GTID lists) count as reached too.
        self.reached = BinlogPos::new(name, len.min(reader.offset()));
        progress.advance(len.saturating_sub(done), 0);
        Ok(())
    }

    /// Queues what one event needs (a statement from the source is sent at once).
    async fn event(
        &mut self,
        file: &Arc<str>,
        raw: &RawEvent<'_>,
        ev: &Event<'_>,
    ) -> Result<(), Error> {
        let at = |problem: String| Error::Binlog {
            file: file.to_string(),
            offset: Some(raw.offset),
            problem,
        };
        let origin = |event: &'static str| Origin {
            file: file.clone(),
            offset: raw.offset,
            event,
        };
        match ev {
            Event::FormatDescription(_) => {
                // The server decodes the BINLOG statements that follow with it.
                self.skipped_ids.clear();
                self.push_binlog(raw.bytes, origin("Format_desc"));
            }
            Event::MariadbGtid(g) => {
                self.gtid = Some(format!(
                    "{}-{}-{}",
                    g.domain_id, raw.header.server_id, g.seq_no
                ));
                if !self.opts.new_gtids {
                    self.check_order(g.domain_id, raw.header.server_id, g.seq_no)?;
                    self.push(
                        format!(
                            "SET @@session.gtid_domain_id = {}, @@session.server_id = {}, @@session.gtid_seq_no = {}",
                            g.domain_id, raw.header.server_id, g.seq_no
                        )
                        .as_bytes(),
                        origin("Gtid"),
                    );
                }
                self.xa = g.xa.clone();
                // A standalone group is its next statement; an XA one brings its own XA
                // statements.
                if !g.standalone() && !g.is_xa() {
                    self.push(b"BEGIN", origin("Gtid"));
                }
            }
            Event::Gtid(g) => {
                if g.sid == [0; 16] {
                    self.gtid = None;
                } else {
                    let sid = lifeboat_binlog::MySqlSid {
                        uuid: g.sid,
                        tag: g.tag.clone(),
                    };
                    let text = lifeboat_binlog::Gtid::MySql(lifeboat_binlog::MySqlGtid {
                        sid,
                        gno: g.gno,
                    })
                    .to_string();
                    self.gtid = Some(text.clone());
                    if self.opts.new_gtids {
                        // The target numbers it. Said each time: a format description applied
                        // by a BINLOG statement leaves gtid_next "not yet determined", which
                        // MySQL turns into ANONYMOUS at the next statement, and gtid_mode=ON
                        // refuses that (error 1782).
                        self.push(b"SET @@session.gtid_next = 'AUTOMATIC'", origin("Gtid"));
                    } else {
                        self.push(
                            format!("SET @@session.gtid_next = '{text}'").as_bytes(),
                            origin("Gtid"),
                        );
                        self.gtid_next_set = true;
                    }
                }
            }
            Event::Query(qe) => {
                let text: &[u8] = &qe.query;
                if !self.wanted_statement(text, qe.schema) {
                    // Transaction control always runs; the rest only for the wanted tables.
                    return Ok(());
                }
                let vars = qe.session().map_err(|source| Error::Truncated {
                    file: file.to_string(),
                    offset: raw.offset,
                    part: "status variables",
                    source,
                })?;
                self.session_state(qe, &vars, raw.header.timestamp, origin("Query"));
                self.push(text, origin("Query"));
                // Sent at once, and only after what it depends on succeeded: it may be a
                // COMMIT or DDL, which must not run after a failed statement.
                self.flush(true).await?;
            }
            Event::Intvar { kind, value } => {
                let var = if *kind == 1 {
                    "LAST_INSERT_ID"
                } else {
                    "INSERT_ID"
                };
                self.push(format!("SET {var} = {value}").as_bytes(), origin("Intvar"));
            }
            Event::Rand { seed1, seed2 } => {
                self.push(
                    format!("SET @@RAND_SEED1 = {seed1}, @@RAND_SEED2 = {seed2}").as_bytes(),
                    origin("Rand"),
                );
            }
            Event::Other {
                event_type: EventType::UserVar,
                data,
            } => {
                let v = UserVar::parse(data).map_err(Error::event(file, raw.offset))?;
                let stmt = self.user_var(&v);
                self.push(&stmt, origin("User_var"));
            }
            Event::TableMap(m) => {
                let name = format!(
                    "{}.{}",
                    String::from_utf8_lossy(m.schema),
                    String::from_utf8_lossy(m.table)
                )
                .to_lowercase();
                if !self.wanted.is_empty() && !self.wanted.contains(&name) {
                    self.skipped_ids.insert(m.table_id);
                } else {
                    self.skipped_ids.remove(&m.table_id);
                    self.rows.extend_from_slice(raw.bytes);
                }
            }
            Event::Rows(r) => {
                if !self.skipped_ids.contains(&r.table_id) {
                    self.rows.extend_from_slice(raw.bytes);
                }
                // STMT_END_F: the statement's last row event. The server forgets table maps
                // at the end of each BINLOG statement, so the maps and every row event of a
                // statement go in one.
                if r.ends_statement() && !self.rows.is_empty() {
                    let group = std::mem::take(&mut self.rows);
                    self.push_binlog(&group, origin("Rows"));
                    self.rows = group;
                    self.rows.clear();
                }
            }
            Event::Xid(_) => {
                self.push(b"COMMIT", origin("Xid"));
            }
            Event::Other {
                event_type: EventType::XaPrepare,
                data,
            } => {
                let one_phase = data.first().is_some_and(|b| *b != 0);
                let Some((fmt, gtrid, bqual)) = self.xa.take() else {
                    return Err(at(
                        "XA PREPARE without the XA transaction id in its GTID event".into(),
                    ));
                };
                let xid = format!(
                    "X'{}', X'{}', {fmt}",
                    hex::encode(gtrid),
                    hex::encode(bqual)
                );
                let stmt = if one_phase {
                    format!("XA COMMIT {xid} ONE PHASE")
                } else {
                    format!("XA PREPARE {xid}")
                };
                self.push(stmt.as_bytes(), origin("XA_prepare"));
            }
            Event::Incident { message, .. } => {
                return Err(at(format!(
                    "INCIDENT event ({}): the source lost events here; the replay cannot go past it",
                    String::from_utf8_lossy(message)
                )));
            }
            Event::Other { event_type, .. }
                if matches!(
                    event_type,
                    EventType::BeginLoadQuery
                        | EventType::ExecuteLoadQuery
                        | EventType::AppendBlock
                        | EventType::DeleteFile
                        | EventType::Load
                        | EventType::CreateFile
                        | EventType::ExecLoad
                        | EventType::NewLoad
                ) =>
            {
                return Err(at(format!(
                    "{} (LOAD DATA in statement format) cannot be replayed into a named server; restore into a side instance with --sandbox",
                    event_type.name()
                )));
            }
            // Rotate, Stop, GTID lists, checkpoints, ANNOTATE_ROWS, ROWS_QUERY, heartbeats:
            // nothing to run.
            _ => {}
        }
        Ok(())
    }

    /// Checks each domain's first GTID before anything of it is sent.
    fn check_order(&mut self, domain: u32, server: u32, seq: u64) -> Result<(), Error> {
        if !self.checked_domains.insert(domain) {
            return Ok(());
        }
        strict_order(&self.target, domain, server, seq)
    }

    /// MySQL: after a transaction run under GTID_NEXT, the session goes back to AUTOMATIC.
    fn end_gtid_next(&mut self, origin: Origin) {
        if std::mem::take(&mut self.gtid_next_set) {
            self.push(b"SET @@session.gtid_next = 'AUTOMATIC'", origin);
        }
    }

    /// Whether a QUERY event is replayed under `--tables`: transaction control always;
    /// anything else only when it names a wanted table.
    fn wanted_statement(&self, text: &[u8], schema: &[u8]) -> bool {
        if self.wanted.is_empty() || is_control(text) {
            return true;
        }
        let sql = String::from_utf8_lossy(text);
        let db = String::from_utf8_lossy(schema);
        let c = crate::sql::statement::classify(&sql, &db);
        if !c.tables.is_empty() {
            return c
                .tables
                .iter()
                .any(|t| self.wanted.contains(&t.to_lowercase()));
        }
        // Statements the classifier does not take apart: by the names they mention.
        let lower = sql.to_lowercase();
        self.wanted.iter().any(|w| {
            let table = w.rsplit('.').next().unwrap_or(w);
            lower.contains(table)
        })
    }

    /// Queues the session state a QUERY event ran with, where it differs from what was set.
    fn session_state(
        &mut self,
        qe: &lifeboat_binlog::events::Query<'_>,
        v: &lifeboat_binlog::events::StatusVars,
        timestamp: u32,
        origin: Origin,
    ) {
        let mut sets: Vec<String> = Vec::new();
        sets.push(match v.microseconds {
            Some(us) => format!("TIMESTAMP = {timestamp}.{us:06}"),
            None => format!("TIMESTAMP = {timestamp}"),
        });
        if self.session.thread_id != Some(qe.thread_id) {
            sets.push(format!("@@session.pseudo_thread_id = {}", qe.thread_id));
            self.session.thread_id = Some(qe.thread_id);
        }
        if let Some(f) = v.flags2 {
            let before = self.session.flags2;
            for (bit, var, when_set, mariadb_only) in FLAGS2 {
                if mariadb_only && self.target.flavor != Flavor::MariaDb {
                    continue;
                }
                let on = f & bit != 0;
                let was = before.map(|b| b & bit != 0);
                // MariaDB-only variables: sent when set, or when changing back.
                let send = match was {
                    Some(w) => w != on,
                    None => !mariadb_only || on,
                };
                if send {
                    let value = if on { when_set } else { 1 - when_set };
                    sets.push(format!("@@session.{var} = {value}"));
                }
            }
            self.session.flags2 = Some(f);
        }
        if let Some(m) = v.sql_mode
            && self.session.sql_mode != Some(m)
        {
            sets.push(format!("@@session.sql_mode = {m}"));
            self.session.sql_mode = Some(m);
        }
        if let Some((inc, off)) = v.auto_increment
            && self.session.auto_increment != Some((inc, off))
        {
            sets.push(format!(
                "@@session.auto_increment_increment = {inc}, @@session.auto_increment_offset = {off}"
            ));
            self.session.auto_increment = Some((inc, off));
        }
        if let Some((client, conn, server)) = v.charset
            && self.session.charset != Some((client, conn, server))
        {
            sets.push(format!(
                "@@session.character_set_client = {client}, @@session.collation_connection = {conn}, @@session.collation_server = {server}"
            ));
            self.session.charset = Some((client, conn, server));
        }
        if let Some(tz) = &v.time_zone
            && self.session.time_zone.as_ref() != Some(tz)
        {
            sets.push(format!("@@session.time_zone = {}", lit(tz)));
            self.session.time_zone = Some(tz.clone());
        }
        let lc = v.lc_time_names.unwrap_or(0);
        if lc != self.session.lc_time_names {
            sets.push(format!("@@session.lc_time_names = {lc}"));
            self.session.lc_time_names = lc;
        }
        if v.charset_database != self.session.collation_database {
            sets.push(match v.charset_database {
                Some(id) => format!("@@session.collation_database = {id}"),
                None => "@@session.collation_database = DEFAULT".into(),
            });
            self.session.collation_database = v.charset_database;
        }
        let set = format!("SET {}", sets.join(", "));
        self.push(set.as_bytes(), origin.clone());
        if !qe.schema.is_empty() && self.session.db.as_deref() != Some(qe.schema) {
            let db = format!("USE {}", q(&String::from_utf8_lossy(qe.schema)));
            self.push(db.as_bytes(), origin);
            self.session.db = Some(qe.schema.to_vec());
        }
    }

    /// `SET @name := value` for a USER_VAR event.
    fn user_var(&self, v: &UserVar<'_>) -> Vec<u8> {
        let name = q(&String::from_utf8_lossy(v.name));
        let value = match &v.value {
            UserValue::Null => "NULL".to_owned(),
            UserValue::String { collation, bytes } => match self.collations.get(collation) {
                Some((cs, co)) => format!("_{cs} X'{}' COLLATE {}", hex::encode(bytes), q(co)),
                None => format!("_binary X'{}'", hex::encode(bytes)),
            },
            UserValue::Real(f) => format!("{f:e}"),
            UserValue::Int { value, unsigned } => {
                if *unsigned {
                    (*value as u64).to_string()
                } else {
                    value.to_string()
                }
            }
            UserValue::Decimal(d) => d.clone(),
        };
        format!("SET @{name} := {value}").into_bytes()
    }

    /// Queues `BINLOG '…'` for whole events.
    fn push_binlog(&mut self, event: &[u8], origin: Origin) {
        let mut s = Vec::with_capacity(event.len() * 4 / 3 + 16);
        s.extend_from_slice(b"BINLOG '");
        let at = s.len();
        s.resize(at + base64::encoded_len(event.len(), true).unwrap_or(0), 0);
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(event, s.get_mut(at..).unwrap_or_default())
            .unwrap_or(0);
        s.truncate(at + n);
        s.push(b'\'');
        self.push(&s, origin);
    }

    fn push(&mut self, stmt: &[u8], origin: Origin) {
        self.batch.extend_from_slice(stmt);
        self.ends.push(self.batch.len());
        self.origins.push(origin);
    }

    /// Sends the queued statements without waiting for each answer. With `last_alone`, the
    /// last one (a COMMIT, DDL, a statement from the source) goes only after the others
    /// succeeded.
    async fn flush(&mut self, last_alone: bool) -> Result<(), Error> {
        if self.ends.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let mut stmts: Vec<&[u8]> = Vec::with_capacity(self.ends.len());
        let mut at = 0;
        for &end in &self.ends {
            stmts.push(batch.get(at..end).unwrap_or_default());
            at = end;
        }
        if let Some(i) = stmts.iter().position(|s| s.len() > self.target.max_packet) {
            let o = self.origins.get(i);
            let err = Error::Unprepared {
                server: "the target".into(),
                problem: format!(
                    "the {} event at {}:{} needs a statement of {} bytes, over its max_allowed_packet ({}); it holds every transaction up to {}",
                    o.map_or("", |o| o.event),
                    o.map_or("", |o| &*o.file),
                    o.map_or(0, |o| o.offset),
                    stmts.get(i).map_or(0, |s| s.len()),
                    self.target.max_packet,
                    self.reached
                ),
                hint: "SET GLOBAL max_allowed_packet = 1073741824 on it and run again".into(),
            };
            drop(stmts);
            self.batch.clear();
            self.ends.clear();
            self.origins.clear();
            let _ = self.conn.pipeline(&[b"ROLLBACK"]).await;
            return Err(err);
        }
        let split = if last_alone {
            stmts.len() - 1
        } else {
            stmts.len()
        };
        let (first, last) = stmts.split_at(split);
        let mut result = Ok(());
        if !first.is_empty() {
            result = self.conn.pipeline(first).await;
        }
        if result.is_ok() && !last.is_empty() {
            result = self.conn.pipeline(last).await.map_err(|(_, e)| (split, e));
        }
        drop(stmts);
        self.batch = batch;
        self.batch.clear();
        self.ends.clear();
        match result {
            Ok(()) => {
                self.origins.clear();
                Ok(())
            }
            Err((i, e)) => Err(self.failed(i, e).await),
        }
    }

    async fn failed(&mut self, done: usize, e: lifeboat_server::replica::ReplicaError) -> Error {
        let at = self
            .origins
            .get(done)
            .map(|o| format!("{}:{} ({} event)", o.file, o.offset, o.event))
            .unwrap_or_else(|| "the end of the range".into());
        self.origins.clear();
        let _ = self.conn.pipeline(&[b"ROLLBACK"]).await;
        Error::Replay {
            at,
            reached: self.reached.to_string(),
            source: e,
        }
    }
}

/// Reads the target's flavor, packet limit, GTID strictness and collations.
async fn target_state(
    c: &mut mysql_async::Conn,
) -> Result<(TargetState, HashMap<u32, (String, String)>), Error> {
    use mysql_async::prelude::Queryable;
    let sql = |what: &'static str| Error::sql(what);
    let version: String = c
        .query_first("SELECT VERSION()")
        .await
        .map_err(sql("VERSION()"))?
        .unwrap_or_default();
    let mut t = TargetState {
        flavor: if version.to_ascii_lowercase().contains("mariadb") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        },
        strict: false,
        binlog_seq: HashMap::new(),
        max_packet: 16 << 20,
    };
    let max: Option<u64> = c
        .query_first("SELECT @@max_allowed_packet")
        .await
        .map_err(sql("max_allowed_packet"))?;
    t.max_packet = max.map_or(16 << 20, |m| m as usize);
    if t.flavor == Flavor::MariaDb {
        let row: Option<(u8, u8, String)> = c
            .query_first("SELECT @@log_bin, @@gtid_strict_mode, @@gtid_binlog_pos")
            .await
            .map_err(sql("gtid_strict_mode"))?;
        if let Some((log_bin, strict, pos)) = row {
            t.strict = log_bin == 1 && strict == 1;
            for g in pos.split(',').filter(|g| !g.trim().is_empty()) {
                let parts: Vec<&str> = g.trim().split('-').collect();
                if let [d, _, s] = parts.as_slice()
                    && let (Ok(d), Ok(s)) = (d.parse::<u32>(), s.parse::<u64>())
                {
                    let e = t.binlog_seq.entry(d).or_default();
                    *e = (*e).max(s);
                }
            }
        }
    }
    let rows: Vec<(u32, String, String)> = c
        .query("SELECT ID, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL")
        .await
        .map_err(sql("information_schema.COLLATIONS"))?;
    Ok((
        t,
        rows.into_iter()
            .map(|(id, cs, co)| (id, (cs, co)))
            .collect(),
    ))
}

/// Before anything is written: whether the target would refuse or skip the replay's GTIDs.
/// MariaDB under gtid_strict_mode refuses a GTID not after its binlog's; MySQL silently
/// skips a transaction whose GTID it executed already (DESIGN.md trap), so a target holding
/// any GTID of the range (the source itself, a second replay into one target) is refused:
/// the replay would be short without a word.
pub async fn preflight(
    target: &ConnectOptions,
    staging: &Path,
    files: &[(String, u64)],
    start: &BinlogPos,
    opts: &ApplyOptions,
) -> Result<(), Error> {
    if opts.new_gtids {
        return Ok(());
    }
    let mut c = lifeboat_server::connect(target).await?;
    let (state, _) = target_state(&mut c).await?;
    let _ = c.disconnect().await;
    let executed = match state.flavor {
        Flavor::MariaDb if !state.strict => return Ok(()),
        Flavor::MariaDb => None,
        Flavor::MySql => {
            let mut c = lifeboat_server::connect(target).await?;
            let text: Option<String> = mysql_async::prelude::Queryable::query_first(
                &mut c,
                "SELECT @@GLOBAL.gtid_executed",
            )
            .await
            .map_err(Error::sql("gtid_executed"))?;
            let _ = c.disconnect().await;
            let set = GtidSet::parse(Flavor::MySql, &text.unwrap_or_default().replace('\n', ""))
                .map_err(|source| Error::Gtid {
                    what: "the target's gtid_executed",
                    source,
                })?;
            if set.is_empty() {
                return Ok(());
            }
            Some(set)
        }
    };
    let mut held: Option<(String, u64)> = None;
    let mut count = 0u64;
    for (i, (name, len)) in files.iter().enumerate() {
        let path = staging.join(name);
        let f = std::fs::File::open(&path).map_err(|e| Error::in_file(&path, e))?;
        let mut reader = FileReader::new(f, name.to_owned()).map_err(Error::from)?;
        let from = if i == 0 { start.pos } else { 0 };
        while let Some((raw, fde)) = reader.next_with_format().map_err(Error::from)? {
            if raw.offset >= *len {
                break;
            }
            let t = raw.event_type();
            if raw.offset < from || !matches!(t, EventType::Gtid | EventType::MariadbGtid) {
                continue;
            }
            let ev =
                Event::decode(fde, t, raw.data).map_err(|e| Error::event(name, raw.offset)(e))?;
            match (&executed, ev) {
                (None, Event::MariadbGtid(g)) => {
                    return strict_order(&state, g.domain_id, raw.header.server_id, g.seq_no);
                }
                (Some(set), Event::Gtid(g)) if g.sid != [0; 16] => {
                    let gtid = lifeboat_binlog::Gtid::MySql(lifeboat_binlog::MySqlGtid {
                        sid: lifeboat_binlog::MySqlSid {
                            uuid: g.sid,
                            tag: g.tag.clone(),
                        },
                        gno: g.gno,
                    });
                    if set.contains(&gtid) {
                        count += 1;
                        held.get_or_insert((gtid.to_string(), raw.offset));
                    }
                }
                _ => {}
            }
        }
    }
    match held {
        Some((gtid, _)) => Err(Error::Refused(crate::target::guard::Refusal::Unsafe {
            action: "replay the binlogs into this server".into(),
            reason: format!(
                "it has executed {count} of the range's transactions already (the first: {gtid}), and MySQL skips a transaction whose GTID it holds without a word, so the result would be short; add --new-gtids (the target gives the replayed transactions its own GTIDs), or restore into a server that holds none of them (a side instance with --sandbox)"
            ),
        })),
        None => Ok(()),
    }
}

/// Under gtid_strict_mode, MariaDB refuses a GTID not after the last one of its domain in
/// the target's binlog.
fn strict_order(t: &TargetState, domain: u32, server: u32, seq: u64) -> Result<(), Error> {
    match t.binlog_seq.get(&domain) {
        Some(&have) if t.strict && have >= seq => Err(Error::Unprepared {
            server: "the target".into(),
            problem: format!(
                "it runs with gtid_strict_mode and its binlog is at sequence {have} in domain {domain}; the source's transactions start at {domain}-{server}-{seq} and would be refused; nothing was changed"
            ),
            hint: "add --new-gtids (the target numbers them itself), or SET GLOBAL gtid_strict_mode = 0 for the replay".into(),
        }),
        _ => Ok(()),
    }
}

/// BEGIN, COMMIT, ROLLBACK, SAVEPOINT, XA …: transaction control.
fn is_control(text: &[u8]) -> bool {
    let t = text.trim_ascii_start();
    let starts = |w: &[u8]| t.get(..w.len()).is_some_and(|p| p.eq_ignore_ascii_case(w));
    starts(b"BEGIN")
        || starts(b"COMMIT")
        || starts(b"ROLLBACK")
        || starts(b"SAVEPOINT")
        || starts(b"RELEASE SAVEPOINT")
        || starts(b"XA ")
}
