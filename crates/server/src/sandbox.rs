//! Side instances: throwaway MariaDB/MySQL servers that lifeboat starts itself.
//!
//! A sandbox is a directory holding `data/` (the datadir), `my.cnf` (everything the server
//! and a client need: start it by hand with `mariadbd --defaults-file=DIR/my.cnf`, connect with
//! `mariadb --defaults-file=DIR/my.cnf`), `error.log`, `mysqld.sock` and `sandbox.json` (what
//! lifeboat knows about it). The server listens only on 127.0.0.1 and the socket.
//!
//! Restores, the CLI's `sandbox` commands and the tests all start servers through
//! [`Sandbox::start`], so there is one way to get a side instance right.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lifeboat_binlog::Flavor;
use serde::{Deserialize, Serialize};

use mysql_async::prelude::Queryable;

use crate::connect::{ConnectOptions, connect};
use crate::info::flavor_of;

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// The sandbox directory (created when missing; an existing sandbox is restarted).
    pub dir: PathBuf,
    /// TCP port on 127.0.0.1; a free one is picked when absent.
    pub port: Option<u16>,
    /// The server binary; when absent, `LIFEBOAT_MYSQLD`, else one of the wanted flavor and
    /// major version found on PATH and in the usual places ([`choose_server_binary`]).
    pub server_binary: Option<PathBuf>,
    /// The server the data comes from (a backup's, a datadir's), when known: the binary chosen
    /// must be of its flavor and major version.
    pub wanted: Option<WantedServer>,
    /// Enable the binary log (ROW, FULL images, full metadata, sync_binlog=1).
    pub binlog: bool,
    /// `server_id`; derived from the port when absent, so sandboxes differ.
    pub server_id: Option<u32>,
    /// Extra `[mysqld]` settings, `name=value` or `name`.
    pub server_settings: Vec<String>,
    /// How long to wait for the server to accept connections.
    pub start_timeout: Duration,
    /// Give up sooner when the error log has named a corrupt page and then said nothing
    /// for this long: MySQL 9.7 at `innodb_force_recovery=0` dumps the page and then waits
    /// forever instead of exiting.
    pub stall_timeout: Option<Duration>,
}

impl SandboxOptions {
    /// Defaults for a directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            port: None,
            server_binary: None,
            wanted: None,
            binlog: false,
            server_id: None,
            server_settings: Vec::new(),
            start_timeout: Duration::from_secs(120),
            stall_timeout: None,
        }
    }
}

/// A started (or previously started) side instance. Serialized as `sandbox.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Sandbox {
    /// The sandbox directory.
    pub dir: PathBuf,
    /// The datadir.
    pub datadir: PathBuf,
    /// The unix socket.
    pub socket: PathBuf,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Process id of the server.
    pub pid: u32,
    /// The server binary.
    pub binary: PathBuf,
    /// MySQL or MariaDB.
    pub flavor: Flavor,
    /// `--version` output of the binary.
    pub version: String,
    /// `my.cnf` with `[mysqld]` and `[client]` groups.
    pub defaults_file: PathBuf,
    /// The server's error log.
    pub error_log: PathBuf,
    /// Whether the binary log is on.
    pub binlog: bool,
    /// When it was started (seconds since the epoch).
    pub started_at: u64,
    /// The child handle when this process started it, to reap it.
    #[serde(skip)]
    child: Option<Child>,
}

