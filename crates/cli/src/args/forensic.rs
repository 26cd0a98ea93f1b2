//! Recover without a backup: from InnoDB files.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use lifeboat_core::forensic::recovered::Format;
use lifeboat_core::target::ConnArgs;

use super::HelpFlag;
use super::shared::{BackupSchema, LoadTo, RecoveredOut, TablespaceArgs};

#[derive(Subcommand)]
pub enum InnodbCommand {
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

/// `lifeboat undelete` and `lifeboat salvage`: one tablespace in, recovered rows out.
#[derive(Args)]
pub struct FromTablespace {
    #[command(flatten)]
    pub file: TablespaceArgs,
    #[command(flatten)]
    pub output: RecoveredOut,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}

/// `lifeboat undrop`.
#[derive(Args)]
pub struct Undrop {
    /// A datadir: its ibdata files, undo tablespaces and .ibd files are scanned, and its
    /// redo log (ib_logfile*, #innodb_redo) is read for the DROP's undo records, which name
    /// the dropped table's index after purge.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "image",
        required_unless_present = "image"
    )]
    pub datadir: Option<PathBuf>,
    /// A directory outside the datadir where the server kept some of its InnoDB files:
    /// the redo log (innodb_log_group_home_dir), undo tablespaces
    /// (innodb_undo_directory) or ibdata files (innodb_data_home_dir). Repeatable.
    #[arg(long, value_name = "DIR")]
    pub innodb_dir: Vec<PathBuf>,
    /// Any file holding the pages.
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// The table, as db.name.
    #[arg(long, value_name = "DB.NAME")]
    pub table: String,
    /// The table's CREATE TABLE statement (or --schema-from-backup). Without either, the
    /// definition is rebuilt from the dictionary records in the sources (those of the
    /// dropped table while purge has not cleared them): column types and keys, but not
    /// DECIMAL precision or ENUM/SET values, which InnoDB does not record (such columns
    /// keep their stored bytes or numbers; the CREATE TABLE says so in a COMMENT).
    #[arg(long, value_name = "DDL_FILE")]
    pub schema: Option<PathBuf>,
    #[command(flatten)]
    pub backup: BackupSchema,
    #[command(flatten)]
    pub output: RecoveredOut,
    /// Read this index (from the candidates a previous run listed) instead of the best
    /// fit.
    #[arg(long, value_name = "ID")]
    pub index_id: Option<u64>,
    /// A value known to be in the table (a name, an e-mail): prefer the index whose pages
    /// hold it. For when the dictionary no longer names the dropped table's index.
    #[arg(long, value_name = "VALUE")]
    pub grep: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}

/// `lifeboat rescue`.
#[derive(Args)]
pub struct Rescue {
    /// The datadir the server refuses to start from (read only).
    #[arg(long, value_name = "DIR")]
    pub datadir: PathBuf,
    /// A new (or empty) directory for the copy, the tables and the report.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// CREATE TABLE statements for tables salvaged when the side instance cannot start
    /// (else each table's .frm file is read, or a MySQL 8 tablespace's own definition).
    #[arg(long, value_name = "DDL_FILE")]
    pub schema: Option<PathBuf>,
    /// A setting for the side instance, as in my.cnf (repeatable): the original server's
    /// innodb_log_file_size, lower_case_table_names, innodb_undo_tablespaces...
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Seconds one start attempt may take (crash recovery of a large redo log is slow).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub start_timeout: u64,
    /// How the tables are written (in OUT/<db>/).
    #[arg(long, value_enum, default_value_t = Format::Sql)]
    pub format: Format,
    #[command(flatten)]
    pub to: LoadTo,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}
