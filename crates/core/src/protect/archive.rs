//! Continuous binlog archiving: `lifeboat archive --follow|--once`, `--from-dir`, and the
//! coverage report of `lifeboat binlogs`.
//!
//! The archiver connects as a replica and stores the server's binlog files byte for byte in
//! the repository, in segments. Its position is what the repository holds: the contiguous run
//! of recorded segments of the newest file. A segment is durable (data, then record) before
//! anything after it is written, so a crash of the archiver, the server or the connection
//! resumes at the last durable byte with no gap and no duplicate.
//!
//! An event is appended only when it starts exactly where the archived file ends (its
//! `log_pos` minus its size); artificial events of the dump (the first ROTATE, a repeated
//! format description, heartbeats) never match and are skipped.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lifeboat_binlog::frame::IN_USE_FLAG_OFFSET;
use lifeboat_binlog::{BinlogPos, Decoder, End, EventHeader, EventType, FileReader, Flavor};
use lifeboat_repo::{FileIndex, Gap, Repository, server_key};
use lifeboat_server::replica::{DumpItem, ReplicaConn, ReplicaError};
use lifeboat_server::{ConnectOptions, ServerInfo, connect};
use mysql_async::prelude::Queryable;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::Error;

const MAGIC: [u8; 4] = [0xfe, b'b', b'i', b'n'];
/// A segment is cut at this size even within the flush interval.
const SEGMENT_MAX: usize = 8 << 20;
/// Whether an event of this type code ends a binlog file (ROTATE or STOP).
fn ends_file(type_code: Option<u8>) -> bool {
    type_code
        .is_some_and(|c| matches!(EventType::from_code(c), EventType::Rotate | EventType::Stop))
}

/// How `archive` runs.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// Stop at the end of what the server has (instead of following it).
    pub once: bool,
    /// Longest time a received event waits before it is durable.
    pub flush_interval: Duration,
    /// Heartbeat period asked from the server; three missed periods count as a dead link.
    pub heartbeat: Duration,
    /// `server_id` this replica registers with.
    pub replica_server_id: u32,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        Self {
            once: false,
            flush_interval: Duration::from_secs(1),
            heartbeat: Duration::from_secs(1),
            replica_server_id: 0,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Server key in the repository.
    pub server: String,
    /// Bytes stored by this run.
    pub bytes: u64,
    /// Segments stored by this run.
    pub segments: u64,
    /// Files this run completed (indexed).
    pub files_completed: Vec<String>,
    /// The archive now reaches this file…
    pub file: Option<String>,
    /// …and this offset.
    pub position: u64,
    /// Gaps found by this run.
    pub gaps: Vec<Gap>,
    /// Times the connection was re-established.
    pub reconnects: u64,
}

/// Progress notes for the terminal (reconnects, files completed, gaps).
pub(crate) type Notes = crate::context::Notes;

/// The binlog sequence number of a file name (`binlog.000042` → 42).
pub(crate) fn seq_of(file: &str) -> Option<u64> {
    BinlogPos::file_sequence(file)
}

fn base_of(file: &str) -> &str {
    file.rsplit_once('.').map_or(file, |(b, _)| b)
}

/// The archive of one server as the repository has it.
struct State {
    /// Archived bytes per file (contiguous from 0).
    sizes: BTreeMap<String, u64>,
    /// Files with an index (complete).
    closed: std::collections::BTreeSet<String>,
}

impl State {
    async fn load(repo: &Repository, server: &str) -> Result<State, Error> {
        let mut sizes = BTreeMap::new();
        for seg in repo.segments(server).await? {
            let end = sizes.entry(seg.file.clone()).or_insert(0u64);
            if seg.start == *end {
                *end = seg.end;
            }
        }
        let closed = repo
            .file_indexes(server)
            .await?
            .into_iter()
            .map(|i| i.file)
            .collect();
        Ok(State { sizes, closed })
    }

    /// The newest archived file (by sequence number).
    fn newest(&self) -> Option<(&String, u64)> {
        self.sizes
            .iter()
            .max_by_key(|(f, _)| (seq_of(f), (*f).clone()))
            .map(|(f, s)| (f, *s))
    }
}

