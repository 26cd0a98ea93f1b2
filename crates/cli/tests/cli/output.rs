//! Snapshots (insta, `snapshots/`) of what people and scripts read: every command's `--help`,
//! and the text and `--json` output of `check`, `incidents`, `backups` and `binlogs`. A change
//! to any of them fails here until the new snapshot is reviewed and committed
//! (`cargo insta review`, or `INSTA_UPDATE=always` and read the diff); CI (`CI=true`) never
//! writes one.
//!
//! What varies from run to run (ports, paths, host names, server UUIDs, times, backup ids,
//! lock durations, thread ids) or from one server version to the next (versions, binlog positions and
//! byte counts, hashes of server-written files) is replaced by a `[LABEL]`: JSON fields by
//! [`redact`] before printing, the rest by the filters of [`Volatile`]. Output of a real server
//! is snapshotted per flavor (`…_mariadb`, `…_mysql`: its findings, GTIDs and dumps differ);
//! MariaDB 10.11 and 11.8 share one. The help and the committed fixture binlogs need no server.

use std::path::Path;
use std::process::Output;

use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;
use serde_json::Value;

use crate::harness::{Lb, code, no_statements_in_binlog, repo_init, socket_args, stderr, with};

// ---------------------------------------------------------------------------------------
// Running and snapshotting

/// `lifeboat ARGS` as a user with a 100-column terminal (help wraps to it) and no
/// LIFEBOAT_REPO sees it. The journal stays in the test's home: only `--help`, which prints
/// LIFEBOAT_JOURNAL's value, runs without it.
fn run(lb: &Lb, args: &[&str]) -> Output {
    lb.cmd(args)
        .env("COLUMNS", "100")
        .env_remove("LIFEBOAT_REPO")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `mariadb` or `mysql`: the suffix of a snapshot of this server's output.
fn flavor(srv: &TestServer) -> &'static str {
    if srv.is_mysql() { "mysql" } else { "mariadb" }
}

/// Escapes `s` for a regex (what `regex::escape` does, without the dependency).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Replaces each value at `path` (`/`-separated keys, `*` for every element of an array, or
/// every value of an object) with the string `[label]`; a path that is absent is left alone.
fn redact(v: &mut Value, path: &str, label: &str) {
    fn walk(v: &mut Value, keys: &[&str], label: &str) {
        let Some((first, rest)) = keys.split_first() else {
            *v = Value::String(format!("[{label}]"));
            return;
        };
        match (*first, v) {
            ("*", Value::Array(items)) => items.iter_mut().for_each(|i| walk(i, rest, label)),
            ("*", Value::Object(map)) => map.values_mut().for_each(|i| walk(i, rest, label)),
            (key, Value::Object(map)) => {
                if let Some(i) = map.get_mut(key) {
                    walk(i, rest, label);
                }
            }
            _ => {}
        }
    }
    let keys: Vec<&str> = path.split('/').filter(|k| !k.is_empty()).collect();
    walk(v, &keys, label);
}

/// `o`'s stdout as JSON, redacted at each `(path, label)`, pretty-printed as lifeboat prints it.
fn redacted_json(o: &Output, paths: &[(&str, &str)]) -> String {
    let mut v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o));
    });
    for (path, label) in paths {
        redact(&mut v, path, label);
    }
    serde_json::to_string_pretty(&v).unwrap()
}

/// The filters a snapshot is taken through: first the literal values of this test (paths,
/// host, port, UUID, version), then, for a server's output, the patterns of volatile values
/// anywhere; blanks at line ends always go.
#[derive(Default)]
struct Volatile {
    literals: Vec<(String, String)>,
    /// Whether [`PATTERNS`] apply (to a server's output; a fixture's is fixed).
    patterns: bool,
    /// comfy-table pads each column to its widest cell, which a filtered value changes:
    /// runs of blanks become two.
    tables: bool,
}

/// Volatile values by pattern, after the literals.
const PATTERNS: &[(&str, &str)] = &[
    // Backup ids: the start time and 4 random hex digits.
    (r"\b\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{4}\b", "[BACKUP_ID]"),
    // RFC 3339 times, in UTC, any precision.
    (r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]"),
    // Content hashes of dumps and of server-written binlogs.
    (r"\b[0-9a-f]{64}\b", "[SHA256]"),
    // Binlog positions (and incident ids, FILE:POS): event sizes change between versions.
    (r"\b(binlog\.\d{6}):\d+", "${1}:[POS]"),
    (r"\boffset \d+", "offset [POS]"),
    // Connection ids of the sessions that wrote.
    (r"\bthread \d+", "thread [THREAD]"),
];