/// Why a sandbox could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// No server binary.
    #[error("no MariaDB or MySQL server binary found (looked for {looked})")]
    NoServerBinary {
        /// Where it looked.
        looked: String,
    },
    /// Server binaries were found, none of the wanted flavor and major version.
    #[error("no {wanted} server binary found (found: {found})")]
    NoFittingServer {
        /// What was wanted.
        wanted: WantedServer,
        /// The binaries found, with their versions.
        found: String,
    },
    /// The given server binary does not exist or does not run.
    #[error("server binary {path} cannot be run: {reason}")]
    BadServerBinary {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No mariadb-install-db next to a MariaDB server.
    #[error("no mariadb-install-db found for {server} (looked in {looked})")]
    NoInstallDb {
        /// The server binary.
        server: PathBuf,
        /// Where it looked.
        looked: String,
    },
    /// File system trouble.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Initializing the datadir failed.
    #[error("initializing {datadir} failed; last lines of {log}:\n{tail}")]
    InitFailed {
        /// The datadir.
        datadir: PathBuf,
        /// The log with the details.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// The server exited or never became ready.
    #[error("the server in {dir} did not start; last lines of {log}:\n{tail}")]
    StartFailed {
        /// The sandbox directory.
        dir: PathBuf,
        /// The error log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// A server already runs from this directory.
    #[error("a server is already running from {dir} (pid {pid})")]
    AlreadyRunning {
        /// The directory.
        dir: PathBuf,
        /// Its pid.
        pid: u32,
    },
    /// The directory is not a sandbox.
    #[error("{dir} is not a lifeboat sandbox (no sandbox.json)")]
    NotASandbox {
        /// The directory.
        dir: PathBuf,
    },
    /// sandbox.json is damaged.
    #[error("{path} is damaged: {reason}")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The server did not stop in time.
    #[error("the server in {dir} (pid {pid}) did not stop within {secs} s")]
    StopTimeout {
        /// The directory.
        dir: PathBuf,
        /// Its pid.
        pid: u32,
        /// How long lifeboat waited.
        secs: u64,
    },
}

impl SandboxError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            SandboxError::NoServerBinary { .. } => {
                "install the server (Debian/Ubuntu: apt-get install mariadb-server-core mariadb-client) or pass --mysqld PATH"
            }
            SandboxError::NoFittingServer { .. } => {
                "name the server binary with --mysqld PATH (or LIFEBOAT_MYSQLD); a server of another flavor or major version cannot read this data safely"
            }
            SandboxError::NoInstallDb { .. } => {
                "install mariadb-server-core, which ships mariadb-install-db"
            }
            SandboxError::AlreadyRunning { .. } => {
                "stop it first with `lifeboat sandbox stop --dir DIR`, or pick another --dir"
            }
            SandboxError::NotASandbox { .. } => "`lifeboat sandbox list` shows the known sandboxes",
            SandboxError::StopTimeout { .. } => {
                "the server may still be flushing; look at its error.log"
            }
            _ => return None,
        })
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Longest unix socket path the kernel accepts (`sun_path` is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The usual places of server binaries, after PATH.
const SERVER_LOCATIONS: &[&str] = &[
    "/usr/sbin/mariadbd",
    "/usr/sbin/mysqld",
    "/usr/local/mysql/bin/mysqld",
    "/usr/local/mysql/bin/mariadbd",
    "/usr/libexec/mysqld",
];

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The server some data comes from: a sandbox for it must run the same flavor and major
/// version (a datadir is only readable by its own series; a dump may use its features).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WantedServer {
    /// MySQL or MariaDB.
    pub flavor: Flavor,
    /// The source's version text (`9.7.4`, `10.11.19-MariaDB-log`), when known.
    pub version: Option<String>,
}

impl WantedServer {
    /// A wanted server from a version text as `SELECT VERSION()` or `--version` print it.
    pub fn from_version(version: &str) -> Self {
        Self {
            flavor: flavor_of(version),
            version: Some(version.to_owned()),
        }
    }

    /// Whether a binary of `flavor` and `version` fits: same flavor and same major version.
    pub fn fits(&self, flavor: Flavor, version: &str) -> bool {
        flavor == self.flavor
            && self
                .version
                .as_deref()
                .is_none_or(|v| major_version(v) == major_version(version))
    }
}

impl std::fmt::Display for WantedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version.as_deref().and_then(major_version) {
            Some(m) => write!(f, "{} {m}.x", self.flavor),
            None => write!(f, "{}", self.flavor),
        }
    }
}

/// The first number of a version text (`10` of `10.11.19-MariaDB`).
fn major_version(version: &str) -> Option<u32> {
    version
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Where lifeboat's own install script puts the servers Debian/Ubuntu do not ship
/// (`scripts/install-servers`): `<dir>/<name>/prefix/usr/sbin/<server>`.
fn installed_servers_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("LIFEBOAT_SERVERS_DIR") {
        return Some(PathBuf::from(d));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("lifeboat").join("servers"))
}

