//! `lifeboat diff`: are the tables of two servers equal, and if not, which rows differ.
//!
//! Per table, one pass over key ranges of the source (chunks of `--chunk-rows` rows): each
//! side returns the chunk's row count and an order-independent hash of its rows (XOR of
//! per-row SHA-256 prefixes: MySQL 9 has no MD5 or SHA1); only chunks that differ are read row by row (key and row hash), to
//! list missing, extra and changed rows by key. Tables without a usable key are compared
//! with CHECKSUM TABLE. Values are compared as the bytes `CAST(col AS BINARY)` gives, with
//! NULL distinct from every value, in UTC.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lifeboat_server::{ConnectOptions, connect};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Value};
use serde::Serialize;

use crate::error::Error;
use crate::protect::backup::{SYSTEM_SCHEMAS, q};

/// What to compare.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only these databases (none: every non-system database of either side).
    pub databases: Vec<String>,
    /// Only these tables (`db.table`).
    pub tables: Vec<String>,
    /// Rows per chunk.
    pub chunk_rows: u64,
    /// Differing rows listed per table (all are counted).
    pub max_listed: usize,
    /// Tables compared at once.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            databases: Vec::new(),
            tables: Vec::new(),
            chunk_rows: 10_000,
            max_listed: 20,
            threads: 2,
        }
    }
}

/// One row that differs.
#[derive(Debug, Clone, Serialize)]
pub struct RowDiff {
    /// `missing` (on the target), `extra` (only on the target), `changed`.
    pub kind: &'static str,
    /// Its key, column by column.
    pub key: Vec<String>,
}

/// The comparison of one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableDiff {
    /// `db.table`.
    pub table: String,
    /// `equal`, `differs`, `missing_on_target`, `missing_on_source`, `columns_differ`.
    pub status: &'static str,
    /// Rows on the source and the target.
    pub source_rows: u64,
    /// Rows on the target.
    pub target_rows: u64,
    /// Chunks compared, and how many differed.
    pub chunks: u64,
    /// Chunks whose hashes differed.
    pub chunks_differing: u64,
    /// Rows on the source, not on the target.
    pub missing: u64,
    /// Rows on the target, not on the source.
    pub extra: u64,
    /// Rows on both whose values differ.
    pub changed: u64,
    /// The first differing rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<RowDiff>,
    /// How it was compared (`key ranges on (id)`, `CHECKSUM TABLE (no usable key)`).
    pub method: String,
}

impl TableDiff {
    fn new(table: &str, status: &'static str, method: &str) -> Self {
        TableDiff {
            table: table.to_owned(),
            status,
            source_rows: 0,
            target_rows: 0,
            chunks: 0,
            chunks_differing: 0,
            missing: 0,
            extra: 0,
            changed: 0,
            rows: Vec::new(),
            method: method.to_owned(),
        }
    }
}

/// The whole comparison.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Every table compared, in name order.
    pub tables: Vec<TableDiff>,
    /// All equal.
    pub equal: bool,
}

const SESSION: &str = "SET NAMES binary, time_zone = '+00:00'";

async fn session(opts: &ConnectOptions) -> Result<Conn, Error> {
    let mut c = connect(opts).await?;
    c.query_drop(SESSION)
        .await
        .map_err(Error::sql("preparing the diff session"))?;
    Ok(c)
}

/// Base tables per database on one side.
async fn tables(c: &mut Conn, opts: &Options) -> Result<Vec<String>, Error> {
    let rows: Vec<(Vec<u8>, Vec<u8>)> = c
        .query(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY 1, 2",
        )
        .await
        .map_err(Error::sql("listing tables"))?;
    Ok(rows
        .into_iter()
        .map(|(s, t)| {
            (
                String::from_utf8_lossy(&s).into_owned(),
                String::from_utf8_lossy(&t).into_owned(),
            )
        })
        .filter(|(s, t)| {
            !SYSTEM_SCHEMAS.contains(&s.as_str())
                && (opts.databases.is_empty() || opts.databases.contains(s))
                && (opts.tables.is_empty() || opts.tables.contains(&format!("{s}.{t}")))
        })
        .map(|(s, t)| format!("{s}.{t}"))
        .collect())
}

/// Stored columns with their types, in order (generated columns are derived: left out).
async fn columns(c: &mut Conn, schema: &str, table: &str) -> Result<Vec<(String, String)>, Error> {
    let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = c
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, COALESCE(EXTRA, '') FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        .await
        .map_err(Error::sql(format!("reading columns of {schema}.{table}")))?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, extra)| {
            !crate::protect::backup::is_generated(&String::from_utf8_lossy(extra))
        })
        .map(|(n, t, _)| {
            (
                String::from_utf8_lossy(&n).into_owned(),
                String::from_utf8_lossy(&t).into_owned(),
            )
        })
        .collect())
}

/// A column's value as comparable text: its bytes in hex, `N` for NULL.
fn column_text(c: &str) -> String {
    format!("COALESCE(HEX(CAST({} AS BINARY)), 'N')", q(c))
}

