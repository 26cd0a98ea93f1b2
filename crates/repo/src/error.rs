//! Repository errors: each names the location or object it is about.

use crate::format::LockInfo;

/// Why a repository operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The location is an existing file, not a directory.
    #[error("repository location {0} is a file, not a directory")]
    NotADirectory(String),
    /// No repository config at the location.
    #[error("{0} is not a lifeboat repository (no config object)")]
    NotARepository(String),
    /// `init` on an existing repository.
    #[error("{0} already holds a lifeboat repository")]
    AlreadyExists(String),
    /// Written by a newer lifeboat.
    #[error("repository {location} has format {found}; this lifeboat reads up to {supported}")]
    FormatTooNew {
        /// The repository.
        location: String,
        /// Its format.
        found: u32,
        /// What this build reads.
        supported: u32,
    },
    /// A location lifeboat cannot use yet.
    #[error("unsupported repository location {0}")]
    Unsupported(String),
    /// The store failed.
    #[error("{op} {path}: {source}")]
    Storage {
        /// What was being done.
        op: &'static str,
        /// The object path.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// An object's bytes are not what the manifest says.
    #[error("object {object} is damaged: {reason}")]
    Corrupt {
        /// The object path.
        object: String,
        /// What was wrong.
        reason: String,
    },
    /// A manifest or config could not be parsed.
    #[error("{path} is damaged: {reason}")]
    BadMetadata {
        /// The object path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// No committed backup with that id.
    #[error("no committed backup {0} in this repository")]
    NoSuchBackup(String),
    /// The backup already has a manifest.
    #[error("backup {0} is already committed")]
    AlreadyCommitted(String),
    /// The repository is encrypted and the passphrase was not given.
    #[error("repository {0} is encrypted: a passphrase is needed to read it")]
    NeedPassphrase(String),
    /// The passphrase does not open the repository's key.
    #[error("wrong passphrase for repository {0}")]
    WrongPassphrase(String),
    /// Encryption or decryption failed.
    #[error("{object}: {reason}")]
    Crypto {
        /// The object.
        object: String,
        /// What failed.
        reason: String,
    },
    /// Another writer holds the repository.
    #[error("repository is locked by {}", describe(.0))]
    Locked(Vec<LockInfo>),
}

fn describe(locks: &[LockInfo]) -> String {
    locks
        .iter()
        .map(LockInfo::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Error::NotARepository(_) => "create one with `lifeboat repo init --repo LOCATION`",
            Error::Locked(_) => {
                "wait for that process; if it is gone (see 'stale'), `lifeboat repo unlock` removes the lock"
            }
            Error::NoSuchBackup(_) => "`lifeboat backups` lists the committed backups",
            Error::NeedPassphrase(_) => {
                "give it with --passphrase-file FILE, LIFEBOAT_PASSPHRASE, or at the prompt"
            }
            Error::WrongPassphrase(_) => {
                "check the passphrase; it was set by `lifeboat repo init --encrypt`"
            }
            Error::Corrupt { .. } => "`lifeboat verify --read-data` checks every object",
            _ => return None,
        })
    }
}