/// Every server binary lifeboat can find: `mariadbd` and `mysqld` on PATH, the usual places,
/// then the servers lifeboat's install script put in its cache; each once, in that order.
fn server_candidates() -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mut installed = Vec::new();
    if let Some(root) = installed_servers_dir()
        && let Ok(entries) = std::fs::read_dir(&root)
    {
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for n in names {
            for b in ["mariadbd", "mysqld"] {
                installed.push(n.join("prefix/usr/sbin").join(b));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    dirs.iter()
        .flat_map(|d| [d.join("mariadbd"), d.join("mysqld")])
        .chain(SERVER_LOCATIONS.iter().map(PathBuf::from))
        .chain(installed)
        .filter(|p| p.is_file())
        .filter(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())))
        .collect()
}

/// Picks the server binary for a sandbox: `explicit` (`--mysqld`), else `LIFEBOAT_MYSQLD`,
/// else the first binary found of the wanted flavor and major version (any server when
/// nothing is wanted). Refuses when none fits rather than start the wrong server: MariaDB
/// cannot open a MySQL 8+ datadir, and each side's dumps use its own features.
pub fn choose_server_binary(
    explicit: Option<&Path>,
    wanted: Option<&WantedServer>,
) -> Result<PathBuf, SandboxError> {
    let named = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("LIFEBOAT_MYSQLD").map(PathBuf::from));
    if let Some(p) = named {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(SandboxError::BadServerBinary {
                path: p,
                reason: "no such file".into(),
            })
        };
    }
    let candidates = server_candidates();
    let Some(wanted) = wanted else {
        return candidates
            .into_iter()
            .next()
            .ok_or_else(|| SandboxError::NoServerBinary {
                looked: looked_text(),
            });
    };
    let mut found = Vec::new();
    for c in candidates {
        let Ok(version) = binary_version(&c) else {
            continue;
        };
        if wanted.fits(flavor_of(&version), &version) {
            return Ok(c);
        }
        found.push(format!("{} {version}", c.display()));
    }
    if found.is_empty() {
        return Err(SandboxError::NoServerBinary {
            looked: looked_text(),
        });
    }
    Err(SandboxError::NoFittingServer {
        wanted: wanted.clone(),
        found: found.join(", "),
    })
}

fn looked_text() -> String {
    let installed = installed_servers_dir().map_or_else(String::new, |d| {
        format!(", {}/*/prefix/usr/sbin", d.display())
    });
    format!(
        "mariadbd and mysqld on PATH, {}{installed}",
        SERVER_LOCATIONS.join(", ")
    )
}

fn find_install_db(server: &Path) -> Result<PathBuf, SandboxError> {
    let dir = server.parent().unwrap_or(Path::new("/"));
    let base = dir.parent().unwrap_or(Path::new("/"));
    let dirs = [dir.to_owned(), base.join("bin"), base.join("scripts")];
    let names = ["mariadb-install-db", "mysql_install_db"];
    for d in &dirs {
        for n in names {
            let p = d.join(n);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    names
        .iter()
        .find_map(|n| on_path(n))
        .ok_or_else(|| SandboxError::NoInstallDb {
            server: server.to_owned(),
            looked: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
                + " and PATH",
        })
}

fn binary_version(binary: &Path) -> Result<String, SandboxError> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| SandboxError::BadServerBinary {
            path: binary.to_owned(),
            reason: e.to_string(),
        })?;
    let full = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu ..." -> the version token.
    let text = full
        .split_once("Ver ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map_or_else(|| full.clone(), str::to_owned);
    if !out.status.success() || text.is_empty() {
        return Err(SandboxError::BadServerBinary {
            path: binary.to_owned(),
            reason: format!("`--version` exited with {}", out.status),
        });
    }
    Ok(text)
}

/// Asks the OS for a free port on 127.0.0.1. Another process may take it before the server
/// binds it; [`Sandbox::start`] retries with a new port in that case.
pub fn free_port() -> Result<u16, SandboxError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io_err(Path::new("127.0.0.1:0")))?;
    let port = l
        .local_addr()
        .map_err(io_err(Path::new("127.0.0.1:0")))?
        .port();
    Ok(port)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A short, stable hash for file names (FNV-1a).
