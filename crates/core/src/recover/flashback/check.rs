//! The conflict check: SQL that asks production whether a row still is what the incident
//! left. Values are compared exactly: bytes as bytes (`CAST(… AS BINARY)`), floats through
//! the exact double they are, TIMESTAMPs in UTC, ENUM and SET by number, so that a row is
//! never called unchanged when it is not.

use lifeboat_binlog::table::column_type as ct;
use lifeboat_binlog::{Column, Row, TableDef, Value};
use lifeboat_mysql_types::quote::{ident as q, literal as lit};

use crate::error::Error;

/// A table's columns as production (or the binlog's metadata) names them.
#[derive(Debug, Clone)]
pub struct Shape {
    /// `db.table`.
    pub table: String,
    /// Quoted `db`.`table`.
    pub quoted: String,
    /// Column names, in order (at least as many as the binlog's images have).
    pub names: Vec<String>,
    /// The same, quoted for SQL.
    pub quoted_names: Vec<String>,
    /// Positions of the primary key's columns (a table without one is refused).
    pub key: Vec<usize>,
    /// Per column: unsigned integer.
    pub unsigned: Vec<bool>,
    /// Per column: `(charset, collation)` of character columns.
    pub charset: Vec<Option<(String, String)>>,
    /// Per column: JSON as MySQL stores it (compared as JSON, not bytes).
    pub json: Vec<bool>,
    /// Per column: BINARY(n) pads to `n` bytes with zeros.
    pub pad: Vec<Option<usize>>,
}

impl Shape {
    /// The column definitions of `def` completed with what the shape knows (signedness),
    /// so that values render as the server reads them.
    pub fn columns(&self, def: &TableDef) -> Vec<Column> {
        def.columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = c.clone();
                if c.unsigned.is_none() {
                    c.unsigned = self.unsigned.get(i).copied();
                }
                c
            })
            .collect()
    }
}

/// Appends `x'…'` of `b`, zero-padded to `pad` bytes.
fn push_hex(out: &mut String, b: &[u8], pad: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(3 + 2 * b.len().max(pad));
    out.push_str("x'");
    for &x in b {
        out.push(char::from(DIGITS[usize::from(x >> 4)]));
        out.push(char::from(DIGITS[usize::from(x & 15)]));
    }
    for _ in b.len()..pad {
        out.push_str("00");
    }
    out.push('\'');
}

/// Appends a predicate true exactly when column `i` holds `v`.
fn equals(
    out: &mut String,
    shape: &Shape,
    cols: &[Column],
    i: usize,
    v: &Value<'_>,
    sargable: bool,
) -> Result<(), String> {
    use std::fmt::Write;
    let c = shape
        .quoted_names
        .get(i)
        .ok_or_else(|| format!("no name for column {}", i + 1))?;
    let col = cols.get(i).ok_or_else(|| format!("no column {}", i + 1))?;
    let unexpected =
        |other: &lifeboat_binlog::Rendered| format!("column {c}: unexpected rendering {other:?}");
    match v {
        Value::Null => {
            let _ = write!(out, "{c} IS NULL");
        }
        // The exact double a FLOAT is: the server compares the column as that double.
        Value::Float(f) => {
            let _ = write!(out, "{c} = {:e}", f64::from(*f));
        }
        Value::Double(d) => {
            let _ = write!(out, "{c} = {d:e}");
        }
        Value::Int(_) | Value::Year(_) | Value::Bit(_) => match v.integer(col) {
            Some(n) => {
                let _ = write!(out, "{c} = {n}");
            }
            None => return Err(format!("column {c}: not an integer")),
        },
        Value::Decimal(d) => {
            let _ = write!(out, "{c} = {d}");
        }
        Value::Date(_) | Value::Time(_) | Value::DateTime(_) | Value::Timestamp { .. } => {
            // TIMESTAMPs render in UTC: the session's time zone is +00:00.
            match v.render(col) {
                lifeboat_binlog::Rendered::Text(t) => {
                    let _ = write!(out, "{c} = {}", lit(&t));
                }
                other => return Err(unexpected(&other)),
            }
        }
        Value::Enum(n) => {
            let _ = write!(out, "{c} + 0 = {n}");
        }
        Value::Set(n) => {
            let _ = write!(out, "{c} + 0 = {n}");
        }
        Value::Bytes(b) if shape.json.get(i).copied().unwrap_or(false) => {
            let _ = write!(out, "{c} = CAST(_utf8mb4 ");
            push_hex(out, b, 0);
            out.push_str(" AS JSON)");
        }
        Value::Bytes(b) => {
            let pad = shape.pad.get(i).copied().flatten().unwrap_or(0);
            if sargable {
                // A key lookup the index can serve, then the bytes.
                let _ = write!(out, "{c} = ");
                match shape.charset.get(i) {
                    Some(Some((cs, coll))) => {
                        let _ = write!(out, "_{cs} ");
                        push_hex(out, b, pad);
                        let _ = write!(out, " COLLATE {coll}");
                    }
                    _ => push_hex(out, b, pad),
                }
                out.push_str(" AND ");
            }
            let _ = write!(out, "CAST({c} AS BINARY) = ");
            push_hex(out, b, pad);
        }
        Value::Json(b) => match lifeboat_binlog::json::to_text(b) {
            Ok(t) => {
                let _ = write!(out, "{c} = CAST(_utf8mb4 ");
                push_hex(out, t.as_bytes(), 0);
                out.push_str(" AS JSON)");
            }
            Err(e) => return Err(format!("column {c}: JSON that does not decode: {e}")),
        },
        Value::Geometry(b) | Value::Vector(b) => {
            let _ = write!(out, "CAST({c} AS BINARY) = ");
            push_hex(out, b, 0);
        }
        Value::JsonDiff(_) => return Err(format!("column {c}: a partial JSON update")),
    }
    Ok(())
}

