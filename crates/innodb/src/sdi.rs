//! MySQL 8's serialized dictionary information (SDI): every .ibd carries the JSON definition
//! of its table in an index of its own (pages of type SDI), zlib-compressed, long ones in SDI
//! BLOB pages. Read here into the `CREATE TABLE` text [`crate::schema`] takes.

use std::io::Read;

use crate::index::IndexPage;
use crate::record::{Field, Layout, decode_with, read_blob};
use crate::schema::{Lifetime, RowVersions, TableSchema, VersionedField, parse_create_table};

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
        Some(Field::Value(lifeboat_mysql_types::Value::Bytes(b))) => b.to_vec(),
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

/// The character set of a MySQL 8 collation id, else `None`. Ids below 248 are the ones
/// MySQL and MariaDB share; 255 and up are MySQL 8's utf8mb4 (and utf8mb3) 0900 collations.
fn charset_of(collation: u64) -> Option<&'static str> {
    match collation {
        255..=323 => Some("utf8mb4"),
        // utf8mb3_tolower_ci, MySQL's own.
        76 => Some("utf8mb3"),
        // gb18030, which MariaDB does not have.
        248..=250 => None,
        id => crate::collations::by_id(u16::try_from(id).ok()?).map(|(cs, _)| cs),
    }
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
    let t = &dd_object(json)?;
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

/// The `CREATE TABLE` statement an SDI table document describes (stored columns in order,
/// visible and INVISIBLE, their types as MySQL spells them, character sets, nullability,
/// generated columns' expressions, the primary key, and FULLTEXT keys, which add InnoDB's
/// hidden FTS_DOC_ID column).
pub fn create_table(json: &str) -> Result<String, String> {
    create_table_of(&dd_object(json)?)
}

/// A table document's `dd_object`.
fn dd_object(json: &str) -> Result<serde_json::Value, String> {
    let mut v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("SDI JSON: {e}"))?;
    v.get_mut("dd_object")
        .map(serde_json::Value::take)
        .ok_or_else(|| "SDI JSON without dd_object".into())
}

fn create_table_of(t: &serde_json::Value) -> Result<String, String> {
    let name = t
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or("SDI table without a name")?;
    let cols = t
        .get("columns")
        .and_then(|c| c.as_array())
        .ok_or("SDI table without columns")?;
    let mut defs = Vec::new();
    let mut names = Vec::new();
    for c in cols {
        let cname = c.get("name").and_then(|n| n.as_str()).unwrap_or("");
        names.push(cname.to_owned());
        // 1: visible; 4: INVISIBLE; 2: hidden by the engine (DB_TRX_ID, DB_ROLL_PTR,
        // DB_ROW_ID, FTS_DOC_ID, instantly dropped columns); 3: hidden by the server.
        let hidden = c.get("hidden").and_then(|h| h.as_u64());
        if hidden != Some(1) && hidden != Some(4) {
            continue;
        }
        let mut d = column_definition(c)?;
        if hidden == Some(4) {
            d.push_str(" INVISIBLE");
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
            .filter_map(|o| names.get(o as usize).map(|n| quoted(n)))
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
        quoted(name),
        defs.join(",\n  ")
    ))
}

use lifeboat_mysql_types::quote::ident as quoted;

/// A column's definition in a `CREATE TABLE` statement.
fn column_definition(c: &serde_json::Value) -> Result<String, String> {
    let cname = c.get("name").and_then(|n| n.as_str()).unwrap_or("");
    let ty = c
        .get("column_type_utf8")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("SDI column `{cname}` without a type"))?;
    let mut d = format!("{} {ty}", quoted(cname));
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
    let expr = c
        .get("generation_expression_utf8")
        .and_then(|e| e.as_str())
        .filter(|e| !e.is_empty());
    if let Some(expr) = expr {
        // The dictionary keeps the expression as the server printed it, escaped once more:
        // `_utf8mb4\'x\'` for `_utf8mb4'x'` (seen in MySQL 9.7's SDI and
        // information_schema).
        let expr = unescape_once(expr);
        let virt = c.get("is_virtual").and_then(|v| v.as_bool()) == Some(true);
        d.push_str(&format!(
            " GENERATED ALWAYS AS ({expr}) {}",
            if virt { "VIRTUAL" } else { "STORED" }
        ));
    }
    if c.get("is_nullable").and_then(|n| n.as_bool()) == Some(false) {
        d.push_str(" NOT NULL");
    }
    Ok(d)
}

