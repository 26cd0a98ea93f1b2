//! Table definitions carried by TABLE_MAP events: column types, their metadata, and the
//! optional metadata (names, signedness, charsets, ENUM/SET strings, keys, visibility) that
//! MySQL 8.0.1+ and MariaDB 10.5+ write with `binlog_row_metadata`.

use crate::events::TableMap;
use crate::read::{Reader, Short};

use column_type as ct;
pub use lifeboat_mysql_types::column::{BINARY_COLLATION, Column, column_type};

/// A table as described by one TABLE_MAP event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// Table id the row events refer to.
    pub table_id: u64,
    /// Database.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Columns in order.
    pub columns: Vec<Column>,
    /// Number of JSON columns (partial JSON updates number them).
    pub json_columns: usize,
}

fn bad(reason: impl Into<String>) -> String {
    reason.into()
}

impl TableDef {
    /// Interprets a TABLE_MAP's column metadata and optional metadata.
    pub fn from_map(map: &TableMap<'_>) -> Result<TableDef, String> {
        let mut meta = Reader::new(map.metadata);
        let short = |s: Short| format!("column metadata: {s}");
        let mut columns = Vec::with_capacity(map.column_types.len());
        for (i, &t) in map.column_types.iter().enumerate() {
            let (real_type, m) = match t {
                ct::FLOAT
                | ct::DOUBLE
                | ct::BLOB
                | ct::TINY_BLOB
                | ct::MEDIUM_BLOB
                | ct::LONG_BLOB
                | ct::GEOMETRY
                | ct::JSON
                | ct::VECTOR
                | ct::TIMESTAMP2
                | ct::DATETIME2
                | ct::TIME2 => (t, u16::from(meta.u8().map_err(short)?)),
                ct::TYPED_ARRAY => {
                    return Err(bad(format!(
                        "column {} has the TYPED_ARRAY type, which only replication streams carry",
                        i + 1
                    )));
                }
                ct::VARCHAR | ct::VAR_STRING => (t, meta.u16().map_err(short)?),
                ct::BIT => {
                    let bits = meta.u8().map_err(short)?;
                    let bytes = meta.u8().map_err(short)?;
                    (t, u16::from(bytes) << 8 | u16::from(bits))
                }
                ct::NEWDECIMAL => {
                    let precision = meta.u8().map_err(short)?;
                    let scale = meta.u8().map_err(short)?;
                    (t, u16::from(precision) << 8 | u16::from(scale))
                }
                ct::STRING | ct::ENUM | ct::SET => {
                    let b0 = meta.u8().map_err(short)?;
                    let b1 = meta.u8().map_err(short)?;
                    if b0 & 0x30 != 0x30 {
                        // CHAR longer than 255 bytes: two length bits hide in the type byte.
                        let len = u16::from(b1) | (u16::from((b0 & 0x30) ^ 0x30) << 4);
                        (b0 | 0x30, len)
                    } else {
                        (b0, u16::from(b1))
                    }
                }
                _ => (t, 0),
            };
            let nullable = map
                .null_bitmap
                .get(i / 8)
                .is_some_and(|b| b & (1 << (i % 8)) != 0);
            columns.push(Column::new(t, real_type, m, nullable));
        }
        if meta.remaining() != 0 {
            return Err(bad(format!(
                "column metadata has {} bytes left over",
                meta.remaining()
            )));
        }
        let json_columns = columns.iter().filter(|c| c.real_type == ct::JSON).count();
        let mut def = TableDef {
            table_id: map.table_id,
            schema: String::from_utf8_lossy(map.schema).into_owned(),
            table: String::from_utf8_lossy(map.table).into_owned(),
            columns,
            json_columns,
        };
        def.optional_metadata(map.optional_metadata)
            .map_err(|e| format!("optional metadata: {e}"))?;
        Ok(def)
    }

