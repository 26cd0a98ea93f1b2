//! A ROW_FORMAT=COMPRESSED tablespace MariaDB 10.11 wrote (see tests/data/zip/README.md):
//! every page's checksum holds, every INDEX page expands, and every row decodes to the values
//! it was written with, the off-page ones read from their ZBLOB chains.

use lifeboat_innodb::index::IndexPage;
use lifeboat_innodb::record::{Field, Layout, decode_with, read_blob};
use lifeboat_innodb::{FspHeader, Inspector, checksum, compressed, schema};
use lifeboat_mysql_types::Value;

const DDL: &str = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR(40), qty INT NOT NULL, note TEXT, big LONGBLOB) ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8";

fn file() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/zip/t.ibd")).unwrap()
}

fn int(f: &Field<'_>) -> i64 {
    match f {
        Field::Value(Value::Int(n)) => *n as i64,
        other => panic!("not an integer: {other:?}"),
    }
}

#[test]
fn every_row_of_a_compressed_tablespace_decodes() {
    let bytes = file();
    let fsp = FspHeader::parse(&bytes).unwrap();
    assert_eq!(
        (fsp.flags.zip_size, fsp.flags.page_size),
        (Some(8192), 16384)
    );
    let mut ins = Inspector::new(8192, Some(fsp));
    for (n, page) in bytes.chunks(8192).enumerate() {
        assert!(checksum::verify(page, false).is_valid(), "page {n}");
        ins.page(n as u64, page);
    }
    let report = ins.finish();
    assert_eq!(report.invalid_pages, 0);
    assert_eq!(report.unexpanded_pages, 0);
    assert_eq!(report.indexes.len(), 1);
    assert_eq!(report.indexes[0].records, 3000);

    let schema = schema::parse_create_table(DDL).unwrap();
    let layout = Layout::new(&schema);
    let mut page_of = |no: u32| {
        let p = bytes.chunks(8192).nth(no as usize)?;
        Some(
            compressed::in_memory(p, Some(&fsp.flags))
                .ok()?
                .into_owned(),
        )
    };
    let mut ids = Vec::new();
    for page in bytes.chunks(8192) {
        if u16::from_be_bytes([page[24], page[25]]) != 17855 {
            continue;
        }
        let mem = compressed::in_memory(page, Some(&fsp.flags)).unwrap();
        assert_eq!(mem.len(), 16384);
        // The expanded page keeps the stored page's verdict.
        assert!(checksum::verify(&mem, false).is_valid());
        let ip = IndexPage::new(&mem).unwrap();
        if ip.header.level != 0 {
            continue;
        }
        for rec in ip.records() {
            let rec = rec.unwrap();
            let row = decode_with(&mem, rec.origin, &schema, &layout).unwrap();
            let id = int(&row.fields[0]);
            assert_eq!(
                row.fields[1],
                Field::Value(Value::Bytes(format!("name-{id}").as_bytes()))
            );
            assert_eq!(int(&row.fields[2]), id * 3);
            if id % 7 == 0 {
                assert_eq!(row.fields[3], Field::Null);
            } else {
                let c = char::from(b'A' + (id % 26) as u8);
                let note = c.to_string().repeat((id % 50) as usize);
                assert_eq!(row.fields[3], Field::Value(Value::Bytes(note.as_bytes())));
            }
            match &row.fields[4] {
                Field::Null => assert_ne!(id % 500, 0),
                Field::External {
                    page_no,
                    offset,
                    length,
                    ..
                } => {
                    let big = read_blob(*page_no, *offset, *length, &mut page_of).unwrap();
                    assert_eq!(big, format!("blob{id}").repeat(3000).into_bytes(), "{id}");
                }
                other => panic!("{id}: {other:?}"),
            }
            ids.push(id);
        }
    }
    ids.sort();
    assert_eq!(ids, (1..=3000).collect::<Vec<_>>());
}

#[test]
fn damaged_compressed_pages_fail_cleanly() {
    let bytes = file();
    for page in bytes.chunks(8192) {
        for cut in [0, 10, 94, 100, 200, 4000, 8191] {
            let _ = lifeboat_innodb::zip::expand(&page[..cut], 16384);
        }
        for at in [94, 97, 120, 300, 5000, 8000, 8190] {
            let mut p = page.to_vec();
            p[at] ^= 0x5a;
            // Either an error or a page; never a panic, never a wrong size.
            if let Ok(mem) = lifeboat_innodb::zip::expand(&p, 16384) {
                assert_eq!(mem.len(), 16384);
            }
        }
    }
}

/// In any bytes, at any offset: every compressed INDEX page is found by its header and zlib
/// stream and sized by its checksum, and every ZBLOB page is found and sized too.
#[test]
fn compressed_pages_are_carved_from_any_bytes() {
    use lifeboat_innodb::carve;
    let bytes = file();
    let mut hay: Vec<u8> = (0..300_001u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let at = hay.len() - 1000;
    hay.splice(at..at, bytes.iter().copied());
    let typed = |ty: u16| -> Vec<usize> {
        bytes
            .chunks(8192)
            .enumerate()
            .filter(|(_, p)| u16::from_be_bytes([p[24], p[25]]) == ty)
            .map(|(n, _)| at + n * 8192)
            .collect()
    };
    let index = typed(17855);
    assert!(index.len() > 5);
    assert_eq!(carve::zip_index_pages(&hay), index);
    // The one-pass scanner finds the same.
    let found = carve::Scanner::new(Some("db/t")).scan(&hay);
    assert_eq!(found.zip_index, index);
    assert!(found.index.is_empty() && found.page_compressed.is_empty());
    for &s in &index {
        assert_eq!(carve::zip_size_at(&hay, s, 16384), Some(8192));
    }
    // None of them is an uncompressed page's infimum.
    assert!(carve::index_pages(&hay).is_empty());
    let mut blobs = typed(11);
    blobs.extend(typed(12));
    blobs.sort();
    assert!(blobs.len() >= 6);
    let mut found = carve::off_page_pages(&hay);
    found.sort();
    assert_eq!(found, blobs.iter().map(|&s| (s, 8192)).collect::<Vec<_>>());
}
