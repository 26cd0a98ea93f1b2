//! Just enough SQL to tell what a logged statement does to data: its kind and the tables it
//! names. Comments are skipped (MySQL's executable `/*! … */` comments are read as code),
//! strings and quoted names kept whole. Not a parser: statements it does not recognise are
//! [`Kind::Other`].

/// A token of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word, lowercased (keywords and unquoted names).
    Word(String),
    /// A `quoted` name, as written.
    Quoted(String),
    /// A string literal (contents not kept).
    Str,
    /// Any other character.
    Punct(char),
}

fn tokens(sql: &str) -> Vec<Token> {
    let b: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('*') {
            // `/*!50001 code */` and `/*M! code */` are code; other comments are skipped.
            let exec = matches!(b.get(i + 2), Some('!'))
                || (b.get(i + 2) == Some(&'M') && b.get(i + 3) == Some(&'!'));
            if exec {
                i += if b.get(i + 2) == Some(&'M') { 4 } else { 3 };
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                // The closing `*/` is skipped when reached.
            } else {
                i += 2;
                while i < b.len() && !(b[i] == '*' && b.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
        } else if c == '*' && next == Some('/') {
            i += 2;
        } else if c == '#'
            || (c == '-' && next == Some('-') && b.get(i + 2).is_none_or(|c| c.is_whitespace()))
        {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '`' {
            let mut s = String::new();
            i += 1;
            while i < b.len() {
                if b[i] == '`' {
                    if b.get(i + 1) == Some(&'`') {
                        s.push('`');
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(b[i]);
                i += 1;
            }
            i += 1;
            out.push(Token::Quoted(s));
        } else if c == '\'' || c == '"' {
            i += 1;
            while i < b.len() {
                if b[i] == '\\' {
                    i += 2;
                    continue;
                }
                if b[i] == c {
                    if b.get(i + 1) == Some(&c) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            out.push(Token::Str);
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '$') {
                i += 1;
            }
            out.push(Token::Word(
                b[start..i].iter().collect::<String>().to_lowercase(),
            ));
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// What a statement does, as far as recovery cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// DROP TABLE (not TEMPORARY).
    DropTable,
    /// DROP DATABASE / SCHEMA.
    DropDatabase,
    /// `TRUNCATE [TABLE]`.
    Truncate,
    /// DELETE without a WHERE clause.
    DeleteWithoutWhere,
    /// UPDATE without a WHERE clause.
    UpdateWithoutWhere,
    /// DELETE with a WHERE clause.
    Delete,
    /// UPDATE with a WHERE clause.
    Update,
    /// `ALTER TABLE … DROP [COLUMN] col`.
    DropColumn,
    /// RENAME TABLE where a target name is also a source: a table replaced by another.
    RenameOntoExisting,
    /// Anything else.
    Other,
}

/// A statement's kind and the tables it names (`db.table`, with `default_db` for unqualified
/// names; the database alone for DROP DATABASE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// Kind.
    pub kind: Kind,
    /// Tables (or the database) it names.
    pub tables: Vec<String>,
}

fn name(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) => Some(w.clone()),
        Token::Quoted(q) => Some(q.clone()),
        _ => None,
    }
}

/// Reads `a`, `a.b`, `` `a`.`b` `` at `i`; returns the qualified name and the next index.
fn qualified(t: &[Token], i: usize, default_db: &str) -> Option<(String, usize)> {
    let first = name(t.get(i)?)?;
    if t.get(i + 1) == Some(&Token::Punct('.')) {
        let second = name(t.get(i + 2)?)?;
        Some((format!("{first}.{second}"), i + 3))
    } else {
        Some((format!("{default_db}.{first}"), i + 1))
    }
}

/// Comma-separated table names from `i`, until something else.
fn name_list(t: &[Token], mut i: usize, default_db: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((n, next)) = qualified(t, i, default_db) {
        out.push(n);
        i = next;
        if t.get(i) != Some(&Token::Punct(',')) {
            break;
        }
        i += 1;
    }
    out
}

fn word(t: &[Token], i: usize) -> Option<&str> {
    match t.get(i) {
        Some(Token::Word(w)) => Some(w.as_str()),
        _ => None,
    }
}

/// Every name the statement mentions that could be a table, qualified with `default_db`
/// when it is not (lowercased): a superset, for refusing to act around a statement, never
/// for deciding that one is harmless.
pub fn names(sql: &str, default_db: &str) -> Vec<String> {
    let t = tokens(sql);
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        match qualified(&t, i, default_db) {
            Some((n, next)) => {
                out.push(n.to_lowercase());
                i = next;
            }
            None => i += 1,
        }
    }
    out
}

/// The statement's first `max` characters on one line, for messages.
pub fn excerpt(sql: &str, max: usize) -> String {
    let one: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match one.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &one[..at]),
        None => one,
    }
}

/// Classifies one statement run with `default_db` as the current database.
pub fn classify(sql: &str, default_db: &str) -> Classified {
    let t = tokens(sql);
    let other = Classified {
        kind: Kind::Other,
        tables: Vec::new(),
    };
    let w = |i| word(&t, i);
    match (w(0), w(1)) {
        (Some("drop"), Some("table")) => {
            let mut i = 2;
            if w(i) == Some("if") && w(i + 1) == Some("exists") {
                i += 2;
            }
            Classified {
                kind: Kind::DropTable,
                tables: name_list(&t, i, default_db),
            }
        }
        (Some("drop"), Some("database" | "schema")) => {
            let mut i = 2;
            if w(i) == Some("if") && w(i + 1) == Some("exists") {
                i += 2;
            }
            Classified {
                kind: Kind::DropDatabase,
                tables: t.get(i).and_then(name).into_iter().collect(),
            }
        }
        (Some("truncate"), _) => {
            let i = if w(1) == Some("table") { 2 } else { 1 };
            Classified {
                kind: Kind::Truncate,
                tables: name_list(&t, i, default_db).into_iter().take(1).collect(),
            }
        }
        (Some("delete"), _) => {
            // DELETE [LOW_PRIORITY] [QUICK] [IGNORE] FROM t … ; multi-table forms name the
            // tables before FROM: those are reported.
            let Some(from) = (1..t.len()).find(|&i| w(i) == Some("from")) else {
                return other;
            };
            let before: Vec<String> =
                if from > 1 && !matches!(w(from - 1), Some("low_priority" | "quick" | "ignore")) {
                    name_list(&t, 1, default_db)
                } else {
                    Vec::new()
                };
            let tables = if before.is_empty() {
                name_list(&t, from + 1, default_db)
                    .into_iter()
                    .take(1)
                    .collect()
            } else {
                before
            };
            let has_where = t.iter().any(|x| x == &Token::Word("where".into()));
            Classified {
                kind: if has_where {
                    Kind::Delete
                } else {
                    Kind::DeleteWithoutWhere
                },
                tables,
            }
        }
        (Some("update"), _) => {
            let mut i = 1;
            while matches!(w(i), Some("low_priority" | "ignore")) {
                i += 1;
            }
            let has_where = t.iter().any(|x| x == &Token::Word("where".into()));
            Classified {
                kind: if has_where {
                    Kind::Update
                } else {
                    Kind::UpdateWithoutWhere
                },
                tables: name_list(&t, i, default_db),
            }
        }
        (Some("alter"), _) => {
            // ALTER [ONLINE] [IGNORE] TABLE t clause, clause, …
            let Some(at) = (1..4).find(|&i| w(i) == Some("table")) else {
                return other;
            };
            let Some((table, mut i)) = qualified(&t, at + 1, default_db) else {
                return other;
            };
            let mut depth = 0i32;
            let mut clause_start = true;
            let mut drops_column = false;
            while i < t.len() {
                match &t[i] {
                    Token::Punct('(') => depth += 1,
                    Token::Punct(')') => depth -= 1,
                    Token::Punct(',') if depth == 0 => {
                        clause_start = true;
                        i += 1;
                        continue;
                    }
                    Token::Word(x) if clause_start && x == "drop" => {
                        let target = w(i + 1);
                        let not_column = matches!(
                            target,
                            Some(
                                "index"
                                    | "key"
                                    | "primary"
                                    | "foreign"
                                    | "constraint"
                                    | "check"
                                    | "partition"
                                    | "period"
                                    | "system"
                                    | "unique"
                                    | "fulltext"
                                    | "spatial"
                            )
                        );
                        drops_column |= !not_column;
                    }
                    _ => {}
                }
                clause_start = false;
                i += 1;
            }
            if drops_column {
                Classified {
                    kind: Kind::DropColumn,
                    tables: vec![table],
                }
            } else {
                other
            }
        }
        (Some("rename"), Some("table")) => {
            // RENAME TABLE a TO b, c TO d: a target named by an earlier pair's source existed
            // before the statement, so another table now stands in its place.
            let mut i = 2;
            let (mut sources, mut targets) = (Vec::new(), Vec::new());
            while let Some((from, next)) = qualified(&t, i, default_db) {
                if word(&t, next) != Some("to") {
                    break;
                }
                let Some((to, after)) = qualified(&t, next + 1, default_db) else {
                    break;
                };
                sources.push(from);
                targets.push(to);
                i = after;
                if t.get(i) != Some(&Token::Punct(',')) {
                    break;
                }
                i += 1;
            }
            let replaced: Vec<String> = targets
                .iter()
                .enumerate()
                .filter(|(j, x)| sources.get(..*j).is_some_and(|s| s.contains(x)))
                .map(|(_, x)| x.clone())
                .collect();
            if replaced.is_empty() {
                other
            } else {
                Classified {
                    kind: Kind::RenameOntoExisting,
                    tables: replaced,
                }
            }
        }
        _ => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(sql: &str) -> (Kind, Vec<String>) {
        let c = classify(sql, "shop");
        (c.kind, c.tables)
    }

    #[test]
    fn destructive_statements() {
        assert_eq!(
            k("DROP TABLE `orders`,items /* generated by server */"),
            (
                Kind::DropTable,
                vec!["shop.orders".into(), "shop.items".into()]
            )
        );
        assert_eq!(
            k("drop table if exists `we``ird`.t"),
            (Kind::DropTable, vec!["we`ird.t".into()])
        );
        assert_eq!(k("DROP TEMPORARY TABLE t").0, Kind::Other);
        assert_eq!(
            k("DROP DATABASE IF EXISTS crm"),
            (Kind::DropDatabase, vec!["crm".into()])
        );
        assert_eq!(
            k("TRUNCATE payment"),
            (Kind::Truncate, vec!["shop.payment".into()])
        );
        assert_eq!(
            k("delete from payment"),
            (Kind::DeleteWithoutWhere, vec!["shop.payment".into()])
        );
        assert_eq!(k("DELETE FROM payment WHERE id = 1").0, Kind::Delete);
        assert_eq!(
            k("DELETE FROM payment -- WHERE id = 1\n").0,
            Kind::DeleteWithoutWhere,
            "a WHERE in a comment is no WHERE"
        );
        assert_eq!(k("DELETE FROM t WHERE note = 'no where'").0, Kind::Delete);
        assert_eq!(
            k("UPDATE LOW_PRIORITY customer SET active = 0"),
            (Kind::UpdateWithoutWhere, vec!["shop.customer".into()])
        );
        assert_eq!(
            k("update t set note = 'where' /* where */").0,
            Kind::UpdateWithoutWhere
        );
        assert_eq!(
            k("ALTER TABLE film DROP COLUMN rating, ADD INDEX (title)"),
            (Kind::DropColumn, vec!["shop.film".into()])
        );
        assert_eq!(k("ALTER TABLE film DROP rating").0, Kind::DropColumn);
        assert_eq!(
            k("ALTER TABLE film DROP INDEX i, DROP FOREIGN KEY f").0,
            Kind::Other
        );
        assert_eq!(
            k("RENAME TABLE a TO tmp, b TO a, tmp TO b"),
            (
                Kind::RenameOntoExisting,
                vec!["shop.a".into(), "shop.b".into()]
            )
        );
        assert_eq!(k("RENAME TABLE a TO a_old").0, Kind::Other);
        assert_eq!(k("/*!40000 ALTER TABLE t DISABLE KEYS */").0, Kind::Other);
        assert_eq!(k("/*!50001 DROP TABLE t*/").0, Kind::DropTable);
        assert_eq!(k("INSERT INTO t VALUES (1)").0, Kind::Other);
    }
}
