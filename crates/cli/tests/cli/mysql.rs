//! MySQL 8.0+ features, on a real MySQL server (`scripts/test` runs these with MySQL 9.x):
//! what a MySQL user's schema holds and what MySQL's binlog writes, backed up, restored and
//! replayed, proven by CHECKSUM TABLE.

use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;

use crate::harness::{
    Lb, Point, Shop, Sql, StopOnDrop, backup, checksum_of, checksums, code, connect, exported,
    json, load_sql, named_restore, next_second, on_ibd, point, repo_init, sakila, sandbox_socket,
    socket_args, stderr,
};

/// MySQL with the binlog settings a careful DBA runs: GTIDs, compressed transactions,
/// partial JSON updates, full metadata.
async fn mysql_server() -> TestServer {
    let srv = TestServer::start_with(|o| {
        o.binlog = true;
        o.server_settings.extend(
            [
                "gtid_mode=ON",
                "enforce_gtid_consistency=ON",
                "binlog_transaction_compression=ON",
                "binlog_row_value_options=PARTIAL_JSON",
            ]
            .map(String::from),
        );
    })
    .await;
    assert!(srv.is_mysql(), "a MySQL test got {}", srv.sandbox.version);
    srv
}

/// Columns MySQL users have: JSON, expression defaults (`DEFAULT_GENERATED` in
/// information_schema, which is no generated column), ON UPDATE timestamps, STORED and
/// VIRTUAL generated columns, an invisible column, a generated invisible primary key; and
/// roles granted to users whose names sort before the role's.
const FEATURES: &str = "
CREATE DATABASE feat;
CREATE TABLE feat.docs (
  id INT AUTO_INCREMENT PRIMARY KEY,
  doc JSON,
  a INT NOT NULL DEFAULT 2,
  b INT NOT NULL DEFAULT 3,
  total INT AS (a * b) STORED,
  sum_ab INT AS (a + b) VIRTUAL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME NULL DEFAULT NULL ON UPDATE CURRENT_TIMESTAMP,
  day DATE DEFAULT (CURRENT_DATE),
  tag VARCHAR(40) DEFAULT (CONCAT('t-', 'x')),
  secret VARCHAR(20) INVISIBLE DEFAULT 'hidden',
  KEY k_total (total)
) ENGINE=InnoDB;
INSERT INTO feat.docs (doc, a, b) VALUES
  ('{\"name\": \"Zoë 😀\", \"tags\": [1, 2.5, \"x\"], \"nested\": {\"ok\": true, \"n\": null}}', 4, 5),
  ('[]', 1, 1), ('\"just a string\"', 7, 8), (NULL, 0, 0), ('{\"big\": 18446744073709551615, \"neg\": -9223372036854775808, \"f\": 1.5e300}', 3, 3);
UPDATE feat.docs SET b = b + 1 WHERE id = 2;
INSERT INTO feat.docs (doc, secret) VALUES ('{\"k\": \"v\"}', 'visible-only-by-name');
SET SESSION sql_generate_invisible_primary_key = ON;
CREATE TABLE feat.gipk (a INT, b VARCHAR(20));
SET SESSION sql_generate_invisible_primary_key = OFF;
INSERT INTO feat.gipk (a, b) VALUES (1, 'one'), (2, 'two'), (3, NULL);
CREATE ROLE 'zz_reader';
GRANT SELECT ON feat.* TO 'zz_reader';
CREATE USER 'aa_app'@'127.0.0.1' IDENTIFIED BY 'Aa-app-pw1';
GRANT 'zz_reader' TO 'aa_app'@'127.0.0.1';
SET DEFAULT ROLE 'zz_reader' TO 'aa_app'@'127.0.0.1';
";

