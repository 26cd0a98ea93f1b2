//! my.cnf-style option files, read the way the mysql and mariadb clients read them.
//!
//! Rules (MySQL reference manual "Using Option Files"; MariaDB KB "Configuring MariaDB with
//! Option Files"; behaviour of mysys `my_default.c`):
//! - `[group]` starts a group; group names compare case-insensitively.
//! - `name`, `name=value`; spaces around `=` and at both ends are dropped; a bare name is a
//!   boolean (or, for `password`, "ask for it").
//! - Lines starting with `#` or `;` are comments; `#` also ends a value, outside quotes.
//! - A value wrapped in matching `'` or `"` loses the quotes; escapes `\b \t \n \r \\ \s \" \'`
//!   are decoded, any other backslash is kept as written.
//! - `-` and `_` in names are the same; a `loose-` prefix is dropped.
//! - `!include FILE` and `!includedir DIR` (files ending in `.cnf`, in name order).
//! - Later settings win over earlier ones.
//!
//! [`parse`] is pure; [`OptionFiles`] adds the file system: includes, missing default files,
//! and the permission rules (a world-writable file is ignored as the clients do; a file that
//! holds a password and is readable by others gets a warning).

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One meaningful line of an option file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `[name]`, lower-cased.
    Group(String),
    /// `name[=value]`, name normalized (lower case, `_` for `-`, no `loose_` prefix).
    Setting {
        /// Normalized option name.
        name: String,
        /// Decoded value; `None` for a bare name.
        value: Option<String>,
    },
    /// `!include PATH`.
    Include(PathBuf),
    /// `!includedir PATH`.
    IncludeDir(PathBuf),
}

/// A syntax error in an option file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct SyntaxError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

/// Normalizes an option name: lower case, `_` for `-`, `loose_` prefix removed.
pub fn normalize_name(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase().replace('-', "_");
    match n.strip_prefix("loose_") {
        Some(rest) => rest.to_owned(),
        None => n,
    }
}

/// Cuts a `#` comment that is not inside quotes.
fn strip_end_comment(value: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '\'' | '"' if quote == Some(c) => quote = None,
            '\'' | '"' if quote.is_none() => quote = Some(c),
            '#' if quote.is_none() => return value.get(..i).unwrap_or(value),
            _ => {}
        }
    }
    value
}

/// Decodes a raw value: surrounding quotes, then escapes.
pub fn decode_value(raw: &str) -> String {
    let raw = raw.trim();
    let mut chars = raw.chars();
    let unquoted = match (chars.next(), chars.next_back()) {
        (Some(a), Some(b)) if a == b && (a == '\'' || a == '"') => chars.as_str(),
        _ => raw,
    };
    let mut out = String::with_capacity(unquoted.len());
    let mut it = unquoted.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('s') => out.push(' '),
            Some(e @ ('\\' | '"' | '\'')) => out.push(e),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Parses the text of one option file into its meaningful lines.
pub fn parse(text: &str) -> Result<Vec<Line>, SyntaxError> {
    let mut out = Vec::new();
    let mut in_group = false;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let syntax = |reason: String| SyntaxError {
            line: line_no,
            reason,
        };
        if let Some(rest) = line.strip_prefix('!') {
            let (directive, arg) = rest
                .split_once(char::is_whitespace)
                .map_or((rest, ""), |(d, a)| (d, a.trim()));
            if arg.is_empty() {
                return Err(syntax(format!("!{directive} needs a path")));
            }
            match directive {
                "include" => out.push(Line::Include(PathBuf::from(arg))),
                "includedir" => out.push(Line::IncludeDir(PathBuf::from(arg))),
                _ => return Err(syntax(format!("unknown directive !{directive}"))),
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let rest = strip_end_comment(rest).trim_end();
            let Some(name) = rest.strip_suffix(']') else {
                return Err(syntax(format!("group header {line:?} has no closing ]")));
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(syntax("empty group name".to_owned()));
            }
            out.push(Line::Group(name.to_ascii_lowercase()));
            in_group = true;
            continue;
        }
        if !in_group {
            return Err(syntax("option before the first [group]".to_owned()));
        }
        let (name, value) = match line.split_once('=') {
            Some((n, v)) => (n, Some(decode_value(strip_end_comment(v)))),
            None => (strip_end_comment(line), None),
        };
        let name = normalize_name(name);
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(syntax(format!("{:?} is not an option name", name)));
        }
        out.push(Line::Setting { name, value });
    }
    Ok(out)
}

/// Where a setting came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The option file.
    pub file: PathBuf,
    /// The group it was in.
    pub group: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.file.display(), self.group)
    }
}

