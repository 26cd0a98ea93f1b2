//! A replication connection that hands over binlog events exactly as the server sent them;
//! also the connection that replays binlog events as raw statement bytes
//! ([`ReplicaConn::pipeline`]), and the one bulk readers stream text-protocol rows through
//! ([`ReplicaConn::query`], [`ReplicaConn::next_row`], [`fields`]) without a driver's
//! per-value allocations.
//!
//! The general-purpose driver re-parses dump packets and cannot set MariaDB's dump flag that
//! asks for ANNOTATE_ROWS events (without it the server skips them, and an archive would have
//! holes). So the dump connection speaks the client protocol itself: handshake,
//! authentication (mysql_native_password, caching_sha2_password, client_ed25519,
//! unix_socket), TLS after the handshake as `--ssl-mode` asks (see the `tls` module), a few
//! `SET`s, COM_REGISTER_SLAVE and COM_BINLOG_DUMP.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::connect::{ConnectOptions, Endpoint, SslMode};

/// What went wrong on the replication connection.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// Connecting or reading failed.
    #[error("replication connection to {endpoint}: {source}")]
    Io {
        /// Where.
        endpoint: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The server answered with an error.
    #[error("replication connection to {endpoint}: server error {code}: {message}")]
    Server {
        /// Where.
        endpoint: String,
        /// Error number.
        code: u16,
        /// Its message.
        message: String,
    },
    /// TLS could not be set up (certificate, CA file, handshake).
    #[error("replication connection to {endpoint}: TLS: {reason}")]
    Tls {
        /// Where.
        endpoint: String,
        /// What failed.
        reason: String,
    },
    /// Something the protocol does not allow, or this client does not support.
    #[error("replication connection to {endpoint}: {reason}")]
    Protocol {
        /// Where.
        endpoint: String,
        /// What.
        reason: String,
    },
}

