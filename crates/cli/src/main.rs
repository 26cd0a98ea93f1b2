//! `lifeboat`: parse arguments, call one `lifeboat_core` function, render the outcome.
//!
//! Exit codes: 0 success; 1 failure (or `check` found a FAIL); 2 usage error; 3 refused for
//! safety (nothing was changed).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use lifeboat_core::Error;
use lifeboat_core::config::Config;
use lifeboat_core::contain::freeze::{FreezeOptions, ThawOptions};
use lifeboat_core::detect::check;
use lifeboat_core::forensic::recovered::Format;
use lifeboat_core::target::guard::Policy;
use lifeboat_core::target::journal::{Audit, Journal};
use lifeboat_core::target::side as sandbox;
use lifeboat_core::target::{self, ConnArgs};
use lifeboat_server::{Password, SandboxOptions};
use serde::Serialize;

mod progress;
mod render;

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 failure (or `check` found a FAIL), 2 usage error, 3 refused for safety.
Passwords are never taken on the command line: use -p (prompt), --password-file FILE,
the LIFEBOAT_PASSWORD environment variable, or `password=` in an option file.";

const RECOVERED_HELP: &str = "\
Loading the result: --load puts the table into the server the connection options name
(a new table in --database, default `recovered`; prompts for the server's identity or
takes --confirm-server), --sandbox DIR into a new side instance. Row counts are checked
after the load; a failed load drops the table it created.
Exit codes: 0 ok, 1 failure (or rows lost), 2 usage error, 3 refused for safety.";

/// lifeboat protects MySQL and MariaDB against data loss and gets the data back.
#[derive(Parser)]
#[command(name = "lifeboat", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// lifeboat's config file (named servers, journal location).
    #[arg(long, global = true, value_name = "FILE", env = "LIFEBOAT_CONFIG")]
    config: Option<PathBuf>,
    /// Audit journal file [default: ~/.local/state/lifeboat/journal.jsonl].
    #[arg(long, global = true, value_name = "FILE", env = "LIFEBOAT_JOURNAL")]
    journal: Option<PathBuf>,
}

/// `-h` is the host, as with the mysql client; help is `--help`.
#[derive(Args)]
struct HelpFlag {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help, help_heading = "Options")]
    help: Option<bool>,
}