/// The image's key columns equal, as a predicate the primary key index serves.
pub fn key_of(
    shape: &Shape,
    cols: &[Column],
    image: &lifeboat_binlog::Image<'_>,
) -> Result<String, String> {
    let mut out = String::with_capacity(64);
    out.push('(');
    for (n, &k) in shape.key.iter().enumerate() {
        let Some(Some(v)) = image.values.get(k) else {
            return Err(format!(
                "the image lacks key column {}",
                shape.names.get(k).map_or("?", String::as_str)
            ));
        };
        if n > 0 {
            out.push_str(" AND ");
        }
        equals(&mut out, shape, cols, k, v, true)?;
    }
    out.push(')');
    Ok(out)
}

/// Every column the image holds equal.
pub fn same_as(
    shape: &Shape,
    cols: &[Column],
    image: &lifeboat_binlog::Image<'_>,
) -> Result<String, String> {
    let mut out = String::with_capacity(256);
    out.push('(');
    let mut any = false;
    for (i, v) in image.values.iter().enumerate() {
        if let Some(v) = v {
            if any {
                out.push_str(" AND ");
            }
            equals(&mut out, shape, cols, i, v, false)?;
            any = true;
        }
    }
    if !any {
        return Ok("TRUE".into());
    }
    out.push(')');
    Ok(out)
}

/// What production must hold for one row's undo to be put in.
pub struct Expect {
    /// The key the incident left the row at, and the row it left: the undo rewrites or
    /// removes it (updates, inserts).
    pub present: Option<(String, String)>,
    /// A key that must be free: where a deleted row goes back (deletes; updates that
    /// changed the key).
    pub free: Option<String>,
}

/// The expectations for one row change (as the binlog has it, not yet undone).
pub fn expect(shape: &Shape, cols: &[Column], row: &Row<'_>) -> Result<Expect, String> {
    let present = match &row.after {
        Some(a) => Some((key_of(shape, cols, a)?, same_as(shape, cols, a)?)),
        None => None,
    };
    let free = match (&row.before, &present) {
        (Some(b), None) => Some(key_of(shape, cols, b)?),
        (Some(b), Some((after_key, _))) => {
            let k = key_of(shape, cols, b)?;
            (k != *after_key).then_some(k)
        }
        (None, _) => None,
    };
    Ok(Expect { present, free })
}