fn now_text() -> String {
    jiff::Timestamp::now().to_string()
}

/// Where the dump starts, given the archive and the server's files; records gaps.
async fn start_point(
    repo: &Repository,
    server: &str,
    state: &State,
    on_server: &[(String, u64)],
    out: &mut Outcome,
    notes: &Notes,
) -> Result<Option<(String, u64)>, Error> {
    let Some(first) = on_server.first() else {
        return Err(Error::Unprepared {
            server: server.to_owned(),
            problem: "SHOW BINARY LOGS lists no file".into(),
            hint: "the server must run with log_bin on".into(),
        });
    };
    let Some((last, size)) = state.newest() else {
        return Ok(Some((first.0.clone(), 0)));
    };
    let present = |f: &str| on_server.iter().any(|(n, _)| n == f);
    let later: Vec<&(String, u64)> = on_server
        .iter()
        .filter(|(n, _)| seq_of(n) > seq_of(last) && base_of(n) == base_of(last))
        .collect();
    if !state.closed.contains(last) && present(last) {
        return Ok(Some((last.clone(), size)));
    }
    // The newest archived file is complete (or gone): continue with its successor.
    let Some(next) = later.first() else {
        if state.closed.contains(last) {
            return Ok(None); // nothing newer yet
        }
        return Ok(Some((first.0.clone(), 0)));
    };
    let successor = seq_of(last).map(|n| n + 1);
    let complete = state.closed.contains(last);
    if !complete || seq_of(&next.0) != successor {
        let gap = Gap {
            server: server.to_owned(),
            after_file: Some(last.clone()),
            after_pos: size,
            next_file: Some(next.0.clone()),
            reason: match (complete, seq_of(&next.0) == successor) {
                (true, _) => format!(
                    "binlog files after {last} and before {} were purged on the server before they were archived",
                    next.0
                ),
                (false, true) => format!(
                    "{last} was purged on the server before it was archived past offset {size}"
                ),
                (false, false) => format!(
                    "{last} was purged on the server before it was archived past offset {size}; so were the files after it and before {}",
                    next.0
                ),
            },
            recorded_at: now_text(),
        };
        if !repo
            .gaps(server)
            .await?
            .iter()
            .any(|g| g.after_file == gap.after_file && g.after_pos == gap.after_pos)
        {
            repo.put_gap(&gap).await?;
            notes(&format!("GAP: {}", gap.reason));
            out.gaps.push(gap);
        }
    }
    Ok(Some((next.0.clone(), 0)))
}

async fn server_files(conn: &mut mysql_async::Conn) -> Result<Vec<(String, u64)>, Error> {
    let rows: Vec<mysql_async::Row> = conn
        .query("SHOW BINARY LOGS")
        .await
        .map_err(Error::sql("listing the server's binary logs"))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let name: Option<String> = r.get(0);
            let size: Option<u64> = r.get(1);
            Some((name?, size.unwrap_or(0)))
        })
        .collect())
}

/// The file being received: its name, how much of it is durable, and what is buffered.
struct Open {
    file: String,
    durable: u64,
    buf: Vec<u8>,
    first_buffered: Option<Instant>,
    /// Wall-clock time of `first_buffered`, ms since the epoch.
    first_received_ms: i64,
    last_event_time: u32,
    /// Its last event (ROTATE or STOP) is in and it is indexed.
    closed: bool,
    /// How long the last segment took to store: a flush starts that much before the
    /// interval ends, so data is durable within the interval, not just handed over.
    put_cost: Duration,
}

impl Open {
    fn end(&self) -> u64 {
        self.durable + self.buf.len() as u64
    }
}

async fn flush(
    repo: &Repository,
    server: &str,
    open: &mut Open,
    out: &mut Outcome,
) -> Result<(), Error> {
    if open.buf.is_empty() {
        return Ok(());
    }
    let bytes = std::mem::take(&mut open.buf);
    let n = bytes.len() as u64;
    let t0 = Instant::now();
    let seg = repo
        .put_segment(
            server,
            &open.file,
            open.durable,
            bytes,
            open.last_event_time,
            open.first_received_ms,
        )
        .await?;
    open.put_cost = t0.elapsed();
    open.durable = seg.end;
    open.first_buffered = None;
    open.first_received_ms = 0;
    out.bytes += n;
    out.segments += 1;
    out.file = Some(open.file.clone());
    out.position = open.durable;
    Ok(())
}

