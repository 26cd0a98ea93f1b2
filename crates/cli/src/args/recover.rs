//! Recover: restore, to a backup or a point in time.

use clap::Args;
use lifeboat_core::target::ConnArgs;

use super::HelpFlag;
use super::shared::{ConfirmServer, RepoArg, SideArgs};

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
