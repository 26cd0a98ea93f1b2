//! Point-in-time restore: for each kind of stop (time, GTID, position, before an incident)
//! the side instance ends up equal, table by table (CHECKSUM TABLE), to the source as the
//! test captured it at that point while writing.

use std::time::Duration;

use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;

use crate::harness::{
    Lb, Point, Shop, StopOnDrop, checksums, code, connect, json, named_restore, next_second, point,
    repo_init, sandbox_socket, stderr,
};

#[tokio::test(flavor = "multi_thread")]
async fn every_stop_kind_recovers_exactly_the_captured_state_mariadb_only() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    Shop::orders().build(&srv).await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let r = repo.as_str();
    let sock = srv.sandbox.socket.to_str().unwrap().to_owned();
    let conn_args = ["--socket", sock.as_str(), "--user", "root"];
    let mut args = vec!["backup", "--repo", r];
    args.extend(conn_args);
    let o = lb.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let mut c = srv.conn().await;
    // After the backup: text in both charsets through the binlog, a temporary table made in
    // one transaction and used in a later one (STATEMENT format), DDL, and a rotation.
    c.query_drop("SET NAMES utf8mb4").await.unwrap();
    c.query_drop("INSERT INTO shop.customers VALUES (4, 'Ærøskøbing «ü» 中文 🚀', 'Málaga'), (5, 'Łódź', 'Genève')")
        .await
        .unwrap();
    c.query_drop("SET SESSION binlog_format = 'STATEMENT'")
        .await
        .unwrap();
    c.query_drop("CREATE TEMPORARY TABLE shop.staged (customer INT, note TEXT)")
        .await
        .unwrap();
    c.query_drop("INSERT INTO shop.staged VALUES (4, 'via temp 🙂'), (5, 'via temp ö')")
        .await
        .unwrap();
    c.query_drop("FLUSH BINARY LOGS").await.unwrap();
    c.query_drop("INSERT INTO shop.orders (customer, note, amount) SELECT customer, note, 9.99 FROM shop.staged")
        .await
        .unwrap();
    c.query_drop("SET SESSION binlog_format = 'MIXED'")
        .await
        .unwrap();
    c.query_drop("UPDATE shop.orders SET amount = amount * 2 WHERE customer = 4")
        .await
        .unwrap();
    c.query_drop("DROP TEMPORARY TABLE shop.staged")
        .await
        .unwrap();
    c.query_drop("SET SESSION binlog_format = 'ROW'")
        .await
        .unwrap();
    c.query_drop("ALTER TABLE shop.orders ADD COLUMN status VARCHAR(10) DEFAULT 'new'")
        .await
        .unwrap();
    c.query_drop("UPDATE shop.orders SET status = 'paid' WHERE id <= 2")
        .await
        .unwrap();
    let at_time = next_second().await;
    let p1 = point(&srv, &mut c).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // Later writes, a point by GTID and position.
    c.query_drop("INSERT INTO shop.orders (customer, note, amount) SELECT 1 + seq % 5, CONCAT('bulk ', seq), seq FROM shop.seq_1_to_3000")
        .await
        .unwrap();
    c.query_drop("UPDATE shop.customers SET city = 'Besançon' WHERE id = 3")
        .await
        .unwrap();
    let p2 = point(&srv, &mut c).await;
    c.query_drop("FLUSH BINARY LOGS").await.unwrap();
    c.query_drop("INSERT INTO shop.orders (customer, note, amount) VALUES (2, 'just before', 1)")
        .await
        .unwrap();
    let p3 = point(&srv, &mut c).await;
    // The accident: a mass delete inside a large transaction, then a drop with FK checks
    // off, then more writes.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(
        "INSERT INTO shop.orders (customer, note, amount) VALUES (3, 'in the bad trx', 1)",
    )
    .await
    .unwrap();
    c.query_drop("DELETE FROM shop.orders").await.unwrap();
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("SET FOREIGN_KEY_CHECKS = 0").await.unwrap();
    c.query_drop("DROP TABLE shop.customers").await.unwrap();
    c.query_drop("SET FOREIGN_KEY_CHECKS = 1").await.unwrap();
    c.query_drop("CREATE TABLE shop.later (a INT); INSERT INTO shop.later VALUES (1)")
        .await
        .unwrap();
    drop(c);
    let mut args = vec!["archive", "--once", "--repo", r];
    args.extend(conn_args);
    let o = lb.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // The incident to stop before: the first one.
    let o = lb.run(&["incidents", "--json", "--repo", r]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let incidents = json(&o);
    let first = incidents["incidents"][0].clone();
    assert_eq!(first["kind"], "delete_without_where", "{incidents}");
    let incident_id = first["id"].as_str().unwrap().to_owned();

    // --dry-run: the plan, and nothing started.
    let plan_dir = srv.tmp().join("never");
    let o = lb.run(&[
        "restore",
        "--repo",
        r,
        "--sandbox",
        plan_dir.to_str().unwrap(),
        "--before-incident",
        &incident_id,
        "--dry-run",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan = json(&o);
    assert_eq!(plan["stop"]["file"], first["transaction_file"], "{plan}");
    assert_eq!(plan["stop"]["pos"], first["transaction_position"], "{plan}");
    assert_eq!(plan["first_skipped"]["gtid"], first["gtid"], "{plan}");
    assert!(plan["transactions"].as_u64().unwrap() >= 10, "{plan}");
    assert!(!plan_dir.join("data").exists());

    let cases: Vec<(&str, Vec<String>, &Point)> = vec![
        ("time", vec!["--until".into(), at_time.to_string()], &p1),
        ("gtid", vec!["--until-gtid".into(), p2.gtid.clone()], &p2),
        (
            "position",
            vec!["--until-position".into(), p2.pos.clone()],
            &p2,
        ),
        (
            "incident",
            vec!["--before-incident".into(), incident_id.clone()],
            &p3,
        ),
    ];
    for (name, stop, want) in cases {
        let dir = srv.tmp().join(format!("pitr-{name}"));
        let _stop = StopOnDrop(dir.clone());
        let mut args = vec![
            "restore",
            "--json",
            "--repo",
            r,
            "--sandbox",
            dir.to_str().unwrap(),
        ];
        args.extend(stop.iter().map(String::as_str));
        let o = lb.run(&args);
        assert_eq!(
            code(&o),
            0,
            "{name}: {}\nside instance log:\n{}",
            stderr(&o),
            lifeboat_server::sandbox::log_tail(&dir.join("error.log"), 70)
        );
        let out = json(&o);
        let got = checksums(&sandbox_socket(&dir), "shop").await;
        assert_eq!(
            got, want.sums,
            "{name}: recovered tables differ from the captured state; {out}"
        );
        assert_eq!(out["plan"]["stop"], out["reached"], "{name}: {out}");
        // Foreign keys hold in what was recovered.
        let mut s = connect(&sandbox_socket(&dir)).await;
        let orphans: Option<u64> = s
            .query_first("SELECT COUNT(*) FROM shop.orders o LEFT JOIN shop.customers c ON c.id = o.customer WHERE c.id IS NULL")
            .await
            .unwrap();
        assert_eq!(orphans, Some(0), "{name}");
        if name == "gtid" {
            let g: Option<String> = s.query_first("SELECT @@gtid_slave_pos").await.unwrap();
            assert_eq!(g.as_deref(), Some(p2.gtid.as_str()), "{name}");
        }
    }

    // --tables: the fast path for one table; only it is restored and replayed.
    let dir = srv.tmp().join("pitr-table");
    let _stop = StopOnDrop(dir.clone());
    let o = lb.run(&[
        "restore",
        "--json",
        "--repo",
        r,
        "--sandbox",
        dir.to_str().unwrap(),
        "--until-gtid",
        &p2.gtid,
        "--tables",
        "shop.customers",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let got = checksums(&sandbox_socket(&dir), "shop").await;
    assert_eq!(got.keys().collect::<Vec<_>>(), vec!["customers"]);
    assert_eq!(got.get("customers"), p2.sums.get("customers"));

    // Into a named server, through one client session. A target whose binlog runs with
    // gtid_strict_mode and is ahead of the source is refused before anything is written;
    // with --new-gtids it numbers the replayed transactions itself.
    let strict = TestServer::start_with(|o| {
        o.binlog = true;
        o.server_settings.push("gtid_strict_mode=1".into());
    })
    .await;
    strict
        .exec("SET gtid_seq_no = 100000; CREATE DATABASE scratch")
        .await;
    let o = named_restore(&lb, r, &strict, &["--before-incident", &incident_id]);
    assert_ne!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("gtid_strict_mode"), "{}", stderr(&o));
    let dbs: Option<String> = strict
        .conn()
        .await
        .query_first("SELECT GROUP_CONCAT(SCHEMA_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop'")
        .await
        .unwrap()
        .flatten();
    assert_eq!(dbs, None, "nothing may be restored before the refusal");
    let o = named_restore(
        &lb,
        r,
        &strict,
        &["--before-incident", &incident_id, "--new-gtids"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = json(&o);
    assert_eq!(out["plan"]["stop"], out["reached"], "{out}");
    assert_eq!(
        checksums(&strict.connect_options(), "shop").await,
        p3.sums,
        "named server, --before-incident: {out}"
    );
    let mut s = strict.conn().await;
    let orphans: Option<u64> = s
        .query_first("SELECT COUNT(*) FROM shop.orders o LEFT JOIN shop.customers c ON c.id = o.customer WHERE c.id IS NULL")
        .await
        .unwrap();
    assert_eq!(orphans, Some(0));
    let texts: Vec<(String, String)> = s
        .query("SELECT name, city FROM shop.customers WHERE id IN (4, 5) ORDER BY id")
        .await
        .unwrap();
    assert_eq!(texts[0].0, "Ærøskøbing «ü» 中文 🚀");
    assert_eq!(texts[1].1, "Genève");
    drop(s);

    // A target that keeps the source's GTIDs: its binlog then holds them.
    let keeps = TestServer::start_with(|o| o.binlog = true).await;
    let o = named_restore(&lb, r, &keeps, &["--until-gtid", &p2.gtid]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = json(&o);
    assert_eq!(out["gtid"].as_str(), Some(p2.gtid.as_str()), "{out}");
    assert_eq!(
        checksums(&keeps.connect_options(), "shop").await,
        p2.sums,
        "named server, --until-gtid: {out}"
    );
    let pos: Option<String> = keeps
        .conn()
        .await
        .query_first("SELECT @@gtid_binlog_pos")
        .await
        .unwrap();
    assert_eq!(pos.as_deref(), Some(p2.gtid.as_str()));
}
