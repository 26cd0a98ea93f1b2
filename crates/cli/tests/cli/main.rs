//! The `lifeboat` binary against real MariaDB instances: what a user types, what they see.

mod archive;
mod backup;
mod binlog;
mod demo;
mod diff;
mod forensic;
mod incidents;
mod mysql;
mod mysql8;
mod pitr;
mod s3;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;
use serde_json::Value;

/// A lifeboat invocation isolated from the machine's own config, journal and ~/.my.cnf.
struct Lb {
    home: tempfile::TempDir,
}

impl Lb {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn journal(&self) -> PathBuf {
        self.home.path().join("journal.jsonl")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        c.args(args)
            .env("HOME", self.home.path())
            .env("XDG_STATE_HOME", self.home.path().join("state"))
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("LIFEBOAT_JOURNAL", self.journal())
            .env_remove("LIFEBOAT_PASSWORD")
            .env_remove("LIFEBOAT_CONFIG")
            .stdin(std::process::Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

/// The server's binlog write position and its newest GTID (MariaDB: `gtid_binlog_pos`, one
/// domain here; MySQL: `uuid:N`, the last transaction of the server's own UUID).
async fn binlog_position(srv: &TestServer, c: &mut mysql_async::Conn) -> (String, u64, String) {
    let stmt = if srv.is_mysql() {
        "SHOW BINARY LOG STATUS"
    } else {
        "SHOW BINLOG STATUS"
    };
    let row: mysql_async::Row = c.query_first(stmt).await.unwrap().unwrap();
    let gtid = if srv.is_mysql() {
        let (uuid, executed): (String, String) = c
            .query_first("SELECT @@server_uuid, @@GLOBAL.gtid_executed")
            .await
            .unwrap()
            .unwrap();
        let own = executed
            .replace('\n', "")
            .split(',')
            .find(|s| s.trim().starts_with(&uuid))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let last = own.rsplit(['-', ':']).next().unwrap_or_default().to_owned();
        format!("{uuid}:{last}")
    } else {
        c.query_first("SELECT @@gtid_binlog_pos")
            .await
            .unwrap()
            .unwrap()
    };
    (row.get(0).unwrap(), row.get(1).unwrap(), gtid)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(o)
        )
    })
}

fn socket_args(srv: &TestServer) -> Vec<String> {
    vec![
        "--no-defaults".into(),
        "--socket".into(),
        srv.sandbox.socket.display().to_string(),
        "--user".into(),
        "root".into(),
    ]
}

fn with<'a>(base: &'a [&'a str], extra: &'a [String]) -> Vec<&'a str> {
    base.iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect()
}

fn level<'a>(report: &'a Value, id: &str) -> &'a str {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id}"))["level"]
        .as_str()
        .unwrap()
}

fn summary<'a>(report: &'a Value, id: &str) -> &'a str {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap()["summary"]
        .as_str()
        .unwrap()
}

fn write_secret(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

#[tokio::test]
async fn check_fails_without_binlog() {
    // MySQL logs by default.
    let srv = TestServer::start_with(|o| o.server_settings.push("skip-log-bin".into())).await;
    let lb = Lb::new();
    let extra = socket_args(&srv);
    let o = lb.run(&with(&["check", "--json"], &extra));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(level(&r, "binlog"), "FAIL");
    if srv.is_mysql() {
        assert_eq!(r["server"]["flavor"], "mysql");
        assert_eq!(r["identity"], r["server"]["identity"]["server_uuid"]);
    } else {
        assert_eq!(r["server"]["flavor"], "mariadb");
        assert_eq!(
            r["identity"],
            format!(
                "{}:{}",
                r["server"]["identity"]["hostname"].as_str().unwrap(),
                srv.sandbox.port
            )
        );
    }
    // The text report names the problem and the fix.
    let o = lb.run(&with(&["check"], &extra));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("FAIL  binlog"), "{text}");
    assert!(text.contains("log_bin = mysql-bin"), "{text}");
}

