//! The runbook's error: what went wrong, where, and what to do next.

use lifeboat_server::{ConnectError, SandboxError};

use crate::config::ConfigError;
use crate::target::TargetError;
use crate::target::guard::Refusal;
use crate::target::journal::JournalError;

/// Any failure of a lifeboat command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Resolving the target.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Connecting.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Describing the server.
    #[error(transparent)]
    Info(#[from] lifeboat_server::info::InfoError),
    /// Refused for safety: nothing was changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The audit journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Side instances.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The backup repository.
    #[error(transparent)]
    Repo(#[from] lifeboat_repo::Error),
    /// A restore or backup found data that does not match what was recorded.
    #[error("{0}")]
    Mismatch(String),
    /// A statement failed.
    #[error("{what}: {source}")]
    Sql {
        /// What lifeboat was doing.
        what: String,
        /// The server's or driver's error.
        #[source]
        source: mysql_async::Error,
    },
    /// A statement on one of lifeboat's own protocol connections failed (bulk readers).
    #[error("{what}: {source}")]
    Query {
        /// What lifeboat was doing.
        what: String,
        /// The server's or the connection's error.
        #[source]
        source: lifeboat_server::replica::ReplicaError,
    },
    /// A task of lifeboat's own ended abnormally (a panic or a cancellation): a bug.
    #[error("internal error: a task of lifeboat's own failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A GTID set a server reported that does not parse.
    #[error("{what}: {source}")]
    Gtid {
        /// Where it came from.
        what: &'static str,
        /// Why it does not parse.
        #[source]
        source: lifeboat_binlog::GtidError,
    },
    /// A program lifeboat runs (the mysql client the demo loads Sakila with).
    #[error("{what}: {source}")]
    Program {
        /// What lifeboat was doing.
        what: &'static str,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A worker of lifeboat's own failed (a panic or a lost task): a bug, not bad input.
    #[error("internal error: {0}")]
    Internal(String),
    /// A file lifeboat reads or writes: a binlog, a tablespace, a file it writes.
    #[error("{}: {source}", path.display())]
    File {
        /// The file (or directory).
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A file whose contents lifeboat cannot read (a `.frm`, an SDI, a dictionary, a page).
    #[error("{}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: std::path::PathBuf,
        /// What the format crate found wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Writing to standard output.
    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),
    /// A binlog file that cannot be read on (its message names the file and offset).
    #[error(transparent)]
    BinlogFile(#[from] lifeboat_binlog::file::Error),
    /// An event whose data does not decode.
    #[error("{file}: offset {offset}: {source}")]
    Event {
        /// Binlog file.
        file: String,
        /// Offset of the event.
        offset: u64,
        /// What was wrong.
        #[source]
        source: lifeboat_binlog::DecodeError,
    },
    /// An event lifeboat writes (a relay log's own events) that cannot be encoded.
    #[error("encoding an event: {0}")]
    Encode(#[from] lifeboat_binlog::EncodeError),
    /// Binlogs that cannot be used as they are (the message names file and offset).
    #[error("{0}")]
    Binlog(String),
    /// An InnoDB file that cannot be read (the message names the file).
    #[error("{0}")]
    Forensic(String),
    /// SIGINT or SIGTERM: the command stopped where it was safe to (locks released; what it
    /// wrote is resumable).
    #[error("interrupted ({signal})")]
    Interrupted {
        /// SIGINT or SIGTERM.
        signal: &'static str,
        /// How to go on from where it stopped.
        resume: &'static str,
    },
    /// A flag's value that cannot be used (exit code 2, as any usage error).
    #[error("{flag} {value}: {reason}")]
    Argument {
        /// The flag, e.g. `--until`.
        flag: &'static str,
        /// What was given.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A bounded wait ran out.
    #[error("{what}: gave up after {secs} s")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        secs: u64,
        /// What to do.
        hint: String,
    },
}

impl Error {
    /// Whether the command refused to act for safety (exit code 3).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Error::Refused(_))
    }

    /// The outcome the journal records for an action that ended in this error.
    pub fn outcome(&self) -> &'static str {
        match self {
            Error::Interrupted { .. } => "interrupted",
            Error::Refused(_) => "refused",
            _ => "failed",
        }
    }

    /// Whether this is a write to a reader that went away (`| head`): not a failure.
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// Whether the command line was wrong (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Argument { .. })
    }

    /// A next step for the user, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Target(e) => e.hint(),
            Error::Connect(e) => e.hint(),
            Error::Refused(e) => e.hint(),
            Error::Sandbox(e) => e.hint().map(str::to_owned),
            Error::Repo(e) => e.hint().map(str::to_owned),
            Error::Timeout { hint, .. } => Some(hint.clone()),
            Error::Interrupted { resume, .. } => Some((*resume).into()),
            Error::Internal(_) | Error::Task(_) => {
                Some("nothing was committed; rerun the command".into())
            }
            // 1148 (MySQL), 3948 (MySQL 8), 4166 (MariaDB): LOAD DATA LOCAL is disabled.
            Error::Sql {
                source: mysql_async::Error::Server(s),
                ..
            } if matches!(s.code, 1148 | 3948 | 4166) => Some(
                "the target refuses LOAD DATA LOCAL: SET GLOBAL local_infile = 1 on it for the restore (a sandbox has it on)"
                    .into(),
            ),
            Error::Sql {
                source: mysql_async::Error::Server(s),
                ..
            } if s.code == 1227 => Some(
                "the account lacks a privilege; `lifeboat check` lists what each command needs"
                    .into(),
            ),
            _ => None,
        }
    }

    /// The error of a command stopped by `signal`, which `resume` tells how to finish.
    pub(crate) fn interrupted(signal: &'static str, resume: &'static str) -> Error {
        Error::Interrupted { signal, resume }
    }

    /// An I/O failure on `path`.
    pub fn in_file(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::File {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Contents of `path` that do not parse.
    pub fn unreadable(
        path: &std::path::Path,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Unreadable {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    }

    pub(crate) fn event(
        file: &str,
        offset: u64,
    ) -> impl FnOnce(lifeboat_binlog::DecodeError) -> Error {
        let file = file.to_owned();
        move |source| Error::Event {
            file,
            offset,
            source,
        }
    }

    /// A row image of a rows event that does not decode (`reason`).
    pub(crate) fn rows(file: &str, offset: u64) -> impl FnOnce(String) -> Error {
        let file = file.to_owned();
        move |reason| Error::Event {
            file,
            offset,
            source: lifeboat_binlog::DecodeError {
                event: "rows",
                reason,
            },
        }
    }

    pub(crate) fn sql(what: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> Error {
        let what = what.into();
        move |source| Error::Sql { what, source }
    }

    pub(crate) fn query(
        what: impl Into<String>,
    ) -> impl FnOnce(lifeboat_server::replica::ReplicaError) -> Error {
        let what = what.into();
        move |source| Error::Query { what, source }
    }
}
