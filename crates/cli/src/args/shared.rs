//! Argument groups several commands share, each defined once.

use std::path::PathBuf;

use clap::Args;
use lifeboat_core::forensic::recovered::Format;

/// `--repo`, shared by repository commands.
#[derive(Args)]
pub struct RepoArg {
    /// Repository location: a local directory, or s3://BUCKET/PREFIX (endpoint, region and
    /// credentials from the config or the usual AWS_* variables); else `repo` in the config.
    #[arg(long, value_name = "LOCATION", env = "LIFEBOAT_REPO")]
    pub repo: Option<String>,
    /// Encrypted repositories: file whose first line is the passphrase (else the
    /// LIFEBOAT_PASSPHRASE environment variable, else a prompt). Backups need none.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// Reading archived binlogs instead of local files.
#[derive(Args)]
pub struct ArchivedArgs {
    /// Read the files from this repository's binlog archive (`lifeboat binlogs` lists them).
    #[arg(long, value_name = "LOCATION")]
    pub repo: Option<String>,
    /// With --repo: the server whose archive to read (needed when it holds several).
    #[arg(
        long = "archived-server",
        id = "archived_server",
        value_name = "SERVER",
        requires = "repo"
    )]
    pub server: Option<String>,
    /// With --repo on an encrypted repository: file whose first line is the passphrase.
    #[arg(long, value_name = "FILE", requires = "repo")]
    pub passphrase_file: Option<PathBuf>,
}

/// A side instance lifeboat starts for the data (`--sandbox DIR`), and its server binary.
#[derive(clap::Args)]
pub struct SideArgs {
    /// Into a new side instance started in DIR (left running).
    #[arg(long, value_name = "DIR")]
    pub sandbox: Option<PathBuf>,
    /// The server binary of the servers this command starts [default: $LIFEBOAT_MYSQLD, else
    /// a mysqld or mariadbd of the data's flavor and major version from PATH, /usr/sbin or
    /// lifeboat's own installs; refused when none fits].
    #[arg(long, value_name = "PATH")]
    pub mysqld: Option<PathBuf>,
}

/// Whether recovered tables are loaded, and where.
#[derive(clap::Args)]
pub struct LoadTo {
    /// Then load the rows into the server the connection options name, as new tables (an
    /// existing table is refused, never added to). Asks for the server's identity, or
    /// takes --confirm-server ID when not interactive.
    #[arg(long, conflicts_with = "sandbox")]
    pub load: bool,
    #[command(flatten)]
    pub side: SideArgs,
    #[command(flatten)]
    pub confirm: ConfirmServer,
}

/// Where recovered rows go, and whether they are loaded (`undelete`, `undrop`, `salvage`).
#[derive(clap::Args)]
pub struct RecoveredOut {
    /// Directory for the recovered rows and the report.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// How the rows are written.
    #[arg(long, value_enum, default_value_t = Format::Sql)]
    pub format: Format,
    #[command(flatten)]
    pub to: LoadTo,
    /// The database --load / --sandbox put the table in (created if missing).
    #[arg(long, value_name = "DB", default_value = "recovered")]
    pub database: String,
}

/// A table's tablespace (`undelete`, `salvage`).
#[derive(clap::Args)]
pub struct TablespaceArgs {
    /// The table's tablespace (a copy is best).
    #[arg(long, value_name = "FILE")]
    pub ibd: PathBuf,
    /// The table's CREATE TABLE statement (`SHOW CREATE TABLE` output, or your own)
    /// [default: the .frm file beside the tablespace (MariaDB; MySQL 5.7 files are untested), else the
    /// definition a MySQL 8 file carries in its SDI].
    #[arg(long, value_name = "DDL_FILE")]
    pub schema: Option<PathBuf>,
    /// The table's clustered index, when lifeboat's choice is wrong (its report lists the
    /// index it read).
    #[arg(long, value_name = "ID")]
    pub index_id: Option<u64>,
    #[command(flatten)]
    pub backup: BackupSchema,
    /// The table, as db.name, for --schema-from-backup [default: from the file's path,
    /// DATADIR/db/name.ibd].
    #[arg(long, value_name = "DB.NAME")]
    pub table: Option<String>,
}

/// A table definition from a lifeboat backup.
#[derive(clap::Args)]
pub struct BackupSchema {
    /// Take the table's definition from a lifeboat backup in --repo: a backup id, or
    /// `latest` (the newest committed backup holding the table).
    #[arg(long, value_name = "ID|latest", conflicts_with = "schema")]
    pub schema_from_backup: Option<String>,
    #[command(flatten)]
    pub repo: RepoArg,
}

/// `--confirm-server`: how a command that writes to a server is told which one it may write to.
#[derive(Args)]
pub struct ConfirmServer {
    /// The identity `lifeboat check` prints of the server to write to; required when not
    /// run interactively (else the identity is asked for).
    #[arg(long, value_name = "ID")]
    pub confirm_server: Option<String>,
}

impl ConfirmServer {
    /// How the write to `action` gets the server's identity: this flag, else the terminal.
    pub fn policy(&self, action: &str) -> lifeboat_core::target::guard::Policy<'static> {
        use std::io::IsTerminal;
        let prompt: &'static dyn Fn(&str) -> Option<String> = &crate::context::confirm_on_terminal;
        lifeboat_core::target::guard::Policy {
            confirm_server: self.confirm_server.clone(),
            prompt: std::io::stdin().is_terminal().then_some(prompt),
            action: action.into(),
        }
    }
}