#[tokio::test]
async fn check_reports_each_misconfiguration() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    srv.exec(
        "SET GLOBAL binlog_format='STATEMENT'; SET GLOBAL binlog_row_image='MINIMAL';
         SET GLOBAL sync_binlog=0;
         CREATE DATABASE shop;
         CREATE TABLE shop.nopk (a INT) ENGINE=InnoDB;
         CREATE TABLE shop.legacy (id INT PRIMARY KEY) ENGINE=MyISAM;
         CREATE USER limited@'127.0.0.1' IDENTIFIED BY 'Lim1ted-pw';
         GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON *.* TO limited@'127.0.0.1';",
    )
    .await;
    // No statement beside the row events.
    srv.exec(if srv.is_mysql() {
        "SET GLOBAL binlog_rows_query_log_events = OFF"
    } else {
        "SET GLOBAL binlog_annotate_row_events = OFF"
    })
    .await;
    let lb = Lb::new();
    let pw = write_secret(lb.home.path(), "pw", "Lim1ted-pw\n");
    let port = srv.sandbox.port.to_string();
    let o = lb.run(&[
        "check",
        "--json",
        "--no-defaults",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "limited",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(level(&r, "binlog"), "OK");
    assert_eq!(level(&r, "binlog_format"), "FAIL");
    assert_eq!(level(&r, "binlog_row_image"), "WARN");
    assert_eq!(level(&r, "sync_binlog"), "WARN");
    assert_eq!(level(&r, "binlog_statements"), "WARN");
    assert!(
        summary(&r, "binlog_statements").ends_with("=OFF"),
        "{}",
        summary(&r, "binlog_statements")
    );
    assert_eq!(level(&r, "primary_keys"), "WARN");
    assert!(summary(&r, "primary_keys").contains("shop.nopk"));
    assert_eq!(level(&r, "engines"), "WARN");
    assert!(summary(&r, "engines").contains("shop.legacy (MyISAM)"));
    assert_eq!(level(&r, "privileges_backup"), "FAIL");
    let missing = summary(&r, "privileges_backup");
    // The binlog position needs BINLOG MONITOR on MariaDB, REPLICATION CLIENT on MySQL.
    let monitor = if srv.is_mysql() {
        "REPLICATION CLIENT"
    } else {
        "BINLOG MONITOR"
    };
    assert!(
        missing.contains("RELOAD") && missing.contains(monitor),
        "{missing}"
    );
    assert_eq!(level(&r, "privileges_archive"), "FAIL");
    let fix = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "privileges_backup")
        .unwrap()["fix"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        fix.starts_with(&format!(
            "GRANT RELOAD, {monitor} ON *.* TO 'limited'@'127.0.0.1'"
        )),
        "{fix}"
    );
    // The suggested GRANT really fixes it.
    srv.exec(&fix).await;
    let o = lb.run(&[
        "check",
        "--json",
        "--no-defaults",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "limited",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_eq!(level(&json(&o), "privileges_backup"), "OK");
}

#[tokio::test]
async fn option_files_drive_the_connection() {
    let srv = TestServer::start().await;
    srv.exec("CREATE USER fromcnf@'127.0.0.1' IDENTIFIED BY 'q\"uo te#d'")
        .await;
    let lb = Lb::new();
    let inc = write_secret(
        lb.home.path(),
        "inc.cnf",
        "[lifeboat_lab]\npassword = \"q\\\"uo te#d\"  # the password\n",
    );
    let cnf = write_secret(
        lb.home.path(),
        "my.cnf",
        &format!(
            "[client]\nhost=127.0.0.1\nport={}\nloose-user=nobody\n[lifeboat_lab]\nuser = fromcnf\n!include {}\n",
            srv.sandbox.port,
            inc.display()
        ),
    );
    let o = lb.run(&[
        "check",
        "--json",
        "--defaults-file",
        cnf.to_str().unwrap(),
        "--defaults-group-suffix",
        "_lab",
    ]);
    assert!(code(&o) <= 1, "{}", stderr(&o));
    assert_eq!(json(&o)["server"]["current_user"], "fromcnf@127.0.0.1");
    // A named server in the TOML config, password from a password file.
    let pw = write_secret(lb.home.path(), "pw", "q\"uo te#d");
    let cfg = write_secret(
        lb.home.path(),
        "config.toml",
        &format!(
            "[servers.lab]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"fromcnf\"\npassword_file = \"{}\"\n",
            srv.sandbox.port,
            pw.display()
        ),
    );
    let o = lb.run(&[
        "check",
        "--json",
        "--no-defaults",
        "--config",
        cfg.to_str().unwrap(),
        "--server",
        "lab",
    ]);
    assert_eq!(
        json(&o)["server"]["current_user"],
        "fromcnf@127.0.0.1",
        "{}",
        stderr(&o)
    );
    // The environment variable works too.
    let o = lb
        .cmd(&[
            "check",
            "--json",
            "--no-defaults",
            "-h",
            "127.0.0.1",
            "-P",
            &srv.sandbox.port.to_string(),
            "-u",
            "fromcnf",
        ])
        .env("LIFEBOAT_PASSWORD", "q\"uo te#d")
        .output()
        .unwrap();
    assert_eq!(
        json(&o)["server"]["current_user"],
        "fromcnf@127.0.0.1",
        "{}",
        stderr(&o)
    );
    // A config readable by others gets a warning.
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = lb.run(&[
        "check",
        "--json",
        "--no-defaults",
        "--config",
        cfg.to_str().unwrap(),
        "--server",
        "lab",
    ]);
    assert!(
        stderr(&o).contains("readable by group or others"),
        "{}",
        stderr(&o)
    );
}

async fn read_only(srv: &TestServer) -> bool {
    let mut c = srv.conn().await;
    let v: Option<u8> = c.query_first("SELECT @@GLOBAL.read_only").await.unwrap();
    v == Some(1)
}

#[tokio::test]
async fn freeze_blocks_writes_and_thaw_restores_them() {
    let srv = TestServer::start().await;
    srv.exec(
        "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY) ENGINE=InnoDB;
         CREATE USER app@localhost; GRANT SELECT, INSERT ON shop.* TO app@localhost;",
    )
    .await;
    let lb = Lb::new();
    let extra = socket_args(&srv);
    let identity = json(&lb.run(&with(&["check", "--json"], &extra)))["identity"]
        .as_str()
        .unwrap()
        .to_owned();

    // Unattended without naming the server: refused, nothing changed.
    let o = lb.run(&with(&["freeze", "--reason", "incident"], &extra));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("--confirm-server"), "{}", stderr(&o));
    let o = lb.run(&with(
        &[
            "freeze",
            "--reason",
            "incident",
            "--confirm-server",
            "someone-else:3306",
        ],
        &extra,
    ));
    assert_eq!(code(&o), 3);
    assert!(!read_only(&srv).await);

    // An application session with an uncommitted write.
    let mut app_opts = srv.connect_options();
    app_opts.user = Some("app".into());
    let mut app = lifeboat_server::connect(&app_opts).await.unwrap();
    app.query_drop("BEGIN").await.unwrap();
    app.query_drop("INSERT INTO shop.orders VALUES (1)")
        .await
        .unwrap();

    let o = lb.run(&with(
        &[
            "freeze",
            "--json",
            "--reason",
            "DELETE without WHERE at 14:29",
            "--confirm-server",
            &identity,
        ],
        &extra,
    ));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = json(&o);
    assert_eq!(out["read_only"], true);
    let trx = out["write_transactions"].as_array().unwrap();
    assert_eq!(trx.len(), 1, "{out}");
    assert_eq!(trx[0]["user"], "app");
    assert!(
        out["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["user"] == "app")
    );
    assert!(read_only(&srv).await);

    // A new write is refused with the read-only error.
    let mut app2 = lifeboat_server::connect(&app_opts).await.unwrap();
    let err = app2
        .query_drop("INSERT INTO shop.orders VALUES (2)")
        .await
        .unwrap_err();
    match err {
        mysql_async::Error::Server(s) => assert_eq!(s.code, 1290, "{}", s.message),
        other => panic!("expected the read-only error, got {other}"),
    }

    // --kill-writers ends the open transaction; its row rolls back.
    let o = lb.run(&with(
        &[
            "freeze",
            "--json",
            "--reason",
            "again",
            "--kill-writers",
            "--confirm-server",
            &identity,
        ],
        &extra,
    ));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["killed"].as_array().unwrap().len(), 1);
    assert!(
        app.query_drop("COMMIT").await.is_err(),
        "the killed session must not commit"
    );

    let o = lb.run(&with(
        &["thaw", "--json", "--confirm-server", &identity],
        &extra,
    ));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!read_only(&srv).await);
    app2.query_drop("INSERT INTO shop.orders VALUES (2)")
        .await
        .unwrap();
    let mut c = srv.conn().await;
    let ids: Vec<u32> = c
        .query("SELECT id FROM shop.orders ORDER BY id")
        .await
        .unwrap();
    assert_eq!(ids, vec![2], "row 1 was rolled back by --kill-writers");

    // The journal holds every attempt, refusals included, and no secrets.
    let o = lb.run(&["journal", "--json"]);
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["command"].as_str().unwrap(),
                l["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("freeze", "refused"),
            ("freeze", "refused"),
            ("freeze", "ok"),
            ("freeze", "ok"),
            ("thaw", "ok")
        ]
    );
    assert_eq!(lines[2]["server"], identity.as_str());
    assert!(
        lines[2]["detail"]
            .as_str()
            .unwrap()
            .contains("DELETE without WHERE")
    );
    assert!(!lines[0]["os_user"].as_str().unwrap().is_empty());
    let o = lb.run(&["journal", "--limit", "1"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("thaw"));
}

