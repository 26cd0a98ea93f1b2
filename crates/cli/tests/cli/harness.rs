//! What the CLI tests share: the [`Lb`] runner and its output, one way to reach a server
//! (a driver connection, [`load_sql`] through the stock client), the fixture databases
//! ([`Shop`], [`sakila`]), and the repository, backup, point-in-time and forensic steps
//! several modules take. Test modules import helpers from here only, never from each other.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use lifeboat_server::ConnectOptions;
use lifeboat_server::sandbox::SandboxOptions;
use lifeboat_server::testing::TestServer;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Running lifeboat

/// A lifeboat invocation isolated from the machine's own config, journal and ~/.my.cnf.
pub(crate) struct Lb {
    pub(crate) home: tempfile::TempDir,
}

impl Lb {
    pub(crate) fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn journal(&self) -> PathBuf {
        self.home.path().join("journal.jsonl")
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
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

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

pub(crate) fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(o)
        )
    })
}

/// The options that reach `srv` as root over its socket, with no option file read.
pub(crate) fn socket_args(srv: &TestServer) -> Vec<String> {
    vec![
        "--no-defaults".into(),
        "--socket".into(),
        srv.sandbox.socket.display().to_string(),
        "--user".into(),
        "root".into(),
    ]
}

/// `base` followed by `extra`.
pub(crate) fn with<'a>(base: &'a [&'a str], extra: &'a [String]) -> Vec<&'a str> {
    base.iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect()
}

/// The server identity `check` reports for `srv`: what `--confirm-server` must name.
pub(crate) fn identity(lb: &Lb, srv: &TestServer) -> String {
    json(&lb.run(&with(&["check", "--json"], &socket_args(srv))))["identity"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The level of finding `id` of a `check --json` report.
pub(crate) fn level<'a>(report: &'a Value, id: &str) -> &'a str {
    finding(report, id)["level"].as_str().unwrap()
}

/// The summary of finding `id` of a `check --json` report.
pub(crate) fn summary<'a>(report: &'a Value, id: &str) -> &'a str {
    finding(report, id)["summary"].as_str().unwrap()
}

fn finding<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id} in {report}"))
}

/// Writes `text` to `dir/name`, readable by its owner only (as secrets must be).
pub(crate) fn write_secret(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

// ---------------------------------------------------------------------------------------
// Reaching servers

/// Stops a CLI-started sandbox (a side instance) even when the test fails.
pub(crate) struct StopOnDrop(pub(crate) PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Ok(mut sb) = lifeboat_server::Sandbox::open(&self.0) {
            sb.kill();
        }
    }
}

/// Root over the socket of the sandbox in `dir` (a side instance lifeboat started).
pub(crate) fn sandbox_socket(dir: &Path) -> ConnectOptions {
    ConnectOptions::socket_root(&dir.join("mysqld.sock"))
}

/// A connection with `opts`, which must succeed.
pub(crate) async fn connect(opts: &ConnectOptions) -> Conn {
    lifeboat_server::connect(opts).await.unwrap_or_else(|e| {
        panic!(
            "connecting to {:?} as {:?}: {e}",
            opts.endpoint,
            opts.user.as_deref().unwrap_or_default()
        )
    })
}