/// [`expect`] for each row of the event at `offset` of `file`.
pub fn expectations<'r, 'v: 'r>(
    shape: &Shape,
    cols: &[Column],
    rows: impl Iterator<Item = &'r Row<'v>>,
    file: &str,
    offset: u64,
) -> Result<Vec<Expect>, Error> {
    rows.map(|r| expect(shape, cols, r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| Error::Binlog {
            file: file.to_owned(),
            offset: Some(offset),
            problem: format!("{}: {reason}", shape.table),
        })
}

/// One query that reports, for each row, whether production holds what the incident left:
/// `SELECT idx, same` over the rows found at the expected keys (index `i` for a row's
/// present key, `n + i` for its key that must be free). Locks what it reads when `lock`.
pub fn query(shape: &Shape, rows: &[Expect], lock: bool) -> String {
    let n = rows.len();
    let mut which = String::from("CASE");
    let mut same = String::from("CASE");
    let mut any = Vec::with_capacity(n * 2);
    for (i, e) in rows.iter().enumerate() {
        if let Some((k, m)) = &e.present {
            which.push_str(&format!(" WHEN {k} THEN {i}"));
            same.push_str(&format!(" WHEN {k} THEN ({m})"));
            any.push(k.as_str());
        }
        if let Some(k) = &e.free {
            which.push_str(&format!(" WHEN {k} THEN {}", n + i));
            same.push_str(&format!(" WHEN {k} THEN FALSE"));
            any.push(k.as_str());
        }
    }
    which.push_str(" END");
    same.push_str(" END");
    format!(
        "SELECT {which}, {same} FROM {} WHERE {}{}",
        shape.quoted,
        if any.is_empty() {
            "FALSE".to_owned()
        } else {
            any.join(" OR ")
        },
        if lock { " FOR UPDATE" } else { "" }
    )
}

/// What production holds at one row's expected keys, from the answers of [`query`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Found {
    /// A row is at the present key.
    pub present: bool,
    /// ... and it is exactly what the incident left.
    pub same: bool,
    /// A row is at the key that must be free.
    pub taken: bool,
}

impl Found {
    /// Why the row's undo cannot go in (`None`: it is safe).
    pub fn verdict(self, e: &Expect) -> Option<&'static str> {
        if e.present.is_some() && !self.present {
            Some("the row is gone")
        } else if e.present.is_some() && !self.same {
            Some("the row changed since")
        } else if e.free.is_some() && self.taken {
            Some("its key is taken by another row")
        } else {
            None
        }
    }
}

/// What production holds for each row, from the answers of [`query`].
pub fn findings(rows: &[Expect], found: &[(Option<u64>, Option<i64>)]) -> Vec<Found> {
    let n = rows.len();
    let mut out = vec![Found::default(); n];
    for (idx, s) in found {
        let Some(idx) = idx.map(|i| i as usize) else {
            continue;
        };
        if let Some(f) = out.get_mut(idx) {
            f.present = true;
            f.same = s.unwrap_or(0) != 0;
        } else if let Some(f) = idx.checked_sub(n).and_then(|i| out.get_mut(i)) {
            f.taken = true;
        }
    }
    out
}

/// Why each row's undo cannot go in, from the answers of [`query`]: `None` for a row whose
/// undo is safe.
pub fn verdicts(
    rows: &[Expect],
    found: &[(Option<u64>, Option<i64>)],
) -> Vec<Option<&'static str>> {
    findings(rows, found)
        .into_iter()
        .zip(rows)
        .map(|(f, e)| f.verdict(e))
        .collect()
}

/// A row of information_schema.COLUMNS: name, data type, column type, charset, collation,
/// key, octet length.
type ColumnRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<u64>,
);

/// The shape of `db.table` as production has it now, checked against the binlog's
/// definition: the same types in the same places (production may have more columns at the
/// end: added since, which the undo leaves to their defaults).
pub async fn shape_of(
    conn: &mut mysql_async::Conn,
    table: &str,
    def: &TableDef,
) -> Result<Shape, Error> {
    use mysql_async::prelude::Queryable;
    // As the binlog spells them: `table` is lowercased for matching.
    let (db, name) = (def.schema.as_str(), def.table.as_str());
    let rows: Vec<ColumnRow> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, \
             COLUMN_KEY, CHARACTER_OCTET_LENGTH FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db, name),
        )
        .await
        .map_err(Error::sql(format!("reading the columns of {table}")))?;
    let refuse = |reason: String| {
        Error::Refused(crate::target::guard::Refusal::Unsafe {
            action: format!("undo the row changes of {table}"),
            reason,
        })
    };
    if rows.is_empty() {
        return Err(refuse("production has no such table (dropped or renamed since?): `lifeboat recover` brings a table back".into()));
    }
    if rows.len() < def.columns.len() {
        return Err(refuse(format!(
            "the binlog's rows have {} columns, production's table has {}: its definition changed since (a column dropped?)",
            def.columns.len(),
            rows.len()
        )));
    }
    for (i, (c, r)) in def.columns.iter().zip(&rows).enumerate() {
        if !same_type(c.real_type, &r.1) {
            return Err(refuse(format!(
                "column {} is {} in production and {} in the binlog: its definition changed since (a column added or moved before it?)",
                i + 1,
                r.2,
                ct::name(c.real_type)
            )));
        }
        if let Some(n) = &c.name
            && !n.eq_ignore_ascii_case(&r.0)
        {
            return Err(refuse(format!(
                "column {} is `{}` in production and `{n}` in the binlog: the table changed since",
                i + 1,
                r.0
            )));
        }
    }
    // Without names, a column added since could be anywhere: the types alone cannot say
    // which of today's columns a value belongs to.
    if rows.len() > def.columns.len() && def.columns.iter().all(|c| c.name.is_none()) {
        return Err(refuse(format!(
            "production's table has {} columns, the binlog's rows {}: columns were added since, and the binlog carries no column names (binlog_row_metadata=FULL writes them) to tell where",
            rows.len(),
            def.columns.len()
        )));
    }
    let key: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.5 == "PRI")
        .map(|(i, _)| i)
        .collect();
    if key.is_empty() {
        return Err(refuse(
            "it has no primary key: its rows cannot be told apart for the conflict check".into(),
        ));
    }
    if key.iter().any(|&k| k >= def.columns.len()) {
        return Err(refuse(
            "its primary key uses a column the binlog's rows do not have".into(),
        ));
    }
    Ok(Shape {
        table: table.to_owned(),
        quoted: format!("{}.{}", q(db), q(name)),
        names: rows.iter().map(|r| r.0.clone()).collect(),
        quoted_names: rows.iter().map(|r| q(&r.0)).collect(),
        key,
        unsigned: rows.iter().map(|r| r.2.contains("unsigned")).collect(),
        charset: rows
            .iter()
            .map(|r| match (&r.3, &r.4) {
                (Some(cs), Some(coll)) => Some((cs.clone(), coll.clone())),
                _ => None,
            })
            .collect(),
        json: rows.iter().map(|r| r.1 == "json").collect(),
        pad: rows
            .iter()
            .map(|r| (r.1 == "binary").then(|| r.6.unwrap_or(0) as usize))
            .collect(),
    })
}

