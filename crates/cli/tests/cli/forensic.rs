//! Forensics on files a real MariaDB server wrote: `innodb inspect` reads the format, every
//! record, and the delete-marked rows purge has not removed yet.

use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;

use super::{Lb, code, json, stderr};

#[tokio::test]
async fn inspect_sees_rows_and_delete_marked_rows_of_a_mariadb_tablespace() {
    let srv = TestServer::start().await;
    srv.exec(
        "CREATE DATABASE shop;
         CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(200), amount DECIMAL(10,2), KEY (amount)) ENGINE=InnoDB;
         INSERT INTO shop.orders SELECT seq, REPEAT(CHAR(65 + seq % 26), 150), seq / 7 FROM shop.seq_1_to_5000;",
    )
    .await;
    // An open read view holds purge back: the deleted rows stay on their pages, marked.
    let mut reader = srv.conn().await;
    reader
        .query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .unwrap();
    let _: Option<u64> = reader
        .query_first("SELECT COUNT(*) FROM shop.orders")
        .await
        .unwrap();
    srv.exec("DELETE FROM shop.orders WHERE id % 10 = 3").await;
    // Pages reach the file (as they would after a checkpoint on a server that ran for days).
    let mut c = srv.conn().await;
    c.query_drop("FLUSH TABLES shop.orders FOR EXPORT")
        .await
        .unwrap();
    let file = srv.sandbox.datadir.join("shop/orders.ibd");
    let lb = Lb::new();
    let o = lb.run(&["innodb", "inspect", "--json", file.to_str().unwrap()]);
    c.query_drop("UNLOCK TABLES").await.unwrap();
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