#[tokio::test]
async fn freeze_dry_run_changes_nothing_and_needs_no_confirmation() {
    let srv = TestServer::start().await;
    let lb = Lb::new();
    let o = lb.run(&with(
        &["freeze", "--json", "--dry-run", "--reason", "look"],
        &socket_args(&srv),
    ));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["dry_run"], true);
    assert!(!read_only(&srv).await);
    assert!(!lb.journal().exists() || std::fs::read_to_string(lb.journal()).unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_gives_one_clear_line() {
    let srv = TestServer::start().await;
    srv.exec("CREATE USER app@'127.0.0.1' IDENTIFIED BY 'correct-horse'")
        .await;
    let lb = Lb::new();
    let port = srv.sandbox.port.to_string();
    let bad_pw = write_secret(lb.home.path(), "badpw", "Tr0ub4dor&3-wrong");

    let assert_clear = |o: &Output, needle: &str| {
        assert_eq!(code(o), 1, "{}", stderr(o));
        let err = stderr(o);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") && first.contains(needle),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !err.contains("Tr0ub4dor") && !err.contains("correct-horse"),
            "{err}"
        );
        assert!(!String::from_utf8_lossy(&o.stdout).contains("Tr0ub4dor"));
    };

    let o = lb.run(&[
        "check",
        "--no-defaults",
        "-h",
        "127.0.0.1",
        "-P",
        &port,
        "-u",
        "app",
        "--password-file",
        bad_pw.to_str().unwrap(),
    ]);
    assert_clear(&o, "Access denied");
    assert!(stderr(&o).contains("hint:"));

    let free = lifeboat_server::sandbox::free_port().unwrap().to_string();
    let o = lb.run(&[
        "check",
        "--no-defaults",
        "-h",
        "127.0.0.1",
        "-P",
        &free,
        "-u",
        "app",
    ]);
    assert_clear(&o, "cannot connect to 127.0.0.1");

    let o = lb.run(&[
        "check",
        "--no-defaults",
        "--socket",
        "/nonexistent/mysqld.sock",
    ]);
    assert_clear(&o, "socket /nonexistent/mysqld.sock does not exist");

    let broken = write_secret(lb.home.path(), "broken.cnf", "[client]\nuser=x\n[oops\n");
    let o = lb.run(&["check", "--defaults-file", broken.to_str().unwrap()]);
    assert_clear(&o, "broken.cnf, line 3");

    let o = lb.run(&[
        "check",
        "--no-defaults",
        "-h",
        "127.0.0.1",
        "-P",
        &port,
        "--password-file",
        "/nonexistent/pw",
    ]);
    assert_clear(&o, "cannot read password file /nonexistent/pw");
    let o = lb.run(&[
        "check",
        "--no-defaults",
        "-h",
        "127.0.0.1",
        "-P",
        &port,
        "--password-file",
        "/tmp",
    ]);
    assert_clear(&o, "cannot read password file /tmp");

    let o = lb.run(&["check", "--no-defaults", "--server", "prod"]);
    assert_clear(&o, "no server named \"prod\"");

    let o = lb.run(&[
        "sandbox",
        "start",
        "--dir",
        lb.home.path().join("sb").to_str().unwrap(),
        "--mysqld",
        "/nonexistent/mariadbd",
    ]);
    assert_clear(&o, "server binary /nonexistent/mariadbd cannot be run");

    // A password value on argv: refused before parsing, never echoed.
    for args in [
        vec!["check", "-pTr0ub4dor"],
        vec!["check", "--password=Tr0ub4dor"],
    ] {
        let o = lb.run(&args);
        assert_eq!(code(&o), 2);
        assert!(!stderr(&o).contains("Tr0ub4dor"), "{}", stderr(&o));
    }
    // -p without a terminal cannot prompt.
    let o = lb.run(&[
        "check",
        "--no-defaults",
        "-h",
        "127.0.0.1",
        "-P",
        &port,
        "-p",
    ]);
    assert_clear(&o, "no terminal");
}

