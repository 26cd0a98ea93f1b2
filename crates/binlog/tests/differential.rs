//! Differential test against the `mysql_common` crate on the MySQL fixture files: the same
//! events (type, size, end position), the same rows, the same present columns, NULLs,
//! integers, floats, strings and DECIMALs. Files mysql_common cannot read (it panics or
//! errors on some truncated and corrupt ones) are skipped; MariaDB files are outside its scope.

use std::path::PathBuf;

use lifeboat_binlog::{Decoder, Event, FileReader, Value};
use mysql_common::binlog::BinlogFile;
use mysql_common::binlog::consts::BinlogVersion;
use mysql_common::binlog::events::EventData;
use mysql_common::binlog::value::BinlogValue;

struct Theirs {
    events: Vec<(u8, u32, u32)>,
    /// Per row event: per row, per image, per present column: a comparable text.
    rows: Vec<Vec<Vec<Vec<String>>>>,
}

fn value_text(v: &mysql_common::Value) -> Option<String> {
    use mysql_common::Value as V;
    Some(match v {
        V::NULL => "NULL".into(),
        V::Int(i) => format!("int {i}"),
        V::UInt(u) => format!("int {u}"),
        V::Float(f) => format!("float {}", f64::from(*f)),
        V::Double(d) => format!("float {d}"),
        V::Bytes(b) => format!("bytes {b:?}"),
        _ => return None,
    })
}

fn theirs(path: &std::path::Path) -> Option<Theirs> {
    let f = std::fs::File::open(path).ok()?;
    let file = BinlogFile::new(BinlogVersion::Version4, std::io::BufReader::new(f)).ok()?;
    let mut out = Theirs {
        events: Vec::new(),
        rows: Vec::new(),
    };
    let mut maps = std::collections::HashMap::new();
    for ev in file {
        let ev = ev.ok()?;
        let h = ev.header();
        out.events
            .push((h.event_type_raw(), h.event_size(), h.log_pos()));
        match ev.read_data().ok()? {
            Some(EventData::TableMapEvent(t)) => {
                maps.insert(t.table_id(), t.into_owned());
            }
            Some(EventData::RowsEvent(r)) => {
                let t = maps.get(&r.table_id())?;
                let mut rows = Vec::new();
                for row in r.rows(t) {
                    let (before, after) = row.ok()?;
                    let mut images = Vec::new();
                    for img in [before, after].into_iter().flatten() {
                        let vals = img.unwrap();
                        images.push(
                            vals.iter()
                                .map(|v| match v {
                                    BinlogValue::Value(v) => {
                                        value_text(v).unwrap_or_else(|| "other".into())
                                    }
                                    _ => "other".into(),
                                })
                                .collect(),
                        );
                    }
                    rows.push(images);
                }
                out.rows.push(rows);
            }
            _ => {}
        }
    }
    Some(out)
}

/// Our value in their terms: the text, and for integers the other signedness reading.
fn ours_text(v: &Value<'_>, col: &lifeboat_binlog::Column) -> (String, Option<String>) {
    match v {
        Value::Null => ("NULL".into(), None),
        Value::Int(raw) => match v.render(col) {
            lifeboat_binlog::Rendered::Number(n) => {
                (format!("int {n}"), Some(format!("int {raw}")))
            }
            _ => ("?".into(), None),
        },
        Value::Float(f) => (format!("float {}", f64::from(*f)), None),
        Value::Double(d) => (format!("float {d}"), None),
        Value::Bytes(b) | Value::Geometry(b) | Value::Vector(b) => (format!("bytes {b:?}"), None),
        Value::Decimal(t) => (format!("bytes {:?}", t.as_bytes()), None),
        _ => ("other".into(), None),
    }
}

/// Per row: per image: per present column, our text and the other integer reading.
type OurRows = Vec<Vec<Vec<(String, Option<String>)>>>;

#[test]
fn events_and_rows_agree_with_mysql_common() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/mysql-common");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with("LICENSE-MIT"))
        .collect();
    files.sort();
    let (mut compared_files, mut compared_values) = (0, 0);
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(Some(t)) = std::panic::catch_unwind(|| theirs(&path)) else {
            continue;
        };
        let f = std::fs::File::open(&path).unwrap();
        let mut r = FileReader::new(std::io::BufReader::new(f), name.clone()).unwrap();
        let mut dec = Decoder::new();
        if r.format().is_mariadb() {
            continue;
        }
        let mut events = Vec::new();
        let mut row_events: Vec<OurRows> = Vec::new();
        let mut mariadb = false;
        while let Ok(Some((raw, fde))) = r.next_with_format() {
            mariadb |= fde.is_mariadb();
            events.push((
                raw.header.type_code,
                raw.header.event_size,
                raw.header.log_pos,
            ));
            let Ok(ev) = dec.decode(fde, &raw) else {
                break;
            };
            if let Event::Rows(rows) = &ev {
                let table = dec.table(rows.table_id).unwrap();
                let mut per_row = Vec::new();
                for row in rows.rows(table).unwrap() {
                    let row = row.unwrap();
                    let mut images = Vec::new();
                    for img in [&row.before, &row.after].into_iter().flatten() {
                        images.push(
                            table
                                .columns
                                .iter()
                                .zip(&img.values)
                                .filter_map(|(c, v)| v.as_ref().map(|v| ours_text(v, c)))
                                .collect::<Vec<_>>(),
                        );
                    }
                    per_row.push(images);
                }
                row_events.push(per_row);
            }
        }
        if mariadb {
            continue;
        }
        // Events: the same sequence, as far as mysql_common got.
        let n = t.events.len().min(events.len());
        assert_eq!(&t.events[..n], &events[..n], "{name}: event streams differ");
        assert_eq!(
            t.rows.len(),
            row_events.len(),
            "{name}: row event counts differ"
        );
        for (i, (their_ev, our_ev)) in t.rows.iter().zip(&row_events).enumerate() {
            assert_eq!(
                their_ev.len(),
                our_ev.len(),
                "{name}: row event {i}: row counts"
            );
            for (their_row, our_row) in their_ev.iter().zip(our_ev) {
                assert_eq!(
                    their_row.len(),
                    our_row.len(),
                    "{name}: row event {i}: images"
                );
                for (their_img, our_img) in their_row.iter().zip(our_row) {
                    assert_eq!(
                        their_img.len(),
                        our_img.len(),
                        "{name}: row event {i}: present columns"
                    );
                    for (th, (text, alt)) in their_img.iter().zip(our_img) {
                        if th == "other" || text == "other" {
                            continue;
                        }
                        assert!(
                            th == text || Some(th) == alt.as_ref(),
                            "{name}: row event {i}: mysql_common {th}, lifeboat {text}"
                        );
                        compared_values += 1;
                    }
                }
            }
        }
        compared_files += 1;
    }
    eprintln!("compared {compared_files} files, {compared_values} values");
    assert!(compared_files >= 25, "only {compared_files} files compared");
    assert!(
        compared_values >= 100,
        "only {compared_values} values compared"
    );
}
