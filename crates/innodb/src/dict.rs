//! The InnoDB data dictionary of MariaDB and MySQL 5.7 in the system tablespace:
//! SYS_TABLES (index 1) names tables and gives their ids, SYS_COLUMNS (index 2) their
//! columns, SYS_INDEXES (index 3) each table's index ids, SYS_FIELDS (index 4) each index's
//! columns. Their records are REDUNDANT. A dropped table's records are delete-marked, then
//! purged onto their page's free list: both are read, so a dropped table's index id and
//! definition can be found while its records are delete-marked, or on servers that keep a
//! purged record's bytes. (MariaDB 10.11 clears them once purged: then the live dictionary
//! still tells which index a table of the same name has now.)
//!
//! What a SYS_COLUMNS record says of a column, as MariaDB 10.11 writes it (checked against
//! `information_schema.INNODB_SYS_COLUMNS` for every column type): MTYPE is the storage
//! class (1 latin1 VARCHAR, 2 latin1 CHAR, 3 fixed binary, 4 VARBINARY, 5 BLOB/TEXT, 6
//! integer, 9 FLOAT, 10 DOUBLE, 12 VARCHAR, 13 CHAR, 14 GEOMETRY); PRTYPE's low byte is the
//! server's type code, 0x100 NOT NULL, 0x200 UNSIGNED, 0x400 binary, 0x2000 VIRTUAL, and
//! bits 16.. the collation id; LEN is the length in bytes (BLOBs: 8 + the length's bytes).
//! Not recorded anywhere in InnoDB: DECIMAL's precision and scale, ENUM/SET values (stored
//! as their numbers), which fixed 16-byte type (UUID, INET6) a column was, defaults.

use serde::Serialize;

use crate::index::{IndexPage, RecordHeader};
use crate::page::be;

/// Index id of SYS_TABLES' clustered index.
pub const SYS_TABLES: u64 = 1;
/// Index id of SYS_COLUMNS' clustered index.
pub const SYS_COLUMNS: u64 = 2;
/// Index id of SYS_INDEXES' clustered index.
pub const SYS_INDEXES: u64 = 3;
/// Index id of SYS_FIELDS' clustered index.
pub const SYS_FIELDS: u64 = 4;

/// A SYS_TABLES record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysTable {
    /// `db/table`.
    pub name: String,
    /// Table id.
    pub id: u64,
    /// Tablespace id.
    pub space: Option<u32>,
    /// N_COLS: the column count, with bit 31 set for COMPACT and later row formats.
    pub n_cols: Option<u32>,
    /// TYPE: the table flags (bit 0 compact, bits 1..4 compressed page size, bit 5
    /// off-page columns as DYNAMIC stores them).
    pub flags: Option<u32>,
    /// The record is delete-marked or on the free list: the table was dropped (or renamed).
    pub deleted: bool,
}

/// A SYS_COLUMNS record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysColumn {
    /// Table id.
    pub table_id: u64,
    /// Position (VIRTUAL columns: bit 16 and up hold more).
    pub pos: u32,
    /// Column name.
    pub name: String,
    /// Storage class.
    pub mtype: u32,
    /// Precise type: server type code, flags, collation id.
    pub prtype: u32,
    /// Length in bytes.
    pub len: u32,
    /// The record is delete-marked or on the free list.
    pub deleted: bool,
}

/// A SYS_FIELDS record: one column of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysField {
    /// Index id.
    pub index_id: u64,
    /// Position in the index, and the prefix length in bytes, packed as InnoDB does (see
    /// [`Dictionary::definition`]).
    pub pos: u32,
    /// Column name.
    pub column: String,
    /// The record is delete-marked or on the free list.
    pub deleted: bool,
}

/// A SYS_INDEXES record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysIndex {
    /// Table id.
    pub table_id: u64,
    /// Index id.
    pub id: u64,
    /// Index name (`PRIMARY`, `GEN_CLUST_INDEX`, …).
    pub name: String,
    /// Type bits: 1 clustered, 2 unique, 32 FULLTEXT, 64 SPATIAL.
    pub kind: u32,
    /// Number of columns.
    pub n_fields: Option<u32>,
    /// Root page.
    pub root: Option<u32>,
    /// The record is delete-marked or on the free list.
    pub deleted: bool,
}