/// Stops a CLI-started sandbox even when the test fails.
pub(crate) struct StopOnDrop(pub(crate) PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Ok(mut sb) = lifeboat_server::Sandbox::open(&self.0) {
            sb.kill();
        }
    }
}

#[tokio::test]
async fn sandbox_commands_start_list_stop() {
    let lb = Lb::new();
    let dir = tempfile::Builder::new()
        .prefix("lbs-")
        .tempdir_in("/tmp")
        .unwrap();
    let sb_dir = dir.path().join("side");
    let _guard = StopOnDrop(sb_dir.clone());
    // The server under test, named as a user would (--mysqld).
    let mysqld = std::env::var("LIFEBOAT_TEST_MYSQLD").ok();
    let mut args = vec![
        "sandbox",
        "start",
        "--json",
        "--binlog",
        "--dir",
        sb_dir.to_str().unwrap(),
    ];
    if let Some(m) = &mysqld {
        args.extend(["--mysqld", m.as_str()]);
    }
    let o = lb.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let started = json(&o);
    let port = started["port"].as_u64().unwrap();
    let mysql = std::env::var("LIFEBOAT_TEST_SERVER").is_ok_and(|s| s.starts_with("mysql"));
    let version = started["version"].as_str().unwrap();
    assert!(
        version.starts_with(if mysql { "MySQL " } else { "MariaDB " }),
        "{version}"
    );
    assert_eq!(started["binlog"], true, "{started}");

    // Reachable as printed, and `check` on it is clean apart from nothing.
    let cnf = started["defaults_file"].as_str().unwrap();
    let o = lb.run(&["check", "--json", "--defaults-file", cnf]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["server"]["identity"]["port"].as_u64(), Some(port));
    assert_eq!(level(&r, "binlog_format"), "OK");

    // Listed while running; starting it twice is refused with a clear error.
    let list = json(&lb.run(&["sandbox", "list", "--json"]));
    assert_eq!(list[0]["running"], true, "{list}");
    let o = lb.run(&["sandbox", "start", "--dir", sb_dir.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("already running"), "{}", stderr(&o));

    // It binds only to 127.0.0.1.
    let ss = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss from iproute2 (scripts/install-deps installs it)");
    let text = String::from_utf8_lossy(&ss.stdout);
    assert!(
        !text.trim().is_empty(),
        "the sandbox must listen on its port"
    );
    assert!(text.lines().all(|l| l.contains("127.0.0.1:")), "{text}");

    let o = lb.run(&[
        "sandbox",
        "stop",
        "--json",
        "--dir",
        sb_dir.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["was_running"], true);
    let list = json(&lb.run(&["sandbox", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
    let log = std::fs::read_to_string(sb_dir.join("error.log")).unwrap();
    assert!(log.contains("Shutdown complete"));
}

#[test]
fn help_explains_every_command() {
    let lb = Lb::new();
    let o = lb.run(&["--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for cmd in [
        "check",
        "freeze",
        "thaw",
        "sandbox",
        "journal",
        "Exit codes",
    ] {
        assert!(text.contains(cmd), "{cmd} missing from --help:\n{text}");
    }
    for sub in [
        &["check", "--help"][..],
        &["freeze", "--help"],
        &["thaw", "--help"],
        &["sandbox", "start", "--help"],
        &["journal", "--help"],
    ] {
        let o = lb.run(sub);
        assert_eq!(code(&o), 0, "{sub:?}");
        assert!(String::from_utf8_lossy(&o.stdout).len() > 200, "{sub:?}");
    }
    let o = lb.run(&["check", "--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("--password-file"));
    let o = lb.run(&["no-such-command"]);
    assert_eq!(code(&o), 2);
}

/// Runs lifeboat under a pseudo-terminal (util-linux `script`), typing `input`.
fn run_on_terminal(lb: &Lb, args: &[&str], input: &str) -> (i32, String) {
    use std::io::Write;
    let cmdline = std::iter::once(env!("CARGO_BIN_EXE_lifeboat"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    // The same isolated environment as every other invocation.
    let base = lb.cmd(&[]);
    let mut child = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .envs(
            base.get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .env_remove("LIFEBOAT_PASSWORD")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    (code(&o), String::from_utf8_lossy(&o.stdout).into_owned())
}

#[tokio::test]
async fn interactive_freeze_asks_for_the_identity() {
    let srv = TestServer::start().await;
    let lb = Lb::new();
    let extra = socket_args(&srv);
    let identity = json(&lb.run(&with(&["check", "--json"], &extra)))["identity"]
        .as_str()
        .unwrap()
        .to_owned();
    let (rc, out) = run_on_terminal(
        &lb,
        &with(&["freeze", "--reason", "t"], &extra),
        "some-other-db:3306\n",
    );
    assert_eq!(rc, 3, "{out}");
    assert!(
        out.contains(&format!("Type the server identity `{identity}`")),
        "{out}"
    );
    assert!(!read_only(&srv).await);
    let (rc, out) = run_on_terminal(
        &lb,
        &with(&["freeze", "--reason", "t"], &extra),
        &format!("{identity}\n"),
    );
    assert_eq!(rc, 0, "{out}");
    assert!(read_only(&srv).await);
}
