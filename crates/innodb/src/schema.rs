//! A table's definition as record decoding needs it, read from a `CREATE TABLE` statement
//! (what `SHOW CREATE TABLE` printed, or a user's file): columns with their types, sizes,
//! character sets and nullability, and the clustered index InnoDB built from them.
//!
//! Columns are [`lifeboat_mysql_types::Column`]s, the one column description of the project:
//! the value formats InnoDB and row events share are decoded by the same code.

use lifeboat_mysql_types::Column;
use lifeboat_mysql_types::column::column_type as ct;

/// The binary collation id.
const BINARY: u16 = 63;

/// A table definition.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    /// Database, when the statement names it.
    pub database: Option<String>,
    /// Table name.
    pub table: String,
    /// Columns in table order.
    pub columns: Vec<Column>,
    /// Maximum bytes per character of each column (1 for non-character columns).
    pub mbmaxlen: Vec<u8>,
    /// Columns of the clustered index key, in key order: the PRIMARY KEY, else the first
    /// UNIQUE key of NOT NULL columns; empty when InnoDB keys rows by a hidden DB_ROW_ID.
    pub clustered: Vec<usize>,
    /// For each key column, the bytes of it the key holds when the PRIMARY KEY takes only a
    /// prefix of it (`PRIMARY KEY (code(12))`); `None` for a whole column.
    pub key_prefix: Vec<Option<usize>>,
    /// ROW_FORMAT when the statement says it.
    pub row_format: Option<String>,
    /// The statement as given.
    pub create_sql: String,
    /// What MySQL 8's instant ADD/DROP COLUMN left in the records, when the definition came
    /// from a table's SDI that says (a `CREATE TABLE` statement cannot).
    pub row_versions: Option<RowVersions>,
    /// Per column: a stored generated column (`AS (expr) STORED`/`PERSISTENT`). Its value is
    /// in the records, but a load must leave it to the server (MySQL refuses a value for it,
    /// error 3105).
    pub generated: Vec<bool>,
    /// Per column: declared `JSON`. MariaDB stores it as LONGTEXT (which it is read as);
    /// MySQL in its binary form ([`TableSchema::mysql_json`]).
    pub json: Vec<bool>,
}

impl TableSchema {
    /// A MySQL table's JSON columns hold MySQL's binary JSON (off-page like a BLOB): read
    /// them as such, so they come out as JSON text.
    pub fn mysql_json(&mut self) {
        for (c, json) in self.columns.iter_mut().zip(&self.json) {
            if *json {
                c.type_code = ct::JSON;
                c.real_type = ct::JSON;
                c.collation = None;
            }
        }
    }

    /// Whether rows written for loading carry column `k`: not engine-hidden or invisible,
    /// not computed by the server.
    pub fn loaded(&self, k: usize) -> bool {
        self.columns
            .get(k)
            .is_some_and(|c| c.visible != Some(false))
            && !self.generated.get(k).copied().unwrap_or(false)
    }
}

/// MySQL 8's instant ADD/DROP COLUMN history of a table, from its SDI: which fields each
/// record holds. 8.0.12–8.0.28 add columns at the end only; older records hold the first
/// `instant_cols` columns. 8.0.29+ number the table's versions: records carry theirs, and
/// each field says the versions it was added and dropped in (a dropped column's bytes stay
/// in older records).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowVersions {
    /// The columns the table had before its first 8.0.12–8.0.28 instant ADD COLUMN.
    pub instant_cols: Option<usize>,
    /// The fields after the key, DB_TRX_ID and DB_ROLL_PTR, in the order records hold them
    /// (8.0.29+'s physical positions); empty when the SDI gives no positions.
    pub fields: Vec<VersionedField>,
    /// For each column (table order), the value records written before its instant ADD
    /// take: `Some(None)` is NULL; `None` when the SDI gives none.
    pub defaults: Vec<Option<Option<Vec<u8>>>>,
}

/// One field of [`RowVersions::fields`].
#[derive(Debug, Clone, PartialEq)]
pub struct VersionedField {
    /// The column of the definition, or the definition of a dropped column (and its
    /// maximum bytes per character): what its bytes take in the records that hold it.
    pub column: Result<usize, (Column, u8)>,
    /// The row versions whose records hold it.
    pub lifetime: Lifetime,
}

