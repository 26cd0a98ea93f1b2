//! What undo logs keep of a DROP TABLE: the table id and index ids of the dropped table,
//! after purge has removed the dictionary's delete-marked records and a CREATE under the
//! same name has overwritten the space they left.
//!
//! DROP TABLE delete-marks the table's records in SYS_TABLES, SYS_COLUMNS, SYS_INDEXES and
//! SYS_FIELDS; each delete-mark writes an undo record (type 14) holding, after its header
//! (undo number, table id, info bits, the record's DB_TRX_ID and DB_ROLL_PTR), the record's
//! primary key fields as length + bytes, then the fields secondary indexes order by, as a
//! 2-byte total length and field number + length + bytes each. Measured on MariaDB 10.11:
//!
//! - SYS_TABLES: key `NAME`; ordering fields `0: NAME`, `3: ID` (the table id, 8 bytes).
//! - SYS_INDEXES: key `TABLE_ID` (8 bytes), `ID` (the index id, 8 bytes).
//!
//! So `len NAME` then `total 00 len NAME 03 08 ID` names a dropped table's id, and
//! `08 TABLE_ID 08 ID` nearby (the same transaction's records follow each other in its undo
//! log) its index ids. The bytes stay on the undo pages after purge until the pages are
//! reused; they are searched for in any bytes, as pages are carved.

/// A table a DROP left undo records of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTable {
    /// Its table id.
    pub table_id: u64,
    /// Its index ids, lowest (the clustered index, created first) first.
    pub index_ids: Vec<u64>,
}

impl DroppedTable {
    /// Adds the index ids another find of the same table named.
    pub fn absorb(&mut self, other: DroppedTable) {
        self.index_ids.extend(other.index_ids);
        self.index_ids.sort_unstable();
        self.index_ids.dedup();
    }
}

/// How far past the SYS_TABLES record the same DROP's SYS_INDEXES records are looked for
/// (a table's column records come between).
const WINDOW: usize = 32 << 10;

/// A length as undo records store it (InnoDB's compressed integer, 1 or 2 bytes here).
fn compressed_len(n: usize) -> Option<Vec<u8>> {
    match n {
        0..0x80 => Some(vec![n as u8]),
        0x80..0x4000 => Some(vec![0x80 | (n >> 8) as u8, n as u8]),
        _ => None,
    }
}

/// A table name as an undo record's field holds it: its length, then its bytes. `None`
/// for names too long to be a table's.
pub fn name_field(db_slash_name: &str) -> Option<Vec<u8>> {
    let name = db_slash_name.as_bytes();
    Some([compressed_len(name.len())?.as_slice(), name].concat())
}

/// The tables named `db_slash_name` whose DROP left undo records in `hay`.
pub fn dropped_tables(hay: &[u8], db_slash_name: &str) -> Vec<DroppedTable> {
    let Some(field) = name_field(db_slash_name) else {
        return Vec::new();
    };
    let mut out: Vec<DroppedTable> = Vec::new();
    for at in memchr::memmem::find_iter(hay, &field) {
        if let Some(t) = dropped_table_at(hay, at, &field) {
            merge(&mut out, t);
        }
    }
    out
}

/// Adds `t` to `tables`, its index ids to those of the same table id already there.
pub fn merge(tables: &mut Vec<DroppedTable>, t: DroppedTable) {
    match tables.iter_mut().find(|u| u.table_id == t.table_id) {
        Some(u) => u.absorb(t),
        None => tables.push(t),
    }
}

