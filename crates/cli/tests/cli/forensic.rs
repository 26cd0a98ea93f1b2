//! Forensics on files a real MariaDB server wrote: `innodb inspect` reads the format, every
//! record, and the delete-marked rows purge has not removed yet.

use lifeboat_server::sandbox::SandboxOptions;
use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;

use crate::harness::{
    Lb, Shop, Sql, StopOnDrop, backup, checksum_of, checksums, code, compressed, connect, exported,
    fixture, identity, json, load_sql, noise, on_ibd, repo_init, sakila, sakila_80, sandbox_socket,
    socket_args, stderr, undrop, write_image,
};

/// Opens a read view that holds purge back (deleted rows stay on their pages, marked) for as
/// long as the returned connection lives, then runs `delete`.
async fn delete_holding_purge(srv: &TestServer, table: &str, delete: &str) -> mysql_async::Conn {
    let mut reader = srv.conn().await;
    reader
        .query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .unwrap();
    let _: Option<u64> = reader
        .query_first(format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap();
    srv.exec(delete).await;
    reader
}

/// `shop.report`, the table [`delete_holding_purge`]'s read view reads.
const REPORT: &str = "CREATE TABLE shop.report (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO shop.report VALUES (1)";

/// Database `shop` with [`REPORT`].
async fn shop_with_report(srv: &TestServer) {
    Shop::empty().with(REPORT).build(srv).await;
}

/// Keeps the rows of `shop.<t>` with `id % 10 = 0` in `shop.<t>_gone`, deletes them while
/// a read view holds purge back, and exports the file: the kept rows' CHECKSUM TABLE, the
/// read view's connection, the copy and its `SHOW CREATE TABLE`.
async fn delete_tenth(
    srv: &TestServer,
    t: &str,
) -> (
    Option<u64>,
    mysql_async::Conn,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let mut c = srv.conn().await;
    c.query_drop(format!(
        "CREATE TABLE shop.{t}_gone LIKE shop.{t};
         INSERT INTO shop.{t}_gone SELECT * FROM shop.{t} WHERE id % 10 = 0"
    ))
    .await
    .unwrap();
    let gone = checksum_of(&mut c, &format!("shop.{t}_gone")).await;
    let reader = delete_holding_purge(
        srv,
        "shop.report",
        &format!("DELETE FROM shop.{t} WHERE id % 10 = 0"),
    )
    .await;
    let (copy, schema) = exported(srv, "shop", t).await;
    (gone, reader, copy, schema)
}

#[tokio::test]
async fn inspect_sees_rows_and_delete_marked_rows_of_a_mariadb_tablespace_mariadb_only() {
    let srv = TestServer::start().await;
    Shop::empty()
        .with(
            "CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(200), amount DECIMAL(10,2), KEY (amount)) ENGINE=InnoDB;
             INSERT INTO shop.orders SELECT seq, REPEAT(CHAR(65 + seq % 26), 150), seq / 7 FROM shop.seq_1_to_5000;",
        )
        .build(&srv)
        .await;
    let reader = delete_holding_purge(
        &srv,
        "shop.orders",
        "DELETE FROM shop.orders WHERE id % 10 = 3",
    )
    .await;
    let (file, _) = exported(&srv, "shop", "orders").await;
    let lb = Lb::new();
    let o = lb.run(&["innodb", "inspect", "--json", file.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["vendor"], "mariadb", "{r}");
    assert_eq!(r["flags"]["full_crc32"], true, "{r}");
    assert_eq!(r["page_size"], 16384, "{r}");
    assert_eq!(r["invalid_pages"], 0, "{r}");
    assert!(
        r["checksums_valid"]["full_crc32"].as_u64().unwrap() > 10,
        "{r}"
    );
    let indexes = r["indexes"].as_array().unwrap();
    assert_eq!(indexes.len(), 2, "primary key and KEY (amount): {r}");
    for ix in indexes {
        // Every row is still there: 500 of them delete-marked.
        assert_eq!(ix["records"], 5000, "{r}");
        assert_eq!(ix["delete_marked"], 500, "{r}");
    }
    let clustered = &indexes[0];
    assert!(clustered["levels"].as_u64().unwrap() >= 2, "{r}");

    // Damage: a copy with page 0 and two leaf pages overwritten. The page size is still
    // found, the damaged pages are named, and the command exits 1.
    let copy = srv.tmp().join("damaged.ibd");
    let mut bytes = std::fs::read(&file).unwrap();
    for page in [0usize, 5, 9] {
        bytes[page * 16384 + 100..page * 16384 + 300].fill(0xAB);
    }
    std::fs::write(&copy, &bytes).unwrap();
    let o = lb.run(&["innodb", "inspect", "--json", copy.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["page_size"], 16384, "{r}");
    assert_eq!(r["invalid_list"], serde_json::json!([0, 5, 9]), "{r}");
    // A file that is no tablespace: one clear line, a failure exit, no panic.
    let junk = srv.tmp().join("junk.ibd");
    std::fs::write(&junk, vec![0x5Au8; 100_000]).unwrap();
    let o = lb.run(&["innodb", "inspect", junk.to_str().unwrap()]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("not an InnoDB tablespace"),
        "{}",
        stderr(&o)
    );
    drop(reader);
}

#[tokio::test]
async fn undelete_returns_exactly_the_deleted_rows() {
    let srv = TestServer::start().await;
    Shop::empty()
        .with(
            "CREATE TABLE shop.t (
               id INT PRIMARY KEY,
               note VARCHAR(200) CHARACTER SET utf8mb4,
               city CHAR(20) CHARACTER SET latin1,
               code CHAR(5) CHARACTER SET utf8mb4 NOT NULL,
               amount DECIMAL(10,2),
               at DATETIME(6) NOT NULL,
               d DATE,
               kind ENUM('a','b','c'),
               flags SET('x','y','z'),
               big BIGINT UNSIGNED,
               neg INT,
               f DOUBLE,
               body MEDIUMTEXT CHARACTER SET utf8mb4,
               bin VARBINARY(16),
               y YEAR,
               tm TIME(3),
               ts TIMESTAMP NULL,
               b BIT(19),
               g POINT,
               j JSON
             ) ENGINE=InnoDB ROW_FORMAT=DYNAMIC;
             INSERT INTO shop.t SELECT seq,
               IF(seq % 7 = 0, NULL, CONCAT('note ', seq, IF(seq % 5 = 0, ' Zoë 😀 it''s \\\\ back', ''))),
               IF(seq % 11 = 0, NULL, CONCAT('Genève ', seq % 13)),
               CONCAT('c', seq % 100),
               IF(seq % 9 = 0, NULL, seq * 1.25 - 500),
               TIMESTAMP('2024-01-01') + INTERVAL seq * 3607 SECOND + INTERVAL seq MICROSECOND,
               DATE('1999-12-31') + INTERVAL seq DAY,
               ELT(1 + seq % 3, 'a', 'b', 'c'),
               IF(seq % 4 = 0, 'x,z', 'y'),
               18446744073709551615 - seq,
               -seq * 1000,
               seq / 3,
               IF(seq % 100 = 3, REPEAT(CONCAT('long text ', seq, ' 中文 '), 2000), CONCAT('short ', seq)),
               UNHEX(MD5(seq)),
               1990 + seq % 50,
               SEC_TO_TIME(seq * 37) - INTERVAL 100 HOUR,
               IF(seq % 6 = 0, NULL, FROM_UNIXTIME(1700000000 + seq)),
               seq * 7919 % 524288,
               IF(seq % 8 = 0, NULL, POINT(seq, -seq / 7)),
               JSON_OBJECT('k', seq, 's', 'tab\there')
             FROM shop.seq_1_to_3000;
             CREATE TABLE shop.expected LIKE shop.t;
             INSERT INTO shop.expected SELECT * FROM shop.t WHERE id % 10 = 3;",
        )
        .build(&srv)
        .await;
    let reader = delete_holding_purge(&srv, "shop.t", "DELETE FROM shop.t WHERE id % 10 = 3").await;
    let (copy, schema) = exported(&srv, "shop", "t").await;
    drop(reader);
    let mut c = srv.conn().await;
    let out = srv.tmp().join("recovered");

    let lb = Lb::new();
    let o = on_ibd(&lb, "undelete", &copy, Some(&schema), &out);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["rows"], 300, "{r}");
    assert_eq!(r["delete_marked"], 300, "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    assert!(out.join("report.json").exists());

    // Loaded into a fresh database, the rows equal the ones deleted, checksum for checksum.
    c.query_drop("CREATE DATABASE recovered").await.unwrap();
    load_sql(&srv, Some("recovered"), Sql::File(&out.join("t.sql")));
    let sums: Vec<(String, Option<u64>)> = c
        .query("CHECKSUM TABLE shop.expected, recovered.t")
        .await
        .unwrap();
    assert_eq!(sums.len(), 2);
    assert!(sums[0].1.is_some());
    assert_eq!(sums[0].1, sums[1].1, "{sums:?}");
    let n: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM recovered.t")
        .await
        .unwrap();
    assert_eq!(n, Some(300));

    // The same rows as LOAD DATA files, loaded by lifeboat itself into the server.
    let tsv_out = srv.tmp().join("recovered-tsv");
    let mut args: Vec<String> = [
        "undelete",
        "--json",
        "--ibd",
        copy.to_str().unwrap(),
        "--schema",
        schema.to_str().unwrap(),
        "--out",
        tsv_out.to_str().unwrap(),
        "--format",
        "tsv",
        "--load",
    ]
    .map(String::from)
    .to_vec();
    args.extend(socket_args(&srv));
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.extend_from_slice(extra);
        lb.run(&a)
    };
    // Not interactive and the server not named: refused, nothing loaded.
    let o = run(&[]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("--confirm-server"), "{}", stderr(&o));
    let identity = identity(&lb, &srv);
    // Into a database that has the table already: refused, the table untouched.
    let o = run(&["--confirm-server", &identity, "--database", "recovered"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("recovered.t already exists"),
        "{}",
        stderr(&o)
    );
    let n: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM recovered.t")
        .await
        .unwrap();
    assert_eq!(n, Some(300));
    // Into a new database: loaded, equal to the deleted rows.
    let o = run(&["--confirm-server", &identity, "--database", "back_tsv"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["output"]["format"], "tsv", "{r}");
    assert_eq!(r["loaded"]["tables"][0]["table"], "back_tsv.t", "{r}");
    assert_eq!(r["loaded"]["tables"][0]["rows"], 300, "{r}");
    assert!(tsv_out.join("t.tsv").exists() && tsv_out.join("t.load.sql").exists());
    let sums: Vec<(String, Option<u64>)> = c
        .query("CHECKSUM TABLE shop.expected, back_tsv.t")
        .await
        .unwrap();
    assert_eq!(sums[0].1, sums[1].1, "{sums:?}");
    // The journal has the load and the refusals.
    let j = String::from_utf8_lossy(&lb.run(&["journal", "--json"]).stdout).into_owned();
    assert!(j.contains("\"command\":\"load\""), "{j}");
    assert!(j.contains("\"outcome\":\"refused\""), "{j}");

    // Without --schema: the definition comes from the .frm file beside the tablespace
    // (MariaDB) or from the SDI inside it (MySQL), and the SQL file goes in through
    // lifeboat's own loader.
    if !srv.is_mysql() {
        std::fs::copy(
            srv.sandbox.datadir.join("shop/t.frm"),
            copy.with_extension("frm"),
        )
        .unwrap();
    }
    let frm_out = srv.tmp().join("recovered-frm");
    let mut a: Vec<String> = [
        "undelete",
        "--json",
        "--ibd",
        copy.to_str().unwrap(),
        "--out",
        frm_out.to_str().unwrap(),
        "--load",
        "--database",
        "back_frm",
        "--confirm-server",
        &identity,
    ]
    .map(String::from)
    .to_vec();
    a.extend(socket_args(&srv));
    let o = lb.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["rows"], 300, "{r}");
    assert_eq!(r["loaded"]["tables"][0]["rows"], 300, "{r}");
    let sums: Vec<(String, Option<u64>)> = c
        .query("CHECKSUM TABLE shop.expected, back_frm.t")
        .await
        .unwrap();
    assert_eq!(sums[0].1, sums[1].1, "{sums:?}");

    // The load script works with the stock client too.
    c.query_drop("CREATE DATABASE by_script").await.unwrap();
    let o = std::process::Command::new("mariadb")
        .current_dir(&tsv_out)
        .args([
            "--no-defaults",
            "--local-infile=1",
            "--socket",
            srv.sandbox.socket.to_str().unwrap(),
            "-uroot",
            "by_script",
        ])
        .stdin(std::fs::File::open(tsv_out.join("t.load.sql")).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sums: Vec<(String, Option<u64>)> = c
        .query("CHECKSUM TABLE shop.expected, by_script.t")
        .await
        .unwrap();
    assert_eq!(sums[0].1, sums[1].1, "{sums:?}");
}

/// Waits until every dirty page reached the data files and a checkpoint covers them (what
/// hours of normal running do): crash recovery then starts after everything written so far.
async fn flush_all(srv: &TestServer) {
    let mut c = srv.conn().await;
    c.query_drop(
        "SET GLOBAL innodb_max_dirty_pages_pct_lwm = 0.001, GLOBAL innodb_max_dirty_pages_pct = 0",
    )
    .await
    .unwrap();
    let status = async |c: &mut mysql_async::Conn, name: &str| -> Option<u64> {
        c.query_first::<(String, u64), _>(format!("SHOW GLOBAL STATUS LIKE '{name}'"))
            .await
            .unwrap()
            .map(|r| r.1)
    };
    for _ in 0..600 {
        let dirty = status(&mut c, "Innodb_buffer_pool_pages_dirty").await;
        let age = if srv.is_mysql() {
            // MySQL 8.0.30+ shows the LSNs instead of the age.
            let current = status(&mut c, "Innodb_redo_log_current_lsn").await;
            let checkpoint = status(&mut c, "Innodb_redo_log_checkpoint_lsn").await;
            current.zip(checkpoint).map(|(a, b)| a.saturating_sub(b))
        } else {
            status(&mut c, "Innodb_checkpoint_age").await
        };
        // What stays after the checkpoint is its own record (84 bytes on 10.11).
        if dirty == Some(0) && age.is_some_and(|a| a < 1024) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("dirty pages were not flushed and checkpointed within 60 s");
}

/// Sakila's CREATE TABLE statement of `table`.
fn sakila_ddl(table: &str) -> String {
    let sql = std::fs::read_to_string(fixture("sakila-schema.sql")).unwrap();
    let start = sql.find(&format!("CREATE TABLE {table} (")).unwrap();
    let end = start + sql[start..].find(";\n").unwrap();
    sql[start..end].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn undrop_from_the_system_tablespace_with_file_per_table_off() {
    let mut srv = TestServer::start_with(|o| {
        o.server_settings.push("innodb_file_per_table=0".into());
    })
    .await;
    sakila(&srv);
    let tables = ["actor", "film", "payment", "film_actor", "customer"];
    let mut c = srv.conn().await;
    let mut before = Vec::new();
    for t in tables {
        before.push(checksum_of(&mut c, &format!("sakila.{t}")).await);
    }
    // A backup from before the drop: one table's definition comes from it.
    let lb = Lb::new();
    let repo = repo_init(&lb);
    backup(&lb, &repo, &srv, &["--databases", "sakila"]);
    flush_all(&srv).await;
    c.query_drop(format!(
        "SET FOREIGN_KEY_CHECKS = 0; DROP TABLE {}",
        tables.map(|t| format!("sakila.{t}")).join(", ")
    ))
    .await
    .unwrap();
    // The runbook's first step: stop the server at once (here: pull the plug), before purge
    // and new writes reuse the freed pages.
    drop(c);
    srv.sandbox.kill();

    let mut recovered = Vec::new();
    for t in tables {
        let ddl = srv.tmp().join(format!("{t}.ddl"));
        std::fs::write(&ddl, sakila_ddl(t)).unwrap();
        let out = srv.tmp().join(format!("undrop-{t}"));
        let table = format!("sakila.{t}");
        let mut args = vec![
            "undrop",
            "--json",
            "--datadir",
            srv.sandbox.datadir.to_str().unwrap(),
            "--table",
            &table,
            "--out",
            out.to_str().unwrap(),
        ];
        // Definitions three ways: a backup's, the user's CREATE TABLE, and (no option) the
        // one the dictionary records in ibdata1 still give.
        let from_dictionary = !matches!(t, "film" | "payment");
        if t == "film" {
            args.extend(["--schema-from-backup", "latest", "--repo", &repo]);
        } else if t == "payment" {
            args.extend(["--schema", ddl.to_str().unwrap()]);
        }
        // One table goes as LOAD DATA files straight into a new side instance.
        let side_dir = lb.home.path().join("side");
        if t == "payment" {
            args.extend(["--format", "tsv", "--database", "back", "--sandbox"]);
            args.push(side_dir.to_str().unwrap());
        }
        let o = lb.run(&args);
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        if t == "payment" {
            let _stop = StopOnDrop(side_dir.clone());
            let r = json(&o);
            assert_eq!(r["loaded"]["tables"][0]["rows"], r["rows"], "{r}");
            let mut c = connect(&sandbox_socket(&side_dir)).await;
            let got = checksum_of(&mut c, "back.payment").await;
            let want = before[tables.iter().position(|x| *x == t).unwrap()];
            assert_eq!(got, want, "{t}: {r}");
            continue;
        }
        let r = json(&o);
        assert_eq!(r["lost"], 0, "{t}: {r}");
        assert_eq!(r["rows_from_copies"], 0, "{t}: {r}");
        if from_dictionary {
            let d = &r["definition"];
            assert_eq!(d["notes"].as_array().map(Vec::len), Some(0), "{t}: {r}");
            assert!(
                d["create_sql"].as_str().unwrap().contains("PRIMARY KEY"),
                "{t}: {r}"
            );
        } else {
            assert!(r["definition"].is_null(), "{t}: {r}");
        }
        // By the dictionary in the files: the table's entry, still listed when the DROP had
        // not reached them, or its delete-marked records; else (MariaDB clears a purged
        // record's bytes) by how the pages fit the definition.
        let by = r["chosen_by"].as_str().unwrap();
        assert!(
            by.contains("still lists") || by.contains("deleted records") || by.contains("fit"),
            "{t}: {r}"
        );
        recovered.push((out.join(format!("{t}.sql")), r));
    }
    // Loaded into another server, as onto the side instance of a real recovery.
    let side = TestServer::start().await;
    let mut c = side.conn().await;
    c.query_drop("CREATE DATABASE back").await.unwrap();
    for (sql, r) in recovered {
        let t = r["table"]
            .as_str()
            .unwrap()
            .trim_start_matches("sakila.")
            .to_owned();
        let want = before[tables.iter().position(|x| *x == t).unwrap()];
        load_sql(&side, Some("back"), Sql::File(&sql));
        let got = checksum_of(&mut c, &format!("back.{t}")).await;
        assert_eq!(got, want, "{t}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn undrop_from_an_image_holding_the_unlinked_tablespace() {
    let srv = TestServer::start().await;
    Shop::empty()
        .with(
            "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL,
               price DECIMAL(8,2), added DATETIME, doc MEDIUMTEXT CHARACTER SET utf8mb4) ENGINE=InnoDB;
             INSERT INTO shop.items SELECT seq, CONCAT('item ', seq, ' ✓'), seq * 0.99,
               '2020-02-02 10:00:00' + INTERVAL seq MINUTE,
               IF(seq % 500 = 0, REPEAT('blob text ', 3000), NULL) FROM shop.seq_1_to_20000;",
        )
        .build(&srv)
        .await;
    let mut c = srv.conn().await;
    let (_, ddl): (String, String) = c
        .query_first("SHOW CREATE TABLE shop.items")
        .await
        .unwrap()
        .unwrap();
    let want = checksum_of(&mut c, "shop.items").await;
    flush_all(&srv).await;
    // The blocks of the file as a disk would keep them after the unlink: inside an image,
    // at an offset that is no multiple of the page size, with other data around.
    let ibd = std::fs::read(srv.sandbox.datadir.join("shop/items.ibd")).unwrap();
    c.query_drop("DROP TABLE shop.items").await.unwrap();
    let img = srv.tmp().join("disk.img");
    // No alignment at all: a page's BLOB pages are found anywhere too.
    write_image(&img, 3_000_000, 1_000_451, &ibd);
    let schema = srv.tmp().join("items.ddl");
    std::fs::write(&schema, &ddl).unwrap();
    let out = srv.tmp().join("undrop");
    let lb = Lb::new();
    let schema = schema.to_str().unwrap();
    let r = undrop(
        &lb,
        ("--image", &img),
        "shop.items",
        &["--schema", schema],
        &out,
    );
    assert_eq!(r["rows"], 20000, "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    c.query_drop("CREATE DATABASE back").await.unwrap();
    load_sql(&srv, Some("back"), Sql::File(&out.join("items.sql")));
    let got = checksum_of(&mut c, "back.items").await;
    assert_eq!(got, want, "{r}");
}

#[tokio::test]
async fn salvage_takes_every_row_of_the_intact_pages_and_names_the_lost_ones() {
    let srv = TestServer::start().await;
    Shop::empty()
        .with(
            "CREATE TABLE shop.t (id INT PRIMARY KEY, note VARCHAR(200) CHARACTER SET utf8mb4, n BIGINT) ENGINE=InnoDB;
             INSERT INTO shop.t SELECT seq, CONCAT('row ', seq, ' ', REPEAT('x', seq % 150)), seq * seq FROM shop.seq_1_to_8000;",
        )
        .build(&srv)
        .await;
    let (good, schema) = exported(&srv, "shop", "t").await;
    let intact = std::fs::read(&good).unwrap();
    let mut c = srv.conn().await;
    let lb = Lb::new();
    let run = |file: &std::path::Path, out: &str| {
        on_ibd(&lb, "salvage", file, Some(&schema), &srv.tmp().join(out))
    };
    // The intact file: every row, nothing damaged.
    let o = run(&good, "good");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["rows"], 8000, "{r}");
    assert_eq!(r["damaged"].as_array().unwrap().len(), 0, "{r}");
    // Two leaf pages overwritten in the middle of their records, one header clobbered.
    let mut bytes = intact.clone();
    let pages: Vec<usize> = (3..bytes.len() / 16384)
        .filter(|&n| {
            let p = &bytes[n * 16384..(n + 1) * 16384];
            u16::from_be_bytes([p[24], p[25]]) == 17855 && u16::from_be_bytes([p[64], p[65]]) == 0
        })
        .collect();
    assert!(pages.len() > 10, "{pages:?}");
    let (a, b) = (pages[2], pages[5]);
    bytes[a * 16384 + 2000..a * 16384 + 6000].fill(0);
    bytes[b * 16384..b * 16384 + 200].fill(0xEE);
    let bad = srv.tmp().join("bad.ibd");
    std::fs::write(&bad, &bytes).unwrap();
    let o = run(&bad, "bad");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    let damaged: Vec<u64> = r["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["lost"] == true)
        .map(|p| p["page"].as_u64().unwrap())
        .collect();
    assert_eq!(damaged, vec![a as u64, b as u64], "{r}");
    // Every row of the other pages: the intact total less what the two pages held (their
    // record counts, read from the intact copy's page headers).
    let n_recs = |n: usize| {
        u64::from(u16::from_be_bytes([
            intact[n * 16384 + 54],
            intact[n * 16384 + 55],
        ]))
    };
    let rows = r["rows"].as_u64().unwrap();
    assert_eq!(rows, 8000 - n_recs(a) - n_recs(b), "{r}");
    // What was recovered is exactly the source's rows (loaded, they match it row for row).
    c.query_drop("CREATE DATABASE back").await.unwrap();
    load_sql(&srv, Some("back"), Sql::File(&srv.tmp().join("bad/t.sql")));
    let same: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM back.t b JOIN shop.t s USING (id) WHERE b.note <=> s.note AND b.n <=> s.n")
        .await
        .unwrap();
    assert_eq!(same, Some(rows));
}

/// `undrop` of `shop.people` from `srv`'s datadir into `out`, with no definition given.
fn undrop_people(srv: &TestServer, lb: &Lb, out: &std::path::Path) -> serde_json::Value {
    undrop(
        lb,
        ("--datadir", &srv.sandbox.datadir),
        "shop.people",
        &[],
        out,
    )
}

/// `shop.people` as the tests that drop and create it again define it.
const PEOPLE: &str = "CREATE TABLE shop.people (id INT PRIMARY KEY, name VARCHAR(60) CHARACTER SET utf8mb4 NOT NULL, born DATE) ENGINE=InnoDB";

/// A server with file_per_table=OFF and `shop.people` holding 3,000 old rows, and their
/// CHECKSUM TABLE.
async fn old_people() -> (TestServer, Option<u64>) {
    old_people_with(&[]).await
}

/// [`old_people`] on a server with more `settings`.
async fn old_people_with(settings: &[&str]) -> (TestServer, Option<u64>) {
    let srv = TestServer::start_with(|o| {
        o.server_settings.push("innodb_file_per_table=0".into());
        o.server_settings
            .extend(settings.iter().map(ToString::to_string));
    })
    .await;
    Shop::empty()
        .with(format!(
            "{PEOPLE};
             INSERT INTO shop.people SELECT seq, CONCAT('old person ', seq), '1950-01-01' + INTERVAL seq DAY FROM shop.seq_1_to_3000;"
        ))
        .build(&srv)
        .await;
    let want = checksum_of(&mut srv.conn().await, "shop.people").await;
    (srv, want)
}

/// Other page sizes than 16 KiB (the server's whole datadir at 4 and 64 KiB): DROP TABLE,
/// then `undrop --datadir` without a definition finds the dictionary's deleted records and
/// the pages at their size; every row back, CHECKSUM TABLE equal.
#[tokio::test(flavor = "multi_thread")]
async fn undrop_reads_datadirs_of_other_page_sizes() {
    for size in ["4k", "64k"] {
        let page_size = format!("innodb_page_size={size}");
        let (srv, want) = old_people_with(&[&page_size]).await;
        let mut c = srv.conn().await;
        let got: Option<u64> = c.query_first("SELECT @@innodb_page_size").await.unwrap();
        assert_eq!(got, Some(if size == "4k" { 4096 } else { 65536 }));
        flush_all(&srv).await;
        c.query_drop("DROP TABLE shop.people").await.unwrap();
        let out = srv.tmp().join("undrop");
        let r = undrop_people(&srv, &Lb::new(), &out);
        assert_eq!(r["rows"], 3000, "{size}: {r}");
        c.query_drop("CREATE DATABASE back").await.unwrap();
        load_sql(&srv, Some("back"), Sql::File(&out.join("people.sql")));
        assert_eq!(
            checksum_of(&mut c, "back.people").await,
            want,
            "{size}: {r}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn undrop_after_drop_and_create_again_recovers_the_old_rows() {
    let (srv, want) = old_people().await;
    let ddl = PEOPLE;
    let mut c = srv.conn().await;
    flush_all(&srv).await;
    // The classic: dropped, and at once created again under the same name by a script;
    // purge has not reached the dictionary's delete-marked records yet (a long report query
    // holds it back).
    srv.exec(REPORT).await;
    let reader = delete_holding_purge(
        &srv,
        "shop.report",
        &format!(
            "DROP TABLE shop.people; {ddl};
             INSERT INTO shop.people SELECT seq, CONCAT('new person ', seq), NULL FROM shop.seq_1_to_50;"
        ),
    )
    .await;
    flush_all(&srv).await;
    let schema = srv.tmp().join("people.ddl");
    std::fs::write(&schema, ddl).unwrap();
    let out = srv.tmp().join("undrop");
    let lb = Lb::new();
    // No definition given: the dropped table's own column records give it.
    let r = undrop_people(&srv, &lb, &out);
    // The CREATE overwrote the name's SYS_TABLES record; the old table id's column and
    // index records are still there, delete-marked.
    assert_eq!(r["definition"]["dropped"], true, "{r}");
    assert_eq!(
        r["definition"]["notes"].as_array().map(Vec::len),
        Some(0),
        "{r}"
    );
    // The new table's pages come from the freed ones: a page or two of the old rows may be
    // overwritten by then (as on a real server); the rest comes back.
    let rows = r["rows"].as_u64().unwrap();
    assert!((2600..=3000).contains(&rows), "{r}");
    let by = r["chosen_by"].as_str().unwrap();
    eprintln!("index {} chosen by {by}", r["chosen"]["index_id"]);
    assert!(by.contains("deleted records"), "{r}");
    // --grep picks the index whose pages hold a value known to be in the lost table.
    let out2 = srv.tmp().join("undrop-grep");
    let g = undrop(
        &lb,
        ("--datadir", &srv.sandbox.datadir),
        "other.name",
        &[
            "--schema",
            schema.to_str().unwrap(),
            "--grep",
            "old person 1234",
        ],
        &out2,
    );
    assert_eq!(g["chosen"]["index_id"], r["chosen"]["index_id"], "{g}");
    assert_eq!(g["rows"], rows, "{g}");
    // Loaded only now: loading writes to the same system tablespace and reuses the freed
    // pages the recovery reads. Every row recovered is an old row, exactly as written.
    drop(reader);
    c.query_drop("CREATE DATABASE back").await.unwrap();
    load_sql(&srv, Some("back"), Sql::File(&out.join("people.sql")));
    let exact: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM back.people WHERE name = CONCAT('old person ', id) AND born = '1950-01-01' + INTERVAL id DAY")
        .await
        .unwrap();
    assert_eq!(exact, Some(rows), "{r}");
    if rows == 3000 {
        let got = checksum_of(&mut c, "back.people").await;
        assert_eq!(got, want, "{r}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn undrop_after_drop_and_create_with_another_definition() {
    let srv = TestServer::start_with(|o| {
        o.server_settings.push("innodb_file_per_table=0".into());
    })
    .await;
    Shop::empty()
        .with(
            "CREATE TABLE shop.people (id INT PRIMARY KEY, name VARCHAR(60) CHARACTER SET utf8mb4 NOT NULL,
               born DATE, score SMALLINT) ENGINE=InnoDB;
             INSERT INTO shop.people SELECT seq, CONCAT('old person ', seq), '1950-01-01' + INTERVAL seq DAY,
               seq % 1000 FROM shop.seq_1_to_3000;",
        )
        .with(REPORT)
        .build(&srv)
        .await;
    flush_all(&srv).await;
    // Created again at once with wider, reordered and new columns.
    let reader = delete_holding_purge(
        &srv,
        "shop.report",
        "DROP TABLE shop.people;
         CREATE TABLE shop.people (id BIGINT PRIMARY KEY, email VARCHAR(100), name VARCHAR(200) NOT NULL,
           born DATE) ENGINE=InnoDB;
         INSERT INTO shop.people SELECT seq, CONCAT('p', seq, '@x'), CONCAT('new person ', seq), NULL
           FROM shop.seq_1_to_50;",
    )
    .await;
    flush_all(&srv).await;
    let out = srv.tmp().join("undrop");
    let r = undrop_people(&srv, &Lb::new(), &out);
    // The old table id's own columns, not the name's new ones, fit and decode the pages.
    // MariaDB: the CREATE overwrote the name's SYS_TABLES record, so the index is named by
    // the DROP's undo records, else by the column names' match. MySQL keys mysql.tables by
    // id: the old table's row is there, delete-marked, under the name.
    let by = r["chosen_by"].as_str().unwrap();
    if srv.is_mysql() {
        assert!(by.contains("deleted records of shop/people"), "{r}");
    } else {
        assert!(
            by.contains("undo log") || by.contains("another definition"),
            "{r}"
        );
    }
    assert_eq!(r["definition"]["dropped"], true, "{r}");
    let sql = r["definition"]["create_sql"].as_str().unwrap();
    assert!(sql.contains("`score` smallint"), "{sql}");
    assert!(!sql.contains("email"), "{sql}");
    let rows = r["rows"].as_u64().unwrap();
    assert!((2600..=3000).contains(&rows), "{r}");
    drop(reader);
    let mut c = srv.conn().await;
    c.query_drop("CREATE DATABASE back").await.unwrap();
    load_sql(&srv, Some("back"), Sql::File(&out.join("people.sql")));
    let exact: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM back.people WHERE name = CONCAT('old person ', id) AND born = '1950-01-01' + INTERVAL id DAY AND score = id % 1000")
        .await
        .unwrap();
    assert_eq!(exact, Some(rows), "{r}");
}

#[tokio::test]
async fn salvage_reads_a_mysql_8_file_with_the_definition_from_its_sdi() {
    let srv = TestServer::start().await;
    let lb = Lb::new();
    let mut c = srv.conn().await;
    c.query_drop("CREATE DATABASE back").await.unwrap();
    for (table, rows) in [("film", 1000u64), ("actor", 200), ("customer", 599)] {
        let ibd = sakila_80(table);
        let out = srv.tmp().join(format!("salvage-{table}"));
        let o = on_ibd(&lb, "salvage", &ibd, None, &out);
        assert_eq!(code(&o), 0, "{table}: {}", stderr(&o));
        let r = json(&o);
        assert_eq!(r["rows"], rows, "{table}: {r}");
        // The SQL, definition included, loads into MariaDB.
        load_sql(
            &srv,
            Some("back"),
            Sql::File(&out.join(format!("{table}.sql"))),
        );
        let n: Option<u64> = c
            .query_first(format!("SELECT COUNT(*) FROM back.{table}"))
            .await
            .unwrap();
        assert_eq!(n, Some(rows), "{table}");
    }
    let title: Option<String> = c
        .query_first("SELECT title FROM back.film WHERE film_id = 1")
        .await
        .unwrap();
    assert_eq!(title.as_deref(), Some("ACADEMY DINOSAUR"));
    // A 5.7 file has no SDI: one clear line naming the way out.
    let ibd57 = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../innodb/tests/data/innodb_ruby-sakila/5.7/actor.ibd");
    let o = lb.run(&[
        "salvage",
        "--ibd",
        ibd57.to_str().unwrap(),
        "--out",
        srv.tmp().join("x").to_str().unwrap(),
    ]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("no actor.frm beside it") && stderr(&o).contains("--schema DDL_FILE"),
        "{}",
        stderr(&o)
    );
}

/// Every file under `dir` with its bytes hashed: proof that a command left it untouched.
fn tree_digest(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, u64> {
    use std::hash::{Hash, Hasher};
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&p).unwrap().hash(&mut h);
                out.insert(p, h.finish());
            }
        }
    }
    out
}

/// `lifeboat rescue --datadir DATADIR --out OUT --sandbox <home>/side --json EXTRA...`: its
/// output, the side instance's directory, and a guard that stops that instance.
fn rescue_into_sandbox(
    lb: &Lb,
    datadir: &std::path::Path,
    out: &std::path::Path,
    extra: &[&str],
) -> (std::process::Output, std::path::PathBuf, StopOnDrop) {
    let side_dir = lb.home.path().join("side");
    let mut args = vec![
        "rescue",
        "--datadir",
        datadir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--sandbox",
        side_dir.to_str().unwrap(),
        "--json",
    ];
    args.extend(extra);
    let r = lb.run(&args);
    (r, side_dir.clone(), StopOnDrop(side_dir))
}

#[tokio::test(flavor = "multi_thread")]
async fn rescue_recovers_every_intact_table_from_a_datadir_that_will_not_start() {
    // Dirty pages stay in memory: the redo log is what holds the last changes when the
    // server dies, so a damaged page that recovery must apply redo to stops the start.
    let mut srv = TestServer::start_with(|o| {
        o.server_settings
            .push("innodb_max_dirty_pages_pct=99".into());
        o.server_settings
            .push("innodb_max_dirty_pages_pct_lwm=0".into());
        o.server_settings
            .push("innodb_adaptive_flushing_lwm=0".into());
    })
    .await;
    Shop::empty()
        .with(
            r#"CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(100) CHARACTER SET utf8mb4, since DATE, score FLOAT, note TEXT) ENGINE=InnoDB;
             INSERT INTO shop.customers SELECT seq, CONCAT('customer ', seq, IF(seq % 7 = 0, ' 😀', ''), IF(seq % 11 = 0, ' \\ ''q''', '')), '2020-01-01' + INTERVAL seq DAY, seq / 3, IF(seq % 5 = 0, NULL, REPEAT('n', seq % 300)) FROM shop.seq_1_to_3000;
             CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, customer INT, amount DECIMAL(10,2), placed DATETIME(3), blob_col BLOB, KEY (customer)) ENGINE=InnoDB;
             INSERT INTO shop.orders SELECT seq, seq % 3000 + 1, seq / 7, '2024-05-01 10:00:00' + INTERVAL seq SECOND, UNHEX(SHA2(seq, 256)) FROM shop.seq_1_to_20000;
             CREATE TABLE shop.ledger (id INT PRIMARY KEY, v INT, pad CHAR(200)) ENGINE=InnoDB;
             INSERT INTO shop.ledger SELECT seq, seq, REPEAT('x', 200) FROM shop.seq_1_to_20000;"#,
        )
        .build(&srv)
        .await;
    let want = checksums(&srv.connect_options(), "shop").await;
    // Everything so far on disk and checkpointed, so recovery must read the pages the last
    // change touched, not rebuild them from the log.
    flush_all(&srv).await;
    let mut c = srv.conn().await;
    c.query_drop(
        "SET GLOBAL innodb_max_dirty_pages_pct = 99, GLOBAL innodb_max_dirty_pages_pct_lwm = 0",
    )
    .await
    .unwrap();
    // The last committed change touches every page of `ledger`; the server dies before
    // writing any of them back.
    c.query_drop("UPDATE shop.ledger SET v = v + 1")
        .await
        .unwrap();
    srv.sandbox.kill();
    let datadir = srv.sandbox.datadir.clone();
    let ibd = datadir.join("shop/ledger.ibd");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&ibd).unwrap();
        // Garbage in the middle of two leaf pages.
        for page in [5u64, 9] {
            f.seek(SeekFrom::Start(page * 16384 + 3000)).unwrap();
            f.write_all(&[0xa5; 4000]).unwrap();
        }
    }
    let before = tree_digest(&datadir);

    let out = srv.tmp().join("rescue");
    let lb = Lb::new();
    // As LOAD DATA files, loaded at once into a new side instance.
    let (r, side_dir, _stop) = rescue_into_sandbox(&lb, &datadir, &out, &["--format", "tsv"]);
    let report = json(&r);
    assert!(
        stderr(&r).contains("First response"),
        "advice first: {}",
        stderr(&r)
    );
    // The original files were never written.
    assert_eq!(tree_digest(&datadir), before, "the datadir changed");
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["force_recovery"], 0);
    // MySQL at level 0 dumps the corrupt page and waits: given up on when its log goes
    // quiet, not after the whole start timeout (300 s).
    assert!(
        attempts[0]["seconds"].as_f64().unwrap() < 120.0,
        "{report:#}"
    );
    assert_eq!(
        attempts[0]["started"], false,
        "the damaged datadir started without forcing: {report:#}"
    );
    let level = report["started_with"]
        .as_u64()
        .unwrap_or_else(|| panic!("started at no level: {report:#}"));
    assert!(level >= 1, "{report:#}");

    // The intact tables came through the side instance and equal the originals.
    let tables = report["tables"].as_array().unwrap();
    let entry = |name: &str| {
        tables
            .iter()
            .find(|t| t["table"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {report:#}"))
            .clone()
    };
    for name in ["customers", "orders"] {
        let t = entry(name);
        assert_eq!(t["origin"], "server", "{t:#}");
        assert!(t["file"].as_str().unwrap().ends_with(".tsv"), "{t:#}");
    }
    let loaded = report["loaded"]["tables"].as_array().unwrap();
    assert_eq!(loaded.len(), 3, "{report:#}");
    let got = checksums(&sandbox_socket(&side_dir), "shop").await;
    assert_eq!(got.get("customers"), want.get("customers"));
    assert_eq!(got.get("orders"), want.get("orders"));

    // The damaged table is accounted for: read through the server or salvaged, never
    // silently short.
    let ledger = entry("ledger");
    match ledger["origin"].as_str().unwrap() {
        "server" => assert_eq!(ledger["rows"], 20000, "{ledger:#}"),
        "pages" => {
            assert!(ledger["pages_lost"].as_u64().unwrap() >= 1, "{ledger:#}");
            let rows = ledger["rows"].as_u64().unwrap();
            assert!((19_000..20_000).contains(&rows), "{ledger:#}");
            assert_eq!(code(&r), 1, "lost pages must fail the command");
        }
        other => panic!("ledger {other}: {ledger:#}"),
    }
    assert!(out.join("report.json").is_file());
}

/// A page_compressed table with BLOBs stored off the page, filled on `srv`.
async fn compressed_table(srv: &TestServer, table: &str, options: &str) {
    srv.exec(&format!(
        "CREATE TABLE shop.{table} (id INT PRIMARY KEY, note VARCHAR(200) CHARACTER SET utf8mb4, \
           body MEDIUMBLOB, at DATETIME(3)) ENGINE=InnoDB PAGE_COMPRESSED=1 {options};
         INSERT INTO shop.{table} SELECT seq, CONCAT('row ', seq, ' ', REPEAT('é', seq % 60)), \
           IF(seq % 50 = 0, REPEAT(UNHEX(SHA2(seq, 256)), 400), NULL), \
           '2024-01-01' + INTERVAL seq SECOND FROM shop.seq_1_to_6000;"
    ))
    .await;
}

/// Salvages `table`'s exported copy and loads the rows into `side`: their CHECKSUM TABLE
/// must be the original's. Returns the inspect report.
async fn salvage_equals(srv: &TestServer, side: &TestServer, table: &str) -> serde_json::Value {
    let mut c = srv.conn().await;
    let want = checksum_of(&mut c, &format!("shop.{table}")).await;
    let (copy, schema) = exported(srv, "shop", table).await;
    let lb = Lb::new();
    let o = lb.run(&["innodb", "inspect", "--json", copy.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{table}: {}", stderr(&o));
    let report = json(&o);
    let out = srv.tmp().join(format!("salvaged-{table}"));
    let o = on_ibd(&lb, "salvage", &copy, Some(&schema), &out);
    assert_eq!(code(&o), 0, "{table}: {}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["rows"], 6000, "{table}: {r}");
    load_sql(
        side,
        Some("back"),
        Sql::File(&out.join(format!("{table}.sql"))),
    );
    let mut s = side.conn().await;
    let got = checksum_of(&mut s, &format!("back.{table}")).await;
    assert_eq!(got, want, "{table}: {r}");
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn page_compressed_tablespaces_decode_with_zlib_and_lz4_in_both_layouts_mariadb_only() {
    // full_crc32 (the default): zlib, and lz4 through its provider plugin.
    let srv = TestServer::start_with(|o| {
        o.server_settings
            .push("plugin_load_add=provider_lz4".into());
    })
    .await;
    Shop::empty().build(&srv).await;
    compressed_table(&srv, "pz", "").await;
    srv.exec("SET GLOBAL innodb_compression_algorithm = lz4")
        .await;
    compressed_table(&srv, "p4", "").await;
    // The older layout (a checksum format before full_crc32).
    let old = TestServer::start_with(|o| {
        o.server_settings
            .push("innodb_checksum_algorithm=crc32".into());
    })
    .await;
    Shop::empty().build(&old).await;
    compressed_table(&old, "po", "").await;

    let side = TestServer::start().await;
    side.exec("CREATE DATABASE back").await;
    for (server, table, algorithm) in [(&srv, "pz", 1), (&srv, "p4", 2), (&old, "po", 0)] {
        let r = salvage_equals(server, &side, table).await;
        assert_eq!(r["flags"]["page_compressed"], algorithm, "{table}: {r}");
        assert!(r["compressed_pages"].as_u64().unwrap() > 10, "{table}: {r}");
        assert!(r.get("unexpanded_pages").is_none(), "{table}: {r}");
        assert_eq!(r["invalid_pages"], 0, "{table}: {r}");
        let records: u64 = r["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["records"].as_u64().unwrap())
            .max()
            .unwrap();
        assert_eq!(records, 6000, "{table}: {r}");
    }
}

/// Table `shop.<table>`'s exported copy salvaged without --schema: the output directory
/// and the `--json` report. The definition comes from the .frm put beside it (MariaDB) or
/// from the SDI in the file (MySQL 8+, which has no .frm).
async fn salvaged_with_frm(
    srv: &TestServer,
    lb: &Lb,
    table: &str,
) -> (std::path::PathBuf, serde_json::Value) {
    let (copy, _) = exported(srv, "shop", table).await;
    if !srv.is_mysql() {
        std::fs::copy(
            srv.sandbox.datadir.join(format!("shop/{table}.frm")),
            copy.with_extension("frm"),
        )
        .unwrap();
    }
    let out = srv.tmp().join(format!("salvaged-{table}"));
    let o = on_ibd(lb, "salvage", &copy, None, &out);
    assert_eq!(code(&o), 0, "{table}: {}", stderr(&o));
    (out, json(&o))
}

#[tokio::test(flavor = "multi_thread")]
async fn redundant_row_format_tables_salvage_with_the_definition_from_their_frm_mariadb_only() {
    let srv = TestServer::start().await;
    Shop::empty()
        .with(
            "CREATE TABLE shop.old (
               id INT NOT NULL, part CHAR(3) CHARACTER SET utf8mb4 NOT NULL,
               note VARCHAR(100) CHARACTER SET utf8mb4, fixed CHAR(10) CHARACTER SET latin1,
               n BIGINT UNSIGNED, amount DECIMAL(12,4), at DATETIME(6), d DATE,
               body MEDIUMBLOB, kind ENUM('x','y'), f DOUBLE,
               PRIMARY KEY (id, part)
             ) ENGINE=InnoDB ROW_FORMAT=REDUNDANT;
             INSERT INTO shop.old SELECT seq, ELT(1 + seq % 3, 'a', 'ü', '😀'),
               IF(seq % 4 = 0, NULL, CONCAT('note ', seq, ' ', REPEAT('ß', seq % 40))),
               IF(seq % 5 = 0, NULL, CONCAT('f', seq % 1000)),
               IF(seq % 6 = 0, NULL, 18446744073709551615 - seq),
               IF(seq % 7 = 0, NULL, seq * 3.1416),
               IF(seq % 8 = 0, NULL, '2023-06-01 12:00:00' + INTERVAL seq * 13 SECOND + INTERVAL seq MICROSECOND),
               '2000-01-01' + INTERVAL seq DAY,
               IF(seq % 40 = 0, REPEAT(UNHEX(SHA2(seq, 256)), 100), IF(seq % 9 = 0, NULL, UNHEX(MD5(seq)))),
               IF(seq % 2 = 0, 'x', 'y'), seq / 7
             FROM shop.seq_1_to_5000;",
        )
        .build(&srv)
        .await;
    let mut c = srv.conn().await;
    let want = checksum_of(&mut c, "shop.old").await;
    let (out, r) = salvaged_with_frm(&srv, &Lb::new(), "old").await;
    assert_eq!(r["rows"], 5000, "{r}");
    let sql = std::fs::read_to_string(out.join("old.sql")).unwrap();
    assert!(sql.contains("ROW_FORMAT=REDUNDANT"), "{}", &sql[..600]);
    c.query_drop("CREATE DATABASE back").await.unwrap();
    load_sql(&srv, Some("back"), Sql::File(&out.join("old.sql")));
    let got = checksum_of(&mut c, "back.old").await;
    assert_eq!(got, want, "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_changed_by_instant_add_and_drop_column_decode_mariadb_only() {
    let srv = TestServer::start().await;
    shop_with_report(&srv).await;
    // Rows from before and after each change; some updated since (rewritten in the newest
    // form), some with text stored off the page.
    for t in ["added", "dropped"] {
        srv.exec(&format!(
            "CREATE TABLE shop.{t} (id INT PRIMARY KEY, a VARCHAR(200) CHARACTER SET utf8mb4,
               b INT NOT NULL, note MEDIUMTEXT, e CHAR(3) NOT NULL) ENGINE=InnoDB;
             INSERT INTO shop.{t} SELECT seq, CONCAT('row ', seq, ' é'), seq * 2,
               IF(seq % 700 = 0, REPEAT('long text ', 2000), NULL), 'e' FROM shop.seq_1_to_3000;
             ALTER TABLE shop.{t} ADD COLUMN c INT NOT NULL DEFAULT 77,
               ADD COLUMN d VARCHAR(10) DEFAULT 'dflt', ALGORITHM=INSTANT;
             INSERT INTO shop.{t} SELECT seq, CONCAT('new ', seq), seq, NULL, 'n', seq % 5,
               IF(seq % 2 = 0, NULL, 'dd') FROM shop.seq_3001_to_4000;
             UPDATE shop.{t} SET a = CONCAT(a, '!') WHERE id <= 100;"
        ))
        .await;
    }
    // MariaDB 10.4+: a column dropped and one added in the middle, both instantly.
    srv.exec(
        "ALTER TABLE shop.dropped DROP COLUMN b, ALGORITHM=INSTANT;
         ALTER TABLE shop.dropped ADD COLUMN f INT DEFAULT 5 AFTER id, ALGORITHM=INSTANT;
         INSERT INTO shop.dropped (id, f, a, note, e, c, d)
           SELECT seq, seq, 'newest', NULL, 'z', 1, 'x' FROM shop.seq_4001_to_5000;",
    )
    .await;
    let side = TestServer::start().await;
    side.exec("CREATE DATABASE salvaged; CREATE DATABASE undeleted")
        .await;
    let mut c = srv.conn().await;
    let mut s = side.conn().await;
    let lb = Lb::new();
    for (t, rows) in [("added", 4000), ("dropped", 5000)] {
        let want = checksum_of(&mut c, &format!("shop.{t}")).await;
        // Every row, the definition from the .frm beside the file.
        let (out, r) = salvaged_with_frm(&srv, &lb, t).await;
        assert_eq!(r["rows"], rows, "{t}: {r}");
        load_sql(
            &side,
            Some("salvaged"),
            Sql::File(&out.join(format!("{t}.sql"))),
        );
        let got = checksum_of(&mut s, &format!("salvaged.{t}")).await;
        assert_eq!(got, want, "{t}: {r}");

        // The deleted rows, old and new forms mixed; the metadata record is not one.
        let (want, reader, copy, schema) = delete_tenth(&srv, t).await;
        drop(reader);
        let out = srv.tmp().join(format!("undeleted-{t}"));
        let o = on_ibd(&lb, "undelete", &copy, Some(&schema), &out);
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        let r = json(&o);
        assert_eq!(r["rows"], rows / 10, "{t}: {r}");
        assert_eq!(r["lost"], 0, "{t}: {r}");
        load_sql(
            &side,
            Some("undeleted"),
            Sql::File(&out.join(format!("{t}.sql"))),
        );
        let got = checksum_of(&mut s, &format!("undeleted.{t}")).await;
        assert_eq!(got, want, "{t}: {r}");
    }
}

/// Waits until purge has caught up (MariaDB 10.5+: the history is purged).
async fn purged(srv: &TestServer) {
    if !srv.is_mysql() {
        srv.exec("SET GLOBAL innodb_max_purge_lag_wait = 0").await;
        return;
    }
    // MySQL has no such wait, and its history list keeps a few entries (5 on an idle 9.7):
    // done when the list is that short and stays so.
    let mut c = srv.conn().await;
    let mut steady = 0;
    for _ in 0..600 {
        let len: Option<u64> = c
            .query_first("SELECT `COUNT` FROM information_schema.INNODB_METRICS WHERE NAME = 'trx_rseg_history_len'")
            .await
            .unwrap();
        steady = if len.is_some_and(|n| n <= 16) {
            steady + 1
        } else {
            0
        };
        if steady == 5 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("purge did not finish in 60 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn row_format_compressed_tables_salvage_and_undelete() {
    let srv = TestServer::start_with(compressed).await;
    shop_with_report(&srv).await;
    // 8 KiB and 4 KiB compressed pages; rows inserted since a page was last compressed
    // live in its modification log, some updated in place, some text off the page.
    for (t, kbs) in [("z8", 8), ("z4", 4)] {
        srv.exec(&format!(
            "CREATE TABLE shop.{t} (id INT PRIMARY KEY, name VARCHAR(60) CHARACTER SET utf8mb4,
               qty INT NOT NULL, price DECIMAL(10,2), at DATETIME(3), body MEDIUMBLOB,
               KEY (name)) ENGINE=InnoDB ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE={kbs};
             INSERT INTO shop.{t} SELECT seq, IF(seq % 9 = 0, NULL, CONCAT('name ', seq, ' ', REPEAT('ü', seq % 20))),
               seq * 3, seq / 7, '2024-01-01' + INTERVAL seq SECOND,
               IF(seq % 300 = 0, REPEAT(UNHEX(SHA2(seq, 256)), 500), NULL) FROM shop.seq_1_to_4000;
             UPDATE shop.{t} SET qty = qty + 1, name = CONCAT(name, '!') WHERE id % 7 = 0;"
        ))
        .await;
    }
    let side = TestServer::start_with(compressed).await;
    side.exec("CREATE DATABASE salvaged; CREATE DATABASE undeleted; CREATE DATABASE purged")
        .await;
    let mut c = srv.conn().await;
    let mut s = side.conn().await;
    let lb = Lb::new();
    for (t, kbs) in [("z8", 8192), ("z4", 4096)] {
        let want = checksum_of(&mut c, &format!("shop.{t}")).await;
        let (copy, _) = exported(&srv, "shop", t).await;
        let o = lb.run(&["innodb", "inspect", "--json", copy.to_str().unwrap()]);
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        let r = json(&o);
        assert_eq!(r["flags"]["zip_size"], kbs, "{t}: {r}");
        assert_eq!(r["page_size"], kbs, "{t}: {r}");
        assert_eq!(r["invalid_pages"], 0, "{t}: {r}");
        assert!(r.get("unexpanded_pages").is_none(), "{t}: {r}");
        assert!(r["compressed_pages"].as_u64().unwrap() > 10, "{t}: {r}");
        let mut counts: Vec<u64> = r["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["records"].as_u64().unwrap())
            .collect();
        counts.sort();
        assert_eq!(counts, [4000, 4000], "{t}: both indexes, every record: {r}");

        // Every row, the definition from the .frm.
        let (out, r) = salvaged_with_frm(&srv, &lb, t).await;
        assert_eq!(r["rows"], 4000, "{t}: {r}");
        load_sql(
            &side,
            Some("salvaged"),
            Sql::File(&out.join(format!("{t}.sql"))),
        );
        let got = checksum_of(&mut s, &format!("salvaged.{t}")).await;
        assert_eq!(got, want, "{t}: {r}");

        // Deleted while purge is held back: delete-marked, exactly the deleted rows.
        let (gone, reader, copy, schema) = delete_tenth(&srv, t).await;
        let undelete = |copy: &std::path::Path, out: &std::path::Path| {
            let o = on_ibd(&lb, "undelete", copy, Some(&schema), out);
            assert!(code(&o) <= 1, "{t}: {}", stderr(&o));
            json(&o)
        };
        let out = srv.tmp().join(format!("undeleted-{t}"));
        let r = undelete(&copy, &out);
        assert_eq!(r["rows"], 400, "{t}: {r}");
        assert_eq!(r["delete_marked"], 400, "{t}: {r}");
        assert_eq!(r["lost"], 0, "{t}: {r}");
        load_sql(
            &side,
            Some("undeleted"),
            Sql::File(&out.join(format!("{t}.sql"))),
        );
        let got = checksum_of(&mut s, &format!("undeleted.{t}")).await;
        assert_eq!(got, gone, "{t}: {r}");

        // After purge: the records are on the free list, their data still in the
        // compressed stream unless the page was compressed again since (pages merged away
        // keep them delete-marked). Their BLOB pointers were cleared: those rows are
        // reported lost, never written with an empty value.
        reader.disconnect().await.unwrap();
        purged(&srv).await;
        let (copy, _) = exported(&srv, "shop", t).await;
        let out = srv.tmp().join(format!("purged-{t}"));
        let r = undelete(&copy, &out);
        let (rows, lost) = (r["rows"].as_u64().unwrap(), r["lost"].as_u64().unwrap());
        // 4 KiB pages have little room for a log: purge compresses them again more often.
        let floor = if kbs == 8192 { 300 } else { 100 };
        assert!(rows >= floor && rows + lost <= 400, "{t}: {r}");
        assert!(lost <= 13, "{t}: only rows with off-page bodies: {r}");
        let report = std::fs::read_to_string(out.join("report.json")).unwrap();
        assert_eq!(
            report.matches("BLOB pointer was cleared").count() as u64,
            lost,
            "{t}: {report}"
        );
        // Each row that came back is the row as it was deleted.
        load_sql(
            &side,
            Some("purged"),
            Sql::File(&out.join(format!("{t}.sql"))),
        );
        let ids: Vec<i32> = s.query(format!("SELECT id FROM purged.{t}")).await.unwrap();
        assert_eq!(ids.len() as u64, rows);
        assert!(ids.iter().all(|i| i % 10 == 0), "{t}: {ids:?}");
        let list = ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        c.query_drop(format!(
            "CREATE TABLE shop.{t}_back LIKE shop.{t};
             INSERT INTO shop.{t}_back SELECT * FROM shop.{t}_gone WHERE id IN ({list})"
        ))
        .await
        .unwrap();
        let want = checksum_of(&mut c, &format!("shop.{t}_back")).await;
        let got = checksum_of(&mut s, &format!("purged.{t}")).await;
        assert_eq!(got, want, "{t}: {r}");
    }
}

/// A server started with `settings` holding an empty database `shop`, and a side server
/// like it with an empty database `back` to load what comes back into.
async fn shop_and_side(settings: impl Fn(&mut SandboxOptions)) -> (TestServer, TestServer) {
    let srv = TestServer::start_with(&settings).await;
    let side = TestServer::start_with(&settings).await;
    Shop::empty().build(&srv).await;
    side.exec("CREATE DATABASE back").await;
    (srv, side)
}

/// ROW_FORMAT=COMPRESSED pages keep no infimum literal to search for: `undrop --image`
/// finds them by their header and zlib stream, at any offset, sizes them by their checksum,
/// and follows the ZBLOB chains of their off-page columns.
#[tokio::test(flavor = "multi_thread")]
async fn undrop_finds_compressed_pages_in_an_image() {
    let (srv, side) = shop_and_side(compressed).await;
    let lb = Lb::new();
    for (t, kbs) in [("z8", 8), ("z4", 4)] {
        srv.exec(&format!(
            "CREATE TABLE shop.{t} (id INT PRIMARY KEY, name VARCHAR(60) CHARACTER SET utf8mb4,
               qty INT NOT NULL, at DATETIME(3), body MEDIUMBLOB)
               ENGINE=InnoDB ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE={kbs};
             INSERT INTO shop.{t} SELECT seq, CONCAT('name ', seq, ' ', REPEAT('ü', seq % 20)),
               seq * 3, '2024-01-01' + INTERVAL seq SECOND,
               IF(seq % 250 = 0, REPEAT(UNHEX(SHA2(seq, 256)), 600), NULL) FROM shop.seq_1_to_5000;
             UPDATE shop.{t} SET qty = qty + 1 WHERE id % 7 = 0;"
        ))
        .await;
        undrop_from_image_equals(&srv, &side, &lb, (t, 700_001), 5000).await;
    }
}

/// The same on a server with 8 KiB pages (ROW_FORMAT=COMPRESSED and page_compressed), where
/// nothing in the image says the logical page size.
#[tokio::test(flavor = "multi_thread")]
async fn undrop_finds_compressed_pages_of_8k_servers_in_an_image() {
    let (srv, side) = shop_and_side(|o| {
        compressed(o);
        o.server_settings.push("innodb_page_size=8k".into());
    })
    .await;
    srv.exec(
        "CREATE TABLE shop.z (id INT PRIMARY KEY, name VARCHAR(60) CHARACTER SET utf8mb4,
           qty INT NOT NULL, at DATETIME(3), body MEDIUMBLOB)
           ENGINE=InnoDB ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=4;
         INSERT INTO shop.z SELECT seq, CONCAT('name ', seq, ' ', REPEAT('ü', seq % 20)),
           seq * 3, '2024-01-01' + INTERVAL seq SECOND,
           IF(seq % 250 = 0, REPEAT(UNHEX(SHA2(seq, 256)), 600), NULL) FROM shop.seq_1_to_5000;
         UPDATE shop.z SET qty = qty + 1 WHERE id % 7 = 0;",
    )
    .await;
    let lb = Lb::new();
    undrop_from_image_equals(&srv, &side, &lb, ("z", 300_007), 5000).await;
    // PAGE_COMPRESSED is MariaDB's.
    if !srv.is_mysql() {
        srv.exec(
            "CREATE TABLE shop.pc (id INT PRIMARY KEY, name VARCHAR(60) CHARACTER SET utf8mb4,
               qty INT NOT NULL, body MEDIUMBLOB) ENGINE=InnoDB PAGE_COMPRESSED=1;
             INSERT INTO shop.pc SELECT seq, CONCAT('name ', seq), seq * 3,
               IF(seq % 250 = 0, REPEAT(UNHEX(SHA2(seq, 256)), 600), NULL) FROM shop.seq_1_to_6000;",
        )
        .await;
        undrop_from_image_equals(&srv, &side, &lb, ("pc", 300_007), 6000).await;
    }
}

/// And on a server with 64 KiB pages: plain pages, and page_compressed pages that store
/// more than 16 KiB.
#[tokio::test(flavor = "multi_thread")]
async fn undrop_finds_pages_of_64k_servers_in_an_image() {
    let (srv, side) =
        shop_and_side(|o| o.server_settings.push("innodb_page_size=64k".into())).await;
    srv.exec(
        "CREATE TABLE shop.plain (id INT PRIMARY KEY, name VARCHAR(200) CHARACTER SET utf8mb4,
           qty INT NOT NULL, body MEDIUMBLOB) ENGINE=InnoDB;
         INSERT INTO shop.plain SELECT seq, CONCAT('name ', seq), seq * 3,
           IF(seq % 250 = 0, REPEAT(UNHEX(SHA2(seq, 256)), 3000), NULL) FROM shop.seq_1_to_6000;",
    )
    .await;
    let lb = Lb::new();
    undrop_from_image_equals(&srv, &side, &lb, ("plain", 300_007), 6000).await;
    // PAGE_COMPRESSED is MariaDB's.
    if !srv.is_mysql() {
        srv.exec(
            "CREATE TABLE shop.pc (id INT PRIMARY KEY, name VARCHAR(200) CHARACTER SET utf8mb4,
               qty INT NOT NULL, body MEDIUMBLOB) ENGINE=InnoDB PAGE_COMPRESSED=1;
             INSERT INTO shop.pc SELECT seq, CONCAT('name ', seq, ' ', SHA2(seq, 512)), seq * 3,
               IF(seq % 250 = 0, REPEAT(UNHEX(SHA2(seq, 256)), 3000), NULL) FROM shop.seq_1_to_6000;",
        )
        .await;
        undrop_from_image_equals(&srv, &side, &lb, ("pc", 300_007), 6000).await;
    }
}

/// A datadir no innodb_force_recovery level starts (page 0 of ibdata1 destroyed): every
/// table comes back from its pages, the ones in their own .ibd (compressed ones too) and,
/// named by the system tablespace's dictionary, the ones file_per_table=OFF put in ibdata1.
#[tokio::test(flavor = "multi_thread")]
async fn rescue_salvages_system_tablespace_tables_when_no_level_starts_mariadb_only() {
    let mut srv = TestServer::start().await;
    Shop::empty()
        .with(
            "CREATE TABLE shop.own (id INT PRIMARY KEY, v VARCHAR(20), at DATETIME) ENGINE=InnoDB;
             INSERT INTO shop.own SELECT seq, CONCAT('own ', seq), '2021-03-04' + INTERVAL seq HOUR FROM shop.seq_1_to_2000;
             SET GLOBAL innodb_file_per_table = 0;
             CREATE TABLE shop.shared (id INT PRIMARY KEY, name VARCHAR(40) CHARACTER SET utf8mb4 NOT NULL,
               n DECIMAL(6,2), note TEXT, KEY (name)) ENGINE=InnoDB;
             INSERT INTO shop.shared SELECT seq, CONCAT('shared ', seq, IF(seq % 9 = 0, ' ✓', '')), seq / 3,
               IF(seq % 4 = 0, NULL, REPEAT('x', seq % 300)) FROM shop.seq_1_to_5000;
             CREATE TABLE shop.`odd-name` (k VARCHAR(10) PRIMARY KEY, v INT) ENGINE=InnoDB;
             INSERT INTO shop.`odd-name` SELECT CONCAT('k', seq), seq FROM shop.seq_1_to_300;
             SET GLOBAL innodb_file_per_table = 1;
             CREATE TABLE shop.zipped (id INT PRIMARY KEY, v VARCHAR(50), b MEDIUMBLOB) ENGINE=InnoDB
               ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8;
             INSERT INTO shop.zipped SELECT seq, CONCAT('zipped ', seq), IF(seq % 100 = 0, REPEAT(UNHEX(SHA2(seq, 256)), 500), NULL)
               FROM shop.seq_1_to_3000;
             CREATE TABLE shop.squeezed (id INT PRIMARY KEY, v VARCHAR(50)) ENGINE=InnoDB PAGE_COMPRESSED=1;
             INSERT INTO shop.squeezed SELECT seq, CONCAT('squeezed ', seq) FROM shop.seq_1_to_3000;",
        )
        .build(&srv)
        .await;
    let want = checksums(&srv.connect_options(), "shop").await;
    flush_all(&srv).await;
    srv.sandbox.kill();
    let datadir = srv.sandbox.datadir.clone();
    assert!(!datadir.join("shop/shared.ibd").exists());
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(datadir.join("ibdata1"))
            .unwrap();
        f.seek(SeekFrom::Start(38)).unwrap();
        f.write_all(&[0xa5; 200]).unwrap();
    }
    let out = srv.tmp().join("rescue");
    let lb = Lb::new();
    let (r, side_dir, _stop) = rescue_into_sandbox(&lb, &datadir, &out, &[]);
    let report = json(&r);
    assert_eq!(code(&r), 0, "nothing was lost: {report:#}");
    assert!(report["started_with"].is_null(), "{report:#}");
    assert_eq!(
        report["attempts"].as_array().unwrap().len(),
        7,
        "{report:#}"
    );
    let tables = report["tables"].as_array().unwrap();
    for (name, rows) in [
        ("own", 2000),
        ("shared", 5000),
        ("odd-name", 300),
        ("zipped", 3000),
        ("squeezed", 3000),
    ] {
        let t = tables
            .iter()
            .find(|t| t["table"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {report:#}"));
        assert_eq!(t["origin"], "pages", "{t:#}");
        assert_eq!(t["rows"], rows, "{t:#}");
    }
    let got = checksums(&sandbox_socket(&side_dir), "shop").await;
    assert_eq!(got, want, "{report:#}");
}

/// DROP TABLE, CREATE TABLE under the same name, and purge done: the dictionary no longer
/// names the old index (the CREATE's records took the freed space), but the DROP's undo
/// records still do, on the undo pages and in the redo log, and the old rows come back
/// from that index.
#[tokio::test(flavor = "multi_thread")]
async fn undrop_after_purge_finds_the_old_index_in_the_undo_or_redo_log() {
    let (srv, want) = old_people().await;
    let ddl = PEOPLE;
    let mut c = srv.conn().await;
    let sys = if srv.is_mysql() { "" } else { "sys_" };
    let old: Option<u64> = c
        .query_first(format!(
            "SELECT i.index_id FROM information_schema.innodb_{sys}indexes i
               JOIN information_schema.innodb_{sys}tables t USING (table_id)
             WHERE t.name = 'shop/people' AND i.name = 'PRIMARY'"
        ))
        .await
        .unwrap();
    flush_all(&srv).await;
    // The DROP's undo records reach the disk, as on a server where the page cleaner wrote
    // them before purge was done with them (a page freed before it was ever written is
    // never written). Then purge removes the dictionary's delete-marked records, and the
    // CREATE's records take their place.
    srv.exec(REPORT).await;
    let reader = delete_holding_purge(&srv, "shop.report", "DROP TABLE shop.people").await;
    flush_all(&srv).await;
    drop(reader);
    purged(&srv).await;
    srv.exec(&format!(
        "{ddl};
         INSERT INTO shop.people SELECT seq, CONCAT('new person ', seq), NULL FROM shop.seq_1_to_50;"
    ))
    .await;
    flush_all(&srv).await;
    let out = srv.tmp().join("undrop");
    let r = undrop_people(&srv, &Lb::new(), &out);
    let by = r["chosen_by"].as_str().unwrap();
    assert_eq!(r["chosen"]["index_id"].as_u64(), old, "{r}");
    assert_eq!(r["rows"], 3000, "{r}");
    if srv.is_mysql() {
        // MySQL: the purged dictionary rows stay on their pages' free lists unless the
        // CREATE's rows took their space (it varies from run to run). The undo records of
        // the dictionary deletes name no InnoDB index id (that is in
        // mysql.indexes.se_private_data, which no index covers); the DDL log's record of
        // the freed B-tree, in #innodb_redo, does.
        assert!(
            by.contains("deleted records of shop/people")
                || (by.contains("DDL log record in the redo log") && by.contains("#innodb_redo")),
            "{r}"
        );
        c.query_drop("CREATE DATABASE back").await.unwrap();
        load_sql(&srv, Some("back"), Sql::File(&out.join("people.sql")));
        assert_eq!(checksum_of(&mut c, "back.people").await, want, "{r}");
        return;
    }
    // On the undo pages, or (when the freed undo page was reused by the CREATE's writes
    // since: it varies from run to run) in the redo log.
    assert!(by.contains("the undo log's records of the DROP"), "{r}");

    // An undo page that purge freed before it was ever written, or that was reused since,
    // keeps nothing; the redo log got the undo records at commit. A copy of the datadir
    // with the DROP's undo records scrubbed from every tablespace, not from the log (taken
    // before anything is loaded, which could reuse the dropped table's free pages). Its
    // `chosen_by` names the log only when no tablespace held the records.
    let copy = srv.tmp().join("scrubbed");
    std::fs::create_dir_all(&copy).unwrap();
    let key = b"\x00\x0bshop/people\x03\x08";
    for entry in std::fs::read_dir(&srv.sandbox.datadir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let log = name.starts_with("ib_logfile");
        if !(log || name.starts_with("ibdata") || name.starts_with("undo")) {
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let mut from = 0;
        while let Some(i) = (!log)
            .then(|| bytes[from..].windows(key.len()).position(|w| w == key))
            .flatten()
        {
            bytes[from + i..from + i + key.len()].fill(0);
            from += i + key.len();
        }
        std::fs::write(copy.join(&name), bytes).unwrap();
    }
    let redo_out = srv.tmp().join("undrop-redo");
    let r = undrop(
        &Lb::new(),
        ("--datadir", &copy),
        "shop.people",
        &[],
        &redo_out,
    );
    let by = r["chosen_by"].as_str().unwrap();
    assert!(by.contains("undo log") && by.contains("ib_logfile0"), "{r}");
    assert_eq!(r["chosen"]["index_id"].as_u64(), old, "{r}");
    assert_eq!(r["rows"], 3000, "{r}");

    // The same datadir with its redo log and undo tablespaces kept elsewhere
    // (innodb_log_group_home_dir, innodb_undo_directory): found there when named.
    let (logs, undo) = (srv.tmp().join("logs"), srv.tmp().join("undo"));
    for dir in [&logs, &undo] {
        std::fs::create_dir_all(dir).unwrap();
    }
    for entry in std::fs::read_dir(&copy).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let to = if name.starts_with("ib_logfile") {
            &logs
        } else if name.starts_with("undo") {
            &undo
        } else {
            continue;
        };
        std::fs::rename(&path, to.join(&name)).unwrap();
    }
    let elsewhere_out = srv.tmp().join("undrop-elsewhere");
    let r = undrop(
        &Lb::new(),
        ("--datadir", &copy),
        "shop.people",
        &[
            "--innodb-dir",
            logs.to_str().unwrap(),
            "--innodb-dir",
            undo.to_str().unwrap(),
        ],
        &elsewhere_out,
    );
    let by = r["chosen_by"].as_str().unwrap();
    assert!(
        by.contains("undo log") && by.contains("logs/ib_logfile0"),
        "{r}"
    );
    assert_eq!(r["chosen"]["index_id"].as_u64(), old, "{r}");
    assert_eq!(r["rows"], 3000, "{r}");
    for (db, dir) in [
        ("back", &out),
        ("back_redo", &redo_out),
        ("back_elsewhere", &elsewhere_out),
    ] {
        c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
        load_sql(&srv, Some(db), Sql::File(&dir.join("people.sql")));
        let got = checksum_of(&mut c, &format!("{db}.people")).await;
        assert_eq!(got, want, "{db}: {r}");
    }
}

/// Builds a disk image holding `shop.<table>`'s .ibd (read after a flush, as the dropped
/// file's blocks would be) at offset `at` in other bytes, drops the table, runs `undrop
/// --image` with its CREATE TABLE, and loads the result into `back` on `side`: every one
/// of `rows` rows, CHECKSUM TABLE equal to the original's.
async fn undrop_from_image_equals(
    srv: &TestServer,
    side: &TestServer,
    lb: &Lb,
    (table, at): (&str, usize),
    rows: u64,
) {
    let mut c = srv.conn().await;
    let want = checksum_of(&mut c, &format!("shop.{table}")).await;
    let (_, ddl): (String, String) = c
        .query_first(format!("SHOW CREATE TABLE shop.{table}"))
        .await
        .unwrap()
        .unwrap();
    flush_all(srv).await;
    let ibd = std::fs::read(srv.sandbox.datadir.join(format!("shop/{table}.ibd"))).unwrap();
    c.query_drop(format!("DROP TABLE shop.{table}"))
        .await
        .unwrap();
    let img = srv.tmp().join(format!("{table}.img"));
    write_image(&img, 2_000_000, at, &ibd);
    let schema = srv.tmp().join(format!("{table}.ddl"));
    std::fs::write(&schema, &ddl).unwrap();
    let out = srv.tmp().join(format!("undrop-{table}"));
    let r = undrop(
        lb,
        ("--image", &img),
        &format!("shop.{table}"),
        &["--schema", schema.to_str().unwrap()],
        &out,
    );
    assert_eq!(r["rows"], rows, "{table}: {r}");
    assert_eq!(r["lost"], 0, "{table}: {r}");
    load_sql(
        side,
        Some("back"),
        Sql::File(&out.join(format!("{table}.sql"))),
    );
    let got = checksum_of(&mut side.conn().await, &format!("back.{table}")).await;
    assert_eq!(got, want, "{table}: {r}");
}

/// page_compressed pages keep no infimum literal either: `undrop --image` finds them by
/// their headers (full_crc32 with zlib at any offset, with lz4 at sector boundaries, and the
/// older layout), expands them, and follows BLOB chains whose pages are compressed as well.
#[tokio::test(flavor = "multi_thread")]
async fn undrop_finds_page_compressed_pages_in_an_image_mariadb_only() {
    let srv = TestServer::start_with(|o| {
        o.server_settings
            .push("plugin_load_add=provider_lz4".into());
    })
    .await;
    let old = TestServer::start_with(|o| {
        o.server_settings
            .push("innodb_checksum_algorithm=crc32".into());
    })
    .await;
    let side = TestServer::start().await;
    side.exec("CREATE DATABASE back").await;
    let lb = Lb::new();
    Shop::empty().build(&srv).await;
    Shop::empty().build(&old).await;
    for (server, table, at) in [
        (&srv, "pz", 700_001),
        (&old, "po", 700_001),
        (&srv, "p4", 1 << 20),
    ] {
        if table == "p4" {
            srv.exec("SET GLOBAL innodb_compression_algorithm = lz4")
                .await;
        }
        compressed_table(server, table, "").await;
        undrop_from_image_equals(server, &side, &lb, (table, at), 6000).await;
    }
}

/// A PRIMARY KEY on a column prefix: its records hold the prefix as the key and the whole
/// value again among the other columns. `salvage` reads every row, `undelete` exactly the
/// deleted ones; REDUNDANT records too.
#[tokio::test(flavor = "multi_thread")]
async fn tables_keyed_by_a_column_prefix_salvage_and_undelete() {
    let srv = TestServer::start().await;
    shop_with_report(&srv).await;
    for (t, options) in [("pk", ""), ("pkr", "ROW_FORMAT=REDUNDANT")] {
        srv.exec(&format!(
            "CREATE TABLE shop.{t} (code VARCHAR(60) CHARACTER SET utf8mb4 NOT NULL, id INT NOT NULL,
               tag CHAR(6) CHARACTER SET latin1 NOT NULL, note TEXT, PRIMARY KEY (code(10), tag(3)))
               ENGINE=InnoDB {options};
             INSERT INTO shop.{t} SELECT CONCAT(LPAD(seq, 8, '0'), '-é', REPEAT('x', seq % 40)), seq,
               CONCAT('t', seq % 7, 'zz'), IF(seq % 3 = 0, NULL, REPEAT('n', seq % 200))
               FROM shop.seq_1_to_4000;"
        ))
        .await;
    }
    let side = TestServer::start().await;
    side.exec("CREATE DATABASE salvaged; CREATE DATABASE undeleted")
        .await;
    let mut c = srv.conn().await;
    let lb = Lb::new();
    // `command` on `copy` brings back `rows` rows whose CHECKSUM TABLE, loaded into `db` on
    // the side instance, is `want`.
    let equals = async |command: &str,
                        copy: &std::path::Path,
                        schema: &std::path::Path,
                        db: &str,
                        t: &str,
                        rows: u64,
                        want: Option<u64>| {
        let out = srv.tmp().join(format!("{db}-{t}"));
        let o = on_ibd(&lb, command, copy, Some(schema), &out);
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        let r = json(&o);
        assert_eq!(r["rows"], rows, "{t}: {r}");
        load_sql(&side, Some(db), Sql::File(&out.join(format!("{t}.sql"))));
        let got = checksum_of(&mut side.conn().await, &format!("{db}.{t}")).await;
        assert_eq!(got, want, "{t}: {r}");
    };
    for t in ["pk", "pkr"] {
        let want = checksum_of(&mut c, &format!("shop.{t}")).await;
        let (copy, schema) = exported(&srv, "shop", t).await;
        equals("salvage", &copy, &schema, "salvaged", t, 4000, want).await;
        let (gone, reader, copy, schema) = delete_tenth(&srv, t).await;
        equals("undelete", &copy, &schema, "undeleted", t, 400, gone).await;
        drop(reader);
    }
}

/// A redo log given to `innodb inspect` or `salvage` is named for what it is, not read as
/// pages; output cut short by a closed pipe (`| head`) ends quietly with 141, as Unix tools
/// do, not with a panic.
#[test]
fn inspect_names_a_redo_log_and_stops_quietly_on_a_closed_pipe() {
    let lb = Lb::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ib_logfile0");
    let mut head = vec![0u8; 64 << 10];
    head[..4].copy_from_slice(b"Phys");
    head[16..32].copy_from_slice(b"MariaDB 10.11.19");
    std::fs::write(&log, &head).unwrap();
    let out = dir.path().join("out");
    for args in [
        vec!["innodb", "inspect", log.to_str().unwrap()],
        vec![
            "salvage",
            "--ibd",
            log.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    ] {
        let o = lb.run(&args);
        assert_ne!(code(&o), 0);
        let e = stderr(&o);
        assert!(
            e.contains(": an InnoDB redo log written by MariaDB 10.11.19")
                && e.lines().count() <= 2,
            "{args:?}: {e}"
        );
    }

    // Less than a page whose first bytes happen to make plausible flags: no report.
    let short = dir.path().join("short.ibd");
    std::fs::write(&short, noise(1000)).unwrap();
    let o = lb.run(&["innodb", "inspect", short.to_str().unwrap()]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("not an InnoDB tablespace"),
        "{}",
        stderr(&o)
    );

    let ibd = sakila_80("film");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = lb
        .cmd(&["innodb", "inspect", ibd.to_str().unwrap()])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(code(&o), 141, "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}
