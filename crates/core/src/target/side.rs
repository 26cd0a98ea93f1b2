//! Side instances as the CLI offers them: start, stop, list, remembered in a registry.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lifeboat_server::{Registry, Sandbox, SandboxOptions};
use serde::Serialize;

use crate::error::Error;

/// The registry under the state directory.
pub fn registry() -> Registry {
    Registry::new(crate::paths::state_dir().join("sandboxes"))
}

/// The default directory for a new sandbox: `STATE/sandboxes/sandbox-N`, first unused N.
pub fn default_dir() -> PathBuf {
    let base = crate::paths::state_dir().join("sandboxes");
    (1..)
        .map(|n| base.join(format!("sandbox-{n}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| base.join("sandbox"))
}

/// How to reach a sandbox.
#[derive(Debug, Serialize)]
pub struct Started {
    /// Directory.
    pub dir: PathBuf,
    /// Server version line.
    pub version: String,
    /// Pid.
    pub pid: u32,
    /// Port on 127.0.0.1.
    pub port: u16,
    /// Socket.
    pub socket: PathBuf,
    /// Option file with a `[client]` group.
    pub defaults_file: PathBuf,
    /// Binary log on.
    pub binlog: bool,
    /// Server settings it was started with beyond the sandbox's own (`--set`, or those a
    /// restore chose for it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
    /// Ready-to-paste commands.
    pub connect: Vec<String>,
}

/// The stock command-line client of a flavor.
fn client(flavor: lifeboat_binlog::Flavor) -> &'static str {
    match flavor {
        lifeboat_binlog::Flavor::MySql => "mysql",
        lifeboat_binlog::Flavor::MariaDb => "mariadb",
    }
}

impl From<&Sandbox> for Started {
    fn from(s: &Sandbox) -> Self {
        Self {
            dir: s.dir.clone(),
            version: format!("{} {}", s.flavor, s.version),
            pid: s.pid,
            port: s.port,
            socket: s.socket.clone(),
            defaults_file: s.defaults_file.clone(),
            binlog: s.binlog,
            settings: Vec::new(),
            connect: vec![
                format!(
                    "{} --defaults-file={}",
                    client(s.flavor),
                    s.defaults_file.display()
                ),
                format!("{} -uroot -h127.0.0.1 -P{}", client(s.flavor), s.port),
                format!(
                    "lifeboat check --defaults-file {}",
                    s.defaults_file.display()
                ),
            ],
        }
    }
}

/// Starts (or restarts) a sandbox and remembers it.
pub async fn start(opts: &SandboxOptions) -> Result<Started, Error> {
    let sb = Sandbox::start(opts).await?;
    registry().add(&sb)?;
    Ok(Started {
        settings: opts.server_settings.clone(),
        ..Started::from(&sb)
    })
}

/// What `stop` did.
#[derive(Debug, Serialize)]
pub struct Stopped {
    /// Directory.
    pub dir: PathBuf,
    /// Whether it was running.
    pub was_running: bool,
    /// Whether the directory was deleted.
    pub removed: bool,
}

/// Cleanly stops a sandbox; with `remove`, deletes its directory (only a real sandbox).
pub async fn stop(dir: &Path, remove: bool) -> Result<Stopped, Error> {
    let mut sb = Sandbox::open(dir)?;
    let was_running = sb.stop(Duration::from_secs(120)).await?;
    let reg = registry();
    reg.remove(&sb.dir);
    if remove {
        std::fs::remove_dir_all(&sb.dir).map_err(|source| lifeboat_server::SandboxError::Io {
            path: sb.dir.clone(),
            source,
        })?;
        if sb.socket.exists() {
            let _ = std::fs::remove_file(&sb.socket);
        }
    }
    Ok(Stopped {
        dir: sb.dir.clone(),
        was_running,
        removed: remove,
    })
}

/// One row of `sandbox list`.
#[derive(Debug, Serialize)]
pub struct Listed {
    /// Directory.
    pub dir: PathBuf,
    /// Running or not.
    pub running: bool,
    /// Port.
    pub port: Option<u16>,
    /// Pid.
    pub pid: Option<u32>,
    /// Socket.
    pub socket: Option<PathBuf>,
    /// Version line.
    pub version: Option<String>,
}

/// Every remembered sandbox.
pub fn list() -> Vec<Listed> {
    registry()
        .list()
        .into_iter()
        .map(|e| Listed {
            running: e.running,
            port: e.sandbox.as_ref().map(|s| s.port),
            pid: e.sandbox.as_ref().map(|s| s.pid),
            socket: e.sandbox.as_ref().map(|s| s.socket.clone()),
            version: e.sandbox.as_ref().map(|s| s.version.clone()),
            dir: e.dir,
        })
        .collect()
}
