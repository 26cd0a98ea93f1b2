//! Backups and restores, proven by CHECKSUM TABLE of source and restored tables.

use std::path::{Path, PathBuf};
use std::process::Command;

use lifeboat_server::ConnectOptions;
use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;
use serde_json::Value;

use crate::harness::{
    Lb, Shop, Sql, StopOnDrop, backup, checksums, code, connect, definitions, identity, json,
    load_sql, read_manifest, repo_init, restore_sandbox, sakila, sandbox_socket, socket_args,
    stderr, sysbench, write_secret,
};

#[tokio::test]
async fn sakila_round_trip_equals_the_source() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    sakila(&srv);
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let b = backup(&lb, &repo, &srv, &["--threads", "3"]);
    assert_eq!(b["tables"], 16);
    assert_eq!(
        b["lock"],
        if srv.is_mysql() {
            "FLUSH TABLES WITH READ LOCK"
        } else {
            "BACKUP STAGE BLOCK_COMMIT"
        }
    );
    assert!(b["binlog"]["file"].as_str().unwrap().starts_with("binlog."));
    let id = b["id"].as_str().unwrap().to_owned();

    // A setting for the side instance reaches it (Sakila is too small to size it).
    let dst = restore_sandbox(
        &lb,
        &repo,
        &id,
        "restored",
        &["--verify", "--sandbox-set", "innodb_buffer_pool_size=256M"],
    );
    let r = &dst.report;
    assert_eq!(r["checksums_matched"], 16);
    assert_eq!(r["rows"], b["rows"]);
    assert_eq!(
        r["sandbox"]["settings"],
        serde_json::json!(["innodb_buffer_pool_size=256M"])
    );

    // Independently of the manifest: every table equals the source.
    let src = checksums(&srv.connect_options(), "sakila").await;
    let got = checksums(&dst.socket(), "sakila").await;
    assert_eq!(src.len(), 16);
    assert_eq!(got, src);
    // Same tables, keys included (secondary keys are built after the load).
    assert_eq!(
        definitions(&dst.socket(), "sakila").await,
        definitions(&srv.connect_options(), "sakila").await
    );

    // Views, routines and triggers exist and work.
    let mut c = connect(&dst.socket()).await;
    let pool: Option<u64> = c
        .query_first("SELECT @@innodb_buffer_pool_size")
        .await
        .unwrap();
    assert_eq!(pool, Some(256 << 20));
    let n: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM sakila.actor_info")
        .await
        .unwrap();
    assert_eq!(n, Some(200));
    let n: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM sakila.nicer_but_slower_film_list")
        .await
        .unwrap();
    assert_eq!(n, Some(997));
    c.query_drop("CALL sakila.film_in_stock(1, 1, @n)")
        .await
        .unwrap();
    let n: Option<u64> = c.query_first("SELECT @n").await.unwrap();
    assert_eq!(n, Some(4));
    let bal: Option<String> = c
        .query_first("SELECT sakila.get_customer_balance(1, '2005-06-01')")
        .await
        .unwrap();
    assert!(bal.is_some());
    c.query_drop("INSERT INTO sakila.film (title, language_id) VALUES ('LIFEBOAT TEST', 1)")
        .await
        .unwrap();
    let n: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM sakila.film_text WHERE title = 'LIFEBOAT TEST'")
        .await
        .unwrap();
    assert_eq!(n, Some(1), "the ins_film trigger must fire after restore");
    let fk: Vec<mysql_async::Row> = c
        .query("SELECT * FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = 'sakila'")
        .await
        .unwrap();
    assert_eq!(fk.len(), 22, "foreign keys restored");

    // --tables: only those tables and views, with exactly the tables' own triggers (film has
    // three).
    let part = restore_sandbox(
        &lb,
        &repo,
        &id,
        "partial",
        &[
            "--tables",
            "sakila.film,sakila.actor,sakila.film_actor,sakila.category,sakila.film_category,sakila.film_list",
            "--verify",
        ],
    );
    assert_eq!(part.report["checksums_matched"], 5);
    let mut p = connect(&part.socket()).await;
    let tables: Vec<String> = p
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sakila' ORDER BY 1")
        .await
        .unwrap();
    assert_eq!(
        tables,
        vec![
            "actor",
            "category",
            "film",
            "film_actor",
            "film_category",
            "film_list"
        ]
    );
    let n: Option<u64> = p
        .query_first("SELECT COUNT(*) FROM sakila.film_list")
        .await
        .unwrap();
    let want: Option<u64> = connect(&srv.connect_options())
        .await
        .query_first("SELECT COUNT(*) FROM sakila.film_list")
        .await
        .unwrap();
    assert_eq!(n, want, "the view works on the restored tables");
    let triggers: Vec<(String, String)> = p
        .query("SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'sakila' ORDER BY 1")
        .await
        .unwrap();
    assert_eq!(
        triggers,
        vec![
            ("del_film".into(), "film".into()),
            ("ins_film".into(), "film".into()),
            ("upd_film".into(), "film".into())
        ]
    );
    let src = checksums(&srv.connect_options(), "sakila").await;
    let got = checksums(&part.socket(), "sakila").await;
    assert_eq!(got.get("film"), src.get("film"));
    assert_eq!(got.get("actor"), src.get("actor"));

    // The journal recorded the restore.
    let j = lb.run(&["journal", "--json"]);
    assert!(String::from_utf8_lossy(&j.stdout).contains("\"command\":\"restore\""));
}

