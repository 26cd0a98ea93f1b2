//! `lifeboat archive`: binlogs archived byte for byte while the server is written to,
//! crashed and restarted, its replica connection killed, and the archiver itself killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use lifeboat_server::testing::TestServer;
use lifeboat_server::{Sandbox, SandboxOptions};
use mysql_async::prelude::Queryable;

use crate::harness::{Lb, code, json, level, repo_init, stderr, sysbench};

/// A running archiver, killed when dropped (also when a test fails half-way).
struct Archiver(Child);

impl Archiver {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Archiver {
    fn drop(&mut self) {
        self.kill();
    }
}

fn archiver(lb: &Lb, repo: &Path, srv: &TestServer, log: &Path) -> Archiver {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    lb.cmd(&[
        "archive",
        "--repo",
        repo.to_str().unwrap(),
        "--socket",
        srv.sandbox.socket.to_str().unwrap(),
        "--user",
        "root",
        "--flush-interval",
        "0.2",
    ])
    .stdout(Stdio::null())
    .stderr(err)
    .spawn()
    .map(Archiver)
    .unwrap()
}

async fn server_logs(srv: &TestServer) -> Vec<(String, u64)> {
    let mut c = srv.conn().await;
    let v: Vec<(String, u64)> = c
        .query_map("SHOW BINARY LOGS", |r: mysql_async::Row| {
            // MySQL adds an Encrypted column.
            (r.get::<String, _>(0).unwrap(), r.get::<u64, _>(1).unwrap())
        })
        .await
        .unwrap();
    let _ = c.disconnect().await;
    v
}

/// The archived files of the only server in the repository, as the server has them.
async fn archived(repo: &Path) -> Vec<(String, Vec<u8>)> {
    let r = lifeboat_repo::Repository::open(repo.to_str().unwrap())
        .await
        .unwrap();
    let servers = r.binlog_servers().await.unwrap();
    assert!(servers.len() <= 1, "{servers:?}");
    if servers.is_empty() {
        // Nothing archived yet.
        return Vec::new();
    }
    let mut files: Vec<String> = r
        .segments(&servers[0])
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.file)
        .collect();
    files.dedup();
    let mut out = Vec::new();
    for f in files {
        let mut bytes = Vec::new();
        lifeboat_core::protect::archive::read_archived(&r, &servers[0], &f, &mut bytes)
            .await
            .unwrap();
        out.push((f, bytes));
    }
    out
}

/// Bytes archived so far (all files), as the segment records count them.
async fn stored(repo: &Path) -> u64 {
    let r = lifeboat_repo::Repository::open(repo.to_str().unwrap())
        .await
        .unwrap();
    let mut n = 0;
    for server in r.binlog_servers().await.unwrap() {
        n += r
            .segments(&server)
            .await
            .unwrap()
            .iter()
            .map(|s| s.end - s.start)
            .sum::<u64>();
    }
    n
}

