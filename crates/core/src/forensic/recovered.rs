//! Recovered tables: how their rows are written (SQL, or LOAD DATA files with a load script)
//! and how they are loaded into a server or a new side instance.
//!
//! Every forensic command (`undelete`, `undrop`, `salvage`, `rescue`) writes through
//! [`TableOut`], so the files look the same whoever wrote them, and [`load`] reads them back.
//! A file takes its final name only once whole; a load creates its tables itself (an
//! existing table is refused, never added to) and drops a table whose load failed.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::StreamExt;
use lifeboat_binlog::{Column, Rendered, Value};
use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::error::Error;
use crate::protect::backup::{SYSTEM_SCHEMAS, q};
use crate::recover::restore::Target;
use crate::target::guard::{Policy, Refusal};
use crate::target::journal::Audit;
use crate::target::side::Started;

/// How recovered rows are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `<table>.sql`: SET NAMES, the CREATE TABLE, then INSERT statements (any client
    /// loads it: `mariadb DB < table.sql`).
    #[default]
    Sql,
    /// `<table>.tsv` in LOAD DATA's default format (the layout backups use) and
    /// `<table>.load.sql`, the CREATE TABLE and the LOAD DATA LOCAL statement: faster to load.
    Tsv,
}

/// An INSERT statement ends after this many rows, or once it holds this many bytes (a
/// statement must fit the server's max_allowed_packet, 16 MiB by default).
const BATCH_ROWS: usize = 100;
const BATCH_BYTES: usize = 1 << 20;

/// A table's recovered rows, written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Written {
    /// The table's name.
    pub table: String,
    /// How.
    pub format: Format,
    /// The rows: the SQL file, or the TSV file.
    pub file: PathBuf,
    /// With TSV: the script that creates the table and loads the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<PathBuf>,
    /// Rows written.
    pub rows: u64,
    /// The CREATE TABLE statement.
    #[serde(skip)]
    pub create_sql: String,
    /// The columns each row gives, in order.
    #[serde(skip)]
    pub columns: Vec<String>,
    /// Those of them that take only character data (JSON).
    #[serde(skip)]
    pub text_columns: Vec<String>,
}

/// Writes one table's recovered rows as `OUT/<table>.sql` or `OUT/<table>.tsv` (+ its load
/// script), under a temporary name until [`TableOut::finish`].
pub struct TableOut {
    w: std::io::BufWriter<std::fs::File>,
    partial: PathBuf,
    written: Written,
    what: String,
    insert_head: String,
    batch_rows: usize,
    batch_bytes: usize,
}

impl TableOut {
    /// Starts the file for `schema`'s table (`what` says which recovery wrote it).
    pub fn create(
        out: &Path,
        schema: &lifeboat_innodb::schema::TableSchema,
        what: &str,
        format: Format,
    ) -> Result<TableOut, Error> {
        let loaded = || {
            schema
                .columns
                .iter()
                .enumerate()
                .filter(|(k, _)| schema.loaded(*k))
        };
        let names: Vec<String> = loaded()
            .map(|(_, c)| c.name.clone().unwrap_or_default())
            .collect();
        let text: Vec<String> = loaded()
            .filter(|(k, _)| schema.json.get(*k) == Some(&true))
            .map(|(_, c)| c.name.clone().unwrap_or_default())
            .collect();
        Self::create_with(
            out,
            &schema.table,
            &schema.create_sql,
            (&names, &text),
            what,
            format,
        )
    }