impl Volatile {
    fn tables() -> Self {
        Self {
            tables: true,
            ..Self::default()
        }
    }

    /// `value`, wherever it appears, becomes `[label]`.
    fn literal(mut self, value: impl AsRef<str>, label: &str) -> Self {
        let value = value.as_ref();
        assert!(!value.is_empty(), "an empty {label}");
        self.literals.push((escape(value), format!("[{label}]")));
        self
    }

    /// Matches of the regex `re` become `to` (in order with the literals).
    fn pattern(mut self, re: &str, to: &str) -> Self {
        self.literals.push((re.to_owned(), to.to_owned()));
        self
    }

    /// What identifies `srv` and the test's own files: its directory (socket, datadir), the
    /// test's home (repository), its port, server UUID and host name.
    fn server(self, lb: &Lb, srv: &TestServer) -> Self {
        let check: Value =
            serde_json::from_slice(&run(lb, &with(&["check", "--json"], &socket_args(srv))).stdout)
                .unwrap();
        let s = &check["server"];
        let mut me = Self {
            patterns: true,
            ..self
        }
        .literal(srv.tmp().display().to_string(), "TMP")
        .literal(lb.home.path().display().to_string(), "HOME")
        .literal(
            format!(
                "{} ({})",
                version(s),
                s["version_comment"].as_str().unwrap()
            ),
            "VERSION (COMMENT)",
        )
        .literal(s["version_string"].as_str().unwrap(), "VERSION");
        if let Some(uuid) = s["identity"]["server_uuid"].as_str() {
            me = me.literal(uuid, "SERVER_UUID");
        }
        let host = s["identity"]["hostname"].as_str().unwrap();
        let port = srv.sandbox.port;
        // MariaDB's identity, and the name of its archive.
        me.literal(format!("{host}:{port}"), "HOST:PORT")
            .literal(format!("{host}_{port}"), "HOST_PORT")
    }

    fn settings(&self, command: &str, table: bool) -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.set_description(command);
        s.set_omit_expression(true);
        for (re, to) in &self.literals {
            s.add_filter(re, to.as_str());
        }
        if self.patterns {
            for (re, to) in PATTERNS {
                s.add_filter(re, *to);
            }
        }
        if table {
            s.add_filter(r" {3,}", "  ");
        }
        s.add_filter(r"(?m)[ \t]+$", "");
        s
    }

    /// Asserts snapshot `name` of `text`, the output of `command` (which its header shows).
    fn assert(&self, name: &str, command: &str, text: &str) {
        self.settings(command, self.tables)
            .bind(|| insta::assert_snapshot!(name.to_owned(), text));
    }

    /// [`Volatile::assert`] of JSON: never a table.
    fn assert_json(&self, name: &str, command: &str, json: &str) {
        self.settings(command, false)
            .bind(|| insta::assert_snapshot!(name.to_owned(), json));
    }
}

/// `MAJOR.MINOR.PATCH` of `check --json`'s `server`.
fn version(server: &Value) -> String {
    let v = &server["version"];
    format!("{}.{}.{}", v["major"], v["minor"], v["patch"])
}

// ---------------------------------------------------------------------------------------
// --help

/// The subcommands a help text lists: the top level's grouped lines (two blanks, a name, then
/// its summary), or clap's `Commands:` section; never `help`.
fn subcommands(help: &str) -> Vec<String> {
    let body = match help.split_once("\nCommands:\n") {
        Some((_, rest)) => rest.split("\n\n").next().unwrap_or_default(),
        None if help.contains("\nWhich server") => {
            help.split("\nOptions:\n").next().unwrap_or_default()
        }
        None => "",
    };
    body.lines()
        .filter_map(|l| {
            let name = l.strip_prefix("  ")?.split("  ").next()?;
            let plain =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '-');
            (plain && name != "help").then(|| name.to_owned())
        })
        .collect()
}

