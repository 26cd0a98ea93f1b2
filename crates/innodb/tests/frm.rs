//! .frm files MariaDB 10.11 wrote (`tests/data/frm`, made by the statements below) read
//! back into CREATE TABLE statements that the schema reader takes.
//!
//! f1: `CREATE TABLE f1 (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, name
//! VARCHAR(50) CHARACTER SET utf8mb4 NOT NULL DEFAULT 'x', c CHAR(7) CHARACTER SET latin1,
//! amount DECIMAL(10,3), kind ENUM('a','bb','ccc'), fl SET('x','y'), t DATETIME(3), b BLOB,
//! neg BIGINT, KEY (name)) ENGINE=InnoDB` (default character set latin1).
//!
//! f2: every other type, a plugin type, an invisible column, a VIRTUAL column, a comment, a
//! two-column primary key and a prefix key, ROW_FORMAT=COMPACT.

use lifeboat_innodb::{frm, schema};

fn read(name: &str) -> String {
    let path = format!("{}/tests/data/frm/{name}.frm", env!("CARGO_MANIFEST_DIR"));
    frm::create_table(&std::fs::read(path).unwrap(), name).unwrap()
}

#[test]
fn column_types_keys_and_charsets_come_back() {
    let f1 = read("f1");
    assert_eq!(
        f1,
        "CREATE TABLE `f1` (
  `id` INT UNSIGNED NOT NULL,
  `name` VARCHAR(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL,
  `c` CHAR(7) CHARACTER SET latin1 COLLATE latin1_swedish_ci NULL,
  `amount` DECIMAL(10,3) NULL,
  `kind` ENUM('a','bb','ccc') CHARACTER SET latin1 COLLATE latin1_swedish_ci NULL,
  `fl` SET('x','y') CHARACTER SET latin1 COLLATE latin1_swedish_ci NULL,
  `t` DATETIME(3) NULL,
  `b` BLOB NULL,
  `neg` BIGINT NULL,
  PRIMARY KEY (`id`),
  KEY `name` (`name`)
) ENGINE=InnoDB"
    );
    let s = schema::parse_create_table(&f1).unwrap();
    assert_eq!(s.columns.len(), 9);
    assert_eq!(s.clustered, vec![0]);

    let f2 = read("f2");
    for part in [
        "`a` TINYINT NULL",
        "`b` SMALLINT UNSIGNED NOT NULL",
        "`c` MEDIUMINT NOT NULL",
        "`d` FLOAT NULL",
        "`f` DECIMAL(5,0) UNSIGNED NULL",
        "`tm` TIME(2) NULL",
        "`ts` TIMESTAMP(6) NULL",
        "`dtt` DATETIME NULL",
        "`bt` BIT(13) NULL",
        "`vb` VARBINARY(20) NULL",
        "`bn` BINARY(4) NULL",
        "`tt` TINYTEXT CHARACTER SET utf8mb4",
        "`lb` LONGBLOB NULL",
        "`g` POINT NULL",
        "`j` LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL",
        "`u` BINARY(16) /* uuid */ NULL",
        "`v` VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL INVISIBLE",
        "`s` VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL COMMENT 'hello'",
        "PRIMARY KEY (`b`, `c`)",
        "UNIQUE KEY `vb` (`vb`(5))",
        ") ENGINE=InnoDB ROW_FORMAT=COMPACT",
    ] {
        assert!(f2.contains(part), "{part} not in\n{f2}");
    }
    assert!(
        !f2.contains("`gc`"),
        "the VIRTUAL column is not stored:\n{f2}"
    );
    let s = schema::parse_create_table(&f2).unwrap();
    assert_eq!(s.columns.len(), 23);
    assert_eq!(s.clustered, vec![1, 2]);
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let path = format!("{}/tests/data/frm/f2.frm", env!("CARGO_MANIFEST_DIR"));
    let good = std::fs::read(path).unwrap();
    for cut in [0, 1, 10, 64, 100, 300, 1000, good.len() - 1] {
        let _ = frm::create_table(&good[..cut], "t");
    }
    for at in (0..good.len()).step_by(7) {
        let mut bad = good.clone();
        bad[at] ^= 0xa5;
        let _ = frm::create_table(&bad, "t");
    }
    assert!(frm::create_table(b"not a frm file", "t").is_err());
}