impl ReplicaError {
    /// The server error number, if the server sent one.
    pub fn code(&self) -> Option<u16> {
        match self {
            ReplicaError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The client capabilities this connection asks for.
const CLIENT_LONG_PASSWORD: u32 = 1;
const CLIENT_LONG_FLAG: u32 = 4;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_TRANSACTIONS: u32 = 0x2000;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x80000;
const CLIENT_PLUGIN_AUTH_LENENC: u32 = 0x20_0000;
const MAX_PACKET: usize = 0xff_ffff;
/// Size of the read-ahead buffer.
const READ_AHEAD: usize = 256 * 1024;

/// One message from the dump.
#[derive(Debug)]
pub enum DumpItem {
    /// A whole event: common header, data, checksum as stored.
    Event(Vec<u8>),
    /// The server has nothing more (a non-blocking dump reached the end).
    End,
}

/// A connection in replica mode.
pub struct ReplicaConn {
    io: Box<dyn Io>,
    /// Bytes read ahead of the current packet: `rbuf[rpos..rend]`. One `read` fills many
    /// packets, so a result set of small rows costs a few system calls, not two per row.
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    /// A row that spans several packets (16 MiB or more), reassembled.
    big: Vec<u8>,
    seq: u8,
    endpoint: String,
    /// `VERSION()` from the handshake.
    pub server_version: String,
    /// Connection id (what `KILL` takes).
    pub connection_id: u32,
}

impl ReplicaConn {
    /// Connects and authenticates.
    pub async fn connect(opts: &ConnectOptions) -> Result<ReplicaConn, ReplicaError> {
        let endpoint = opts.endpoint.to_string();
        let io_err = |source| ReplicaError::Io {
            endpoint: endpoint.clone(),
            source,
        };
        let io: Box<dyn Io> = match &opts.endpoint {
            Endpoint::Socket { path } => Box::new(
                tokio::time::timeout(opts.connect_timeout, tokio::net::UnixStream::connect(path))
                    .await
                    .map_err(|_| io_err(std::io::ErrorKind::TimedOut.into()))?
                    .map_err(io_err)?,
            ),
            Endpoint::Tcp { host, port } => {
                let s = tokio::time::timeout(
                    opts.connect_timeout,
                    tokio::net::TcpStream::connect((host.as_str(), *port)),
                )
                .await
                .map_err(|_| io_err(std::io::ErrorKind::TimedOut.into()))?
                .map_err(io_err)?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
        };
        let mut c = ReplicaConn {
            io,
            rbuf: vec![0; READ_AHEAD],
            rpos: 0,
            rend: 0,
            big: Vec::new(),
            seq: 0,
            endpoint,
            server_version: String::new(),
            connection_id: 0,
        };
        tokio::time::timeout(opts.connect_timeout, c.handshake(opts))
            .await
            .map_err(|_| c.protocol("the server did not finish the handshake in time"))??;
        Ok(c)
    }

    fn protocol(&self, reason: impl Into<String>) -> ReplicaError {
        ReplicaError::Protocol {
            endpoint: self.endpoint.clone(),
            reason: reason.into(),
        }
    }

    fn io_error(&self, source: std::io::Error) -> ReplicaError {
        ReplicaError::Io {
            endpoint: self.endpoint.clone(),
            source,
        }
    }

    /// Makes `n` bytes available at `rbuf[rpos..]` (`n` ≤ [`READ_AHEAD`]).
    async fn fill(&mut self, n: usize) -> Result<(), ReplicaError> {
        if self.rend - self.rpos >= n {
            return Ok(());
        }
        if self.rpos > 0 {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        while self.rend < n {
            let buf = self.rbuf.get_mut(self.rend..).unwrap_or_default();
            let k = self.io.read(buf).await.map_err(|e| self.io_error(e))?;
            if k == 0 {
                return Err(self.io_error(std::io::ErrorKind::UnexpectedEof.into()));
            }
            self.rend += k;
        }
        Ok(())
    }

    /// Reads one packet's header; returns its payload length.
    async fn read_header(&mut self) -> Result<usize, ReplicaError> {
        self.fill(4).await?;
        let h = &self.rbuf[self.rpos..self.rpos + 4];
        let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
        self.seq = h[3].wrapping_add(1);
        self.rpos += 4;
        Ok(len)
    }

    /// Appends the next `len` bytes of the stream to `out`.
    async fn read_into(&mut self, len: usize, out: &mut Vec<u8>) -> Result<(), ReplicaError> {
        let have = len.min(self.rend - self.rpos);
        out.extend_from_slice(&self.rbuf[self.rpos..self.rpos + have]);
        self.rpos += have;
        if have < len {
            let start = out.len();
            out.resize(start + len - have, 0);
            let buf = out.get_mut(start..).unwrap_or_default();
            self.io
                .read_exact(buf)
                .await
                .map_err(|e| self.io_error(e))?;
        }
        Ok(())
    }

    async fn read_packet(&mut self) -> Result<Vec<u8>, ReplicaError> {
        let mut out = Vec::new();
        loop {
            let len = self.read_header().await?;
            self.read_into(len, &mut out).await?;
            // A payload of exactly 16 MiB - 1 continues in the next packet.
            if len < MAX_PACKET {
                return Ok(out);
            }
        }
    }

    /// Reads the next packet; its payload is then [`ReplicaConn::payload`] of the answer. It
    /// stays in the read buffer when it fits there (the common case: no copy, no allocation),
    /// else it is reassembled.
    async fn next_payload(&mut self) -> Result<Payload, ReplicaError> {
        let len = self.read_header().await?;
        if len <= READ_AHEAD {
            self.fill(len).await?;
            let start = self.rpos;
            self.rpos += len;
            return Ok(Payload::Buffered(start, len));
        }
        let mut big = std::mem::take(&mut self.big);
        big.clear();
        let mut len = len;
        loop {
            self.read_into(len, &mut big).await?;
            if len < MAX_PACKET {
                break;
            }
            len = self.read_header().await?;
        }
        self.big = big;
        Ok(Payload::Big)
    }

    fn payload(&self, p: Payload) -> &[u8] {
        match p {
            Payload::Buffered(start, len) => &self.rbuf[start..start + len],
            Payload::Big => &self.big,
        }
    }

    async fn write_packet(&mut self, payload: &[u8]) -> Result<(), ReplicaError> {
        // Payloads of 16 MiB - 1 or more go in several packets; one of exactly a multiple of
        // that is followed by an empty one.
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_PACKET);
            let (part, tail) = rest.split_at(n);
            let mut head = [0u8; 4];
            head[..3].copy_from_slice(&(n as u32).to_le_bytes()[..3]);
            head[3] = self.seq;
            self.seq = self.seq.wrapping_add(1);
            self.io
                .write_all(&head)
                .await
                .map_err(|e| self.io_error(e))?;
            self.io
                .write_all(part)
                .await
                .map_err(|e| self.io_error(e))?;
            rest = tail;
            if n < MAX_PACKET {
                break;
            }
        }
        self.io.flush().await.map_err(|e| self.io_error(e))
    }

    fn server_error(&self, p: &[u8]) -> ReplicaError {
        let code = p.get(1..3).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
        let msg = p.get(3..).unwrap_or_default();
        let msg = if msg.first() == Some(&b'#') {
            msg.get(6..).unwrap_or_default()
        } else {
            msg
        };
        ReplicaError::Server {
            endpoint: self.endpoint.clone(),
            code,
            message: String::from_utf8_lossy(msg).into_owned(),
        }
    }

    async fn handshake(&mut self, opts: &ConnectOptions) -> Result<(), ReplicaError> {
        let p = self.read_packet().await?;
        if p.first() == Some(&0xff) {
            return Err(self.server_error(&p));
        }
        let h = parse_handshake(&p).ok_or_else(|| self.protocol("unreadable handshake"))?;
        self.server_version = h.version;
        self.connection_id = h.connection_id;
        let wanted = CLIENT_LONG_PASSWORD
            | CLIENT_LONG_FLAG
            | CLIENT_PROTOCOL_41
            | CLIENT_TRANSACTIONS
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH
            | CLIENT_PLUGIN_AUTH_LENENC;
        let mut caps = wanted & h.capabilities;
        if caps & CLIENT_PROTOCOL_41 == 0 {
            return Err(self.protocol("the server does not speak protocol 4.1"));
        }
        if let Endpoint::Tcp { host, .. } = &opts.endpoint
            && opts.ssl_mode != SslMode::Disabled
        {
            if h.capabilities & CLIENT_SSL != 0 {
                caps |= CLIENT_SSL;
                self.start_tls(opts, host, caps).await?;
            } else if opts.ssl_mode != SslMode::Preferred {
                return Err(self.protocol(format!(
                    "--ssl-mode={:?} but the server offers no TLS",
                    opts.ssl_mode
                )));
            }
        }
        let password = opts.password.as_ref().map(|p| p.expose().to_owned());
        let socket = matches!(opts.endpoint, Endpoint::Socket { .. });
        let auth = auth_response(&h.plugin, &h.scramble, password.as_deref(), socket)
            .map_err(|e| self.protocol(e))?;
        let mut r = Vec::new();
        r.extend_from_slice(&caps.to_le_bytes());
        r.extend_from_slice(&(16u32 << 20).to_le_bytes());
        r.push(45); // utf8mb4_general_ci
        r.extend_from_slice(&[0u8; 23]);
        r.extend_from_slice(opts.effective_user().as_bytes());
        r.push(0);
        // Length-encoded (or, without that capability, a length byte): answers are short.
        r.push(auth.len() as u8);
        r.extend_from_slice(&auth);
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            r.extend_from_slice(h.plugin.as_bytes());
            r.push(0);
        }
        self.write_packet(&r).await?;
        let mut plugin = h.plugin.clone();
        loop {
            let p = self.read_packet().await?;
            match p.first() {
                Some(0x00) => return Ok(()),
                Some(0xff) => return Err(self.server_error(&p)),
                Some(0xfe) => {
                    // Switch to another plugin: name, then its scramble.
                    let rest = p.get(1..).unwrap_or_default();
                    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                    plugin =
                        String::from_utf8_lossy(rest.get(..end).unwrap_or_default()).into_owned();
                    let mut scramble = rest.get(end + 1..).unwrap_or_default().to_vec();
                    if scramble.last() == Some(&0) {
                        scramble.pop();
                    }
                    let resp = auth_response(&plugin, &scramble, password.as_deref(), socket)
                        .map_err(|e| self.protocol(e))?;
                    self.write_packet(&resp).await?;
                }
                Some(0x01) if plugin == "caching_sha2_password" => match p.get(1) {
                    Some(3) => {} // fast path accepted; OK follows
                    // Full authentication: the password in clear, only over a socket or TLS.
                    Some(4) if socket || caps & CLIENT_SSL != 0 => {
                        let mut clear = password.clone().unwrap_or_default().into_bytes();
                        clear.push(0);
                        self.write_packet(&clear).await?;
                    }
                    _ => {
                        return Err(self.protocol(
                            "caching_sha2_password wants a full authentication, which needs TLS or the unix socket; use --ssl-mode=REQUIRED or better, or connect over the socket",
                        ));
                    }
                },
                _ => return Err(self.protocol("unexpected packet during authentication")),
            }
        }
    }

    /// Sends the SSL request and continues the connection inside TLS.
    async fn start_tls(
        &mut self,
        opts: &ConnectOptions,
        host: &str,
        caps: u32,
    ) -> Result<(), ReplicaError> {
        let mut r = Vec::with_capacity(32);
        r.extend_from_slice(&caps.to_le_bytes());
        r.extend_from_slice(&(16u32 << 20).to_le_bytes());
        r.push(45); // utf8mb4_general_ci
        r.extend_from_slice(&[0u8; 23]);
        self.write_packet(&r).await?;
        let tls_err = |reason: String| ReplicaError::Tls {
            endpoint: self.endpoint.clone(),
            reason,
        };
        let config =
            crate::tls::client_config(opts.ssl_mode, opts.ssl_ca.as_deref()).map_err(tls_err)?;
        let name = crate::tls::server_name(host).map_err(tls_err)?;
        if self.rpos != self.rend {
            return Err(self.protocol("the server sent data before the TLS handshake"));
        }
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, plain)
            .await
            .map_err(|e| tls_err(e.to_string()))?;
        self.io = Box::new(tls);
        Ok(())
    }

    /// Runs a statement that returns no rows (`SET …`).
    pub async fn execute(&mut self, sql: &str) -> Result<(), ReplicaError> {
        self.seq = 0;
        let mut p = vec![0x03];
        p.extend_from_slice(sql.as_bytes());
        self.write_packet(&p).await?;
        let r = self.read_packet().await?;
        match r.first() {
            Some(0x00) => Ok(()),
            Some(0xff) => Err(self.server_error(&r)),
            _ => Err(self.protocol(format!("`{sql}` returned rows"))),
        }
    }

    /// Sends `statements` (each one statement that returns no rows, as raw bytes) one after
    /// the other without waiting, then reads their answers. The server runs each whatever
    /// happened to the ones before, so the caller keeps a transaction's COMMIT out of it. The
    /// first error comes with its statement's index.
    pub async fn pipeline(&mut self, statements: &[&[u8]]) -> Result<(), (usize, ReplicaError)> {
        let mut out = Vec::with_capacity(statements.iter().map(|s| s.len() + 5).sum());
        for s in statements {
            // Each statement is a command of its own: sequence numbers restart at 0.
            let mut payload = Vec::with_capacity(s.len() + 1);
            payload.push(0x03);
            payload.extend_from_slice(s);
            let mut rest: &[u8] = &payload;
            let mut seq = 0u8;
            loop {
                let n = rest.len().min(MAX_PACKET);
                let (part, tail) = rest.split_at(n);
                out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
                out.push(seq);
                seq = seq.wrapping_add(1);
                out.extend_from_slice(part);
                rest = tail;
                if n < MAX_PACKET {
                    break;
                }
            }
        }
        self.io
            .write_all(&out)
            .await
            .map_err(|e| (0, self.io_error(e)))?;
        self.io.flush().await.map_err(|e| (0, self.io_error(e)))?;
        let mut first_error = None;
        for i in 0..statements.len() {
            let r = self.read_packet().await.map_err(|e| (i, e))?;
            match r.first() {
                Some(0x00) => {}
                Some(0xff) => {
                    if first_error.is_none() {
                        first_error = Some((i, self.server_error(&r)));
                    }
                }
                _ => return Err((i, self.protocol("a replayed statement returned rows"))),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Sends `sql` (text protocol) and reads the head of its result set: the type code of
    /// each column (`MYSQL_TYPE_*`). `None`: the statement returned no rows. After `Some`,
    /// read every row with [`ReplicaConn::next_row`] before the next command.
    pub async fn query(&mut self, sql: &str) -> Result<Option<Vec<u8>>, ReplicaError> {
        self.seq = 0;
        let mut p = Vec::with_capacity(sql.len() + 1);
        p.push(0x03);
        p.extend_from_slice(sql.as_bytes());
        self.write_packet(&p).await?;
        let head = self.read_packet().await?;
        let columns = match head.first() {
            Some(0x00) => return Ok(None),
            Some(0xff) => return Err(self.server_error(&head)),
            Some(0xfb) => return Err(self.protocol("the server asked for a local file")),
            _ => match lenenc(&head) {
                Some((Some(n), _)) if n > 0 && n < 65536 => n as usize,
                _ => return Err(self.protocol("unreadable result set header")),
            },
        };
        let mut types = Vec::with_capacity(columns);
        for _ in 0..columns {
            let def = self.read_packet().await?;
            types.push(
                column_type(&def).ok_or_else(|| self.protocol("unreadable column definition"))?,
            );
        }
        let eof = self.read_packet().await?;
        if eof.first() != Some(&0xfe) {
            return Err(self.protocol("no end marker after the column definitions"));
        }
        Ok(Some(types))
    }

    /// The next row of the result set [`ReplicaConn::query`] opened, as its payload (read
    /// the values with [`fields`]); `None` after the last one.
    pub async fn next_row(&mut self) -> Result<Option<&[u8]>, ReplicaError> {
        let at = self.next_payload().await?;
        let p = self.payload(at);
        match p.first() {
            Some(0xfe) if p.len() < 9 => Ok(None),
            Some(0xff) => Err(self.server_error(p)),
            _ => Ok(Some(p)),
        }
    }

    /// Runs `sql` and returns its first row's values (`None` for SQL NULL), reading and
    /// dropping any further rows; `None` when it returned no rows.
    pub async fn query_first(
        &mut self,
        sql: &str,
    ) -> Result<Option<Vec<Option<Vec<u8>>>>, ReplicaError> {
        if self.query(sql).await?.is_none() {
            return Ok(None);
        }
        let mut first = None;
        while let Some(row) = self.next_row().await? {
            if first.is_none() {
                let values: Result<Vec<_>, _> = fields(row)
                    .map(|f| f.map(|v| v.map(<[u8]>::to_vec)))
                    .collect();
                first = Some(values);
            }
        }
        match first {
            Some(Err(())) => Err(self.protocol("unreadable row")),
            Some(Ok(v)) => Ok(Some(v)),
            None => Ok(None),
        }
    }

    /// Says goodbye (COM_QUIT) and closes the connection; errors do not matter then.
    pub async fn quit(mut self) {
        self.seq = 0;
        let _ = self.write_packet(&[0x01]).await;
        let _ = self.io.shutdown().await;
    }

    /// Registers as a replica with `server_id` (shows up in SHOW SLAVE HOSTS).
    pub async fn register(&mut self, server_id: u32) -> Result<(), ReplicaError> {
        self.seq = 0;
        let mut p = vec![0x15];
        p.extend_from_slice(&server_id.to_le_bytes());
        p.extend_from_slice(&[0, 0, 0]); // host, user, password: empty
        p.extend_from_slice(&0u16.to_le_bytes()); // port
        p.extend_from_slice(&0u32.to_le_bytes()); // replication rank
        p.extend_from_slice(&0u32.to_le_bytes()); // source id
        self.write_packet(&p).await?;
        let r = self.read_packet().await?;
        match r.first() {
            Some(0x00) => Ok(()),
            Some(0xff) => Err(self.server_error(&r)),
            _ => Err(self.protocol("unexpected answer to COM_REGISTER_SLAVE")),
        }
    }

    /// Starts the dump (COM_BINLOG_DUMP) of `file` from `pos`. `flags`: 1 do not block at
    /// the end; 2 (MariaDB) send ANNOTATE_ROWS events.
    pub async fn dump(
        &mut self,
        file: &str,
        pos: u32,
        server_id: u32,
        flags: u16,
    ) -> Result<(), ReplicaError> {
        self.seq = 0;
        let mut p = vec![0x12];
        p.extend_from_slice(&pos.to_le_bytes());
        p.extend_from_slice(&flags.to_le_bytes());
        p.extend_from_slice(&server_id.to_le_bytes());
        p.extend_from_slice(file.as_bytes());
        self.write_packet(&p).await
    }

    /// The next event of the dump, or [`DumpItem::End`]; `idle` bounds the wait (a server
    /// that sends neither events nor heartbeats for that long is taken for dead).
    pub async fn next(&mut self, idle: Duration) -> Result<DumpItem, ReplicaError> {
        let p = match tokio::time::timeout(idle, self.read_packet()).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(self.io_error(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no event or heartbeat for {} s", idle.as_secs()),
                )));
            }
        };
        match p.first() {
            Some(0x00) => Ok(DumpItem::Event(p.get(1..).unwrap_or_default().to_vec())),
            Some(0xfe) if p.len() < 9 => Ok(DumpItem::End),
            Some(0xff) => Err(self.server_error(&p)),
            _ => Err(self.protocol("unexpected packet in the binlog dump")),
        }
    }
}

/// Where a packet's payload is: in the read buffer (start, length), or reassembled.
#[derive(Clone, Copy)]
enum Payload {
    Buffered(usize, usize),
    Big,
}

/// A length-encoded integer at the start of `p`: its value (`None` for the NULL marker
/// 0xFB) and its size in bytes.
fn lenenc(p: &[u8]) -> Option<(Option<u64>, usize)> {
    let take = |n: usize| -> Option<u64> {
        let b = p.get(1..1 + n)?;
        Some(b.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x)))
    };
    match *p.first()? {
        x @ 0..=0xfa => Some((Some(u64::from(x)), 1)),
        0xfb => Some((None, 1)),
        0xfc => Some((Some(take(2)?), 3)),
        0xfd => Some((Some(take(3)?), 4)),
        0xfe => Some((Some(take(8)?), 9)),
        _ => None,
    }
}