    /// Starts the file for table `table` with the CREATE TABLE `create_sql`, rows giving
    /// `columns` in order.
    /// `columns`: the names each row gives, and those of them that take only character data.
    pub fn create_with(
        out: &Path,
        table: &str,
        create_sql: &str,
        (columns, text_columns): (&[String], &[String]),
        what: &str,
        format: Format,
    ) -> Result<TableOut, Error> {
        std::fs::create_dir_all(out).map_err(|e| Error::in_file(out, e))?;
        let base = file_name(table);
        let ext = match format {
            Format::Sql => "sql",
            Format::Tsv => "tsv",
        };
        let partial = out.join(format!(".{base}.{ext}.partial"));
        let io = |e: std::io::Error| Error::in_file(&partial, e);
        let mut w = std::io::BufWriter::new(std::fs::File::create(&partial).map_err(io)?);
        if format == Format::Sql {
            w.write_all(header(what, create_sql).as_bytes())
                .map_err(io)?;
        }
        let quoted: Vec<String> = columns.iter().map(|c| q(c)).collect();
        Ok(TableOut {
            w,
            written: Written {
                table: table.to_owned(),
                format,
                file: out.join(format!("{base}.{ext}")),
                script: (format == Format::Tsv).then(|| out.join(format!("{base}.load.sql"))),
                rows: 0,
                create_sql: create_sql.to_owned(),
                columns: columns.to_vec(),
                text_columns: text_columns.to_vec(),
            },
            partial,
            what: what.to_owned(),
            insert_head: format!("INSERT INTO {} ({}) VALUES\n", q(table), quoted.join(", ")),
            batch_rows: 0,
            batch_bytes: 0,
        })
    }

    /// The format rows must be given in.
    pub fn format(&self) -> Format {
        self.written.format
    }

    /// What will have been written once whole (so far: no rows).
    pub fn written(&self) -> Written {
        self.written.clone()
    }

    /// One row, its values already encoded for the format ([`push_value`], [`push_null`],
    /// [`separator`]).
    pub fn row(&mut self, values: &[u8]) -> Result<(), Error> {
        let partial = &self.partial;
        let io = |e: std::io::Error| Error::in_file(partial, e);
        match self.written.format {
            Format::Tsv => {
                self.w.write_all(values).map_err(io)?;
                self.w.write_all(b"\n").map_err(io)?;
            }
            Format::Sql => {
                if self.batch_rows == 0 {
                    self.w.write_all(self.insert_head.as_bytes()).map_err(io)?;
                } else {
                    self.w.write_all(b",\n").map_err(io)?;
                }
                self.w.write_all(b"(").map_err(io)?;
                self.w.write_all(values).map_err(io)?;
                self.w.write_all(b")").map_err(io)?;
                self.batch_rows += 1;
                self.batch_bytes += values.len();
                if self.batch_rows == BATCH_ROWS || self.batch_bytes >= BATCH_BYTES {
                    self.w.write_all(b";\n").map_err(io)?;
                    self.batch_rows = 0;
                    self.batch_bytes = 0;
                }
            }
        }
        self.written.rows += 1;
        Ok(())
    }

    /// Gives up: the partial file goes, nothing takes the final name.
    pub fn abandon(self) {
        let partial = self.partial.clone();
        drop(self);
        let _ = std::fs::remove_file(partial);
    }

    /// Ends the last statement and gives the file its name (only a whole file has it); with
    /// TSV, writes the load script after the data.
    pub fn finish(mut self) -> Result<Written, Error> {
        let partial = self.partial.clone();
        let io = |e: std::io::Error| Error::in_file(&partial, e);
        if self.batch_rows > 0 {
            self.w.write_all(b";\n").map_err(io)?;
        }
        self.w.flush().map_err(io)?;
        drop(self.w);
        let w = self.written;
        std::fs::rename(&partial, &w.file).map_err(|e| Error::in_file(&w.file, e))?;
        if let Some(script) = &w.script {
            let data = w.file.file_name().unwrap_or_default().to_string_lossy();
            let text = format!(
                "{}-- run from this directory: mariadb --local-infile=1 DATABASE < {}\n{};\n",
                header(&self.what, &w.create_sql),
                script.file_name().unwrap_or_default().to_string_lossy(),
                load_data(&string_literal(&data), &q(&w.table), &w)
            );
            std::fs::write(script, text).map_err(|e| Error::in_file(script, e))?;
        }
        Ok(w)
    }
}

