//! Quoting names and strings for SQL text lifeboat writes (statements it runs, files it
//! leaves for people and for `mysql`).

/// A name (database, table, column, index) in backticks, any backtick doubled: what both
/// servers read back as the same name whatever `sql_mode` says, ANSI_QUOTES included.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A name the server stored as bytes (a dictionary or `.frm` entry), read as UTF-8 with
/// invalid sequences replaced, then quoted like [`ident`].
pub fn ident_bytes(name: &[u8]) -> String {
    ident(&String::from_utf8_lossy(name))
}

/// A string literal in single quotes, quotes doubled and backslashes escaped: the server's
/// default `sql_mode` reads backslash as an escape. Text that holds no backslash reads the
/// same under `NO_BACKSLASH_ESCAPES` too.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled_and_backslashes_escaped() {
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(ident_bytes(b"t\xff"), "`t\u{fffd}`");
        assert_eq!(literal(r"it's a\b"), r"'it''s a\\b'");
    }
}