/// Removes one level of backslash escaping: `\x` becomes `x`.
fn unescape_once(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The definition an SDI table document describes ([`create_table`]), with what MySQL 8's
/// instant ADD/DROP COLUMN left in the records: the table's `instant_col`, and each
/// column's `physical_pos`, `version_added`, `version_dropped` and `default` (the field's
/// bytes in hex) or `default_null` from their `se_private_data`. Instantly dropped columns
/// are kept, engine-hidden, under a new name: their definitions size their bytes.
pub fn table_schema(json: &str) -> Result<TableSchema, String> {
    let t = dd_object(json)?;
    let mut schema = parse_create_table(&create_table_of(&t)?).map_err(|e| e.to_string())?;
    // An SDI is MySQL's: its JSON columns are binary JSON.
    schema.mysql_json();
    schema.row_versions = row_versions(&t, &schema)?;
    Ok(schema)
}

/// The value of `key` among `key=value` pairs.
fn get<'a>(pairs: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// `key=value;` pairs.
fn private_data(v: &serde_json::Value) -> Vec<(&str, &str)> {
    v.get("se_private_data")
        .and_then(|d| d.as_str())
        .unwrap_or("")
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

fn row_versions(
    t: &serde_json::Value,
    schema: &TableSchema,
) -> Result<Option<RowVersions>, String> {
    let instant_cols = get(&private_data(t), "instant_col")
        .map(|n| {
            n.parse::<usize>()
                .map_err(|_| format!("SDI instant_col={n}"))
        })
        .transpose()?;
    let mut fields: Vec<(Option<u32>, VersionedField)> = Vec::new();
    let mut defaults = vec![None; schema.columns.len()];
    let mut versioned = false;
    for c in t
        .get("columns")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
    {
        let name = c.get("name").and_then(|n| n.as_str()).unwrap_or("");
        if c.get("is_virtual").and_then(|v| v.as_bool()) == Some(true)
            || matches!(name, "DB_TRX_ID" | "DB_ROLL_PTR" | "DB_ROW_ID")
        {
            continue;
        }
        let d = private_data(c);
        let version = |k: &str| -> Result<u8, String> {
            get(&d, k).map_or(Ok(0), |n| {
                n.parse()
                    .map_err(|_| format!("SDI column `{name}`: {k}={n}"))
            })
        };
        let (added, dropped) = (version("version_added")?, version("version_dropped")?);
        let position = get(&d, "physical_pos")
            .map(|n| {
                n.parse::<u32>()
                    .map_err(|_| format!("SDI column `{name}`: physical_pos={n}"))
            })
            .transpose()?;
        versioned |= added > 0 || dropped > 0;
        let column = if dropped > 0 {
            let sql = format!("CREATE TABLE d ({})", column_definition(c)?);
            let one = parse_create_table(&sql)
                .map_err(|e| format!("SDI dropped column `{name}`: {e}"))?;
            let (Some(col), Some(&mb)) = (one.columns.into_iter().next(), one.mbmaxlen.first())
            else {
                return Err(format!("SDI dropped column `{name}`: no definition"));
            };
            Err((col, mb))
        } else {
            match schema
                .columns
                .iter()
                .position(|k| k.name.as_deref() == Some(name))
            {
                Some(i) => Ok(i),
                // Not stored (hidden by the server).
                None => continue,
            }
        };
        if let Ok(i) = column {
            let default = if get(&d, "default_null").is_some() {
                Some(None)
            } else if let Some(h) = get(&d, "default") {
                Some(Some(hex::decode(h).map_err(|_| {
                    format!("SDI column `{name}`: default={h} is not hex")
                })?))
            } else {
                None
            };
            if let Some(slot) = defaults.get_mut(i) {
                *slot = default;
            }
        }
        fields.push((
            position,
            VersionedField {
                column,
                lifetime: Lifetime { added, dropped },
            },
        ));
    }
    if instant_cols.is_none() && !versioned {
        return Ok(None);
    }
    let fields = if versioned {
        if fields.iter().any(|(p, _)| p.is_none()) {
            return Err("SDI: columns added or dropped by row version, but not every column has its physical_pos".into());
        }
        fields.sort_by_key(|(p, _)| *p);
        fields.into_iter().map(|(_, f)| f).collect()
    } else {
        Vec::new()
    };
    Ok(Some(RowVersions {
        instant_cols,
        fields,
        defaults,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn col(name: &str, ty: &str, hidden: u64, nullable: bool, private: &str) -> serde_json::Value {
        json!({"name": name, "column_type_utf8": ty, "hidden": hidden, "is_nullable": nullable,
               "is_virtual": false, "collation_id": 255, "se_private_data": private})
    }

    fn doc(table_private: &str, cols: Vec<serde_json::Value>) -> String {
        json!({"dd_object": {"name": "t", "schema_ref": "d", "se_private_data": table_private,
            "columns": cols,
            "indexes": [{"type": 1, "se_private_data": "id=9;", "elements": [
                {"hidden": false, "column_opx": 0}]}]}})
        .to_string()
    }

    #[test]
    fn instant_add_of_8012_gives_the_first_columns_and_the_defaults() {
        let s = table_schema(&doc(
            "instant_col=2;",
            vec![
                col("id", "int", 1, false, ""),
                col("a", "varchar(10)", 1, true, ""),
                col("b", "int", 1, false, "default=80000005;"),
                col("c", "varchar(3)", 1, true, "default_null=1;"),
                col("DB_TRX_ID", "", 2, false, ""),
                col("DB_ROLL_PTR", "", 2, false, ""),
            ],
        ))
        .unwrap();
        let rv = s.row_versions.unwrap();
        assert_eq!(rv.instant_cols, Some(2));
        assert!(rv.fields.is_empty());
        assert_eq!(
            rv.defaults,
            vec![None, None, Some(Some(vec![0x80, 0, 0, 5])), Some(None)]
        );
    }

    /// A table with MySQL 8.0.29+ row versions: `a` dropped in version 1, `late` added in
    /// version 2 (default 7), placed last in the records.
    pub(crate) fn versioned() -> String {
        doc(
            "",
            vec![
                col("id", "int", 1, false, "physical_pos=0;"),
                col(
                    "late",
                    "int",
                    1,
                    false,
                    "default=80000007;physical_pos=5;version_added=2;",
                ),
                col("b", "varchar(9)", 1, true, "physical_pos=4;"),
                col("DB_TRX_ID", "", 2, false, "physical_pos=1;"),
                col("DB_ROLL_PTR", "", 2, false, "physical_pos=2;"),
                col(
                    "!hidden!_dropped_v1_p3_a",
                    "char(4)",
                    2,
                    false,
                    "physical_pos=3;version_dropped=1;",
                ),
            ],
        )
    }

    #[test]
    fn row_versions_put_fields_in_physical_order_with_the_dropped_ones() {
        let s = table_schema(&versioned()).unwrap();
        assert_eq!(
            s.columns
                .iter()
                .map(|c| c.name.clone().unwrap())
                .collect::<Vec<_>>(),
            ["id", "late", "b"]
        );
        let rv = s.row_versions.unwrap();
        let order: Vec<_> = rv
            .fields
            .iter()
            .map(|f| {
                (
                    f.column
                        .as_ref()
                        .map_err(|(c, _)| c.name.clone().unwrap())
                        .copied(),
                    f.lifetime.added,
                    f.lifetime.dropped,
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                (Ok(0), 0, 0),
                (Err("!hidden!_dropped_v1_p3_a".into()), 0, 1),
                (Ok(2), 0, 0),
                (Ok(1), 2, 0)
            ]
        );
        assert!(rv.fields[1].lifetime.holds(0) && !rv.fields[1].lifetime.holds(1));
        assert!(!rv.fields[3].lifetime.holds(1) && rv.fields[3].lifetime.holds(2));
        // Versions without positions cannot be laid out.
        let e = table_schema(&doc(
            "",
            vec![
                col("id", "int", 1, false, ""),
                col("late", "int", 1, false, "default=80000007;version_added=1;"),
            ],
        ))
        .unwrap_err();
        assert!(e.contains("physical_pos"), "{e}");
    }

    #[test]
    fn collation_ids_name_their_character_sets() {
        for (id, cs) in [
            (8, Some("latin1")),
            (28, Some("gbk")),
            (33, Some("utf8mb3")),
            (45, Some("utf8mb4")),
            (63, Some("binary")),
            (95, Some("cp932")),
            (255, Some("utf8mb4")),
            (309, Some("utf8mb4")),
            (248, None),
            (5000, None),
        ] {
            assert_eq!(charset_of(id), cs, "{id}");
        }
    }

    #[test]
    fn generation_expressions_lose_the_dictionary_escaping() {
        assert_eq!(
            unescape_once(r"concat(`a`,_utf8mb4\'-it\\\'s \\\\ x\')"),
            r"concat(`a`,_utf8mb4'-it\'s \\ x')"
        );
    }

    #[test]
    fn invisible_and_generated_columns_keep_their_kind() {
        let mut v = col("v", "int", 1, true, "");
        v["generation_expression_utf8"] = json!("`id` + 1");
        v["is_virtual"] = json!(true);
        let mut g = col("g", "int", 1, true, "");
        g["generation_expression_utf8"] = json!("`id` * 2");
        let sql = create_table(&doc(
            "",
            vec![
                col("id", "int", 1, false, ""),
                col("inv", "int", 4, true, ""),
                v,
                g,
            ],
        ))
        .unwrap();
        assert!(sql.contains("`inv` int INVISIBLE"), "{sql}");
        assert!(
            sql.contains("GENERATED ALWAYS AS (`id` + 1) VIRTUAL"),
            "{sql}"
        );
        assert!(
            sql.contains("GENERATED ALWAYS AS (`id` * 2) STORED"),
            "{sql}"
        );
        // The virtual column is not in the records; the others are.
        let s = parse_create_table(&sql).unwrap();
        let stored: Vec<_> = s.columns.iter().map(|c| c.name.clone().unwrap()).collect();
        assert_eq!(stored, ["id", "inv", "g"]);
    }
}
