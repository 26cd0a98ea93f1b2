//! What the repository stores, one versioned struct per stored kind.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The repository format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// `config`: the repository's identity and settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoConfig {
    /// Format version.
    pub format: u32,
    /// Random id of this repository.
    pub id: String,
    /// Creation time (RFC 3339).
    pub created: String,
    /// Compression of data objects (`zstd`).
    pub compression: String,
    /// Encryption, when the repository was created with `--encrypt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
}

/// How objects and manifests are encrypted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Encryption {
    /// `age-x25519`: objects and manifests are age files for one X25519 recipient.
    pub kind: String,
    /// The recipient (public key, `age1...`): all a backup host needs.
    pub recipient: String,
    /// Object holding the identity (secret key), itself an age file encrypted with the
    /// repository passphrase (scrypt).
    pub identity: String,
}

/// A backup id: `YYYYMMDDTHHMMSS.mmmZ-xxxx`, sortable by start time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BackupId(pub String);

impl BackupId {
    /// A new id from the current time and 16 random bits.
    pub fn new() -> Self {
        let now = jiff::Timestamp::now();
        // Milliseconds: two backups in one second still sort in start order.
        let stamp = now.strftime("%Y%m%dT%H%M%S%.3fZ").to_string();
        let nanos = now.subsec_nanosecond().unsigned_abs();
        let salt = (nanos ^ std::process::id().rotate_left(16)) & 0xffff;
        Self(format!("{stamp}-{salt:04x}"))
    }

    /// Whether `text` has the shape of a backup id (used before building object paths).
    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && !text.contains("..");
        ok.then(|| Self(text.to_owned()))
    }
}

impl Default for BackupId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One stored data object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Path in the repository.
    pub path: String,
    /// SHA-256 of the stored bytes (hex).
    pub sha256: String,
    /// Stored size in bytes.
    pub size: u64,
    /// Size before compression.
    pub raw_size: u64,
}

/// `backups/<id>/manifest.json`: the commit point of a backup. Written last, once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub format: u32,
    /// Backup id.
    pub id: BackupId,
    /// What kind of backup the body describes (`logical`).
    pub kind: String,
    /// Start time (RFC 3339).
    pub started: String,
    /// End time (RFC 3339).
    pub finished: String,
    /// Every data object of the backup.
    pub objects: Vec<ObjectRef>,
    /// The writer's description (schemas, tables, server identity, binlog coordinates).
    pub body: serde_json::Value,
}

impl Manifest {
    /// Stored bytes of all objects.
    pub fn stored_bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }

    /// Uncompressed bytes of all objects.
    pub fn logical_bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.raw_size).sum()
    }

    /// The object with this path.
    pub fn object(&self, path: &str) -> Option<&ObjectRef> {
        self.objects.iter().find(|o| o.path == path)
    }
}

/// `locks/<name>.json`: a writer at work.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockInfo {
    /// Host the writer runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// When it started (RFC 3339).
    pub started: String,
    /// The command, e.g. `backup`.
    pub command: String,
    /// What the lock guards: absent for the repository-wide writer lock (backup, prune),
    /// `archive:<server>` for the archiver of one server's binlogs. Locks conflict only
    /// with locks of the same scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Set when read: the writer runs on this host and its process is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// Object path of the lock.
    #[serde(default, skip_serializing)]
    pub path: String,
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`{} on {} pid {} since {}{}",
            self.command,
            self.scope
                .as_deref()
                .map_or(String::new(), |s| format!(" ({s})")),
            self.host,
            self.pid,
            self.started,
            if self.stale {
                " (stale: that process is gone)"
            } else {
                ""
            }
        )
    }
}
