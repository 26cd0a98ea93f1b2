//! MariaDB's `.frm` files, the table definition the server keeps beside each table (MySQL
//! up to 5.7 writes the same format; only MariaDB's are tested), read back into a
//! `CREATE TABLE` statement that [`crate::schema::parse_create_table`] then reads like any other.
//!
//! What is used, as MariaDB 10.11 writes it (all numbers little-endian):
//! - the header (64 bytes): magic `FE 01`; at 4 the length of the "extra2" section that
//!   starts at 64; at 6 where the key section starts, at 28 its length; at 40 the row format;
//! - right after extra2, 4 bytes: where the form section starts. From there: at +258 the
//!   number of fields, +260 the length of the screens that precede the field records, +268
//!   the length of the names, +274 of the ENUM/SET values, +284 of the comments, +286 of the
//!   generated-column expressions;
//! - one 17-byte record per field (at +288 + screens): +3 length, +8 pack flags (0x8000
//!   nullable, bit 0 signed, bits 8..12 decimals), +11 collation id's high byte, +12 the
//!   ENUM/SET value list, +13 the type, +14 collation id (geometry: its subtype), +15 the
//!   comment length; then the names (`FF` before each, `00` after the last), the value lists
//!   (`FF a FF b FF 00` each), the comments, and the generated-column expressions (type, field
//!   number, lengths, name, expression, each);
//! - extra2 entries `type, length, bytes`: 129 holds one byte of flags per field (1:
//!   invisible), 130 the names of types from plugins (UUID, INET6) per field;
//! - the key section: key count, part count, then per key 8 bytes (flags with the unique bit
//!   inverted, length, parts) followed by 9 bytes per part (field number, offset, flags,
//!   type, length), then the key names (`FF` separated).

use crate::collations;

/// Why a .frm file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".frm: {0}")]
pub struct FrmError(pub String);

fn err<T>(what: impl Into<String>) -> Result<T, FrmError> {
    Err(FrmError(what.into()))
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&self, at: usize) -> Result<u8, FrmError> {
        self.0
            .get(at)
            .copied()
            .ok_or_else(|| FrmError(format!("cut short at byte {at}")))
    }
    fn u16(&self, at: usize) -> Result<usize, FrmError> {
        Ok(usize::from(self.u8(at)?) | usize::from(self.u8(at + 1)?) << 8)
    }
    fn u32(&self, at: usize) -> Result<usize, FrmError> {
        Ok(self.u16(at)? | self.u16(at + 2)? << 16)
    }
    fn bytes(&self, at: usize, len: usize) -> Result<&[u8], FrmError> {
        self.0
            .get(at..at.saturating_add(len))
            .ok_or_else(|| FrmError(format!("{len} bytes at {at} are beyond the file")))
    }
}

/// `FF a FF b FF 00`-style lists: the items between separators (the first byte is the
/// separator).
fn split_list(b: &[u8]) -> Vec<&[u8]> {
    let Some((&sep, rest)) = b.split_first() else {
        return Vec::new();
    };
    let mut items: Vec<&[u8]> = rest.split(|&x| x == sep).collect();
    // The list ends with a separator then NUL (or nothing).
    while items.last().is_some_and(|l| l.is_empty() || *l == [0]) {
        items.pop();
    }
    items
}

pub(crate) use lifeboat_mysql_types::quote::ident_bytes as ident;

