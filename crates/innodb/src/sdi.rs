//! MySQL 8's serialized dictionary information (SDI): every .ibd carries the JSON definition
//! of its table in an index of its own (pages of type SDI), zlib-compressed, long ones in SDI
//! BLOB pages. Read here into the `CREATE TABLE` text [`crate::schema`] takes.

use std::io::Read;

use crate::index::IndexPage;
use crate::record::{Field, Layout, decode_with, read_blob};
use crate::schema::{TableSchema, parse_create_table};

/// The SDI index's records: key (type, id), then the lengths and the compressed JSON.
const SDI_TABLE: &str = "CREATE TABLE sdi (type INT UNSIGNED NOT NULL, id BIGINT UNSIGNED NOT NULL, uncompressed_len INT UNSIGNED NOT NULL, compressed_len INT UNSIGNED NOT NULL, data LONGBLOB NOT NULL, PRIMARY KEY (type, id))";

/// SDI type of a table definition (2 is a tablespace).
pub const SDI_TYPE_TABLE: u64 = 1;

/// One SDI record: its type, id and JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdiRecord {
    /// 1 table, 2 tablespace.
    pub kind: u64,
    /// Object id.
    pub id: u64,
    /// The JSON document.
    pub json: String,
}

/// The SDI records of a leaf page of the SDI index; `page_of` gives other pages of the file
/// (for documents stored in SDI BLOB pages).
pub fn records(
    page: &[u8],
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
) -> Vec<Result<SdiRecord, String>> {
    let Some(ip) = IndexPage::new(page) else {
        return Vec::new();
    };
    if ip.header.level != 0 {
        return Vec::new();
    }
    let Ok(schema) = parse_create_table(SDI_TABLE) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for rec in ip.records() {
        let Ok(rec) = rec else { break };
        if rec.deleted {
            continue;
        }
        out.push(one(page, rec.origin, &schema, page_of));
    }
    out
}

fn one(
    page: &[u8],
    origin: usize,
    schema: &TableSchema,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
) -> Result<SdiRecord, String> {
    let layout = Layout::new(schema);
    let row = decode_with(page, origin, schema, &layout).map_err(|e| e.to_string())?;
    let int = |i: usize| -> Result<u64, String> {
        match row.fields.get(i) {
            Some(Field::Value(v)) => schema
                .columns
                .get(i)
                .and_then(|c| v.integer(c))
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| format!("SDI field {i} is not a number")),
            _ => Err(format!("SDI field {i} is missing")),
        }
    };
    let (kind, id, uncompressed, compressed) = (int(0)?, int(1)?, int(2)?, int(3)?);
    let data: Vec<u8> = match row.fields.get(4) {
        Some(Field::Value(lifeboat_binlog::Value::Bytes(b))) => b.to_vec(),
        Some(Field::External {
            prefix,
            page_no,
            offset,
            length,
            ..
        }) => {
            let mut all = prefix.to_vec();
            all.extend(read_blob(*page_no, *offset, *length, page_of)?);
            all
        }
        _ => return Err("SDI data is missing".into()),
    };
    if data.len() as u64 != compressed {
        return Err(format!(
            "SDI {kind}/{id}: {} compressed bytes where the record says {compressed}",
            data.len()
        ));
    }
    // A bound from the record itself, checked: the output may not exceed it.
    let cap = usize::try_from(uncompressed.min(64 << 20)).unwrap_or(0);
    let mut json = Vec::with_capacity(cap);
    flate2::read::ZlibDecoder::new(data.as_slice())
        .take(cap as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("SDI {kind}/{id}: zlib: {e}"))?;
    if json.len() as u64 != uncompressed {
        return Err(format!(
            "SDI {kind}/{id}: {} bytes inflated where the record says {uncompressed}",
            json.len()
        ));
    }
    Ok(SdiRecord {
        kind,
        id,
        json: String::from_utf8(json).map_err(|_| format!("SDI {kind}/{id}: not UTF-8"))?,
    })
}

/// The character set of a MySQL 8 collation id, else `None`.
fn charset_of(collation: u64) -> Option<&'static str> {
    Some(match collation {
        5 | 8 | 15 | 31 | 47 | 48 | 49 | 94 => "latin1",
        63 => "binary",
        11 | 65 => "ascii",
        33 | 76 | 83 | 192..=215 | 223 => "utf8mb3",
        45 | 46 | 224..=247 | 255..=323 => "utf8mb4",
        35 | 90 | 128..=151 | 159 => "ucs2",
        54 | 55 | 101..=124 => "utf16",
        60 | 61 | 160..=183 => "utf32",
        _ => return None,
    })
}