/// The start of an SQL file of recovered rows: the session settings the values need (text
/// as UTF-8, TIMESTAMPs as UTC, a 0 in an AUTO_INCREMENT column kept as 0), then the table.
fn header(what: &str, create_sql: &str) -> String {
    format!(
        "-- rows recovered by lifeboat ({})\nSET NAMES utf8mb4;\nSET time_zone = '+00:00';\nSET FOREIGN_KEY_CHECKS = 0;\nSET sql_mode = 'NO_AUTO_VALUE_ON_ZERO';\n{create_sql};\n",
        what.replace('\n', " ")
    )
}

/// The LOAD DATA statement for a TSV file (`file` an SQL string literal): strings and
/// BLOBs are the column's own bytes, hence CHARACTER SET binary.
fn load_data(file: &str, table: &str, w: &Written) -> String {
    format!(
        "LOAD DATA LOCAL INFILE {file} INTO TABLE {table} CHARACTER SET binary \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' {}",
        crate::recover::restore::load_columns(&w.columns, &w.text_columns)
    )
}

// File names from `file_name` hold no backslash or NUL: quoted, they read the same under
// any sql_mode.
use lifeboat_mysql_types::quote::literal as string_literal;

/// A table name as a file name: characters that a path cannot hold safely (`/`, NUL, a
/// leading dot) become `_`.
pub fn file_name(table: &str) -> String {
    let mut s: String = table
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '\0' {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        s.insert(0, '_');
    }
    s
}

/// What goes between two values of a row.
pub fn separator(format: Format) -> &'static [u8] {
    match format {
        Format::Sql => b", ",
        Format::Tsv => b"\t",
    }
}

/// Appends NULL.
pub fn push_null(out: &mut Vec<u8>, format: Format) {
    out.extend_from_slice(match format {
        Format::Sql => b"NULL",
        Format::Tsv => b"\\N",
    });
}

/// Appends a decoded value of column `col`. SQL: a literal that reads the same under any
/// sql_mode. TSV: what LOAD DATA ... CHARACTER SET binary stores back as the same value:
/// strings and BLOBs as the column's own bytes (whatever its character set), BIT as its
/// bytes, GEOMETRY as SRID+WKB, the rest as text.
pub fn push_value(out: &mut Vec<u8>, v: &Value<'_>, col: &Column, format: Format) {
    if format == Format::Sql {
        return push_literal(out, v.render(col));
    }
    match v {
        Value::Bytes(b) | Value::Geometry(b) => crate::sql::tsv::escape_into(b, out),
        Value::Bit(bits) => {
            let m = col.meta;
            let len = (usize::from(m >> 8) + usize::from(m & 0xff != 0)).clamp(1, 8);
            crate::sql::tsv::escape_into(&bits.to_be_bytes()[8 - len..], out);
        }
        _ => match v.render(col) {
            Rendered::Null => push_null(out, format),
            Rendered::Number(t) | Rendered::Text(t) => {
                crate::sql::tsv::escape_into(t.as_bytes(), out)
            }
            Rendered::Binary(b) => crate::sql::tsv::escape_into(&b, out),
        },
    }
}

/// Appends a value as an SQL literal that reads the same under any sql_mode (bytes in hex).
fn push_literal(out: &mut Vec<u8>, r: Rendered) {
    match r {
        Rendered::Null => out.extend_from_slice(b"NULL"),
        Rendered::Number(n) => out.extend_from_slice(n.as_bytes()),
        // Backslashes mean different things under NO_BACKSLASH_ESCAPES: such text goes in
        // hex, as UTF-8 (the file says SET NAMES utf8mb4).
        Rendered::Text(t) if t.contains('\\') || t.contains('\0') => {
            out.extend_from_slice(b"CONVERT(X'");
            out.extend_from_slice(hex::encode(t.as_bytes()).as_bytes());
            out.extend_from_slice(b"' USING utf8mb4)");
        }
        Rendered::Text(t) => {
            out.push(b'\'');
            for (i, part) in t.split('\'').enumerate() {
                if i > 0 {
                    out.extend_from_slice(b"''");
                }
                out.extend_from_slice(part.as_bytes());
            }
            out.push(b'\'');
        }
        Rendered::Binary(b) if b.is_empty() => out.extend_from_slice(b"''"),
        Rendered::Binary(b) => {
            out.extend_from_slice(b"X'");
            out.extend_from_slice(hex::encode(b).as_bytes());
            out.push(b'\'');
        }
    }
}

