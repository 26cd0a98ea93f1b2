//! Columns as MySQL and MariaDB describe them: the type codes of `enum_field_types`, and one
//! column's type, metadata and what optional metadata says (names, signedness, charsets).
//! Row events and InnoDB records are decoded with the same description.

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
