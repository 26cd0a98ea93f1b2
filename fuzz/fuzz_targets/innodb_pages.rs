//! Any bytes as InnoDB pages: tablespace flags, page-size detection, checksum verdicts, page
//! and record headers, record and free-list walks, record decoding (with what an instant
//! ADD/DROP COLUMN left), page_compressed and ROW_FORMAT=COMPRESSED expansion, compressed
//! BLOBs, MySQL 8 LOBs and ZLOBs, the carver's page searches, DROPs in undo records (also as a
//! block-framed redo log), dictionary records and the definitions rebuilt from them, MySQL
//! 8 records under instant ADD/DROP COLUMN (row versions and field counts), SDI
//! documents, and MySQL 8's dictionary tables (records read as `mysql.ibd`'s, definitions
//! rebuilt from them). Nothing may panic or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat_innodb::{FspHeader, Inspector, fsp, index::IndexPage};

fuzz_target!(|data: &[u8]| {
    let fsp_header = FspHeader::parse(data);
    let size = fsp_header
        .map(|h| h.flags.page_size)
        .or_else(|| fsp::detect_page_size(data))
        .unwrap_or(4096);
    let mut ins = Inspector::new(size, fsp_header);
    let mut dict = lifeboat_innodb::dict::Dictionary::default();
    let schema = lifeboat_innodb::schema::parse_create_table(
        "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(300), b BLOB, c CHAR(3) NOT NULL, d INT)",
    )
    .expect("a valid definition");
    // MySQL 8: row versions (a column dropped in 1, one added in 2), and 8.0.12's count.
    let versioned = lifeboat_innodb::sdi::table_schema(VERSIONED).expect("a valid SDI");
    let counted = lifeboat_innodb::sdi::table_schema(COUNTED).expect("a valid SDI");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = lifeboat_innodb::sdi::table_schema(text);
    }
    let mut page_of = |no: u32| data.chunks(size).nth(no as usize).map(<[u8]>::to_vec);
    let docs = mysql_dictionary();
    let mut dd = lifeboat_innodb::dd::Reader::from_sdi(docs.iter().map(String::as_str))
        .expect("the dictionary tables' documents");
    for (n, page) in data.chunks(size).enumerate() {
        ins.page(n as u64, page);
        dict.page(page);
        dd.page(page, &mut page_of);
        // page_compressed expansion under every algorithm guess (the Inspector only tries
        // the one the flags name).
        for algorithm in [None, Some(1), Some(2)] {
            let _ = lifeboat_innodb::compressed::expand(page, algorithm);
        }
        // A ROW_FORMAT=COMPRESSED page, expanded whatever it looks like, and its records.
        if let Ok(p) = lifeboat_innodb::zip::expand(page, 16384)
            && let Some(ip) = IndexPage::new(&p)
        {
            let layout = lifeboat_innodb::record::Layout::new(&schema);
            for rec in ip.records().chain(ip.free_records()).take(200).flatten() {
                let _ = lifeboat_innodb::record::decode_with(&p, rec.origin, &schema, &layout);
            }
        }
        let _ = lifeboat_innodb::zip::read_zblob(n as u32, 1 << 20, &mut page_of);
        let _ = lifeboat_innodb::lob::read(n as u32, page, 1, 1 << 20, &mut page_of);
        let _ = lifeboat_innodb::lob::read_z(n as u32, page, 1, 1 << 20, &mut page_of);
        // Small inputs still reach the record walkers, at a 4 KiB page's scale.
        if let Some(ip) = IndexPage::new(page) {
            let _ = ip.records().count();
            let _ = ip.free_records().count();
            let mut layout = lifeboat_innodb::record::Layout::new(&schema);
            if let Some(n) = lifeboat_innodb::record::instant_core_fields(page) {
                layout.set_instant_core(n);
            }
            let _ = layout.learn_metadata(page, &schema, &mut page_of);
            for rec in ip.records().take(200).flatten() {
                let _ = lifeboat_innodb::record::decode_with(page, rec.origin, &schema, &layout);
            }
            let _ = lifeboat_innodb::record::fit_with(&ip, &schema, &layout);
            for s in [&versioned, &counted] {
                let layout = lifeboat_innodb::record::Layout::new(s);
                for rec in ip.records().take(200).flatten() {
                    let _ = lifeboat_innodb::record::decode_with(page, rec.origin, s, &layout);
                }
            }
        }
    }
    // The carver's searches over the whole input, every page it finds sized.
    for start in lifeboat_innodb::carve::zip_index_pages(data) {
        let _ = lifeboat_innodb::carve::zip_size_at(data, start, 16384);
    }
    let _ = lifeboat_innodb::carve::off_page_pages(data);
    for (start, size) in lifeboat_innodb::carve::page_compressed_pages(data) {
        if let Some(p) = data.get(start..start + size) {
            let _ = lifeboat_innodb::compressed::expand(p, None);
        }
    }
    let _ = lifeboat_innodb::undo::dropped_tables(data, "shop/people");
    let _ = lifeboat_innodb::redo::Header::parse(data);
    let log = lifeboat_innodb::redo::unframe(data);
    let _ = lifeboat_innodb::undo::dropped_tables(&log, "shop/people");
    let _ = lifeboat_innodb::dd::freed_tree_root(&log, 0, 166);
    let _ = lifeboat_innodb::dd::freed_tree_root(data, 0, 0);
    let _ = lifeboat_innodb::carve::Scanner::new(Some("shop/people")).scan(data);
    let _ = ins.finish();
    dd.finish(&mut dict);
    for t in dict.tables.clone() {
        if let Ok(d) = dict.definition(&t.name) {
            let _ = lifeboat_innodb::schema::parse_create_table(&d.create_sql);
            if let Some(doc) = &d.sdi {
                let _ = lifeboat_innodb::sdi::table_schema(doc);
            }
        }
    }
});

