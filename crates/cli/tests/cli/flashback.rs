//! `lifeboat flashback`: an incident's row changes undone in production, the writes made
//! since kept, proven by CHECKSUM TABLE against a copy that lived the same life without the
//! incident.

use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;
use serde_json::Value;

use crate::harness::{
    Lb, Shop, binlogs, checksum_of, code, identity, json, socket_args, stderr, with,
};

/// A server with binlogs and `shop.payment`: 3000 rows whose `paid_at` a BEFORE INSERT
/// trigger sets (the value a replayed INSERT would get wrong), and every kind of column a
/// check must compare exactly.
async fn payments() -> TestServer {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    Shop::empty()
        .with(
            "CREATE TABLE shop.payment (id INT PRIMARY KEY, customer INT NOT NULL, \
             amount DECIMAL(8,2) NOT NULL, note VARCHAR(40) NULL, code CHAR(4) NOT NULL, \
             ratio FLOAT NULL, score DOUBLE NULL, kind ENUM('card','cash','wire') NOT NULL, \
             raw VARBINARY(16) NULL, due DATE NULL, at TIMESTAMP(6) NULL, \
             paid_at DATETIME(6) NULL, KEY (customer)) ENGINE=InnoDB",
        )
        .with(
            "CREATE TRIGGER shop.payment_paid BEFORE INSERT ON shop.payment FOR EACH ROW \
             SET NEW.paid_at = NOW(6)",
        )
        .with(
            "USE shop; INSERT INTO shop.payment (id, customer, amount, note, code, ratio, score, kind, raw, due, at) \
             SELECT seq, seq % 100, seq * 1.25, IF(seq % 7 = 0, NULL, CONCAT('n', seq)), \
             LPAD(seq % 97, 4, 'x'), seq / 3, seq / 7, 1 + seq % 3, UNHEX(MD5(seq)), \
             '2026-01-01' + INTERVAL seq DAY, '2026-06-01 00:00:00' + INTERVAL seq SECOND \
             FROM seq_1_to_3000",
        )
        .build(&srv)
        .await;
    srv
}

