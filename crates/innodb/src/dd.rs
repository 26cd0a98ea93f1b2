//! MySQL 8.0+'s data dictionary, in `mysql.ibd`: tables of its own (`mysql.schemata`,
//! `mysql.tables`, `mysql.columns`, `mysql.indexes`, `mysql.index_column_usage`) took the
//! place of the SYS_ tables of [`crate::dict`]. `mysql.ibd`'s SDI describes them, so their
//! records decode like any table's: the layout is read, never assumed, and follows the
//! server version. A DROP TABLE delete-marks the table's rows there; purge then moves them
//! to their page's free list, where MySQL leaves their bytes until the space is reused.
//! Both are read, as for the SYS_ tables.
//!
//! The rows of one table are put back together as the SDI document MySQL would have
//! written for it (the same field names and enum numbers), so [`crate::sdi`] gives its
//! definition. What is found goes into a [`Dictionary`]: tables under `db/name`, indexes
//! with the InnoDB index id their `se_private_data` names, the definitions by table id.

use std::collections::HashMap;

use lifeboat_mysql_types::Value;
use serde_json::{Value as Json, json};

use crate::dict::{Dictionary, SysIndex, SysTable};
use crate::index::IndexPage;
use crate::record::{Field, Layout, decode_with};
use crate::schema::TableSchema;

/// Tablespace id of `mysql.ibd`.
pub const MYSQL_SPACE_ID: u32 = 4_294_967_294;

/// The dictionary tables read, by their name in schema `mysql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Schemata,
    Tables,
    Columns,
    Indexes,
    IndexColumns,
}

impl Kind {
    fn of(name: &str) -> Option<Kind> {
        Some(match name {
            "schemata" => Kind::Schemata,
            "tables" => Kind::Tables,
            "columns" => Kind::Columns,
            "indexes" => Kind::Indexes,
            "index_column_usage" => Kind::IndexColumns,
            _ => return None,
        })
    }
}

/// One dictionary table: its definition from the SDI (the reader keys it by its clustered
/// index id).
#[derive(Debug, Clone)]
struct DdTable {
    kind: Kind,
    schema: TableSchema,
    layout: Layout,
}

/// One decoded dictionary row: the columns by name, and whether it was deleted.
#[derive(Debug, Clone)]
struct DdRow {
    values: HashMap<String, Json>,
    deleted: bool,
}

impl DdRow {
    fn int(&self, k: &str) -> Option<u64> {
        self.values.get(k).and_then(Json::as_u64)
    }
    fn text(&self, k: &str) -> &str {
        self.values.get(k).and_then(Json::as_str).unwrap_or("")
    }
}

/// Reads the dictionary tables' records out of `mysql.ibd`'s pages.
#[derive(Debug, Clone, Default)]
pub struct Reader {
    /// By clustered index id.
    tables: HashMap<u64, DdTable>,
    rows: HashMap<Kind, Vec<DdRow>>,
}

