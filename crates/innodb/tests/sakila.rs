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

/// The file's bytes and the leaf pages of its clustered index (the index of the lowest root
/// page), as page-sized slices' page numbers.
fn clustered_leaves(version: &str, table: &str) -> (Vec<u8>, Vec<usize>) {
    let path = format!(
        "{}/tests/data/innodb_ruby-sakila/{version}/{table}.ibd",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap();
    let clustered = inspect(version, table)
        .indexes
        .iter()
        .min_by_key(|i| i.root_page)
        .unwrap()
        .index_id;
    let leaves = bytes
        .chunks(16384)
        .enumerate()
        .filter(|(_, page)| {
            lifeboat_innodb::index::IndexPage::new(page).is_some_and(|ip| {
                u16::from_be_bytes([page[24], page[25]]) == 17855
                    && ip.header.index_id == clustered
                    && ip.header.level == 0
            })
        })
        .map(|(n, _)| n)
        .collect();
    (bytes, leaves)
}

/// Page `n` of `bytes`, as an index page.
fn leaf(bytes: &[u8], n: usize) -> (&[u8], lifeboat_innodb::index::IndexPage<'_>) {
    let page = &bytes[n * 16384..(n + 1) * 16384];
    (page, lifeboat_innodb::index::IndexPage::new(page).unwrap())
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

/// Sakila's CREATE TABLE statements, by table.
fn sakila_schema() -> Vec<(String, lifeboat_innodb::schema::TableSchema)> {
    let sql = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cli/tests/fixtures/sakila-schema.sql"
    ))
    .unwrap();
    sql.split("CREATE TABLE")
        .skip(1)
        .map(|part| {
            let end = part.find(";\n").unwrap_or(part.len());
            let stmt = format!("CREATE TABLE{}", &part[..end]);
            let s = lifeboat_innodb::schema::parse_create_table(&stmt)
                .unwrap_or_else(|e| panic!("{e}: {stmt}"));
            (s.table.clone(), s)
        })
        .collect()
}

#[test]
fn sakila_rows_decode_with_the_create_table_statements() {
    use lifeboat_innodb::record::{Field, Layout, decode_with};
    let schemas = sakila_schema();
    for version in ["5.7", "8.0"] {
        for (table, rows) in ROWS {
            let schema = &schemas.iter().find(|(t, _)| t == table).unwrap().1;
            let layout = Layout::new(schema);
            let (bytes, leaves) = clustered_leaves(version, table);
            let mut decoded = 0u64;
            let mut first: Option<String> = None;
            for n in leaves {
                let (page, ip) = leaf(&bytes, n);
                for rec in ip.records() {
                    let rec = rec.unwrap();
                    let row = decode_with(page, rec.origin, schema, &layout)
                        .unwrap_or_else(|e| panic!("{version} {table}: {e}"));
                    assert!(row.trx_id > 0, "{version} {table}");
                    if first.is_none() {
                        first = Some(
                            row.fields
                                .iter()
                                .zip(&schema.columns)
                                .map(|(f, c)| match f {
                                    Field::Value(v) => format!("{:?}", v.render(c)),
                                    Field::Null => "NULL".into(),
                                    Field::External { .. } => "external".into(),
                                })
                                .collect::<Vec<_>>()
                                .join(" | "),
                        );
                    }
                    decoded += 1;
                }
            }
            assert_eq!(decoded, rows, "{version} {table}");
            if table == "actor" {
                assert_eq!(
                    first.as_deref(),
                    Some(
                        r#"Number("1") | Text("PENELOPE") | Text("GUINESS") | Text("2006-02-15 04:34:33")"#
                    ),
                    "{version}"
                );
            }
        }
    }
}