/// Who an SDI table document describes: enough to tell a dropped table's tablespace among
/// others and to name its clustered index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdiTable {
    /// Its database (`schema_ref`).
    pub schema: String,
    /// Its name.
    pub name: String,
    /// The clustered index's id (the PRIMARY KEY's, else the first index's), from its
    /// `se_private_data`.
    pub clustered_index: Option<u64>,
}

/// The [`SdiTable`] of a table document.
pub fn table_of(json: &str) -> Result<SdiTable, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("SDI JSON: {e}"))?;
    let t = v.get("dd_object").ok_or("SDI JSON without dd_object")?;
    let text = |k: &str| t.get(k).and_then(|n| n.as_str()).unwrap_or("").to_owned();
    let indexes = t.get("indexes").and_then(|i| i.as_array());
    let id_of = |ix: &serde_json::Value| {
        ix.get("se_private_data")
            .and_then(|d| d.as_str())?
            .split(';')
            .find_map(|kv| kv.strip_prefix("id="))?
            .parse()
            .ok()
    };
    // Index type 1 is the PRIMARY KEY; without one, InnoDB clusters on the first index.
    let clustered_index = indexes.and_then(|ixs| {
        ixs.iter()
            .find(|ix| ix.get("type").and_then(|k| k.as_u64()) == Some(1))
            .or_else(|| ixs.first())
            .and_then(id_of)
    });
    Ok(SdiTable {
        schema: text("schema_ref"),
        name: text("name"),
        clustered_index,
    })
}

/// The `CREATE TABLE` statement an SDI table document describes (visible columns in order,
/// their types as MySQL spells them, character sets, nullability, the primary key, and
/// FULLTEXT keys, which add InnoDB's hidden FTS_DOC_ID column).
pub fn create_table(json: &str) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("SDI JSON: {e}"))?;
    let t = v.get("dd_object").ok_or("SDI JSON without dd_object")?;
    let name = t
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or("SDI table without a name")?;
    let cols = t
        .get("columns")
        .and_then(|c| c.as_array())
        .ok_or("SDI table without columns")?;
    let q = |s: &str| format!("`{}`", s.replace('`', "``"));
    let mut defs = Vec::new();
    let mut names = Vec::new();
    for c in cols {
        let cname = c.get("name").and_then(|n| n.as_str()).unwrap_or("");
        names.push(cname.to_owned());
        // 1: visible; 2: hidden by the engine (DB_TRX_ID, DB_ROLL_PTR, DB_ROW_ID, FTS_DOC_ID).
        if c.get("hidden").and_then(|h| h.as_u64()) != Some(1) {
            continue;
        }
        let ty = c
            .get("column_type_utf8")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("SDI column `{cname}` without a type"))?;
        let mut d = format!("{} {ty}", q(cname));
        let textual = [
            "char",
            "varchar",
            "text",
            "tinytext",
            "mediumtext",
            "longtext",
            "enum",
            "set",
        ]
        .iter()
        .any(|p| ty.starts_with(p));
        if textual
            && let Some(cs) = c
                .get("collation_id")
                .and_then(|i| i.as_u64())
                .and_then(charset_of)
        {
            d.push_str(&format!(" CHARACTER SET {cs}"));
        }
        if c.get("is_nullable").and_then(|n| n.as_bool()) == Some(false) {
            d.push_str(" NOT NULL");
        }
        defs.push(d);
    }
    for ix in t
        .get("indexes")
        .and_then(|i| i.as_array())
        .into_iter()
        .flatten()
    {
        let kind = ix.get("type").and_then(|k| k.as_u64()).unwrap_or(0);
        let parts: Vec<String> = ix
            .get("elements")
            .and_then(|e| e.as_array())
            .into_iter()
            .flatten()
            .filter(|e| e.get("hidden").and_then(|h| h.as_bool()) == Some(false))
            .filter_map(|e| e.get("column_opx").and_then(|o| o.as_u64()))
            .filter_map(|o| names.get(o as usize).map(|n| q(n)))
            .collect();
        match kind {
            1 if !parts.is_empty() => defs.push(format!("PRIMARY KEY ({})", parts.join(", "))),
            2 if !parts.is_empty() => defs.push(format!("UNIQUE KEY ({})", parts.join(", "))),
            4 if !parts.is_empty() => defs.push(format!("FULLTEXT KEY ({})", parts.join(", "))),
            _ => {}
        }
    }
    Ok(format!(
        "CREATE TABLE {} (\n  {}\n)",
        q(name),
        defs.join(",\n  ")
    ))
}
