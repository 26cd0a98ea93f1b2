//! Every input that once failed a fuzz target (`tests/data/fuzz/<target>/`), replayed
//! through the same round-trip check, so that a fixed failure stays fixed.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8]) -> Result<(), String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(e) = check(&data) {
            panic!("{}: {e}", path.display());
        }
        n += 1;
    }
    assert!(n > 0, "no inputs in {}", dir.display());
}

#[test]
fn binlog_file_inputs_round_trip() {
    replay("binlog_file", lifeboat_binlog::roundtrip::file);
}

#[test]
fn binlog_rows_inputs_round_trip() {
    replay("binlog_rows", lifeboat_binlog::roundtrip::rows);
}
