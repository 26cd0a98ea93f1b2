//! `lifeboat incidents`: every destructive event of a binlog that also holds 100,000 ordinary
//! transactions is found, with the GTID and transaction position the server reported for it,
//! and nothing else is.

use std::time::Instant;

use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;

use crate::harness::{Lb, Shop, binlog_position, code, json, stderr};

/// The ordinary work: single-row and small multi-row changes, none destructive.
const ORDINARY: &str = r"
CREATE PROCEDURE shop.ordinary(n INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  WHILE i < n DO
    INSERT INTO shop.orders (customer, amount) VALUES (i % 100, i % 997);
    UPDATE shop.orders SET amount = amount + 1 WHERE id = LAST_INSERT_ID();
    IF i % 10 = 0 THEN
      DELETE FROM shop.orders WHERE id = CAST(LAST_INSERT_ID() AS SIGNED) - 5;
    END IF;
    SET i = i + 1;
  END WHILE;
END";

#[tokio::test(flavor = "multi_thread")]
async fn every_destructive_event_among_100k_transactions_and_nothing_else() {
    let srv = TestServer::start_with(|o| {
        o.binlog = true;
        // Durability is not what this test is about: 100k commits in seconds.
        o.server_settings = vec![
            "sync-binlog=0".into(),
            "innodb-flush-log-at-trx-commit=0".into(),
        ];
        // MySQL writes a row event's statement only with this (MariaDB's ANNOTATE_ROWS is on
        // by default, and `loose-` keeps it from refusing the name): without it no DELETE
        // can be known to lack a WHERE.
        o.server_settings
            .push("loose-binlog-rows-query-log-events=ON".into());
    })
    .await;
    Shop::empty()
        .with(
            "CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, customer INT, amount INT, note VARCHAR(20));
             CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(20));
             INSERT INTO shop.customers SELECT seq, CONCAT('c', seq) FROM shop.seq_1_to_5;
             CREATE TABLE shop.big (id INT PRIMARY KEY, v INT);
             INSERT INTO shop.big SELECT seq, seq FROM shop.seq_1_to_5000;
             CREATE TABLE shop.audit (id INT PRIMARY KEY, customer INT, FOREIGN KEY (customer) REFERENCES shop.customers (id));
             CREATE TABLE shop.a (x INT); CREATE TABLE shop.b (y INT);",
        )
        .with(ORDINARY)
        .build(&srv)
        .await;
    let mut c = srv.conn().await;
    let start = binlog_position(&srv, &mut c).await;

    // (kind, tables, SQL); each destructive statement is preceded by ordinary work.
    // (kind, statement, tables, where its transaction starts and its GTID)
    type Expected = (String, String, Vec<String>, (String, u64, String));
    let mut want: Vec<Expected> = Vec::new();
    let steps: &[(&str, &str, &[&str])] = &[
        (
            "delete",
            "DELETE FROM shop.big WHERE id > 3500",
            &["shop.big"],
        ),
        // 999 rows, with WHERE: below the threshold, not an incident.
        ("", "DELETE FROM shop.big WHERE id > 2501", &[]),
        (
            "update_without_where",
            "UPDATE shop.customers SET name = 'x'",
            &["shop.customers"],
        ),
        (
            "drop_table",
            "SET FOREIGN_KEY_CHECKS=0; DROP TABLE shop.audit; SET FOREIGN_KEY_CHECKS=1",
            &["shop.audit"],
        ),
        (
            "truncate",
            "TRUNCATE TABLE shop.customers",
            &["shop.customers"],
        ),
        (
            "drop_column",
            "ALTER TABLE shop.orders DROP COLUMN note",
            &["shop.orders"],
        ),
        (
            "rename_onto_existing",
            "RENAME TABLE shop.a TO shop.tmp, shop.b TO shop.a, shop.tmp TO shop.b",
            &["shop.a", "shop.b"],
        ),
        (
            "delete_without_where",
            "SET SESSION binlog_format = STATEMENT; DELETE FROM shop.b; SET SESSION binlog_format = ROW",
            &["shop.b"],
        ),
        // A mass delete (its statement has no WHERE) in the middle of a large transaction.
        (
            "delete_without_where",
            "BEGIN; INSERT INTO shop.orders (customer, amount) SELECT seq, seq FROM shop.seq_1_to_2000; DELETE FROM shop.big; UPDATE shop.orders SET amount = 0 WHERE id = 1; COMMIT",
            &["shop.big"],
        ),
        ("drop_database", "DROP DATABASE shop", &["shop"]),
    ];
    let t0 = Instant::now();
    for (i, (kind, sql, tables)) in steps.iter().enumerate() {
        if i < steps.len() - 1 {
            c.query_drop("CALL shop.ordinary(6000)").await.unwrap();
        }
        let at = binlog_position(&srv, &mut c).await;
        c.query_drop(srv.portable(sql)).await.unwrap();
        let after = binlog_position(&srv, &mut c).await;
        if !kind.is_empty() {
            want.push((
                kind.to_string(),
                sql.to_string(),
                tables.iter().map(|t| t.to_string()).collect(),
                (at.0, at.1, after.2),
            ));
        }
    }
    eprintln!("workload took {:?}", t0.elapsed());
    let end = binlog_position(&srv, &mut c).await;
    drop(c);
    assert!(start.0 != end.0 || start.1 < end.1);

    let files: Vec<String> = {
        let mut c = srv.conn().await;
        let logs: Vec<(String, u64)> = c
            .query_map("SHOW BINARY LOGS", |r: mysql_async::Row| {
                // MySQL adds an Encrypted column.
                (r.get::<String, _>(0).unwrap(), r.get::<u64, _>(1).unwrap())
            })
            .await
            .unwrap();
        logs.into_iter()
            .filter(|(f, _)| *f >= start.0)
            .map(|(f, _)| srv.sandbox.datadir.join(f).display().to_string())
            .collect()
    };
    let lb = Lb::new();
    let mut args = vec!["incidents", "--json"];
    args.extend(files.iter().map(String::as_str));
    let t0 = Instant::now();
    let o = lb.run(&args);
    eprintln!("incidents took {:?}", t0.elapsed());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let got = json(&o);
    assert!(
        got["transactions"].as_u64().unwrap() >= 100_000,
        "{}",
        got["transactions"]
    );
    let found = got["incidents"].as_array().unwrap();
    let summary: Vec<String> = found
        .iter()
        .map(|i| format!("{} {} {}", i["kind"], i["tables"], i["statement"]))
        .collect();
    assert_eq!(found.len(), want.len(), "{summary:#?}");
    for (i, (kind, sql, tables, (file, pos, gtid))) in found.iter().zip(&want) {
        assert_eq!(i["kind"], kind.as_str(), "{sql}: {i}");
        let t: Vec<&str> = i["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(t, *tables, "{sql}: {i}");
        // Exactly where the server said the transaction would start, and its GTID.
        assert_eq!(i["transaction_file"], file.as_str(), "{sql}: {i}");
        assert_eq!(i["transaction_position"], *pos, "{sql}: {i}");
        assert_eq!(i["gtid"], gtid.as_str(), "{sql}: {i}");
        assert!(i["server_id"].as_u64().unwrap() > 0, "{i}");
    }
    // Row counts of the row-based ones, and the foreign-key flag of the drop.
    let rows: Vec<&serde_json::Value> = found.iter().map(|i| &i["rows"]).collect();
    assert_eq!(rows[0]["shop.big"], 1500);
    assert_eq!(rows[1]["shop.customers"], 5);
    assert_eq!(rows[7]["shop.big"], 2501);
    assert_eq!(found[2]["foreign_key_checks_off"], true);
    // What else happened around it (default --context 2): the incident's own transaction,
    // and the transactions either side.
    let own: Vec<&str> = found[7]["transaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for part in [
        "insert 2000 rows of shop.orders",
        "delete 2501 rows of shop.big",
        "update 1 row of shop.orders",
    ] {
        assert!(own.contains(&part), "{own:?}");
    }
    assert_eq!(
        found[7]["before"].as_array().unwrap().len(),
        2,
        "{}",
        found[7]
    );
    let after = found[7]["after"].as_array().unwrap();
    assert_eq!(after.len(), 1, "{}", found[7]);
    assert_eq!(after[0]["what"][0], "DROP DATABASE shop", "{}", found[7]);
    assert_eq!(found[8]["before"][1]["gtid"], found[7]["gtid"]);

    // The same from the repository's archive of the server.
    let repo = srv.tmp().join("repo");
    let r = repo.to_str().unwrap();
    assert_eq!(code(&lb.run(&["repo", "init", "--repo", r])), 0);
    let sock = srv.sandbox.socket.to_str().unwrap();
    let o = lb.run(&[
        "archive", "--once", "--repo", r, "--socket", sock, "--user", "root",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = lb.run(&["incidents", "--json", "--repo", r]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["incidents"], got["incidents"]);

    // --since after the last incident: nothing; the human form names every incident id.
    let since = with_since(&files, "2999-01-01T00:00:00Z");
    let o = lb.run(&since.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(json(&o)["incidents"].as_array().unwrap().len(), 0);
    let mut args = vec!["incidents"];
    args.extend(files.iter().map(String::as_str));
    let o = lb.run(&args);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    for i in found {
        assert!(text.contains(i["id"].as_str().unwrap()), "{text}");
    }
}

fn with_since(files: &[String], since: &str) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "incidents".into(),
        "--json".into(),
        "--since".into(),
        since.into(),
    ];
    v.extend(files.iter().cloned());
    v
}

#[tokio::test]
async fn a_drop_if_exists_of_what_never_existed_is_not_an_incident() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    srv.exec(
        "DROP DATABASE IF EXISTS never_here; CREATE DATABASE shop; \
         CREATE TABLE shop.t (id INT PRIMARY KEY); DROP TABLE IF EXISTS shop.ghost; \
         DROP TABLE IF EXISTS shop.t; DROP DATABASE IF EXISTS shop",
    )
    .await;
    let files = crate::harness::binlogs(&srv).await;
    let lb = Lb::new();
    let mut args = vec!["incidents", "--json"];
    args.extend(files.iter().map(String::as_str));
    let o = lb.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    let listed: Vec<Vec<String>> = v["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| serde_json::from_value(i["tables"].clone()).unwrap())
        .collect();
    // What existed and was dropped is an incident; what never existed is not.
    assert_eq!(
        listed,
        vec![vec!["shop.t".to_owned()], vec!["shop".to_owned()]],
        "{v}"
    );
    let harmless: Vec<Vec<String>> = v["harmless"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| serde_json::from_value(i["tables"].clone()).unwrap())
        .collect();
    assert_eq!(
        harmless,
        vec![vec!["never_here".to_owned()], vec!["shop.ghost".to_owned()]],
        "{v}"
    );
}