impl Reader {
    /// A reader for the dictionary tables the SDI table documents of `mysql.ibd` describe;
    /// `None` unless all of them are there (not MySQL 8.0+'s `mysql.ibd`).
    pub fn from_sdi<'a>(documents: impl IntoIterator<Item = &'a str>) -> Option<Reader> {
        let mut tables = HashMap::new();
        for doc in documents {
            let Ok(t) = crate::sdi::table_of(doc) else {
                continue;
            };
            let Some(kind) = Kind::of(&t.name).filter(|_| t.schema == "mysql") else {
                continue;
            };
            let (Some(index), Ok(schema)) = (t.clustered_index, crate::sdi::table_schema(doc))
            else {
                continue;
            };
            let layout = Layout::new(&schema);
            tables.insert(
                index,
                DdTable {
                    kind,
                    schema,
                    layout,
                },
            );
        }
        (tables.len() == 5).then(|| Reader {
            tables,
            rows: HashMap::new(),
        })
    }

    /// Reads the records of a page of `mysql.ibd`, when it is a leaf of a dictionary
    /// table's clustered index: those on the record list and those on the free list.
    /// `page_of` reads other pages of the file (long values stored off the page).
    pub fn page(&mut self, page: &[u8], page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>) {
        let (Some(fil), Some(ip)) = (crate::FilHeader::parse(page), IndexPage::new(page)) else {
            return;
        };
        let h = ip.header;
        if fil.space_id != MYSQL_SPACE_ID || h.level != 0 || !h.compact {
            return;
        }
        let Some(t) = self.tables.get(&h.index_id) else {
            return;
        };
        let live = ip.records().filter_map(Result::ok).map(|r| (r, r.deleted));
        let freed = ip.free_records().filter_map(Result::ok).map(|r| (r, true));
        for (rec, deleted) in live.chain(freed) {
            if rec.min_rec || rec.status != 0 {
                continue;
            }
            let Ok(row) = decode_with(page, rec.origin, &t.schema, &t.layout) else {
                continue;
            };
            let mut values = HashMap::new();
            for (col, field) in t.schema.columns.iter().zip(&row.fields) {
                let Some(name) = &col.name else {
                    continue;
                };
                let v = match field {
                    Field::Null => Json::Null,
                    Field::Value(v) => json_of(v),
                    Field::External { .. } => match field.read_external(page_of) {
                        Ok(b) => Json::String(String::from_utf8_lossy(&b).into_owned()),
                        Err(_) => continue,
                    },
                };
                values.insert(name.clone(), v);
            }
            self.rows
                .entry(t.kind)
                .or_default()
                .push(DdRow { values, deleted });
        }
    }

    /// Puts what was read into `dict`: every InnoDB table of the dictionary under
    /// `db/name`, its indexes under their InnoDB index ids, and its definition as an SDI
    /// document. A row found both live and deleted (a page image of each) counts as live.
    pub fn finish(self, dict: &mut Dictionary) {
        let all = |k: Kind| -> Vec<&DdRow> {
            let mut v: Vec<&DdRow> = self.rows.get(&k).into_iter().flatten().collect();
            // Live rows first (a stable sort keeps the pages' order among each).
            v.sort_by_key(|r| r.deleted);
            v
        };
        // Live rows first: the first row of an id wins.
        let by_id = |k: Kind, key: &str| -> HashMap<u64, &DdRow> {
            let mut m = HashMap::new();
            for r in all(k) {
                if let Some(id) = r.int(key) {
                    m.entry(id).or_insert(r);
                }
            }
            m
        };
        let schemata = by_id(Kind::Schemata, "id");
        let tables = by_id(Kind::Tables, "id");
        let columns = by_id(Kind::Columns, "id");
        let indexes = by_id(Kind::Indexes, "id");
        let mut usage: HashMap<(u64, u64), &DdRow> = HashMap::new();
        for r in all(Kind::IndexColumns) {
            if let (Some(i), Some(p)) = (r.int("index_id"), r.int("ordinal_position")) {
                usage.entry((i, p)).or_insert(r);
            }
        }
        let mut cols_of: HashMap<u64, Vec<&DdRow>> = HashMap::new();
        for c in columns.values() {
            if let Some(t) = c.int("table_id") {
                cols_of.entry(t).or_default().push(c);
            }
        }
        let mut ixs_of: HashMap<u64, Vec<(u64, &DdRow)>> = HashMap::new();
        for (&id, i) in &indexes {
            if let Some(t) = i.int("table_id") {
                ixs_of.entry(t).or_default().push((id, i));
            }
        }
        let mut cols_of_index: HashMap<u64, Vec<(u64, &DdRow)>> = HashMap::new();
        for (&(index, pos), u) in &usage {
            cols_of_index.entry(index).or_default().push((pos, u));
        }
        for (&id, t) in &tables {
            if t.text("engine") != "InnoDB" || t.int("type") != Some(1) {
                continue;
            }
            let Some(schema) = t
                .int("schema_id")
                .and_then(|s| schemata.get(&s))
                .map(|s| s.text("name"))
            else {
                continue;
            };
            let mut cols = cols_of.remove(&id).unwrap_or_default();
            cols.sort_by_key(|c| c.int("ordinal_position"));
            let opx: HashMap<u64, usize> = cols
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((c.int("id")?, i)))
                .collect();
            let mut ixs = ixs_of.remove(&id).unwrap_or_default();
            ixs.sort_by_key(|(_, i)| i.int("ordinal_position"));
            let deleted = t.deleted;
            dict.tables.push(SysTable {
                name: format!("{schema}/{}", t.text("name")),
                id,
                space: None,
                n_cols: None,
                flags: None,
                deleted,
            });
            // InnoDB clusters on the PRIMARY KEY; without one, on the first index (the DD
            // lists a hidden PRIMARY on DB_ROW_ID then).
            let clustered = ixs
                .iter()
                .position(|(_, i)| i.int("type") == Some(1))
                .unwrap_or(0);
            let mut index_docs = Vec::new();
            for (n, (dd_id, i)) in ixs.iter().enumerate() {
                let private = i.text("se_private_data");
                let field = |k: &str| {
                    private
                        .split(';')
                        .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                        .and_then(|v| v.parse::<u64>().ok())
                };
                if let Some(index_id) = field("id") {
                    dict.indexes.push(SysIndex {
                        table_id: id,
                        id: index_id,
                        name: i.text("name").to_owned(),
                        kind: u32::from(n == clustered),
                        n_fields: None,
                        root: field("root").and_then(|r| u32::try_from(r).ok()),
                        deleted: deleted || i.deleted,
                    });
                }
                let mut parts = cols_of_index.remove(dd_id).unwrap_or_default();
                parts.sort_by_key(|(p, _)| *p);
                let elements: Vec<Json> = parts
                    .iter()
                    .filter_map(|(pos, u)| {
                        Some(json!({
                            "ordinal_position": pos,
                            "length": u.int("length"),
                            "hidden": u.int("hidden") == Some(1),
                            "column_opx": opx.get(&u.int("column_id")?)?,
                        }))
                    })
                    .collect();
                index_docs.push(json!({
                    "name": i.text("name"),
                    "type": i.int("type"),
                    "hidden": i.int("hidden") == Some(1),
                    "ordinal_position": i.int("ordinal_position"),
                    "se_private_data": private,
                    "elements": elements,
                }));
            }
            let column_docs: Vec<Json> = cols.iter().map(|c| column_doc(c)).collect();
            let doc = json!({"dd_object": {
                "name": t.text("name"),
                "schema_ref": schema,
                "engine": "InnoDB",
                "row_format": t.int("row_format"),
                "collation_id": t.int("collation_id"),
                "se_private_id": t.int("se_private_id"),
                "se_private_data": t.text("se_private_data"),
                "columns": column_docs,
                "indexes": index_docs,
            }});
            dict.documents.insert(id, doc.to_string());
        }
    }
}

