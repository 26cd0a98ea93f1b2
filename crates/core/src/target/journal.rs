//! The audit journal: one JSON line per action that changed a server.
//!
//! Appends are single `write` calls on a file opened with `O_APPEND`, so concurrent lifeboat
//! processes never interleave lines. The file is opened *before* the action runs, so an
//! action is never taken when it could not be journaled.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One journaled action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// When it finished (UTC, RFC 3339).
    pub time: String,
    /// OS user that ran it.
    pub os_user: String,
    /// Host lifeboat ran on.
    pub host: String,
    /// Identity of the server acted on.
    pub server: String,
    /// Where it was reached (socket or host:port).
    pub endpoint: String,
    /// The command, e.g. `freeze`.
    pub command: String,
    /// Command-line arguments (there are no secrets on lifeboat's command line).
    pub args: Vec<String>,
    /// `ok`, `failed` or `refused`.
    pub outcome: String,
    /// One line of detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Opening or writing failed.
    #[error("audit journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a journal entry.
    #[error("audit journal {path}, line {line}: {reason}")]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What was wrong.
        reason: String,
    },
}

/// An open journal, ready to append.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

/// The OS user running lifeboat.
pub fn os_user() -> String {
    // The real uid's name from /etc/passwd: $USER can be unset (cron, CI) or stale (sudo).
    let uid = rustix::process::getuid().as_raw();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
        })
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// This machine's host name.
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Now, as RFC 3339 UTC with microseconds.
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Microsecond)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

impl Journal {
    /// Opens (creating with mode 600, and its directory) the journal for appending.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends one entry as one line.
    pub fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| JournalError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Reads every entry, oldest first. A missing journal is empty.
    pub fn read(path: &Path) -> Result<Vec<Entry>, JournalError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(JournalError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|source| JournalError::Io {
                path: path.to_owned(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let entry = serde_json::from_str(&line).map_err(|e| JournalError::Corrupt {
                path: path.to_owned(),
                line: i + 1,
                reason: e.to_string(),
            })?;
            out.push(entry);
        }
        Ok(out)
    }
}

/// The journal and the command line being journaled.
pub struct Audit {
    /// The open journal.
    pub journal: Journal,
    /// The command line (lifeboat takes no secrets on it).
    pub args: Vec<String>,
}

impl Audit {
    /// Appends one entry for `command` on `server`.
    pub fn record(
        &mut self,
        command: &str,
        server: &str,
        endpoint: &str,
        outcome: &str,
        detail: Option<String>,
    ) -> Result<(), JournalError> {
        self.journal.append(&Entry {
            time: now(),
            os_user: os_user(),
            host: host_name(),
            server: server.to_owned(),
            endpoint: endpoint.to_owned(),
            command: command.to_owned(),
            args: self.args.clone(),
            outcome: outcome.to_owned(),
            detail,
        })
    }

    /// Journals `refusal` of `command` on `server` and returns it as the command's error.
    pub fn refuse(
        &mut self,
        command: &str,
        server: &str,
        endpoint: &str,
        refusal: crate::target::guard::Refusal,
    ) -> crate::error::Error {
        match self.record(
            command,
            server,
            endpoint,
            "refused",
            Some(refusal.to_string()),
        ) {
            Ok(()) => refusal.into(),
            Err(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/journal.jsonl");
        let mut j = Journal::open(&p).unwrap();
        let e = Entry {
            time: now(),
            os_user: os_user(),
            host: host_name(),
            server: "db1:3306".into(),
            endpoint: "db1:3306".into(),
            command: "freeze".into(),
            args: vec!["--reason".into(), "drop table".into()],
            outcome: "ok".into(),
            detail: None,
        };
        j.append(&e).unwrap();
        j.append(&e).unwrap();
        let back = Journal::read(&p).unwrap();
        assert_eq!(back, vec![e.clone(), e]);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&p, "{not json}\n").unwrap();
        let err = Journal::read(&p).unwrap_err();
        assert!(err.to_string().contains("line 1"));
    }
}
