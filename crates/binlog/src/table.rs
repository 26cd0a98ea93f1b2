//! Table definitions carried by TABLE_MAP events: column types, their metadata, and the
//! optional metadata (names, signedness, charsets, ENUM/SET strings, keys, visibility) that
//! MySQL 8.0.1+ and MariaDB 10.5+ write with `binlog_row_metadata`.

use crate::events::TableMap;
use crate::read::{Reader, Short};

/// Column type codes as they appear in TABLE_MAP (`enum_field_types`).
#[allow(missing_docs)]
pub mod column_type {
    pub const DECIMAL: u8 = 0;
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const NULL: u8 = 6;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const NEWDATE: u8 = 14;
    pub const VARCHAR: u8 = 15;
    pub const BIT: u8 = 16;
    pub const TIMESTAMP2: u8 = 17;
    pub const DATETIME2: u8 = 18;
    pub const TIME2: u8 = 19;
    pub const TYPED_ARRAY: u8 = 20;
    pub const VECTOR: u8 = 242;
    pub const JSON: u8 = 245;
    pub const NEWDECIMAL: u8 = 246;
    pub const ENUM: u8 = 247;
    pub const SET: u8 = 248;
    pub const TINY_BLOB: u8 = 249;
    pub const MEDIUM_BLOB: u8 = 250;
    pub const LONG_BLOB: u8 = 251;
    pub const BLOB: u8 = 252;
    pub const VAR_STRING: u8 = 253;
    pub const STRING: u8 = 254;
    pub const GEOMETRY: u8 = 255;

    /// The SQL-ish name of a type code, for messages and `binlog show`.
    pub fn name(t: u8) -> &'static str {
        match t {
            DECIMAL => "DECIMAL(old)",
            TINY => "TINYINT",
            SHORT => "SMALLINT",
            LONG => "INT",
            FLOAT => "FLOAT",
            DOUBLE => "DOUBLE",
            NULL => "NULL",
            TIMESTAMP | TIMESTAMP2 => "TIMESTAMP",
            LONGLONG => "BIGINT",
            INT24 => "MEDIUMINT",
            DATE | NEWDATE => "DATE",
            TIME | TIME2 => "TIME",
            DATETIME | DATETIME2 => "DATETIME",
            YEAR => "YEAR",
            VARCHAR | VAR_STRING => "VARCHAR",
            BIT => "BIT",
            TYPED_ARRAY => "TYPED_ARRAY",
            VECTOR => "VECTOR",
            JSON => "JSON",
            NEWDECIMAL => "DECIMAL",
            ENUM => "ENUM",
            SET => "SET",
            TINY_BLOB | MEDIUM_BLOB | LONG_BLOB | BLOB => "BLOB",
            STRING => "CHAR",
            GEOMETRY => "GEOMETRY",
            _ => "UNKNOWN",
        }
    }
}
use column_type as ct;

/// Collation id of the `binary` pseudo-charset.
pub const BINARY_COLLATION: u16 = 63;

/// One column of a table as the binlog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The type code written in TABLE_MAP (`STRING` for CHAR, ENUM and SET alike).
    pub type_code: u8,
    /// The real type: ENUM and SET are told apart from CHAR through the metadata.
    pub real_type: u8,
    /// Type metadata as one number: for types with a length prefix or a pack length, the
    /// number of bytes; for CHAR the maximum byte length; for DECIMAL precision << 8 | scale;
    /// for BIT bytes << 8 | bits; for TIME2/DATETIME2/TIMESTAMP2 the fsp.
    pub meta: u16,
    /// Nullable.
    pub nullable: bool,
    /// Name, when the optional metadata carries names.
    pub name: Option<String>,
    /// Unsigned, when the optional metadata carries signedness (numeric columns only).
    pub unsigned: Option<bool>,
    /// Collation id of character, ENUM and SET columns, when known.
    pub collation: Option<u16>,
    /// ENUM or SET member strings, when known.
    pub elements: Option<Vec<Vec<u8>>>,
    /// Part of the primary key.
    pub primary_key: bool,
    /// Visible (false for MySQL's invisible columns), when known.
    pub visible: Option<bool>,
}

impl Column {
    /// A column of type `type_code` (`real_type` for CHAR/ENUM/SET) with nothing known
    /// beyond the TABLE_MAP's own fields; optional metadata fills in the rest.
    pub fn new(type_code: u8, real_type: u8, meta: u16, nullable: bool) -> Column {
        Column {
            type_code,
            real_type,
            meta,
            nullable,
            name: None,
            unsigned: None,
            collation: None,
            elements: None,
            primary_key: false,
            visible: None,
        }
    }

    /// Counted among the "numeric" columns of the signedness bitmap (YEAR included).
    pub fn is_numeric(&self) -> bool {
        matches!(
            self.real_type,
            ct::TINY
                | ct::SHORT
                | ct::INT24
                | ct::LONG
                | ct::LONGLONG
                | ct::DECIMAL
                | ct::NEWDECIMAL
                | ct::FLOAT
                | ct::DOUBLE
                | ct::YEAR
        )
    }

    /// Counted among the "character" columns of the charset lists (BLOB/TEXT included).
    pub fn is_character(&self) -> bool {
        matches!(
            self.real_type,
            ct::STRING | ct::VAR_STRING | ct::VARCHAR | ct::BLOB
        )
    }

    /// ENUM or SET.
    pub fn is_enum_or_set(&self) -> bool {
        matches!(self.real_type, ct::ENUM | ct::SET)
    }

    /// Bytes of binary data (binary charset, or a BLOB/VARBINARY/BINARY without charset info
    /// where the caller must decide).
    pub fn is_binary(&self) -> bool {
        self.collation == Some(BINARY_COLLATION)
    }

    /// A display name for column `i` (0-based): its name or `@i+1` as mysqlbinlog prints.
    pub fn label(&self, i: usize) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("@{}", i + 1),
        }
    }
}

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