/// The shape from the binlog's own metadata (`binlog_row_metadata=FULL`): names and the
/// primary key, when it has them.
pub fn shape_from_metadata(table: &str, def: &TableDef) -> Option<Shape> {
    let names: Option<Vec<String>> = def.columns.iter().map(|c| c.name.clone()).collect();
    let names = names?;
    let key: Vec<usize> = def
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.primary_key)
        .map(|(i, _)| i)
        .collect();
    if key.is_empty() {
        return None;
    }
    let (db, name) = table.split_once('.').unwrap_or(("", table));
    Some(Shape {
        table: table.to_owned(),
        quoted: format!("{}.{}", q(db), q(name)),
        key,
        unsigned: def
            .columns
            .iter()
            .map(|c| c.unsigned == Some(true))
            .collect(),
        charset: vec![None; names.len()],
        json: def
            .columns
            .iter()
            .map(|c| c.real_type == ct::JSON)
            .collect(),
        pad: vec![None; names.len()],
        quoted_names: names.iter().map(|n| q(n)).collect(),
        names,
    })
}

/// Whether production's `DATA_TYPE` is the binlog's type code.
fn same_type(real_type: u8, data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    let t = t.as_str();
    match real_type {
        ct::TINY => t == "tinyint",
        ct::SHORT => t == "smallint",
        ct::INT24 => t == "mediumint",
        ct::LONG => t == "int",
        ct::LONGLONG => t == "bigint",
        ct::FLOAT => t == "float",
        ct::DOUBLE => t == "double",
        ct::DECIMAL | ct::NEWDECIMAL => t == "decimal",
        ct::DATE | ct::NEWDATE => t == "date",
        ct::TIME | ct::TIME2 => t == "time",
        ct::DATETIME | ct::DATETIME2 => t == "datetime",
        ct::TIMESTAMP | ct::TIMESTAMP2 => t == "timestamp",
        ct::YEAR => t == "year",
        ct::BIT => t == "bit",
        ct::ENUM => t == "enum",
        ct::SET => t == "set",
        ct::JSON => t == "json",
        ct::VECTOR => t == "vector",
        ct::GEOMETRY => matches!(
            t,
            "geometry"
                | "point"
                | "linestring"
                | "polygon"
                | "multipoint"
                | "multilinestring"
                | "multipolygon"
                | "geometrycollection"
                | "geomcollection"
        ),
        ct::STRING => matches!(t, "char" | "binary" | "inet6" | "inet4" | "uuid"),
        ct::VARCHAR | ct::VAR_STRING => matches!(t, "varchar" | "varbinary"),
        ct::BLOB | ct::TINY_BLOB | ct::MEDIUM_BLOB | ct::LONG_BLOB => matches!(
            t,
            "tinyblob"
                | "blob"
                | "mediumblob"
                | "longblob"
                | "tinytext"
                | "text"
                | "mediumtext"
                | "longtext"
                | "json"
        ),
        _ => false,
    }
}