/// Text of `bytes` in character set `charset` (ENUM/SET values, comments).
fn text(bytes: &[u8], charset: &str) -> String {
    if charset == "latin1" {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

pub(crate) use lifeboat_mysql_types::quote::literal as quote;

struct Field<'a> {
    name: &'a [u8],
    length: usize,
    pack: usize,
    ty: u8,
    collation: u16,
    interval: usize,
    comment: usize,
}

/// The `CREATE TABLE` statement of table `table` whose .frm file is `frm`: columns (types,
/// sizes, character sets, nullability, invisibility), the keys, ROW_FORMAT. Not carried
/// over: defaults, AUTO_INCREMENT, CHECK constraints, partitioning. VIRTUAL generated
/// columns are left out (InnoDB does not store them); STORED ones become plain columns.
pub fn create_table(frm: &[u8], table: &str) -> Result<String, FrmError> {
    let r = Reader(frm);
    if frm.get(..2) != Some(&[0xfe, 0x01]) {
        return err("not a .frm file (no FE 01 at its start)");
    }
    if r.u8(3)? == 0 && frm.get(64..69) == Some(b"TYPE=") {
        return err("a view definition, not a table");
    }
    let extra2_len = r.u16(4)?;
    let form = r.u32(64 + extra2_len)?;
    // extra2: field flags (invisible) and plugin type names.
    let mut flags: &[u8] = &[];
    let mut plugin_types: Vec<(usize, String)> = Vec::new();
    let mut p = 64;
    while p + 2 <= 64 + extra2_len {
        let ty = r.u8(p)?;
        let (len, at) = match r.u8(p + 1)? {
            0 => (r.u16(p + 2)?, p + 4),
            n => (usize::from(n), p + 2),
        };
        let value = r.bytes(at, len)?;
        match ty {
            129 => flags = value,
            130 => {
                let mut q = 0;
                while let (Some(&field), Some(&n)) = (value.get(q), value.get(q + 1)) {
                    let name = value.get(q + 2..q + 2 + usize::from(n)).unwrap_or_default();
                    plugin_types.push((usize::from(field), String::from_utf8_lossy(name).into()));
                    q += 2 + usize::from(n);
                }
            }
            _ => {}
        }
        p = at + len;
    }

    let fields = r.u16(form + 258)?;
    let screens = r.u16(form + 260)?;
    let names_len = r.u16(form + 268)?;
    let intervals_len = r.u16(form + 274)?;
    let comments_len = r.u16(form + 284)?;
    let vcols_len = r.u16(form + 286)?;
    if fields == 0 {
        return err("no fields");
    }
    let records = form + 288 + screens;
    let names_at = records + 17 * fields;
    let names = split_list(r.bytes(names_at, names_len)?);
    if names.len() != fields {
        return err(format!("{} field names for {fields} fields", names.len()));
    }
    let intervals_at = names_at + names_len;
    let interval_bytes = r.bytes(intervals_at, intervals_len)?;
    // Each list ends with its separator and a NUL.
    let mut lists: Vec<Vec<&[u8]>> = Vec::new();
    let mut rest = interval_bytes;
    while let Some(end) = rest.iter().position(|&b| b == 0) {
        let (list, after) = rest.split_at(end);
        lists.push(split_list(list));
        rest = after.get(1..).unwrap_or_default();
    }
    let comments = r.bytes(intervals_at + intervals_len, comments_len)?;
    let vcols = r.bytes(intervals_at + intervals_len + comments_len, vcols_len)?;
    // Generated columns: (field number, virtual?, expression).
    let mut generated: Vec<(usize, bool, String)> = Vec::new();
    // After a 16-byte header.
    let mut q = 16;
    while q + 6 <= vcols.len() {
        let kind = vcols.get(q).copied().unwrap_or(0);
        let field = usize::from(vcols.get(q + 1).copied().unwrap_or(0))
            | usize::from(vcols.get(q + 2).copied().unwrap_or(0)) << 8;
        let expr_len = usize::from(vcols.get(q + 3).copied().unwrap_or(0))
            | usize::from(vcols.get(q + 4).copied().unwrap_or(0)) << 8;
        let name_len = usize::from(vcols.get(q + 5).copied().unwrap_or(0));
        let expr = vcols
            .get(q + 6 + name_len..q + 6 + name_len + expr_len)
            .unwrap_or_default();
        // 0 VIRTUAL, 1 STORED; defaults and CHECKs are not needed to read rows.
        if kind <= 1 {
            generated.push((field, kind == 0, String::from_utf8_lossy(expr).into()));
        }
        q += 6 + name_len + expr_len;
    }

    let mut parsed = Vec::with_capacity(fields);
    let mut comment_at = 0;
    for (i, name) in names.iter().enumerate() {
        let at = records + 17 * i;
        let f = Field {
            name,
            length: r.u16(at + 3)?,
            pack: r.u16(at + 8)?,
            ty: r.u8(at + 13)?,
            collation: u16::from(r.u8(at + 14)?) | u16::from(r.u8(at + 11)?) << 8,
            interval: usize::from(r.u8(at + 12)?),
            comment: r.u16(at + 15)?,
        };
        parsed.push(f);
    }

    let mut lines = Vec::new();
    for (i, f) in parsed.iter().enumerate() {
        let comment = comments
            .get(comment_at..comment_at + f.comment)
            .unwrap_or_default();
        comment_at += f.comment;
        let generated_as = generated.iter().find(|g| g.0 == i);
        if generated_as.is_some_and(|g| g.1) {
            continue;
        }
        let plugin = plugin_types.iter().find(|t| t.0 == i).map(|t| t.1.as_str());
        let mut line = format!("  {} {}", ident(f.name), column_type(f, plugin, &lists)?);
        if f.pack & 0x8000 == 0 {
            line.push_str(" NOT NULL");
        } else {
            line.push_str(" NULL");
        }
        if flags.get(i).is_some_and(|&b| b & 1 != 0) {
            line.push_str(" INVISIBLE");
        }
        if !comment.is_empty() {
            let comment = String::from_utf8_lossy(comment);
            line.push_str(&format!(" COMMENT {}", quote(&comment)));
        }
        if let Some((_, _, expr)) = generated_as {
            line.push_str(&format!(" /* was GENERATED ALWAYS AS ({expr}) STORED */"));
        }
        lines.push(line);
    }

    // Keys.
    let keys_at = r.u16(6)?;
    let keys_len = r.u16(28)?;
    let ks = Reader(r.bytes(keys_at, keys_len)?);
    let (n_keys, mut at) = if ks.u8(0)? & 0x80 != 0 {
        (
            usize::from(ks.u8(0)? & 0x7f) | usize::from(ks.u8(1)?) << 7,
            6,
        )
    } else {
        (usize::from(ks.u8(0)?), 6)
    };
    let mut keys = Vec::new();
    for _ in 0..n_keys {
        let key_flags = ks.u16(at)? ^ 1; // stored with the unique bit inverted
        let parts = usize::from(ks.u8(at + 4)?);
        at += 8;
        let mut cols = Vec::new();
        for _ in 0..parts {
            let field = ks.u16(at)? & 0x3fff;
            let len = ks.u16(at + 7)?;
            at += 9;
            let f = field
                .checked_sub(1)
                .and_then(|n| parsed.get(n))
                .ok_or_else(|| FrmError(format!("a key names field {field}")))?;
            // A part shorter than its string column is a prefix (BLOBs only have prefixes).
            let prefix = match f.ty {
                249..=252 | 255 => true,
                15 | 254 | 247 | 248 => len < f.length,
                _ => false,
            };
            cols.push(if prefix {
                let mb = collations::by_id(f.collation)
                    .and_then(|c| collations::maxlen(c.0))
                    .unwrap_or(1);
                format!("{}({})", ident(f.name), len / usize::from(mb.max(1)))
            } else {
                ident(f.name)
            });
        }
        keys.push((key_flags, cols));
    }
    let key_names = split_list(ks.0.get(at..).unwrap_or_default());
    for (k, (key_flags, cols)) in keys.iter().enumerate() {
        let name = key_names.get(k).copied().unwrap_or_default();
        let kind = if name == b"PRIMARY" {
            "PRIMARY KEY".to_owned()
        } else if key_flags & 128 != 0 {
            format!("FULLTEXT KEY {}", ident(name))
        } else if key_flags & 1024 != 0 {
            format!("SPATIAL KEY {}", ident(name))
        } else if key_flags & 1 != 0 {
            format!("UNIQUE KEY {}", ident(name))
        } else {
            format!("KEY {}", ident(name))
        };
        lines.push(format!("  {kind} ({})", cols.join(", ")));
    }
    let row_format = match r.u8(40)? {
        1 => " ROW_FORMAT=FIXED",
        2 => " ROW_FORMAT=DYNAMIC",
        3 => " ROW_FORMAT=COMPRESSED",
        4 => " ROW_FORMAT=REDUNDANT",
        5 => " ROW_FORMAT=COMPACT",
        _ => "",
    };
    Ok(format!(
        "CREATE TABLE {} (\n{}\n) ENGINE=InnoDB{row_format}",
        ident(table.as_bytes()),
        lines.join(",\n")
    ))
}

/// A field's type as CREATE TABLE writes it.
fn column_type(
    f: &Field<'_>,
    plugin: Option<&str>,
    lists: &[Vec<&[u8]>],
) -> Result<String, FrmError> {
    let signed = f.pack & 1 != 0;
    let unsigned = if signed { "" } else { " UNSIGNED" };
    let decimals = (f.pack >> 8) & 31;
    let coll = collations::by_id(f.collation);
    let binary = f.collation == 63;
    // A character column whose collation is unknown here cannot be sized or decoded:
    // refused, never guessed as one byte per character.
    let charset = |s: &mut String| -> Result<(), FrmError> {
        if binary {
            return Ok(());
        }
        let Some((cs, co)) = coll else {
            return err(format!(
                "column `{}`: collation id {} is unknown to this version of lifeboat; give the definition with --schema",
                String::from_utf8_lossy(f.name),
                f.collation
            ));
        };
        s.push_str(&format!(" CHARACTER SET {cs} COLLATE {co}"));
        if !collations::exact(f.collation) {
            s.push_str(&format!(" /* collation id {} */", f.collation));
        }
        Ok(())
    };
    let chars = |bytes: usize| {
        let mb = coll.and_then(|c| collations::maxlen(c.0)).unwrap_or(1);
        bytes / usize::from(mb.max(1))
    };
    if let Some(p) = plugin {
        // Types from plugins have no column type InnoDB records can be decoded with here;
        // their stored bytes are kept.
        return Ok(format!(
            "BINARY({}) /* {p} */",
            match p {
                "uuid" => 16,
                "inet6" => 16,
                "inet4" => 4,
                _ =>
                    return err(format!(
                        "field `{}` has type {p}, which lifeboat does not read",
                        String::from_utf8_lossy(f.name)
                    )),
            }
        ));
    }
    let fsp = |base: usize| f.length.saturating_sub(base + 1).min(6);
    let mut s = match f.ty {
        1 => format!("TINYINT{unsigned}"),
        2 => format!("SMALLINT{unsigned}"),
        9 => format!("MEDIUMINT{unsigned}"),
        3 => format!("INT{unsigned}"),
        8 => format!("BIGINT{unsigned}"),
        4 if decimals < 31 => format!("FLOAT({},{decimals}){unsigned}", f.length),
        4 => format!("FLOAT{unsigned}"),
        5 if decimals < 31 => format!("DOUBLE({},{decimals}){unsigned}", f.length),
        5 => format!("DOUBLE{unsigned}"),
        246 => {
            let precision = f
                .length
                .saturating_sub(usize::from(decimals > 0) + usize::from(signed));
            format!("DECIMAL({precision},{decimals}){unsigned}")
        }
        13 => "YEAR".into(),
        10 | 14 => "DATE".into(),
        19 => match fsp(10) {
            0 => "TIME".into(),
            n => format!("TIME({n})"),
        },
        18 => match fsp(19) {
            0 => "DATETIME".into(),
            n => format!("DATETIME({n})"),
        },
        17 => match fsp(19) {
            0 => "TIMESTAMP".into(),
            n => format!("TIMESTAMP({n})"),
        },
        16 => format!("BIT({})", f.length),
        15 if binary => format!("VARBINARY({})", f.length),
        15 => {
            let mut s = format!("VARCHAR({})", chars(f.length));
            charset(&mut s)?;
            s
        }
        254 if binary => format!("BINARY({})", f.length),
        254 => {
            let mut s = format!("CHAR({})", chars(f.length));
            charset(&mut s)?;
            s
        }
        247 | 248 => {
            let list = f
                .interval
                .checked_sub(1)
                .and_then(|n| lists.get(n))
                .ok_or_else(|| {
                    FrmError(format!(
                        "field `{}` has no value list",
                        String::from_utf8_lossy(f.name)
                    ))
                })?;
            let cs = coll.map_or("latin1", |c| c.0);
            let values: Vec<String> = list.iter().map(|v| quote(&text(v, cs))).collect();
            let mut s = format!(
                "{}({})",
                if f.ty == 247 { "ENUM" } else { "SET" },
                values.join(",")
            );
            charset(&mut s)?;
            s
        }
        249..=252 => {
            let size = match f.ty {
                249 => "TINY",
                252 => "",
                250 => "MEDIUM",
                _ => "LONG",
            };
            if binary {
                format!("{size}BLOB")
            } else {
                let mut s = format!("{size}TEXT");
                charset(&mut s)?;
                s
            }
        }
        255 => match f.collation & 0xff {
            1 => "POINT".into(),
            2 => "LINESTRING".into(),
            3 => "POLYGON".into(),
            4 => "MULTIPOINT".into(),
            5 => "MULTILINESTRING".into(),
            6 => "MULTIPOLYGON".into(),
            7 => "GEOMETRYCOLLECTION".into(),
            _ => "GEOMETRY".into(),
        },
        other => {
            return err(format!(
                "field `{}` has type code {other}, which lifeboat does not read (a format older than MariaDB 10.0?)",
                String::from_utf8_lossy(f.name)
            ));
        }
    };
    if f.pack & 4 != 0 && matches!(f.ty, 1..=5 | 8 | 9 | 246) {
        s.push_str(" ZEROFILL");
    }
    Ok(s)
}