/// Indexes a file the server has moved on from, and says so. Returns its size.
async fn complete(
    repo: &Repository,
    server: &str,
    file: &str,
    out: &mut Outcome,
    notes: &Notes,
) -> Result<u64, Error> {
    let idx = index_file(repo, server, file).await?;
    notes(&format!(
        "{file} complete: {} bytes, {} events",
        idx.size, idx.span.events
    ));
    out.files_completed.push(file.to_owned());
    Ok(idx.size)
}

/// Reads a complete archived file back from the repository, checks it, and writes its index.
pub async fn index_file(repo: &Repository, server: &str, file: &str) -> Result<FileIndex, Error> {
    let segs = repo.file_segments(server, file).await?;
    // Segments arrive through a small channel, one at a time: a 1 GiB binlog is never
    // held whole in memory.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<u8>, Error>>(2);
    let repo2 = repo.clone();
    let feeder = tokio::spawn(async move {
        let mut end = 0u64;
        for s in segs {
            if s.start != end {
                let _ = tx.send(Err(Error::Binlog {
                    file: s.file.clone(),
                    offset: Some(end),
                    problem: format!(
                        "the archive's segments are not contiguous (next at {})",
                        s.start
                    ),
                }));
                return;
            }
            end = s.end;
            let r = repo2.read_segment(&s).await.map_err(Error::from);
            let failed = r.is_err();
            if tx.send(r).is_err() || failed {
                return;
            }
        }
    });
    let name = file.to_owned();
    let server2 = server.to_owned();
    let index =
        tokio::task::spawn_blocking(move || summarize(&server2, &name, ChannelReader::new(rx)))
            .await
            .map_err(Error::from)??;
    let _ = feeder.await;
    repo.put_file_index(&index).await?;
    Ok(index)
}

struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Result<Vec<u8>, Error>>,
    cur: Vec<u8>,
    at: usize,
}

impl ChannelReader {
    fn new(rx: std::sync::mpsc::Receiver<Result<Vec<u8>, Error>>) -> Self {
        Self {
            rx,
            cur: Vec::new(),
            at: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(v)) => {
                    self.cur = v;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(std::io::Error::other(e)),
                Err(_) => return Ok(0),
            }
        }
        let rest = self.cur.get(self.at..).unwrap_or_default();
        let n = rest.len().min(out.len());
        out.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(rest.get(..n).unwrap_or_default());
        self.at += n;
        Ok(n)
    }
}

/// Hashes what passes through.
struct Hashing<R> {
    inner: R,
    sha: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        let chunk = out.get(..n).unwrap_or_default();
        // The hash is of the file as a server leaves it when it closes it: the format
        // description's in-use flag cleared, whether or not it was set when archived.
        let flag = IN_USE_FLAG_OFFSET
            .checked_sub(self.size)
            .map(|i| i as usize);
        match flag.filter(|&i| i < n) {
            Some(i) => {
                let mut copy = chunk.to_vec();
                if let Some(b) = copy.get_mut(i) {
                    lifeboat_binlog::frame::set_in_use(b, false);
                }
                self.sha.update(&copy);
            }
            None => self.sha.update(chunk),
        }
        self.size += n as u64;
        Ok(n)
    }
}

/// Reads a binlog file (every checksum verified, every event and row decoded) and describes
/// it. Problems inside events (an INCIDENT, an undecodable row) do not stop it: the bytes are
/// archived whatever they hold, and `binlog verify --repo` reports them.
fn summarize(server: &str, file: &str, src: impl Read) -> Result<FileIndex, Error> {
    summarize_with_last(server, file, src).map(|(i, _)| i)
}

