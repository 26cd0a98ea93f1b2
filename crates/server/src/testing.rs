//! Throwaway servers for tests: `TestServer::start().await` gives a fresh MariaDB/MySQL with
//! its own datadir, port and socket, killed and deleted when the value drops — also when the
//! test panics. A watchdog process kills the server if the test process dies without
//! unwinding (a timeout kill), so no test leaves a server behind.
//!
//! Which server: `LIFEBOAT_TEST_MYSQLD` (a path; `scripts/test` sets it for each server of
//! `LIFEBOAT_TEST_SERVERS`), else the first one lifeboat finds. A test that cannot apply to a
//! flavor says so in its name (`..._mariadb_only`, `..._mysql_only`); `scripts/test` leaves
//! it out of the other flavor's run, and [`TestServer`] refuses to start the wrong one.

use std::path::Path;
use std::process::{Command, Stdio};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use lifeboat_binlog::Flavor;

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
        opts.server_binary = std::env::var_os("LIFEBOAT_TEST_MYSQLD").map(Into::into);
        configure(&mut opts);
        let sandbox = match Sandbox::start(&opts).await {
            Ok(s) => s,
            Err(e) => panic!("test server failed to start: {e}"),
        };
        spawn_watchdog(sandbox.pid, dir.path());
        // The test harness names each test's thread after the test.
        let test = std::thread::current().name().unwrap_or_default().to_owned();
        let wrong = match sandbox.flavor {
            Flavor::MySql => test.contains("mariadb_only"),
            Flavor::MariaDb => test.contains("mysql_only"),
        };
        assert!(
            !wrong,
            "{test} does not apply to {} {}",
            sandbox.flavor, sandbox.version
        );
        let srv = Self { sandbox, dir };
        if srv.is_mysql() {
            // Fixtures make up to 100,000 rows with a recursive CTE (see `exec`), and create
            // functions with the binlog on (MySQL logs by default) as MariaDB tests do.
            srv.exec(
                "SET GLOBAL cte_max_recursion_depth = 1000000; SET GLOBAL log_bin_trust_function_creators = 1",
            )
            .await;
        }
        srv
    }

    /// The server's flavor.
    pub fn flavor(&self) -> Flavor {
        self.sandbox.flavor
    }

    /// Whether it is MySQL (tests whose expectations differ by flavor).
    pub fn is_mysql(&self) -> bool {
        self.sandbox.flavor == Flavor::MySql
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

    /// Runs statements as root. On MySQL, MariaDB's sequence tables (`seq_1_to_N`, which
    /// fixtures use to make rows) are written as the recursive CTE that gives the same rows,
    /// and `MD5(x)` (gone from MySQL 9) as 32 hex digits of SHA-256.
    pub async fn exec(&self, sql: &str) {
        let sql = self.portable(sql);
        let mut c = self.conn().await;
        if let Err(e) = c.query_drop(&sql).await {
            panic!("test SQL failed: {e}\n{sql}");
        }
        let _ = c.disconnect().await;
    }

    /// `sql` for this server's flavor (see [`TestServer::exec`]).
    pub fn portable(&self, sql: &str) -> String {
        if self.is_mysql() {
            md5_as_sha2(&sequences_as_cte(sql))
        } else {
            sql.to_owned()
        }
    }

    /// The stock command-line client of this server's flavor (`mysql` or `mariadb`, from
    /// PATH), connected as root through the sandbox's my.cnf.
    pub fn client(&self) -> Command {
        let mut c = Command::new(match self.sandbox.flavor {
            Flavor::MySql => "mysql",
            Flavor::MariaDb => "mariadb",
        });
        c.arg(format!(
            "--defaults-file={}",
            self.sandbox.defaults_file.display()
        ));
        c
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

/// MariaDB's sequence tables (`seq_A_to_B`, `db.seq_A_to_B`) as recursive CTEs giving the same
/// rows, for MySQL (which needs `cte_max_recursion_depth` above the count).
fn sequences_as_cte(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find("seq_") {
        let tail = &rest[i + 4..];
        let from: String = tail.chars().take_while(char::is_ascii_digit).collect();
        let Some(after) = tail[from.len()..].strip_prefix("_to_") else {
            out.push_str(&rest[..i + 4]);
            rest = tail;
            continue;
        };
        let to: String = after.chars().take_while(char::is_ascii_digit).collect();
        if from.is_empty() || to.is_empty() {
            out.push_str(&rest[..i + 4]);
            rest = tail;
            continue;
        }
        // An optional `db.` before the name belongs to it.
        let start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .map_or(0, |j| j + 1);
        out.push_str(&rest[..start]);
        out.push_str(&format!(
            "(WITH RECURSIVE lb_seq(seq) AS (SELECT {from} UNION ALL SELECT seq + 1 FROM lb_seq WHERE seq < {to}) SELECT seq FROM lb_seq) AS seq_{from}_to_{to}"
        ));
        rest = &after[to.len()..];
    }
    out.push_str(rest);
    out
}

/// `MD5(x)` as `LEFT(SHA2(x, 256), 32)`: the same shape of value for fixtures that make
/// data with it.
fn md5_as_sha2(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find("MD5(") {
        let arg_start = i + 4;
        let mut depth = 1usize;
        let mut end = None;
        for (j, c) in rest[arg_start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(arg_start + j);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        out.push_str(&rest[..i]);
        out.push_str(&format!("LEFT(SHA2({}, 256), 32)", &rest[arg_start..end]));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
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

#[cfg(test)]
mod tests {
    #[test]
    fn sequence_tables_become_ctes() {
        let sql =
            "INSERT INTO t SELECT seq FROM shop.seq_1_to_5; SELECT seq_no FROM seq_3001_to_4000";
        assert_eq!(
            super::sequences_as_cte(sql),
            "INSERT INTO t SELECT seq FROM (WITH RECURSIVE lb_seq(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM lb_seq WHERE seq < 5) SELECT seq FROM lb_seq) AS seq_1_to_5; \
             SELECT seq_no FROM (WITH RECURSIVE lb_seq(seq) AS (SELECT 3001 UNION ALL SELECT seq + 1 FROM lb_seq WHERE seq < 4000) SELECT seq FROM lb_seq) AS seq_3001_to_4000"
        );
        assert_eq!(
            super::md5_as_sha2("SELECT UNHEX(MD5(CONCAT(seq, 'x'))), MD5(1)"),
            "SELECT UNHEX(LEFT(SHA2(CONCAT(seq, 'x'), 256), 32)), LEFT(SHA2(1, 256), 32)"
        );
    }
}