/// Waits until the archive holds every byte of every file the server lists.
async fn caught_up(srv: &TestServer, repo: &Path, within: Duration) {
    let t = Instant::now();
    loop {
        let want = server_logs(srv).await;
        let have = archived(repo).await;
        let done = want
            .iter()
            .all(|(f, size)| have.iter().any(|(g, b)| g == f && b.len() as u64 == *size));
        if done {
            return;
        }
        assert!(
            t.elapsed() < within,
            "archive did not catch up: server {want:?}, archive {:?}",
            have.iter().map(|(f, b)| (f, b.len())).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Asserts that every file the server lists equals its archive, byte for byte (`log`, the
/// archivers' stderr, is shown when not): the files, in the server's order.
async fn same_as_the_server(srv: &TestServer, repo: &Path, log: &Path) -> Vec<(String, Vec<u8>)> {
    let have = archived(repo).await;
    let mut out = Vec::new();
    for (f, _) in server_logs(srv).await {
        let server_bytes = std::fs::read(srv.sandbox.datadir.join(&f)).unwrap();
        let (_, ours) = have
            .iter()
            .find(|(g, _)| *g == f)
            .unwrap_or_else(|| panic!("{f} not archived"));
        if *ours != server_bytes {
            let at = ours.iter().zip(&server_bytes).position(|(a, b)| a != b);
            panic!(
                "{f}: archive differs from the server file (sizes {} and {}, first difference at {at:?}: {:?} vs {:?})\n{}",
                ours.len(),
                server_bytes.len(),
                at.map(|i| ours[i]),
                at.map(|i| server_bytes[i]),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        out.push((f, server_bytes));
    }
    out
}

async fn kill_dump_connection(srv: &TestServer) -> bool {
    let mut c = srv.conn().await;
    let ids: Vec<u64> = c
        .query("SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'")
        .await
        .unwrap();
    for id in &ids {
        let _ = c.query_drop(format!("KILL CONNECTION {id}")).await;
    }
    let _ = c.disconnect().await;
    !ids.is_empty()
}

async fn restart(srv: &mut TestServer) {
    srv.sandbox.kill();
    let mut o = SandboxOptions::new(srv.sandbox.dir.clone());
    o.port = Some(srv.sandbox.port);
    o.binlog = true;
    srv.sandbox = Sandbox::start(&o).await.expect("restarting the server");
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_survives_kills_and_equals_the_server_bytes() {
    let mut srv = TestServer::start_with(|o| o.binlog = true).await;
    srv.exec("CREATE DATABASE sbtest").await;
    let o = sysbench(&srv, &["prepare"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let lb = Lb::new();
    let repo = PathBuf::from(repo_init(&lb));
    let log = srv.tmp().join("archiver.log");

    let mut arch = archiver(&lb, &repo, &srv, &log);
    let mut load = sysbench(&srv, &["--threads=2", "--time=12", "run"])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The replica connection is killed on the server.
    assert!(
        kill_dump_connection(&srv).await,
        "no dump connection to kill"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    srv.exec("FLUSH BINARY LOGS").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The archiver itself is killed and started again.
    arch.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut arch = archiver(&lb, &repo, &srv, &log);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("took over the archive lock of a process that is gone"),
        "the killed archiver's lock is taken over, and said so"
    );
    // One archiver per server: a second one is refused; a backup is not.
    let sock = srv.sandbox.socket.to_str().unwrap();
    let r = repo.to_str().unwrap();
    let o = lb.run(&[
        "archive", "--once", "--repo", r, "--socket", sock, "--user", "root",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("locked by `archive` (archive:"),
        "{}",
        stderr(&o)
    );
    let o = lb.run(&["backup", "--repo", r, "--socket", sock, "--user", "root"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // `check` sees the fresh backup and the archive following the server.
    let o = lb.run(&[
        "check", "--json", "--repo", r, "--socket", sock, "--user", "root",
    ]);
    let report = json(&o);
    for id in ["backup_recent", "archive_gaps", "archive_current"] {
        assert_eq!(level(&report, id), "OK", "{report}");
    }
    // The server crashes (SIGKILL) under load and comes back.
    restart(&mut srv).await;
    let _ = load.wait();
    let mut load = sysbench(&srv, &["--threads=2", "--time=3", "run"])
        .spawn()
        .unwrap();
    let _ = load.wait();
    srv.exec("FLUSH BINARY LOGS").await;
    caught_up(&srv, &repo, Duration::from_secs(60)).await;
    arch.kill();

    // Byte for byte: every file on the server equals its archive.
    let files = same_as_the_server(&srv, &repo, &log).await;
    assert!(
        files.len() >= 4,
        "{:?}",
        files.iter().map(|(f, _)| f).collect::<Vec<_>>()
    );
    let dir = srv.tmp().join("restored-binlogs");
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths: Vec<PathBuf> = Vec::new();
    for (f, bytes) in &files {
        let p = dir.join(f);
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }
    // No gap: neither in the repository's view nor in the files' GTID continuity.
    let o = lb.run(&["binlogs", "--repo", repo.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(code(&o), 0, "{text}{}", stderr(&o));
    assert!(text.contains("no gaps"), "{text}");
    let mut args = vec!["binlog".to_owned(), "verify".to_owned()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = lb.run(&args);
    assert_eq!(
        code(&o),
        0,
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn binlogs_purged_before_archiving_are_a_recorded_gap() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let r = repo.as_str();
    let sock = srv.sandbox.socket.to_str().unwrap().to_owned();
    let once = [
        "archive", "--once", "--repo", r, "--socket", &sock, "--user", "root",
    ];
    srv.exec("CREATE DATABASE d; CREATE TABLE d.t (a INT); INSERT INTO d.t VALUES (1)")
        .await;
    let o = lb.run(&once);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Two files come and go while no archiver runs.
    srv.exec("FLUSH BINARY LOGS; INSERT INTO d.t VALUES (2); FLUSH BINARY LOGS; INSERT INTO d.t VALUES (3); FLUSH BINARY LOGS").await;
    let logs = server_logs(&srv).await;
    let last = logs.last().unwrap().0.clone();
    srv.exec(&format!("PURGE BINARY LOGS TO '{last}'")).await;
    let o = lb.run(&once);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(code(&o), 1, "{out}{}", stderr(&o));
    assert!(out.contains("GAP") && out.contains("purged"), "{out}");
    let o = lb.run(&["binlogs", "--repo", r]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(code(&o), 1, "{text}");
    assert!(text.contains("GAP"), "{text}");
    // `check` with the repository: the gap FAILs, and there is no backup of this server.
    let o = lb.run(&[
        "check", "--json", "--repo", r, "--socket", &sock, "--user", "root",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(level(&report, "archive_gaps"), "FAIL");
    assert_eq!(level(&report, "backup_recent"), "FAIL");
    assert_eq!(level(&report, "archive_current"), "OK");
    // The archived file reads back through `binlog show/verify --repo`.
    let first = logs.first().unwrap().0.clone();
    let o = lb.run(&["binlog", "verify", "--repo", r, &first]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(code(&o), 0, "{text}{}", stderr(&o));
    assert!(text.starts_with("ok ") && text.contains(&first), "{text}");
    let o = lb.run(&["binlog", "show", "--json", "--repo", r, &first]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // MariaDB logs the statement beside its rows (ANNOTATE_ROWS); MySQL the rows only.
    assert!(
        text.contains("INSERT INTO d.t VALUES (1)")
            || (srv.is_mysql()
                && text.contains(r#""table":"t","kind":"insert","rows":[{"after":{"a":1}}]"#)),
        "{text}"
    );
    // Archiving again finds nothing new: the gap is reported once, not again.
    let o = lb.run(&once);
    assert_eq!(
        code(&o),
        0,
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
}

/// Ctrl-C (SIGINT) or SIGTERM of a following `archive` while the server is written to: it
/// stops at once, says so, and leaves no lock behind (issue 25, finding 13); `archive --once`
/// then goes on from the archive's end, and the archive is the server's files byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_archive_releases_its_lock_and_resumes() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    srv.exec("CREATE DATABASE sbtest").await;
    let o = sysbench(&srv, &["prepare"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let lb = Lb::new();
    let repo = PathBuf::from(repo_init(&lb));
    let r = repo.to_str().unwrap();
    let log = srv.tmp().join("archiver.log");
    let mut load = sysbench(&srv, &["--threads=2", "--time=60", "run"])
        .spawn()
        .unwrap();
    // The first signal comes while the archiver catches up with the prepared rows' binlog,
    // the second while it follows the writes.
    for (signal, name) in [("-INT", "SIGINT"), ("-TERM", "SIGTERM")] {
        let before = stored(&repo).await;
        let mut arch = archiver(&lb, &repo, &srv, &log);
        let t = Instant::now();
        while stored(&repo).await <= before {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "nothing archived in 30 s\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            assert!(arch.0.try_wait().unwrap().is_none(), "the archiver stopped");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let pid = arch.0.id().to_string();
        let k = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(k.success());
        let t = Instant::now();
        let status = loop {
            if let Some(s) = arch.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "archive ignored {name}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(status.code(), Some(1), "{name}: {status}\n{text}");
        assert!(text.contains(&format!("interrupted ({name})")), "{text}");
        let locks: Vec<_> = std::fs::read_dir(repo.join("locks"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(locks.is_empty(), "{name} left {locks:?}");
        let o = lb.run(&["repo", "unlock", "--repo", r]);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!((code(&o), out.trim()), (0, "no locks"), "{}", stderr(&o));
    }
    let _ = load.kill();
    let _ = load.wait();
    let o = lb.run(&[
        "archive",
        "--once",
        "--repo",
        r,
        "--socket",
        srv.sandbox.socket.to_str().unwrap(),
        "--user",
        "root",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("took over"), "{}", stderr(&o));
    let files = same_as_the_server(&srv, &repo, &log).await;
    assert!(!files.is_empty());
    let o = lb.run(&["binlogs", "--repo", r]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(code(&o), 0, "{text}{}", stderr(&o));
    assert!(text.contains("no gaps"), "{text}");
}