/// [`summarize`], also giving the type of the last complete event.
fn summarize_with_last(
    server: &str,
    file: &str,
    src: impl Read,
) -> Result<(FileIndex, Option<u8>), Error> {
    let mut hashing = Hashing {
        inner: src,
        sha: Sha256::new(),
        size: 0,
    };
    let mut walk = crate::detect::events::Walk::new(file);
    walk.keep_going = true;
    let (truncated, v, last_type) = {
        let mut reader = FileReader::new(&mut hashing, file).map_err(Error::from)?;
        let mut dec = Decoder::new();
        while let Some((raw, fde)) = reader.next_with_format().map_err(Error::from)? {
            walk.raw_event(&mut dec, fde, &raw);
        }
        let truncated = matches!(reader.end(), Some(End::Truncated { .. }));
        let last_type = walk.last_type;
        let (v, _) = walk.finish(&dec);
        (truncated, v, last_type)
    };
    // Drain whatever the reader did not consume (a truncated tail) into the hash.
    std::io::copy(&mut hashing, &mut std::io::sink())
        .map_err(|e| Error::in_file(Path::new(file), e))?;
    let idx = FileIndex {
        server: server.to_owned(),
        file: file.to_owned(),
        size: hashing.size,
        sha256: hex::encode(hashing.sha.finalize()),
        server_version: v.server.unwrap_or_default(),
        span: v.span,
        truncated,
        closed_cleanly: !truncated && ends_file(last_type),
    };
    Ok((idx, last_type))
}

/// A replica id unlikely to clash with real replicas, stable for a server and repository
/// (a second archiver with the same id makes the server drop the first: never two writers).
fn default_replica_id(server: &str, repo: &Repository) -> u32 {
    let mut h = Sha256::new();
    h.update(server.as_bytes());
    h.update(repo.location().as_bytes());
    let d = h.finalize();
    0xF000_0000 | u32::from_le_bytes([d[0], d[1], d[2], 0]) & 0x0fff_ffff
}

/// Archives the server's binlogs into `repo`: everything not archived yet, then (unless
/// `once`) whatever it writes, reconnecting after errors. Returns when `once` reaches the
/// end, or on an error that reconnecting cannot fix.
pub async fn run(
    target: &ConnectOptions,
    repo: &Repository,
    opts: &ArchiveOptions,
    ctx: &crate::Context,
) -> Result<Outcome, Error> {
    let notes = ctx.notes();
    let mut conn = connect(target).await?;
    let info = ServerInfo::probe(&mut conn).await?;
    let _ = conn.disconnect().await;
    if !info.binlog.enabled {
        return Err(Error::Unprepared {
            server: target.endpoint.to_string(),
            problem: "log_bin is off: there is no binary log to archive".into(),
            hint: "start the server with log_bin on (MySQL 8.0 and later have it on by default)"
                .into(),
        });
    }
    let server = server_key(&info.identity.id());
    // Caught before the lock is taken, so no signal ends the process holding it.
    let mut interrupts = ctx.interrupts();
    let lock = archive_lock(repo, &server, &notes).await?;
    // An interrupt stops archiving as a crash would (the archive is durable up to its last
    // flush, and the next run resumes there), but the lock is released: no stale lock for
    // the next archiver to report.
    let result = tokio::select! {
        r = follow(target, repo, opts, &notes, &info, server) => r,
        signal = crate::interrupt::of(&mut interrupts) => Err(Error::interrupted(
            signal,
            "run the same command again: it goes on from the last durable byte",
        )),
    };
    lock.release().await?;
    result
}

/// Holds the archive lock of one server's binlogs: one archiver per server and repository.
/// A lock left by an archiver on this host whose process is gone is taken over, and said so.
async fn archive_lock(
    repo: &Repository,
    server: &str,
    notes: &Notes,
) -> Result<lifeboat_repo::LockGuard, Error> {
    let (guard, taken_over) = repo
        .lock_scope("archive", Some(&format!("archive:{server}")), true)
        .await?;
    for l in taken_over {
        notes(&format!(
            "took over the archive lock of a process that is gone: {l}"
        ));
    }
    Ok(guard)
}

async fn follow(
    target: &ConnectOptions,
    repo: &Repository,
    opts: &ArchiveOptions,
    notes: &Notes,
    info: &ServerInfo,
    server: String,
) -> Result<Outcome, Error> {
    let mut out = Outcome {
        server: server.clone(),
        ..Outcome::default()
    };
    let replica_id = if opts.replica_server_id != 0 {
        opts.replica_server_id
    } else {
        default_replica_id(&server, repo)
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        match session(
            target, repo, &server, info, replica_id, opts, &mut out, notes,
        )
        .await
        {
            Ok(()) => return Ok(out),
            Err(e) if opts.once => return Err(e),
            Err(e) => {
                notes(&format!(
                    "connection lost ({e}); reconnecting in {} ms",
                    backoff.as_millis()
                ));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                out.reconnects += 1;
            }
        }
    }
}

