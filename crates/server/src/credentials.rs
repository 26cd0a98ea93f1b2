//! Passwords that cannot leak by accident.
//!
//! A [`Password`] never prints its value: `Debug` and `Display` show `***`. It can only be
//! built from the sources the issue allows (option file, password file, environment, prompt),
//! never from a command-line value.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A secret. Only [`Password::expose`] reveals it, for the wire protocol.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; call only where it goes to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a password file could not be used. Never contains the file's content.
#[derive(Debug, thiserror::Error)]
#[error("cannot read password file {path}: {source}")]
pub struct PasswordFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Reads a password file: the first line, without its line ending. Returns a warning when
/// the file is readable by group or others.
pub fn read_password_file(path: &Path) -> Result<(Password, Option<String>), PasswordFileError> {
    let wrap = |source| PasswordFileError {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(wrap)?;
    if meta.is_dir() {
        return Err(wrap(std::io::Error::other("it is a directory")));
    }
    let text = std::fs::read_to_string(path).map_err(wrap)?;
    let first = text.lines().next().unwrap_or_default();
    let warning = (meta.permissions().mode() & 0o044 != 0).then(|| {
        format!(
            "password file {} is readable by group or others; chmod 600 it",
            path.display()
        )
    });
    Ok((Password::new(first), warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_secret() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p} {p:?}"), "*** Password(***)");
        assert_eq!(p.expose(), "hunter2");
    }

    #[test]
    fn password_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\nignored\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (p, w) = read_password_file(&f).unwrap();
        assert_eq!(p.expose(), "s3cret");
        assert!(w.is_none());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_password_file(&f).unwrap().1.is_some());
        let e = read_password_file(&dir.path().join("missing")).unwrap_err();
        assert!(e.to_string().contains("missing"));
        assert!(read_password_file(dir.path()).is_err());
    }
}