/// `lifeboat --help` and the `--help` of every command and subcommand, found by walking the
/// lists the help texts themselves print; the list of commands is a snapshot too, so a new
/// command needs its help reviewed.
#[test]
fn help_of_every_command() {
    let lb = Lb::new();
    let plain = Volatile::default();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    let mut seen: Vec<String> = Vec::new();
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let mut cmd = lb.cmd(&args);
        cmd.env("COLUMNS", "100")
            .env_remove("LIFEBOAT_REPO")
            .env_remove("LIFEBOAT_JOURNAL");
        let o = cmd.output().unwrap();
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        let text = stdout(&o);
        let name = ["help"]
            .into_iter()
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("_")
            .replace('-', "_");
        plain.assert(&name, &format!("lifeboat {}", args.join(" ")), &text);
        seen.push(path.join(" "));
        for sub in subcommands(&text).into_iter().rev() {
            let mut next = path.clone();
            next.push(sub);
            todo.push(next);
        }
    }
    let list = seen
        .iter()
        .map(|p| format!("lifeboat {p}").trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    plain.assert(
        "help_commands",
        "every command whose --help is a snapshot",
        &list,
    );
}

// ---------------------------------------------------------------------------------------
// incidents on committed binlogs (crates/binlog/tests/data: no server)

fn mysql_common(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../binlog/tests/data/mysql-common")
        .join(file)
        .display()
        .to_string()
}

/// Every field of these is fixed by the file: nothing is filtered (but blanks at line ends).
#[test]
fn incidents_of_fixture_binlogs() {
    let lb = Lb::new();
    let plain = Volatile::default();
    for (name, files) in [
        // MySQL 5.6 with GTIDs: a DROP TABLE after two transactions.
        ("gtid", &["binlog_transaction_with_GTID.000001"][..]),
        // MariaDB 10.5 (nothing destructive), then MySQL 9.0: a DROP DATABASE with
        // transactions either side.
        ("drop_database", &["mariadb-bin.000001", "vector.binlog"]),
        // MySQL 5.7, anonymous transactions only: nothing destructive.
        ("none", &["binlog_transaction_with_anonymous_GTID.000001"]),
    ] {
        let paths: Vec<String> = files.iter().map(|f| mysql_common(f)).collect();
        let shown = format!("lifeboat incidents {}", files.join(" "));
        let o = run(&lb, &with(&["incidents"], &paths));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        plain.assert(&format!("incidents_{name}_text"), &shown, &stdout(&o));
        let o = run(&lb, &with(&["incidents", "--json"], &paths));
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        plain.assert_json(
            &format!("incidents_{name}_json"),
            &shown.replace("incidents", "incidents --json"),
            &redacted_json(&o, &[]),
        );
    }
}