/// The per-row hash expression over `cols`.
fn row_hash(cols: &[(String, String)]) -> String {
    let parts: Vec<String> = cols.iter().map(|(c, _)| column_text(c)).collect();
    format!("SHA2(CONCAT_WS('|', {}), 256)", parts.join(", "))
}

/// `(k1, k2) > (?, ?)` and friends over the key columns.
fn key_cmp(key: &[String], op: &str) -> String {
    let cols: Vec<String> = key.iter().map(|k| q(k)).collect();
    let marks = vec!["?"; key.len()].join(", ");
    format!("({}) {op} ({marks})", cols.join(", "))
}

/// One key range `(lo, hi]` of a table (open-ended where absent), as both sides read it.
struct Chunk<'a> {
    fq: &'a str,
    hash: &'a str,
    key: &'a [String],
    lo: Option<&'a [Value]>,
    hi: Option<&'a [Value]>,
}

impl Chunk<'_> {
    /// Row count and XOR of row hashes on one side.
    async fn checksum(&self, conn: &mut Conn) -> Result<(u64, u64), Error> {
        let (sql, params) = range_sql(
            &format!(
                "SELECT COUNT(*), COALESCE(BIT_XOR(CAST(CONV(LEFT({}, 16), 16, 10) AS UNSIGNED)), 0) FROM {}",
                self.hash, self.fq
            ),
            self.key,
            self.lo,
            self.hi,
        );
        let row: Option<(u64, u64)> = conn
            .exec_first(sql, params)
            .await
            .map_err(Error::sql(format!("checksumming a chunk of {}", self.fq)))?;
        Ok(row.unwrap_or((0, 0)))
    }

    /// Key (each column as text) -> row hash, on one side.
    async fn rows(&self, conn: &mut Conn) -> Result<HashMap<Vec<String>, String>, Error> {
        let cols: Vec<String> = self.key.iter().map(|k| column_text(k)).collect();
        let (sql, params) = range_sql(
            &format!("SELECT {}, {} FROM {}", cols.join(", "), self.hash, self.fq),
            self.key,
            self.lo,
            self.hi,
        );
        let rows: Vec<mysql_async::Row> = conn
            .exec(sql, params)
            .await
            .map_err(Error::sql(format!("reading differing rows of {}", self.fq)))?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut vals: Vec<String> = (0..r.len())
                    .map(|i| {
                        r.get::<Option<Vec<u8>>, _>(i)
                            .flatten()
                            .map_or_else(String::new, |b| String::from_utf8_lossy(&b).into_owned())
                    })
                    .collect();
                let h = vals.pop().unwrap_or_default();
                (vals, h)
            })
            .collect())
    }
}

fn range_sql(
    select: &str,
    key: &[String],
    lo: Option<&[Value]>,
    hi: Option<&[Value]>,
) -> (String, Params) {
    let mut conds = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(lo) = lo {
        conds.push(key_cmp(key, ">"));
        params.extend(lo.iter().cloned());
    }
    if let Some(hi) = hi {
        conds.push(key_cmp(key, "<="));
        params.extend(hi.iter().cloned());
    }
    let sql = if conds.is_empty() {
        select.to_owned()
    } else {
        format!("{select} WHERE {}", conds.join(" AND "))
    };
    let params = if params.is_empty() {
        Params::Empty
    } else {
        Params::Positional(params)
    };
    (sql, params)
}

