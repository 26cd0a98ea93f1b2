//! The Sakila tablespaces MySQL 5.7 and 8.0 wrote: every page's checksum is valid, the
//! format is recognized, and every index holds one record per row of its table.

use std::path::PathBuf;

use lifeboat_innodb::{FspHeader, Inspector, Report, Vendor};

/// Sakila's row counts.
const ROWS: [(&str, u64); 14] = [
    ("actor", 200),
    ("address", 603),
    ("category", 16),
    ("city", 600),
    ("country", 109),
    ("customer", 599),
    ("film", 1000),
    ("film_actor", 5462),
    ("film_category", 1000),
    ("film_text", 1000),
    ("inventory", 4581),
    ("language", 6),
    ("staff", 2),
    ("store", 2),
];

fn inspect(version: &str, table: &str) -> Report {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/data/innodb_ruby-sakila",
        version,
        &format!("{table}.ibd"),
    ]
    .iter()
    .collect();
    let bytes = std::fs::read(&path).unwrap();
    let fsp = FspHeader::parse(&bytes).expect("page 0");
    let size = fsp.flags.page_size;
    let mut ins = Inspector::new(size, Some(fsp));
    for (n, page) in bytes.chunks(size).enumerate() {
        ins.page(n as u64, page);
    }
    ins.finish()
}

#[test]
fn mysql_57_and_80_sakila_tablespaces() {
    for version in ["5.7", "8.0"] {
        for (table, rows) in ROWS {
            let r = inspect(version, table);
            let what = format!("{version} {table}: {r:#?}");
            assert_eq!(r.page_size, 16384, "{what}");
            assert_eq!(r.invalid_pages, 0, "{what}");
            assert_eq!(r.misplaced_pages, 0, "{what}");
            assert!(
                r.checksums_valid.get("crc32").copied().unwrap_or(0) > 0,
                "{what}"
            );
            if version == "8.0" {
                assert_eq!(r.vendor, Vendor::Mysql, "{what}");
                assert!(r.page_types.contains_key("sdi"), "{what}");
            }
            assert!(!r.indexes.is_empty(), "{what}");
            for ix in &r.indexes {
                assert_eq!(ix.records, rows, "{what}");
                assert_eq!(ix.broken_pages, 0, "{what}");
                assert!(ix.root_page.is_some(), "{what}");
            }
        }
    }
}

#[test]
fn random_and_truncated_input_never_panics() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/innodb_ruby-sakila/5.7/film.ibd"
    ))
    .unwrap();
    // Every page with bytes flipped, and cut short at odd lengths.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for (n, page) in bytes.chunks(16384).enumerate() {
        let mut p = page.to_vec();
        for _ in 0..64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed as usize) % p.len();
            p[at] = (seed >> 32) as u8;
        }
        let mut ins = Inspector::new(16384, None);
        ins.page(n as u64, &p);
        ins.page(n as u64, &p[..p.len() / 3]);
        let _ = ins.finish();
        let _ = lifeboat_innodb::fsp::detect_page_size(&p);
    }
}
