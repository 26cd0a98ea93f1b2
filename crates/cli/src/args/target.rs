//! Side instances and the audit journal.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum SandboxCommand {
    /// Start a side instance: initialize a datadir (first time), start the server bound to
    /// 127.0.0.1 and a socket, wait until it accepts connections, and print how to connect.
    /// Restarts a stopped sandbox from its directory, data intact.
    Start {
        /// Sandbox directory [default: ~/.local/state/lifeboat/sandboxes/sandbox-N].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// TCP port on 127.0.0.1 [default: a free one].
        #[arg(long)]
        port: Option<u16>,
        /// Server binary [default: mariadbd or mysqld on PATH, then /usr/sbin].
        #[arg(long, value_name = "PATH")]
        mysqld: Option<PathBuf>,
        /// Turn on the binary log (ROW, FULL images, full metadata).
        #[arg(long)]
        binlog: bool,
        /// server_id [default: the port].
        #[arg(long, value_name = "N")]
        server_id: Option<u32>,
        /// Extra server setting for [mysqld], e.g. --set innodb_buffer_pool_size=1G (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        settings: Vec<String>,
    },
    /// Cleanly shut down a sandbox (data kept unless --remove).
    Stop {
        /// Sandbox directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Also delete the sandbox directory and its data.
        #[arg(long)]
        remove: bool,
    },
    /// List the sandboxes lifeboat started and whether they still run.
    List,
}

/// `lifeboat journal`.
#[derive(Args)]
pub struct Journal {
    /// Show only the last N entries.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}
