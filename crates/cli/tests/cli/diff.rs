//! `lifeboat diff`: equal copies compare equal; every missing, extra and changed row is
//! counted and named by key, NULL is not the empty string, and missing tables are reported.

use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;

use crate::harness::{Lb, StopOnDrop, code, connect, json, repo_init, sandbox_socket, stderr};

const DATA: &str = "
CREATE DATABASE app CHARACTER SET utf8mb4;
CREATE TABLE app.big (id INT PRIMARY KEY, v VARCHAR(40), f DOUBLE, b VARBINARY(8));
INSERT INTO app.big SELECT seq, CONCAT('row ', seq, ' 😀'), seq / 7, UNHEX(HEX(seq)) FROM app.seq_1_to_25000;
UPDATE app.big SET v = NULL WHERE id = 10;
UPDATE app.big SET v = '' WHERE id = 11;
CREATE TABLE app.pairs (a INT NOT NULL, b VARCHAR(10) NOT NULL, note TEXT, PRIMARY KEY (a, b));
INSERT INTO app.pairs SELECT seq % 100, CONCAT('k', seq), 'x' FROM app.seq_1_to_3000;
CREATE TABLE app.nokey (a INT, b TEXT);
INSERT INTO app.nokey VALUES (1, 'a'), (1, 'a'), (2, NULL);
CREATE TABLE app.gone (a INT PRIMARY KEY);";

#[tokio::test(flavor = "multi_thread")]
async fn equal_copies_are_equal_and_every_difference_is_found() {
    let srv = TestServer::start().await;
    srv.exec(DATA).await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let r = repo.as_str();
    let sock = srv.sandbox.socket.to_str().unwrap().to_owned();
    let o = lb.run(&["backup", "--repo", r, "--socket", &sock, "--user", "root"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let id = json(&lb.run(&["backups", "--json", "--repo", r]))[0]["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    let copy = srv.tmp().join("copy");
    let _stop = StopOnDrop(copy.clone());
    let o = lb.run(&[
        "restore",
        &id,
        "--repo",
        r,
        "--sandbox",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let source = format!("mysql://root@localhost?socket={sock}");
    let target = match &sandbox_socket(&copy).endpoint {
        lifeboat_server::Endpoint::Socket { path } => {
            format!("mysql://root@localhost?socket={}", path.display())
        }
        other => panic!("a sandbox is reached by its socket, not {other:?}"),
    };
    let diff = |extra: &[&str]| {
        let mut args = vec![
            "diff",
            "--json",
            "--source",
            &source,
            "--target",
            &target,
            "--chunk-rows",
            "1000",
        ];
        args.extend_from_slice(extra);
        lb.run(&args)
    };
    let o = diff(&[]);
    assert_eq!(
        code(&o),
        0,
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    let rep = json(&o);
    assert_eq!(rep["equal"], true);
    assert_eq!(rep["tables"].as_array().unwrap().len(), 4, "{rep}");
    let big = &rep["tables"][0];
    assert_eq!(big["table"], "app.big");
    assert_eq!(big["source_rows"], 25000);
    assert_eq!(big["chunks"], 26, "{big}");

    // Damage the copy.
    let mut c = connect(&sandbox_socket(&copy)).await;
    c.query_drop(
        "DELETE FROM app.big WHERE id IN (5, 17000, 24999);
         INSERT INTO app.big VALUES (30001, 'new', 1, NULL), (30002, 'new', 2, NULL);
         UPDATE app.big SET v = '' WHERE id = 10;
         UPDATE app.big SET f = f + 1e-9 WHERE id = 12345;
         UPDATE app.pairs SET note = 'y' WHERE a = 7 AND b = 'k7';
         INSERT INTO app.nokey VALUES (3, 'c');
         DROP TABLE app.gone;",
    )
    .await
    .unwrap();
    drop(c);
    let o = diff(&[]);
    assert_eq!(
        code(&o),
        1,
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    let rep = json(&o);
    assert_eq!(rep["equal"], false);
    let t = |name: &str| {
        rep["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == name)
            .unwrap()
            .clone()
    };
    let big = t("app.big");
    assert_eq!(
        (&big["missing"], &big["extra"], &big["changed"]),
        (&3.into(), &2.into(), &2.into()),
        "{big}"
    );
    let keys: Vec<(String, String)> = big["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().into(),
                r["key"][0].as_str().unwrap().into(),
            )
        })
        .collect();
    for want in [
        ("missing", "5"),
        ("missing", "17000"),
        ("missing", "24999"),
        ("extra", "30001"),
        ("extra", "30002"),
        ("changed", "10"),
        ("changed", "12345"),
    ] {
        assert!(
            keys.contains(&(want.0.into(), want.1.into())),
            "{want:?} not in {keys:?}"
        );
    }
    let pairs = t("app.pairs");
    assert_eq!(pairs["changed"], 1, "{pairs}");
    assert_eq!(pairs["rows"][0]["key"], serde_json::json!(["7", "k7"]));
    assert_eq!(t("app.nokey")["status"], "differs");
    assert_eq!(t("app.gone")["status"], "missing_on_target");

    // --tables limits the comparison; the human form names the rows.
    let o = diff(&["--tables", "app.pairs"]);
    assert_eq!(json(&o)["tables"].as_array().unwrap().len(), 1);
    let mut args = vec!["diff", "--source", &source, "--target", &target];
    args.extend(["--tables", "app.big"]);
    let o = lb.run(&args);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text.contains("DIFFERS  app.big") && text.contains("missing  key (17000)"),
        "{text}"
    );
}
