//! `lifeboat freeze` and `thaw`: writes blocked and allowed again, only on the server named,
//! open write transactions ended on request, and every attempt journaled.

use std::process::Command;

use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;
use serde_json::Value;

use crate::harness::{Lb, Shop, code, connect, identity, json, socket_args, stderr, with};

async fn read_only(srv: &TestServer) -> bool {
    let mut c = srv.conn().await;
    let v: Option<u8> = c.query_first("SELECT @@GLOBAL.read_only").await.unwrap();
    v == Some(1)
}

#[tokio::test]
async fn freeze_blocks_writes_and_thaw_restores_them() {
    let srv = TestServer::start().await;
    Shop::empty()
        .with("CREATE TABLE shop.orders (id INT PRIMARY KEY) ENGINE=InnoDB")
        .build(&srv)
        .await;
    srv.exec("CREATE USER app@localhost; GRANT SELECT, INSERT ON shop.* TO app@localhost;")
        .await;
    let lb = Lb::new();
    let extra = socket_args(&srv);
    let identity = identity(&lb, &srv);

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
    let mut app = connect(&app_opts).await;
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
    let mut app2 = connect(&app_opts).await;
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
    let identity = identity(&lb, &srv);
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