/// The id `lifeboat incidents` gives the first incident in `files`.
fn first_incident(lb: &Lb, files: &[String]) -> String {
    let mut args = vec!["incidents", "--json", "--min-rows", "100"];
    args.extend(files.iter().map(String::as_str));
    let o = lb.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    let list = v["incidents"].as_array().expect("incidents");
    list.first().expect("an incident")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `FILE:4` of the last of `files`: a range from its start.
fn start_of_last(files: &[String]) -> String {
    let last = std::path::Path::new(files.last().expect("a binlog file"));
    format!("{}:4", last.file_name().unwrap().to_string_lossy())
}

/// What the application does after the incident, to `table`: new payments (the trigger
/// stamps them) and updates of rows the incident did not touch.
fn later_writes(table: &str) -> String {
    format!(
        "USE shop; INSERT INTO {table} (id, customer, amount, note, code, kind) \
         SELECT 3000 + seq, seq % 100, seq, 'later', 'LATE', 'cash' FROM seq_1_to_50; \
         UPDATE {table} SET note = 'touched later', amount = amount + 1 WHERE customer >= 60 AND id % 5 = 0"
    )
}

#[tokio::test]
async fn flashback_of_a_mass_delete_keeps_later_writes_and_trigger_set_values() {
    let srv = payments().await;
    // The twin lives the same life without the incident: what production must end as.
    srv.exec("CREATE TABLE shop.twin LIKE shop.payment; INSERT INTO shop.twin SELECT * FROM shop.payment")
        .await;
    srv.exec("FLUSH BINARY LOGS").await;
    srv.exec("DELETE FROM shop.payment WHERE customer < 40")
        .await;
    srv.exec(&later_writes("shop.payment")).await;
    // The twin gets the same later writes; its new rows take production's trigger stamps.
    srv.exec(
        "UPDATE shop.twin SET note = 'touched later', amount = amount + 1 WHERE customer >= 60 AND id % 5 = 0; \
         INSERT INTO shop.twin SELECT * FROM shop.payment WHERE id > 3000",
    )
    .await;
    let lb = Lb::new();
    let files = binlogs(&srv).await;
    let incident = first_incident(&lb, &files);
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let mut c = srv.conn().await;
    let want = checksum_of(&mut c, "shop.twin").await;
    let damaged = checksum_of(&mut c, "shop.payment").await;
    assert_ne!(want, damaged);

    // Unattended without naming the server: refused, nothing changed.
    let mut base = vec!["flashback", "--incident", incident.as_str(), "--apply"];
    base.extend(files.iter().map(String::as_str));
    let o = lb.run(&with(&base, &extra));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(checksum_of(&mut c, "shop.payment").await, damaged);

    // The dry run counts what would go back and changes nothing.
    let mut dry = base.clone();
    dry.extend(["--dry-run", "--json"]);
    let o = lb.run(&with(&dry, &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["rows"]["rows"]["shop.payment"]["insert"], 1200, "{v}");
    assert_eq!(v["conflicts_total"], 0, "{v}");
    assert_eq!(checksum_of(&mut c, "shop.payment").await, damaged);

    let mut run = base.clone();
    run.extend(["--confirm-server", id.as_str(), "--json"]);
    let o = lb.run(&with(&run, &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = json(&o);
    assert_eq!(v["transactions"], 1, "{v}");
    assert_eq!(v["rows"]["rows"]["shop.payment"]["insert"], 1200, "{v}");
    assert_eq!(v["verified"], 1200, "read back after the undo: {v}");
    // Row for row what the twin holds: the deleted rows with their original trigger-set
    // paid_at, and every write made since.
    assert_eq!(checksum_of(&mut c, "shop.payment").await, want);
    let n: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM shop.payment p JOIN shop.twin t USING (id) WHERE NOT (p.paid_at <=> t.paid_at)")
        .await
        .unwrap();
    assert_eq!(n, Some(0));

    // Again: the transaction is recorded as undone, nothing is done twice.
    let o = lb.run(&with(&run, &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = json(&o);
    assert_eq!(v["transactions"], 0, "{v}");
    assert_eq!(v["already_undone"], 1, "{v}");
    assert_eq!(checksum_of(&mut c, "shop.payment").await, want);
    let journal = std::fs::read_to_string(lb.journal()).unwrap();
    assert!(journal.contains("\"command\":\"flashback\""), "{journal}");
    assert!(journal.contains("\"outcome\":\"refused\""), "{journal}");
    assert!(journal.contains("\"outcome\":\"ok\""), "{journal}");
}

#[tokio::test]
async fn rows_changed_since_the_incident_are_conflicts_left_as_they_are() {
    let srv = payments().await;
    srv.exec("FLUSH BINARY LOGS").await;
    srv.exec("UPDATE shop.payment SET amount = 0, note = 'zeroed' WHERE customer < 30")
        .await;
    let (pos_file, pos_at) = {
        let mut c = srv.conn().await;
        let (f, p, _) = crate::harness::binlog_position(&srv, &mut c).await;
        (f, p)
    };
    // Since: one zeroed row changed again, one deleted, one unrelated row changed.
    srv.exec(
        "UPDATE shop.payment SET amount = 99 WHERE id = 100; \
         DELETE FROM shop.payment WHERE id = 200; \
         UPDATE shop.payment SET note = 'other' WHERE id = 2999",
    )
    .await;
    let lb = Lb::new();
    let files = binlogs(&srv).await;
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let from = start_of_last(&files);
    let to = format!("{pos_file}:{pos_at}");
    let mut args = vec![
        "flashback",
        "--from",
        from.as_str(),
        "--to",
        to.as_str(),
        "--apply",
        "--confirm-server",
        id.as_str(),
        "--json",
    ];
    args.extend(files.iter().map(String::as_str));
    let o = lb.run(&with(&args, &extra));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["conflicts_total"], 2, "{v}");
    let reasons: Vec<&str> = v["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"the row changed since"), "{v}");
    assert!(reasons.contains(&"the row is gone"), "{v}");
    let mut c = srv.conn().await;
    // The conflicting rows are as production had them; every other row is set back.
    let (a100, a200): (Option<String>, Option<u64>) = (
        c.query_first("SELECT CAST(amount AS CHAR) FROM shop.payment WHERE id = 100")
            .await
            .unwrap(),
        c.query_first("SELECT COUNT(*) FROM shop.payment WHERE id = 200")
            .await
            .unwrap(),
    );
    assert_eq!(a100.as_deref(), Some("99.00"));
    assert_eq!(a200, Some(0));
    let zeroed: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM shop.payment WHERE note = 'zeroed'")
        .await
        .unwrap();
    assert_eq!(
        zeroed,
        Some(1),
        "only the conflicting row keeps the incident's value"
    );
    let restored: Option<String> = c
        .query_first("SELECT CAST(amount AS CHAR) FROM shop.payment WHERE id = 130")
        .await
        .unwrap();
    assert_eq!(restored.as_deref(), Some("162.50"));
}

#[tokio::test]
async fn the_script_undoes_the_same_and_stops_at_a_conflict() {
    let srv = payments().await;
    srv.exec("CREATE TABLE shop.twin LIKE shop.payment; INSERT INTO shop.twin SELECT * FROM shop.payment")
        .await;
    srv.exec("FLUSH BINARY LOGS").await;
    srv.exec("DELETE FROM shop.payment WHERE customer BETWEEN 10 AND 19")
        .await;
    srv.exec("UPDATE shop.payment SET score = -1, ratio = NULL, raw = NULL WHERE customer BETWEEN 50 AND 59")
        .await;
    let lb = Lb::new();
    let files = binlogs(&srv).await;
    let extra = socket_args(&srv);
    let from = start_of_last(&files);
    let script = srv.tmp().join("undo.sql");
    let mut args = vec![
        "flashback",
        "--from",
        from.as_str(),
        "--out",
        script.to_str().unwrap(),
        "--json",
    ];
    args.extend(files.iter().map(String::as_str));
    let o = lb.run(&with(&args, &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["transactions"], 2, "{v}");
    assert_eq!(v["rows"]["rows"]["shop.payment"]["insert"], 300, "{v}");
    assert_eq!(v["rows"]["rows"]["shop.payment"]["update"], 300, "{v}");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.contains("deleted rows"),
        "{}",
        &text[..2000.min(text.len())]
    );
    assert!(text.contains("updated rows"));

    // A row changed since: the script stops at its check, before the update's undo.
    srv.exec("UPDATE shop.payment SET score = 5 WHERE id = 50")
        .await;
    let run = |s: &TestServer| {
        s.client()
            .stdin(std::fs::File::open(&script).unwrap())
            .output()
            .unwrap()
    };
    let o = run(&srv);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("1242"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut c = srv.conn().await;
    let deleted: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM shop.payment WHERE customer BETWEEN 10 AND 19")
        .await
        .unwrap();
    assert_eq!(
        deleted,
        Some(0),
        "newest first: nothing of the older transaction ran"
    );
    // Put back as the incident left it, and the script goes through.
    srv.exec("UPDATE shop.payment SET score = -1 WHERE id = 50")
        .await;
    let o = run(&srv);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        checksum_of(&mut c, "shop.payment").await,
        checksum_of(&mut c, "shop.twin").await
    );
}

#[tokio::test]
async fn minimal_images_ddl_in_the_range_and_a_changed_table_are_refused_by_name() {
    let srv = payments().await;
    srv.exec("FLUSH BINARY LOGS").await;
    let lb = Lb::new();
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let undo = |files: &[String], from: &str| {
        let mut args = vec![
            "flashback",
            "--from",
            from,
            "--apply",
            "--confirm-server",
            id.as_str(),
        ];
        args.extend(files.iter().map(String::as_str));
        lb.run(&with(&args, &extra))
    };

    // MINIMAL images: the deleted rows' other columns are not in the binlog.
    srv.exec(
        "SET SESSION binlog_row_image = 'MINIMAL'; DELETE FROM shop.payment WHERE customer = 1",
    )
    .await;
    let files = binlogs(&srv).await;
    let o = undo(&files, &start_of_last(&files));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("shop`.`payment") && stderr(&o).contains("MINIMAL"),
        "{}",
        stderr(&o)
    );

    // A DDL on the table inside the range.
    srv.exec("FLUSH BINARY LOGS").await;
    let files = binlogs(&srv).await;
    let from = start_of_last(&files);
    srv.exec("DELETE FROM shop.payment WHERE customer = 2; ALTER TABLE shop.payment ADD COLUMN extra INT NULL")
        .await;
    let files = binlogs(&srv).await;
    let o = undo(&files, &from);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("ALTER TABLE"), "{}", stderr(&o));

    // A column added at the end since the incident: the undo leaves it to its default.
    srv.exec("FLUSH BINARY LOGS").await;
    let files = binlogs(&srv).await;
    let from = start_of_last(&files);
    srv.exec("DELETE FROM shop.payment WHERE customer = 3")
        .await;
    let to = upto(&srv).await;
    srv.exec("ALTER TABLE shop.payment ADD COLUMN extra2 INT NOT NULL DEFAULT 7")
        .await;
    let files = binlogs(&srv).await;
    let between = |from: &str, to: &str| {
        let mut args = vec![
            "flashback",
            "--from",
            from,
            "--to",
            to,
            "--apply",
            "--confirm-server",
            id.as_str(),
        ];
        args.extend(files.iter().map(String::as_str));
        lb.run(&with(&args, &extra))
    };
    let o = between(&from, &to);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut c = srv.conn().await;
    let back: Option<(u64, u64)> = c
        .query_first("SELECT COUNT(*), SUM(extra2 = 7) FROM shop.payment WHERE customer = 3")
        .await
        .unwrap();
    assert_eq!(back, Some((30, 30)));

    // A column added before the ones the binlog has: refused by name, nothing changed.
    srv.exec("FLUSH BINARY LOGS").await;
    let files = binlogs(&srv).await;
    let from = start_of_last(&files);
    srv.exec("DELETE FROM shop.payment WHERE customer = 4")
        .await;
    let to = upto(&srv).await;
    srv.exec("ALTER TABLE shop.payment ADD COLUMN first_col INT NULL FIRST")
        .await;
    let files = binlogs(&srv).await;
    let mut args = vec![
        "flashback",
        "--from",
        from.as_str(),
        "--to",
        to.as_str(),
        "--apply",
        "--confirm-server",
        id.as_str(),
    ];
    args.extend(files.iter().map(String::as_str));
    let o = lb.run(&with(&args, &extra));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("shop.payment") && stderr(&o).contains("changed since"),
        "{}",
        stderr(&o)
    );
    let n: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM shop.payment WHERE customer = 4")
        .await
        .unwrap();
    assert_eq!(n, Some(0));
}

/// The server's binlog position now, as `file:pos`.
async fn upto(srv: &TestServer) -> String {
    let mut c = srv.conn().await;
    let (f, p, _) = crate::harness::binlog_position(srv, &mut c).await;
    format!("{f}:{p}")
}

#[tokio::test]
async fn an_apply_killed_midway_resumes_without_undoing_anything_twice() {
    let srv = payments().await;
    srv.exec("CREATE TABLE shop.twin LIKE shop.payment; INSERT INTO shop.twin SELECT * FROM shop.payment")
        .await;
    srv.exec("FLUSH BINARY LOGS").await;
    // 1500 transactions of one row each.
    let deletes: String = (1..=1500)
        .map(|i| format!("DELETE FROM shop.payment WHERE id = {};", i * 2))
        .collect();
    srv.exec(&deletes).await;
    let lb = Lb::new();
    let files = binlogs(&srv).await;
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let from = start_of_last(&files);
    let mut args = vec![
        "flashback",
        "--from",
        from.as_str(),
        "--apply",
        "--confirm-server",
        id.as_str(),
        "--json",
    ];
    args.extend(files.iter().map(String::as_str));
    let args = with(&args, &extra);
    let mut child = lb
        .cmd(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut c = srv.conn().await;
    let started = std::time::Instant::now();
    loop {
        let n: Option<u64> = c
            .query_first("SELECT COUNT(*) FROM lifeboat_flashback.undone")
            .await
            .unwrap_or(None);
        if n.unwrap_or(0) >= 100 {
            break;
        }
        assert!(started.elapsed().as_secs() < 120, "no progress");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
    let done: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM lifeboat_flashback.undone")
        .await
        .unwrap();
    let done = done.unwrap();
    assert!(done < 1500, "the apply finished before it was killed");

    let o = lb.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    // A COMMIT sent just before the kill may still have completed on the server: at least
    // what was counted is skipped, and every transaction is undone exactly once.
    let skipped = v["already_undone"].as_u64().unwrap();
    assert!(skipped >= done, "{v}");
    assert_eq!(v["transactions"].as_u64().unwrap() + skipped, 1500, "{v}");
    // The first run's undos are in the binlog now: left out, never undone.
    assert_eq!(v["plan"]["own_undos_skipped"], skipped, "{v}");
    assert_eq!(v["conflicts_total"], 0, "{v}");
    assert_eq!(
        checksum_of(&mut c, "shop.payment").await,
        checksum_of(&mut c, "shop.twin").await
    );
}

#[tokio::test]
async fn recover_merge_puts_back_the_columns_an_update_without_where_changed() {
    let srv = payments().await;
    srv.exec("CREATE TABLE shop.twin LIKE shop.payment; INSERT INTO shop.twin SELECT * FROM shop.payment")
        .await;
    srv.exec("FLUSH BINARY LOGS").await;
    srv.exec("UPDATE shop.payment SET amount = 0, ratio = NULL")
        .await;
    // Later writes: the same column of one row, another column of another, a row deleted,
    // a new row.
    let later = "UPDATE {t} SET amount = 5 WHERE id = 10; UPDATE {t} SET note = 'later' WHERE id = 20; \
                 DELETE FROM {t} WHERE id = 30";
    srv.exec(&later.replace("{t}", "shop.payment")).await;
    srv.exec("INSERT INTO shop.payment (id, customer, amount, code, kind) VALUES (5000, 1, 1, 'NEW', 'card')")
        .await;
    // What production must end as: the twin with the same later writes (id 10 keeps the
    // later amount and the incident's ratio: a conflict is left as production has it).
    srv.exec(&later.replace("{t}", "shop.twin")).await;
    srv.exec(
        "UPDATE shop.twin SET ratio = NULL WHERE id = 10; \
         INSERT INTO shop.twin SELECT * FROM shop.payment WHERE id = 5000",
    )
    .await;
    let lb = Lb::new();
    let files = binlogs(&srv).await;
    let incident = first_incident(&lb, &files);
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let mut base = vec![
        "recover",
        "--before-incident",
        incident.as_str(),
        "--tables",
        "shop.payment",
        "--mode",
        "merge",
        "--json",
    ];
    base.extend(files.iter().map(String::as_str));
    let mut c = srv.conn().await;
    let damaged = checksum_of(&mut c, "shop.payment").await;

    let mut dry = base.clone();
    dry.push("--dry-run");
    let o = lb.run(&with(&dry, &extra));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["rows"]["rows"]["shop.payment"]["update"], 2998, "{v}");
    assert_eq!(v["conflicts_total"], 2, "{v}");
    assert_eq!(checksum_of(&mut c, "shop.payment").await, damaged);

    let mut run = base.clone();
    run.extend(["--freeze", "--confirm-server", id.as_str()]);
    let o = lb.run(&with(&run, &extra));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["rows"]["rows"]["shop.payment"]["update"], 2998, "{v}");
    let mut reasons: Vec<(String, String)> = v["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_owned(),
                c["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("id=10".to_owned(), "the row changed since".to_owned()),
            ("id=30".to_owned(), "the row is gone".to_owned())
        ],
        "{v}"
    );
    assert_eq!(
        checksum_of(&mut c, "shop.payment").await,
        checksum_of(&mut c, "shop.twin").await
    );
    let ro: Option<u8> = c.query_first("SELECT @@GLOBAL.read_only").await.unwrap();
    assert_eq!(ro, Some(0), "thawed after the merge");
}

/// The ids of the incidents in the archive of `repo`, in order, with their kinds.
fn incidents_in(lb: &Lb, repo: &str) -> Vec<(String, String)> {
    let o = lb.run(&["incidents", "--repo", repo, "--json", "--min-rows", "1"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    json(&o)["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn recover_replaces_a_table_dropped_with_fk_checks_off_and_puts_a_truncated_one_beside() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    Shop::empty()
        .with(
            "USE shop; \
             CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(20)); \
             INSERT INTO customers SELECT seq, CONCAT('c', seq) FROM seq_1_to_20; \
             CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer INT NOT NULL, \
               amount DECIMAL(8,2), placed_at DATETIME(6), \
               CONSTRAINT orders_customer FOREIGN KEY (customer) REFERENCES customers (id)) ENGINE=InnoDB; \
             CREATE TRIGGER orders_placed BEFORE INSERT ON orders FOR EACH ROW SET NEW.placed_at = NOW(6); \
             CREATE TABLE items (id INT PRIMARY KEY, order_id INT NOT NULL, \
               CONSTRAINT items_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE) ENGINE=InnoDB; \
             INSERT INTO orders (customer, amount) SELECT 1 + seq % 20, seq FROM seq_1_to_500; \
             INSERT INTO items SELECT seq, seq FROM seq_1_to_100; \
             CREATE TABLE notes (id INT PRIMARY KEY, body TEXT); \
             INSERT INTO notes SELECT seq, REPEAT('n', seq) FROM seq_1_to_300",
        )
        .build(&srv)
        .await;
    let lb = Lb::new();
    let repo = crate::harness::repo_init(&lb);
    let r = repo.as_str();
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let o = lb.run(&with(&["backup", "--repo", r], &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // After the backup: more orders (the trigger stamps them), more notes.
    srv.exec(
        "USE shop; INSERT INTO orders (customer, amount) SELECT 1 + seq % 20, seq FROM seq_1_to_200; \
         INSERT INTO notes SELECT 300 + seq, 'later' FROM seq_1_to_50",
    )
    .await;
    let mut c = srv.conn().await;
    let orders_before = checksum_of(&mut c, "shop.orders").await;
    let counter_before = auto_increment(&mut c, "orders").await;
    let notes_before = checksum_of(&mut c, "shop.notes").await;
    srv.exec("SET FOREIGN_KEY_CHECKS = 0; DROP TABLE shop.orders; SET FOREIGN_KEY_CHECKS = 1")
        .await;
    srv.exec("TRUNCATE TABLE shop.notes").await;
    srv.exec("INSERT INTO shop.notes VALUES (1000, 'written since')")
        .await;
    let o = lb.run(&with(&["archive", "--once", "--repo", r], &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let found = incidents_in(&lb, r);
    let drop = found
        .iter()
        .find(|(_, k)| k == "drop_table")
        .unwrap()
        .0
        .clone();
    let truncate = found
        .iter()
        .find(|(_, k)| k == "truncate")
        .unwrap()
        .0
        .clone();

    // Replace: the dropped table is back in place, as it was just before the drop.
    let o = lb.run(&with(
        &[
            "recover",
            "--before-incident",
            drop.as_str(),
            "--tables",
            "shop.orders",
            "--mode",
            "replace",
            "--repo",
            r,
            "--confirm-server",
            id.as_str(),
            "--json",
        ],
        &extra,
    ));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["tables"][0]["rows"], 700, "{v}");
    assert_eq!(v["tables"][0]["checksum_matched"], true, "{v}");
    assert_eq!(checksum_of(&mut c, "shop.orders").await, orders_before);
    // Its trigger, its foreign key, the child's foreign key to it, its counter.
    let triggers: Vec<String> = c
        .query_map(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = 'shop' AND EVENT_OBJECT_TABLE = 'orders'",
            |t: String| t,
        )
        .await
        .unwrap();
    assert_eq!(triggers, vec!["orders_placed".to_owned()]);
    assert!(
        c.query_drop("INSERT INTO shop.orders (customer, amount) VALUES (999, 1)")
            .await
            .is_err(),
        "the foreign key to customers is back"
    );
    assert!(
        c.query_drop("INSERT INTO shop.items VALUES (5000, 123456)")
            .await
            .is_err(),
        "items' foreign key points at the table again"
    );
    // The counter: past every id the table had. (The server's own counter may have been
    // further on: bulk inserts reserve ids they do not use, and the binlog does not say.)
    let counter = auto_increment(&mut c, "orders").await.unwrap();
    assert!(
        counter > 700 && counter <= counter_before.unwrap(),
        "{counter} vs {counter_before:?}"
    );
    c.query_drop("INSERT INTO shop.orders (customer, amount) VALUES (1, 1)")
        .await
        .unwrap();
    let placed: Option<Option<String>> = c
        .query_first("SELECT CAST(placed_at AS CHAR) FROM shop.orders WHERE id = LAST_INSERT_ID()")
        .await
        .unwrap();
    assert!(placed.flatten().is_some(), "the trigger fires for new rows");

    // Side by side: the truncated table's rows beside the live one, which is untouched.
    let o = lb.run(&with(
        &[
            "recover",
            "--before-incident",
            truncate.as_str(),
            "--tables",
            "shop.notes",
            "--repo",
            r,
            "--confirm-server",
            id.as_str(),
            "--json",
        ],
        &extra,
    ));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    let placed_as = v["tables"][0]["placed_as"].as_str().unwrap().to_owned();
    assert!(placed_as.starts_with("shop.notes__recovered_"), "{v}");
    assert_eq!(v["tables"][0]["difference"]["only_recovered"], 350, "{v}");
    assert_eq!(v["tables"][0]["difference"]["only_live"], 1, "{v}");
    let live: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM shop.notes")
        .await
        .unwrap();
    assert_eq!(live, Some(1));
    // The copy holds the rows of before the truncate, exactly (same definition: same sums).
    c.query_drop(format!(
        "RENAME TABLE shop.notes TO shop.notes_live, {placed_as} TO shop.notes"
    ))
    .await
    .unwrap();
    assert_eq!(checksum_of(&mut c, "shop.notes").await, notes_before);
}

/// The AUTO_INCREMENT of `shop.table`, as SHOW CREATE TABLE states it.
async fn auto_increment(c: &mut mysql_async::Conn, table: &str) -> Option<u64> {
    let row: Option<(String, String)> = c
        .query_first(format!("SHOW CREATE TABLE shop.{table}"))
        .await
        .unwrap();
    let create = row.unwrap().1;
    create
        .split("AUTO_INCREMENT=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The tables of the cascade test, copied without their foreign keys or triggers into
/// `twin`: what production must end as.
const CASCADE_TABLES: [&str; 4] = ["customers", "orders", "items", "notes"];

/// A cascade incident: customers 1..10 deleted, their orders and items cascaded away, their
/// notes set to NULL; later writes done to `twin` too. Returns the server, the repository
/// (backup before, archive after) and the incident's id.
async fn cascade_incident(lb: &Lb) -> (TestServer, String, String) {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    Shop::empty()
        .with(
            "USE shop; \
             CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB; \
             CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL, amount DECIMAL(8,2), \
               placed_at DATETIME(6), \
               CONSTRAINT orders_customer FOREIGN KEY (customer) REFERENCES customers (id) ON DELETE CASCADE) ENGINE=InnoDB; \
             CREATE TRIGGER orders_placed BEFORE INSERT ON orders FOR EACH ROW SET NEW.placed_at = NOW(6); \
             CREATE TABLE items (id INT PRIMARY KEY, order_id INT NOT NULL, sku VARCHAR(10), \
               CONSTRAINT items_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE) ENGINE=InnoDB; \
             CREATE TABLE notes (id INT PRIMARY KEY, customer INT NULL, body VARCHAR(20), \
               CONSTRAINT notes_customer FOREIGN KEY (customer) REFERENCES customers (id) ON DELETE SET NULL) ENGINE=InnoDB; \
             INSERT INTO customers SELECT seq, CONCAT('c', seq) FROM seq_1_to_50; \
             INSERT INTO orders (id, customer, amount) SELECT seq, 1 + seq % 50, seq FROM seq_1_to_1000; \
             INSERT INTO items SELECT seq, 1 + seq % 1000, CONCAT('s', seq) FROM seq_1_to_3000; \
             INSERT INTO notes SELECT seq, IF(seq % 4 = 0, NULL, 1 + seq % 50), 'n' FROM seq_1_to_400",
        )
        .build(&srv)
        .await;
    let repo = crate::harness::repo_init(lb);
    let r = repo.as_str();
    let extra = socket_args(&srv);
    let o = lb.run(&with(&["backup", "--repo", r], &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // After the backup: children only the archive knows of.
    srv.exec(
        "USE shop; INSERT INTO orders (id, customer, amount) SELECT 1000 + seq, 1 + seq % 10, seq FROM seq_1_to_100; \
         INSERT INTO items SELECT 3000 + seq, 1001 + seq % 100, 'late' FROM seq_1_to_200; \
         UPDATE orders SET amount = amount + 1 WHERE customer <= 10 AND id % 3 = 0",
    )
    .await;
    srv.exec("CREATE DATABASE twin").await;
    for t in CASCADE_TABLES {
        srv.exec(&format!(
            "CREATE TABLE twin.{t} LIKE shop.{t}; INSERT INTO twin.{t} SELECT * FROM shop.{t}"
        ))
        .await;
    }
    let mut c = srv.conn().await;
    let before: u64 = c
        .query_first("SELECT COUNT(*) FROM shop.items")
        .await
        .unwrap()
        .unwrap();
    // As an application that deletes some children itself first: those are logged, the
    // rest go by the cascade.
    srv.exec(
        "USE shop; START TRANSACTION; \
         DELETE FROM items WHERE order_id IN (SELECT id FROM orders WHERE customer = 1); \
         DELETE FROM customers WHERE id <= 10; COMMIT",
    )
    .await;
    let after: u64 = c
        .query_first("SELECT COUNT(*) FROM shop.items")
        .await
        .unwrap()
        .unwrap();
    assert!(after < before, "the delete cascaded");
    // Later writes, done to the twin too.
    let later = "INSERT INTO {db}.customers VALUES (100, 'new'); \
                 UPDATE {db}.notes SET body = 'later' WHERE customer > 20";
    srv.exec(&later.replace("{db}", "shop")).await;
    srv.exec(&later.replace("{db}", "twin")).await;
    srv.exec("INSERT INTO shop.orders (id, customer, amount) VALUES (5000, 100, 1)")
        .await;
    srv.exec("INSERT INTO twin.orders SELECT * FROM shop.orders WHERE id = 5000")
        .await;
    let o = lb.run(&with(&["archive", "--once", "--repo", r], &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = lb.run(&["incidents", "--repo", r, "--json", "--min-rows", "5"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    let incident = v["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "delete")
        .unwrap_or_else(|| panic!("{v}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (srv, repo, incident)
}

/// The four tables equal their twins.
async fn cascade_tables_equal_twins(srv: &TestServer, v: &Value) {
    let mut c = srv.conn().await;
    for t in CASCADE_TABLES {
        assert_eq!(
            checksum_of(&mut c, &format!("shop.{t}")).await,
            checksum_of(&mut c, &format!("twin.{t}")).await,
            "shop.{t}: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reversed_delete_on_a_parent_brings_back_its_cascaded_children() {
    let lb = Lb::new();
    let (srv, repo, incident) = cascade_incident(&lb).await;
    let r = repo.as_str();
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let mut c = srv.conn().await;
    // MySQL 9.7 logs the cascade's rows (SQL-layer foreign keys); MariaDB does not, and
    // binlog files alone cannot put the children back: refused, naming why.
    let files = binlogs(&srv).await;
    let mut dry = vec![
        "flashback",
        "--incident",
        incident.as_str(),
        "--apply",
        "--dry-run",
    ];
    dry.extend(files.iter().map(String::as_str));
    let o = lb.run(&with(&dry, &extra));
    if srv.is_mysql() {
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    } else {
        assert_eq!(code(&o), 3, "{}", stderr(&o));
        assert!(stderr(&o).contains("below the binlog"), "{}", stderr(&o));
        assert!(stderr(&o).contains("--repo"), "{}", stderr(&o));
        // Nor can a script: it would put the parents back without their children.
        let out = lb.home.path().join("undo.sql");
        let out = out.to_str().unwrap();
        let mut script = vec!["flashback", "--incident", incident.as_str(), "--out", out];
        script.extend(files.iter().map(String::as_str));
        let o = lb.run(&with(&script, &extra));
        assert_eq!(code(&o), 3, "{}", stderr(&o));
        assert!(stderr(&o).contains("--repo"), "{}", stderr(&o));
    }
    let base = [
        "flashback",
        "--incident",
        incident.as_str(),
        "--repo",
        r,
        "--apply",
        "--confirm-server",
        id.as_str(),
        "--json",
    ];
    let o = lb.run(&with(&base, &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["conflicts_total"], 0, "{v}");
    assert_eq!(v["rows"]["rows"]["shop.customers"]["insert"], 10, "{v}");
    let gone: u64 = c
        .query_first("SELECT COUNT(*) FROM twin.orders WHERE customer <= 10")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v["rows"]["rows"]["shop.orders"]["insert"], gone, "{v}");
    if srv.is_mysql() {
        assert!(v.get("rebuilt_cascade").is_none(), "{v}");
    } else {
        // Rebuilt in a side instance: the orders and items deleted, the notes set to NULL.
        assert_eq!(v["rebuilt_cascade"]["shop.orders"], gone, "{v}");
        assert!(
            v["rebuilt_cascade"]["shop.items"].as_u64().unwrap() > 0,
            "{v}"
        );
        assert!(
            v["rebuilt_cascade"]["shop.notes"].as_u64().unwrap() > 0,
            "{v}"
        );
        assert_eq!(
            v["rows"]["rows"]["shop.notes"]["update"], v["rebuilt_cascade"]["shop.notes"],
            "{v}"
        );
    }
    cascade_tables_equal_twins(&srv, &v).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_script_of_a_cascaded_delete_puts_the_children_back_too() {
    let lb = Lb::new();
    let (srv, repo, incident) = cascade_incident(&lb).await;
    let extra = socket_args(&srv);
    let out = lb.home.path().join("undo.sql");
    let args = [
        "flashback",
        "--incident",
        incident.as_str(),
        "--repo",
        repo.as_str(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ];
    let o = lb.run(&with(&args, &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text.contains("rebuilt-cascade"),
        !srv.is_mysql(),
        "MariaDB's children come from the rebuild, MySQL 9.7's from its binlog"
    );
    let o = srv
        .client()
        .stdin(std::fs::File::open(&out).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    cascade_tables_equal_twins(&srv, &v).await;
}

#[tokio::test]
async fn columns_moved_since_are_refused_when_the_binlog_has_no_column_names() {
    // No column names in the binlog (MariaDB's default; MySQL's MINIMAL).
    let srv = TestServer::start_with(|o| {
        o.binlog = true;
        o.server_settings.push("binlog_row_metadata=MINIMAL".into());
    })
    .await;
    Shop::empty()
        .with(
            "USE shop; CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT) ENGINE=InnoDB; \
             INSERT INTO t SELECT seq, seq, -seq FROM seq_1_to_200",
        )
        .build(&srv)
        .await;
    srv.exec("FLUSH BINARY LOGS").await;
    srv.exec("DELETE FROM shop.t WHERE id <= 100").await;
    // In a later file: the archive's later files are read for it.
    srv.exec("FLUSH BINARY LOGS").await;
    // Same types, other order: the rows' values would land in the wrong columns.
    srv.exec("ALTER TABLE shop.t MODIFY b INT AFTER id").await;
    let lb = Lb::new();
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let files = binlogs(&srv).await;
    let incident = first_incident(&lb, &files);
    let mut c = srv.conn().await;
    let before = checksum_of(&mut c, "shop.t").await;
    let mut args = vec!["flashback", "--incident", incident.as_str()];
    args.extend(["--apply", "--confirm-server", id.as_str()]);
    args.extend(files.iter().map(String::as_str));
    let o = lb.run(&with(&args, &extra));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("shop.t") && e.contains("column names"), "{e}");
    assert!(e.contains("ALTER TABLE"), "{e}");
    assert_eq!(
        checksum_of(&mut c, "shop.t").await,
        before,
        "nothing written"
    );
    // The same from the archive.
    let repo = crate::harness::repo_init(&lb);
    let o = lb.run(&with(
        &["archive", "--once", "--repo", repo.as_str()],
        &extra,
    ));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut args = vec!["flashback", "--incident", incident.as_str(), "--repo"];
    args.extend([repo.as_str(), "--apply", "--confirm-server", id.as_str()]);
    let o = lb.run(&with(&args, &extra));
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("column names") && e.contains("ALTER TABLE"),
        "{e}"
    );
    assert_eq!(
        checksum_of(&mut c, "shop.t").await,
        before,
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recover_replace_of_a_live_parent_points_its_children_at_the_recovered_table() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    Shop::empty()
        .with(
            "USE shop; \
             CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB; \
             INSERT INTO customers SELECT seq, CONCAT('c', seq) FROM seq_1_to_20; \
             CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL, \
               CONSTRAINT orders_customer FOREIGN KEY (customer) REFERENCES customers (id)) ENGINE=InnoDB; \
             INSERT INTO orders SELECT seq, 1 + seq % 20 FROM seq_1_to_100",
        )
        .build(&srv)
        .await;
    let lb = Lb::new();
    let repo = crate::harness::repo_init(&lb);
    let r = repo.as_str();
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let o = lb.run(&with(&["backup", "--repo", r], &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    srv.exec("USE shop; INSERT INTO shop.customers SELECT seq, 'later' FROM seq_21_to_25")
        .await;
    let mut c = srv.conn().await;
    let before = checksum_of(&mut c, "shop.customers").await;
    srv.exec("UPDATE shop.customers SET name = 'oops'").await;
    // Written since: a customer and its order (the order's parent is not recovered).
    srv.exec(
        "INSERT INTO shop.customers VALUES (30, 'new'); INSERT INTO shop.orders VALUES (500, 30)",
    )
    .await;
    let o = lb.run(&with(&["archive", "--once", "--repo", r], &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let incident = incidents_in(&lb, r)
        .into_iter()
        .find(|(_, k)| k == "update_without_where")
        .unwrap()
        .0;
    let o = lb.run(&with(
        &[
            "recover",
            "--before-incident",
            incident.as_str(),
            "--tables",
            "shop.customers",
            "--mode",
            "replace",
            "--repo",
            r,
            "--confirm-server",
            id.as_str(),
            "--json",
        ],
        &extra,
    ));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(checksum_of(&mut c, "shop.customers").await, before, "{v}");
    let children = &v["tables"][0]["children"];
    assert_eq!(children[0]["key"], "shop.orders (orders_customer)", "{v}");
    assert_eq!(children[0]["orphans"], 1, "{v}");
    // The child's key points at the recovered table, and nothing points at the one aside.
    let points: Vec<String> = c
        .query_map(
            "SELECT REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = 'shop' AND TABLE_NAME = 'orders'",
            |t: String| t,
        )
        .await
        .unwrap();
    assert_eq!(points, vec!["customers".to_owned()]);
    assert!(
        c.query_drop("INSERT INTO shop.orders VALUES (501, 999)")
            .await
            .is_err(),
        "the foreign key is enforced"
    );
    c.query_drop("INSERT INTO shop.orders VALUES (502, 3)")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_dry_run_counts_keys_touched_twice_as_the_real_run_does() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    Shop::empty()
        .with(
            "USE shop; CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(10)) ENGINE=InnoDB; \
             INSERT INTO t SELECT seq, seq, 'x' FROM seq_1_to_300",
        )
        .build(&srv)
        .await;
    let mut c = srv.conn().await;
    let before = checksum_of(&mut c, "shop.t").await;
    srv.exec("FLUSH BINARY LOGS").await;
    // One transaction touches the same keys more than once, as sysbench does.
    srv.exec(
        "USE shop; START TRANSACTION; DELETE FROM t WHERE id <= 100; \
         INSERT INTO t SELECT seq, 0, 'y' FROM seq_1_to_100; \
         UPDATE t SET a = a + 1 WHERE id <= 50; COMMIT",
    )
    .await;
    let lb = Lb::new();
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let files = binlogs(&srv).await;
    let from = start_of_last(&files);
    let mut args = vec!["flashback", "--from", from.as_str(), "--apply", "--json"];
    args.extend(files.iter().map(String::as_str));
    let mut dry = args.clone();
    dry.push("--dry-run");
    let o = lb.run(&with(&dry, &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let planned = json(&o);
    assert_eq!(planned["conflicts_total"], 0, "{planned}");
    let counts = planned["rows"]["rows"]["shop.t"].clone();
    assert_eq!(counts["insert"], 100, "{planned}");
    assert_eq!(counts["delete"], 100, "{planned}");
    assert_eq!(counts["update"], 50, "{planned}");
    args.extend(["--confirm-server", id.as_str()]);
    let o = lb.run(&with(&args, &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let done = json(&o);
    assert_eq!(done["rows"]["rows"]["shop.t"], counts, "{done}");
    assert_eq!(checksum_of(&mut c, "shop.t").await, before);
}

/// `shop.payment` with a twin, then a DELETE of 900 rows and an UPDATE of 300 written with
/// compression on (`on`; off again by `off`); the last binlog file holds an event whose kind
/// contains `kind`. Returns the binlog files.
async fn compressed_changes(srv: &TestServer, on: &str, off: &str, kind: &str) -> Vec<String> {
    srv.exec("CREATE TABLE shop.twin LIKE shop.payment; INSERT INTO shop.twin SELECT * FROM shop.payment")
        .await;
    srv.exec(on).await;
    srv.exec("FLUSH BINARY LOGS").await;
    // A new session: the setting is read per connection.
    srv.exec("DELETE FROM shop.payment WHERE customer < 30; UPDATE shop.payment SET note = 'x' WHERE customer BETWEEN 30 AND 39")
        .await;
    srv.exec(off).await;
    let files = binlogs(srv).await;
    let last = std::path::Path::new(files.last().unwrap())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut c = srv.conn().await;
    let kinds: Vec<String> = c
        .query_map(
            format!("SHOW BINLOG EVENTS IN '{last}'"),
            |r: mysql_async::Row| r.get::<String, _>(2).unwrap_or_default(),
        )
        .await
        .unwrap();
    assert!(
        kinds.iter().any(|k| k.to_lowercase().contains(kind)),
        "{kinds:?}"
    );
    files
}

#[tokio::test]
async fn compressed_row_events_are_undone_mariadb_only() {
    let srv = payments().await;
    let files = compressed_changes(
        &srv,
        "SET GLOBAL log_bin_compress = ON; SET GLOBAL log_bin_compress_min_len = 10",
        "SET GLOBAL log_bin_compress = OFF",
        "compressed",
    )
    .await;
    let lb = Lb::new();
    let mut c = srv.conn().await;
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let from = start_of_last(&files);
    let mut args = vec![
        "flashback",
        "--from",
        from.as_str(),
        "--apply",
        "--confirm-server",
        id.as_str(),
        "--json",
    ];
    args.extend(files.iter().map(String::as_str));
    let o = lb.run(&with(&args, &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["rows"]["rows"]["shop.payment"]["insert"], 900, "{v}");
    assert_eq!(v["rows"]["rows"]["shop.payment"]["update"], 300, "{v}");
    assert_eq!(
        checksum_of(&mut c, "shop.payment").await,
        checksum_of(&mut c, "shop.twin").await
    );
}

#[tokio::test]
async fn compressed_transactions_are_undone_mysql_only() {
    let srv = payments().await;
    let files = compressed_changes(
        &srv,
        "SET GLOBAL binlog_transaction_compression = ON",
        "SET GLOBAL binlog_transaction_compression = OFF",
        "transaction_payload",
    )
    .await;
    let lb = Lb::new();
    let mut c = srv.conn().await;
    let extra = socket_args(&srv);
    let id = identity(&lb, &srv);
    let from = start_of_last(&files);
    // The script first: it reads the same decompressed events.
    let out = lb.home.path().join("undo.sql");
    let mut script = vec!["flashback", "--from", from.as_str(), "--json"];
    script.extend(["--out", out.to_str().unwrap()]);
    script.extend(files.iter().map(String::as_str));
    let o = lb.run(&with(&script, &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let w = json(&o);
    assert_eq!(w["rows"]["rows"]["shop.payment"]["insert"], 900, "{w}");
    assert_eq!(w["rows"]["rows"]["shop.payment"]["update"], 300, "{w}");
    assert_eq!(
        w["plan"]["files"].as_array().unwrap().len(),
        files.len(),
        "{w}"
    );
    let mut args = vec![
        "flashback",
        "--from",
        from.as_str(),
        "--apply",
        "--confirm-server",
        id.as_str(),
        "--json",
    ];
    args.extend(files.iter().map(String::as_str));
    let o = lb.run(&with(&args, &extra));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["rows"]["rows"]["shop.payment"]["insert"], 900, "{v}");
    assert_eq!(v["rows"]["rows"]["shop.payment"]["update"], 300, "{v}");
    assert_eq!(v["verified"], 1200, "{v}");
    assert_eq!(
        checksum_of(&mut c, "shop.payment").await,
        checksum_of(&mut c, "shop.twin").await
    );
}
