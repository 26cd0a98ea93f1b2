//! Throwaway servers for tests: `TestServer::start().await` gives a fresh MariaDB/MySQL with
//! its own datadir, port and socket, killed and deleted when the value drops — also when the
//! test panics. A watchdog process kills the server if the test process dies without
//! unwinding (a timeout kill), so no test leaves a server behind.

use std::path::Path;
use std::process::{Command, Stdio};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::connect::{ConnectOptions, connect};
use crate::sandbox::{Sandbox, SandboxOptions};

/// A server that lives as long as this value.
pub struct TestServer {
    /// The running sandbox.
    pub sandbox: Sandbox,
    dir: tempfile::TempDir,
}

impl TestServer {
    /// A fresh server with default settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A fresh server; `configure` adjusts the options (binlog, extra settings).
    pub async fn start_with(configure: impl FnOnce(&mut SandboxOptions)) -> Self {
        // Short paths: a unix socket path must stay under 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("lbt-")
            .tempdir_in("/tmp")
            .expect("creating a temp dir in /tmp");
        let mut opts = SandboxOptions::new(dir.path().join("sb"));
        configure(&mut opts);
        let sandbox = match Sandbox::start(&opts).await {
            Ok(s) => s,
            Err(e) => panic!("test server failed to start: {e}"),
        };
        spawn_watchdog(sandbox.pid, dir.path());
        Self { sandbox, dir }
    }

    /// Root over the socket.
    pub fn connect_options(&self) -> ConnectOptions {
        self.sandbox.connect_options()
    }

    /// A new root connection.
    pub async fn conn(&self) -> Conn {
        connect(&self.connect_options())
            .await
            .expect("connecting to the test server")
    }

    /// Runs statements as root.
    pub async fn exec(&self, sql: &str) {
        let mut c = self.conn().await;
        if let Err(e) = c.query_drop(sql).await {
            panic!("test SQL failed: {e}\n{sql}");
        }
        let _ = c.disconnect().await;
    }

    /// The temporary directory holding the sandbox (for extra files a test writes).
    pub fn tmp(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.sandbox.kill();
    }
}

fn spawn_watchdog(server_pid: u32, dir: &Path) {
    let me = std::process::id();
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -9 {server_pid} 2>/dev/null; rm -rf '{}'",
        dir.display()
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}