fn short_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The last `n` lines of a log file (at most 64 KiB read), for error messages.
pub fn log_tail(path: &Path, n: usize) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return format!("({} could not be read)", path.display());
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether `pid` is a live (not zombie) server process started with `defaults_file`.
fn process_alive(pid: u32, defaults_file: &Path) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Field 3, after the parenthesized command name, is the state; Z is a zombie.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    if state == Some('Z') {
        return false;
    }
    // Guard against pid reuse: only the process started on this sandbox's my.cnf counts
    // (not the process name: a server may run through a loader or under another name).
    let want = format!("--defaults-file={}", defaults_file.display());
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == want.as_bytes()))
}

fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(p, sig);
    }
}

impl Sandbox {
    const RECORD: &'static str = "sandbox.json";

    /// Starts a sandbox: initializes the datadir if needed, starts the server detached from
    /// the terminal, and waits until it accepts connections.
    pub async fn start(opts: &SandboxOptions) -> Result<Sandbox, SandboxError> {
        let dir = &opts.dir;
        if dir.is_file() {
            return Err(SandboxError::Io {
                path: dir.clone(),
                source: std::io::Error::other("exists and is a file, not a directory"),
            });
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let dir = std::fs::canonicalize(dir).map_err(io_err(dir))?;
        if let Ok(old) = Sandbox::open(&dir)
            && old.is_running()
        {
            return Err(SandboxError::AlreadyRunning {
                dir: dir.clone(),
                pid: old.pid,
            });
        }
        // A restart runs the binary the sandbox was made with, unless told otherwise.
        let recorded = Sandbox::open(&dir).ok().map(|old| old.binary);
        let explicit = opts.server_binary.as_deref().or(recorded.as_deref());
        let binary = choose_server_binary(explicit, opts.wanted.as_ref())?;
        let version = binary_version(&binary)?;
        let flavor = flavor_of(&version);
        // A binary named by the caller is checked for its flavor (the caller may mean another
        // major version: a logical backup loads into a newer server): MariaDB on a MySQL 8
        // datadir would "upgrade" a dictionary it cannot read.
        if let Some(w) = &opts.wanted
            && w.flavor != flavor
        {
            return Err(SandboxError::NoFittingServer {
                wanted: w.clone(),
                found: format!("{} {version}", binary.display()),
            });
        }
        let datadir = dir.join("data");
        if !datadir.join("mysql").is_dir() {
            initialize(&binary, flavor, &datadir, &dir, &opts.server_settings)?;
        }
        let mut socket = dir.join("mysqld.sock");
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            socket = std::env::temp_dir().join(format!(
                "lifeboat-{}.sock",
                short_hash(&dir.to_string_lossy())
            ));
        }
        let error_log = dir.join("error.log");
        std::fs::create_dir_all(dir.join("tmp")).map_err(io_err(&dir))?;
        let defaults_file = dir.join("my.cnf");
        let mut attempts = 0;
        loop {
            attempts += 1;
            let port = match opts.port {
                Some(p) => p,
                None => free_port()?,
            };
            let cnf = render_cnf(&binary, opts, &dir, &socket, port, flavor);
            std::fs::write(&defaults_file, cnf).map_err(io_err(&defaults_file))?;
            let log_start = std::fs::metadata(&error_log).map_or(0, |m| m.len());
            let stderr = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("stderr.log"))
                .map_err(io_err(&dir))?;
            let child = Command::new(&binary)
                .arg(format!("--defaults-file={}", defaults_file.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                // Its own process group: a Ctrl-C meant for lifeboat must not kill the server.
                .process_group(0)
                .spawn()
                .map_err(|e| SandboxError::BadServerBinary {
                    path: binary.clone(),
                    reason: e.to_string(),
                })?;
            let mut sb = Sandbox {
                dir: dir.clone(),
                datadir: datadir.clone(),
                socket: socket.clone(),
                port,
                pid: child.id(),
                binary: binary.clone(),
                flavor,
                version: version.clone(),
                defaults_file: defaults_file.clone(),
                error_log: error_log.clone(),
                binlog: opts.binlog,
                started_at: now_secs(),
                child: Some(child),
            };
            // Recorded at once, not when ready: if lifeboat is killed while the server starts,
            // `sandbox stop --dir` can still find and stop it.
            if let Err(e) = sb.save() {
                sb.kill();
                return Err(e);
            }
            match sb
                .wait_ready(opts.start_timeout, opts.stall_timeout, log_start)
                .await
            {
                Ok(()) => {
                    // What the server really does: MySQL logs by default, and a --set may
                    // have turned the log on or off.
                    if let Ok(mut conn) = connect(&sb.connect_options()).await {
                        if let Ok(Some(on)) = conn.query_first::<u8, _>("SELECT @@log_bin").await {
                            sb.binlog = on == 1;
                            let _ = sb.save();
                        }
                        let _ = conn.disconnect().await;
                    }
                    return Ok(sb);
                }
                Err(e) => {
                    sb.kill();
                    let port_taken = std::fs::read_to_string(&error_log).is_ok_and(|t| {
                        let new = t
                            .get(usize::try_from(log_start).unwrap_or(0)..)
                            .unwrap_or("");
                        new.contains("Address already in use")
                            || new.contains("Bind on TCP/IP port")
                    });
                    if port_taken && opts.port.is_none() && attempts < 5 {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    async fn wait_ready(
        &mut self,
        timeout: Duration,
        stall: Option<Duration>,
        log_start: u64,
    ) -> Result<(), SandboxError> {
        let deadline = Instant::now() + timeout;
        // The error log's length and when it last grew.
        let (mut log_len, mut grew) = (0u64, Instant::now());
        let failed = |me: &Sandbox| SandboxError::StartFailed {
            dir: me.dir.clone(),
            log: me.error_log.clone(),
            tail: tail_since(&me.error_log, log_start, 15),
        };
        let mut opts = ConnectOptions::socket_root(&self.socket);
        opts.connect_timeout = Duration::from_secs(5);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_status)) = child.try_wait()
            {
                return Err(failed(self));
            }
            if self.socket.exists()
                && let Ok(conn) = connect(&opts).await
            {
                let _ = conn.disconnect().await;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(failed(self));
            }
            if let Some(stall) = stall {
                let len = std::fs::metadata(&self.error_log).map_or(0, |m| m.len());
                if len != log_len {
                    (log_len, grew) = (len, Instant::now());
                } else if grew.elapsed() > stall
                    && tail_since(&self.error_log, log_start, usize::MAX)
                        .to_ascii_lowercase()
                        .contains("page corruption")
                {
                    return Err(failed(self));
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a running sandbox (maybe started by another, interrupted process) accepts
    /// connections.
    pub async fn await_ready(&self, timeout: Duration) -> Result<(), SandboxError> {
        let deadline = Instant::now() + timeout;
        let mut opts = ConnectOptions::socket_root(&self.socket);
        opts.connect_timeout = Duration::from_secs(5);
        loop {
            if self.socket.exists()
                && let Ok(conn) = connect(&opts).await
            {
                let _ = conn.disconnect().await;
                return Ok(());
            }
            if !self.is_running() || Instant::now() > deadline {
                return Err(SandboxError::StartFailed {
                    dir: self.dir.clone(),
                    log: self.error_log.clone(),
                    tail: log_tail(&self.error_log, 15),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reads `DIR/sandbox.json`.
    pub fn open(dir: &Path) -> Result<Sandbox, SandboxError> {
        let path = dir.join(Self::RECORD);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SandboxError::NotASandbox {
                    dir: dir.to_owned(),
                });
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        serde_json::from_str(&text).map_err(|e| SandboxError::BadRecord {
            path,
            reason: e.to_string(),
        })
    }

    fn save(&self) -> Result<(), SandboxError> {
        let path = self.dir.join(Self::RECORD);
        let tmp = self.dir.join(".sandbox.json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| SandboxError::BadRecord {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// Whether the server process is alive.
    pub fn is_running(&self) -> bool {
        process_alive(self.pid, &self.defaults_file)
    }

    /// How to connect as root (socket, no password).
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions::socket_root(&self.socket)
    }

    /// Clean shutdown (SIGTERM: the server flushes and closes like `SHUTDOWN`), waiting up
    /// to `timeout`. Returns false when it was not running.
    pub async fn stop(&mut self, timeout: Duration) -> Result<bool, SandboxError> {
        if !self.is_running() {
            self.reap();
            return Ok(false);
        }
        signal(self.pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + timeout;
        while self.is_running() {
            self.reap_nowait();
            if Instant::now() > deadline {
                return Err(SandboxError::StopTimeout {
                    dir: self.dir.clone(),
                    pid: self.pid,
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.reap();
        Ok(true)
    }

    /// Kills the server at once (SIGKILL), like a crash. For tests and failed starts.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        } else if self.is_running() {
            signal(self.pid, rustix::process::Signal::KILL);
        }
        self.reap();
    }

    fn reap_nowait(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.try_wait();
        }
    }

    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

/// The lines of a log that report errors (install-db buries them under a page of advice),
/// or its last lines when none is marked.
fn error_lines(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("[ERROR]") || l.contains("error:"))
        .take(10)
        .collect();
    if errors.is_empty() {
        log_tail(log, 15)
    } else {
        errors.join("\n")
    }
}

fn tail_since(log: &Path, start: u64, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let new = text
        .get(usize::try_from(start).unwrap_or(0)..)
        .unwrap_or(&text);
    let lines: Vec<&str> = new.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n");
    if tail.is_empty() {
        log_tail(log, n)
    } else {
        tail
    }
}

fn initialize(
    binary: &Path,
    flavor: Flavor,
    datadir: &Path,
    dir: &Path,
    settings: &[String],
) -> Result<(), SandboxError> {
    let log = dir.join("init.log");
    let log_file = std::fs::File::create(&log).map_err(io_err(&log))?;
    let log_err = log_file.try_clone().map_err(io_err(&log))?;
    let mut cmd;
    match flavor {
        Flavor::MariaDb => {
            let install = find_install_db(binary)?;
            // The server binary lives in <basedir>/sbin or <basedir>/bin.
            let basedir = binary
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("/usr"));
            cmd = Command::new(install);
            cmd.arg("--no-defaults")
                .arg(format!("--datadir={}", datadir.display()))
                .arg(format!("--basedir={}", basedir.display()))
                // A root account with no password over the socket and 127.0.0.1, like
                // `mysqld --initialize-insecure`: the sandbox listens nowhere else.
                .arg("--auth-root-authentication-method=normal")
                .arg("--skip-test-db");
        }
        Flavor::MySql => {
            cmd = Command::new(binary);
            cmd.arg("--no-defaults")
                .arg("--initialize-insecure")
                .arg(format!("--datadir={}", datadir.display()));
        }
    }
    if is_root() {
        cmd.arg("--user=root");
    }
    // The page size is fixed when the system tablespace is created: a setting of it must
    // reach the bootstrap too.
    for s in settings {
        let s = s.trim_start_matches("--");
        if let Some((k, v)) = s.split_once('=')
            && k.trim().replace('-', "_") == "innodb_page_size"
        {
            cmd.arg(format!("--innodb-page-size={}", v.trim()));
        }
    }
    // A private tmpdir: parallel bootstraps in a shared /tmp collide on internal temp-table
    // names and fail with "Unknown table 'mysql.tmp_user_nopasswd,...'".
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    cmd.env("TMPDIR", &tmp);
    let status = cmd
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .status()
        .map_err(io_err(binary))?;
    if !status.success() || !datadir.join("mysql").is_dir() {
        return Err(SandboxError::InitFailed {
            datadir: datadir.to_owned(),
            log: log.clone(),
            tail: error_lines(&log),
        });
    }
    Ok(())
}

/// For a server unpacked outside `/usr` (lifeboat's own installs, a tarball): where its
/// plugins, error messages and character sets are. MariaDB looks for them at the paths it was
/// compiled with, so a second version beside the system's would load the system's plugins
/// and message file; MySQL finds them from its own location, which these lines repeat.
fn install_dirs(binary: &Path) -> Vec<String> {
    let Some(base) = binary.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    if base == Path::new("/usr") || base == Path::new("/") {
        return Vec::new();
    }
    let mut out = vec![format!("basedir={}", base.display())];
    let plugins = base.join("lib/mysql/plugin");
    if plugins.is_dir() {
        out.push(format!("plugin-dir={}", plugins.display()));
    }
    let share = base.join("share/mariadb");
    if share.join("charsets").is_dir() {
        out.push(format!("lc-messages-dir={}", share.display()));
        out.push(format!(
            "character-sets-dir={}",
            share.join("charsets").display()
        ));
    }
    out
}

/// `my.cnf` of the sandbox in `dir` (datadir `dir/data`, log `dir/error.log`).
fn render_cnf(
    binary: &Path,
    opts: &SandboxOptions,
    dir: &Path,
    socket: &Path,
    port: u16,
    flavor: Flavor,
) -> String {
    use std::fmt::Write as _;
    let (datadir, error_log) = (dir.join("data"), dir.join("error.log"));
    let server_id = opts.server_id.unwrap_or(u32::from(port));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Written by `lifeboat sandbox start`; regenerated at every start."
    );
    let _ = writeln!(
        s,
        "# Server by hand: <mariadbd|mysqld> --defaults-file={}/my.cnf",
        dir.display()
    );
    let _ = writeln!(
        s,
        "# Client:        {} --defaults-file={}/my.cnf\n",
        match flavor {
            Flavor::MariaDb => "mariadb",
            Flavor::MySql => "mysql",
        },
        dir.display()
    );
    let _ = writeln!(s, "[mysqld]");
    for line in install_dirs(binary) {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(s, "datadir={}", datadir.display());
    let _ = writeln!(s, "socket={}", socket.display());
    let _ = writeln!(s, "port={port}");
    let _ = writeln!(s, "bind-address=127.0.0.1");
    let _ = writeln!(s, "pid-file={}/mysqld.pid", dir.display());
    let _ = writeln!(s, "log-error={}", error_log.display());
    let _ = writeln!(s, "tmpdir={}/tmp", dir.display());
    let _ = writeln!(s, "server-id={server_id}");
    let _ = writeln!(s, "skip-name-resolve");
    let _ = writeln!(s, "local-infile=1");
    let _ = writeln!(s, "innodb-buffer-pool-size=128M");
    let _ = writeln!(s, "max-allowed-packet=1G");
    // Point-in-time recovery hands archived binlogs to a side instance as relay logs: a
    // known relay log name, and replication only when lifeboat starts it.
    let _ = writeln!(s, "relay-log=relay-bin");
    match flavor {
        Flavor::MariaDb => {
            let _ = writeln!(s, "skip-slave-start");
        }
        Flavor::MySql => {
            let _ = writeln!(s, "skip-replica-start");
            let _ = writeln!(s, "mysqlx=OFF");
            // Packaged builds default to a directory only the package creates
            // (/var/lib/mysql-files) and refuse to start without it; MariaDB's default is
            // empty too.
            let _ = writeln!(s, "secure-file-priv=");
        }
    }
    if is_root() {
        let _ = writeln!(s, "user=root");
    }
    if opts.binlog {
        let _ = writeln!(s, "log-bin=binlog");
        let _ = writeln!(s, "binlog-format=ROW");
        let _ = writeln!(s, "binlog-row-image=FULL");
        let _ = writeln!(s, "binlog-row-metadata=FULL");
        let _ = writeln!(s, "sync-binlog=1");
        let _ = writeln!(s, "binlog-expire-logs-seconds=604800");
        if flavor == Flavor::MySql {
            // The statement beside its rows, as MariaDB's ANNOTATE_ROWS gives by default:
            // how `incidents` tells a DELETE without WHERE.
            let _ = writeln!(s, "binlog-rows-query-log-events=ON");
        }
    }
    for extra in &opts.server_settings {
        let _ = writeln!(s, "{}", extra.trim_start_matches('-'));
    }
    let _ = writeln!(s, "\n[client]");
    let _ = writeln!(s, "socket={}", socket.display());
    let _ = writeln!(s, "port={port}");
    let _ = writeln!(s, "user=root");
    s
}

/// Where lifeboat remembers the sandboxes it started, so `sandbox list` finds them.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

/// One remembered sandbox and whether it runs.
#[derive(Debug, Serialize)]
pub struct RegistryEntry {
    /// The sandbox directory.
    pub dir: PathBuf,
    /// What `sandbox.json` says, when readable.
    pub sandbox: Option<Sandbox>,
    /// Whether its server is alive.
    pub running: bool,
}

#[derive(Serialize, Deserialize)]
struct RegistryRecord {
    dir: PathBuf,
}

impl Registry {
    /// A registry kept in `dir` (one small file per sandbox).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn entry_path(&self, sandbox_dir: &Path) -> PathBuf {
        self.dir.join(format!(
            "{}.json",
            short_hash(&sandbox_dir.to_string_lossy())
        ))
    }

    /// Remembers a sandbox.
    pub fn add(&self, sandbox: &Sandbox) -> Result<(), SandboxError> {
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let path = self.entry_path(&sandbox.dir);
        let rec = serde_json::to_string(&RegistryRecord {
            dir: sandbox.dir.clone(),
        })
        .unwrap_or_default();
        std::fs::write(&path, rec).map_err(io_err(&path))
    }

    /// Forgets a sandbox directory.
    pub fn remove(&self, sandbox_dir: &Path) {
        let _ = std::fs::remove_file(self.entry_path(sandbox_dir));
    }

    /// Every remembered sandbox, running or not; entries whose directory is gone are dropped.
    pub fn list(&self) -> Vec<RegistryEntry> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in rd.filter_map(Result::ok) {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let Ok(rec) = serde_json::from_str::<RegistryRecord>(&text) else {
                continue;
            };
            if !rec.dir.exists() {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let sandbox = Sandbox::open(&rec.dir).ok();
            let running = sandbox.as_ref().is_some_and(Sandbox::is_running);
            out.push(RegistryEntry {
                dir: rec.dir,
                sandbox,
                running,
            });
        }
        out.sort_by(|a, b| a.dir.cmp(&b.dir));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_server_is_flavor_and_major_version() {
        let mysql = WantedServer::from_version("9.7.4-2");
        assert_eq!(mysql.flavor, Flavor::MySql);
        assert!(mysql.fits(Flavor::MySql, "9.1.0"));
        assert!(!mysql.fits(Flavor::MySql, "8.4.3"));
        assert!(!mysql.fits(Flavor::MariaDb, "9.7.4-MariaDB"));
        let maria = WantedServer::from_version("10.11.19-MariaDB-0+deb12u1-log");
        assert_eq!(maria.flavor, Flavor::MariaDb);
        assert!(maria.fits(Flavor::MariaDb, "10.11.6-MariaDB"));
        assert!(!maria.fits(Flavor::MariaDb, "11.8.9-MariaDB-0+deb13u1"));
        assert_eq!(maria.to_string(), "MariaDB 10.x");
        let e = SandboxError::NoFittingServer {
            wanted: mysql,
            found: "/usr/sbin/mariadbd 10.11.19-MariaDB".into(),
        };
        assert_eq!(
            e.to_string(),
            "no MySQL 9.x server binary found (found: /usr/sbin/mariadbd 10.11.19-MariaDB)"
        );
        assert!(e.hint().is_some_and(|h| h.contains("--mysqld")));
    }

    #[test]
    fn version_token_and_hash() {
        assert_eq!(short_hash("a"), short_hash("a"));
        assert_ne!(short_hash("a"), short_hash("b"));
    }
}