/// The fields of a REDUNDANT record (`None` for SQL NULL), from its end-offset array.
pub fn redundant_fields<'a>(page: &'a [u8], rec: &RecordHeader) -> Option<Vec<Option<&'a [u8]>>> {
    let (n, short) = rec.n_fields?;
    let n = usize::from(n);
    if n == 0 || n > 1023 {
        return None;
    }
    let size = if short { 1 } else { 2 };
    let mut out = Vec::with_capacity(n);
    let mut start = 0usize;
    for i in 0..n {
        let at = rec.origin.checked_sub(6 + (i + 1) * size)?;
        let (end, null) = if short {
            let b = *page.get(at)?;
            (usize::from(b & 0x7f), b & 0x80 != 0)
        } else {
            let v = be::u16(page, at)?;
            (usize::from(v & 0x3fff), v & 0x8000 != 0)
        };
        if end < start {
            return None;
        }
        let data = page.get(rec.origin + start..rec.origin + end)?;
        out.push(if null { None } else { Some(data) });
        start = end;
    }
    Some(out)
}

fn uint(b: Option<&[u8]>) -> Option<u64> {
    let b = b?;
    (b.len() <= 8).then(|| b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

/// The dictionary records found so far.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dictionary {
    /// SYS_TABLES records.
    pub tables: Vec<SysTable>,
    /// SYS_INDEXES records.
    pub indexes: Vec<SysIndex>,
    /// SYS_COLUMNS records.
    pub columns: Vec<SysColumn>,
    /// SYS_FIELDS records.
    pub fields: Vec<SysField>,
    /// Definitions given whole, by table id: SDI table documents rebuilt from MySQL 8's
    /// data dictionary ([`crate::dd`]).
    #[serde(skip)]
    pub documents: std::collections::BTreeMap<u64, String>,
}

impl Dictionary {
    /// Reads the dictionary records of a leaf page of the system tablespace
    /// (other pages are ignored): those on the record list, and those on the free list.
    pub fn page(&mut self, page: &[u8]) {
        let Some(ip) = IndexPage::new(page) else {
            return;
        };
        let h = ip.header;
        if h.compact || h.level != 0 || !(SYS_TABLES..=SYS_FIELDS).contains(&h.index_id) {
            return;
        }
        if be::u32(page, 34) != Some(0) {
            return;
        }
        let live = ip.records().filter_map(Result::ok).map(|r| (r, r.deleted));
        let freed = ip.free_records().filter_map(Result::ok).map(|r| (r, true));
        for (rec, deleted) in live.chain(freed) {
            let Some(f) = redundant_fields(page, &rec) else {
                continue;
            };
            let text = |i: usize| {
                f.get(i)
                    .copied()
                    .flatten()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            };
            // Field `i` as an unsigned integer.
            let int = |i: usize| uint(f.get(i).copied().flatten());
            let num = |i: usize| int(i).map(|n| n as u32);
            if h.index_id == SYS_TABLES && f.len() >= 10 {
                let (Some(name), Some(id)) = (text(0), int(3)) else {
                    continue;
                };
                self.tables.push(SysTable {
                    name,
                    id,
                    space: num(9),
                    n_cols: num(4),
                    flags: num(5),
                    deleted,
                });
            } else if h.index_id == SYS_INDEXES && f.len() >= 9 {
                let (Some(table_id), Some(id), Some(name)) = (int(0), int(1), text(4)) else {
                    continue;
                };
                self.indexes.push(SysIndex {
                    table_id,
                    id,
                    name,
                    kind: num(6).unwrap_or(0),
                    n_fields: num(5),
                    root: num(8),
                    deleted,
                });
            } else if h.index_id == SYS_COLUMNS && f.len() >= 8 {
                let (Some(table_id), Some(pos), Some(name), Some(mtype), Some(prtype), Some(len)) =
                    (int(0), num(1), text(4), num(5), num(6), num(7))
                else {
                    continue;
                };
                self.columns.push(SysColumn {
                    table_id,
                    pos,
                    name,
                    mtype,
                    prtype,
                    len,
                    deleted,
                });
            } else if h.index_id == SYS_FIELDS && f.len() >= 5 {
                let (Some(index_id), Some(pos), Some(column)) = (int(0), num(1), text(4)) else {
                    continue;
                };
                self.fields.push(SysField {
                    index_id,
                    pos,
                    column,
                    deleted,
                });
            }
        }
    }

    /// The index ids of live tables with another name than `db/name`: their pages are
    /// another table's data, whatever definition they happen to fit.
    pub fn live_elsewhere(&self, db_slash_name: &str) -> Vec<u64> {
        let tables: Vec<u64> = self
            .tables
            .iter()
            .filter(|t| !t.deleted && t.name != db_slash_name)
            .map(|t| t.id)
            .collect();
        let mut out: Vec<u64> = self
            .indexes
            .iter()
            .filter(|i| !i.deleted && tables.contains(&i.table_id))
            .map(|i| i.id)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Dropped tables that were probably `db/name` before it was created again with another
    /// definition: (table id, clustered index id) of each dropped clustered index whose
    /// table no record names (the CREATE overwrote the name's SYS_TABLES record) and whose
    /// columns share at least half of their names with the table now named so. Best match
    /// first.
    pub fn recreated_from(&self, db_slash_name: &str) -> Vec<(u64, u64)> {
        let now: std::collections::HashSet<&str> = self
            .tables
            .iter()
            .filter(|t| t.name == db_slash_name && !t.deleted)
            .flat_map(|t| self.columns.iter().filter(move |c| c.table_id == t.id))
            .map(|c| c.name.as_str())
            .collect();
        let named: std::collections::HashSet<u64> = self.tables.iter().map(|t| t.id).collect();
        let mut out: Vec<(usize, u64, u64)> = Vec::new();
        for ix in self.indexes.iter().filter(|i| i.deleted && i.kind & 1 != 0) {
            if named.contains(&ix.table_id) || out.iter().any(|o| o.2 == ix.id) {
                continue;
            }
            let mut cols: Vec<&str> = self
                .columns
                .iter()
                .filter(|c| c.table_id == ix.table_id)
                .map(|c| c.name.as_str())
                .collect();
            cols.sort_unstable();
            cols.dedup();
            let shared = cols.iter().filter(|c| now.contains(*c)).count();
            if !cols.is_empty() && shared * 2 >= cols.len().max(now.len()) {
                out.push((shared, ix.table_id, ix.id));
            }
        }
        out.sort_by_key(|o| std::cmp::Reverse(o.0));
        out.into_iter().map(|(_, t, i)| (t, i)).collect()
    }

    /// The clustered index ids of the tables named `db/name`: (live, dropped).
    pub fn clustered_of(&self, db_slash_name: &str) -> (Vec<u64>, Vec<u64>) {
        let (mut live, mut dropped) = (Vec::new(), Vec::new());
        for t in self.tables.iter().filter(|t| t.name == db_slash_name) {
            for ix in self
                .indexes
                .iter()
                .filter(|i| i.table_id == t.id && i.kind & 1 != 0)
            {
                let list = if t.deleted || ix.deleted {
                    &mut dropped
                } else {
                    &mut live
                };
                if !list.contains(&ix.id) {
                    list.push(ix.id);
                }
            }
        }
        dropped.retain(|id| !live.contains(id));
        (live, dropped)
    }

    /// The `CREATE TABLE` statement of table `db/name` rebuilt from its dictionary records:
    /// those of a dropped table of that name (the newest, by table id) when there are any,
    /// else those of the live one. Columns in table order with the types their records give,
    /// nullability, the clustered index as PRIMARY KEY (none when InnoDB keyed the rows by a
    /// hidden row id), the other indexes, ROW_FORMAT. Where InnoDB does not record enough
    /// (see the module doc) the column keeps its bytes and the statement says so in a column
    /// COMMENT; [`Definition::notes`] lists those columns.
    pub fn definition(&self, db_slash_name: &str) -> Result<Definition, DictError> {
        let named: Vec<&SysTable> = self
            .tables
            .iter()
            .filter(|t| t.name == db_slash_name)
            .collect();
        let table = named
            .iter()
            .filter(|t| t.deleted)
            .max_by_key(|t| t.id)
            .or_else(|| named.iter().filter(|t| !t.deleted).max_by_key(|t| t.id))
            .copied()
            .ok_or_else(|| {
                DictError(format!(
                    "no dictionary record names {db_slash_name} (purged, or the table was never in these files)"
                ))
            })?;
        self.definition_of(table.id, db_slash_name)
    }

    /// The table id a SYS_INDEXES record gives index `index_id`, and whether that record
    /// is delete-marked or freed.
    pub fn table_of_index(&self, index_id: u64) -> Option<(u64, bool)> {
        let mut found = self.indexes.iter().filter(|i| i.id == index_id);
        let first = found.next()?;
        let deleted = first.deleted && found.all(|i| i.deleted);
        Some((first.table_id, deleted))
    }

    /// [`Dictionary::definition`] of the table with id `table_id`, named `db/name`. Its
    /// SYS_TABLES record may be gone: a table created again under the same name overwrites
    /// it in place (the name is its key), while the old column and index records, keyed by
    /// the old table id, stay delete-marked until purge.
    pub fn definition_of(
        &self,
        table_id: u64,
        db_slash_name: &str,
    ) -> Result<Definition, DictError> {
        // The SYS_TABLES record, when still there, tells the row format.
        let record = self.tables.iter().find(|t| t.id == table_id);
        if let Some(doc) = self.documents.get(&table_id) {
            let create_sql = crate::sdi::create_table(doc)
                .map_err(|e| DictError(format!("{db_slash_name} (table id {table_id}): {e}")))?;
            return Ok(Definition {
                table_id,
                dropped: record.is_none_or(|t| t.deleted),
                create_sql,
                notes: Vec::new(),
                sdi: Some(doc.clone()),
            });
        }
        let (n_cols, flags) = (record.and_then(|t| t.n_cols), record.and_then(|t| t.flags));
        let mut cols: Vec<&SysColumn> = self
            .columns
            .iter()
            .filter(|c| c.table_id == table_id && c.prtype & DATA_VIRTUAL == 0)
            .collect();
        cols.sort_by_key(|c| c.pos);
        cols.dedup_by_key(|c| c.pos);
        let wanted = n_cols.map(|n| (n & 0x7fff_ffff) as usize);
        if cols.is_empty() || cols.iter().enumerate().any(|(i, c)| c.pos as usize != i) {
            return Err(DictError(format!(
                "the column records of {db_slash_name} (table id {table_id}) are gone or incomplete: found {} of {}",
                cols.len(),
                wanted.map_or("?".to_owned(), |n| n.to_string())
            )));
        }
        let mut notes = Vec::new();
        let mut lines = Vec::new();
        let mut maxlen = std::collections::HashMap::new();
        for c in &cols {
            let (ty, mb, note) = column_type(c)
                .map_err(|e| DictError(format!("{db_slash_name} column {}: {e}", c.name)))?;
            maxlen.insert(c.name.as_str(), mb);
            let null = if c.prtype & DATA_NOT_NULL != 0 {
                " NOT NULL"
            } else {
                " NULL DEFAULT NULL"
            };
            let comment = note.as_ref().map_or(String::new(), |n| {
                format!(" COMMENT {}", crate::frm::quote(&format!("lifeboat: {n}")))
            });
            if let Some(n) = note {
                notes.push(format!("{}: {n}", c.name));
            }
            lines.push(format!(
                "  {} {ty}{null}{comment}",
                crate::frm::ident(c.name.as_bytes())
            ));
        }
        // The indexes, clustered first (the decoder takes the first key as the clustered).
        let mut indexes: Vec<&SysIndex> = self
            .indexes
            .iter()
            .filter(|i| i.table_id == table_id)
            .collect();
        indexes.sort_by_key(|i| (i.kind & 1 == 0, i.id));
        indexes.dedup_by_key(|i| i.id);
        for ix in indexes {
            let mut fields: Vec<&SysField> =
                self.fields.iter().filter(|f| f.index_id == ix.id).collect();
            fields.sort_by_key(|f| f.pos);
            fields.dedup_by_key(|f| f.pos);
            if ix.name == "GEN_CLUST_INDEX"
                || ix.name == "FTS_DOC_ID_INDEX"
                || ix.kind & 32 != 0
                || fields.is_empty()
            {
                continue;
            }
            // With a prefix anywhere in the index every position is (n << 16) | prefix;
            // the first field's is then just its prefix.
            let prefixed =
                fields.first().is_some_and(|f| f.pos != 0) || fields.iter().any(|f| f.pos > 0xffff);
            let parts: Vec<String> = fields
                .iter()
                .map(|f| {
                    let name = crate::frm::ident(f.column.as_bytes());
                    let prefix = if prefixed { f.pos & 0xffff } else { 0 };
                    let mb = u32::from(*maxlen.get(f.column.as_str()).unwrap_or(&1)).max(1);
                    if prefix == 0 {
                        name
                    } else {
                        format!("{name}({})", prefix / mb)
                    }
                })
                .collect();
            let name = crate::frm::ident(ix.name.as_bytes());
            let what = if ix.kind & 1 != 0 && ix.name == "PRIMARY" {
                "PRIMARY KEY".to_owned()
            } else if ix.kind & 2 != 0 {
                format!("UNIQUE KEY {name}")
            } else if ix.kind & 64 != 0 {
                format!("SPATIAL KEY {name}")
            } else {
                format!("KEY {name}")
            };
            lines.push(format!("  {what} ({})", parts.join(",")));
        }
        // DYNAMIC, the default, is left unsaid: saying it changes the server's row image
        // of a table without VARCHAR or BLOB columns, and so its CHECKSUM TABLE.
        let row_format = match (n_cols, flags) {
            (Some(n), _) if n & 0x8000_0000 == 0 => " ROW_FORMAT=REDUNDANT".to_owned(),
            (_, Some(f)) if (f >> 1) & 0xf != 0 => format!(
                " ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE={}",
                (512u32 << ((f >> 1) & 0xf)) / 1024
            ),
            (_, Some(f)) if f & 0x20 != 0 => String::new(),
            (Some(_), Some(_)) => " ROW_FORMAT=COMPACT".to_owned(),
            // No SYS_TABLES record left to tell.
            _ => String::new(),
        };
        let name = db_slash_name.split_once('/').map_or(db_slash_name, |p| p.1);
        let create_sql = format!(
            "CREATE TABLE {} (\n{}\n) ENGINE=InnoDB{row_format}",
            crate::frm::ident(name.as_bytes()),
            lines.join(",\n")
        );
        Ok(Definition {
            table_id,
            dropped: record.is_none_or(|t| t.deleted),
            create_sql,
            notes,
            sdi: None,
        })
    }
}

/// A table definition rebuilt from dictionary records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Definition {
    /// The table id whose records were used.
    pub table_id: u64,
    /// Those records were delete-marked or freed: a dropped table's.
    pub dropped: bool,
    /// The rebuilt statement.
    pub create_sql: String,
    /// Columns whose type could only be partly rebuilt, and how they were kept.
    pub notes: Vec<String>,
    /// The SDI table document the definition came from (MySQL 8's data dictionary): it
    /// gives the record layout whole ([`crate::sdi::table_schema`]).
    #[serde(skip)]
    pub sdi: Option<String>,
}

/// Why a definition could not be rebuilt from the dictionary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dictionary: {0}")]
pub struct DictError(pub String);

const DATA_NOT_NULL: u32 = 0x100;
const DATA_UNSIGNED: u32 = 0x200;
const DATA_VIRTUAL: u32 = 0x2000;

/// A column's SQL type from its SYS_COLUMNS record: the type, its character set's longest
/// character in bytes (1 for non-character types), and what could not be rebuilt.
fn column_type(c: &SysColumn) -> Result<(String, u8, Option<String>), String> {
    let code = c.prtype & 0xff;
    let unsigned = if c.prtype & DATA_UNSIGNED != 0 {
        " unsigned"
    } else {
        ""
    };
    let len = c.len;
    let coll = ((c.prtype >> 16) & 0x7fff) as u16;
    let charset = || -> Result<(&'static str, &'static str, u8), String> {
        let (cs, name) =
            crate::collations::by_id(coll).ok_or_else(|| format!("unknown collation id {coll}"))?;
        let mb = crate::collations::maxlen(cs).unwrap_or(1).max(1);
        Ok((cs, name, mb))
    };
    let ints = |len: u32| match len {
        1 => Some("tinyint"),
        2 => Some("smallint"),
        3 => Some("mediumint"),
        4 => Some("int"),
        8 => Some("bigint"),
        _ => None,
    };
    let frac = |extra: u32| match extra {
        0 => Some(""),
        1 => Some("(2)"),
        2 => Some("(4)"),
        3 => Some("(6)"),
        _ => None,
    };
    let raw = |what: &str| {
        Ok((
            format!("binary({len})"),
            1,
            Some(format!("{what}; kept as its {len} stored bytes")),
        ))
    };
    let bad = || {
        format!(
            "MTYPE {} PRTYPE {:#x} LEN {len} is not a type lifeboat knows",
            c.mtype, c.prtype
        )
    };
    match c.mtype {
        // Integers, DATE, YEAR, ENUM/SET and the old temporal formats.
        6 => match code {
            10 if len == 3 => Ok(("date".into(), 1, None)),
            13 if len == 1 => Ok(("year".into(), 1, None)),
            254 | 247 | 248 => {
                let t = ints(len).ok_or_else(bad)?;
                Ok((
                    format!("{t} unsigned"),
                    1,
                    Some("ENUM or SET (values not in the dictionary); kept as its number".into()),
                ))
            }
            7 | 11 | 12 => {
                let t = ints(len).ok_or_else(bad)?;
                Ok((
                    format!("{t} unsigned"),
                    1,
                    Some(
                        "a temporal column in the pre-5.6 format; kept as its stored number".into(),
                    ),
                ))
            }
            _ => Ok((format!("{}{unsigned}", ints(len).ok_or_else(bad)?), 1, None)),
        },
        9 => Ok((format!("float{unsigned}"), 1, None)),
        10 => Ok((format!("double{unsigned}"), 1, None)),
        3 => match code {
            246 => raw("DECIMAL of unknown precision and scale"),
            11 => Ok((
                format!("time{}", frac(len.wrapping_sub(3)).ok_or_else(bad)?),
                1,
                None,
            )),
            12 => Ok((
                format!("datetime{}", frac(len.wrapping_sub(5)).ok_or_else(bad)?),
                1,
                None,
            )),
            7 => Ok((
                format!("timestamp{}", frac(len.wrapping_sub(4)).ok_or_else(bad)?),
                1,
                None,
            )),
            16 if (1..=8).contains(&len) => Ok((format!("bit({})", len * 8), 1, None)),
            254 if coll != 63 => raw("a fixed 16-byte type (UUID or INET6)"),
            _ => Ok((format!("binary({len})"), 1, None)),
        },
        4 => Ok((format!("varbinary({len})"), 1, None)),
        1 | 2 | 12 | 13 => {
            let (cs, name, mb) = charset()?;
            let kind = if matches!(c.mtype, 1 | 12) {
                "varchar"
            } else {
                "char"
            };
            Ok((
                format!(
                    "{kind}({}) CHARACTER SET {cs} COLLATE {name}",
                    len / u32::from(mb)
                ),
                mb,
                None,
            ))
        }
        5 if code == 255 => Ok(("geometry".into(), 1, None)),
        5 => {
            let size = match len.checked_sub(8) {
                Some(1) => "tiny",
                Some(2) => "",
                Some(3) => "medium",
                Some(4) => "long",
                _ => return Err(bad()),
            };
            if coll == 63 || coll == 0 {
                Ok((format!("{size}blob"), 1, None))
            } else {
                let (cs, name, mb) = charset()?;
                Ok((
                    format!("{size}text CHARACTER SET {cs} COLLATE {name}"),
                    mb,
                    None,
                ))
            }
        }
        14 => Ok(("geometry".into(), 1, None)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::parse_create_table;

    fn column(pos: u32, name: &str, mtype: u32, prtype: u32, len: u32) -> SysColumn {
        SysColumn {
            table_id: 18,
            pos,
            name: name.into(),
            mtype,
            prtype,
            len,
            deleted: true,
        }
    }

    /// MTYPE, PRTYPE and LEN as MariaDB 10.11's INNODB_SYS_COLUMNS showed them for a table
    /// of every column type.
    fn every_type() -> Dictionary {
        let cols = [
            ("a", 6, 1025, 1),
            ("b", 6, 1793, 1),
            ("d", 6, 1545, 3),
            ("e", 6, 1283, 4),
            ("i", 3, 525558, 6),
            ("k", 6, 1034, 3),
            ("m", 3, 525323, 5),
            ("o", 3, 525324, 8),
            ("q", 3, 525831, 5),
            ("r", 6, 1549, 1),
            ("s", 13, 2949374, 40),
            ("u", 12, 14684431, 400),
            ("v", 1, 528399, 300),
            ("x", 4, 4129807, 200),
            ("aa", 5, 4130044, 11),
            ("ad", 5, 2949372, 10),
            ("ah", 6, 766, 1),
            ("aj", 3, 4130320, 3),
            ("ak", 14, 1279, 12),
            ("am", 3, 525054, 16),
            ("at", 12, 2293775, 6),
            ("ao", 6, 9219, 4),
        ];
        let mut d = Dictionary::default();
        for (k, (name, mtype, prtype, len)) in cols.into_iter().enumerate() {
            // The VIRTUAL column's position carries more bits.
            let pos = if name == "ao" { 65576 } else { k as u32 };
            d.columns.push(column(pos, name, mtype, prtype, len));
        }
        d.tables.push(SysTable {
            name: "d/t".into(),
            id: 18,
            space: Some(5),
            n_cols: Some(0x8000_0000 | 25),
            flags: Some(33),
            deleted: true,
        });
        for (id, name, kind) in [(23, "PRIMARY", 3), (25, "k2", 0)] {
            d.indexes.push(SysIndex {
                table_id: 18,
                id,
                name: name.into(),
                kind,
                n_fields: None,
                root: None,
                deleted: true,
            });
        }
        for (index_id, pos, column) in [(23, 0, "e"), (25, 20, "x"), (25, 65536, "a")] {
            d.fields.push(SysField {
                index_id,
                pos,
                column: column.into(),
                deleted: true,
            });
        }
        d
    }

    #[test]
    fn a_dropped_tables_definition_comes_from_its_column_records() {
        let def = every_type().definition("d/t").unwrap();
        assert!(def.dropped);
        let sql = &def.create_sql;
        for want in [
            "`a` tinyint NULL DEFAULT NULL",
            "`b` tinyint unsigned NOT NULL",
            "`d` mediumint unsigned NULL",
            "`i` binary(6) NULL DEFAULT NULL COMMENT 'lifeboat: DECIMAL",
            "`k` date NULL",
            "`m` time(4) NULL",
            "`o` datetime(6) NULL",
            "`q` timestamp(2) NULL",
            "`r` year NULL",
            "`s` char(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
            "`u` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
            "`v` varchar(300) CHARACTER SET latin1",
            "`x` varbinary(200)",
            "`aa` mediumblob",
            "`ad` text CHARACTER SET utf8mb4",
            "`ah` tinyint unsigned NULL DEFAULT NULL COMMENT 'lifeboat: ENUM or SET",
            "`aj` bit(24)",
            "`ak` geometry",
            "`am` binary(16) NULL DEFAULT NULL COMMENT 'lifeboat: a fixed 16-byte type",
            "`at` varchar(3) CHARACTER SET ucs2",
            "PRIMARY KEY (`e`)",
            "KEY `k2` (`x`(20),`a`)",
        ] {
            assert!(sql.contains(want), "{want} not in {sql}");
        }
        assert!(!sql.contains("`ao`"), "{sql}");
        assert!(!sql.contains("ROW_FORMAT"), "{sql}");
        assert_eq!(def.notes.len(), 3, "{:?}", def.notes);
        let s = parse_create_table(sql).unwrap();
        assert_eq!(s.columns.len(), 21);
        assert_eq!(s.clustered, vec![3]);
    }

    #[test]
    fn missing_column_records_are_an_error_not_a_guess() {
        let mut d = every_type();
        d.columns.retain(|c| c.name != "k");
        let e = d.definition("d/t").unwrap_err().to_string();
        assert!(e.contains("incomplete"), "{e}");
        assert!(every_type().definition("d/other").is_err());
        // The SYS_TABLES record overwritten by a table created again: the old id still
        // gives the definition.
        let mut d = every_type();
        d.tables.clear();
        let def = d.definition_of(18, "d/t").unwrap();
        assert!(def.dropped);
        assert_eq!(d.table_of_index(23), Some((18, true)));
    }
}