/// The type code in a column definition (protocol 4.1): six length-encoded strings
/// (catalog, schema, table, original table, name, original name), the length of the fixed
/// fields, character set (2), column length (4), type (1).
fn column_type(def: &[u8]) -> Option<u8> {
    let mut at = 0;
    for _ in 0..6 {
        let (len, n) = lenenc(def.get(at..)?)?;
        at += n + usize::try_from(len.unwrap_or(0)).ok()?;
    }
    let (_, n) = lenenc(def.get(at..)?)?;
    def.get(at + n + 6).copied()
}

/// The values of a text-protocol row: each one `Some(bytes)`, or `None` for SQL NULL;
/// `Err(())` when the row is cut short.
pub fn fields(row: &[u8]) -> impl Iterator<Item = Result<Option<&[u8]>, ()>> {
    let mut rest = row;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some((len, n)) = lenenc(rest) else {
            rest = &[];
            return Some(Err(()));
        };
        let Some(len) = len else {
            rest = &rest[n..];
            return Some(Ok(None));
        };
        let end = usize::try_from(len).ok().and_then(|l| l.checked_add(n));
        match end.and_then(|e| rest.get(n..e).map(|v| (v, e))) {
            Some((v, e)) => {
                rest = &rest[e..];
                Some(Ok(Some(v)))
            }
            None => {
                rest = &[];
                Some(Err(()))
            }
        }
    })
}