/// A problem reading option files that stops the command.
#[derive(Debug, thiserror::Error)]
pub enum OptionFileError {
    /// A file named explicitly (`--defaults-file`, `--defaults-extra-file`) could not be read.
    #[error("cannot read option file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A syntax error.
    #[error("option file {path}, {source}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where and what.
        #[source]
        source: SyntaxError,
    },
    /// `!include` nesting too deep (probably a loop).
    #[error("option file {path}: !include nested more than {depth} deep (a loop?)")]
    IncludeDepth {
        /// The file that would have been included.
        path: PathBuf,
        /// The limit.
        depth: usize,
    },
}

/// How deep `!include` may nest; the clients use 10 too.
const MAX_INCLUDE_DEPTH: usize = 10;

/// Settings read from a sequence of option files, in read order.
#[derive(Debug, Default, Clone)]
pub struct OptionFiles {
    entries: Vec<(Origin, String, Option<String>)>,
    /// Things worth telling the user that do not stop the command.
    pub warnings: Vec<String>,
    /// Files that were read, in order.
    pub files_read: Vec<PathBuf>,
}

impl OptionFiles {
    /// The default search order of the Unix clients (MariaDB and MySQL alike).
    pub fn default_paths(home: Option<&Path>) -> Vec<PathBuf> {
        let mut v = vec![
            PathBuf::from("/etc/my.cnf"),
            PathBuf::from("/etc/mysql/my.cnf"),
        ];
        if let Ok(mysql_home) = std::env::var("MYSQL_HOME") {
            v.push(Path::new(&mysql_home).join("my.cnf"));
        }
        if let Some(h) = home {
            v.push(h.join(".my.cnf"));
        }
        v
    }

    /// Reads `path`; `required` files must exist (named on the command line), others are
    /// skipped when missing (default locations).
    pub fn read_file(&mut self, path: &Path, required: bool) -> Result<(), OptionFileError> {
        self.read_at_depth(path, required, 0)
    }

