//! An undo log page MariaDB 10.11 left after DROP TABLE, purge and a slow shutdown (see
//! tests/data/undo/README.md): the dropped table's id and index id are still there.

use lifeboat_innodb::undo::{DroppedTable, dropped_tables};

#[test]
fn a_purged_drop_still_names_its_table_and_index_in_the_undo_log() {
    let page = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/undo/drop-people.page"
    ))
    .unwrap();
    assert_eq!(
        u16::from_be_bytes([page[24], page[25]]),
        2,
        "an undo log page"
    );
    assert_eq!(
        dropped_tables(&page, "shop/people"),
        vec![DroppedTable {
            table_id: 18,
            index_ids: vec![23]
        }]
    );
    // At any offset in other bytes.
    let mut hay = vec![0xc3u8; 777];
    hay.extend_from_slice(&page);
    assert_eq!(dropped_tables(&hay, "shop/people").len(), 1);
    assert!(dropped_tables(&page, "shop/persons").is_empty());
    // The carver's one-pass scanner points at the same record.
    let found = lifeboat_innodb::carve::Scanner::new(Some("shop/people")).scan(&hay);
    let field = lifeboat_innodb::undo::name_field("shop/people").unwrap();
    let tables: Vec<DroppedTable> = found
        .undo_names
        .iter()
        .filter_map(|&at| lifeboat_innodb::undo::dropped_table_at(&hay, at, &field))
        .collect();
    assert_eq!(tables, dropped_tables(&hay, "shop/people"));
}