const EVERY_TYPE: &str = r#"
CREATE DATABASE `we``ird db` CHARACTER SET utf8mb4;
USE `we``ird db`;
CREATE TABLE `every type` (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  dec1 DECIMAL(65,30), f FLOAT, d DOUBLE,
  bt BIT(1), b64 BIT(64),
  dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME(6), y YEAR,
  c CHAR(10), vc VARCHAR(255), bin BINARY(4), vb VARBINARY(300), tx TEXT, lt LONGTEXT, bl BLOB, lb LONGBLOB,
  l1 VARCHAR(50) CHARACTER SET latin1,
  e ENUM('a','b','c d'), s SET('x','y','z'),
  j JSON, g GEOMETRY, pt POINT, u UUID, ip INET6,
  gen_v INT AS (ti * 2) VIRTUAL, gen_s VARCHAR(300) AS (CONCAT(vc, '!')) PERSISTENT,
  hid INT INVISIBLE DEFAULT 7
);
INSERT INTO `every type` (id) VALUES (1);
INSERT INTO `every type` (id, ti, tiu, si, mi, bi, biu, dec1, f, d, bt, b64, dt, dtm, ts, tm, y, c, vc, bin, vb, tx, lt, bl, lb, l1, e, s, j, g, pt, u, ip, hid) VALUES
 (2, -128, 0, -32768, 0, -9223372036854775808, 0, '-99999999999999999999999999999999999.999999999999999999999999999999',
  -3.402823e38, -1.7976931348623157e308, b'0', b'0', '0000-00-00', '0000-00-00 00:00:00', '1970-01-01 00:00:01.000',
  '-838:59:59.000000', 1901, '', '', x'00000000', '', '', '', '', '', '', 'a', '', '{}', ST_GeomFromText('POINT(0 0)'),
  POINT(0, 0), '00000000-0000-0000-0000-000000000000', '::', -1),
 (3, 127, 255, 32767, 16777215, 9223372036854775807, 18446744073709551615, '99999999999999999999999999999999999.999999999999999999999999999999',
  3.402823e38, 1.7976931348623157e308, b'1', b'1111111111111111111111111111111111111111111111111111111111111111',
  '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999', '838:59:59.000000', 2155,
  'tab	here', 'nl\nhere\\back\\N and \\t', x'00FF0A09', UNHEX(REPEAT('000102030405060708090A0B0C0D0E0F', 1)), 'é😀中文 «ü»', REPEAT('long ', 20000),
  x'000A0D095C4E', REPEAT(x'00FF5C0A', 50000), 'café latin1', 'c d', 'x,z',
  '{"a": [1, 2, {"b": null}], "c": "\\t\\n", "d": "😀"}', ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,3 2,3 3,2 2))'),
  POINT(1.5, -2.25), 'ffffffff-ffff-ffff-ffff-ffffffffffff', '2001:db8::ff00:42:8329', 2147483647),
 (4, 0, 1, 0, 1, 0, 1, '0.000000000000000000000000000001', 1e-45, 5e-324, NULL, b'1010', '2024-02-29', '2024-02-29 12:00:00.000001',
  '2024-02-29 12:00:00.5', '00:00:00.000001', 2024, NULL, '\\N', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', NULL, NULL, NULL, NULL, '::ffff:192.0.2.1', NULL),
 (5, 1, 2, 3, 4, 5, 6, '-0.5', 0.1, 0.1, b'1', b'0', '1000-01-01', '1000-01-01 00:00:00', NULL, '-00:00:00.5', 0, 'a', 'b', 'cdef', 'gh', 'ij', 'kl', 'mn', 'op', 'qr', 'b', 'y', 'null', NULL, NULL, NULL, NULL, 0);
UPDATE `every type` SET vb = (SELECT UNHEX(GROUP_CONCAT(LPAD(HEX(seq), 2, '0') SEPARATOR '')) FROM seq_0_to_255) WHERE id = 3;
CREATE TABLE `ta-ble no pk` (a INT, b VARCHAR(20)) ENGINE=InnoDB;
INSERT INTO `ta-ble no pk` VALUES (1, 'dup'), (1, 'dup'), (NULL, NULL), (2, '');
CREATE TABLE legacy (id INT PRIMARY KEY, note TEXT) ENGINE=MyISAM;
INSERT INTO legacy VALUES (1, 'myisam row'), (2, 'tab\there');
CREATE TABLE big (id BIGINT PRIMARY KEY, grp INT, payload VARCHAR(200), KEY (grp)) ENGINE=InnoDB;
INSERT INTO big SELECT seq, seq % 97, CONCAT(REPEAT(CHAR(65 + seq % 26), 150), seq) FROM seq_1_to_30000;
-- Keys the restore builds after the load (unique, prefix, comment, descending), and one it
-- cannot drop first: the AUTO_INCREMENT column's only leading index.
CREATE TABLE `keyed` (a INT NOT NULL, id INT NOT NULL AUTO_INCREMENT, email VARCHAR(100), note TEXT,
  PRIMARY KEY (a, id), KEY `by id` (id), UNIQUE KEY uq_email (email), KEY n (note(10)) COMMENT 'prefix, key',
  KEY `two``cols` (a DESC, email)) ENGINE=InnoDB;
INSERT INTO keyed (a, email, note) SELECT seq % 5, CONCAT('u', seq, '@x'), REPEAT('n', seq % 50) FROM seq_1_to_5000;
-- No primary key: chunked by the NOT NULL unique key (its leading integer), not by the
-- unique key that admits NULLs.
CREATE TABLE uniq_only (k BIGINT NOT NULL, s VARCHAR(20) NOT NULL, pad VARCHAR(200), u INT NULL,
  UNIQUE KEY a_nullable (u), UNIQUE KEY ks (k, s)) ENGINE=InnoDB;
INSERT INTO uniq_only SELECT seq DIV 3, CONCAT('s', seq MOD 3), REPEAT('p', 180), NULL FROM seq_1_to_20000;
-- Chunked by walking keys that are not integers: text in a case-insensitive collation
-- (É sorts with E), and a (DATE, INT) key.
CREATE TABLE by_name (name VARCHAR(60) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PRIMARY KEY,
  pad VARCHAR(200)) ENGINE=InnoDB;
INSERT INTO by_name SELECT CONCAT(ELT(1 + seq % 3, 'Émile', 'zoë', 'emma'), ' ', seq, IF(seq % 5 = 0, ' 😀', '')),
  REPEAT('p', 180) FROM seq_1_to_20000;
CREATE TABLE by_day (day DATE NOT NULL, n INT NOT NULL, pad VARCHAR(200), PRIMARY KEY (day, n)) ENGINE=InnoDB;
INSERT INTO by_day SELECT '2020-01-01' + INTERVAL seq DIV 7 DAY, seq MOD 7, REPEAT('d', 180) FROM seq_1_to_20000;
CREATE SEQUENCE order_numbers START WITH 1000;
CREATE TABLE history (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING;
DELETE FROM big WHERE id BETWEEN 10000 AND 12000;
"#;

#[tokio::test]
async fn every_type_and_awkward_values_survive_mariadb_only() {
    let srv = TestServer::start().await;
    load_sql(&srv, None, Sql::Text(EVERY_TYPE));
    let lb = Lb::new();
    let repo = repo_init(&lb);
    // 1 MiB chunks: the 30k-row table spans several chunks and key ranges.
    let b = backup(&lb, &repo, &srv, &["--threads", "3", "--chunk-mib", "1"]);
    assert_eq!(
        b["lock"], "BACKUP STAGE BLOCK_COMMIT",
        "MyISAM tables are read under BLOCK_DDL, no global lock needed"
    );
    assert!(b["ddl_blocked_ms"].as_u64().unwrap() >= b["lock_held_ms"].as_u64().unwrap());
    assert!(b["objects"].as_u64().unwrap() >= 6, "{b}");
    let skipped: Vec<&str> = b["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .any(|w| w.contains("order_numbers (SEQUENCE)")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|w| w.contains("history (SYSTEM VERSIONED)")),
        "{skipped:?}"
    );
    let id = b["id"].as_str().unwrap().to_owned();

    // The walked keys were cut into several ranges.
    let manifest = read_manifest(&repo, &id);
    for t in ["by_name", "by_day"] {
        let entry = manifest["body"]["schemas"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["tables"].as_array().unwrap())
            .find(|e| e["name"] == t)
            .unwrap();
        assert!(
            entry["chunks"].as_array().unwrap().len() >= 3,
            "{t}: {entry}"
        );
        assert_eq!(entry["rows"], 20000, "{t}");
    }

    let dst = restore_sandbox(&lb, &repo, &id, "restored", &["--verify", "--threads", "3"]);
    assert_eq!(dst.report["checksums_matched"], 8);
    let src = checksums(&srv.connect_options(), "we`ird db").await;
    let got = checksums(&dst.socket(), "we`ird db").await;
    assert_eq!(src.len(), 8);
    assert_eq!(got, src);
    assert_eq!(
        definitions(&dst.socket(), "we`ird db").await,
        definitions(&srv.connect_options(), "we`ird db").await
    );
    // Row by row too, for the table with every type (CHECKSUM TABLE skips nothing, but a
    // second opinion costs little). Invisible and generated columns included.
    let dump = |opts: ConnectOptions| async move {
        let mut c = connect(&opts).await;
        let rows: Vec<mysql_async::Row> = c
            .query(
                "SELECT *, hid, HEX(f), HEX(d), HEX(g) FROM `we``ird db`.`every type` ORDER BY id",
            )
            .await
            .unwrap();
        rows.into_iter()
            .map(|r| format!("{:?}", r.unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(dump(dst.socket()).await, dump(srv.connect_options()).await);
}

#[tokio::test]
async fn bit_rot_is_named_and_nothing_loads_silently_wrong() {
    let srv = TestServer::start().await;
    Shop::empty()
        .with("USE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(100)); INSERT INTO shop.t SELECT seq, REPEAT('v', 90) FROM seq_1_to_5000")
        .build(&srv)
        .await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let b = backup(&lb, &repo, &srv, &[]);
    let id = b["id"].as_str().unwrap().to_owned();
    let o = lb.run(&["verify", "--repo", &repo, "--read-data"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));

    // Flip one byte in the data object.
    let data_dir = Path::new(&repo).join("backups").join(&id).join("data");
    let obj = std::fs::read_dir(&data_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&obj).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&obj, bytes).unwrap();
    let name = obj.file_name().unwrap().to_string_lossy().into_owned();

    let o = lb.run(&["verify", "--all", "--repo", &repo, "--read-data"]);
    assert_eq!(code(&o), 1);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&name) && out.contains("SHA-256"), "{out}");
    let o = lb.run(&["verify", &id, "--repo", &repo, "--read-data"]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stdout).contains(&name));

    let dst = lb.home.path().join("restored");
    let _stop = StopOnDrop(dst.clone());
    let o = lb.run(&[
        "restore",
        &id,
        "--repo",
        &repo,
        "--sandbox",
        dst.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains(&name), "{}", stderr(&o));
    let j = lb.run(&["journal", "--json"]);
    assert!(String::from_utf8_lossy(&j.stdout).contains("\"outcome\":\"failed\""));
}

#[tokio::test]
async fn restore_refuses_a_live_target() {
    let srv = TestServer::start().await;
    Shop::one_row().routines().build(&srv).await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let id = backup(&lb, &repo, &srv, &[])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let identity = identity(&lb, &srv);

    // Into the same server: the database exists. Refused, exit 3, nothing changed.
    let mut args = vec![
        "restore",
        id.as_str(),
        "--repo",
        repo.as_str(),
        "--confirm-server",
        identity.as_str(),
    ];
    let sock = socket_args(&srv);
    args.extend(sock.iter().map(String::as_str));
    let o = lb.run(&args);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("already has database(s) shop"),
        "{}",
        stderr(&o)
    );

    // Under another name but with an application connected: refused too.
    let _app = srv.conn().await;
    let mut renamed = args.clone();
    renamed.extend(["--rename", "shop=shop_copy"]);
    let o = lb.run(&renamed);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("other client session"),
        "{}",
        stderr(&o)
    );
    // Without naming the server: refused before anything else.
    let mut unnamed: Vec<&str> = vec![
        "restore",
        id.as_str(),
        "--repo",
        repo.as_str(),
        "--rename",
        "shop=shop_copy",
    ];
    unnamed.extend(sock.iter().map(String::as_str));
    let o = lb.run(&unnamed);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    // Into a system schema: a refusal (exit 3), --force or not.
    let mut system = args.clone();
    system.extend(["--rename", "shop=mysql", "--force"]);
    let o = lb.run(&system);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("system schema"), "{}", stderr(&o));
    // --force: the copy is made next to the original and equals it.
    renamed.push("--force");
    renamed.push("--verify");
    let o = lb.run(&renamed);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        checksums(&srv.connect_options(), "shop_copy").await,
        checksums(&srv.connect_options(), "shop").await
    );
    assert!(
        stderr(&o).contains("shop_copy.max_t: its definition names `shop` without backquotes"),
        "{}",
        stderr(&o)
    );
    // The copy's view and procedure read the copy, not the original.
    let mut c = srv.conn().await;
    c.query_drop("INSERT INTO shop_copy.t VALUES (2)")
        .await
        .unwrap();
    let n: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM shop_copy.v")
        .await
        .unwrap();
    assert_eq!(n, Some(2));
    c.query_drop("CALL shop_copy.count_t(@n)").await.unwrap();
    let n: Option<u64> = c.query_first("SELECT @n").await.unwrap();
    assert_eq!(n, Some(2));
    drop(c);
    let j = lb.run(&["journal", "--json"]);
    let text = String::from_utf8_lossy(&j.stdout);
    assert_eq!(text.matches("\"outcome\":\"refused\"").count(), 3, "{text}");
    // --force into a database the target has: allowed while it has none of the tables
    // (it failed with ERROR 1007 before), refused when a table exists (exit 3).
    srv.exec("CREATE DATABASE shop_empty").await;
    let mut into_existing = args.clone();
    into_existing.extend(["--rename", "shop=shop_empty", "--force"]);
    let o = lb.run(&into_existing);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        checksums(&srv.connect_options(), "shop_empty").await,
        checksums(&srv.connect_options(), "shop").await
    );
    let mut forced = args.clone();
    forced.push("--force");
    let o = lb.run(&forced);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("has table(s) shop.t already"),
        "{}",
        stderr(&o)
    );
    // A target with local_infile off: refused before anything is created.
    srv.exec("SET GLOBAL local_infile = 0").await;
    let mut other = args.clone();
    other.extend(["--rename", "shop=shop_never", "--force"]);
    let o = lb.run(&other);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("local_infile is OFF"), "{}", stderr(&o));
    let mut c = srv.conn().await;
    let n: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('shop_never', '_lifeboat_restore')")
        .await
        .unwrap();
    assert_eq!(n, Some(0), "nothing created");
}