/// Findings 1, 7 and 10 of issue 25: expression-default columns were left out of backups,
/// JSON columns failed to load, and roles were created after the users granted them.
#[tokio::test(flavor = "multi_thread")]
async fn sakila_and_mysql_features_round_trip_with_every_checksum_equal_mysql_only() {
    let srv = mysql_server().await;
    sakila(&srv);
    srv.exec(FEATURES).await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let b = backup(&lb, &repo, &srv, &["--users", "--threads", "3"]);
    let id = b["id"].as_str().unwrap().to_owned();

    let dir = srv.tmp().join("restored");
    let _stop = StopOnDrop(dir.clone());
    let o = lb.run(&[
        "restore",
        "--json",
        &id,
        "--repo",
        &repo,
        "--sandbox",
        dir.to_str().unwrap(),
        "--verify",
        "--users",
    ]);
    assert_eq!(
        code(&o),
        0,
        "{}\n{}",
        stderr(&o),
        lifeboat_server::sandbox::log_tail(&dir.join("error.log"), 30)
    );
    let r = json(&o);
    // The side instance runs the backup's server, not whatever is first on PATH.
    assert!(
        r["sandbox"]["version"]
            .as_str()
            .unwrap()
            .starts_with("MySQL 9."),
        "{r}"
    );
    let dst = sandbox_socket(&dir);
    for db in ["sakila", "feat"] {
        let want = checksums(&srv.connect_options(), db).await;
        assert!(want.values().all(Option::is_some), "{db}: {want:?}");
        assert_eq!(checksums(&dst, db).await, want, "{db}: {r}");
    }
    assert_eq!(r["checksums_matched"], 18, "{r}");

    // Every column is there with its definition: the expression defaults and ON UPDATE.
    let mut c = connect(&dst).await;
    let (created, tag, secret): (String, String, String) = c
        .query_first("SELECT created_at, tag, secret FROM feat.docs WHERE id = 6")
        .await
        .unwrap()
        .unwrap();
    let (want_created,): (String,) = srv
        .conn()
        .await
        .query_first("SELECT created_at FROM feat.docs WHERE id = 6")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created, want_created);
    assert_eq!(
        (tag.as_str(), secret.as_str()),
        ("t-x", "visible-only-by-name")
    );
    let create: (String, String) = c
        .query_first("SHOW CREATE TABLE feat.docs")
        .await
        .unwrap()
        .unwrap();
    assert!(
        create.1.contains("ON UPDATE CURRENT_TIMESTAMP"),
        "{}",
        create.1
    );
    assert!(create.1.contains("DEFAULT (curdate())"), "{}", create.1);
    let gipk: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'feat' AND TABLE_NAME = 'gipk' AND COLUMN_NAME = 'my_row_id'")
        .await
        .unwrap();
    assert_eq!(gipk, Some(1), "the generated invisible primary key is kept");
    let json_name: Option<String> = c
        .query_first("SELECT doc->>'$.name' FROM feat.docs WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(json_name.as_deref(), Some("Zoë 😀"));

    // The user and the role granted to it (created first, whatever the names' order).
    let grants: Vec<String> = c
        .query("SHOW GRANTS FOR 'aa_app'@'127.0.0.1'")
        .await
        .unwrap();
    assert!(
        grants.iter().any(|g| g.contains("`zz_reader`")),
        "{grants:?}"
    );

    // The restored server's GTID state covers the backup (it can become a replica).
    let want: String = srv
        .conn()
        .await
        .query_first("SELECT @@GLOBAL.gtid_executed")
        .await
        .unwrap()
        .unwrap();
    let missing: Option<String> = c
        .query_first(format!(
            "SELECT GTID_SUBTRACT('{}', @@GLOBAL.gtid_executed)",
            b["gtid"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(missing.as_deref(), Some(""), "backup GTIDs {want}");
}

/// Findings 2, 4 and 6 of issue 25: point-in-time recovery on MySQL with compressed
/// transactions, GTIDs and partial JSON updates, to every kind of stop, into a MySQL side
/// instance (its own replication applier on relay logs), into a named MySQL server (one
/// client session), and into the source itself after `DROP DATABASE`: refused while it holds
/// the range's GTIDs (MySQL would skip them silently), exact with --new-gtids.
#[tokio::test(flavor = "multi_thread")]
async fn every_stop_kind_into_side_named_and_source_servers_mysql_only() {
    let srv = mysql_server().await;
    Shop::orders_with_profiles().build(&srv).await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let r = repo.as_str();
    backup(&lb, r, &srv, &[]);

    srv.exec(
        "INSERT INTO shop.customers (id, name, city) VALUES (4, 'Ærøskøbing «ü» 中文 🚀', 'Málaga'), (5, 'Łódź', 'Genève');
         UPDATE shop.customers SET profile = JSON_SET(profile, '$.tier', 'platinum') WHERE id = 1;
         UPDATE shop.customers SET profile = JSON_REMOVE(profile, '$.tags[0]') WHERE id = 1;
         FLUSH BINARY LOGS;
         ALTER TABLE shop.orders ADD COLUMN status VARCHAR(10) DEFAULT 'new';
         UPDATE shop.orders SET status = 'paid' WHERE id <= 2",
    )
    .await;
    let at_time = next_second().await;
    let p1 = point(&srv, &mut srv.conn().await).await;
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    srv.exec(
        "INSERT INTO shop.orders (customer, note, amount) SELECT 1 + seq % 5, CONCAT('bulk ', seq), seq FROM seq_1_to_3000;
         UPDATE shop.customers SET city = 'Besançon', profile = JSON_SET(COALESCE(profile, '{}'), '$.moved', true) WHERE id = 3",
    )
    .await;
    let p2 = point(&srv, &mut srv.conn().await).await;
    srv.exec(
        "FLUSH BINARY LOGS; INSERT INTO shop.orders (customer, note, amount) VALUES (2, 'just before', 1)",
    )
    .await;
    let p3 = point(&srv, &mut srv.conn().await).await;
    // The accident, then more writes.
    srv.exec(
        "BEGIN; INSERT INTO shop.orders (customer, note, amount) VALUES (3, 'in the bad trx', 1);
         DELETE FROM shop.orders; COMMIT;
         SET FOREIGN_KEY_CHECKS = 0; DROP TABLE shop.customers; SET FOREIGN_KEY_CHECKS = 1;
         CREATE TABLE shop.later (a INT PRIMARY KEY); INSERT INTO shop.later VALUES (1)",
    )
    .await;
    let mut args = vec!["archive", "--once", "--repo", r];
    let sock = socket_args(&srv);
    args.extend(sock.iter().map(String::as_str));
    let o = lb.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = lb.run(&["incidents", "--json", "--repo", r]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let incidents = json(&o);
    let first = incidents["incidents"][0].clone();
    // Known to lack a WHERE: sandboxes log rows-query events on MySQL.
    assert_eq!(first["kind"], "delete_without_where", "{incidents}");
    assert_eq!(first["rows"]["shop.orders"], 3004, "{incidents}");
    let incident = first["id"].as_str().unwrap().to_owned();

    let cases: [(&str, [&str; 2], &Point); 4] = [
        ("time", ["--until", &at_time.to_string()], &p1),
        ("gtid", ["--until-gtid", &p2.gtid], &p2),
        ("position", ["--until-position", &p2.pos], &p2),
        ("incident", ["--before-incident", &incident], &p3),
    ];
    for (name, stop, want) in cases {
        let dir = srv.tmp().join(format!("pitr-{name}"));
        let _stop = StopOnDrop(dir.clone());
        let mut args = vec!["restore", "--json", "--repo", r, "--sandbox"];
        args.push(dir.to_str().unwrap());
        args.extend(stop);
        let o = lb.run(&args);
        assert_eq!(
            code(&o),
            0,
            "{name}: {}\nside instance log:\n{}",
            stderr(&o),
            lifeboat_server::sandbox::log_tail(&dir.join("error.log"), 40)
        );
        let out = json(&o);
        assert!(out["plan"]["transactions"].as_u64().unwrap() > 0, "{out}");
        assert_eq!(
            checksums(&sandbox_socket(&dir), "shop").await,
            want.sums,
            "{name}: recovered tables differ from the captured state; {out}"
        );
        assert_eq!(out["plan"]["stop"], out["reached"], "{name}: {out}");
    }

    // A named MySQL server, through one client session: the source's GTIDs kept.
    let named = mysql_server().await;
    let o = named_restore(&lb, r, &named, &["--until-gtid", &p2.gtid]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(checksums(&named.connect_options(), "shop").await, p2.sums);
    let held: Option<u8> = named
        .conn()
        .await
        .query_first(format!(
            "SELECT GTID_SUBSET('{}', @@GLOBAL.gtid_executed)",
            p2.gtid
        ))
        .await
        .unwrap();
    assert_eq!(held, Some(1));

    // The source itself after DROP DATABASE: it holds every GTID of the range, and MySQL
    // would skip them without a word. Refused (exit 3) before anything is written.
    srv.exec("DROP DATABASE shop").await;
    let o = named_restore(&lb, r, &srv, &["--before-incident", &incident]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("--new-gtids"), "{}", stderr(&o));
    let shop: Option<u64> = srv
        .conn()
        .await
        .query_first("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop'")
        .await
        .unwrap();
    assert_eq!(shop, Some(0), "nothing may be restored before the refusal");
    let journal = std::fs::read_to_string(lb.journal()).unwrap();
    assert!(
        journal
            .lines()
            .any(|l| l.contains("\"refused\"") && l.contains("restore")),
        "{journal}"
    );
    // With --new-gtids the replay is exact.
    let o = named_restore(
        &lb,
        r,
        &srv,
        &["--before-incident", &incident, "--new-gtids"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(checksums(&srv.connect_options(), "shop").await, p3.sums);
}

/// Findings 3 and 5 of issue 25: a replay that fails inside a transaction leaves nothing of
/// it behind (its COMMIT is sent only after its statements succeeded), no GTID of it on the
/// target, and the journal says it failed.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_replay_commits_nothing_of_its_transaction_and_is_journaled_mysql_only() {
    let srv = mysql_server().await;
    Shop::empty()
        .with(
            "CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(20));
             CREATE TABLE shop.audit (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (1, 'one')",
        )
        .build(&srv)
        .await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let r = repo.as_str();
    // The backup leaves shop.audit out, so the replay of a transaction that writes both
    // tables fails at its second statement.
    backup(&lb, r, &srv, &["--exclude", "shop.audit"]);
    srv.exec("INSERT INTO shop.t VALUES (2, 'two')").await;
    let good = point(&srv, &mut srv.conn().await).await;
    srv.exec(
        "BEGIN; INSERT INTO shop.t VALUES (3, 'three'); INSERT INTO shop.audit VALUES (3); COMMIT",
    )
    .await;
    let bad = point(&srv, &mut srv.conn().await).await;
    let mut args = vec!["archive", "--once", "--repo", r];
    let sock = socket_args(&srv);
    args.extend(sock.iter().map(String::as_str));
    assert_eq!(code(&lb.run(&args)), 0);

    let target = mysql_server().await;
    let o = named_restore(&lb, r, &target, &["--until-gtid", &bad.gtid]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("audit"), "{}", stderr(&o));
    let mut c = target.conn().await;
    let ids: Vec<u32> = c.query("SELECT id FROM shop.t ORDER BY id").await.unwrap();
    assert_eq!(ids, vec![1, 2], "the failed transaction left a row behind");
    let (has_good, has_bad): (u8, u8) = c
        .query_first(format!(
            "SELECT GTID_SUBSET('{}', @@GLOBAL.gtid_executed), GTID_SUBSET('{}', @@GLOBAL.gtid_executed)",
            good.gtid, bad.gtid
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (has_good, has_bad),
        (1, 0),
        "a retry must not skip {}",
        bad.gtid
    );
    let journal = std::fs::read_to_string(lb.journal()).unwrap();
    let replay = journal
        .lines()
        .find(|l| l.contains("\"replay\""))
        .unwrap_or_else(|| panic!("no replay entry: {journal}"));
    assert!(replay.contains("\"failed\""), "{replay}");
}

/// Findings 7 and 11 of issue 25: rows read from a MySQL 9 tablespace without a server, the
/// definition from its SDI: JSON comes out as JSON text (not MySQL's binary form in hex),
/// a generated column's expression loses the dictionary's escaping, and STORED generated
/// values are left to the server (MySQL refuses a value for them, error 3105).
#[tokio::test(flavor = "multi_thread")]
async fn salvage_of_a_mysql_table_keeps_json_and_generated_columns_mysql_only() {
    let srv = mysql_server().await;
    srv.exec(
        "CREATE DATABASE feat; CREATE DATABASE back;
         CREATE TABLE feat.docs (
           id INT PRIMARY KEY,
           doc JSON,
           a VARCHAR(20) NOT NULL,
           label VARCHAR(80) AS (CONCAT(a, '-it''s \\\\ x')) STORED,
           twice INT AS (id * 2) VIRTUAL,
           created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
           secret VARCHAR(10) INVISIBLE DEFAULT 'h'
         ) ENGINE=InnoDB;
         INSERT INTO feat.docs (id, doc, a, secret) SELECT seq,
           CASE seq % 4
             WHEN 0 THEN JSON_OBJECT('n', seq, 'name', CONCAT('Zoë ', seq), 'tags', JSON_ARRAY(1, 2.5, 'x', NULL, true))
             WHEN 1 THEN JSON_ARRAY(seq, -seq, 18446744073709551615, 1.5e300)
             WHEN 2 THEN NULL
             ELSE JSON_OBJECT('long', REPEAT('j', 9000 + seq))
           END,
           CONCAT('a', seq), IF(seq % 3 = 0, 's', 'h')
         FROM seq_1_to_400;",
    )
    .await;
    let mut c = srv.conn().await;
    let want = checksum_of(&mut c, "feat.docs").await;
    let (copy, _) = exported(&srv, "feat", "docs").await;
    let lb = Lb::new();
    let out = srv.tmp().join("salvaged");
    let o = on_ibd(&lb, "salvage", &copy, None, &out);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["rows"], 400, "{r}");
    let sql = std::fs::read_to_string(out.join("docs.sql")).unwrap();
    assert!(
        sql.contains("'-it\\'s \\\\ x'"),
        "{}",
        &sql[..sql.len().min(1500)]
    );
    load_sql(&srv, Some("back"), Sql::File(&out.join("docs.sql")));
    assert_eq!(checksum_of(&mut c, "back.docs").await, want, "{r}");
    let name: Option<String> = c
        .query_first("SELECT doc->>'$.name' FROM back.docs WHERE id = 4")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("Zoë 4"));
}