/// A MySQL 8 table document: `a` dropped in row version 1, `late` added in 2.
const VERSIONED: &str = r#"{"dd_object":{"name":"t","se_private_data":"","columns":[
{"name":"id","column_type_utf8":"int","hidden":1,"is_nullable":false,"se_private_data":"physical_pos=0;"},
{"name":"late","column_type_utf8":"int","hidden":1,"is_nullable":true,"se_private_data":"default=80000007;physical_pos=5;version_added=2;"},
{"name":"b","column_type_utf8":"varchar(300)","hidden":1,"is_nullable":true,"collation_id":255,"se_private_data":"physical_pos=4;"},
{"name":"!hidden!_dropped_v1_p3_a","column_type_utf8":"char(4)","hidden":2,"is_nullable":false,"se_private_data":"physical_pos=3;version_dropped=1;"}],
"indexes":[{"type":1,"elements":[{"hidden":false,"column_opx":0}]}]}}"#;

/// A MySQL 8.0.12–8.0.28 table document: `c` added by an instant ADD COLUMN.
const COUNTED: &str = r#"{"dd_object":{"name":"t","se_private_data":"instant_col=2;","columns":[
{"name":"id","column_type_utf8":"int","hidden":1,"is_nullable":false,"se_private_data":""},
{"name":"b","column_type_utf8":"varchar(300)","hidden":1,"is_nullable":true,"collation_id":255,"se_private_data":""},
{"name":"c","column_type_utf8":"varchar(3)","hidden":1,"is_nullable":true,"collation_id":255,"se_private_data":"default_null=1;"}],
"indexes":[{"type":1,"elements":[{"hidden":false,"column_opx":0}]}]}}"#;

/// SDI documents of MySQL 8's dictionary tables with the columns lifeboat reads, clustered
/// index ids 1 to 5.
fn mysql_dictionary() -> Vec<String> {
    let text = "mediumtext";
    let tables: [(&str, &[(&str, &str)]); 5] = [
        ("schemata", &[("id", "bigint unsigned"), ("name", "varchar(64)")]),
        (
            "tables",
            &[
                ("id", "bigint unsigned"),
                ("schema_id", "bigint unsigned"),
                ("name", "varchar(64)"),
                ("type", "enum('BASE TABLE','VIEW','SYSTEM VIEW')"),
                ("engine", "varchar(64)"),
                ("se_private_data", text),
            ],
        ),
        (
            "columns",
            &[
                ("id", "bigint unsigned"),
                ("table_id", "bigint unsigned"),
                ("name", "varchar(64)"),
                ("ordinal_position", "int unsigned"),
                ("hidden", "enum('Visible','SE','SQL','User')"),
                ("is_nullable", "tinyint(1)"),
                ("column_type_utf8", text),
                ("collation_id", "bigint unsigned"),
            ],
        ),
        (
            "indexes",
            &[
                ("id", "bigint unsigned"),
                ("table_id", "bigint unsigned"),
                ("name", "varchar(64)"),
                ("type", "enum('PRIMARY','UNIQUE','MULTIPLE','FULLTEXT','SPATIAL')"),
                ("ordinal_position", "int unsigned"),
                ("hidden", "tinyint(1)"),
                ("se_private_data", text),
            ],
        ),
        (
            "index_column_usage",
            &[
                ("index_id", "bigint unsigned"),
                ("ordinal_position", "int unsigned"),
                ("column_id", "bigint unsigned"),
                ("length", "int unsigned"),
                ("hidden", "tinyint(1)"),
            ],
        ),
    ];
    tables
        .iter()
        .enumerate()
        .map(|(n, (name, cols))| {
            let columns: Vec<serde_json::Value> = cols
                .iter()
                .map(|(c, t)| {
                    serde_json::json!({"name": c, "column_type_utf8": t, "hidden": 1,
                        "is_nullable": false, "collation_id": 83})
                })
                .collect();
            serde_json::json!({"dd_object": {"name": name, "schema_ref": "mysql",
                "columns": columns, "indexes": [{"type": 1, "se_private_data": format!("id={};", n + 1),
                "elements": [{"hidden": false, "column_opx": 0}]}]}})
            .to_string()
        })
        .collect()
}