/// One connection's worth of archiving. `Ok` only when `once` reached the end.
#[allow(clippy::too_many_arguments)]
async fn session(
    target: &ConnectOptions,
    repo: &Repository,
    server: &str,
    info: &ServerInfo,
    replica_id: u32,
    opts: &ArchiveOptions,
    out: &mut Outcome,
    notes: &Notes,
) -> Result<(), Error> {
    let mut conn = connect(target).await?;
    let files = server_files(&mut conn).await?;
    let alg: Option<String> = conn
        .query_first("SELECT @@global.binlog_checksum")
        .await
        .map_err(Error::sql("reading binlog_checksum"))?;
    let checksums = alg.is_some_and(|a| !a.eq_ignore_ascii_case("NONE"));
    let _ = conn.disconnect().await;
    let state = State::load(repo, server).await?;
    // A file the archive has but never completed, now followed by newer ones on the server:
    // the server moved on (a restart); index it before going on.
    let Some((file, pos)) = start_point(repo, server, &state, &files, out, notes).await? else {
        return if opts.once {
            Ok(())
        } else {
            Err(Error::Binlog {
                file: server.to_owned(),
                offset: None,
                problem: "every binary log is archived; waiting for a new one".into(),
            })
        };
    };
    if let Some((last, _)) = state.newest()
        && *last != file
        && !state.closed.contains(last)
        && state.sizes.get(last).is_some_and(|&s| s > 0)
    {
        complete(repo, server, last, out, notes).await?;
    }

    let mut rc = ReplicaConn::connect(target)
        .await
        .map_err(Error::query("connecting for the binlog dump"))?;
    let mariadb = info.flavor == Flavor::MariaDb;
    let rerr = |e| Error::query("the binlog dump")(e);
    rc.execute("SET @master_binlog_checksum = @@global.binlog_checksum")
        .await
        .map_err(rerr)?;
    if !mariadb {
        // MySQL 8.0.26+ names it source_…; older versions only know master_….
        let _ = rc
            .execute("SET @source_binlog_checksum = @@global.binlog_checksum")
            .await;
    }
    let period_ns = opts.heartbeat.as_nanos() as u64;
    rc.execute(&format!("SET @master_heartbeat_period = {period_ns}"))
        .await
        .map_err(rerr)?;
    if !mariadb {
        let _ = rc
            .execute(&format!("SET @source_heartbeat_period = {period_ns}"))
            .await;
    }
    if mariadb {
        rc.execute("SET @mariadb_slave_capability = 4")
            .await
            .map_err(rerr)?;
    }
    rc.register(replica_id).await.map_err(rerr)?;
    let flags = u16::from(opts.once) | if mariadb { 2 } else { 0 };
    rc.dump(&file, pos.max(4) as u32, replica_id, flags)
        .await
        .map_err(rerr)?;

    // A reader task owns the connection, so waiting for the flush deadline never cancels
    // a read half-way through a packet.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<DumpItem, ReplicaError>>(256);
    let idle = opts.heartbeat * 3 + Duration::from_secs(2);
    let reader = tokio::spawn(async move {
        loop {
            let item = rc.next(idle).await;
            let stop = !matches!(item, Ok(DumpItem::Event(_)));
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    let mut open = Open {
        file: file.clone(),
        durable: pos,
        buf: Vec::new(),
        first_buffered: None,
        first_received_ms: 0,
        last_event_time: 0,
        closed: false,
        put_cost: Duration::ZERO,
    };
    if pos == 0 {
        open.buf.extend_from_slice(&MAGIC);
        open.first_buffered = Some(Instant::now());
        open.first_received_ms = jiff::Timestamp::now().as_millisecond();
    }
    let result = receive(
        repo, server, checksums, &mut open, &mut rx, opts, out, notes,
    )
    .await;
    reader.abort();
    // Whatever arrived whole is worth keeping, whichever way the session ended.
    flush(repo, server, &mut open, out).await?;
    result
}

#[allow(clippy::too_many_arguments)]
async fn receive(
    repo: &Repository,
    server: &str,
    checksums: bool,
    open: &mut Open,
    rx: &mut tokio::sync::mpsc::Receiver<Result<DumpItem, ReplicaError>>,
    opts: &ArchiveOptions,
    out: &mut Outcome,
    notes: &Notes,
) -> Result<(), Error> {
    loop {
        let wait = match open.first_buffered {
            // Start the store early enough to finish within the interval: twice the last
            // store's time, at least 50 ms, covers its variation and the timer's.
            Some(t) => opts
                .flush_interval
                .saturating_sub(t.elapsed() + (open.put_cost * 2).max(Duration::from_millis(50))),
            None => Duration::from_secs(3600),
        };
        let ev = match tokio::time::timeout(wait, rx.recv()).await {
            Err(_) => {
                flush(repo, server, open, out).await?;
                continue;
            }
            Ok(None) => {
                return Err(Error::Binlog {
                    file: open.file.clone(),
                    offset: Some(open.end()),
                    problem: "the server's dump stream ended".into(),
                });
            }
            Ok(Some(Err(e))) => return Err(Error::query("the binlog dump")(e)),
            Ok(Some(Ok(DumpItem::End))) => return Ok(()),
            Ok(Some(Ok(DumpItem::Event(ev)))) => ev,
        };
        let h = EventHeader::parse(&ev).map_err(|source| Error::Truncated {
            file: open.file.clone(),
            offset: open.end(),
            part: "the server's dump event header",
            source,
        })?;
        let size = u64::from(h.event_size);
        if size != ev.len() as u64 {
            return Err(Error::Binlog {
                file: open.file.clone(),
                offset: Some(open.end()),
                problem: format!(
                    "the server's dump event claims {size} bytes, its packet has {}",
                    ev.len()
                ),
            });
        }
        let t = EventType::from_code(h.type_code);
        if matches!(t, EventType::Heartbeat | EventType::HeartbeatV2) {
            continue;
        }
        // LOG_EVENT_ARTIFICIAL_F: made up by the dump thread, not in the file.
        let flagged = h.flags & lifeboat_binlog::frame::FLAG_ARTIFICIAL != 0;
        // MariaDB 11.x (binlog_legacy_event_pos=OFF) writes end_log_pos 0 for the events
        // inside a transaction: they follow the one before. A format description or rotate
        // with position 0 is the dump's own (a repeated header at a resumed dump).
        let in_place = h.log_pos == 0
            && !flagged
            && !matches!(t, EventType::FormatDescription | EventType::Rotate);
        let artificial = flagged || (h.log_pos == 0 && !in_place);
        if t == EventType::Rotate && artificial {
            // Where the server continues: maybe a new file.
            let trailer = if checksums { 4 } else { 0 };
            let name_bytes = ev
                .get(19 + 8..ev.len().saturating_sub(trailer))
                .unwrap_or_default();
            let name = String::from_utf8_lossy(name_bytes)
                .trim_end_matches('\0')
                .to_owned();
            if name != open.file && !name.is_empty() {
                flush(repo, server, open, out).await?;
                if open.durable > 0 && !open.closed {
                    complete(repo, server, &open.file, out, notes).await?;
                }
                open.file = name;
                open.closed = false;
                open.durable = 0;
                open.buf.clear();
                open.buf.extend_from_slice(&MAGIC);
                open.first_buffered = Some(Instant::now());
                open.first_received_ms = jiff::Timestamp::now().as_millisecond();
            }
            continue;
        }
        if artificial {
            continue;
        }
        let end = open.end();
        let start = if in_place {
            end
        } else {
            u64::from(h.log_pos).saturating_sub(size)
        };
        if start < end {
            continue; // already archived (a repeated format description)
        }
        if start > end {
            return Err(Error::Binlog {
                file: open.file.clone(),
                offset: Some(start),
                problem: format!(
                    "the server sent this while the archive ends at {end}: bytes are missing"
                ),
            });
        }
        open.buf.extend_from_slice(&ev);
        open.last_event_time = h.timestamp;
        if open.first_buffered.is_none() {
            open.first_buffered = Some(Instant::now());
            open.first_received_ms = jiff::Timestamp::now().as_millisecond();
        }
        if t == EventType::Incident {
            flush(repo, server, open, out).await?;
            let gap = Gap {
                server: server.to_owned(),
                after_file: Some(open.file.clone()),
                after_pos: start,
                next_file: None,
                reason: format!(
                    "INCIDENT event at {}:{start}: the server says changes may be missing from its binlog",
                    open.file
                ),
                recorded_at: now_text(),
            };
            repo.put_gap(&gap).await?;
            notes(&format!("GAP: {}", gap.reason));
            out.gaps.push(gap);
        }
        if open.buf.len() >= SEGMENT_MAX {
            flush(repo, server, open, out).await?;
        }
        if matches!(t, EventType::Rotate | EventType::Stop) {
            // The file ends with this event.
            flush(repo, server, open, out).await?;
            open.durable = complete(repo, server, &open.file, out, notes).await?;
            open.closed = true;
        }
    }
}

/// Whether the file starts like a binlog (reads 4 bytes, not the file).
fn has_magic(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(p).is_ok_and(|mut f| f.read_exact(&mut head).is_ok()) && head == MAGIC
}

/// Imports the closed binlog files of a directory (a datadir or a copy of one).
pub async fn import_dir(
    dir: &Path,
    identity: &str,
    repo: &Repository,
    ctx: &crate::Context,
) -> Result<Outcome, Error> {
    let notes = ctx.notes();
    let server = server_key(identity);
    let lock = archive_lock(repo, &server, &notes).await?;
    let result = import_files(dir, repo, &notes, server).await;
    lock.release().await?;
    result
}

async fn import_files(
    dir: &Path,
    repo: &Repository,
    notes: &Notes,
    server: String,
) -> Result<Outcome, Error> {
    let mut out = Outcome {
        server: server.clone(),
        ..Outcome::default()
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::in_file(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(seq_of)
                .is_some()
                && has_magic(p)
        })
        .collect();
    files.sort_by_key(|p| p.file_name().and_then(|n| n.to_str()).and_then(seq_of));
    let state = State::load(repo, &server).await?;
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if state.closed.contains(&name) {
            continue;
        }
        // Only closed files: the last event is a ROTATE or STOP.
        let open_file = |p: &Path| std::fs::File::open(p).map_err(|e| Error::in_file(p, e));
        let (idx, last) = summarize_with_last(&server, &name, open_file(path)?)?;
        if !ends_file(last) || idx.truncated {
            notes(&format!(
                "{name}: still open (no ROTATE or STOP at its end); left for `archive --follow`"
            ));
            continue;
        }
        let mut f = open_file(path)?;
        let mut at = state.sizes.get(&name).copied().unwrap_or(0);
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(at))
            .map_err(|e| Error::in_file(path, e))?;
        loop {
            let mut piece = Vec::with_capacity(SEGMENT_MAX);
            (&mut f)
                .take(SEGMENT_MAX as u64)
                .read_to_end(&mut piece)
                .map_err(|e| Error::in_file(path, e))?;
            if piece.is_empty() {
                break;
            }
            let n = piece.len() as u64;
            repo.put_segment(&server, &name, at, piece, 0, 0).await?;
            out.bytes += n;
            out.segments += 1;
            at += n;
        }
        repo.put_file_index(&idx).await?;
        notes(&format!(
            "{name}: imported, {} bytes, {} events",
            idx.size, idx.span.events
        ));
        out.files_completed.push(name.clone());
        out.file = Some(name);
        out.position = idx.size;
    }
    Ok(out)
}

/// Archived coverage of one server.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Server key.
    pub server: String,
    /// Files in order.
    pub files: Vec<CoveredFile>,
    /// Holes: recorded gaps, and missing file numbers between archived files.
    pub gaps: Vec<String>,
}