    fn optional_metadata(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut r = Reader::new(bytes);
        let sh = |s: Short| s.to_string();
        while r.remaining() > 0 {
            let kind = r.u8().map_err(sh)?;
            let len = r.packed().map_err(sh)? as usize;
            let mut v = Reader::new(r.take(len).map_err(sh)?);
            match kind {
                1 => {
                    // Signedness: one bit per numeric column, most significant bit first.
                    let bits = v.rest();
                    let numeric = self.columns.iter_mut().filter(|c| c.is_numeric());
                    for (k, c) in numeric.enumerate() {
                        let byte = bits.get(k / 8).copied().unwrap_or(0);
                        c.unsigned = Some(byte & (0x80 >> (k % 8)) != 0);
                    }
                }
                2 | 10 => {
                    // Default collation, then exceptions as (column ordinal, collation).
                    let default = v.packed().map_err(sh)?;
                    let enum_set = kind == 10;
                    let mut exceptions = Vec::new();
                    while v.remaining() > 0 {
                        let idx = v.packed().map_err(sh)? as usize;
                        let coll = v.packed().map_err(sh)?;
                        exceptions.push((idx, coll));
                    }
                    for (k, c) in self.charset_columns(enum_set).enumerate() {
                        let coll = exceptions
                            .iter()
                            .find(|(i, _)| *i == k)
                            .map_or(default, |&(_, c)| c);
                        c.collation = Some(coll as u16);
                    }
                }
                3 | 11 => {
                    let enum_set = kind == 11;
                    let mut list = Vec::new();
                    while v.remaining() > 0 {
                        list.push(v.packed().map_err(sh)?);
                    }
                    for (c, coll) in self.charset_columns(enum_set).zip(list) {
                        c.collation = Some(coll as u16);
                    }
                }
                4 => {
                    for c in self.columns.iter_mut() {
                        if v.remaining() == 0 {
                            break;
                        }
                        let n = v.packed().map_err(sh)? as usize;
                        c.name = Some(String::from_utf8_lossy(v.take(n).map_err(sh)?).into_owned());
                    }
                }
                5 | 6 => {
                    let want = if kind == 5 { ct::SET } else { ct::ENUM };
                    for c in self.columns.iter_mut().filter(|c| c.real_type == want) {
                        if v.remaining() == 0 {
                            break;
                        }
                        let n = v.packed().map_err(sh)?;
                        let mut els = Vec::with_capacity((n as usize).min(v.remaining()));
                        for _ in 0..n {
                            let l = v.packed().map_err(sh)? as usize;
                            els.push(v.take(l).map_err(sh)?.to_vec());
                        }
                        c.elements = Some(els);
                    }
                }
                8 => {
                    while v.remaining() > 0 {
                        let i = v.packed().map_err(sh)? as usize;
                        if let Some(c) = self.columns.get_mut(i) {
                            c.primary_key = true;
                        }
                    }
                }
                9 => {
                    while v.remaining() > 0 {
                        let i = v.packed().map_err(sh)? as usize;
                        let _prefix = v.packed().map_err(sh)?;
                        if let Some(c) = self.columns.get_mut(i) {
                            c.primary_key = true;
                        }
                    }
                }
                12 => {
                    let bits = v.rest();
                    for (k, c) in self.columns.iter_mut().enumerate() {
                        let byte = bits.get(k / 8).copied().unwrap_or(0);
                        c.visible = Some(byte & (0x80 >> (k % 8)) != 0);
                    }
                }
                // Geometry subtypes (7), vector dimensions (13) and kinds added later carry
                // nothing the decoder needs.
                _ => {}
            }
        }
        Ok(())
    }

    fn charset_columns(&mut self, enum_set: bool) -> impl Iterator<Item = &mut Column> {
        self.columns.iter_mut().filter(move |c| {
            if enum_set {
                c.is_enum_or_set()
            } else {
                c.is_character()
            }
        })
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// No columns (never the case for a real table).
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}