/// Decodes hex key text back for display (`HEX(CAST(x AS BINARY))`).
fn unhex(h: &str) -> String {
    if h == "N" {
        return "NULL".into();
    }
    let bytes: Vec<u8> = (0..h.len() / 2)
        .filter_map(|i| u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// CHECKSUM TABLE and the row count.
async fn checksum_table(c: &mut Conn, fq: &str) -> Result<(Option<u64>, u64), Error> {
    let r: Option<(Vec<u8>, Option<u64>)> = c
        .query_first(format!("CHECKSUM TABLE {fq}"))
        .await
        .map_err(Error::sql(format!("CHECKSUM TABLE {fq}")))?;
    let n: Option<u64> = c
        .query_first(format!("SELECT COUNT(*) FROM {fq}"))
        .await
        .map_err(Error::sql(format!("counting {fq}")))?;
    Ok((r.and_then(|r| r.1), n.unwrap_or(0)))
}

async fn compare_table(
    src: &mut Conn,
    dst: &mut Conn,
    name: &str,
    opts: &Options,
) -> Result<TableDiff, Error> {
    let (schema, table) = name.split_once('.').unwrap_or((name, ""));
    let fq = format!("{}.{}", q(schema), q(table));
    let mut d = TableDiff::new(name, "equal", "");
    let cols = columns(src, schema, table).await?;
    if cols != columns(dst, schema, table).await? {
        d.status = "columns_differ";
        d.method = "column names and types".into();
        return Ok(d);
    }
    let key = crate::protect::backup::row_key(src, schema, table).await?;
    if key.is_empty() {
        d.method = "CHECKSUM TABLE (no usable key)".into();
        let (a, na) = checksum_table(src, &fq).await?;
        let (b, nb) = checksum_table(dst, &fq).await?;
        d.source_rows = na;
        d.target_rows = nb;
        d.chunks = 1;
        if a != b || na != nb {
            d.status = "differs";
            d.chunks_differing = 1;
        }
        return Ok(d);
    }
    d.method = format!("key ranges on ({})", key.join(", "));
    let hash = row_hash(&cols);
    let keys = key.iter().map(|k| q(k)).collect::<Vec<_>>().join(", ");
    let mut lo: Option<Vec<Value>> = None;
    loop {
        // The next boundary: the key `chunk_rows` rows on, on the source.
        let (sql, params) = range_sql(
            &format!("SELECT {keys} FROM {fq}"),
            &key,
            lo.as_deref(),
            None,
        );
        let sql = format!(
            "{sql} ORDER BY {keys} LIMIT 1 OFFSET {}",
            opts.chunk_rows.max(1) - 1
        );
        let hi: Option<Vec<Value>> = src
            .exec_first::<mysql_async::Row, _, _>(sql, params)
            .await
            .map_err(Error::sql(format!("reading key ranges of {fq}")))?
            .map(|r| r.unwrap());
        let chunk = Chunk {
            fq: &fq,
            hash: &hash,
            key: &key,
            lo: lo.as_deref(),
            hi: hi.as_deref(),
        };
        let (a, b) = (chunk.checksum(src).await?, chunk.checksum(dst).await?);
        d.chunks += 1;
        d.source_rows += a.0;
        d.target_rows += b.0;
        if a != b {
            d.chunks_differing += 1;
            let (ra, rb) = (chunk.rows(src).await?, chunk.rows(dst).await?);
            let mut found: Vec<RowDiff> = Vec::new();
            let row = |kind, k: &[String]| RowDiff {
                kind,
                key: k.iter().map(|x| unhex(x)).collect(),
            };
            for (k, h) in &ra {
                match rb.get(k) {
                    None => {
                        d.missing += 1;
                        found.push(row("missing", k));
                    }
                    Some(h2) if h2 != h => {
                        d.changed += 1;
                        found.push(row("changed", k));
                    }
                    Some(_) => {}
                }
            }
            for k in rb.keys().filter(|k| !ra.contains_key(*k)) {
                d.extra += 1;
                found.push(row("extra", k));
            }
            found.sort_by(|x, y| x.key.cmp(&y.key));
            let room = opts.max_listed.saturating_sub(d.rows.len());
            d.rows.extend(found.into_iter().take(room));
        }
        match hi {
            Some(h) => lo = Some(h),
            None => break,
        }
    }
    if d.missing + d.extra + d.changed > 0 || d.chunks_differing > 0 {
        d.status = "differs";
    }
    Ok(d)
}

/// Compares the tables of `source` and `target`.
pub async fn run(
    source: &ConnectOptions,
    target: &ConnectOptions,
    opts: &Options,
) -> Result<Report, Error> {
    let mut s = session(source).await?;
    let mut t = session(target).await?;
    let on_source = tables(&mut s, opts).await?;
    let on_target = tables(&mut t, opts).await?;
    let mut out: Vec<TableDiff> = Vec::new();
    let missing = |name: &String, status| TableDiff::new(name, status, "table list");
    for n in on_source.iter().filter(|n| !on_target.contains(n)) {
        out.push(missing(n, "missing_on_target"));
    }
    for n in on_target.iter().filter(|n| !on_source.contains(n)) {
        out.push(missing(n, "missing_on_source"));
    }
    for n in &opts.tables {
        if !on_source.contains(n) && !on_target.contains(n) {
            return Err(Error::Argument {
                flag: "--tables",
                value: n.clone(),
                reason: "the table is on neither server".into(),
            });
        }
    }
    let both: Vec<String> = on_source
        .into_iter()
        .filter(|n| on_target.contains(n))
        .collect();
    let queue = Arc::new(Mutex::new(both));
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for i in 0..opts.threads.clamp(1, 16) {
        let (queue, results, opts) = (queue.clone(), results.clone(), opts.clone());
        let (mut a, mut b) = if i == 0 {
            (
                std::mem::replace(&mut s, session(source).await?),
                std::mem::replace(&mut t, session(target).await?),
            )
        } else {
            (session(source).await?, session(target).await?)
        };
        workers.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some(name) = next else { break };
                let d = compare_table(&mut a, &mut b, &name, &opts).await?;
                if let Ok(mut r) = results.lock() {
                    r.push(d);
                }
            }
            Ok::<_, Error>(())
        }));
    }
    for w in workers {
        w.await.map_err(Error::from)??;
    }
    out.extend(
        results
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default(),
    );
    out.sort_by(|a, b| a.table.cmp(&b.table));
    let equal = out.iter().all(|d| d.status == "equal");
    Ok(Report { tables: out, equal })
}
