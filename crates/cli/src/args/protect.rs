//! Protect: the repository, backups, binlog archiving, retention.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use lifeboat_core::target::ConnArgs;

use super::HelpFlag;
use super::shared::RepoArg;

#[derive(Subcommand)]
pub enum RepoCommand {
    /// Create a repository (the directory is created; an existing repository is refused).
    Init {
        #[command(flatten)]
        repo: RepoArg,
        /// Encrypt objects and manifests with age: the repository keeps only the public key in
        /// clear; the secret key is stored encrypted with the passphrase (asked twice, or from
        /// --passphrase-file / LIFEBOAT_PASSPHRASE). Losing the passphrase loses the backups.
        #[arg(long)]
        encrypt: bool,
    },
    /// Remove the repository's writer locks. Use only when the process holding them is gone.
    Unlock {
        #[command(flatten)]
        repo: RepoArg,
    },
}

/// `lifeboat backup`.
#[derive(Args)]
pub struct Backup {
    #[command(flatten)]
    pub repo: RepoArg,
    #[command(flatten)]
    pub opts: lifeboat_core::protect::backup::BackupOptions,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}

/// `lifeboat archive`.
#[derive(Args)]
pub struct Archive {
    #[command(flatten)]
    pub repo: RepoArg,
    /// Archive what the server has now, then exit.
    #[arg(long, conflicts_with = "follow")]
    pub once: bool,
    /// Keep following the server (the default).
    #[arg(long)]
    pub follow: bool,
    /// Longest time a received event waits before it is durable, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub flush_interval: f64,
    /// server_id the archiver registers with [default: derived from server and repository].
    #[arg(long, value_name = "N")]
    pub replica_server_id: Option<u32>,
    /// Import the closed binlog files of a directory (a datadir or a copy) instead.
    #[arg(long, value_name = "DIR")]
    pub from_dir: Option<PathBuf>,
    /// With --from-dir: the server identity the files belong to (as `lifeboat check` prints).
    #[arg(long = "as", value_name = "IDENTITY", requires = "from_dir")]
    pub as_server: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}

/// `lifeboat binlogs`.
#[derive(Args)]
pub struct Binlogs {
    #[command(flatten)]
    pub repo: RepoArg,
}

/// `lifeboat backups`.
#[derive(Args)]
pub struct Backups {
    #[command(flatten)]
    pub repo: RepoArg,
}

/// `lifeboat verify`.
#[derive(Args)]
pub struct Verify {
    #[command(flatten)]
    pub repo: RepoArg,
    /// Backup id [default: all committed backups].
    #[arg(conflicts_with = "all")]
    pub id: Option<String>,
    /// Every committed backup (the default without an ID; for scripts that say so).
    #[arg(long)]
    pub all: bool,
    /// Read and check every object's content.
    #[arg(long)]
    pub read_data: bool,
}

/// `lifeboat prune`.
#[derive(Args)]
pub struct Prune {
    #[command(flatten)]
    pub repo: RepoArg,
    #[command(flatten)]
    pub opts: lifeboat_core::protect::prune::PruneOptions,
}