/// The row versions a field is in: from the one that added it (0: there from the start)
/// to the one before the one that dropped it (0: never dropped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// The row version that added it.
    pub added: u8,
    /// The row version that dropped it.
    pub dropped: u8,
}

impl Lifetime {
    /// Whether records of row version `v` hold the field.
    pub fn holds(self, v: u8) -> bool {
        self.added <= v && (self.dropped == 0 || v < self.dropped)
    }

    /// The newest row version it names.
    pub fn newest(self) -> u8 {
        self.added.max(self.dropped)
    }
}

/// Why a `CREATE TABLE` statement could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CREATE TABLE: {0}")]
pub struct SchemaError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Str(String),
    Num(String),
    P(char),
}

fn tokens(sql: &str) -> Result<Vec<Tok>, SchemaError> {
    let mut out = Vec::new();
    let mut it = sql.chars().peekable();
    while let Some(&c) = it.peek() {
        if c.is_whitespace() {
            it.next();
        } else if c == '-' && sql.contains("--") && {
            let mut look = it.clone();
            look.next();
            look.peek() == Some(&'-')
        } {
            for c in it.by_ref() {
                if c == '\n' {
                    break;
                }
            }
        } else if c == '/' && {
            let mut look = it.clone();
            look.next();
            look.peek() == Some(&'*')
        } {
            it.next();
            it.next();
            let mut prev = ' ';
            for c in it.by_ref() {
                if prev == '*' && c == '/' {
                    break;
                }
                prev = c;
            }
        } else if c == '`' || c == '"' {
            it.next();
            let mut s = String::new();
            loop {
                match it.next() {
                    Some(x) if x == c => {
                        if it.peek() == Some(&c) {
                            it.next();
                            s.push(c);
                        } else {
                            break;
                        }
                    }
                    Some(x) => s.push(x),
                    None => return Err(SchemaError("unterminated quoted name".into())),
                }
            }
            out.push(Tok::Quoted(s));
        } else if c == '\'' {
            it.next();
            let mut s = String::new();
            loop {
                match it.next() {
                    Some('\\') => {
                        if let Some(x) = it.next() {
                            s.push(match x {
                                'n' => '\n',
                                't' => '\t',
                                '0' => '\0',
                                other => other,
                            });
                        }
                    }
                    Some('\'') => {
                        if it.peek() == Some(&'\'') {
                            it.next();
                            s.push('\'');
                        } else {
                            break;
                        }
                    }
                    Some(x) => s.push(x),
                    None => return Err(SchemaError("unterminated string".into())),
                }
            }
            out.push(Tok::Str(s));
        } else if c.is_ascii_digit() {
            let mut s = String::new();
            while let Some(&d) = it.peek() {
                if d.is_ascii_alphanumeric() || d == '.' {
                    s.push(d);
                    it.next();
                } else {
                    break;
                }
            }
            out.push(Tok::Num(s));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let mut s = String::new();
            while let Some(&d) = it.peek() {
                if d.is_alphanumeric() || d == '_' || d == '$' {
                    s.push(d);
                    it.next();
                } else {
                    break;
                }
            }
            out.push(Tok::Word(s));
        } else {
            out.push(Tok::P(c));
            it.next();
        }
    }
    Ok(out)
}