#[derive(Subcommand)]
enum Command {
    /// Audit a server's disaster-recovery readiness: binlog, durability, retention, GTIDs,
    /// keys, engines, and the privileges each lifeboat command needs. Run it before you need
    /// a recovery. With a repository (--repo, LIFEBOAT_REPO or the config) also: the age of
    /// the server's newest backup, gaps in its archived binlogs, and whether the archive
    /// keeps up. Prints the server identity that `--confirm-server` takes. Exit 1 if
    /// anything FAILs.
    #[command(disable_help_flag = true, after_help = AFTER_HELP)]
    Check {
        #[command(flatten)]
        repo: RepoArg,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// Stop the bleeding: set the server read-only (super_read_only on MySQL), then list
    /// the sessions still connected and open write transactions. Journaled.
    #[command(disable_help_flag = true, after_help = AFTER_HELP)]
    Freeze {
        #[command(flatten)]
        opts: FreezeOptions,
        /// The identity `lifeboat check` prints; required when not run interactively.
        #[arg(long, value_name = "ID")]
        confirm_server: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// Undo `freeze`: make the server writable again. Refuses on a replica without --force.
    /// Journaled.
    #[command(disable_help_flag = true, after_help = AFTER_HELP)]
    Thaw {
        #[command(flatten)]
        opts: ThawOptions,
        /// The identity `lifeboat check` prints; required when not run interactively.
        #[arg(long, value_name = "ID")]
        confirm_server: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// Side instances: throwaway servers on 127.0.0.1 for restores, drills and experiments.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Manage a backup repository (a local directory, or s3://BUCKET/PREFIX on any
    /// S3-compatible store).
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Take a consistent, parallel, compressed logical backup into the repository. DDL is
    /// blocked while the schema is read (BACKUP STAGE BLOCK_DDL on MariaDB, LOCK INSTANCE FOR
    /// BACKUP on MySQL 8); commits are blocked only while the snapshots open and the binlog
    /// position and GTID state are read (BACKUP STAGE BLOCK_COMMIT, or FLUSH TABLES WITH READ
    /// LOCK). Every lock wait is bounded by --lock-wait.
    #[command(disable_help_flag = true, after_help = AFTER_HELP)]
    Backup {
        #[command(flatten)]
        repo: RepoArg,
        #[command(flatten)]
        opts: lifeboat_core::protect::backup::BackupOptions,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// Archive the server's binary logs into the repository, byte for byte, as a replica
    /// would read them. Follows the server (RPO about --flush-interval), reconnecting after
    /// restarts and dropped connections; resumes from the last durable byte after its own
    /// crash. Holes (binlogs purged before they were archived, INCIDENT events) are recorded.
    /// With --once: archive what the server has and exit (1 if a hole was found).
    #[command(disable_help_flag = true, after_help = AFTER_HELP)]
    Archive {
        #[command(flatten)]
        repo: RepoArg,
        /// Archive what the server has now, then exit.
        #[arg(long, conflicts_with = "follow")]
        once: bool,
        /// Keep following the server (the default).
        #[arg(long)]
        follow: bool,
        /// Longest time a received event waits before it is durable, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
        flush_interval: f64,
        /// server_id the archiver registers with [default: derived from server and repository].
        #[arg(long, value_name = "N")]
        replica_server_id: Option<u32>,
        /// Import the closed binlog files of a directory (a datadir or a copy) instead.
        #[arg(long, value_name = "DIR")]
        from_dir: Option<PathBuf>,
        /// With --from-dir: the server identity the files belong to (as `lifeboat check` prints).
        #[arg(long = "as", value_name = "IDENTITY", requires = "from_dir")]
        as_server: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// Find the destructive events in binlogs: DROP TABLE/DATABASE, TRUNCATE, DELETE/UPDATE
    /// of many rows or without WHERE, ALTER … DROP COLUMN, RENAME onto an existing name.
    /// Each with a stable id (for `restore --before-incident`), exact time, GTID, the
    /// positions of the event and of its transaction, thread id, statement and row counts.
    /// Reads FILE... in order, or with --repo every archived binlog of the server.
    #[command(disable_help_flag = true, after_help = AFTER_HELP)]
    Incidents {
        /// Binlog files, in order (none with --repo: the whole archive).
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        archived: ArchivedArgs,
        /// Only incidents at or after this time (RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` in
        /// --time-zone).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only incidents before this time.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Time zone of --since/--until without an offset (default: this machine's).
        #[arg(long, value_name = "TZ")]
        time_zone: Option<String>,
        /// A DELETE or UPDATE is destructive from this many rows of one table.
        #[arg(long, value_name = "N", default_value_t = 1000)]
        min_rows: u64,
        /// Also list this many transactions before and after each incident, and what the
        /// incident's own transaction did (statements, rows per table). 0: none.
        #[arg(long, value_name = "N", default_value_t = 2)]
        context: usize,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// The whole runbook on a sandbox, in about a minute: a production stand-in with Sakila
    /// and binlogs, a backup, continuous archiving under an application's writes, then an
    /// accident (DELETE without WHERE, DROP TABLE with foreign key checks off). lifeboat
    /// finds the incidents, freezes the server, recovers to just before the first one in a
    /// side instance, proves the recovered tables equal the state before the accident, and
    /// prints the timeline with the measured RPO and RTO. Leaves nothing running.
    Demo {
        /// Work in this directory (kept afterwards) instead of a temporary one.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The server binary both instances run, e.g. a MySQL 9 mysqld [default:
        /// $LIFEBOAT_MYSQLD, else the first mariadbd or mysqld found].
        #[arg(long, value_name = "PATH")]
        mysqld: Option<PathBuf>,
    },
    /// Compare the tables of two servers: chunked checksums over key ranges, then the rows of
    /// differing chunks by key (missing, extra, changed; the first --max-rows listed, all
    /// counted). Tables without a usable key are compared with CHECKSUM TABLE. Exit 1 when
    /// anything differs.
    #[command(disable_help_flag = true, after_help = AFTER_HELP)]
    Diff {
        /// The reference: a server named in the config, or mysql://user@host:port, or
        /// mysql://user@localhost?socket=PATH (no password in a DSN: the usual sources).
        #[arg(long, value_name = "DSN")]
        source: String,
        /// The server compared with it (same forms).
        #[arg(long, value_name = "DSN")]
        target: String,
        /// Only these databases (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "DB,...")]
        databases: Vec<String>,
        /// Only these tables (db.table, comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "DB.TABLE,...")]
        tables: Vec<String>,
        /// Rows per checksummed chunk.
        #[arg(long, value_name = "N", default_value_t = 10_000)]
        chunk_rows: u64,
        /// Differing rows listed per table.
        #[arg(long, value_name = "N", default_value_t = 20)]
        max_rows: usize,
        /// Tables compared at once.
        #[arg(long, value_name = "N", default_value_t = 2)]
        threads: usize,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// List archived binlogs per server: files, sizes, time and GTID ranges, and holes.
    /// Exit 1 if any server's archive has a hole.
    Binlogs {
        #[command(flatten)]
        repo: RepoArg,
    },
    /// List the backups in the repository; interrupted ones are shown as incomplete.
    Backups {
        #[command(flatten)]
        repo: RepoArg,
    },
    /// Check backups: every object present with its size; with --read-data every object is
    /// read, hashed (SHA-256) and decompressed.
    Verify {
        #[command(flatten)]
        repo: RepoArg,
        /// Backup id [default: all committed backups].
        #[arg(conflicts_with = "all")]
        id: Option<String>,
        /// Every committed backup (the default without an ID; for scripts that say so).
        #[arg(long)]
        all: bool,
        /// Read and check every object's content.
        #[arg(long)]
        read_data: bool,
    },
    /// Remove old backups by retention rules, and interrupted (incomplete) ones. Decides from
    /// the time in each backup id, so an encrypted repository needs no passphrase. At least
    /// one --keep-* rule is required; --dry-run shows the plan.
    Prune {
        #[command(flatten)]
        repo: RepoArg,
        #[command(flatten)]
        opts: lifeboat_core::protect::prune::PruneOptions,
    },
    /// Restore a backup into a new side instance (--sandbox DIR) or a named server. A server
    /// that already has the databases or other client sessions is refused unless --force.
    /// Point in time (--until, --until-gtid, --until-position, --before-incident): the newest
    /// backup before the target is restored, then the archived binlogs are replayed from its
    /// exact position to the last transaction that committed before the target (never half a
    /// transaction): by a side instance's own replication SQL thread (fastest), or into a
    /// named server through one session that keeps every event's session state and GTID;
    /// --dry-run prints that plan. Journaled.
    #[command(disable_help_flag = true, after_help = AFTER_HELP)]
    Restore {
        /// Backup id (`lifeboat backups` lists them); chosen for you with a point in time.
        #[arg(required_unless_present_any = ["until", "until_gtid", "until_position", "before_incident"])]
        id: Option<String>,
        /// Recover to just before this time: RFC 3339, or `YYYY-MM-DD HH:MM[:SS[.ffffff]]` in
        /// --time-zone. Transactions that committed before it are applied. MariaDB stamps
        /// events to the second: a transaction stamped 14:29:59 counts as 14:29:59.000000.
        #[arg(long, value_name = "TIME", conflicts_with_all = ["id", "until_gtid", "until_position", "before_incident"])]
        until: Option<String>,
        /// Recover up to and including the transaction with this GTID.
        #[arg(long, value_name = "GTID", conflicts_with_all = ["id", "until_position", "before_incident"])]
        until_gtid: Option<String>,
        /// Recover the transactions that end at or before FILE:POS.
        #[arg(long, value_name = "FILE:POS", conflicts_with_all = ["id", "before_incident"])]
        until_position: Option<String>,
        /// Recover to just before the transaction of this incident (`lifeboat incidents`).
        #[arg(long, value_name = "ID", conflicts_with = "id")]
        before_incident: Option<String>,
        /// Time zone of --until without an offset (default: this machine's).
        #[arg(long, value_name = "TZ")]
        time_zone: Option<String>,
        /// The server whose backups and archive to use, when the repository holds several.
        #[arg(long = "archived-server", value_name = "SERVER")]
        archived_server: Option<String>,
        /// With a point in time: print the plan (backup, binlog range, stop point and the
        /// transactions either side of it, bytes to replay) and change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        repo: RepoArg,
        #[command(flatten)]
        side: SideArgs,
        #[command(flatten)]
        opts: lifeboat_core::recover::restore::RestoreOptions,
        /// The identity `lifeboat check` prints; required for a server when not interactive.
        #[arg(long, value_name = "ID")]
        confirm_server: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// Read binlog files: decode events and row images (`show`), or check them (`verify`).
    #[command(subcommand)]
    Binlog(BinlogCommand),
    /// Read InnoDB files directly, without a server (forensics: a tablespace the server
    /// cannot open, a file without a backup).
    #[command(subcommand)]
    Innodb(InnodbCommand),
    /// Recover deleted rows from a table's tablespace without a server: the delete-marked
    /// records purge has not removed yet (stop writes and copy the .ibd as soon as you can:
    /// purge and new inserts destroy them) and the records on the pages' free lists. Writes
    /// OUT/<table>.sql (the CREATE TABLE, then the rows as INSERTs) and OUT/report.json (per
    /// page: records found, rows recovered, what could not be decoded). Reads the file only.
    #[command(disable_help_flag = true, after_help = RECOVERED_HELP)]
    Undelete {
        #[command(flatten)]
        file: TablespaceArgs,
        #[command(flatten)]
        output: RecoveredOut,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// Every readable row of a damaged tablespace (one the server refuses to open, or a copy
    /// with overwritten pages): reads each page in place, takes the rows of every leaf page of
    /// the table's clustered index whose records decode with the definition, and lists the
    /// damaged pages with what was lost on them. Writes OUT/<table>.sql and OUT/report.json;
    /// exit 1 when pages were lost. Reads the file only.
    #[command(disable_help_flag = true, after_help = RECOVERED_HELP)]
    Salvage {
        #[command(flatten)]
        file: TablespaceArgs,
        #[command(flatten)]
        output: RecoveredOut,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// Recover a dropped table's rows from wherever its pages still are: the system
    /// tablespace of a datadir (file_per_table=OFF), or any image (a disk or partition
    /// image, free blocks, a copy; file_per_table=ON). Finds INDEX pages at any byte offset,
    /// keeps those whose records fit the table's definition byte for byte, reads the
    /// best-fitting index (all candidates are listed) from the newest copy of each page,
    /// each row once. Writes OUT/<table>.sql and OUT/report.json. Reads the sources only:
    /// stop the server or image the disk first, new writes overwrite free pages.
    #[command(disable_help_flag = true, after_help = RECOVERED_HELP)]
    Undrop {
        /// A datadir: its ibdata files, undo tablespaces and .ibd files are scanned, and its
        /// redo log (ib_logfile*, #innodb_redo) is read for the DROP's undo records, which name
        /// the dropped table's index after purge.
        #[arg(
            long,
            value_name = "DIR",
            conflicts_with = "image",
            required_unless_present = "image"
        )]
        datadir: Option<PathBuf>,
        /// A directory outside the datadir where the server kept some of its InnoDB files:
        /// the redo log (innodb_log_group_home_dir), undo tablespaces
        /// (innodb_undo_directory) or ibdata files (innodb_data_home_dir). Repeatable.
        #[arg(long, value_name = "DIR")]
        innodb_dir: Vec<PathBuf>,
        /// Any file holding the pages.
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        /// The table, as db.name.
        #[arg(long, value_name = "DB.NAME")]
        table: String,
        /// The table's CREATE TABLE statement (or --schema-from-backup). Without either, the
        /// definition is rebuilt from the dictionary records in the sources (those of the
        /// dropped table while purge has not cleared them): column types and keys, but not
        /// DECIMAL precision or ENUM/SET values, which InnoDB does not record (such columns
        /// keep their stored bytes or numbers; the CREATE TABLE says so in a COMMENT).
        #[arg(long, value_name = "DDL_FILE")]
        schema: Option<PathBuf>,
        #[command(flatten)]
        backup: BackupSchema,
        #[command(flatten)]
        output: RecoveredOut,
        /// Read this index (from the candidates a previous run listed) instead of the best
        /// fit.
        #[arg(long, value_name = "ID")]
        index_id: Option<u64>,
        /// A value known to be in the table (a name, an e-mail): prefer the index whose pages
        /// hold it. For when the dictionary no longer names the dropped table's index.
        #[arg(long, value_name = "VALUE")]
        grep: Option<String>,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// Crash rescue for a datadir the server refuses to start from. Never writes the
    /// original files: copies the datadir to OUT/server/data, starts a side instance on the
    /// copy with innodb_force_recovery raised step by step (0, then 1 to 6) until it starts,
    /// dumps every table it can read one by one (a table that fails or crashes the server
    /// does not stop the others), salvages the rest from their pages (their .ibd, or for
    /// tables in the system tablespace the pages its dictionary names), and writes
    /// OUT/<db>/<table>.sql per table and OUT/report.json (start attempts with their logs,
    /// where each table came from, what was lost). With --load or --sandbox, every table
    /// recovered is then loaded into a database of its original name there. Exit 1 when any
    /// table was salvaged with lost pages or records, or not recovered. Stop the server first: a
    /// datadir in use is refused.
    #[command(disable_help_flag = true)]
    Rescue {
        /// The datadir the server refuses to start from (read only).
        #[arg(long, value_name = "DIR")]
        datadir: PathBuf,
        /// A new (or empty) directory for the copy, the tables and the report.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// CREATE TABLE statements for tables salvaged when the side instance cannot start
        /// (else each table's .frm file is read, or a MySQL 8 tablespace's own definition).
        #[arg(long, value_name = "DDL_FILE")]
        schema: Option<PathBuf>,
        /// A setting for the side instance, as in my.cnf (repeatable): the original server's
        /// innodb_log_file_size, lower_case_table_names, innodb_undo_tablespaces...
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Seconds one start attempt may take (crash recovery of a large redo log is slow).
        #[arg(long, value_name = "SECS", default_value_t = 300)]
        start_timeout: u64,
        /// How the tables are written (in OUT/<db>/).
        #[arg(long, value_enum, default_value_t = Format::Sql)]
        format: Format,
        #[command(flatten)]
        to: LoadTo,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        help: HelpFlag,
    },
    /// Print the audit journal: every action lifeboat took on a server, oldest first.
    Journal {
        /// Show only the last N entries.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
}

/// `--repo`, shared by repository commands.
#[derive(Args)]
struct RepoArg {
    /// Repository location: a local directory, or s3://BUCKET/PREFIX (endpoint, region and
    /// credentials from the config or the usual AWS_* variables); else `repo` in the config.
    #[arg(long, value_name = "LOCATION", env = "LIFEBOAT_REPO")]
    repo: Option<String>,
    /// Encrypted repositories: file whose first line is the passphrase (else the
    /// LIFEBOAT_PASSPHRASE environment variable, else a prompt). Backups need none.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum RepoCommand {
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

/// A table's tablespace (`undelete`, `salvage`).
#[derive(clap::Args)]
struct TablespaceArgs {
    /// The table's tablespace (a copy is best).
    #[arg(long, value_name = "FILE")]
    ibd: PathBuf,
    /// The table's CREATE TABLE statement (`SHOW CREATE TABLE` output, or your own)
    /// [default: the .frm file beside the tablespace (MariaDB; MySQL 5.7 files are untested), else the
    /// definition a MySQL 8 file carries in its SDI].
    #[arg(long, value_name = "DDL_FILE")]
    schema: Option<PathBuf>,
    /// The table's clustered index, when lifeboat's choice is wrong (its report lists the
    /// index it read).
    #[arg(long, value_name = "ID")]
    index_id: Option<u64>,
    #[command(flatten)]
    backup: BackupSchema,
    /// The table, as db.name, for --schema-from-backup [default: from the file's path,
    /// DATADIR/db/name.ibd].
    #[arg(long, value_name = "DB.NAME")]
    table: Option<String>,
}

/// A table definition from a lifeboat backup.
#[derive(clap::Args)]
struct BackupSchema {
    /// Take the table's definition from a lifeboat backup in --repo: a backup id, or
    /// `latest` (the newest committed backup holding the table).
    #[arg(long, value_name = "ID|latest", conflicts_with = "schema")]
    schema_from_backup: Option<String>,
    #[command(flatten)]
    repo: RepoArg,
}

impl BackupSchema {
    /// The definition of `db.table` from the backup named, if one is.
    async fn definition(
        &self,
        cli: &Cli,
        db: &str,
        table: &str,
    ) -> Result<Option<lifeboat_innodb::schema::TableSchema>, Failure> {
        let Some(which) = &self.schema_from_backup else {
            return Ok(None);
        };
        let repo = open_repo(cli, &self.repo).await?;
        let id = (which != "latest").then_some(which.as_str());
        let (schema, id) =
            lifeboat_core::forensic::schema_from_backup(&repo, id, db, table).await?;
        eprintln!("definition of {db}.{table} from backup {id}");
        Ok(Some(schema))
    }
}

impl TablespaceArgs {
    /// The table definition: `--schema`, or `--schema-from-backup`, else the .frm beside
    /// the file, else its SDI.
    async fn definition(&self, cli: &Cli) -> Result<lifeboat_innodb::schema::TableSchema, Failure> {
        if let Some(s) = &self.schema {
            return read_schema(s);
        }
        if self.backup.schema_from_backup.is_some() {
            let (db, table) = match &self.table {
                Some(t) => split_table(t)?,
                None => lifeboat_core::forensic::table_of_path(&self.ibd).ok_or_else(|| {
                    usage(format!(
                        "cannot tell the table from {}: give --table DB.NAME",
                        self.ibd.display()
                    ))
                })?,
            };
            if let Some(s) = self.backup.definition(cli, &db, &table).await? {
                return Ok(s);
            }
        }
        Ok(lifeboat_core::forensic::schema_of(&self.ibd)?)
    }
}

/// `db.name` split at its first dot.
fn split_table(t: &str) -> Result<(String, String), Failure> {
    t.split_once('.')
        .map(|(d, n)| (d.to_owned(), n.to_owned()))
        .ok_or_else(|| usage(format!("--table {t}: expected DB.NAME")))
}

/// Where recovered rows go, and whether they are loaded (`undelete`, `undrop`, `salvage`).
#[derive(clap::Args)]
struct RecoveredOut {
    /// Directory for the recovered rows and the report.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// How the rows are written.
    #[arg(long, value_enum, default_value_t = Format::Sql)]
    format: Format,
    #[command(flatten)]
    to: LoadTo,
    /// The database --load / --sandbox put the table in (created if missing).
    #[arg(long, value_name = "DB", default_value = "recovered")]
    database: String,
}

/// A side instance lifeboat starts for the data (`--sandbox DIR`), and its server binary.
#[derive(clap::Args)]
struct SideArgs {
    /// Into a new side instance started in DIR (left running).
    #[arg(long, value_name = "DIR")]
    sandbox: Option<PathBuf>,
    /// The server binary of the servers this command starts [default: $LIFEBOAT_MYSQLD, else
    /// a mysqld or mariadbd of the data's flavor and major version from PATH, /usr/sbin or
    /// lifeboat's own installs; refused when none fits].
    #[arg(long, value_name = "PATH")]
    mysqld: Option<PathBuf>,
}

/// Whether recovered tables are loaded, and where.
#[derive(clap::Args)]
struct LoadTo {
    /// Then load the rows into the server the connection options name, as new tables (an
    /// existing table is refused, never added to). Asks for the server's identity, or
    /// takes --confirm-server ID when not interactive.
    #[arg(long, conflicts_with = "sandbox")]
    load: bool,
    #[command(flatten)]
    side: SideArgs,
    /// With --load: the identity `lifeboat check` prints; required when not interactive.
    #[arg(long, value_name = "ID")]
    confirm_server: Option<String>,
}

impl LoadTo {
    /// Loads what a recovery wrote, each table into its database, when asked to.
    async fn run(
        &self,
        cli: &Cli,
        conn: &ConnArgs,
        argv: Vec<String>,
        items: &[(String, lifeboat_core::forensic::recovered::Written)],
    ) -> Result<Option<lifeboat_core::forensic::recovered::Loaded>, Failure> {
        if (!self.load && self.side.sandbox.is_none()) || items.is_empty() {
            return Ok(None);
        }
        let config = load_config(cli)?;
        let target = restore_target(&self.side, conn, &config)?;
        let mut audit = audit(cli, &config, argv)?;
        let names: Vec<String> = items
            .iter()
            .map(|(d, w)| format!("{d}.{}", w.table))
            .collect();
        let policy = policy(
            &self.confirm_server,
            &format!("load recovered rows into {}", names.join(", ")),
        );
        let loaded =
            lifeboat_core::forensic::recovered::load(items, target, &policy, &mut audit).await?;
        Ok(Some(loaded))
    }
}

impl RecoveredOut {
    /// Loads what a recovery wrote into --database, when asked to.
    async fn load(
        &self,
        cli: &Cli,
        conn: &ConnArgs,
        argv: Vec<String>,
        written: &lifeboat_core::forensic::recovered::Written,
    ) -> Result<Option<lifeboat_core::forensic::recovered::Loaded>, Failure> {
        let items = [(self.database.clone(), written.clone())];
        self.to.run(cli, conn, argv, &items).await
    }
}

#[derive(Subcommand)]
enum InnodbCommand {
    /// Summarize a tablespace (.ibd, ibdata1) or any file of InnoDB pages: vendor and format
    /// (page size, checksum format, row-format family, compression), pages per type,
    /// checksum verdicts (a bad checksum is reported, never a reason to skip a page), and the
    /// indexes with their records, delete-marked records and free-list records. Reads the
    /// file only; a damaged page 0 is survived (the page size is found from the others).
    Inspect {
        /// The file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum BinlogCommand {
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

/// Reading archived binlogs instead of local files.
#[derive(Args)]
struct ArchivedArgs {
    /// Read the files from this repository's binlog archive (`lifeboat binlogs` lists them).
    #[arg(long, value_name = "LOCATION")]
    repo: Option<String>,
    /// With --repo: the server whose archive to read (needed when it holds several).
    #[arg(long = "archived-server", value_name = "SERVER", requires = "repo")]
    server: Option<String>,
    /// With --repo on an encrypted repository: file whose first line is the passphrase.
    #[arg(long, value_name = "FILE", requires = "repo")]
    passphrase_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum SandboxCommand {
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

/// Refuses a password value on argv before clap sees it, so it cannot be echoed in an error.
fn reject_password_on_argv(args: &[String]) -> Result<(), &'static str> {
    for a in args.iter().skip(1) {
        if a == "--" {
            break;
        }
        let short_with_value = a.starts_with("-p") && a.len() > 2 && !a.starts_with("--");
        if short_with_value || a.starts_with("--password=") {
            return Err(
                "a password value on the command line is refused: every user on this machine could read it in `ps`",
            );
        }
    }
    Ok(())
}

/// `text` (a clap error) with every argument that follows `-p` or `--password` on `args`
/// masked: `-p` takes no value, so `--password secret` makes `secret` an unexpected argument,
/// which clap would echo.
fn mask_after_password_flags(text: &str, args: &[String]) -> String {
    let mut out = text.to_owned();
    for pair in args.windows(2) {
        if (pair[0] == "-p" || pair[0] == "--password") && !pair[1].is_empty() {
            out = out.replace(pair[1].as_str(), "********");
        }
    }
    out
}

fn prompt_password(origin: &str) -> Option<Password> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let _ = origin;
    rpassword::prompt_password("Password: ")
        .ok()
        .map(Password::new)
}

fn confirm_on_terminal(question: &str) -> Option<String> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).ok()?;
    Some(line.trim().to_owned())
}

/// The repository at `loc` and the server whose archive `a` names (or the only one).
async fn archived_server(
    cli: &Cli,
    a: &ArchivedArgs,
    loc: &str,
) -> Result<(lifeboat_repo::Repository, String), Failure> {
    let arg = RepoArg {
        repo: Some(loc.to_owned()),
        passphrase_file: a.passphrase_file.clone(),
    };
    let r = open_repo(cli, &arg).await?;
    let servers = r.binlog_servers().await.map_err(Error::from)?;
    let server = match (&a.server, servers.as_slice()) {
        (Some(s), _) => lifeboat_repo::server_key(s),
        (None, [one]) => one.clone(),
        (None, []) => return Err(usage(format!("{loc} has no archived binlogs"))),
        (None, _) => {
            return Err(usage(format!(
                "{loc} archives several servers ({}); name one with --archived-server",
                servers.join(", ")
            )));
        }
    };
    Ok((r, server))
}

/// With `--repo`: the named archived files written out (under their own names) to a
/// temporary directory, as the server has them; without: the paths as given.
async fn materialize(
    cli: &Cli,
    a: &ArchivedArgs,
    files: &[PathBuf],
) -> Result<(Option<tempfile::TempDir>, Vec<PathBuf>), Failure> {
    let Some(loc) = &a.repo else {
        return Ok((None, files.to_vec()));
    };
    let (r, server) = archived_server(cli, a, loc).await?;
    let dir =
        tempfile::tempdir().map_err(|e| Error::Binlog(format!("temporary directory: {e}")))?;
    let mut paths = Vec::new();
    for f in files {
        let name = f.to_string_lossy().into_owned();
        let path = dir.path().join(&name);
        let mut out = std::fs::File::create(&path)
            .map_err(|e| Error::Binlog(format!("{}: {e}", path.display())))?;
        let n =
            lifeboat_core::protect::archive::read_archived(&r, &server, &name, &mut out).await?;
        if n == 0 {
            return Err(usage(format!(
                "{name} is not in the archive of {server} (see `lifeboat binlogs`)"
            )));
        }
        paths.push(path);
    }
    Ok((Some(dir), paths))
}

/// Where a restore goes: a new side instance, or the server the connection options name.
fn restore_target(
    side: &SideArgs,
    conn: &ConnArgs,
    config: &lifeboat_core::config::Config,
) -> Result<lifeboat_core::recover::restore::Target, Failure> {
    Ok(match &side.sandbox {
        Some(dir) => lifeboat_core::recover::restore::Target::Sandbox(
            lifeboat_core::recover::restore::SideInstance {
                dir: dir.clone(),
                mysqld: side.mysqld.clone(),
            },
        ),
        None => lifeboat_core::recover::restore::Target::Server(resolve(conn, config)?),
    })
}

/// A table definition from a `--schema` file.
fn read_schema(path: &Path) -> Result<lifeboat_innodb::schema::TableSchema, Failure> {
    let ddl = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("--schema {}: {e}", path.display())))?;
    lifeboat_innodb::schema::parse_create_table(&ddl)
        .map_err(|e| usage(format!("--schema {}: {e}", path.display())))
}

/// Prints what a recovery did and, when asked, where its rows were loaded: one JSON object,
/// or the recovery's own text (`text`) followed by the load.
fn print_recovered<T: Serialize>(
    cli: &Cli,
    done: &T,
    written: &lifeboat_core::forensic::recovered::Written,
    loaded: Option<&lifeboat_core::forensic::recovered::Loaded>,
    text: impl FnOnce(),
) {
    #[derive(Serialize)]
    struct Recovered<'a, T: Serialize> {
        #[serde(flatten)]
        done: &'a T,
        #[serde(skip_serializing_if = "Option::is_none")]
        loaded: Option<&'a lifeboat_core::forensic::recovered::Loaded>,
    }
    if cli.json {
        print_json(&Recovered { done, loaded });
    } else {
        text();
        render::loaded(written, loaded);
    }
}

fn usage(message: String) -> Failure {
    Failure {
        message,
        hint: None,
        code: 2,
    }
}

/// A point in time: RFC 3339, or a civil `YYYY-MM-DD HH:MM[:SS]` in `tz`.
fn parse_time(text: &str, tz: &jiff::tz::TimeZone) -> Result<jiff::Timestamp, String> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let civil: jiff::civil::DateTime = text
        .trim()
        .parse()
        .map_err(|e: jiff::Error| e.to_string())?;
    civil
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| e.to_string())
}

fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot render JSON: {e}"),
    }
}

struct Failure {
    message: String,
    hint: Option<String>,
    code: u8,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            message: e.to_string(),
            hint: e.hint(),
            code: if e.is_refusal() { 3 } else { 1 },
        }
    }
}

fn journal_path(cli: &Cli, config: &Config) -> PathBuf {
    cli.journal
        .clone()
        .or_else(|| config.journal.clone())
        .unwrap_or_else(lifeboat_core::paths::default_journal)
}

fn load_config(cli: &Cli) -> Result<Config, Error> {
    let (config, warnings) = Config::load(cli.config.as_deref())?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(config)
}

fn resolve(conn: &ConnArgs, config: &Config) -> Result<lifeboat_server::ConnectOptions, Error> {
    let resolved = target::resolve(conn, config, &prompt_password)?;
    for w in resolved.warnings {
        eprintln!("warning: {w}");
    }
    Ok(resolved.options)
}

/// Target and journal for a command that changes a server; the journal is opened first so
/// nothing happens that could not be recorded.
fn prepare_write(
    cli: &Cli,
    conn: &ConnArgs,
    argv: Vec<String>,
) -> Result<(lifeboat_server::ConnectOptions, Audit), Error> {
    let config = load_config(cli)?;
    let target = resolve(conn, &config)?;
    Ok((target, audit(cli, &config, argv)?))
}

/// The audit journal, opened before anything changes (so nothing happens unrecorded).
fn audit(cli: &Cli, config: &Config, argv: Vec<String>) -> Result<Audit, Error> {
    let journal = Journal::open(&journal_path(cli, config))?;
    Ok(Audit {
        journal,
        args: argv,
    })
}

fn policy(confirm_server: &Option<String>, action: &str) -> Policy<'static> {
    let prompt: &'static dyn Fn(&str) -> Option<String> = &confirm_on_terminal;
    Policy {
        confirm_server: confirm_server.clone(),
        prompt: std::io::stdin().is_terminal().then_some(prompt),
        action: action.into(),
    }
}

fn render_outcome(json: bool, outcome: &lifeboat_core::contain::freeze::Outcome) {
    if json {
        print_json(outcome);
    } else {
        render::freeze(outcome);
    }
}

fn repo_location(cli: &Cli, arg: &RepoArg) -> Result<String, Failure> {
    let config = load_config(cli)?;
    arg.repo.clone().or(config.repo).ok_or_else(|| Failure {
        message: "no repository given".into(),
        hint: Some("pass --repo DIR, set LIFEBOAT_REPO, or `repo = \"DIR\"` in the config".into()),
        code: 2,
    })
}

/// The repository passphrase: file, environment, or terminal prompt (twice when `confirm`).
fn passphrase(arg: &RepoArg, location: &str, confirm: bool) -> Result<String, Failure> {
    if let Some(f) = &arg.passphrase_file {
        let (p, warning) =
            lifeboat_server::credentials::read_password_file(f).map_err(|e| Failure {
                message: e.to_string(),
                hint: None,
                code: 1,
            })?;
        if let Some(w) = warning {
            eprintln!("warning: {}", w.replace("password file", "passphrase file"));
        }
        return Ok(p.expose().to_owned());
    }
    if let Ok(p) = std::env::var("LIFEBOAT_PASSPHRASE") {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password(format!("Passphrase for repository {location}: "))
            .unwrap_or_default();
        if confirm {
            let again = rpassword::prompt_password("Repeat the passphrase: ").unwrap_or_default();
            if again != p {
                return Err(Failure {
                    message: "the passphrases differ".into(),
                    hint: None,
                    code: 2,
                });
            }
        }
        if p.is_empty() {
            return Err(Failure {
                message: "an empty passphrase is refused".into(),
                hint: None,
                code: 2,
            });
        }
        return Ok(p);
    }
    Err(Error::from(lifeboat_repo::Error::NeedPassphrase(location.to_owned())).into())
}

/// Opens a repository; for reading an encrypted one, also its key.
/// S3 settings from the config file (`[s3]`); unset ones fall back to the environment.
fn store_options(cli: &Cli) -> Result<lifeboat_repo::StoreOptions, Failure> {
    let config = load_config(cli)?;
    let Some(s3) = config.s3 else {
        return Ok(Default::default());
    };
    let secret = match &s3.secret_access_key_file {
        Some(f) => {
            let (p, warning) =
                lifeboat_server::credentials::read_password_file(f).map_err(|e| Failure {
                    message: e.to_string().replace("password file", "secret key file"),
                    hint: None,
                    code: 1,
                })?;
            if let Some(w) = warning {
                eprintln!("warning: {}", w.replace("password file", "secret key file"));
            }
            Some(p.expose().to_owned())
        }
        None => None,
    };
    Ok(lifeboat_repo::StoreOptions {
        endpoint: s3.endpoint,
        region: s3.region,
        access_key_id: s3.access_key_id,
        secret_access_key: secret,
    })
}

async fn open_repo_with(
    cli: &Cli,
    arg: &RepoArg,
    read: bool,
) -> Result<lifeboat_repo::Repository, Failure> {
    let loc = repo_location(cli, arg)?;
    let so = store_options(cli)?;
    let mut repo = lifeboat_repo::Repository::open_with(&loc, &so)
        .await
        .map_err(Error::from)?;
    if read && repo.needs_passphrase() {
        let pass = passphrase(arg, &loc, false)?;
        repo.open_key(&pass).await.map_err(Error::from)?;
    }
    Ok(repo)
}

async fn open_repo(cli: &Cli, arg: &RepoArg) -> Result<lifeboat_repo::Repository, Failure> {
    open_repo_with(cli, arg, true).await
}

async fn run(cli: Cli, argv: Vec<String>) -> Result<u8, Failure> {
    match &cli.command {
        Command::Check { conn, repo, .. } => {
            let config = load_config(&cli)?;
            let opts = resolve(conn, &config)?;
            let mut c = lifeboat_server::connect(&opts).await.map_err(Error::from)?;
            let info = lifeboat_server::ServerInfo::probe(&mut c)
                .await
                .map_err(Error::from)?;
            let mut report = check::run(&mut c, info).await.map_err(|e| Failure {
                message: e.to_string(),
                hint: None,
                code: 1,
            })?;
            let _ = c.disconnect().await;
            if repo.repo.is_some() || config.repo.is_some() {
                let r = open_repo(&cli, repo).await?;
                report
                    .findings
                    .extend(check::repository(&r, &report.server).await?);
            }
            if cli.json {
                print_json(&report);
            } else {
                render::check(&report, &opts.endpoint.to_string());
            }
            Ok(if report.worst() == check::Level::Fail {
                1
            } else {
                0
            })
        }
        Command::Freeze {
            opts,
            confirm_server,
            conn,
            ..
        } => {
            let (target, mut audit) = prepare_write(&cli, conn, argv)?;
            let policy = policy(confirm_server, "set the server read-only");
            let outcome =
                lifeboat_core::contain::freeze::freeze(&target, &policy, opts, &mut audit).await?;
            render_outcome(cli.json, &outcome);
            Ok(0)
        }
        Command::Thaw {
            opts,
            confirm_server,
            conn,
            ..
        } => {
            let (target, mut audit) = prepare_write(&cli, conn, argv)?;
            let policy = policy(confirm_server, "make the server writable");
            let outcome =
                lifeboat_core::contain::freeze::thaw(&target, &policy, opts, &mut audit).await?;
            render_outcome(cli.json, &outcome);
            Ok(0)
        }
        Command::Sandbox(cmd) => match cmd {
            SandboxCommand::Start {
                dir,
                port,
                mysqld,
                binlog,
                server_id,
                settings,
            } => {
                let mut o = SandboxOptions::new(dir.clone().unwrap_or_else(sandbox::default_dir));
                o.port = *port;
                o.server_binary = mysqld.clone();
                o.binlog = *binlog;
                o.server_id = *server_id;
                o.server_settings = settings.clone();
                let started = sandbox::start(&o).await?;
                if cli.json {
                    print_json(&started);
                } else {
                    render::sandbox_started(&started);
                }
                Ok(0)
            }
            SandboxCommand::Stop { dir, remove } => {
                let stopped = sandbox::stop(dir, *remove).await?;
                if cli.json {
                    print_json(&stopped);
                } else if stopped.was_running {
                    println!(
                        "sandbox {} stopped cleanly{}",
                        stopped.dir.display(),
                        if stopped.removed { " and removed" } else { "" }
                    );
                } else {
                    println!(
                        "sandbox {} was not running{}",
                        stopped.dir.display(),
                        if stopped.removed { "; removed" } else { "" }
                    );
                }
                Ok(0)
            }
            SandboxCommand::List => {
                let list = sandbox::list();
                if cli.json {
                    print_json(&list);
                } else {
                    render::sandbox_list(&list);
                }
                Ok(0)
            }
        },
        Command::Repo(RepoCommand::Init { repo, encrypt }) => {
            let loc = repo_location(&cli, repo)?;
            let pass = if *encrypt {
                Some(passphrase(repo, &loc, true)?)
            } else {
                None
            };
            let so = store_options(&cli)?;
            let r = lifeboat_repo::Repository::init_with(&loc, pass.as_deref(), &so)
                .await
                .map_err(Error::from)?;
            if cli.json {
                print_json(&r.config);
            } else {
                println!(
                    "repository created at {loc} (id {}, format {})",
                    r.config.id, r.config.format
                );
                if let Some(e) = &r.config.encryption {
                    println!(
                        "encrypted with age to {}; keep the passphrase safe: without it the backups are lost",
                        e.recipient
                    );
                }
            }
            Ok(0)
        }
        Command::Repo(RepoCommand::Unlock { repo }) => {
            let r = open_repo_with(&cli, repo, false).await?;
            let removed = r.unlock().await.map_err(Error::from)?;
            if cli.json {
                print_json(&removed);
            } else if removed.is_empty() {
                println!("no locks");
            } else {
                for l in &removed {
                    println!("removed lock: {l}");
                }
            }
            Ok(0)
        }
        Command::Backup {
            repo, opts, conn, ..
        } => {
            let r = open_repo_with(&cli, repo, false).await?;
            let config = load_config(&cli)?;
            let target = resolve(conn, &config)?;
            let outcome =
                lifeboat_core::protect::backup::run(&target, &r, opts, progress::sink(cli.json))
                    .await?;
            if cli.json {
                print_json(&outcome);
            } else {
                render::backup(&outcome);
            }
            Ok(0)
        }
        Command::Archive {
            repo,
            once,
            flush_interval,
            replica_server_id,
            from_dir,
            as_server,
            conn,
            ..
        } => {
            let r = open_repo_with(&cli, repo, false).await?;
            let json = cli.json;
            let notes: lifeboat_core::protect::archive::Notes = Arc::new(move |m: &str| {
                if !json {
                    eprintln!("{m}");
                }
            });
            let outcome = if let Some(dir) = from_dir {
                let Some(identity) = as_server else {
                    return Err(usage("--from-dir needs --as IDENTITY (the server the files come from, as `lifeboat check` prints it)".into()));
                };
                lifeboat_core::protect::archive::import_dir(dir, identity, &r, notes).await?
            } else {
                let config = load_config(&cli)?;
                let target = resolve(conn, &config)?;
                let opts = lifeboat_core::protect::archive::ArchiveOptions {
                    once: *once,
                    flush_interval: std::time::Duration::from_secs_f64(flush_interval.max(0.01)),
                    replica_server_id: replica_server_id.unwrap_or(0),
                    ..Default::default()
                };
                lifeboat_core::protect::archive::run(&target, &r, &opts, notes).await?
            };
            if cli.json {
                print_json(&outcome);
            } else {
                println!(
                    "archived {} bytes in {} segments; archive of {} reaches {}:{}",
                    outcome.bytes,
                    outcome.segments,
                    outcome.server,
                    outcome.file.as_deref().unwrap_or("-"),
                    outcome.position
                );
                for g in &outcome.gaps {
                    println!("GAP: {}", g.reason);
                }
            }
            Ok(if outcome.gaps.is_empty() { 0 } else { 1 })
        }
        Command::Incidents {
            files,
            archived,
            since,
            until,
            time_zone,
            min_rows,
            context,
            ..
        } => {
            let tz = match time_zone {
                Some(name) => jiff::tz::TimeZone::get(name)
                    .map_err(|e| usage(format!("--time-zone {name}: {e}")))?,
                None => jiff::tz::TimeZone::system(),
            };
            let when = |flag: &str, v: &Option<String>| {
                v.as_deref()
                    .map(|t| parse_time(t, &tz).map_err(|e| usage(format!("{flag} {t}: {e}"))))
                    .transpose()
            };
            let opts = lifeboat_core::detect::incidents::Options {
                since: when("--since", since)?,
                until: when("--until", until)?,
                min_rows: *min_rows,
                context: *context,
            };
            let scanned = match (&archived.repo, files.is_empty()) {
                (Some(loc), true) => {
                    let (r, server) = archived_server(&cli, archived, loc).await?;
                    lifeboat_core::detect::incidents::scan_archive(&r, &server, opts).await?
                }
                (None, true) => {
                    return Err(usage(
                        "name binlog files, or --repo to read the archive".into(),
                    ));
                }
                _ => {
                    let (_tmp, paths) = materialize(&cli, archived, files).await?;
                    lifeboat_core::detect::incidents::scan_files(&paths, opts)?
                }
            };
            if cli.json {
                print_json(&scanned);
            } else {
                render::incidents(&scanned);
            }
            Ok(0)
        }
        Command::Demo { dir, mysqld } => {
            let tmp;
            let work = match dir {
                Some(d) => {
                    std::fs::create_dir_all(d)
                        .map_err(|e| Error::Binlog(format!("{}: {e}", d.display())))?;
                    d.clone()
                }
                None => {
                    tmp = tempfile::Builder::new()
                        .prefix("lifeboat-demo.")
                        .tempdir()
                        .map_err(|e| Error::Binlog(format!("temporary directory: {e}")))?;
                    tmp.path().to_path_buf()
                }
            };
            let sakila = lifeboat_core::demo::Sakila {
                schema: include_str!("../tests/fixtures/sakila-schema.sql"),
                data: include_str!("../tests/fixtures/sakila-data.sql"),
            };
            let quiet = cli.json;
            let t0 = std::time::Instant::now();
            let say = move |s: &str| {
                if !quiet {
                    println!("[{:5.1} s] {s}", t0.elapsed().as_secs_f64());
                }
            };
            let timeline = lifeboat_core::demo::run(
                &work,
                &sakila,
                mysqld.as_deref(),
                &say,
                progress::sink(true),
            )
            .await?;
            if cli.json {
                print_json(&timeline);
            } else {
                render::demo(&timeline, t0.elapsed());
            }
            Ok(0)
        }
        Command::Diff {
            source,
            target,
            databases,
            tables,
            chunk_rows,
            max_rows,
            threads,
            ..
        } => {
            let config = load_config(&cli)?;
            let side = |dsn: &str| -> Result<lifeboat_server::ConnectOptions, Failure> {
                let args = lifeboat_core::target::conn_args_from_dsn(dsn).map_err(usage)?;
                Ok(resolve(&args, &config)?)
            };
            let (s, t) = (side(source)?, side(target)?);
            let opts = lifeboat_core::verify::diff::Options {
                databases: databases.clone(),
                tables: tables.clone(),
                chunk_rows: *chunk_rows,
                max_listed: *max_rows,
                threads: *threads,
            };
            let report = lifeboat_core::verify::diff::run(&s, &t, &opts).await?;
            if cli.json {
                print_json(&report);
            } else {
                render::diff(&report);
            }
            Ok(if report.equal { 0 } else { 1 })
        }
        Command::Binlogs { repo } => {
            let r = open_repo_with(&cli, repo, false).await?;
            let cov = lifeboat_core::protect::archive::coverage(&r).await?;
            if cli.json {
                print_json(&cov);
            } else {
                render::binlog_coverage(&cov);
            }
            Ok(if cov.iter().any(|c| !c.gaps.is_empty()) {
                1
            } else {
                0
            })
        }
        Command::Backups { repo } => {
            let r = open_repo(&cli, repo).await?;
            let list = r.list_backups().await.map_err(Error::from)?;
            if cli.json {
                print_json(&list);
            } else {
                render::backups(&list);
            }
            Ok(0)
        }
        Command::Verify {
            repo,
            id,
            all: _,
            read_data,
        } => {
            let r = open_repo(&cli, repo).await?;
            let ids: Vec<String> = match id {
                Some(id) => vec![id.clone()],
                None => r
                    .list_backups()
                    .await
                    .map_err(Error::from)?
                    .into_iter()
                    .filter_map(|l| match l {
                        lifeboat_repo::BackupListing::Complete(m) => Some(m.id.0),
                        _ => None,
                    })
                    .collect(),
            };
            let mut reports = Vec::new();
            for id in ids {
                reports.push(r.verify(&id, *read_data).await.map_err(Error::from)?);
            }
            let bad = reports.iter().any(|r| !r.problems.is_empty());
            if cli.json {
                print_json(&reports);
            } else {
                render::verify(&reports);
            }
            Ok(u8::from(bad))
        }
        Command::Restore {
            id,
            until,
            until_gtid,
            until_position,
            before_incident,
            time_zone,
            archived_server,
            dry_run,
            repo,
            side,
            opts,
            confirm_server,
            conn,
            ..
        } if id.is_none() => {
            let tz = match time_zone {
                Some(name) => jiff::tz::TimeZone::get(name)
                    .map_err(|e| usage(format!("--time-zone {name}: {e}")))?,
                None => jiff::tz::TimeZone::system(),
            };
            use lifeboat_core::recover::pitr::StopAt;
            let stop = if let Some(t) = until {
                StopAt::Time(parse_time(t, &tz).map_err(|e| usage(format!("--until {t}: {e}")))?)
            } else if let Some(g) = until_gtid {
                StopAt::Gtid(
                    g.parse()
                        .map_err(|e| usage(format!("--until-gtid {g}: {e}")))?,
                )
            } else if let Some(p) = until_position {
                StopAt::Position(
                    p.parse()
                        .map_err(|e| usage(format!("--until-position: {e}")))?,
                )
            } else if let Some(i) = before_incident {
                StopAt::BeforeIncident(
                    i.parse()
                        .map_err(|_| usage(format!("--before-incident {i}: expected an id from `lifeboat incidents` (FILE:OFFSET)")))?,
                )
            } else {
                return Err(usage("no backup id and no point in time".into()));
            };
            let r = open_repo(&cli, repo).await?;
            let server = archived_server.as_deref().map(lifeboat_repo::server_key);
            let config = load_config(&cli)?;
            let target = restore_target(side, conn, &config)?;
            // Staged binlogs go next to the side instance, else in the temporary directory.
            let parent = match &side.sandbox {
                Some(dir) => dir
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf(),
                None => std::env::temp_dir(),
            };
            std::fs::create_dir_all(&parent)
                .map_err(|e| Error::Binlog(format!("{}: {e}", parent.display())))?;
            let staging = tempfile::Builder::new()
                .prefix(".lifeboat-replay-")
                .tempdir_in(&parent)
                .map_err(|e| Error::Binlog(format!("{}: {e}", parent.display())))?;
            let plan =
                lifeboat_core::recover::pitr::plan(&r, server.as_deref(), &stop, staging.path())
                    .await?;
            if *dry_run {
                if cli.json {
                    print_json(&plan);
                } else {
                    render::pitr_plan(&plan);
                }
                return Ok(0);
            }
            let mut audit = audit(&cli, &config, argv)?;
            let policy = policy(confirm_server, "restore into the server");
            let outcome = lifeboat_core::recover::pitr::run(
                &r,
                plan,
                staging.path(),
                target,
                &policy,
                opts,
                &mut audit,
                progress::sink(cli.json),
            )
            .await?;
            if cli.json {
                print_json(&outcome);
            } else {
                render::pitr(&outcome);
            }
            Ok(0)
        }
        Command::Restore {
            id,
            repo,
            side,
            opts,
            confirm_server,
            conn,
            ..
        } => {
            let id = id.as_deref().unwrap_or_default();
            let r = open_repo(&cli, repo).await?;
            let config = load_config(&cli)?;
            let target = restore_target(side, conn, &config)?;
            let mut audit = audit(&cli, &config, argv)?;
            let policy = policy(confirm_server, "restore into the server");
            let outcome = lifeboat_core::recover::restore::run(
                &r,
                id,
                target,
                &policy,
                opts,
                &mut audit,
                progress::sink(cli.json),
            )
            .await?;
            if cli.json {
                print_json(&outcome);
            } else {
                render::restore(&outcome);
            }
            Ok(0)
        }
        Command::Prune { repo, opts } => {
            let r = open_repo_with(&cli, repo, false).await?;
            let outcome = lifeboat_core::protect::prune::run(&r, opts).await?;
            if cli.json {
                print_json(&outcome);
            } else {
                render::prune(&outcome);
            }
            Ok(0)
        }
        Command::Undelete {
            file, output, conn, ..
        } => {
            let table = file.definition(&cli).await?;
            let done = lifeboat_core::forensic::undelete(
                &file.ibd,
                &table,
                &output.out,
                output.format,
                file.index_id,
            )?;
            let loaded = output.load(&cli, conn, argv, &done.output).await?;
            print_recovered(&cli, &done, &done.output, loaded.as_ref(), || {
                render::undeleted(&done)
            });
            Ok(0)
        }
        Command::Undrop {
            datadir,
            innodb_dir,
            image,
            table,
            schema,
            output,
            index_id,
            grep,
            conn,
            backup,
            ..
        } => {
            if datadir.is_none() && !innodb_dir.is_empty() {
                return Err(usage(
                    "--innodb-dir names a datadir's files kept elsewhere: give --datadir too"
                        .into(),
                ));
            }
            // Without either, undrop rebuilds it from the dictionary records in the sources.
            let def = match schema {
                Some(s) => Some(read_schema(s)?),
                None => {
                    let (db, name) = split_table(table)?;
                    backup.definition(&cli, &db, &name).await?
                }
            };
            let source = match (datadir, image) {
                (Some(d), _) => {
                    lifeboat_core::forensic::Source::Datadir(d.clone(), innodb_dir.clone())
                }
                (None, Some(i)) => lifeboat_core::forensic::Source::Image(i.clone()),
                (None, None) => return Err(usage("give --datadir or --image".into())),
            };
            let done = lifeboat_core::forensic::undrop(
                &source,
                table,
                def.as_ref(),
                &output.out,
                output.format,
                *index_id,
                grep.as_deref(),
            )?;
            let loaded = output.load(&cli, conn, argv, &done.output).await?;
            print_recovered(&cli, &done, &done.output, loaded.as_ref(), || {
                render::undropped(&done)
            });
            Ok(0)
        }
        Command::Salvage {
            file, output, conn, ..
        } => {
            let def = file.definition(&cli).await?;
            let done = lifeboat_core::forensic::salvage(
                &file.ibd,
                &def,
                &output.out,
                output.format,
                file.index_id,
            )?;
            let lost = done.damaged.iter().any(|p| p.lost);
            let loaded = output.load(&cli, conn, argv, &done.output).await?;
            print_recovered(&cli, &done, &done.output, loaded.as_ref(), || {
                render::salvaged(&done)
            });
            Ok(u8::from(lost))
        }
        Command::Rescue {
            datadir,
            out,
            schema,
            settings,
            start_timeout,
            format,
            to,
            conn,
            ..
        } => {
            eprintln!("{}\n", lifeboat_core::forensic::rescue::FIRST_RESPONSE);
            let opts = lifeboat_core::forensic::rescue::RescueOptions {
                datadir: datadir.clone(),
                out: out.clone(),
                schema: schema.clone(),
                settings: settings.clone(),
                start_timeout: std::time::Duration::from_secs(*start_timeout),
                format: *format,
                mysqld: to.side.mysqld.clone(),
            };
            let done =
                lifeboat_core::forensic::rescue::run(&opts, progress::sink(cli.json)).await?;
            let incomplete = done.tables.iter().any(|t| {
                t.origin == lifeboat_core::forensic::rescue::Origin::Lost
                    || t.pages_lost.unwrap_or(0) > 0
                    || t.rows_lost > 0
            });
            // Every table recovered goes into a database of its own name.
            let items: Vec<(String, lifeboat_core::forensic::recovered::Written)> = done
                .tables
                .iter()
                .filter_map(|t| Some((t.database.clone(), t.output.clone()?)))
                .collect();
            let loaded = to.run(&cli, conn, argv, &items).await?;
            #[derive(Serialize)]
            struct Rescued<'a> {
                #[serde(flatten)]
                done: &'a lifeboat_core::forensic::rescue::Rescue,
                #[serde(skip_serializing_if = "Option::is_none")]
                loaded: Option<&'a lifeboat_core::forensic::recovered::Loaded>,
            }
            if cli.json {
                print_json(&Rescued {
                    done: &done,
                    loaded: loaded.as_ref(),
                });
            } else {
                render::rescue(&done);
                if let Some(l) = &loaded {
                    render::load_done(l);
                }
            }
            Ok(u8::from(incomplete))
        }
        Command::Innodb(InnodbCommand::Inspect { file }) => {
            let report = lifeboat_core::forensic::inspect(file)?;
            if cli.json {
                print_json(&report);
            } else {
                render::innodb_inspect(file, &report);
            }
            Ok(u8::from(report.invalid_pages > 0))
        }
        Command::Binlog(BinlogCommand::Verify { files, archived }) => {
            let (tmp, files) = materialize(&cli, archived, files).await?;
            let mut verdicts = lifeboat_core::detect::events::verify(&files);
            if let (Some(loc), Some(_)) = (&archived.repo, &tmp) {
                // Name the archived file, not its temporary copy.
                for v in &mut verdicts {
                    let name = Path::new(&v.file)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned());
                    v.file = format!("{loc}: {}", name.unwrap_or_default());
                }
            }
            if cli.json {
                for v in &verdicts {
                    println!("{}", serde_json::to_string(v).unwrap_or_default());
                }
            } else {
                render::binlog_verdicts(&verdicts);
            }
            Ok(if verdicts.iter().all(|v| v.ok) { 0 } else { 1 })
        }
        Command::Binlog(BinlogCommand::Show {
            files,
            archived,
            start_datetime,
            stop_datetime,
            time_zone,
            start_position,
            stop_position,
            include_gtids,
            exclude_gtids,
            databases,
            tables,
        }) => {
            let tz = match time_zone {
                Some(name) => jiff::tz::TimeZone::get(name)
                    .map_err(|e| usage(format!("--time-zone {name}: {e}")))?,
                None => jiff::tz::TimeZone::system(),
            };
            let when =
                |flag: &str, v: &Option<String>| -> Result<Option<jiff::Timestamp>, Failure> {
                    v.as_deref()
                        .map(|t| parse_time(t, &tz).map_err(|e| usage(format!("{flag} {t}: {e}"))))
                        .transpose()
                };
            let gtids = |flag: &str,
                         v: &Option<String>|
             -> Result<Option<lifeboat_binlog::GtidSet>, Failure> {
                v.as_deref()
                    .map(|t| t.parse().map_err(|e| usage(format!("{flag}: {e}"))))
                    .transpose()
            };
            let filter = lifeboat_core::detect::events::Filter {
                start_time: when("--start-datetime", start_datetime)?,
                stop_time: when("--stop-datetime", stop_datetime)?,
                start_position: *start_position,
                stop_position: *stop_position,
                include_gtids: gtids("--include-gtids", include_gtids)?,
                exclude_gtids: gtids("--exclude-gtids", exclude_gtids)?,
                databases: databases.clone(),
                tables: tables.clone(),
            };
            let (_tmp, files) = materialize(&cli, archived, files).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            let json = cli.json;
            let result = lifeboat_core::detect::events::show(&files, &filter, |ev| {
                if json {
                    serde_json::to_writer(&mut out, ev).map_err(std::io::Error::other)?;
                    out.write_all(b"\n")
                } else {
                    render::binlog_event(&mut out, ev)
                }
            });
            let flushed = out.flush();
            drop(out);
            let summary = match result {
                // A closed pipe (`| head`) is not an error.
                Err(Error::Binlog(m)) if m.contains("Broken pipe") => return Ok(0),
                other => other?,
            };
            if let Err(e) = flushed
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(Error::Binlog(format!("writing output: {e}")).into());
            }
            for (file, at) in &summary.truncated {
                eprintln!(
                    "note: {file} ends in an incomplete event; its complete transactions end at offset {at}"
                );
            }
            Ok(0)
        }
        Command::Journal { limit } => {
            let config = load_config(&cli)?;
            let entries = Journal::read(&journal_path(&cli, &config)).map_err(Error::from)?;
            let skip = limit.map_or(0, |n| entries.len().saturating_sub(n));
            let shown = entries.get(skip..).unwrap_or_default();
            if cli.json {
                for e in shown {
                    println!("{}", serde_json::to_string(e).unwrap_or_default());
                }
            } else {
                render::journal(shown);
            }
            Ok(0)
        }
    }
}

