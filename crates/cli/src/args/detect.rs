//! Detect: readiness, incidents, binlogs read for people.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use lifeboat_core::target::ConnArgs;

use super::HelpFlag;
use super::shared::{ArchivedArgs, RepoArg};

#[derive(Subcommand)]
pub enum BinlogCommand {
    /// Print events like `mysqlbinlog -vv`, with row images decoded and column names where
    /// the binlog carries them (binlog_row_metadata=FULL). With --json: one event per line
    /// (file, start/end offset, time, GTID, server id, type, table, before/after images).
    /// A column absent from a MINIMAL image is absent, never null. A truncated last event
    /// (crashed or open file) ends the file cleanly, and the summary says where.
    Show {
        /// Binlog files, in order (with --repo: names of archived files).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        archived: ArchivedArgs,
        /// Events at or after this time: `2026-11-21 03:12:00` (in --time-zone) or RFC 3339.
        #[arg(long, value_name = "TIME")]
        start_datetime: Option<String>,
        /// Stop at the first event at or after this time.
        #[arg(long, value_name = "TIME")]
        stop_datetime: Option<String>,
        /// Time zone of --start/--stop-datetime without an offset [default: the system's].
        #[arg(long, value_name = "TZ")]
        time_zone: Option<String>,
        /// Skip events before this offset in the first file.
        #[arg(long, value_name = "OFFSET")]
        start_position: Option<u64>,
        /// Stop at the first event at or after this offset in the last file.
        #[arg(long, value_name = "OFFSET")]
        stop_position: Option<u64>,
        /// Only transactions in this GTID set (`0-1-100` or `uuid:1-5`).
        #[arg(long, value_name = "SET")]
        include_gtids: Option<String>,
        /// No transaction in this GTID set.
        #[arg(long, value_name = "SET")]
        exclude_gtids: Option<String>,
        /// Only row events (and table maps) of this database, as named in the TABLE_MAP, not
        /// the session's default database (repeatable).
        #[arg(long = "database", value_name = "DB")]
        databases: Vec<String>,
        /// Only row events (and table maps) of this table: `db.table` or `table` (repeatable).
        #[arg(long = "table", value_name = "TABLE")]
        tables: Vec<String>,
    },
    /// Check files: every CRC32, the framing, every event and row image decoded, and GTID
    /// continuity from one file to the next. One verdict line per file; exit 1 if any is bad.
    Verify {
        /// Binlog files, in order (with --repo: names of archived files).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        archived: ArchivedArgs,
    },
}

/// `lifeboat check`.
#[derive(Args)]
pub struct Check {
    #[command(flatten)]
    pub repo: RepoArg,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}

/// `lifeboat incidents`.
#[derive(Args)]
pub struct Incidents {
    /// Binlog files, in order (none with --repo: the whole archive).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub archived: ArchivedArgs,
    /// Only incidents at or after this time (RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` in
    /// --time-zone).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only incidents before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Time zone of --since/--until without an offset (default: this machine's).
    #[arg(long, value_name = "TZ")]
    pub time_zone: Option<String>,
    /// A DELETE or UPDATE is destructive from this many rows of one table.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub min_rows: u64,
    /// Also list this many transactions before and after each incident, and what the
    /// incident's own transaction did (statements, rows per table). 0: none.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub context: usize,
    #[command(flatten)]
    pub help: HelpFlag,
}