fn is_word(t: Option<&Tok>, w: &str) -> bool {
    matches!(t, Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
}

fn name_of(t: Option<&Tok>) -> Option<String> {
    match t {
        Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => Some(w.clone()),
        _ => None,
    }
}

/// Maximum bytes per character and default collation id of a character set.
fn charset(name: &str) -> Option<(u8, u16)> {
    Some(match name.to_ascii_lowercase().as_str() {
        "latin1" => (1, 8),
        "binary" => (1, BINARY),
        "ascii" => (1, 11),
        "utf8" | "utf8mb3" => (3, 33),
        "utf8mb4" => (4, 45),
        "ucs2" => (2, 35),
        "utf16" | "utf16le" => (4, 54),
        "utf32" => (4, 60),
        "cp1250" => (1, 26),
        "cp1251" => (1, 51),
        "cp1256" => (1, 57),
        "cp1257" => (1, 59),
        "latin2" => (1, 9),
        "latin5" => (1, 30),
        "latin7" => (1, 41),
        "greek" => (1, 25),
        "hebrew" => (1, 16),
        "koi8r" => (1, 7),
        "koi8u" => (1, 22),
        "big5" => (2, 1),
        "gbk" => (2, 28),
        "gb2312" => (2, 24),
        "gb18030" => (4, 248),
        "sjis" => (2, 13),
        "cp932" => (2, 95),
        "ujis" => (3, 12),
        "eucjpms" => (3, 97),
        "euckr" => (2, 19),
        "tis620" => (1, 18),
        "swe7" => (1, 10),
        "hp8" => (1, 6),
        "dec8" => (1, 3),
        "cp850" => (1, 4),
        "cp852" => (1, 40),
        "cp866" => (1, 36),
        "macce" => (1, 38),
        "macroman" => (1, 39),
        "armscii8" => (1, 32),
        "geostd8" => (1, 92),
        "keybcs2" => (1, 37),
        _ => return None,
    })
}

/// The character set a collation name belongs to (its prefix).
fn charset_of_collation(collation: &str) -> Option<(u8, u16)> {
    let c = collation.to_ascii_lowercase();
    if c == "binary" {
        return charset("binary");
    }
    let base = c.split('_').next()?;
    let (mb, default_id) = charset(base)?;
    // Binary collations of a character set keep the character set's width; the id only
    // matters for telling binary strings from text.
    Some((mb, default_id))
}

/// What a column definition says beyond its type.
struct ColumnInfo {
    name: String,
    col: Column,
    mbmaxlen: u8,
    /// A character type without its own character set: the table's applies.
    needs_charset: bool,
    primary: bool,
    unique: bool,
    /// A stored generated column.
    generated: bool,
    /// Declared JSON.
    json: bool,
}

/// Where statements end in SQL text, fed one byte at a time (so a stream of any length can
/// be split without holding it): at `;` outside quotes, backticks and comments.
#[derive(Debug, Default, Clone)]
pub struct Splitter {
    state: SplitState,
    prev: u8,
}

#[derive(Debug, Default, Clone, Copy)]
enum SplitState {
    #[default]
    Code,
    Quote(u8),
    Escaped(u8),
    LineComment,
    BlockComment,
}

impl Splitter {
    /// Takes the next byte; true when it is the `;` that ends a statement.
    pub fn feed(&mut self, b: u8) -> bool {
        use SplitState::*;
        let prev = std::mem::replace(&mut self.prev, b);
        match self.state {
            Code => match b {
                b'\'' | b'"' | b'`' => self.state = Quote(b),
                b'-' if prev == b'-' => self.state = LineComment,
                b'#' => self.state = LineComment,
                b'*' if prev == b'/' => {
                    self.state = BlockComment;
                    // The `*` of `/*` does not also close it (`/*/`).
                    self.prev = 0;
                }
                b';' => return true,
                _ => {}
            },
            Quote(q) if b == b'\\' && q != b'`' => self.state = Escaped(q),
            Quote(q) if b == q => {
                self.state = Code;
                // A doubled quote reopens; it must not pair with what follows.
                self.prev = 0;
            }
            Quote(_) => {}
            Escaped(q) => self.state = Quote(q),
            LineComment if b == b'\n' => self.state = Code,
            LineComment => {}
            BlockComment if b == b'/' && prev == b'*' => {
                self.state = Code;
                self.prev = 0;
            }
            BlockComment => {}
        }
        false
    }
}

/// The statements of an SQL text (a schema dump), split at `;` outside quotes, backticks
/// and comments; empty ones dropped.
pub fn split_statements(sql: &str) -> Vec<&str> {
    let mut splitter = Splitter::default();
    let (mut out, mut start) = (Vec::new(), 0);
    for (i, &b) in sql.as_bytes().iter().enumerate() {
        if splitter.feed(b) {
            out.push(sql.get(start..i).unwrap_or_default());
            start = i + 1;
        }
    }
    out.push(sql.get(start..).unwrap_or_default());
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod split_tests {
    #[test]
    fn statements_split_outside_quotes_and_comments() {
        let sql =
            "CREATE TABLE a (x INT COMMENT 'a;b'); -- c;d\n/* e;f */ CREATE TABLE `b;` (y INT);;";
        let s = super::split_statements(sql);
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s[0].starts_with("CREATE TABLE a"));
        assert!(s[1].contains("`b;`"));
        // Escapes, doubled quotes, a comment closed right after it opens.
        let s = super::split_statements("SELECT 'a\\';b', 'c'';d' /*/;*/; SELECT 2");
        assert_eq!(s, ["SELECT 'a\\';b', 'c'';d' /*/;*/", "SELECT 2"]);
    }
}

/// Reads `CREATE TABLE` text into a [`TableSchema`].
pub fn parse_create_table(sql: &str) -> Result<TableSchema, SchemaError> {
    let t = tokens(sql)?;
    let mut i = 0;
    while i < t.len() && !is_word(t.get(i), "TABLE") {
        i += 1;
    }
    if !is_word(t.first(), "CREATE") || i >= t.len() {
        return Err(SchemaError("not a CREATE TABLE statement".into()));
    }
    i += 1;
    if is_word(t.get(i), "IF") {
        i += 3;
    }
    let first = name_of(t.get(i)).ok_or_else(|| SchemaError("no table name".into()))?;
    i += 1;
    let (database, table) = if t.get(i) == Some(&Tok::P('.')) {
        let second = name_of(t.get(i + 1)).ok_or_else(|| SchemaError("no table name".into()))?;
        i += 2;
        (Some(first), second)
    } else {
        (None, first)
    };
    if t.get(i) != Some(&Tok::P('(')) {
        return Err(SchemaError(format!("no column list after `{table}`")));
    }
    i += 1;
    // Split the definitions at top-level commas.
    let mut defs: Vec<&[Tok]> = Vec::new();
    let (mut depth, mut start) = (0usize, i);
    while i < t.len() {
        match t.get(i) {
            Some(Tok::P('(')) => depth += 1,
            Some(Tok::P(')')) if depth == 0 => {
                defs.push(t.get(start..i).unwrap_or_default());
                break;
            }
            Some(Tok::P(')')) => depth -= 1,
            Some(Tok::P(',')) if depth == 0 => {
                defs.push(t.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if i >= t.len() {
        return Err(SchemaError("the column list is not closed".into()));
    }
    let options = t.get(i + 1..).unwrap_or_default();
    let mut table_charset: Option<(u8, u16)> = None;
    let mut row_format = None;
    for (k, tok) in options.iter().enumerate() {
        let value = || {
            let mut j = k + 1;
            if options.get(j) == Some(&Tok::P('=')) {
                j += 1;
            }
            name_of(options.get(j)).or_else(|| match options.get(j) {
                Some(Tok::Str(s)) => Some(s.clone()),
                _ => None,
            })
        };
        if is_word(Some(tok), "CHARSET")
            || (is_word(Some(tok), "SET") && k > 0 && is_word(options.get(k - 1), "CHARACTER"))
        {
            table_charset = value().and_then(|v| charset(&v)).or(table_charset);
        } else if is_word(Some(tok), "COLLATE") {
            table_charset = value()
                .and_then(|v| charset_of_collation(&v))
                .or(table_charset);
        } else if is_word(Some(tok), "ROW_FORMAT") {
            row_format = value().map(|v| v.to_ascii_uppercase());
        }
    }
    let table_charset = table_charset.unwrap_or((1, 8));

    let mut cols: Vec<ColumnInfo> = Vec::new();
    // Key columns, each with the prefix length (in characters) when only a prefix of it is
    // indexed (0 when the length cannot be read).
    let mut primary: Option<Vec<(String, Option<usize>)>> = None;
    let mut uniques: Vec<Vec<(String, Option<usize>)>> = Vec::new();
    let mut fulltext = false;
    for def in defs {
        let head = def.first();
        let key_list = |d: &[Tok]| -> Vec<(String, Option<usize>)> {
            let open = d.iter().position(|x| *x == Tok::P('('));
            let mut names: Vec<(String, Option<usize>)> = Vec::new();
            let mut depth = 0;
            let mut expect = true;
            for x in d.get(open.map_or(d.len(), |o| o + 1)..).unwrap_or_default() {
                match x {
                    Tok::P('(') => {
                        if depth == 0
                            && !expect
                            && let Some(last) = names.last_mut()
                        {
                            last.1 = Some(0);
                        }
                        depth += 1;
                    }
                    Tok::Num(n) if depth == 1 => {
                        if let Some(last) = names.last_mut().filter(|l| l.1 == Some(0)) {
                            last.1 = n.parse().ok();
                        }
                    }
                    Tok::P(')') if depth == 0 => break,
                    Tok::P(')') => depth -= 1,
                    Tok::P(',') if depth == 0 => expect = true,
                    Tok::Word(w) | Tok::Quoted(w) if depth == 0 && expect => {
                        names.push((w.clone(), None));
                        expect = false;
                    }
                    _ => {}
                }
            }
            names
        };
        if is_word(head, "PRIMARY") {
            primary = Some(key_list(def));
        } else if is_word(head, "UNIQUE") {
            uniques.push(key_list(def));
        } else if is_word(head, "CONSTRAINT") {
            if def.iter().any(|x| is_word(Some(x), "PRIMARY")) {
                primary = Some(key_list(def));
            } else if def.iter().any(|x| is_word(Some(x), "UNIQUE")) {
                uniques.push(key_list(def));
            }
        } else if is_word(head, "FULLTEXT") {
            fulltext = true;
        } else if is_word(head, "KEY")
            || is_word(head, "INDEX")
            || is_word(head, "SPATIAL")
            || is_word(head, "FOREIGN")
            || is_word(head, "CHECK")
            || is_word(head, "PERIOD")
        {
        } else if virtual_column(def) {
            // Computed when read: InnoDB's clustered records do not hold it.
        } else {
            cols.push(column(def)?);
        }
    }
    if cols.is_empty() {
        return Err(SchemaError(format!("`{table}` has no columns")));
    }
    if fulltext
        && !cols
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case("FTS_DOC_ID"))
    {
        // InnoDB adds a hidden FTS_DOC_ID column after the others for a FULLTEXT index.
        let mut col = Column::new(ct::LONGLONG, ct::LONGLONG, 0, false);
        col.name = Some("FTS_DOC_ID".into());
        col.unsigned = Some(true);
        col.visible = Some(false);
        cols.push(ColumnInfo {
            name: "FTS_DOC_ID".into(),
            col,
            mbmaxlen: 1,
            needs_charset: false,
            primary: false,
            unique: false,
            generated: false,
            json: false,
        });
    }
    for c in &mut cols {
        if c.needs_charset {
            c.mbmaxlen = table_charset.0;
            c.col.collation = Some(table_charset.1);
            if matches!(c.col.real_type, ct::STRING | ct::VARCHAR) {
                c.col.meta = c.col.meta.saturating_mul(u16::from(table_charset.0));
            }
        }
    }
    let index_of = |n: &str| cols.iter().position(|c| c.name.eq_ignore_ascii_case(n));
    let inline_pk: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| c.primary)
        .map(|(k, _)| k)
        .collect();
    if let Some(p) = primary.iter().flatten().find(|k| k.1 == Some(0)) {
        return Err(SchemaError(format!(
            "the prefix length of `{}` in the PRIMARY KEY cannot be read",
            p.0
        )));
    }
    // A prefix key column's records hold the prefix in the key and the whole value again
    // among the other columns; its length counts bytes there.
    let mut key_prefix: Vec<Option<usize>> = Vec::new();
    let mut clustered: Vec<usize> = match &primary {
        Some(names) => names
            .iter()
            .filter_map(|n| {
                let k = index_of(&n.0)?;
                let mb = cols.get(k).map_or(1, |c| usize::from(c.mbmaxlen));
                key_prefix.push(n.1.map(|chars| chars * mb));
                Some(k)
            })
            .collect(),
        None => inline_pk,
    };
    if clustered.is_empty() {
        let inline_unique = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.unique)
            .map(|(k, _)| vec![k]);
        let listed = uniques
            .iter()
            .filter(|names| names.iter().all(|n| n.1.is_none()))
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| index_of(&n.0))
                    .collect::<Vec<_>>()
            });
        // InnoDB takes the first UNIQUE index whose columns are all NOT NULL (and whole).
        clustered = inline_unique
            .chain(listed)
            .find(|k| {
                !k.is_empty()
                    && k.iter()
                        .all(|&c| cols.get(c).is_some_and(|c| !c.col.nullable))
            })
            .unwrap_or_default();
    }
    for &k in &clustered {
        if let Some(c) = cols.get_mut(k) {
            c.col.primary_key = true;
            c.col.nullable = false;
        }
    }
    // One entry per key column (a key taken from a UNIQUE key has no prefixes).
    key_prefix.resize(clustered.len(), None);
    let create_sql = unqualified(sql.trim().trim_end_matches(';'), &table);
    Ok(TableSchema {
        database,
        table,
        mbmaxlen: cols.iter().map(|c| c.mbmaxlen).collect(),
        generated: cols.iter().map(|c| c.generated).collect(),
        json: cols.iter().map(|c| c.json).collect(),
        columns: cols.into_iter().map(|c| c.col).collect(),
        key_prefix,
        clustered,
        row_format,
        create_sql,
        row_versions: None,
    })
}