/// Appends bytes as a hex literal (exact whatever the character set).
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8], format: Format) {
    match format {
        Format::Sql => {
            out.extend_from_slice(b"X'");
            out.extend_from_slice(hex::encode_upper(bytes).as_bytes());
            out.push(b'\'');
        }
        Format::Tsv => crate::sql::tsv::escape_into(bytes, out),
    }
}

/// One table loaded.
#[derive(Debug, Serialize)]
pub struct LoadedTable {
    /// `db.table` as created.
    pub table: String,
    /// Rows in it after the load.
    pub rows: u64,
}

/// What [`load`] did.
#[derive(Debug, Serialize)]
pub struct Loaded {
    /// The server's identity.
    pub target: String,
    /// The side instance started for the load, if any (left running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Started>,
    /// Tables created and loaded.
    pub tables: Vec<LoadedTable>,
    /// Wall time, ms.
    pub ms: u64,
}

/// Loads recovered tables, each into its database (created if missing) on `target`. Every
/// table must be new there: an existing one is a refusal (exit 3) before anything is
/// written. A table whose load fails, warns (a value the server changed) or ends with
/// another row count than was recovered is dropped again, and the load fails naming it.
/// Journaled.
pub async fn load(
    items: &[(String, Written)],
    target: Target,
    policy: &Policy<'_>,
    audit: &mut Audit,
) -> Result<Loaded, Error> {
    let t0 = Instant::now();
    if let Some((database, _)) = items
        .iter()
        .find(|(d, _)| SYSTEM_SCHEMAS.contains(&d.to_ascii_lowercase().as_str()))
    {
        return Err(crate::target::guard::Refusal::Unsafe {
            action: format!("load recovered rows into {database}"),
            reason: "it is a system schema".into(),
        }
        .into());
    }
    let (mut t, _, sandbox) =
        crate::recover::restore::open_target(target, None, &[], false, policy, audit, "load")
            .await?;
    let ident = t.info.identity.id();
    let endpoint = t.endpoint.clone();
    let conn = t.conn();
    let mut existing = Vec::new();
    for (database, w) in items {
        let n: Option<u64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (database, &w.table),
            )
            .await
            .map_err(Error::sql("looking for existing tables"))?;
        if n.unwrap_or(0) > 0 {
            existing.push(format!("{database}.{}", w.table));
        }
    }
    if !existing.is_empty() {
        let refusal = Refusal::Unsafe {
            action: format!("load recovered rows into {ident}"),
            reason: format!(
                "{} already exists (recovered rows go into new tables only: load them into another database or server)",
                existing.join(", ")
            ),
        };
        return Err(audit.refuse("load", &ident, &endpoint, refusal));
    }
    if items.iter().any(|(_, w)| w.format == Format::Tsv)
        && !crate::recover::restore::local_infile_on(conn).await?
    {
        return Err(Error::Unprepared {
            server: ident,
            problem: "local_infile is OFF, and loading TSV files needs it; nothing was changed"
                .into(),
            hint: "SET GLOBAL local_infile = 1 on it, or write SQL files (--format sql)".into(),
        });
    }
    let mut databases: Vec<&String> = items.iter().map(|(d, _)| d).collect();
    databases.sort();
    databases.dedup();
    for database in databases {
        conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {}", q(database)))
            .await
            .map_err(Error::sql("creating the database"))?;
    }
    let mut tables = Vec::new();
    for (database, w) in items {
        let name = format!("{database}.{}", w.table);
        let mut created = false;
        let done = load_one(conn, database, w, &mut created).await;
        let rows = match done {
            Ok(rows) => rows,
            Err(e) => {
                // Only a table this load created is dropped (never one that appeared
                // meanwhile and made the CREATE fail).
                let dropped = created
                    && conn
                        .query_drop(format!("DROP TABLE {}.{}", q(database), q(&w.table)))
                        .await
                        .is_ok();
                let e = Error::LoadRecovered {
                    file: w.file.clone(),
                    table: name,
                    cleanup: if dropped {
                        " (the table it created was dropped again)"
                    } else if created {
                        " (the table it created could not be dropped: drop it before retrying)"
                    } else {
                        ""
                    },
                    source: Box::new(e),
                };
                audit.record("load", &ident, &endpoint, "failed", Some(e.to_string()))?;
                return Err(e);
            }
        };
        tables.push(LoadedTable { table: name, rows });
    }
    let summary: Vec<String> = tables
        .iter()
        .map(|t| format!("{} ({} rows)", t.table, t.rows))
        .collect();
    audit.record("load", &ident, &endpoint, "ok", Some(summary.join(", ")))?;
    Ok(Loaded {
        target: ident,
        sandbox,
        tables,
        ms: t0.elapsed().as_millis() as u64,
    })
}