/// The table a SYS_TABLES delete-mark undo record names, when `field` ([`name_field`]) at
/// `at` of `hay` is that record's key, with the index ids the same DROP's SYS_INDEXES
/// records after it name.
pub fn dropped_table_at(hay: &[u8], at: usize, field: &[u8]) -> Option<DroppedTable> {
    // The ordering fields: `00 len NAME 03 08 ID`, after their 2-byte total length.
    let ordering_len = 1 + field.len() + 2 + 8;
    let rest = at + field.len();
    if crate::page::be::u16(hay, rest).map(usize::from) != Some(2 + ordering_len) {
        return None;
    }
    let o = rest + 2;
    if hay.get(o) != Some(&0)
        || hay.get(o + 1..o + 1 + field.len()) != Some(field)
        || hay.get(o + 1 + field.len()..o + 3 + field.len()) != Some([3u8, 8].as_slice())
    {
        return None;
    }
    let id_at = o + 3 + field.len();
    let table_id = hay
        .get(id_at..id_at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .filter(|&id| id != 0)?;
    let mut key = vec![8u8];
    key.extend_from_slice(&table_id.to_be_bytes());
    key.push(8);
    let window = hay
        .get(id_at..(id_at + WINDOW).min(hay.len()))
        .unwrap_or_default();
    let mut index_ids: Vec<u64> = memchr::memmem::find_iter(window, &key)
        .filter_map(|k| window.get(k + key.len()..k + key.len() + 8))
        .filter_map(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        // Index ids are small; eight bytes that only look like a key are not.
        .filter(|&id| id != 0 && id < 1 << 48)
        .collect();
    index_ids.sort_unstable();
    index_ids.dedup();
    Some(DroppedTable {
        table_id,
        index_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The undo records MariaDB 10.11 wrote for `DROP TABLE shop.people` (table id 18,
    /// index 23), header bytes as measured, the column records shortened to one.
    fn drop_records() -> Vec<u8> {
        let mut v = vec![
            0x02, 0x7e, 0x0e, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f,
        ];
        v.extend([0xe0, 0x82, 0x00, 0x00, 0x01, 0x2d, 0x01, 0x10]);
        v.push(11);
        v.extend(b"shop/people");
        v.extend([0x00, 0x19, 0x00, 11]);
        v.extend(b"shop/people");
        v.extend([0x03, 0x08, 0, 0, 0, 0, 0, 0, 0, 18]);
        // SYS_COLUMNS (TABLE_ID, POS): no index id here.
        v.extend([0x02, 0x44, 0x0e, 0x05, 0x02, 0x00, 0x00, 0, 0, 0, 0x0f]);
        v.extend([0x08, 0, 0, 0, 0, 0, 0, 0, 18, 0x04, 0, 0, 0, 0]);
        // SYS_INDEXES (TABLE_ID, ID).
        v.extend([0x03, 0x5a, 0x0e, 0x08, 0x03, 0x00, 0x00, 0, 0, 0, 0x0f]);
        v.extend([0x08, 0, 0, 0, 0, 0, 0, 0, 18, 0x08, 0, 0, 0, 0, 0, 0, 0, 23]);
        v
    }

    #[test]
    fn finds_the_table_and_index_ids_of_a_drop() {
        let mut hay = vec![0x5au8; 1001];
        hay.extend(drop_records());
        hay.extend([0u8; 300]);
        assert_eq!(
            dropped_tables(&hay, "shop/people"),
            vec![DroppedTable {
                table_id: 18,
                index_ids: vec![23]
            }]
        );
        assert!(dropped_tables(&hay, "shop/peopl").is_empty());
        assert!(dropped_tables(&hay, "other/people").is_empty());
        // Cut anywhere: no panic, at most the table id without its indexes.
        let records = drop_records();
        for cut in 0..records.len() {
            let _ = dropped_tables(&records[..cut], "shop/people");
        }
    }

    #[test]
    fn finds_a_drop_in_a_block_framed_redo_log() {
        // The records cut by a block boundary, as MySQL and MariaDB before 10.8 log them.
        let mut stream = vec![0x5au8; 470];
        stream.extend(drop_records());
        let blocks = crate::redo::framed(&stream);
        assert!(dropped_tables(&blocks, "shop/people").is_empty());
        assert_eq!(
            dropped_tables(&crate::redo::unframe(&blocks), "shop/people"),
            vec![DroppedTable {
                table_id: 18,
                index_ids: vec![23]
            }]
        );
    }

    #[test]
    fn long_names_take_two_length_bytes() {
        assert_eq!(compressed_len(0x7f), Some(vec![0x7f]));
        assert_eq!(compressed_len(0x80), Some(vec![0x80, 0x80]));
        assert_eq!(compressed_len(300), Some(vec![0x81, 0x2c]));
    }
}