    fn read_at_depth(
        &mut self,
        path: &Path,
        required: bool,
        depth: usize,
    ) -> Result<(), OptionFileError> {
        if depth > MAX_INCLUDE_DEPTH {
            return Err(OptionFileError::IncludeDepth {
                path: path.to_owned(),
                depth: MAX_INCLUDE_DEPTH,
            });
        }
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(OptionFileError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let mode = meta.permissions().mode();
        if mode & 0o002 != 0 {
            // The clients ignore world-writable option files: anyone could inject options.
            self.warnings.push(format!(
                "ignoring world-writable option file {} (as the mysql client does); chmod o-w it",
                path.display()
            ));
            return Ok(());
        }
        let text = std::fs::read_to_string(path).map_err(|source| OptionFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let lines = parse(&text).map_err(|source| OptionFileError::Syntax {
            path: path.to_owned(),
            source,
        })?;
        self.files_read.push(path.to_owned());
        let mut group = String::new();
        let mut has_password = false;
        for line in lines {
            match line {
                Line::Group(g) => group = g,
                Line::Setting { name, value } => {
                    has_password |= name == "password";
                    let origin = Origin {
                        file: path.to_owned(),
                        group: group.clone(),
                    };
                    self.entries.push((origin, name, value));
                }
                Line::Include(p) => self.read_at_depth(&p, false, depth + 1)?,
                Line::IncludeDir(dir) => {
                    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
                        Ok(rd) => rd
                            .filter_map(Result::ok)
                            .map(|e| e.path())
                            .filter(|p| p.extension().is_some_and(|x| x == "cnf"))
                            .collect(),
                        Err(_) => Vec::new(),
                    };
                    files.sort();
                    for f in files {
                        self.read_at_depth(&f, false, depth + 1)?;
                    }
                }
            }
        }
        if has_password && mode & 0o044 != 0 {
            self.warnings.push(format!(
                "option file {} holds a password and is readable by group or others; chmod 600 it",
                path.display()
            ));
        }
        Ok(())
    }

    /// The effective settings for the given groups (compared case-insensitively): the last
    /// occurrence wins, whatever the group order.
    pub fn settings_for(&self, groups: &[String]) -> BTreeMap<String, (Option<String>, Origin)> {
        let wanted: Vec<String> = groups.iter().map(|g| g.to_ascii_lowercase()).collect();
        let mut out = BTreeMap::new();
        for (origin, name, value) in &self.entries {
            if wanted.contains(&origin.group) {
                out.insert(name.clone(), (value.clone(), origin.clone()));
            }
        }
        out
    }
}

/// The groups a client program reads: `[client]`, `[client-server]`, `[client-mariadb]`,
/// then its own, each also with the `--defaults-group-suffix`.
pub fn client_groups(program: &str, suffix: Option<&str>) -> Vec<String> {
    let base = ["client", "client-server", "client-mariadb", program];
    let mut groups: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
    if let Some(sfx) = suffix.filter(|s| !s.is_empty()) {
        groups.extend(base.iter().map(|g| format!("{g}{sfx}")));
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn settings(text: &str) -> Vec<(String, Option<String>)> {
        parse(text)
            .unwrap()
            .into_iter()
            .filter_map(|l| match l {
                Line::Setting { name, value } => Some((name, value)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn bare_keys_quotes_escapes_comments() {
        let text = r#"
# comment
; other comment
[Client]
user = backup   # trailing comment
password="pa#ss word"
host='db\s1'
socket=/run/my\qsock
skip-ssl
loose-ssl_mode = DISABLED
note=tab\there\\back\"q
"#;
        assert_eq!(
            settings(text),
            vec![
                ("user".into(), Some("backup".into())),
                ("password".into(), Some("pa#ss word".into())),
                ("host".into(), Some("db 1".into())),
                ("socket".into(), Some("/run/my\\qsock".into())),
                ("skip_ssl".into(), None),
                ("ssl_mode".into(), Some("DISABLED".into())),
                ("note".into(), Some("tab\there\\back\"q".into())),
            ]
        );
        assert_eq!(
            parse("[CLIENT]").unwrap(),
            vec![Line::Group("client".into())]
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = parse("user=x").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("before the first [group]"));
        let e = parse("[client]\n\n[broken\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(parse("[client]\n!include\n").is_err());
        assert!(parse("[client]\n!bogus x\n").is_err());
    }

    #[test]
    fn includes_last_wins_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("conf.d")).unwrap();
        std::fs::write(d.join("conf.d/b.cnf"), "[client]\nport=3307\n").unwrap();
        std::fs::write(d.join("conf.d/a.cnf"), "[client]\nport=3306\nuser=a\n").unwrap();
        std::fs::write(d.join("conf.d/ignored.txt"), "[client]\nport=1\n").unwrap();
        std::fs::write(d.join("extra.cnf"), "[lifeboat_prod]\nhost=prod-db\n").unwrap();
        let main = format!(
            "[client]\nhost=h0\n!includedir {0}/conf.d\n!include {0}/extra.cnf\n!include {0}/missing.cnf\n[mysqld]\nport=9\n[lifeboat]\nuser=lb\n",
            d.display()
        );
        std::fs::write(d.join("my.cnf"), main).unwrap();
        let mut files = OptionFiles::default();
        files.read_file(&d.join("my.cnf"), true).unwrap();
        let s = files.settings_for(&client_groups("lifeboat", Some("_prod")));
        let get = |k: &str| s.get(k).and_then(|v| v.0.clone());
        assert_eq!(get("port").as_deref(), Some("3307"));
        assert_eq!(get("user").as_deref(), Some("lb"));
        assert_eq!(get("host").as_deref(), Some("prod-db"));
        let s = files.settings_for(&client_groups("lifeboat", None));
        assert_eq!(
            s.get("host").and_then(|v| v.0.clone()).as_deref(),
            Some("h0")
        );
    }

    #[test]
    fn include_loop_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("loop.cnf");
        std::fs::write(&p, format!("[client]\n!include {}\n", p.display())).unwrap();
        let mut files = OptionFiles::default();
        assert!(matches!(
            files.read_file(&p, true),
            Err(OptionFileError::IncludeDepth { .. })
        ));
    }

    #[test]
    fn permissions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("open.cnf");
        std::fs::write(&p, "[client]\npassword=s3cret\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut files = OptionFiles::default();
        files.read_file(&p, true).unwrap();
        assert_eq!(files.warnings.len(), 1);
        assert!(!files.warnings[0].contains("s3cret"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let mut files = OptionFiles::default();
        files.read_file(&p, true).unwrap();
        assert!(files.settings_for(&["client".into()]).is_empty());
        assert!(files.warnings[0].contains("world-writable"));
        let mut files = OptionFiles::default();
        assert!(files.read_file(&dir.path().join("nope.cnf"), true).is_err());
        assert!(files.read_file(&dir.path().join("nope.cnf"), false).is_ok());
    }

    /// Characters that survive an encode/decode round trip through `key="..."`.
    fn encode(v: &str) -> String {
        let mut s = String::from("\"");
        for c in v.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                c => s.push(c),
            }
        }
        s.push('"');
        s
    }

    proptest! {
        #[test]
        fn quoted_values_round_trip(v in "[ -~\t\n\u{e9}\u{1F600}]{0,40}") {
            let text = format!("[client]\nkey={}\n", encode(&v));
            let got = settings(&text);
            prop_assert_eq!(got, vec![("key".to_string(), Some(v))]);
        }

        #[test]
        fn names_normalize(n in "(loose[-_])?[a-zA-Z][a-zA-Z0-9_-]{0,20}") {
            let got = settings(&format!("[client]\n{n} = 1\n"));
            let norm = normalize_name(&n);
            prop_assert!(!norm.contains('-'));
            prop_assert_eq!(got, vec![(norm, Some("1".to_string()))]);
        }

        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }
    }
}