struct Handshake {
    version: String,
    connection_id: u32,
    capabilities: u32,
    scramble: Vec<u8>,
    plugin: String,
}

fn parse_handshake(p: &[u8]) -> Option<Handshake> {
    let mut i = 0usize;
    let take = |i: &mut usize, n: usize| -> Option<&[u8]> {
        let s = p.get(*i..*i + n)?;
        *i += n;
        Some(s)
    };
    if *take(&mut i, 1)?.first()? != 10 {
        return None;
    }
    let end = p.get(i..)?.iter().position(|&b| b == 0)?;
    let version = String::from_utf8_lossy(take(&mut i, end)?).into_owned();
    i += 1;
    let id = take(&mut i, 4)?;
    let connection_id = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
    let mut scramble = take(&mut i, 8)?.to_vec();
    i += 1;
    let lo = take(&mut i, 2)?;
    let mut capabilities = u32::from(u16::from_le_bytes([lo[0], lo[1]]));
    if i >= p.len() {
        return Some(Handshake {
            version,
            connection_id,
            capabilities,
            scramble,
            plugin: "mysql_native_password".into(),
        });
    }
    take(&mut i, 3)?; // charset, status
    let hi = take(&mut i, 2)?;
    capabilities |= u32::from(u16::from_le_bytes([hi[0], hi[1]])) << 16;
    let auth_len = usize::from(*take(&mut i, 1)?.first()?);
    take(&mut i, 10)?;
    if capabilities & CLIENT_SECURE_CONNECTION != 0 {
        let n = auth_len.saturating_sub(8).max(13);
        let part2 = take(&mut i, n)?;
        let part2 = part2.strip_suffix(&[0]).unwrap_or(part2);
        scramble.extend_from_slice(part2);
    }
    let plugin = if capabilities & CLIENT_PLUGIN_AUTH != 0 {
        let rest = p.get(i..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        String::from_utf8_lossy(rest.get(..end).unwrap_or_default()).into_owned()
    } else {
        "mysql_native_password".into()
    };
    Some(Handshake {
        version,
        connection_id,
        capabilities,
        scramble,
        plugin,
    })
}

fn auth_response(
    plugin: &str,
    scramble: &[u8],
    password: Option<&str>,
    socket: bool,
) -> Result<Vec<u8>, String> {
    let pw = password.unwrap_or("");
    Ok(match plugin {
        "mysql_native_password" | "" => {
            if pw.is_empty() {
                Vec::new()
            } else {
                mysql_common::scramble::scramble_native(
                    scramble.get(..20).unwrap_or(scramble),
                    pw.as_bytes(),
                )
                .map(|s| s.to_vec())
                .unwrap_or_default()
            }
        }
        "caching_sha2_password" => {
            if pw.is_empty() {
                Vec::new()
            } else {
                mysql_common::scramble::scramble_sha256(
                    scramble.get(..20).unwrap_or(scramble),
                    pw.as_bytes(),
                )
                .map(|s| s.to_vec())
                .unwrap_or_default()
            }
        }
        "client_ed25519" => {
            mysql_common::scramble::create_response_for_ed25519(pw.as_bytes(), scramble).to_vec()
        }
        "unix_socket" | "auth_socket" => Vec::new(),
        "mysql_clear_password" | "dialog" if socket => {
            let mut v = pw.as_bytes().to_vec();
            v.push(0);
            v
        }
        other => {
            return Err(format!(
                "authentication plugin {other} is not supported by the replication connection"
            ));
        }
    })
}
