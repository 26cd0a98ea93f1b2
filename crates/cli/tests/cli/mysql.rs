//! MySQL 8.0+ features, on a real MySQL server (`scripts/test` runs these with MySQL 9.x):
//! what a MySQL user's schema holds and what MySQL's binlog writes, backed up, restored and
//! replayed, proven by CHECKSUM TABLE.

use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;

use super::backup::{checksums, fixture, load_sql, repo_init, sandbox_socket};
use super::{Lb, code, json, stderr};

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
    load_sql(&srv, &fixture("sakila-schema.sql"));
    load_sql(&srv, &fixture("sakila-data.sql"));
    srv.exec(FEATURES).await;
    let lb = Lb::new();
    let repo = repo_init(&lb);
    let b = super::backup::backup(&lb, &repo, &srv, &["--users", "--threads", "3"]);
    let id = b["id"].as_str().unwrap().to_owned();

    let dir = srv.tmp().join("restored");
    let _stop = super::StopOnDrop(dir.clone());
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
    let mut c = lifeboat_server::connect(&dst).await.unwrap();
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