fn main() -> ExitCode {
    // Output piped into `head` ends quietly when the reader leaves, as Unix tools do. Rust
    // ignores SIGPIPE (which keeps a write to a closed server socket an error, not a silent
    // death), so printing to a closed pipe panics: that one panic becomes exit 141.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload_as_str().unwrap_or_default();
        if msg.starts_with("failed printing to std") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        hook(info);
    }));
    let argv: Vec<String> = std::env::args().collect();
    if let Err(msg) = reject_password_on_argv(&argv) {
        eprintln!("error: {msg}");
        eprintln!(
            "hint: use -p to be asked, --password-file FILE, LIFEBOAT_PASSWORD, or an option file"
        );
        return ExitCode::from(2);
    }
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            if e.use_stderr() {
                eprint!("{}", mask_after_password_flags(&text, &argv));
            } else {
                print!("{text}");
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    // A thread per core: a backup's or restore's connections are served in parallel (their
    // compression and decompression run on the blocking pool either way).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let journal_args = argv.into_iter().skip(1).collect();
    match runtime.block_on(run(cli, journal_args)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", f.message);
            if let Some(h) = f.hint {
                eprintln!("hint: {h}");
            }
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn password_values_are_rejected() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(reject_password_on_argv(&v(&["lifeboat", "check", "-psecret"])).is_err());
        assert!(reject_password_on_argv(&v(&["lifeboat", "check", "--password=secret"])).is_err());
        assert!(reject_password_on_argv(&v(&["lifeboat", "check", "-p"])).is_ok());
        assert!(
            reject_password_on_argv(&v(&["lifeboat", "check", "--password-file", "f"])).is_ok()
        );
        assert!(reject_password_on_argv(&v(&["lifeboat", "check", "--port", "1"])).is_ok());
    }

    #[test]
    fn a_value_after_the_password_flag_is_never_echoed() {
        for flag in ["-p", "--password"] {
            let argv: Vec<String> = ["lifeboat", "check", flag, "secret123"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let e = Cli::try_parse_from(&argv)
                .err()
                .expect("an unexpected argument");
            let text = mask_after_password_flags(&e.render().to_string(), &argv);
            assert!(!text.contains("secret123"), "{text}");
            assert!(text.contains("********"), "{text}");
        }
    }
}