/// One archived file.
#[derive(Debug, Clone, Serialize)]
pub struct CoveredFile {
    /// Name.
    pub file: String,
    /// Bytes archived.
    pub archived: u64,
    /// Complete (indexed, and not cut short by a purge).
    pub complete: bool,
    /// Purged on the server before it was archived to its end: what follows `archived` in
    /// it is lost to the archive.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tail_lost: bool,
    /// Index details, for complete files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<FileIndex>,
    /// For the open file: time of the newest archived event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_time: Option<String>,
}

/// What the repository holds, per server.
pub async fn coverage(repo: &Repository) -> Result<Vec<Coverage>, Error> {
    let mut out = Vec::new();
    for server in repo.binlog_servers().await? {
        let segs = repo.segments(&server).await?;
        let indexes = repo.file_indexes(&server).await?;
        let mut files: BTreeMap<String, CoveredFile> = BTreeMap::new();
        for s in &segs {
            let f = files.entry(s.file.clone()).or_insert_with(|| CoveredFile {
                file: s.file.clone(),
                archived: 0,
                complete: false,
                tail_lost: false,
                index: None,
                last_event_time: None,
            });
            if s.start == f.archived {
                f.archived = s.end;
                if s.last_event_time != 0 {
                    f.last_event_time = Some(crate::detect::events::time_text(s.last_event_time));
                }
            }
        }
        for i in indexes {
            if let Some(f) = files.get_mut(&i.file) {
                f.complete = i.size == f.archived;
                f.index = Some(i);
            }
        }
        let recorded = repo.gaps(&server).await?;
        // A file the archiver was still reading when the server purged it: its index says
        // where the archive of it ends, not the server's file.
        for g in &recorded {
            if let Some(f) = g.after_file.as_ref().and_then(|n| files.get_mut(n))
                && g.after_pos == f.archived
                && !f.index.as_ref().is_some_and(|i| i.closed_cleanly)
            {
                f.complete = false;
                f.tail_lost = true;
            }
        }
        let mut list: Vec<CoveredFile> = files.into_values().collect();
        list.sort_by_key(|f| (seq_of(&f.file), f.file.clone()));
        let mut gaps: Vec<String> = recorded.into_iter().map(|g| g.reason).collect();
        for w in list.windows(2) {
            if let [a, b] = w
                && let (Some(x), Some(y)) = (seq_of(&a.file), seq_of(&b.file))
                && y > x + 1
                && !gaps.iter().any(|g| g.contains(&a.file))
            {
                gaps.push(format!(
                    "no archived files between {} and {}",
                    a.file, b.file
                ));
            }
        }
        out.push(Coverage {
            server,
            files: list,
            gaps,
        });
    }
    Ok(out)
}