#[test]
fn a_definition_fits_its_own_pages_byte_for_byte_and_no_other_tables() {
    use lifeboat_innodb::record::fit;
    let schemas = sakila_schema();
    for version in ["5.7", "8.0"] {
        for (table, _) in ROWS {
            let (bytes, leaves) = clustered_leaves(version, table);
            let (mut pages, mut exact) = (0, 0);
            for n in leaves {
                let (_, ip) = leaf(&bytes, n);
                pages += 1;
                for (other, schema) in &schemas {
                    let f = fit(&ip, schema);
                    if other == table {
                        assert!(f.consistent, "{version} {table}: {f:?}");
                        exact += usize::from(f.exact);
                    } else if !same_layout(table, other) && f.records >= 10 {
                        // A page of a few rows can fit another definition by chance.
                        assert!(!f.exact, "{version} {table} page read as {other}: {f:?}");
                    }
                }
            }
            assert!(pages > 0, "{version} {table}: no leaf pages");
            // Tables updated after loading (address) have reused space on every page.
            if table != "address" {
                assert!(
                    exact * 2 >= pages,
                    "{version} {table}: {exact} of {pages} exact"
                );
            }
        }
    }
}

/// Tables whose records are laid out the same byte for byte (a one-byte integer, a string of
/// variable length in utf8, a TIMESTAMP): no definition-based check can tell them apart.
fn same_layout(a: &str, b: &str) -> bool {
    matches!((a, b), ("category", "language") | ("language", "category"))
}

#[test]
fn mysql_80_tables_decode_from_their_own_sdi() {
    use lifeboat_innodb::record::{Layout, decode_with};
    for (table, rows) in ROWS {
        let (bytes, _) = clustered_leaves("8.0", table);
        let mut page_of = |no: u32| -> Option<Vec<u8>> {
            bytes
                .get(no as usize * 16384..(no as usize + 1) * 16384)
                .map(<[u8]>::to_vec)
        };
        let mut ddl = None;
        for page in bytes.chunks(16384) {
            if u16::from_be_bytes([page[24], page[25]]) != 17853 {
                continue;
            }
            for r in lifeboat_innodb::sdi::records(page, &mut page_of) {
                let r = r.unwrap_or_else(|e| panic!("{table}: {e}"));
                if r.kind == lifeboat_innodb::sdi::SDI_TYPE_TABLE {
                    ddl = Some(lifeboat_innodb::sdi::create_table(&r.json).unwrap());
                }
            }
        }
        let ddl = ddl.unwrap_or_else(|| panic!("{table}: no SDI table record"));
        let schema = lifeboat_innodb::schema::parse_create_table(&ddl)
            .unwrap_or_else(|e| panic!("{table}: {e}\n{ddl}"));
        assert_eq!(schema.table, table);
        let layout = Layout::new(&schema);
        let (bytes, leaves) = clustered_leaves("8.0", table);
        let mut decoded = 0;
        for n in leaves {
            let (page, ip) = leaf(&bytes, n);
            for rec in ip.records() {
                decode_with(page, rec.unwrap().origin, &schema, &layout)
                    .unwrap_or_else(|e| panic!("{table}: {e}\n{ddl}"));
                decoded += 1;
            }
        }
        assert_eq!(decoded, rows, "{table}\n{ddl}");
    }
}

/// Records MySQL 8 wrote after an instant ADD/DROP COLUMN carry a flag and a field count or
/// row version that is not decoded: they fail with a reason, never decode as a wrong row.
#[test]
fn mysql_8_instant_records_need_the_sdi() {
    use lifeboat_innodb::record::{Layout, decode_with};
    let schema = sakila_schema()
        .into_iter()
        .find(|(t, _)| t == "actor")
        .unwrap()
        .1;
    let layout = Layout::new(&schema);
    let (mut bytes, leaves) = clustered_leaves("8.0", "actor");
    let n = leaves[0];
    let origin = {
        let (_, ip) = leaf(&bytes, n);
        ip.records().next().unwrap().unwrap().origin
    };
    // A CREATE TABLE statement does not say which columns a row version holds, nor how
    // many fields a count names: such records are refused, never misread.
    let at = n * 16384 + origin - 5;
    let kept = bytes[at];
    for (flag, what) in [
        (0x40u8, "row version"),
        (0x80, "fields, the definition has"),
    ] {
        bytes[at] = kept | flag;
        let (page, _) = leaf(&bytes, n);
        let e = decode_with(page, origin, &schema, &layout).unwrap_err();
        assert!(e.reason.contains(what), "{e:?}");
    }
    bytes[at] = kept | 0xc0;
    let (page, _) = leaf(&bytes, n);
    let e = decode_with(page, origin, &schema, &layout).unwrap_err();
    assert!(e.reason.contains("both of MySQL's instant flags"), "{e:?}");
    bytes[at] = kept;
    let (page, _) = leaf(&bytes, n);
    assert!(decode_with(page, origin, &schema, &layout).is_ok());
}

