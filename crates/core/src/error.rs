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
    /// Data that differs from what was recorded or planned: a restored table's row count or
    /// checksum, a backup that changed under a resume, a replay that ended elsewhere.
    #[error("{subject}: {problem}")]
    Mismatch {
        /// What differs: a table, a backup, a target.
        subject: String,
        /// How it differs.
        problem: String,
    },
    /// Something the command needs that a repository, a backup or an archive does not hold.
    #[error("{within} holds no {what}")]
    Missing {
        /// What was looked for.
        what: String,
        /// Where it was looked for.
        within: String,
        /// What to do.
        hint: Option<&'static str>,
    },
    /// The server is not set up for the action; nothing was changed.
    #[error("{server}: {problem}")]
    Unprepared {
        /// The server (its endpoint or identity).
        server: String,
        /// The setting in the way.
        problem: String,
        /// How to set it.
        hint: String,
    },
    /// The replay of binlog events into a target stopped with an error.
    #[error(
        "the replay failed at {at}: {source}; the target holds every transaction up to {reached}"
    )]
    Replay {
        /// The event (file:offset) that failed.
        at: String,
        /// The last position the target holds whole.
        reached: String,
        /// Why.
        #[source]
        source: lifeboat_server::replica::ReplicaError,
    },
    /// The replication SQL thread of a target stopped with an error.
    #[error("the replay stopped with error {code} at {at}: {message}")]
    Applier {
        /// The event (file:offset) that failed.
        at: String,
        /// The server's error code.
        code: u64,
        /// The server's message.
        message: String,
    },
    /// A replay that ended at another point than the one planned.
    #[error("the replay ended at {reached}, not at the planned stop {stop}")]
    Stopped {
        /// Where it ended.
        reached: String,
        /// Where it should have.
        stop: String,
    },
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
    /// A binlog (a file, an archive's copy of one, or the server's stream of it) that cannot
    /// be used as it is.
    #[error("{file}{}: {problem}", offset.map(|o| format!(": offset {o}")).unwrap_or_default())]
    Binlog {
        /// The binlog file (or stream).
        file: String,
        /// Where in it, when known.
        offset: Option<u64>,
        /// What is wrong.
        problem: String,
    },
    /// A part of an event (its header, its status variables) cut short.
    #[error("{file}: offset {offset}: {part}: {source}")]
    Truncated {
        /// Binlog file.
        file: String,
        /// Offset of the event.
        offset: u64,
        /// The part, e.g. `event header`.
        part: &'static str,
        /// What was short.
        #[source]
        source: lifeboat_mysql_types::Short,
    },
    /// An InnoDB file or datadir that cannot be used as it is.
    #[error("{}{}: {problem}", path.display(), page.map(|p| format!(": page {p}")).unwrap_or_default())]
    Tablespace {
        /// The file (or datadir).
        path: std::path::PathBuf,
        /// The page, when one is at fault.
        page: Option<u64>,
        /// What is wrong.
        problem: String,
    },
    /// A page of an InnoDB file that does not decode.
    #[error("{}: page {page}: {source}", path.display())]
    Page {
        /// The file.
        path: std::path::PathBuf,
        /// The page.
        page: u64,
        /// What the format crate found wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No usable definition of a table the forensic commands need.
    #[error("{table}: {problem}{}", source.as_ref().map(|e| format!(" ({e})")).unwrap_or_default())]
    Definition {
        /// The table (`db.t`) or the file it was read from.
        table: String,
        /// What is missing or wrong.
        problem: String,
        /// The parse error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
        /// What to give instead.
        hint: Option<&'static str>,
    },
    /// Pages that were read but hold nothing the table's definition fits.
    #[error("{table}: {problem}")]
    NoRows {
        /// The table.
        table: String,
        /// Where was looked and why nothing fit.
        problem: String,
    },
    /// Loading a file of recovered rows into a server failed.
    #[error("loading {} into {table} failed{cleanup}: {source}", file.display())]
    LoadRecovered {
        /// The file of rows.
        file: std::path::PathBuf,
        /// The table (`db.t`).
        table: String,
        /// What became of the table the load created.
        cleanup: &'static str,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// A statement of a file of SQL that the server rejected or warned about.
    #[error("{}: the statement ending on line {line}: {problem}", file.display())]
    Statement {
        /// The file.
        file: std::path::PathBuf,
        /// The line its statement ends on.
        line: u64,
        /// The server's error or warnings.
        problem: String,
    },
    /// Compressing (and encrypting) a chunk of a table's rows failed.
    #[error("{table}: compressing a chunk failed: {source}")]
    Compress {
        /// The table.
        table: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A program lifeboat runs that ended with an error.
    #[error("{what}: {stderr}")]
    ProgramFailed {
        /// What lifeboat was doing.
        what: &'static str,
        /// What the program said.
        stderr: String,
    },
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
            Error::Timeout { hint, .. } | Error::Unprepared { hint, .. } => Some(hint.clone()),
            Error::Missing { hint, .. } | Error::Definition { hint, .. } => {
                hint.map(str::to_owned)
            }
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