#[tokio::test]
async fn bad_repositories_and_ids_give_one_clear_line() {
    let lb = Lb::new();
    let file = lb.home.path().join("plainfile");
    std::fs::write(&file, "x").unwrap();
    let o = lb.run(&["repo", "init", "--repo", file.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("is a file, not a directory"),
        "{}",
        stderr(&o)
    );
    let o = lb.run(&["backups", "--repo", lb.home.path().to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("is not a lifeboat repository"),
        "{}",
        stderr(&o)
    );
    let o = lb.run(&["backups"]);
    assert_eq!(code(&o), 2, "no --repo is a usage error");

    let repo = repo_init(&lb);
    let o = lb.run(&[
        "restore",
        "20990101T000000Z-beef",
        "--repo",
        &repo,
        "--sandbox",
        "/tmp/never",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("no committed backup 20990101T000000Z-beef"),
        "{}",
        stderr(&o)
    );

    // A truncated manifest: listed as damaged, restore names the file.
    let dir = Path::new(&repo).join("backups/20990101T000000Z-dead");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.json"), "{\"format\": 1, \"id\": \"2099").unwrap();
    let o = lb.run(&["backups", "--repo", &repo]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("DAMAGED"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = lb.run(&[
        "restore",
        "20990101T000000Z-dead",
        "--repo",
        &repo,
        "--sandbox",
        "/tmp/never",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("manifest.json is damaged"),
        "{}",
        stderr(&o)
    );
    assert!(
        !Path::new("/tmp/never").exists(),
        "nothing was started for a damaged backup"
    );
    // Data without a manifest (an interrupted backup) is never listed as complete.
    let dir = Path::new(&repo).join("backups/20990101T000001Z-cafe/data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("x.zst"), "partial").unwrap();
    let o = lb.run(&["backups", "--json", "--repo", &repo]);
    let list = json(&o);
    let incomplete = list
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == "20990101T000001Z-cafe")
        .unwrap();
    assert_eq!(incomplete["status"], "incomplete");
}

/// The backup taken while sysbench writes, restored and rolled forward with the source's own
/// binlog from the recorded position, equals the source: the snapshot and the position match
/// exactly (no transaction missing, none applied twice).
#[tokio::test]
async fn backup_under_write_load_is_exactly_at_its_binlog_position() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    srv.exec("CREATE DATABASE sbtest").await;
    let o = sysbench(&srv, &["prepare"])
        .output()
        .expect("sysbench (scripts/install-deps installs it)");
    assert!(o.status.success(), "{}", stderr(&o));
    let load = sysbench(&srv, &["--threads=4", "--time=6", "run"])
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let b = backup(&lb, &repo, &srv, &["--threads", "3", "--chunk-mib", "1"]);
    let out = load.wait_with_output().unwrap();
    assert!(out.status.success(), "sysbench: {}", stderr(&out));
    let id = b["id"].as_str().unwrap().to_owned();
    let file = b["binlog"]["file"].as_str().unwrap().to_owned();
    let pos = b["binlog"]["pos"].as_u64().unwrap();

    let dst = restore_sandbox(&lb, &repo, &id, "restored", &["--verify"]);
    let mid = checksums(&dst.socket(), "sbtest").await;
    assert_ne!(
        mid,
        checksums(&srv.connect_options(), "sbtest").await,
        "the load ran on after the backup"
    );

    // Roll forward with the peer tool from exactly the recorded position.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&srv.sandbox.datadir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            // binlog.NNNNNN only: not the index, nor MariaDB 11's GTID index (.idx).
            n.strip_prefix("binlog.")
                .is_some_and(|seq| seq.bytes().all(|b| b.is_ascii_digit()))
                && n.as_str() >= file.as_str()
        })
        .collect();
    files.sort();
    let (binlog_tool, client) = if srv.is_mysql() {
        ("mysqlbinlog", "mysql")
    } else {
        ("mariadb-binlog", "mariadb")
    };
    let binlog = Command::new(binlog_tool)
        .arg(format!("--start-position={pos}"))
        .args(&files)
        .output()
        .unwrap();
    assert!(binlog.status.success(), "{}", stderr(&binlog));
    let mut apply = Command::new(client)
        .arg(format!(
            "--defaults-file={}",
            dst.dir.join("my.cnf").display()
        ))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    apply
        .stdin
        .take()
        .unwrap()
        .write_all(&binlog.stdout)
        .unwrap();
    let applied = apply.wait_with_output().unwrap();
    assert!(applied.status.success(), "replay: {}", stderr(&applied));
    assert_eq!(
        checksums(&dst.socket(), "sbtest").await,
        checksums(&srv.connect_options(), "sbtest").await,
        "backup + binlog from {file}:{pos} must equal the source"
    );
}

/// kill -9 of `lifeboat backup` at random moments: committed backups always verify, an
/// interrupted one is never listed as complete, and a new backup succeeds after unlock.
#[tokio::test]
async fn backup_killed_at_random_moments_never_leaves_a_false_backup() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    srv.exec("CREATE DATABASE sbtest").await;
    let o = sysbench(&srv, &["prepare"]).output().expect("sysbench");
    assert!(o.status.success(), "{}", stderr(&o));
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let cnf = srv.sandbox.defaults_file.to_str().unwrap().to_owned();
    // A full backup's duration, to spread the kills over it: the faster of two (the first
    // one runs cold), and only its first 80%, so that most kills interrupt a backup.
    let mut full_ms = u64::MAX;
    for _ in 0..2 {
        let t = std::time::Instant::now();
        backup(&lb, &repo, &srv, &["--chunk-mib", "1"]);
        full_ms = full_ms.min(t.elapsed().as_millis() as u64);
    }
    let full_ms = (full_ms * 4 / 5).max(50);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    let mut killed = 0;
    for _ in 0..20 {
        // xorshift: a different spread of kill moments on every run.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Within the backup's duration (process start included), so most kills interrupt it.
        let delay = seed % full_ms;
        let mut child = lb
            .cmd(&[
                "backup",
                "--json",
                "--repo",
                &repo,
                "--defaults-file",
                &cnf,
                "--chunk-mib",
                "1",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            killed += 1;
        }
        // A killed writer leaves its lock, reported as stale; remove it as an operator would.
        let _ = lb.run(&["repo", "unlock", "--repo", &repo]);
    }
    assert!(killed >= 10, "only {killed} of 20 backups were interrupted");
    let list = json(&lb.run(&["backups", "--json", "--repo", &repo]));
    let list = list.as_array().unwrap();
    for b in list {
        if b["status"] == "complete" {
            // A backup listed complete must be whole: its manifest lists every object.
            let o = lb.run(&[
                "verify",
                b["id"].as_str().unwrap(),
                "--repo",
                &repo,
                "--read-data",
            ]);
            assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
        } else {
            assert_eq!(b["status"], "incomplete", "{b}");
        }
    }
    assert!(
        list.iter().any(|b| b["status"] == "incomplete"),
        "some kill must have hit mid-backup"
    );
    let o = lb.run(&["verify", "--repo", &repo, "--read-data"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    // A new backup succeeds and restores exactly.
    let b = backup(&lb, &repo, &srv, &["--chunk-mib", "1"]);
    let dst = restore_sandbox(
        &lb,
        &repo,
        b["id"].as_str().unwrap(),
        "restored",
        &["--verify"],
    );
    assert_eq!(
        checksums(&dst.socket(), "sbtest").await,
        checksums(&srv.connect_options(), "sbtest").await
    );
}

#[tokio::test]
async fn encrypted_repository_round_trip() {
    let srv = TestServer::start().await;
    Shop::empty()
        .with(
            "USE shop; CREATE TABLE t (id INT PRIMARY KEY, secret VARCHAR(100));
             INSERT INTO t SELECT seq, CONCAT('plaintext-marker-', seq) FROM seq_1_to_3000",
        )
        .build(&srv)
        .await;
    let lb = Lb::new();
    let repo = lb.home.path().join("repo").display().to_string();
    let pass = write_secret(lb.home.path(), "pass", "correct horse battery staple\n");
    let pass = pass.to_str().unwrap();
    let o = lb.run(&[
        "repo",
        "init",
        "--json",
        "--encrypt",
        "--repo",
        &repo,
        "--passphrase-file",
        pass,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        json(&o)["encryption"]["recipient"]
            .as_str()
            .unwrap()
            .starts_with("age1")
    );

    // A backup host needs only the public key: no passphrase given.
    let b = backup(&lb, &repo, &srv, &[]);
    let id = b["id"].as_str().unwrap().to_owned();
    let dir = Path::new(&repo).join("backups").join(&id);
    assert!(dir.join("manifest.age").exists() && !dir.join("manifest.json").exists());
    for entry in walk(Path::new(&repo)) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("plaintext-marker") && !text.contains("CREATE TABLE"),
            "{} is readable",
            entry.display()
        );
        if entry.extension().is_some_and(|e| e == "age") {
            assert!(
                bytes.starts_with(b"age-encryption.org/v1"),
                "{}",
                entry.display()
            );
        }
    }

    // Reading needs the passphrase; a wrong one is named as such and never echoed.
    let o = lb.run(&["backups", "--repo", &repo]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("is encrypted: a passphrase is needed"),
        "{}",
        stderr(&o)
    );
    let wrong = write_secret(lb.home.path(), "wrong", "Tr0ub4dor&3\n");
    let o = lb.run(&[
        "verify",
        "--repo",
        &repo,
        "--passphrase-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("wrong passphrase") && !stderr(&o).contains("Tr0ub4dor"),
        "{}",
        stderr(&o)
    );

    let o = lb.run(&[
        "verify",
        "--repo",
        &repo,
        "--read-data",
        "--passphrase-file",
        pass,
    ]);
    assert_eq!(
        code(&o),
        0,
        "{}{}",
        stderr(&o),
        String::from_utf8_lossy(&o.stdout)
    );
    let dst = lb.home.path().join("restored");
    let _stop = StopOnDrop(dst.clone());
    let o = lb
        .cmd(&[
            "restore",
            &id,
            "--repo",
            &repo,
            "--sandbox",
            dst.to_str().unwrap(),
            "--verify",
        ])
        .env("LIFEBOAT_PASSPHRASE", "correct horse battery staple")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        checksums(&sandbox_socket(&dst), "shop").await,
        checksums(&srv.connect_options(), "shop").await
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn prune_keeps_by_rules_and_removes_interrupted_backups() {
    let srv = TestServer::start().await;
    Shop::one_row().routines().build(&srv).await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let ids: Vec<String> = (0..3)
        .map(|_| {
            backup(&lb, &repo, &srv, &[])["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let debris = Path::new(&repo).join("backups/20200101T000000Z-dead/data");
    std::fs::create_dir_all(&debris).unwrap();
    std::fs::write(debris.join("x.zst"), "partial").unwrap();

    // A refusal: exit 3, nothing removed.
    let o = lb.run(&["prune", "--repo", &repo]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("no --keep-* rule"), "{}", stderr(&o));

    let o = lb.run(&[
        "prune",
        "--json",
        "--repo",
        &repo,
        "--keep-last",
        "1",
        "--dry-run",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan = json(&o);
    assert_eq!(plan["remove"].as_array().unwrap().len(), 2);
    assert_eq!(plan["keep"][0]["id"], ids[2].as_str());
    assert_eq!(
        json(&lb.run(&["backups", "--json", "--repo", &repo]))
            .as_array()
            .unwrap()
            .len(),
        4,
        "dry run removes nothing"
    );

    let o = lb.run(&["prune", "--repo", &repo, "--keep-last", "1"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let list = json(&lb.run(&["backups", "--json", "--repo", &repo]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["id"], ids[2].as_str());
    assert!(!Path::new(&repo).join("backups").join(&ids[0]).exists());
    let o = lb.run(&["verify", "--repo", &repo, "--read-data"]);
    assert_eq!(code(&o), 0);
}

#[tokio::test]
async fn accounts_and_grants_round_trip_with_users() {
    let srv = TestServer::start().await;
    Shop::one_row().build(&srv).await;
    srv.exec(
        "CREATE USER app@'127.0.0.1' IDENTIFIED BY 'app-pw'; GRANT SELECT, INSERT ON shop.* TO app@'127.0.0.1';
         CREATE ROLE zz_role; GRANT SELECT ON shop.* TO zz_role;
         CREATE USER aa_reader@'127.0.0.1' IDENTIFIED BY 'reader-pw'; GRANT zz_role TO aa_reader@'127.0.0.1'",
    )
    .await;
    // A role whose name sorts after the user granted it, active by default at login.
    srv.exec(if srv.is_mysql() {
        "SET DEFAULT ROLE zz_role TO aa_reader@'127.0.0.1'"
    } else {
        "SET DEFAULT ROLE zz_role FOR aa_reader@'127.0.0.1'"
    })
    .await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let b = backup(&lb, &repo, &srv, &["--users"]);
    assert!(
        b["users"].as_u64().unwrap() >= 2,
        "app and root at least: {b}"
    );
    let dst = restore_sandbox(
        &lb,
        &repo,
        b["id"].as_str().unwrap(),
        "restored",
        &["--users"],
    );
    let r = &dst.report;
    assert!(
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("'root'@'localhost' exists")),
        "{r}"
    );
    // The restored account logs in with its password and has exactly its grants.
    let port: u16 = std::fs::read_to_string(dst.dir.join("my.cnf"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("port="))
        .unwrap()
        .parse()
        .unwrap();
    let app = ConnectOptions {
        endpoint: lifeboat_server::Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        user: Some("app".into()),
        password: Some(lifeboat_server::Password::new("app-pw")),
        ssl_mode: lifeboat_server::SslMode::Disabled,
        ssl_ca: None,
        connect_timeout: std::time::Duration::from_secs(5),
    };
    let mut c = connect(&app).await;
    c.query_drop("INSERT INTO shop.t VALUES (2)").await.unwrap();
    assert!(
        c.query_drop("DELETE FROM shop.t").await.is_err(),
        "DELETE was never granted"
    );
    // The role came back (MariaDB's were left out before) and reads through its default role.
    let reader = ConnectOptions {
        user: Some("aa_reader".into()),
        password: Some(lifeboat_server::Password::new("reader-pw")),
        ..app
    };
    let mut c = connect(&reader).await;
    let n: Option<u64> = c.query_first("SELECT COUNT(*) FROM shop.t").await.unwrap();
    assert_eq!(n, Some(2));
}

/// kill -9 of `lifeboat restore` at random moments; `restore --resume` into the same side
/// instance finishes it: every table equals the source (no chunk lost, none loaded twice).
#[tokio::test]
async fn restore_killed_then_resumed_equals_the_source() {
    let srv = TestServer::start().await;
    srv.exec("CREATE DATABASE sbtest").await;
    let o = sysbench(&srv, &["prepare"]).output().expect("sysbench");
    assert!(o.status.success(), "{}", stderr(&o));
    // A table without a key and a MyISAM table: resumable too (reloaded whole).
    srv.exec(
        "USE sbtest; CREATE TABLE nokey (a INT, b VARCHAR(200)) ENGINE=InnoDB;
         INSERT INTO nokey SELECT seq % 10, REPEAT('n', 150) FROM seq_1_to_20000;
         CREATE TABLE legacy (id INT PRIMARY KEY, b VARCHAR(200)) ENGINE=MyISAM;
         INSERT INTO legacy SELECT seq, REPEAT('m', 150) FROM seq_1_to_20000",
    )
    .await;
    let want = checksums(&srv.connect_options(), "sbtest").await;
    let want_defs = definitions(&srv.connect_options(), "sbtest").await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let id = backup(&lb, &repo, &srv, &["--chunk-mib", "1"])["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // How long a whole restore takes, to spread the kills over it.
    let probe = lb.home.path().join("probe");
    let _stop_probe = StopOnDrop(probe.clone());
    let t = std::time::Instant::now();
    let o = lb.run(&[
        "restore",
        &id,
        "--repo",
        &repo,
        "--sandbox",
        probe.to_str().unwrap(),
        "--threads",
        "3",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let full_ms = (t.elapsed().as_millis() as u64).max(100);

    // Adaptive kill moment: shorter after a restore that finished first, longer after a kill
    // that came before the side instance existed.
    let mut delay = full_ms / 3;
    let mut interrupted = 0;
    for trial in 0..12 {
        if interrupted >= 2 {
            break;
        }
        let dst = lb.home.path().join(format!("dst{trial}"));
        let _stop = StopOnDrop(dst.clone());
        let mut child = lb
            .cmd(&[
                "restore",
                &id,
                "--repo",
                &repo,
                "--sandbox",
                dst.to_str().unwrap(),
                "--threads",
                "3",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        let _ = child.kill();
        let finished = child.wait().unwrap().success();
        if !dst.join("sandbox.json").exists() {
            delay += delay / 2 + 50;
            continue; // killed before the side instance existed: nothing to resume
        }
        if finished {
            delay = (delay / 2).max(20);
        } else {
            interrupted += 1;
        }
        // The killed process's sessions go away with it; give the server a moment to notice.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let o = lb.run(&[
            "restore",
            &id,
            "--json",
            "--repo",
            &repo,
            "--sandbox",
            dst.to_str().unwrap(),
            "--resume",
            "--verify",
        ]);
        assert_eq!(code(&o), 0, "trial {trial}: {}", stderr(&o));
        assert_eq!(
            checksums(&sandbox_socket(&dst), "sbtest").await,
            want,
            "trial {trial}"
        );
        // Keys dropped for the load by the killed run are back.
        assert_eq!(
            definitions(&sandbox_socket(&dst), "sbtest").await,
            want_defs,
            "trial {trial}"
        );
        let mut c = connect(&sandbox_socket(&dst)).await;
        let left: Option<u64> = c
            .query_first("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '_lifeboat_restore'")
            .await
            .unwrap();
        assert_eq!(left, Some(0), "progress schema dropped after success");
    }
    // No progress record and tables that differ from the backup: refused, nothing loaded.
    let mut c = connect(&sandbox_socket(&probe)).await;
    c.query_drop("DELETE FROM sbtest.sbtest1 WHERE id = 7")
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    let o = lb.run(&[
        "restore",
        &id,
        "--repo",
        &repo,
        "--sandbox",
        probe.to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing to resume"), "{}", stderr(&o));
    assert!(interrupted >= 1, "no restore was interrupted in 12 tries");
}

/// Ctrl-C (SIGINT) or SIGTERM of `lifeboat restore` in the middle of the load: it stops at
/// once, and `restore --resume` into the same side instance finishes it (issue 26): the
/// chunks loaded before the signal are skipped, and every table equals the source.
#[tokio::test(flavor = "multi_thread")]
async fn restore_interrupted_then_resumed_equals_the_source() {
    let srv = TestServer::start().await;
    srv.exec("CREATE DATABASE sbtest").await;
    let o = sysbench(&srv, &["prepare"]).output().expect("sysbench");
    assert!(o.status.success(), "{}", stderr(&o));
    // And 200,000 wider rows (cross joins: no sequence engine on MySQL), for a load that
    // runs long enough to be interrupted.
    srv.exec(
        "USE sbtest; CREATE TABLE digits (d INT PRIMARY KEY);
         INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
         CREATE TABLE wide (id INT PRIMARY KEY, k INT NOT NULL, pad VARCHAR(255), KEY (k));
         INSERT INTO wide SELECT n, n % 977, REPEAT(MD5(n), 5) FROM (
           SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d AS n
           FROM digits a, digits b, digits c, digits e, digits f, digits g WHERE g.d < 2) s",
    )
    .await;
    let want = checksums(&srv.connect_options(), "sbtest").await;
    let want_defs = definitions(&srv.connect_options(), "sbtest").await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let id = backup(&lb, &repo, &srv, &["--chunk-mib", "1"])["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for signal in ["-INT", "-TERM"] {
        let dst = lb.home.path().join(format!("dst{signal}"));
        let _stop = StopOnDrop(dst.clone());
        let (status, log) = restore_interrupted_mid_load(&lb, &repo, &id, &dst, signal).await;
        let o = lb.run(&[
            "restore",
            &id,
            "--json",
            "--repo",
            &repo,
            "--sandbox",
            dst.to_str().unwrap(),
            "--resume",
            "--verify",
        ]);
        assert_eq!(
            code(&o),
            0,
            "interrupted run ({status}): {log}\nresumed: {}",
            stderr(&o)
        );
        let report = json(&o);
        assert!(
            report["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().starts_with("resumed: ")),
            "{signal}: the chunks loaded before it are skipped: {report}"
        );
        assert_eq!(
            checksums(&sandbox_socket(&dst), "sbtest").await,
            want,
            "{signal}"
        );
        assert_eq!(
            definitions(&sandbox_socket(&dst), "sbtest").await,
            want_defs,
            "{signal}"
        );
        // The progress schema went with the restore's success.
        assert_eq!(loaded_chunks(&sandbox_socket(&dst)).await, 0, "{signal}");
    }
}

/// Starts `restore ID --sandbox DST`, sends it `signal` (`kill` syntax) once a chunk is
/// loaded, and waits for it to end (promptly) and for its sessions to leave the side
/// instance: how it ended, and what it wrote to stderr.
async fn restore_interrupted_mid_load(
    lb: &Lb,
    repo: &str,
    id: &str,
    dst: &Path,
    signal: &str,
) -> (std::process::ExitStatus, String) {
    let log = dst.with_extension("log");
    let mut child = lb
        .cmd(&[
            "restore",
            id,
            "--repo",
            repo,
            "--sandbox",
            dst.to_str().unwrap(),
            "--threads",
            "2",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    // Mid-load: the progress table records a loaded chunk. (It is created after the check
    // for other sessions, so looking into the side instance from then on disturbs nothing.)
    let t = std::time::Instant::now();
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the restore ended before {signal}: {}",
            log_text()
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "no chunk loaded in 60 s: {}",
            log_text()
        );
        if dst.join("data/_lifeboat_restore").exists()
            && loaded_chunks(&sandbox_socket(dst)).await > 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "restore ignored {signal}: {}",
            log_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    // Handled, not a death by the signal: exit 1, said on stderr, journaled as such.
    let name = format!("SIG{}", signal.trim_start_matches('-'));
    assert_eq!(status.code(), Some(1), "{signal}: {}", log_text());
    assert!(
        log_text().contains(&format!("interrupted ({name})")) && log_text().contains("--resume"),
        "{signal}: {}",
        log_text()
    );
    let journal = lb.run(&["journal", "--json"]);
    let last = String::from_utf8_lossy(&journal.stdout)
        .lines()
        .rfind(|l| l.contains("\"restore\""))
        .unwrap_or_default()
        .to_owned();
    assert!(last.contains("\"interrupted\""), "{signal}: {last}");
    // The interrupted run's sessions go away with it (a load's transaction rolls back).
    let mut c = connect(&sandbox_socket(dst)).await;
    let t = std::time::Instant::now();
    loop {
        let others: Option<u64> = c
            .query_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
                 AND COMMAND <> 'Daemon' AND USER NOT IN ('system user', 'event_scheduler')",
            )
            .await
            .unwrap();
        if others == Some(0) {
            break;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "the sessions of the restore interrupted by {signal} are still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    c.disconnect().await.unwrap();
    (status, log_text())
}

/// The chunks a restore into `target` recorded as loaded (0 without its progress schema).
async fn loaded_chunks(target: &ConnectOptions) -> u64 {
    let Ok(mut c) = lifeboat_server::connect(target).await else {
        return 0;
    };
    let n: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM _lifeboat_restore.chunks")
        .await
        .unwrap_or_default();
    let _ = c.disconnect().await;
    n.unwrap_or(0)
}

/// Kills `lifeboat backup` until one is interrupted after its snapshot was recorded.
async fn interrupted_backup(lb: &Lb, repo: &str, cnf: &str) -> String {
    interrupted_backup_by(lb, repo, cnf, "-KILL").await
}

/// [`interrupted_backup`] with `signal` (`kill` syntax). SIGINT and SIGTERM must leave no
/// lock behind; after SIGKILL the lock is removed by hand, as an operator would.
async fn interrupted_backup_by(lb: &Lb, repo: &str, cnf: &str, signal: &str) -> String {
    for attempt in 0..30u64 {
        let mut child = lb
            .cmd(&[
                "backup",
                "--repo",
                repo,
                "--defaults-file",
                cnf,
                "--chunk-mib",
                "1",
                "--threads",
                "2",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(150 + 40 * attempt)).await;
        let _ = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        if signal == "-KILL" {
            let _ = lb.run(&["repo", "unlock", "--repo", repo]);
        } else {
            let locks: Vec<_> = std::fs::read_dir(Path::new(repo).join("locks"))
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            assert!(locks.is_empty(), "{signal} ({status}) left {locks:?}");
        }
        let list = json(&lb.run(&["backups", "--json", "--repo", repo]));
        let found = list.as_array().unwrap().iter().rev().find_map(|b| {
            let id = b["id"].as_str()?;
            (b["status"] == "incomplete"
                && Path::new(repo)
                    .join("backups")
                    .join(id)
                    .join("state.json")
                    .exists())
            .then(|| id.to_owned())
        });
        if let Some(id) = found {
            return id;
        }
    }
    panic!("no backup was interrupted after its snapshot in 30 tries");
}

#[tokio::test]
async fn backup_resume_finishes_an_interrupted_backup_only_if_nothing_changed() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    srv.exec("CREATE DATABASE sbtest").await;
    let o = sysbench(&srv, &["prepare"]).output().expect("sysbench");
    assert!(o.status.success(), "{}", stderr(&o));
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let cnf = srv.sandbox.defaults_file.to_str().unwrap().to_owned();

    let o = lb.run(&[
        "backup",
        "--resume",
        "--repo",
        &repo,
        "--defaults-file",
        &cnf,
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("no interrupted backup to resume"),
        "{}",
        stderr(&o)
    );

    let id = interrupted_backup(&lb, &repo, &cnf).await;
    let o = lb.run(&[
        "backup",
        "--resume",
        "--json",
        "--repo",
        &repo,
        "--defaults-file",
        &cnf,
        "--chunk-mib",
        "1",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        json(&o)["id"],
        id.as_str(),
        "the interrupted backup itself is finished"
    );
    let o = lb.run(&["verify", &id, "--repo", &repo, "--read-data"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    let dst = lb.home.path().join("restored");
    let _stop = StopOnDrop(dst.clone());
    let o = lb.run(&[
        "restore",
        &id,
        "--repo",
        &repo,
        "--sandbox",
        dst.to_str().unwrap(),
        "--verify",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        checksums(&sandbox_socket(&dst), "sbtest").await,
        checksums(&srv.connect_options(), "sbtest").await
    );

    // Interrupted again (Ctrl-C: no lock left, see the helper), then the server writes:
    // the stored chunks are from another moment.
    let id2 = interrupted_backup_by(&lb, &repo, &cnf, "-INT").await;
    srv.exec("UPDATE sbtest.sbtest1 SET k = k + 1 WHERE id = 1")
        .await;
    let o = lb.run(&[
        "backup",
        "--resume",
        "--repo",
        &repo,
        "--defaults-file",
        &cnf,
    ]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("backup {id2}: cannot resume")) && err.contains("has written since"),
        "{err}"
    );
}

/// Tables whose `CHECKSUM TABLE` lifeboat computes from the rows it reads (true) or leaves to
/// the server (false): every covered type at its edges, NULLs across bitmap bytes, packed and
/// fixed records, row formats, character sets.
const COMPUTED_CHECKSUMS: &str = r#"
SET SESSION sql_mode = '';
CREATE DATABASE ck CHARACTER SET latin1;
USE ck;
CREATE TABLE ints (
  id INT PRIMARY KEY,
  t TINYINT, tu TINYINT UNSIGNED, s SMALLINT, su SMALLINT UNSIGNED, m MEDIUMINT,
  mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, b BIGINT, bu BIGINT UNSIGNED NOT NULL
);
INSERT INTO ints VALUES
  (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0),
  (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1),
  (4, 0, 1, -1, 2, -3, 4, -5, 6, -7, 8);
CREATE TABLE fixed_strings (
  id INT NOT NULL, c1 CHAR(1), c5 CHAR(5) CHARACTER SET utf8mb4, c3 CHAR(3) CHARACTER SET utf8mb3,
  cw CHAR(4) CHARACTER SET cp1251, cg CHAR(6) CHARACTER SET gbk, ca CHAR(255) CHARACTER SET ascii,
  b4 BINARY(4), b0 BINARY(1) NOT NULL, c0 CHAR(0), cn CHAR(2) NOT NULL, PRIMARY KEY (id)
);
INSERT INTO fixed_strings VALUES
  (1, 'a', '😀é', 'ü', 'Ж', '中文', REPEAT('z', 255), 'ab', 'x', '', 'q'),
  (2, '', '  ', 'a  ', '', '', ' x', '', '', NULL, ''),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0x00, NULL, 'zz'),
  (4, ' ', 'abcde', 'tab', 'x\tz', 'a', 'line\nbreak', 0x00ff00ff, 0xff, '', ' ');
CREATE TABLE var_strings (
  id INT PRIMARY KEY, v VARCHAR(20), vb VARBINARY(300), vu VARCHAR(10) CHARACTER SET ucs2,
  v16 VARCHAR(10) CHARACTER SET utf16, tt TINYTEXT, t TEXT CHARACTER SET utf8mb4,
  mt MEDIUMTEXT, lt LONGTEXT, tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB, j JSON,
  c CHAR(4) CHARACTER SET utf8mb4 NOT NULL DEFAULT ''
);
INSERT INTO var_strings VALUES
  (1, 'x', REPEAT(0x00, 300), 'ab', 'cd', 't', '😀 emoji', REPEAT('m', 70000), 'lt', 0x00, 0xdeadbeef, '', REPEAT('L', 100000), '{"a": [1, 2.5, "x"]}', 'ok'),
  (2, '', '', '', '', '', '', '', '', '', '', '', '', NULL, ''),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'n'),
  (4, 'trail  ', 'a\\b\tc', 'é', '😀', '\r\n', 'N', '\\N', NULL, 'x', NULL, 'y', NULL, '[]', '');
CREATE TABLE numbers (
  id INT PRIMARY KEY, f FLOAT, fd FLOAT(7,3), d DOUBLE, du DOUBLE UNSIGNED, d2 REAL,
  dec1 DECIMAL(65,30), dec2 DECIMAL(10,0), dec3 DECIMAL(5,5) NOT NULL, dec4 DECIMAL(12,3) UNSIGNED,
  dt DATE, y YEAR
);
INSERT INTO numbers VALUES
  (1, 0.1234567, 1234.567, 1.7976931348623157e308, 0, 123456.7891, '12345678901234567890123456789012345.123456789012345678901234567891', -9999999999, 0.99999, 999999999.999, '2024-02-29', 2024),
  (2, -3.4e38, -9999.999, -2.2250738585072014e-308, 1e-300, -0.0001, '-0.000000000000000000000000000001', 0, -0.99999, 0, '0000-00-00', 0),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL),
  (4, 1e-45, 0, -0.0, 5e-324, 0, 0, 1, 0.00001, 0.001, '9999-12-31', 1901),
  (5, 3.0, 1, 1e22, 123.456, 1, -1, -1, 0, 1.5, '1000-01-00', 2155),
  (6, 0.1, 0.5, 0.1e0 + 0.2e0, 1e0 / 3, 2e0 / 3, 0, 0, 0, 0, NULL, NULL);
CREATE TABLE wide_nulls (
  id INT PRIMARY KEY, n1 INT, n2 INT, n3 INT, n4 INT, n5 INT, n6 INT, n7 INT, n8 INT, n9 INT,
  n10 INT, n11 INT, n12 INT, n13 INT, n14 INT, n15 INT, n16 INT, n17 INT
);
INSERT INTO wide_nulls (id, n1, n8, n9, n16, n17) VALUES (1, 1, 8, 9, 16, 17), (2, NULL, NULL, NULL, NULL, NULL);
INSERT INTO wide_nulls VALUES (3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17);
CREATE TABLE wide_nulls_packed LIKE wide_nulls;
ALTER TABLE wide_nulls_packed ADD v VARCHAR(3);
INSERT INTO wide_nulls_packed SELECT *, 'v' FROM wide_nulls;
CREATE TABLE seven_nulls (id INT PRIMARY KEY, a INT, b INT, c INT, d INT, e INT, f INT, g INT);
INSERT INTO seven_nulls VALUES (1, NULL, 2, NULL, 4, NULL, 6, NULL), (2, 1, 2, 3, 4, 5, 6, 7);
CREATE TABLE rf_dynamic (id INT PRIMARY KEY, c CHAR(3), n INT) ROW_FORMAT=DYNAMIC;
CREATE TABLE rf_compact (id INT PRIMARY KEY, c CHAR(3), n INT) ROW_FORMAT=COMPACT;
CREATE TABLE rf_redundant (id INT PRIMARY KEY, c CHAR(3), n INT) ROW_FORMAT=REDUNDANT;
CREATE TABLE rf_compressed (id INT PRIMARY KEY, c CHAR(3), n INT, v VARCHAR(5)) ROW_FORMAT=COMPRESSED;
INSERT INTO rf_dynamic VALUES (1, 'a', NULL), (2, NULL, 2);
INSERT INTO rf_compact SELECT * FROM rf_dynamic;
INSERT INTO rf_redundant SELECT * FROM rf_dynamic;
INSERT INTO rf_compressed SELECT *, 'v' FROM rf_dynamic;
-- InnoDB stores it as DYNAMIC, but the server's record keeps FIXED's layout (not packed).
SET SESSION innodb_strict_mode = 0;
CREATE TABLE rf_fixed (id INT PRIMARY KEY, v VARCHAR(5), n INT, KEY (n)) ROW_FORMAT=FIXED;
SET SESSION innodb_strict_mode = DEFAULT;
INSERT INTO rf_fixed VALUES (1, 'ab', NULL), (2, NULL, 3);
CREATE TABLE long_unique (id INT PRIMARY KEY, b BLOB, UNIQUE (b));
INSERT INTO long_unique VALUES (1, 'x'), (2, NULL), (3, REPEAT('y', 5000));
CREATE TABLE hidden (id INT PRIMARY KEY, h INT INVISIBLE, c CHAR(2));
INSERT INTO hidden (id, h, c) VALUES (1, 5, 'a'), (2, NULL, NULL);
CREATE TABLE no_key (a INT, c CHAR(10));
INSERT INTO no_key VALUES (1, 'x'), (1, 'x'), (NULL, NULL);
CREATE TABLE empty (id INT PRIMARY KEY, c CHAR(3));
-- Table options come back as they were.
CREATE TABLE stats_on (id INT PRIMARY KEY, n INT, KEY (n)) STATS_AUTO_RECALC=1;
CREATE TABLE stats_off (id INT PRIMARY KEY, n INT) STATS_AUTO_RECALC=0 COMMENT 'STATS_AUTO_RECALC=1';
INSERT INTO stats_on VALUES (1, 1), (2, NULL);
INSERT INTO stats_off SELECT * FROM stats_on;
CREATE TABLE big (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL);
INSERT INTO big SELECT seq, seq * 7 % 1000, REPEAT(CHAR(48 + seq % 10), 119), REPEAT('p', seq % 61)
  FROM seq_1_to_40000;
CREATE TABLE by_name (name VARCHAR(40) CHARACTER SET utf8mb4 PRIMARY KEY, n INT);
INSERT INTO by_name SELECT CONCAT('name-', seq), seq FROM seq_1_to_20000;
-- Left to the server: a DATETIME, an ENUM, a DOUBLE(M,D), a generated column, a MyISAM table.
CREATE TABLE has_double_md (id INT PRIMARY KEY, d DOUBLE(10,4));
INSERT INTO has_double_md VALUES (1, 123456.7891), (2, -0.0001);
CREATE TABLE has_datetime (id INT PRIMARY KEY, t DATETIME(3));
INSERT INTO has_datetime VALUES (1, '2024-01-02 03:04:05.678'), (2, NULL);
CREATE TABLE has_enum (id INT PRIMARY KEY, e ENUM('a', 'b'));
INSERT INTO has_enum VALUES (1, 'b'), (2, NULL);
CREATE TABLE has_generated (id INT PRIMARY KEY, g INT AS (id * 2) VIRTUAL);
INSERT INTO has_generated (id) VALUES (1), (2);
CREATE TABLE myisam (id INT PRIMARY KEY, c CHAR(3)) ENGINE=MyISAM;
INSERT INTO myisam VALUES (1, 'a');
"#;

/// MariaDB only: lifeboat computes MariaDB's CHECKSUM TABLE algorithm; on MySQL the backup
/// asks the server (covered by every round trip there).
#[tokio::test]
async fn computed_checksums_equal_the_servers_mariadb_only() {
    let srv = TestServer::start().await;
    load_sql(&srv, None, Sql::Text(COMPUTED_CHECKSUMS));
    let lb = Lb::new();
    let repo = repo_init(&lb);
    // 1 MiB chunks and 3 workers: `big` (about 8 MiB) is read in several key ranges, whose
    // sums add up across workers.
    let b = backup(&lb, &repo, &srv, &["--threads", "3", "--chunk-mib", "1"]);
    let id = b["id"].as_str().unwrap().to_owned();
    let manifest = read_manifest(&repo, &id);
    let tables: Vec<&Value> = manifest["body"]["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "ck")
        .flat_map(|s| s["tables"].as_array().unwrap())
        .collect();
    let server = checksums(&srv.connect_options(), "ck").await;
    assert_eq!(tables.len(), server.len());
    let by_server = [
        "has_datetime",
        "has_double_md",
        "has_enum",
        "has_generated",
        "myisam",
    ];
    for t in &tables {
        let name = t["name"].as_str().unwrap();
        assert!(t["checksum"].as_u64().is_some(), "{name}: no checksum");
        assert_eq!(
            t["checksum"].as_u64(),
            server[name],
            "{name}: lifeboat's checksum differs from the server's"
        );
        assert_eq!(
            t["checksum_computed"].as_bool().unwrap_or(false),
            !by_server.contains(&name),
            "{name}: computed by the wrong side"
        );
    }
    let big = tables.iter().find(|t| t["name"] == "big").unwrap();
    assert!(big["chunks"].as_array().unwrap().len() >= 3, "{big}");
    // A restore proves itself against them.
    let dst = restore_sandbox(&lb, &repo, &id, "restored", &["--verify"]);
    let all: usize = manifest["body"]["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tables"].as_array().unwrap().len())
        .sum();
    assert_eq!(dst.report["checksums_matched"], all);
    assert_eq!(checksums(&dst.socket(), "ck").await, server);
    // Every table as it was defined, options included.
    assert_eq!(
        definitions(&dst.socket(), "ck").await,
        definitions(&srv.connect_options(), "ck").await
    );

    // A table whose rows cannot be summed (no real value does that, so a debug-build hook
    // says so; `big` is read in several ranges by several workers) falls back to the
    // server's CHECKSUM TABLE in the same snapshot; above `--checksum-max-mib` it gets none.
    for (max, server_sum) in [("1024", server["big"]), ("1", None)] {
        let o = lb
            .cmd(&[
                "backup",
                "--json",
                "--repo",
                &repo,
                "--defaults-file",
                srv.sandbox.defaults_file.to_str().unwrap(),
                "--databases",
                "ck",
                "--threads",
                "3",
                "--chunk-mib",
                "1",
                "--checksum-max-mib",
                max,
            ])
            .env("LIFEBOAT_TEST_UNCOMPUTABLE", "ck.big")
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let id = json(&o)["id"].as_str().unwrap().to_owned();
        let manifest = read_manifest(&repo, &id);
        for t in manifest["body"]["schemas"][0]["tables"].as_array().unwrap() {
            let name = t["name"].as_str().unwrap();
            if name == "big" {
                assert_eq!(t["checksum"].as_u64(), server_sum, "max {max}: {t}");
                assert!(t.get("checksum_computed").is_none(), "max {max}: {t}");
            } else {
                assert_eq!(t["checksum"].as_u64(), server[name], "max {max}: {name}");
            }
        }
        // Either way the restore proves what it can and loads every row.
        let dst = restore_sandbox(&lb, &repo, &id, &format!("fallback-{max}"), &["--verify"]);
        assert_eq!(
            dst.report["checksums_matched"],
            tables.len() - usize::from(server_sum.is_none()),
            "max {max}: {}",
            dst.report
        );
        assert_eq!(checksums(&dst.socket(), "ck").await, server);
    }

    // A server summing NULL columns' bytes the 5.1 way is left to compute its own.
    let mut c = connect(&srv.connect_options()).await;
    c.query_drop("SET GLOBAL old_mode = 'COMPAT_5_1_CHECKSUM'")
        .await
        .unwrap();
    let b = backup(&lb, &repo, &srv, &["--databases", "ck"]);
    let id = b["id"].as_str().unwrap();
    let manifest = read_manifest(&repo, id);
    let old = checksums(&srv.connect_options(), "ck").await;
    assert_ne!(
        old["ints"], server["ints"],
        "the old mode changes NULL rows' sums"
    );
    for t in manifest["body"]["schemas"][0]["tables"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        assert!(t["checksum"].as_u64().is_some(), "{name}: no checksum");
        assert_eq!(t["checksum"].as_u64(), old[name], "{name}");
        assert!(t.get("checksum_computed").is_none(), "{name}");
    }
}