/// Creates and fills one table; the rows now in it, which must be the rows written.
async fn load_one(
    conn: &mut mysql_async::Conn,
    database: &str,
    w: &Written,
    created: &mut bool,
) -> Result<u64, Error> {
    conn.query_drop(format!("USE {}", q(database)))
        .await
        .map_err(Error::sql("choosing the database"))?;
    let statement = |line: u64, problem: String| Error::Statement {
        file: w.file.clone(),
        line,
        problem,
    };
    match w.format {
        Format::Sql => {
            // The file creates the table and sets its own session.
            let file = std::fs::File::open(&w.file).map_err(|e| Error::in_file(&w.file, e))?;
            let mut statements = Statements::new(std::io::BufReader::new(file));
            while let Some(sql) = statements
                .next_statement()
                .map_err(|e| Error::in_file(&w.file, e))?
            {
                match conn.query_drop(&sql).await {
                    Ok(()) => *created |= creates_table(&sql),
                    // A statement of comments only.
                    Err(mysql_async::Error::Server(s)) if s.code == 1065 => {}
                    Err(e) => {
                        return Err(statement(statements.line, e.to_string()));
                    }
                }
                if conn.get_warnings() > 0 {
                    let w = warnings(conn).await;
                    return Err(statement(statements.line, format!("warned: {w}")));
                }
            }
        }
        Format::Tsv => {
            conn.query_drop(
                "SET NAMES utf8mb4, time_zone = '+00:00', foreign_key_checks = 0, sql_mode = 'NO_AUTO_VALUE_ON_ZERO'",
            )
            .await
            .map_err(Error::sql("setting the session"))?;
            conn.query_drop(&w.create_sql)
                .await
                .map_err(Error::sql(format!("creating {}", w.table)))?;
            *created = true;
            let path = w.file.clone();
            conn.set_infile_handler(async move {
                let file = tokio::fs::File::open(&path).await?;
                let chunks = futures::stream::unfold(file, |mut f| async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = vec![0u8; 1 << 20];
                    match f.read(&mut buf).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buf.truncate(n);
                            Some((Ok(bytes::Bytes::from(buf)), f))
                        }
                        Err(e) => Some((Err(e), f)),
                    }
                });
                Ok(chunks.boxed())
            });
            conn.query_drop(load_data("'recovered'", &q(&w.table), w))
                .await
                .map_err(Error::sql(format!("LOAD DATA into {}", w.table)))?;
            if conn.get_warnings() > 0 {
                return Err(Error::Mismatch {
                    subject: w.table.clone(),
                    problem: format!("the server changed values: {}", warnings(conn).await),
                });
            }
        }
    }
    let n: Option<u64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {}", q(&w.table)))
        .await
        .map_err(Error::sql(format!("counting the rows of {}", w.table)))?;
    let n = n.unwrap_or(0);
    if n != w.rows {
        return Err(Error::Mismatch {
            subject: w.table.clone(),
            problem: format!("{n} rows loaded, {} were recovered", w.rows),
        });
    }
    Ok(n)
}