/// The DDL log's record type of a B-tree to free (`mysql.innodb_ddl_log.type`).
const FREE_TREE: u32 = 1;

/// The root page of index `index_id` of tablespace `space_id` where `hay` (a redo log's
/// stream, or any bytes) holds a record of `mysql.innodb_ddl_log` naming that tree. InnoDB
/// writes one for each index a DROP frees (and one a CREATE would free on rollback); the
/// redo log keeps the inserted record whole: `thread_id`, `type` 1, `space_id`,
/// `page_no` (the root), `index_id`, each big-endian, the NULL `table_id` and paths left
/// out. It proves that the index was a real B-tree of that tablespace, not which table's.
pub fn freed_tree_root(hay: &[u8], space_id: u32, index_id: u64) -> Option<u32> {
    let id = index_id.to_be_bytes();
    memchr::memmem::find_iter(hay, &id).find_map(|at| {
        let head = hay.get(at.checked_sub(12)?..at)?;
        let (kind, rest) = head.split_at(4);
        let (space, root) = rest.split_at(4);
        let root: [u8; 4] = root.try_into().ok()?;
        (kind == FREE_TREE.to_be_bytes() && space == space_id.to_be_bytes())
            .then_some(u32::from_be_bytes(root))
    })
}

/// A column's SDI entry from its `mysql.columns` row: the same keys, booleans as booleans.
fn column_doc(c: &DdRow) -> Json {
    let mut out = serde_json::Map::new();
    for (k, v) in &c.values {
        let v = match (k.as_str(), v) {
            (
                "is_nullable"
                | "is_zerofill"
                | "is_unsigned"
                | "is_virtual"
                | "is_auto_increment"
                | "has_no_default"
                | "is_explicit_collation",
                Json::Number(n),
            ) => Json::Bool(n.as_u64() != Some(0)),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Json::Object(out)
}

/// A decoded value as the SDI writes it: numbers (enums by their 1-based number), text.
fn json_of(v: &Value<'_>) -> Json {
    match v {
        Value::Int(n) | Value::Bit(n) | Value::Set(n) => json!(n),
        Value::Enum(n) => json!(n),
        Value::Bytes(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        _ => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_log_records_name_a_freed_tree_and_its_root() {
        // As MySQL 9.7's redo log held one: thread 16, FREE_TREE, space 0, root 42, index 166.
        let mut hay = vec![0xee; 40];
        hay.extend(16u64.to_be_bytes());
        hay.extend(1u32.to_be_bytes());
        hay.extend(0u32.to_be_bytes());
        hay.extend(42u32.to_be_bytes());
        hay.extend(166u64.to_be_bytes());
        hay.extend([0x1f, 0x43]);
        assert_eq!(freed_tree_root(&hay, 0, 166), Some(42));
        assert_eq!(freed_tree_root(&hay, 7, 166), None);
        assert_eq!(freed_tree_root(&hay, 0, 167), None);
        assert_eq!(freed_tree_root(&hay[..50], 0, 166), None);
    }

    #[test]
    fn a_reader_needs_every_dictionary_table() {
        assert!(Reader::from_sdi(std::iter::empty()).is_none());
    }

    #[test]
    fn columns_take_sdi_booleans() {
        let row = DdRow {
            values: [
                ("name".to_owned(), json!("a")),
                ("is_nullable".to_owned(), json!(0)),
                ("hidden".to_owned(), json!(1)),
            ]
            .into_iter()
            .collect(),
            deleted: true,
        };
        let doc = column_doc(&row);
        assert_eq!(doc["is_nullable"], json!(false));
        assert_eq!(doc["hidden"], json!(1));
    }
}
