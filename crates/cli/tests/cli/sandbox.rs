//! `lifeboat sandbox`: a side instance started, listed, refused twice, bound to 127.0.0.1
//! only, and stopped.

use std::process::Command;

use crate::harness::{Lb, StopOnDrop, code, json, level, stderr};

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
