//! The InnoDB data dictionary of MariaDB and MySQL 5.7 in the system tablespace:
//! SYS_TABLES (index 1) names tables and gives their ids, SYS_INDEXES (index 3) gives each
//! table's index ids. Their records are REDUNDANT. A dropped table's records are
//! delete-marked, then purged onto their page's free list: both are read, so a dropped
//! table's index id can be found while its records are delete-marked, or on servers that
//! keep a purged record's bytes. (MariaDB 10.11 clears them once purged: then the live
//! dictionary still tells which index a table of the same name has now.)

use serde::Serialize;

use crate::index::{IndexPage, RecordHeader};
use crate::page::be;

/// Index id of SYS_TABLES' clustered index.
pub const SYS_TABLES: u64 = 1;
/// Index id of SYS_INDEXES' clustered index.
pub const SYS_INDEXES: u64 = 3;

/// A SYS_TABLES record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysTable {
    /// `db/table`.
    pub name: String,
    /// Table id.
    pub id: u64,
    /// Tablespace id.
    pub space: Option<u32>,
    /// The record is delete-marked or on the free list: the table was dropped (or renamed).
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
    /// Type bits: 1 clustered, 2 unique.
    pub kind: u32,
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
}

impl Dictionary {
    /// Reads the SYS_TABLES and SYS_INDEXES records of a leaf page of the system tablespace
    /// (other pages are ignored): those on the record list, and those on the free list.
    pub fn page(&mut self, page: &[u8]) {
        let Some(ip) = IndexPage::new(page) else {
            return;
        };
        let h = ip.header;
        if h.compact || h.level != 0 || !(h.index_id == SYS_TABLES || h.index_id == SYS_INDEXES) {
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
            if h.index_id == SYS_TABLES && f.len() >= 10 {
                let (Some(name), Some(id)) = (text(0), uint(f.get(3).copied().flatten())) else {
                    continue;
                };
                self.tables.push(SysTable {
                    name,
                    id,
                    space: uint(f.get(9).copied().flatten()).map(|s| s as u32),
                    deleted,
                });
            } else if h.index_id == SYS_INDEXES && f.len() >= 9 {
                let (Some(table_id), Some(id), Some(name)) = (
                    uint(f.first().copied().flatten()),
                    uint(f.get(1).copied().flatten()),
                    text(4),
                ) else {
                    continue;
                };
                self.indexes.push(SysIndex {
                    table_id,
                    id,
                    name,
                    kind: uint(f.get(6).copied().flatten()).unwrap_or(0) as u32,
                    root: uint(f.get(8).copied().flatten()).map(|p| p as u32),
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
}