/// What [`load_sql`] gives the stock client.
pub(crate) enum Sql<'a> {
    /// An SQL file, as it is.
    File(&'a Path),
    /// SQL text, written for this server's flavor first (see `TestServer::portable`).
    Text(&'a str),
}

/// Runs SQL through the server's stock command-line client (`mariadb` or `mysql`: they
/// understand DELIMITER, `USE` and `/*M! */`, which a driver does not), as root, in database
/// `db` when given, utf8mb4 unless the SQL sets its own names. The client must succeed.
pub(crate) fn load_sql(srv: &TestServer, db: Option<&str>, sql: Sql<'_>) {
    let text_file;
    let file = match sql {
        Sql::File(f) => f,
        Sql::Text(text) => {
            text_file = tempfile::Builder::new()
                .suffix(".sql")
                .tempfile_in(srv.tmp())
                .unwrap();
            std::fs::write(text_file.path(), srv.portable(text)).unwrap();
            text_file.path()
        }
    };
    let mut client = srv.client();
    client.arg("--default-character-set=utf8mb4");
    if let Some(db) = db {
        client.arg(db);
    }
    let o = client
        .stdin(std::fs::File::open(file).unwrap())
        .output()
        .expect("the stock client");
    assert!(o.status.success(), "{}: {}", file.display(), stderr(&o));
}

/// A file of `crates/cli/tests/fixtures`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Sakila's `TABLE.ibd` as MySQL 8.0 wrote it (innodb_ruby's test data, in the innodb
/// crate): tablespaces with SDI, which no server here writes.
pub(crate) fn sakila_80(table: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../innodb/tests/data/innodb_ruby-sakila/8.0")
        .join(format!("{table}.ibd"))
}

/// Server settings that let MariaDB 10.6+ write ROW_FORMAT=COMPRESSED tables.
pub(crate) fn compressed(o: &mut SandboxOptions) {
    // MariaDB 10.6+ makes ROW_FORMAT=COMPRESSED tables read-only by default; MySQL has no
    // such setting (`loose-`: not refused there).
    o.server_settings
        .push("loose-innodb_read_only_compressed=OFF".into());
}

/// `sysbench oltp_write_only` on `srv`'s database `sbtest` (4 tables of 20,000 rows), with
/// `args` (`prepare`, `run` and its options).
pub(crate) fn sysbench(srv: &TestServer, args: &[&str]) -> Command {
    let mut c = Command::new("sysbench");
    c.arg("oltp_write_only")
        .arg("--db-driver=mysql")
        .arg(format!("--mysql-socket={}", srv.sandbox.socket.display()))
        .args([
            "--mysql-user=root",
            "--mysql-db=sbtest",
            "--tables=4",
            "--table-size=20000",
        ])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    c
}

// ---------------------------------------------------------------------------------------
// Fixture databases

/// Sakila (`tests/fixtures`, its README says from where), schema and data, in database
/// `sakila`: 16 tables with views, routines, triggers and foreign keys.
pub(crate) fn sakila(srv: &TestServer) {
    load_sql(srv, None, Sql::File(&fixture("sakila-schema.sql")));
    load_sql(srv, None, Sql::File(&fixture("sakila-data.sql")));
}

/// Database `shop`, the fixture most tests start from: one of the shapes below, then the
/// test's own statements ([`Shop::with`]), built by [`Shop::build`].
///
/// ```ignore
/// Shop::one_row().routines().build(&srv).await;
/// Shop::empty().with("CREATE TABLE shop.t (…); INSERT …").build(&srv).await;
/// ```
pub(crate) struct Shop {
    /// `CREATE DATABASE shop` and its options.
    create: &'static str,
    /// Statements, each string run by one `TestServer::exec` in order.
    steps: Vec<String>,
}

/// [`Shop::one_row`]'s table.
const ONE_ROW: &str = "CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (1)";

/// [`Shop::routines`]: definitions that name their own database (a restore under another
/// name renames them with it when backquoted, and reports them when not).
const ROUTINES: [&str; 3] = [
    "CREATE VIEW shop.v AS SELECT id FROM shop.t",
    "CREATE PROCEDURE shop.count_t(OUT n INT) SELECT COUNT(*) INTO n FROM `shop`.`t`",
    "CREATE FUNCTION shop.max_t() RETURNS INT RETURN (SELECT MAX(id) FROM shop.t)",
];

impl Shop {
    /// `shop` without tables, in the server's default character set: the test creates its
    /// own with [`Shop::with`].
    pub(crate) fn empty() -> Self {
        Self {
            create: "CREATE DATABASE shop",
            steps: Vec::new(),
        }
    }

    /// `shop.t (id INT PRIMARY KEY)` holding the row 1: the smallest database to back up.
    pub(crate) fn one_row() -> Self {
        Self::empty().with(ONE_ROW)
    }

    /// A utf8mb4 `shop` with `customers` (three, names and cities in utf8mb4 and latin1)
    /// and `orders` (two, a foreign key to `customers`, AUTO_INCREMENT ids): what the
    /// point-in-time tests write to.
    pub(crate) fn orders() -> Self {
        Self::orders_sql(false)
    }

    /// [`Shop::orders`] with MySQL users' columns too: a JSON `profile` (long enough for
    /// partial JSON updates), a `created_at` default and a STORED generated `total`.
    pub(crate) fn orders_with_profiles() -> Self {
        Self::orders_sql(true)
    }

    fn orders_sql(profiles: bool) -> Self {
        let (profile, total, cols, [p1, p2, p3]) = if profiles {
            (
                ",\n  profile JSON, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP",
                "\n  total DECIMAL(12,2) AS (amount * 2) STORED,",
                ", profile",
                [
                    ", '{\"tier\": \"gold\", \"tags\": [\"a\", \"b\"], \"note\": \"a long enough text to make partial updates worth it\"}'",
                    ", '{\"tier\": \"silver\"}'",
                    ", NULL",
                ],
            )
        } else {
            ("", "", "", ["", "", ""])
        };
        Self {
            create: "CREATE DATABASE shop CHARACTER SET utf8mb4",
            steps: vec![format!(
                "CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(50) CHARACTER SET utf8mb4, city VARCHAR(50) CHARACTER SET latin1{profile}) ENGINE=InnoDB;
CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, customer INT NOT NULL, note TEXT, amount DECIMAL(10,2),{total}
  FOREIGN KEY (customer) REFERENCES shop.customers (id)) ENGINE=InnoDB;
INSERT INTO shop.customers (id, name, city{cols}) VALUES
  (1, 'Zoë 😀', 'Zürich'{p1}), (2, '山田', 'Köln'{p2}), (3, 'plain', 'Paris'{p3});
INSERT INTO shop.orders (customer, note, amount) VALUES (1, 'first', 1.50), (2, 'second', 2.50);"
            )],
        }
    }

    /// A view, a procedure and a function over `shop.t` ([`Shop::one_row`]) that name
    /// `shop` themselves, backquoted or not.
    pub(crate) fn routines(mut self) -> Self {
        self.steps.extend(ROUTINES.map(String::from));
        self
    }

    /// The test's own statements, run after what comes before.
    pub(crate) fn with(mut self, sql: impl Into<String>) -> Self {
        self.steps.push(sql.into());
        self
    }

    /// Creates the database on `srv` and runs the steps.
    pub(crate) async fn build(self, srv: &TestServer) {
        srv.exec(self.create).await;
        for sql in &self.steps {
            srv.exec(sql).await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Server state

/// The base tables of `db`, by name.
async fn base_tables(c: &mut Conn, db: &str) -> Vec<String> {
    c.exec(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
        (db,),
    )
    .await
    .unwrap()
}

/// `name` as a backquoted identifier.
fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// CHECKSUM TABLE of every base table of `db`.
pub(crate) async fn checksums(opts: &ConnectOptions, db: &str) -> BTreeMap<String, Option<u64>> {
    let mut c = connect(opts).await;
    let mut out = BTreeMap::new();
    for t in base_tables(&mut c, db).await {
        let sum = checksum_of(&mut c, &format!("{}.{}", quoted(db), quoted(&t))).await;
        out.insert(t, sum);
    }
    out
}

/// CHECKSUM TABLE of `table` (as SQL names it: `db.t`).
pub(crate) async fn checksum_of(c: &mut Conn, table: &str) -> Option<u64> {
    let (_, sum): (String, Option<u64>) = c
        .query_first(format!("CHECKSUM TABLE {table}"))
        .await
        .unwrap()
        .unwrap();
    sum
}

/// SHOW CREATE TABLE of every base table of `db`, without the AUTO_INCREMENT counter (a
/// restore must give back the same table, keys included, whatever order it built them in).
pub(crate) async fn definitions(opts: &ConnectOptions, db: &str) -> BTreeMap<String, String> {
    let mut c = connect(opts).await;
    let mut out = BTreeMap::new();
    for t in base_tables(&mut c, db).await {
        let row: Option<(String, String)> = c
            .query_first(format!("SHOW CREATE TABLE {}.{}", quoted(db), quoted(&t)))
            .await
            .unwrap();
        let create = row.unwrap().1;
        let create = match create.find(" AUTO_INCREMENT=") {
            Some(i) => {
                let end = create[i + 16..]
                    .find(' ')
                    .map_or(create.len(), |j| i + 16 + j);
                format!("{}{}", &create[..i], &create[end..])
            }
            None => create,
        };
        out.insert(t, create);
    }
    out
}

/// The server's binlog write position and its newest GTID (MariaDB: `gtid_binlog_pos`, one
/// domain here; MySQL: `uuid:N`, the last transaction of the server's own UUID).
pub(crate) async fn binlog_position(srv: &TestServer, c: &mut Conn) -> (String, u64, String) {
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

/// A point a point-in-time test captured on the source: `shop`'s tables, the binlog
/// position (`file:pos`) and the last GTID.
pub(crate) struct Point {
    pub(crate) sums: BTreeMap<String, Option<u64>>,
    pub(crate) pos: String,
    pub(crate) gtid: String,
}

/// The [`Point`] `srv` is at, read through `c`.
pub(crate) async fn point(srv: &TestServer, c: &mut Conn) -> Point {
    let (file, pos, gtid) = binlog_position(srv, c).await;
    Point {
        sums: checksums(&srv.connect_options(), "shop").await,
        pos: format!("{file}:{pos}"),
        gtid,
    }
}

/// The binlog files of `srv`, as paths, oldest first.
pub(crate) async fn binlogs(srv: &TestServer) -> Vec<String> {
    let mut c = srv.conn().await;
    let logs: Vec<String> = c
        .query_map("SHOW BINARY LOGS", |r: mysql_async::Row| {
            r.get::<String, _>(0).unwrap()
        })
        .await
        .unwrap();
    logs.into_iter()
        .map(|f| srv.sandbox.datadir.join(f).display().to_string())
        .collect()
}

/// Sleeps into the next second, so that what comes after is stamped later than `now`.
pub(crate) async fn next_second() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    let into = now.subsec_nanosecond() as u64;
    tokio::time::sleep(Duration::from_nanos(1_000_000_000 - into) + Duration::from_millis(150))
        .await;
    jiff::Timestamp::now()
}

// ---------------------------------------------------------------------------------------
// Repositories, backups, restores

/// `repo init` of `<home>/repo`, which must succeed: its path.
pub(crate) fn repo_init(lb: &Lb) -> String {
    let repo = lb.home.path().join("repo").display().to_string();
    let o = lb.run(&["repo", "init", "--repo", &repo]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    repo
}

/// `backup --json` of `srv` (through its my.cnf) into `repo` with `extra`, which must
/// succeed: its report.
pub(crate) fn backup(lb: &Lb, repo: &str, srv: &TestServer, extra: &[&str]) -> Value {
    let mut args = vec![
        "backup",
        "--json",
        "--repo",
        repo,
        "--defaults-file",
        srv.sandbox.defaults_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = lb.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    json(&o)
}

/// The manifest of backup `id` in the unencrypted local repository `repo`.
pub(crate) fn read_manifest(repo: &str, id: &str) -> Value {
    let path = Path::new(repo)
        .join("backups")
        .join(id)
        .join("manifest.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A side instance a test restored into; stopped when dropped.
pub(crate) struct Restored {
    pub(crate) dir: PathBuf,
    /// The restore's `--json` report.
    pub(crate) report: Value,
    _stop: StopOnDrop,
}

impl Restored {
    pub(crate) fn socket(&self) -> ConnectOptions {
        sandbox_socket(&self.dir)
    }
}

/// `restore ID --json --repo R --sandbox <home>/NAME` plus `extra`, which must succeed.
pub(crate) fn restore_sandbox(
    lb: &Lb,
    repo: &str,
    id: &str,
    name: &str,
    extra: &[&str],
) -> Restored {
    let dir = lb.home.path().join(name);
    let stop = StopOnDrop(dir.clone());
    let mut args = vec!["restore", id, "--json", "--repo", repo, "--sandbox"];
    args.push(dir.to_str().unwrap());
    args.extend_from_slice(extra);
    let o = lb.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    Restored {
        dir,
        report: json(&o),
        _stop: stop,
    }
}

/// `restore --json --repo REPO` into the named server `srv` (its identity from `check`,
/// then its socket) with `extra`.
pub(crate) fn named_restore(lb: &Lb, repo: &str, srv: &TestServer, extra: &[&str]) -> Output {
    let identity = identity(lb, srv);
    let sock = socket_args(srv);
    let mut args = vec![
        "restore",
        "--json",
        "--repo",
        repo,
        "--confirm-server",
        identity.as_str(),
    ];
    args.extend(sock.iter().map(String::as_str));
    args.extend(extra);
    lb.run(&args)
}

// ---------------------------------------------------------------------------------------
// Forensics on files

/// The table's tablespace with every page written (FLUSH TABLES … FOR EXPORT, as a
/// checkpoint on a server that ran for days would), copied to `tmp/<name>.ibd`, and the file
/// with its `SHOW CREATE TABLE`.
pub(crate) async fn exported(srv: &TestServer, db: &str, table: &str) -> (PathBuf, PathBuf) {
    let mut c = srv.conn().await;
    let (_, ddl): (String, String) = c
        .query_first(format!("SHOW CREATE TABLE {db}.{table}"))
        .await
        .unwrap()
        .unwrap();
    c.query_drop(format!("FLUSH TABLES {db}.{table} FOR EXPORT"))
        .await
        .unwrap();
    let copy = srv.tmp().join(format!("{table}.ibd"));
    std::fs::copy(srv.sandbox.datadir.join(format!("{db}/{table}.ibd")), &copy).unwrap();
    c.query_drop("UNLOCK TABLES").await.unwrap();
    let schema = srv.tmp().join(format!("{table}.ddl"));
    std::fs::write(&schema, ddl).unwrap();
    (copy, schema)
}

/// `lifeboat COMMAND --json --ibd IBD [--schema DDL] --out OUT`.
pub(crate) fn on_ibd(
    lb: &Lb,
    command: &str,
    ibd: &Path,
    schema: Option<&Path>,
    out: &Path,
) -> Output {
    let mut args = vec![command, "--json", "--ibd", ibd.to_str().unwrap()];
    if let Some(s) = schema {
        args.extend(["--schema", s.to_str().unwrap()]);
    }
    args.extend(["--out", out.to_str().unwrap()]);
    lb.run(&args)
}

/// `lifeboat undrop --json SOURCE PATH --table TABLE EXTRA... --out OUT`, which must
/// succeed (`SOURCE`: `--datadir` or `--image`): its report.
pub(crate) fn undrop(
    lb: &Lb,
    (source, path): (&str, &Path),
    table: &str,
    extra: &[&str],
    out: &Path,
) -> Value {
    let mut args = vec![
        "undrop",
        "--json",
        source,
        path.to_str().unwrap(),
        "--table",
        table,
    ];
    args.extend(extra);
    args.extend(["--out", out.to_str().unwrap()]);
    let o = lb.run(&args);
    assert_eq!(code(&o), 0, "{table}: {}", stderr(&o));
    json(&o)
}

/// `n` bytes that hold no page: what surrounds a tablespace's blocks in a test's image.
pub(crate) fn noise(n: u32) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Writes `path`: `n` bytes of [`noise`] with `ibd` inserted at `at`.
pub(crate) fn write_image(path: &Path, n: u32, at: usize, ibd: &[u8]) {
    let mut image = noise(n);
    image.splice(at..at, ibd.iter().copied());
    std::fs::write(path, &image).unwrap();
}

/// Turns off the statement text logged beside row events (MySQL's
/// binlog_rows_query_log_events, MariaDB's binlog_annotate_row_events).
pub(crate) async fn no_statements_in_binlog(srv: &TestServer) {
    srv.exec(if srv.is_mysql() {
        "SET GLOBAL binlog_rows_query_log_events = OFF"
    } else {
        "SET GLOBAL binlog_annotate_row_events = OFF"
    })
    .await;
}