/// Sakila's one off-page value, the staff picture (Mike Hillyer's PNG), as its data file
/// writes it in hex.
fn staff_picture() -> Vec<u8> {
    let sql = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cli/tests/fixtures/sakila-data.sql"
    ))
    .unwrap();
    let at = sql.find("INSERT INTO `staff` VALUES (1,").unwrap();
    let hex = &sql[at..];
    let hex = &hex[hex.find("0x").unwrap() + 2..];
    let hex = &hex[..hex.find(',').unwrap()];
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// The picture is off the page in both files: MySQL 5.7 chains BLOB pages, MySQL 8.0 keeps
/// its LOB format (a first page indexing data pages). Both read back byte for byte.
#[test]
fn the_staff_picture_reads_from_blob_and_lob_pages() {
    use lifeboat_innodb::record::{Field, Layout, decode_with};
    let want = staff_picture();
    assert!(want.len() > 30_000);
    let schemas = sakila_schema();
    let schema = &schemas.iter().find(|(t, _)| t == "staff").unwrap().1;
    let layout = Layout::new(schema);
    let picture = schema
        .columns
        .iter()
        .position(|c| c.name.as_deref() == Some("picture"))
        .unwrap();
    for version in ["5.7", "8.0"] {
        let (bytes, leaves) = clustered_leaves(version, "staff");
        let mut page_of = |no: u32| {
            bytes
                .get(no as usize * 16384..(no as usize + 1) * 16384)
                .map(<[u8]>::to_vec)
        };
        let mut read = 0;
        for n in leaves {
            let (page, ip) = leaf(&bytes, n);
            for rec in ip.records() {
                let row = decode_with(page, rec.unwrap().origin, schema, &layout).unwrap();
                let field = &row.fields[picture];
                if *field == Field::Null {
                    continue;
                }
                let all = field.read_external(&mut page_of).unwrap();
                assert!(all == want, "{version}: {} bytes", all.len());
                read += 1;
            }
        }
        assert_eq!(read, 1, "{version}");
        // Damage in the LOB's pages is an error naming it, never a panic.
        if version == "8.0" {
            let first = page_of(7).unwrap();
            assert_eq!(u16::from_be_bytes([first[24], first[25]]), 24);
            for at in [64, 68, 72, 96, 102, 144, 148, 150, 160, 700] {
                let mut damaged = first.clone();
                damaged[at] ^= 0x41;
                let _ = lifeboat_innodb::lob::read(7, &damaged, 1, want.len() as u64, &mut page_of);
            }
            let e = lifeboat_innodb::lob::read(7, &first, 1, want.len() as u64 + 1, &mut page_of)
                .unwrap_err();
            assert!(e.contains("ends after"), "{e}");
        }
    }
}

/// The SDI of MySQL 8's film.ibd names the table and its clustered index.
#[test]
fn the_sdi_names_the_table_and_its_clustered_index() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/innodb_ruby-sakila/8.0/film.ibd"
    ))
    .unwrap();
    let mut page_of = |no: u32| bytes.chunks(16384).nth(no as usize).map(<[u8]>::to_vec);
    let tables: Vec<_> = bytes
        .chunks(16384)
        .filter(|p| u16::from_be_bytes([p[24], p[25]]) == 17853)
        .flat_map(|p| lifeboat_innodb::sdi::records(p, &mut page_of))
        .filter_map(Result::ok)
        .filter(|r| r.kind == lifeboat_innodb::sdi::SDI_TYPE_TABLE)
        .map(|r| lifeboat_innodb::sdi::table_of(&r.json).unwrap())
        .collect();
    assert_eq!(
        tables,
        vec![lifeboat_innodb::sdi::SdiTable {
            schema: "sakila".into(),
            name: "film".into(),
            clustered_index: Some(167),
        }]
    );
}
