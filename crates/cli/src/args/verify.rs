//! Verify: compare servers.

use clap::Args;

use super::HelpFlag;

/// `lifeboat diff`.
#[derive(Args)]
pub struct Diff {
    /// The reference: a server named in the config, or mysql://user@host:port, or
    /// mysql://user@localhost?socket=PATH (no password in a DSN: the usual sources).
    #[arg(long, value_name = "DSN")]
    pub source: String,
    /// The server compared with it (same forms).
    #[arg(long, value_name = "DSN")]
    pub target: String,
    /// Only these databases (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "DB,...")]
    pub databases: Vec<String>,
    /// Only these tables (db.table, comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "DB.TABLE,...")]
    pub tables: Vec<String>,
    /// Rows per checksummed chunk.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub chunk_rows: u64,
    /// Differing rows listed per table.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub max_rows: usize,
    /// Tables compared at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub threads: usize,
    #[command(flatten)]
    pub help: HelpFlag,
}