/// An empty repository: what `backups` and `binlogs` say when there is nothing.
#[test]
fn backups_and_binlogs_of_an_empty_repository() {
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let plain = Volatile::default();
    for command in ["backups", "binlogs"] {
        let o = run(&lb, &[command, "--repo", &repo]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let shown = format!("lifeboat {command} --repo REPO");
        plain.assert(&format!("{command}_empty_text"), &shown, &stdout(&o));
        let o = run(&lb, &[command, "--json", "--repo", &repo]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        plain.assert_json(
            &format!("{command}_empty_json"),
            &shown.replace(command, &format!("{command} --json")),
            &redacted_json(&o, &[]),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Real servers

/// A server with the binlog on and server_id 1 (MariaDB's GTIDs are `0-1-N` on every run),
/// holding `shop.t` with one row; its tables in an explicit collation, which MariaDB 10.11 and
/// 11.8 (whose defaults differ) then dump alike.
async fn one_row_server(
    configure: impl FnOnce(&mut lifeboat_server::sandbox::SandboxOptions),
) -> TestServer {
    let srv = TestServer::start_with(|o| {
        o.binlog = true;
        o.server_id = Some(1);
        configure(o);
    })
    .await;
    srv.exec(
        "CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
         CREATE TABLE shop.t (id INT PRIMARY KEY) ENGINE=InnoDB;
         INSERT INTO shop.t VALUES (1)",
    )
    .await;
    srv
}

/// `archive --once` of `srv` into `repo`, with the exit code it must have.
fn archive_once(lb: &Lb, repo: &str, srv: &TestServer, want: i32) {
    let o = run(
        lb,
        &with(&["archive", "--once", "--repo", repo], &socket_args(srv)),
    );
    assert_eq!(code(&o), want, "{}{}", stdout(&o), stderr(&o));
}

/// What `check --json` says of a server that differs between versions of one flavor.
const CHECK_REDACTED: &[(&str, &str)] = &[
    ("server/version", "VERSION"),
    ("server/version_comment", "VERSION_COMMENT"),
    ("server/identity/hostname", "HOST"),
    ("server/identity/port", "PORT"),
    ("server/binlog/current/pos", "POS"),
];

#[tokio::test(flavor = "multi_thread")]
async fn check_output() {
    let srv = one_row_server(|_| {}).await;
    let f = flavor(&srv);
    let lb = Lb::new();
    let repo = repo_init(&lb);
    crate::harness::backup(&lb, &repo, &srv, &[]);
    archive_once(&lb, &repo, &srv, 0);
    let v = Volatile::default().server(&lb, &srv);
    let sock = socket_args(&srv);

    // Ready for a recovery: every finding OK, the repository's too.
    let shown = "lifeboat check --repo REPO (binlog on, backed up, archived)";
    let o = run(&lb, &with(&["check", "--repo", &repo], &sock));
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    v.assert(&format!("check_ready_text_{f}"), shown, &stdout(&o));
    let o = run(&lb, &with(&["check", "--json", "--repo", &repo], &sock));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    v.assert_json(
        &format!("check_ready_json_{f}"),
        &shown.replace("check", "check --json"),
        &redacted_json(&o, CHECK_REDACTED),
    );

    // Misconfigured: each WARN and FAIL with its why and fix.
    srv.exec(
        "SET GLOBAL binlog_format='STATEMENT'; SET GLOBAL binlog_row_image='MINIMAL';
         SET GLOBAL sync_binlog=0;
         CREATE TABLE shop.nopk (a INT) ENGINE=InnoDB;
         CREATE TABLE shop.legacy (id INT PRIMARY KEY) ENGINE=MyISAM;",
    )
    .await;
    no_statements_in_binlog(&srv).await;
    let shown = "lifeboat check (binlog_format=STATEMENT, binlog_row_image=MINIMAL, sync_binlog=0, no statements in the binlog, a table without a primary key, a MyISAM table)";
    let o = run(&lb, &with(&["check"], &sock));
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    v.assert(&format!("check_misconfigured_text_{f}"), shown, &stdout(&o));
    let o = run(&lb, &with(&["check", "--json"], &sock));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    v.assert_json(
        &format!("check_misconfigured_json_{f}"),
        &shown.replace("check", "check --json"),
        &redacted_json(&o, CHECK_REDACTED),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_output() {
    let srv = one_row_server(|_| {}).await;
    let f = flavor(&srv);
    let lb = Lb::new();
    let repo = repo_init(&lb);
    crate::harness::backup(&lb, &repo, &srv, &[]);
    let v = Volatile::tables().server(&lb, &srv);
    let shown = "lifeboat backups --repo REPO (one backup of shop.t, one row)";
    let o = run(&lb, &["backups", "--repo", &repo]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    v.assert(&format!("backups_text_{f}"), shown, &stdout(&o));
    let o = run(&lb, &["backups", "--json", "--repo", &repo]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    v.assert_json(
        &format!("backups_json_{f}"),
        &shown.replace("backups", "backups --json"),
        &redacted_json(
            &o,
            &[
                ("*/body/server/hostname", "HOST"),
                ("*/body/server/port", "PORT"),
                ("*/body/binlog/pos", "POS"),
                ("*/body/lock_held_ms", "MS"),
                ("*/body/ddl_blocked_ms", "MS"),
                // zstd's output: a new zstd may compress differently.
                ("*/objects/*/size", "BYTES"),
            ],
        ),
    );
}

/// `PURGE BINARY LOGS TO 'file'` until the server has no older file: MariaDB keeps a file
/// until InnoDB's checkpoint has passed its transactions, which it reaches in the background.
async fn purge_to(srv: &TestServer, file: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        srv.exec(&format!("PURGE BINARY LOGS TO '{file}'")).await;
        let mut c = srv.conn().await;
        let row: Option<mysql_async::Row> = c.query_first("SHOW BINARY LOGS").await.unwrap();
        let first: Option<String> = row.and_then(|r| r.get(0));
        if first.as_deref() == Some(file) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{file}: the server still has {first:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn binlogs_output() {
    let srv = one_row_server(|_| {}).await;
    let f = flavor(&srv);
    let lb = Lb::new();
    let repo = repo_init(&lb);
    // binlog.000001 archived to its end, binlog.000002 gone before it was read to its end,
    // .000003 and .000004 never read, .000005 archived so far.
    srv.exec("FLUSH BINARY LOGS; INSERT INTO shop.t VALUES (2)")
        .await;
    archive_once(&lb, &repo, &srv, 0);
    srv.exec(
        "FLUSH BINARY LOGS; INSERT INTO shop.t VALUES (3); FLUSH BINARY LOGS;
         INSERT INTO shop.t VALUES (4); FLUSH BINARY LOGS; INSERT INTO shop.t VALUES (5)",
    )
    .await;
    purge_to(&srv, "binlog.000005").await;
    archive_once(&lb, &repo, &srv, 1);
    let v = Volatile::tables()
        .server(&lb, &srv)
        // The bytes column.
        .pattern(r"(?m)^( binlog\.\d{6}) +\d+ ", "${1}  [BYTES] ");
    let shown = "lifeboat binlogs --repo REPO (a complete file, a hole, an open file)";
    let o = run(&lb, &["binlogs", "--repo", &repo]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    v.assert(&format!("binlogs_text_{f}"), shown, &stdout(&o));
    let o = run(&lb, &["binlogs", "--json", "--repo", &repo]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    v.assert_json(
        &format!("binlogs_json_{f}"),
        &shown.replace("binlogs", "binlogs --json"),
        &redacted_json(
            &o,
            &[
                ("*/files/*/archived", "BYTES"),
                ("*/files/*/index/size", "BYTES"),
            ],
        ),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn incidents_output() {
    // MySQL logs a row event's statement only with this (`loose-`: MariaDB has its own, on).
    let srv = one_row_server(|o| {
        o.server_settings
            .push("loose-binlog-rows-query-log-events=ON".into())
    })
    .await;
    let f = flavor(&srv);
    srv.exec(
        "CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(20));
         CREATE TABLE shop.orders (id INT PRIMARY KEY, customer INT,
           FOREIGN KEY (customer) REFERENCES shop.customers (id));
         INSERT INTO shop.customers VALUES (1, 'a'), (2, 'b'), (3, 'c');
         INSERT INTO shop.orders VALUES (1, 1), (2, 2);
         CREATE TABLE shop.big (id INT PRIMARY KEY, v INT);
         INSERT INTO shop.big SELECT seq, seq FROM shop.seq_1_to_1500",
    )
    .await;
    // Each kind of destructive event, each its own session.
    for sql in [
        "DELETE FROM shop.big WHERE id > 100",
        "UPDATE shop.customers SET name = 'x'",
        "SET FOREIGN_KEY_CHECKS=0; DROP TABLE shop.customers; SET FOREIGN_KEY_CHECKS=1",
        "TRUNCATE TABLE shop.orders",
        "ALTER TABLE shop.big DROP COLUMN v",
        "DROP DATABASE shop",
    ] {
        srv.exec(sql).await;
    }
    let lb = Lb::new();
    let mut files: Vec<String> = std::fs::read_dir(&srv.sandbox.datadir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // Not MariaDB 11's GTID indexes (binlog.000001.idx).
        .filter(|n| {
            n.strip_prefix("binlog.")
                .is_some_and(|seq| seq.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|n| srv.sandbox.datadir.join(n).display().to_string())
        .collect();
    files.sort();
    let v = Volatile::default().server(&lb, &srv);
    let shown = "lifeboat incidents BINLOG... (a mass DELETE, an UPDATE without WHERE, a DROP TABLE with foreign_key_checks=0, a TRUNCATE, a DROP COLUMN, a DROP DATABASE)";
    let o = run(&lb, &with(&["incidents"], &files));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    v.assert(&format!("incidents_text_{f}"), shown, &stdout(&o));
    let o = run(&lb, &with(&["incidents", "--json"], &files));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    v.assert_json(
        &format!("incidents_json_{f}"),
        &shown.replace("incidents", "incidents --json"),
        &redacted_json(
            &o,
            &[
                ("incidents/*/position", "POS"),
                ("incidents/*/transaction_position", "POS"),
                ("incidents/*/thread_id", "THREAD"),
                ("incidents/*/before/*/thread_id", "THREAD"),
                ("incidents/*/after/*/thread_id", "THREAD"),
            ],
        ),
    );
}