/// Writes an archived file to `w` as the server has it: the recorded segments in order, and
/// the format description's in-use flag as the server leaves it (cleared once the server
/// closed the file, set while it is open or after a crash cut it short). Returns the
/// bytes written. Memory: one segment at a time.
pub async fn read_archived(
    repo: &Repository,
    server: &str,
    file: &str,
    w: &mut (impl std::io::Write + Send),
) -> Result<u64, Error> {
    // The dump sends the format description with its in-use flag cleared; the file on the
    // server has it set until the server closes the file (ROTATE or STOP): set while open.
    // A file a crash cut short (indexed once the server moved on) keeps it on MariaDB;
    // MySQL clears it when it recovers the file at the restart (seen on 9.7).
    let closed = repo.file_index(server, file).await?.is_some_and(|i| {
        i.closed_cleanly || lifeboat_server::info::flavor_of(&i.server_version) == Flavor::MySql
    });
    let mut at = 0u64;
    for seg in repo.file_segments(server, file).await? {
        if seg.start != at {
            return Err(Error::Binlog {
                file: file.to_owned(),
                offset: Some(at),
                problem: format!("the archive's copy is missing bytes {at}..{}", seg.start),
            });
        }
        let mut bytes = repo.read_segment(&seg).await?;
        if (seg.start..seg.end).contains(&IN_USE_FLAG_OFFSET)
            && let Some(b) = bytes.get_mut((IN_USE_FLAG_OFFSET - seg.start) as usize)
        {
            lifeboat_binlog::frame::set_in_use(b, !closed);
        }
        w.write_all(&bytes)
            .map_err(|e| Error::in_file(Path::new(file), e))?;
        at = seg.end;
    }
    Ok(at)
}