/// The statement with its table name alone (no database), so that it creates the table in
/// whatever database it is loaded into: everything before the column list is rewritten.
fn unqualified(sql: &str, table: &str) -> String {
    let mut quote: Option<char> = None;
    for (i, c) in sql.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '`' | '"' | '\'') => quote = Some(c),
            (None, '(') => {
                return format!(
                    "CREATE TABLE {} {}",
                    lifeboat_mysql_types::quote::ident(table),
                    sql.get(i..).unwrap_or_default()
                );
            }
            _ => {}
        }
    }
    sql.to_owned()
}

/// One column definition: name, type, attributes.
/// A generated column that is not stored: `AS (expr)` without STORED or PERSISTENT.
fn virtual_column(def: &[Tok]) -> bool {
    let generated = def
        .windows(2)
        .any(|w| is_word(w.first(), "AS") && w.get(1) == Some(&Tok::P('(')));
    generated
        && !def
            .iter()
            .any(|x| is_word(Some(x), "STORED") || is_word(Some(x), "PERSISTENT"))
}

fn column(def: &[Tok]) -> Result<ColumnInfo, SchemaError> {
    let name = name_of(def.first()).ok_or_else(|| SchemaError("a column without a name".into()))?;
    let tname = match def.get(1) {
        Some(Tok::Word(w)) => w.to_ascii_uppercase(),
        _ => return Err(SchemaError(format!("column `{name}` has no type"))),
    };
    // Type arguments: numbers, or the strings of ENUM/SET.
    let mut args: Vec<u32> = Vec::new();
    let mut strings: Vec<Vec<u8>> = Vec::new();
    let mut k = 2;
    if def.get(k) == Some(&Tok::P('(')) {
        k += 1;
        while let Some(x) = def.get(k) {
            match x {
                Tok::P(')') => {
                    k += 1;
                    break;
                }
                Tok::Num(n) => args.push(n.parse().unwrap_or(0)),
                Tok::Str(s) => strings.push(s.as_bytes().to_vec()),
                _ => {}
            }
            k += 1;
        }
    }
    let rest = def.get(k..).unwrap_or_default();
    let has = |w: &str| rest.iter().any(|x| is_word(Some(x), w));
    let after = |w: &str| -> Option<String> {
        let p = rest.iter().position(|x| is_word(Some(x), w))?;
        let mut j = p + 1;
        if is_word(rest.get(j), "SET") {
            j += 1;
        }
        if rest.get(j) == Some(&Tok::P('=')) {
            j += 1;
        }
        name_of(rest.get(j))
    };
    let unsigned = has("UNSIGNED") || has("ZEROFILL");
    let not_null = rest
        .windows(2)
        .any(|w| is_word(w.first(), "NOT") && is_word(w.get(1), "NULL"));
    let primary = rest
        .windows(2)
        .any(|w| is_word(w.first(), "PRIMARY") && is_word(w.get(1), "KEY"));
    let unique = has("UNIQUE");
    let own_charset = after("CHARACTER")
        .or_else(|| after("CHARSET"))
        .and_then(|c| charset(&c))
        .or_else(|| after("COLLATE").and_then(|c| charset_of_collation(&c)));
    let arg = |n: usize, default: u32| args.get(n).copied().unwrap_or(default);
    let (type_code, real_type, meta, text) = match tname.as_str() {
        "TINYINT" | "BOOL" | "BOOLEAN" => (ct::TINY, ct::TINY, 0, false),
        "SMALLINT" => (ct::SHORT, ct::SHORT, 0, false),
        "MEDIUMINT" => (ct::INT24, ct::INT24, 0, false),
        "INT" | "INTEGER" => (ct::LONG, ct::LONG, 0, false),
        "BIGINT" | "SERIAL" => (ct::LONGLONG, ct::LONGLONG, 0, false),
        "FLOAT" if arg(0, 0) > 24 => (ct::DOUBLE, ct::DOUBLE, 8, false),
        "FLOAT" => (ct::FLOAT, ct::FLOAT, 4, false),
        "DOUBLE" | "REAL" => (ct::DOUBLE, ct::DOUBLE, 8, false),
        "DECIMAL" | "NUMERIC" | "DEC" | "FIXED" => {
            let (p, s) = (arg(0, 10).min(65), arg(1, 0).min(38));
            (
                ct::NEWDECIMAL,
                ct::NEWDECIMAL,
                ((p as u16) << 8) | s as u16,
                false,
            )
        }
        "DATE" => (ct::DATE, ct::DATE, 0, false),
        "DATETIME" => (ct::DATETIME2, ct::DATETIME2, arg(0, 0).min(6) as u16, false),
        "TIMESTAMP" => (
            ct::TIMESTAMP2,
            ct::TIMESTAMP2,
            arg(0, 0).min(6) as u16,
            false,
        ),
        "TIME" => (ct::TIME2, ct::TIME2, arg(0, 0).min(6) as u16, false),
        "YEAR" => (ct::YEAR, ct::YEAR, 0, false),
        "BIT" => {
            let bits = arg(0, 1).clamp(1, 64);
            (
                ct::BIT,
                ct::BIT,
                (((bits / 8) << 8) | (bits % 8)) as u16,
                false,
            )
        }
        "CHAR" | "CHARACTER" | "NCHAR" => (ct::STRING, ct::STRING, arg(0, 1) as u16, true),
        "VARCHAR" | "NVARCHAR" | "VARCHARACTER" => {
            (ct::VARCHAR, ct::VARCHAR, arg(0, 255) as u16, true)
        }
        "BINARY" => (ct::STRING, ct::STRING, arg(0, 1) as u16, false),
        "VARBINARY" => (ct::VARCHAR, ct::VARCHAR, arg(0, 255) as u16, false),
        "TINYTEXT" => (ct::BLOB, ct::BLOB, 1, true),
        "TEXT" => (ct::BLOB, ct::BLOB, 2, true),
        "MEDIUMTEXT" => (ct::BLOB, ct::BLOB, 3, true),
        "LONGTEXT" | "JSON" => (ct::BLOB, ct::BLOB, 4, true),
        "TINYBLOB" => (ct::BLOB, ct::BLOB, 1, false),
        "BLOB" => (ct::BLOB, ct::BLOB, 2, false),
        "MEDIUMBLOB" => (ct::BLOB, ct::BLOB, 3, false),
        "LONGBLOB" => (ct::BLOB, ct::BLOB, 4, false),
        "ENUM" => (
            ct::STRING,
            ct::ENUM,
            if strings.len() > 255 { 2 } else { 1 },
            true,
        ),
        "SET" => (
            ct::STRING,
            ct::SET,
            (strings.len().div_ceil(8)).max(1) as u16,
            true,
        ),
        "GEOMETRY" | "POINT" | "LINESTRING" | "POLYGON" | "MULTIPOINT" | "MULTILINESTRING"
        | "MULTIPOLYGON" | "GEOMETRYCOLLECTION" => (ct::GEOMETRY, ct::GEOMETRY, 4, false),
        other => {
            return Err(SchemaError(format!(
                "column `{name}`: type {other} is not supported"
            )));
        }
    };
    // `VARCHAR(n) BINARY` is the character set's binary collation: still text of its width.
    let (mbmaxlen, collation, needs_charset) = if text {
        match own_charset {
            Some((mb, id)) => (mb, Some(id), false),
            None => (1, None, true),
        }
    } else if matches!(
        real_type,
        ct::STRING | ct::VARCHAR | ct::BLOB | ct::GEOMETRY
    ) {
        (1, Some(BINARY), false)
    } else {
        (1, None, false)
    };
    let mut col = Column::new(
        type_code,
        real_type,
        // Character columns' byte length is known once the character set is.
        if text && matches!(real_type, ct::STRING | ct::VARCHAR) && !needs_charset {
            meta.saturating_mul(u16::from(mbmaxlen))
        } else {
            meta
        },
        !not_null && !primary,
    );
    col.name = Some(name.clone());
    col.unsigned = Some(unsigned);
    col.collation = if matches!(real_type, ct::ENUM | ct::SET) {
        collation.or(Some(8))
    } else {
        collation
    };
    if matches!(real_type, ct::ENUM | ct::SET) {
        col.elements = Some(strings);
    }
    Ok(ColumnInfo {
        name,
        col,
        mbmaxlen: if matches!(real_type, ct::ENUM | ct::SET) {
            1
        } else {
            mbmaxlen
        },
        needs_charset: needs_charset && !matches!(real_type, ct::ENUM | ct::SET),
        primary,
        unique,
        generated: def
            .windows(2)
            .any(|w| is_word(w.first(), "AS") && w.get(1) == Some(&Tok::P('('))),
        json: tname == "JSON",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_create_table_output() {
        let s = parse_create_table(
            "CREATE TABLE `orders` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `note` varchar(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci DEFAULT NULL,
  `code` char(3) NOT NULL DEFAULT 'abc',
  `amount` decimal(10,2) DEFAULT NULL,
  `at` datetime(6) NOT NULL,
  `kind` enum('a','b','it''s') DEFAULT 'a',
  `body` text,
  PRIMARY KEY (`id`),
  KEY `amount` (`amount`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci",
        )
        .unwrap();
        assert_eq!(s.table, "orders");
        assert!(
            s.create_sql
                .starts_with("CREATE TABLE `orders` (\n  `id` int(11)")
        );
        assert_eq!(s.clustered, vec![0]);
        let names: Vec<_> = s.columns.iter().map(|c| c.name.clone().unwrap()).collect();
        assert_eq!(
            names,
            ["id", "note", "code", "amount", "at", "kind", "body"]
        );
        assert_eq!(s.mbmaxlen, [1, 4, 1, 1, 1, 1, 1]);
        assert_eq!(s.columns[1].meta, 800);
        assert_eq!(s.columns[2].meta, 3);
        assert_eq!(s.columns[3].meta, (10 << 8) | 2);
        assert_eq!(s.columns[4].meta, 6);
        assert_eq!(s.columns[5].elements.as_ref().unwrap()[2], b"it's".to_vec());
        assert!(!s.columns[0].nullable && s.columns[1].nullable);
    }

    #[test]
    fn clustered_key_without_primary_key() {
        let s = parse_create_table(
            "create table t (a int, b int not null, c varchar(5), unique key (a), unique key (b))",
        )
        .unwrap();
        assert_eq!(s.clustered, vec![1]);
        let s = parse_create_table("create table t (a int, b int)").unwrap();
        assert!(s.clustered.is_empty());
        // A UNIQUE key on a prefix is not the clustered index; a PRIMARY KEY on one is, with
        // the prefix's length in bytes.
        let s = parse_create_table(
            "create table t (a varchar(9) not null, b int not null, unique key (a(3)), unique key (b))",
        )
        .unwrap();
        assert_eq!(s.clustered, vec![1]);
        assert_eq!(s.key_prefix, vec![None]);
        let s = parse_create_table(
            "create table t (a varchar(9) charset utf8mb4, b int, primary key (b, a(3)))",
        )
        .unwrap();
        assert_eq!(s.clustered, vec![1, 0]);
        assert_eq!(s.key_prefix, vec![None, Some(12)]);
        let s = parse_create_table("CREATE TABLE IF NOT EXISTS `my db`.`t(1)` (a int)").unwrap();
        assert_eq!(s.database.as_deref(), Some("my db"));
        assert_eq!(s.create_sql, "CREATE TABLE `t(1)` (a int)");
        assert!(parse_create_table("select 1").is_err());
        assert!(parse_create_table("create table t (a frobnicate)").is_err());
        // Generated columns: only the stored ones are in the records.
        let s = parse_create_table(
            "create table t (a int, v int as (a + 1) virtual, s int as (a * 2) stored, \
             p int generated always as (a) persistent, g int generated always as (a))",
        )
        .unwrap();
        let names: Vec<_> = s.columns.iter().map(|c| c.name.clone().unwrap()).collect();
        assert_eq!(names, ["a", "s", "p"]);
    }
}
