//! Recover: restore, to a backup or a point in time; flashback.

use std::path::PathBuf;

use clap::Args;
use lifeboat_core::target::ConnArgs;

use super::HelpFlag;
use super::shared::{ArchivedArgs, ConfirmServer, RepoArg, SideArgs};

/// `lifeboat restore`.
#[derive(Args)]
pub struct Restore {
    /// Backup id (`lifeboat backups` lists them); chosen for you with a point in time.
    #[arg(required_unless_present_any = ["until", "until_gtid", "until_position", "before_incident"])]
    pub id: Option<String>,
    /// Recover to just before this time: RFC 3339, or `YYYY-MM-DD HH:MM[:SS[.ffffff]]` in
    /// --time-zone. Transactions that committed before it are applied. MariaDB stamps
    /// events to the second: a transaction stamped 14:29:59 counts as 14:29:59.000000.
    #[arg(long, value_name = "TIME", conflicts_with_all = ["id", "until_gtid", "until_position", "before_incident"])]
    pub until: Option<String>,
    /// Recover up to and including the transaction with this GTID.
    #[arg(long, value_name = "GTID", conflicts_with_all = ["id", "until_position", "before_incident"])]
    pub until_gtid: Option<String>,
    /// Recover the transactions that end at or before FILE:POS.
    #[arg(long, value_name = "FILE:POS", conflicts_with_all = ["id", "before_incident"])]
    pub until_position: Option<String>,
    /// Recover to just before the transaction of this incident (`lifeboat incidents`).
    #[arg(long, value_name = "ID", conflicts_with = "id")]
    pub before_incident: Option<String>,
    /// Time zone of --until without an offset (default: this machine's).
    #[arg(long, value_name = "TZ")]
    pub time_zone: Option<String>,
    /// The server whose backups and archive to use, when the repository holds several.
    #[arg(long = "archived-server", value_name = "SERVER")]
    pub archived_server: Option<String>,
    /// With a point in time: print the plan (backup, binlog range, stop point and the
    /// transactions either side of it, bytes to replay) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub repo: RepoArg,
    #[command(flatten)]
    pub side: SideArgs,
    #[command(flatten)]
    pub opts: lifeboat_core::recover::restore::RestoreOptions,
    #[command(flatten)]
    pub confirm: ConfirmServer,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}

/// `lifeboat flashback`.
#[derive(Args)]
pub struct Flashback {
    /// Binlog files, in any order (none with --repo: the archive's files).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub archived: ArchivedArgs,
    /// Undo the transaction of this incident (`lifeboat incidents` lists the ids).
    #[arg(long, value_name = "ID", required_unless_present = "from", conflicts_with_all = ["from", "to"])]
    pub incident: Option<String>,
    /// Undo every transaction from this point on: a time (RFC 3339, or `YYYY-MM-DD
    /// HH:MM[:SS]` in --time-zone: transactions that started at or after it), a GTID
    /// (inclusive) or FILE:POS (transactions starting at or after it).
    #[arg(long, value_name = "POINT")]
    pub from: Option<String>,
    /// ... up to this point (inclusive; FILE:POS: transactions ending at or before it).
    /// Default: the end of the binlogs.
    #[arg(long, value_name = "POINT", requires = "from")]
    pub to: Option<String>,
    /// Time zone of times without an offset (default: this machine's).
    #[arg(long, value_name = "TZ")]
    pub time_zone: Option<String>,
    /// Only these tables (`db.table`, comma-separated or repeated); default: every table
    /// the range changes.
    #[arg(long, value_name = "DB.TABLE", value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Write the undo as an SQL script to review and run by hand (checks included: it
    /// stops where production no longer holds what the incident left). Column names come
    /// from the server the connection options name when any is given (nothing is written
    /// to it), else from the binlog's metadata (binlog_row_metadata=FULL).
    #[arg(
        long,
        value_name = "FILE.sql",
        required_unless_present = "apply",
        conflicts_with = "apply"
    )]
    pub out: Option<PathBuf>,
    /// Undo in the server the connection options name (production): guarded and journaled,
    /// one transaction per source transaction, each row only where production still holds
    /// what the incident left (the rest are conflicts: reported, never overwritten). Exit 1
    /// when there were conflicts. A rerun skips what an earlier run undid
    /// (lifeboat_flashback.undone on the server).
    #[arg(long)]
    pub apply: bool,
    /// With --apply: check every row and print the plan (rows per kind, conflicts found);
    /// change nothing.
    #[arg(long, requires = "apply")]
    pub dry_run: bool,
    #[command(flatten)]
    pub confirm: ConfirmServer,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}

/// How recovered rows come back into production.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The recovered table appears beside the live one (`DB.T__recovered_<time>`); nothing
    /// live is touched; the difference in rows is printed.
    SideBySide,
    /// The recovered table takes the live one's place in one RENAME TABLE (the live one, if
    /// any, kept as `DB.T__before_recover_<time>`): for a dropped or truncated table, or a
    /// live copy that is worthless. Its foreign keys and triggers end as they were, its
    /// auto-increment counter past every id it had. Refused when other tables' foreign keys
    /// point at the live table.
    Replace,
    /// Three-way, per row and column (needs --before-incident): a row the incident deleted
    /// goes back when its key is free; a row it changed gets back the columns it changed,
    /// when none of them changed since (a later write to other columns is kept); anything
    /// else is a conflict, reported and left as production has it. Rows inserted since are
    /// kept.
    Merge,
}

/// `lifeboat recover`.
#[derive(Args)]
pub struct Recover {
    /// Binlog files, in any order, for --mode merge (none with --repo: the archive's files).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub archived: ArchivedArgs,
    /// The incident whose changes to take back (`lifeboat incidents` lists the ids).
    #[arg(long, value_name = "ID", required_unless_present_any = ["until", "until_gtid", "until_position"])]
    pub before_incident: Option<String>,
    /// Recover to just before this time (side-by-side, replace): RFC 3339, or `YYYY-MM-DD
    /// HH:MM[:SS]` in --time-zone.
    #[arg(long, value_name = "TIME", conflicts_with_all = ["before_incident", "until_gtid", "until_position"])]
    pub until: Option<String>,
    /// Recover up to and including the transaction with this GTID (side-by-side, replace).
    #[arg(long, value_name = "GTID", conflicts_with_all = ["before_incident", "until_position"])]
    pub until_gtid: Option<String>,
    /// Recover the transactions that end at or before FILE:POS (side-by-side, replace).
    #[arg(long, value_name = "FILE:POS", conflicts_with = "before_incident")]
    pub until_position: Option<String>,
    /// Time zone of --until without an offset (default: this machine's).
    #[arg(long, value_name = "TZ")]
    pub time_zone: Option<String>,
    /// The tables to recover (`db.table`, comma-separated or repeated).
    #[arg(long, value_name = "DB.TABLE", value_delimiter = ',', required = true)]
    pub tables: Vec<String>,
    /// How the rows come back.
    #[arg(long, value_enum, default_value_t = Mode::SideBySide)]
    pub mode: Mode,
    /// Side-by-side, replace: the server binary of the side instance the tables are rebuilt
    /// in (default: one of the backup's flavor and version).
    #[arg(long, value_name = "PATH")]
    pub mysqld: Option<PathBuf>,
    /// Hold writes on the server (read-only) while the rows go in; thawed after, whatever
    /// happened.
    #[arg(long)]
    pub freeze: bool,
    /// Print the plan (merge: rows per kind and conflicts; side-by-side, replace: the backup
    /// and the transactions to replay); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub confirm: ConfirmServer,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}