/// Whether a statement of a recovered-rows file is its CREATE TABLE (after any comment
/// lines).
fn creates_table(sql: &str) -> bool {
    sql.lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with("--"))
        .is_some_and(|l| {
            l.get(..12)
                .is_some_and(|h| h.eq_ignore_ascii_case("CREATE TABLE"))
        })
}

async fn warnings(conn: &mut mysql_async::Conn) -> String {
    let w: Vec<(String, u32, String)> = conn
        .query("SHOW WARNINGS LIMIT 3")
        .await
        .unwrap_or_default();
    w.into_iter()
        .map(|(_, code, msg)| format!("{code}: {msg}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The statements of an SQL file, one at a time (a file of any size, one statement in
/// memory).
struct Statements<R> {
    r: R,
    splitter: lifeboat_innodb::schema::Splitter,
    /// The line the last statement ended on.
    line: u64,
    at_line: u64,
}

impl<R: BufRead> Statements<R> {
    fn new(r: R) -> Self {
        Statements {
            r,
            splitter: Default::default(),
            line: 1,
            at_line: 1,
        }
    }

    fn next_statement(&mut self) -> std::io::Result<Option<String>> {
        let mut stmt = Vec::new();
        loop {
            let buf = self.r.fill_buf()?;
            if buf.is_empty() {
                let text = String::from_utf8_lossy(&stmt).trim().to_owned();
                self.line = self.at_line;
                return Ok((!text.is_empty()).then_some(text));
            }
            let mut used = buf.len();
            let mut end = false;
            for (i, &b) in buf.iter().enumerate() {
                if b == b'\n' {
                    self.at_line += 1;
                }
                if self.splitter.feed(b) {
                    used = i + 1;
                    end = true;
                    stmt.extend_from_slice(&buf[..i]);
                    break;
                }
            }
            if !end {
                stmt.extend_from_slice(buf);
            }
            self.r.consume(used);
            if end {
                self.line = self.at_line;
                let text = String::from_utf8_lossy(&stmt).trim().to_owned();
                if text.is_empty() {
                    stmt.clear();
                    continue;
                }
                return Ok(Some(text));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_stream_from_a_file_with_quoted_terminators() {
        let text =
            b"-- head\nSET NAMES utf8mb4;\nINSERT INTO t VALUES\n('a;\nb'),\n('c''d;');\n;\n";
        // A tiny buffer: statements cross buffer boundaries.
        let mut s = Statements::new(std::io::BufReader::with_capacity(3, &text[..]));
        assert_eq!(
            s.next_statement().unwrap().as_deref(),
            Some("-- head\nSET NAMES utf8mb4")
        );
        assert_eq!(s.line, 2);
        assert_eq!(
            s.next_statement().unwrap().as_deref(),
            Some("INSERT INTO t VALUES\n('a;\nb'),\n('c''d;')")
        );
        assert_eq!(s.line, 6);
        assert_eq!(s.next_statement().unwrap(), None);
    }

    #[test]
    fn the_create_statement_is_recognised_after_comments() {
        assert!(!creates_table("-- rows\nSET NAMES utf8mb4"));
        assert!(creates_table("\ncreate table `t` (a int)"));
        assert!(creates_table("-- c\n  CREATE TABLE t (a int)"));
        assert!(!creates_table("INSERT INTO t VALUES (1)"));
    }

    #[test]
    fn tsv_values_are_the_column_bytes() {
        use lifeboat_binlog::table::column_type::BIT;
        let col = Column::new(BIT, BIT, 2 << 8 | 3, true); // BIT(19): 3 bytes
        let mut out = Vec::new();
        push_value(&mut out, &Value::Bit(0x0A_0B0C), &col, Format::Tsv);
        assert_eq!(out, b"\\n\x0B\x0C");
        out.clear();
        push_value(&mut out, &Value::Bytes(b"a\tb\\"), &col, Format::Tsv);
        assert_eq!(out, b"a\\tb\\\\");
    }
}
