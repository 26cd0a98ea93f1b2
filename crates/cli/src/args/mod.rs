//! The command line: every flag and its help, apart from what the commands do
//! (`crate::commands`). Arguments are grouped by runbook phase, as `lifeboat --help` lists
//! the commands; groups several commands share (repository, side instance, recovered output)
//! are in [`shared`], defined once.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub mod contain;
pub mod detect;
pub mod forensic;
pub mod protect;
pub mod recover;
pub mod shared;
pub mod target;
pub mod verify;

pub const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 failure (or `check` found a FAIL), 2 usage error, 3 refused for safety.
Passwords are never taken on the command line: use -p (prompt), --password-file FILE,
the LIFEBOAT_PASSWORD environment variable, or `password=` in an option file.";

pub const RECOVERED_HELP: &str = "\
Loading the result: --load puts the table into the server the connection options name
(a new table in --database, default `recovered`; prompts for the server's identity or
takes --confirm-server), --sandbox DIR into a new side instance. Row counts are checked
after the load; a failed load drops the table it created.
Exit codes: 0 ok, 1 failure (or rows lost), 2 usage error, 3 refused for safety.";

/// The top-level help: commands grouped by runbook phase, one line each (each command's
/// `--help` has the long text). A test checks that every command is listed here.
const HELP_TEMPLATE: &str = "\
{before-help}{about-with-newline}
{usage-heading} {usage}

Which server, and side instances:
  check       Audit a server's disaster-recovery readiness (and its repository)
  sandbox     Start, stop and list side instances for restores and drills
  journal     Print the audit journal of every action taken on a server

Protect:
  repo        Create a repository, or remove its stale locks
  backup      Consistent, parallel, compressed logical backup into the repository
  archive     Archive the server's binlogs continuously, byte for byte
  backups     List the backups in the repository
  binlogs     List archived binlogs per server, with time and GTID ranges and holes
  verify      Check backups: objects present, or read and hashed with --read-data
  prune       Remove old backups by retention rules

Detect:
  incidents   Find destructive events (DROP, TRUNCATE, mass DELETE/UPDATE) in binlogs
  binlog      Read binlog files: show decoded events, or verify them

Contain:
  freeze      Set the server read-only and list the sessions still writing
  thaw        Make the server writable again

Recover:
  restore     Restore a backup, or recover to a point in time, into a side instance or a server
  flashback   Undo an incident's row changes in production, keeping the writes made since
  recover     Bring tables back as they were before an incident, merged into production

Recover without a backup (InnoDB files):
  undelete    Recover deleted rows from a table's tablespace
  undrop      Recover a dropped table's rows from a datadir or any disk image
  salvage     Every readable row of a damaged tablespace
  rescue      Crash rescue for a datadir the server refuses to start from
  innodb      Inspect InnoDB files directly

Verify:
  diff        Compare the tables of two servers, chunk by chunk and row by row

  demo        The whole runbook on sandbox servers, in about a minute
  help        Print this message or the help of the given command

Options:
{options}{after-help}";

/// lifeboat protects MySQL and MariaDB against data loss and gets the data back.
#[derive(Parser)]
#[command(name = "lifeboat", version, after_help = AFTER_HELP, help_template = HELP_TEMPLATE)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

/// Flags every command takes.
#[derive(Args)]
pub struct Global {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// lifeboat's config file (named servers, journal location).
    #[arg(long, global = true, value_name = "FILE", env = "LIFEBOAT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Audit journal file [default: ~/.local/state/lifeboat/journal.jsonl].
    #[arg(long, global = true, value_name = "FILE", env = "LIFEBOAT_JOURNAL")]
    pub journal: Option<PathBuf>,
}

/// `-h` is the host, as with the mysql client; help is `--help`. Flattened into every
/// command that takes connection flags, with the exit codes after its help.
#[derive(Args)]
#[command(disable_help_flag = true, after_help = AFTER_HELP)]
pub struct HelpFlag {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help, help_heading = None::<&str>, display_order = 10_000)]
    help: Option<bool>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Audit a server's disaster-recovery readiness: binlog, durability, retention, GTIDs,
    /// keys, engines, and the privileges each lifeboat command needs. Run it before you need
    /// a recovery. With a repository (--repo, LIFEBOAT_REPO or the config) also: the age of
    /// the server's newest backup, gaps in its archived binlogs, and whether the archive
    /// keeps up. Prints the server identity that `--confirm-server` takes. Exit 1 if
    /// anything FAILs.
    Check(detect::Check),
    /// Stop the bleeding: set the server read-only (super_read_only on MySQL), then list
    /// the sessions still connected and open write transactions. Journaled.
    Freeze(contain::OnServer<lifeboat_core::contain::freeze::FreezeOptions>),
    /// Undo `freeze`: make the server writable again. Refuses on a replica without --force.
    /// Journaled.
    Thaw(contain::OnServer<lifeboat_core::contain::freeze::ThawOptions>),
    /// Side instances: throwaway servers on 127.0.0.1 for restores, drills and experiments.
    #[command(subcommand)]
    Sandbox(target::SandboxCommand),
    /// Manage a backup repository (a local directory, or s3://BUCKET/PREFIX on any
    /// S3-compatible store).
    #[command(subcommand)]
    Repo(protect::RepoCommand),
    /// Take a consistent, parallel, compressed logical backup into the repository. DDL is
    /// blocked while the schema is read (BACKUP STAGE BLOCK_DDL on MariaDB, LOCK INSTANCE FOR
    /// BACKUP on MySQL 8); commits are blocked only while the snapshots open and the binlog
    /// position and GTID state are read (BACKUP STAGE BLOCK_COMMIT, or FLUSH TABLES WITH READ
    /// LOCK). Every lock wait is bounded by --lock-wait.
    Backup(protect::Backup),
    /// Archive the server's binary logs into the repository, byte for byte, as a replica
    /// would read them. Follows the server (RPO about --flush-interval), reconnecting after
    /// restarts and dropped connections; resumes from the last durable byte after its own
    /// crash. Holes (binlogs purged before they were archived, INCIDENT events) are recorded.
    /// With --once: archive what the server has and exit (1 if a hole was found).
    Archive(protect::Archive),
    /// Find the destructive events in binlogs: DROP TABLE/DATABASE, TRUNCATE, DELETE/UPDATE
    /// of many rows or without WHERE, ALTER … DROP COLUMN, RENAME onto an existing name.
    /// Each with a stable id (for `restore --before-incident`), exact time, GTID, the
    /// positions of the event and of its transaction, thread id, statement and row counts.
    /// Reads FILE... in order, or with --repo every archived binlog of the server.
    Incidents(detect::Incidents),
    /// The whole runbook on a sandbox, in about a minute: a production stand-in with Sakila
    /// and binlogs, a backup, continuous archiving under an application's writes, then an
    /// accident (DELETE without WHERE, DROP TABLE with foreign key checks off). lifeboat
    /// finds the incidents, freezes the server, recovers to just before the first one in a
    /// side instance, proves the recovered tables equal the state before the accident, and
    /// prints the timeline with the measured RPO and RTO. Leaves nothing running.
    Demo(Demo),
    /// Compare the tables of two servers: chunked checksums over key ranges, then the rows of
    /// differing chunks by key (missing, extra, changed; the first --max-rows listed, all
    /// counted). Tables without a usable key are compared with CHECKSUM TABLE. Exit 1 when
    /// anything differs.
    Diff(verify::Diff),
    /// List archived binlogs per server: files, sizes, time and GTID ranges, and holes.
    /// Exit 1 if any server's archive has a hole.
    Binlogs(protect::Binlogs),
    /// List the backups in the repository; interrupted ones are shown as incomplete.
    Backups(protect::Backups),
    /// Check backups: every object present with its size; with --read-data every object is
    /// read, hashed (SHA-256) and decompressed.
    Verify(protect::Verify),
    /// Remove old backups by retention rules, and interrupted (incomplete) ones. Decides from
    /// the time in each backup id, so an encrypted repository needs no passphrase. At least
    /// one --keep-* rule is required; --dry-run shows the plan.
    Prune(protect::Prune),
    /// Restore a backup into a new side instance (--sandbox DIR) or a named server. A server
    /// that already has the databases or other client sessions is refused unless --force.
    /// Point in time (--until, --until-gtid, --until-position, --before-incident): the newest
    /// backup before the target is restored, then the archived binlogs are replayed from its
    /// exact position to the last transaction that committed before the target (never half a
    /// transaction): by a side instance's own replication SQL thread (fastest), or into a
    /// named server through one session that keeps every event's session state and GTID;
    /// --dry-run prints that plan. Journaled.
    Restore(recover::Restore),
    /// Undo the row changes of an incident's transaction (--incident ID), or of every
    /// transaction in a range (--from/--to), newest first: deleted rows put back, updated rows
    /// set back, inserted rows removed. Reads archived binlogs (--repo) or local files in one
    /// pass, with memory bounded whatever the range. Each row is put back only if production
    /// still holds what the incident left; otherwise it is a conflict, listed and never
    /// overwritten. Rows go in as row events, so triggers do not fire. --apply undoes in the
    /// server (guarded, journaled, resumable); --out writes a reviewable SQL script.
    Flashback(recover::Flashback),
    /// Bring the tables an incident damaged back as they were just before it (or before
    /// --until…), into the production server, keeping the writes made since. side-by-side
    /// (default) and replace rebuild the tables in a side instance from the newest backup and
    /// the archived binlogs (--repo), copy them exactly (no trigger fires while they load) and
    /// prove the copy by CHECKSUM TABLE before placing it; merge takes back the incident's own
    /// row changes, per row and column. Guarded and journaled; --freeze holds writes during it;
    /// --dry-run shows the plan. Exit 1 when merge left conflicts.
    Recover(recover::Recover),
    /// Read binlog files: decode events and row images (`show`), or check them (`verify`).
    #[command(subcommand)]
    Binlog(detect::BinlogCommand),
    /// Read InnoDB files directly, without a server (forensics: a tablespace the server
    /// cannot open, a file without a backup).
    #[command(subcommand)]
    Innodb(forensic::InnodbCommand),
    /// Recover deleted rows from a table's tablespace without a server: the delete-marked
    /// records purge has not removed yet (stop writes and copy the .ibd as soon as you can:
    /// purge and new inserts destroy them) and the records on the pages' free lists. Writes
    /// OUT/<table>.sql (the CREATE TABLE, then the rows as INSERTs) and OUT/report.json (per
    /// page: records found, rows recovered, what could not be decoded). Reads the file only.
    #[command(after_help = RECOVERED_HELP)]
    Undelete(forensic::FromTablespace),
    /// Every readable row of a damaged tablespace (one the server refuses to open, or a copy
    /// with overwritten pages): reads each page in place, takes the rows of every leaf page of
    /// the table's clustered index whose records decode with the definition, and lists the
    /// damaged pages with what was lost on them. Writes OUT/<table>.sql and OUT/report.json;
    /// exit 1 when pages were lost. Reads the file only.
    #[command(after_help = RECOVERED_HELP)]
    Salvage(forensic::FromTablespace),
    /// Recover a dropped table's rows from wherever its pages still are: the system
    /// tablespace of a datadir (file_per_table=OFF), or any image (a disk or partition
    /// image, free blocks, a copy; file_per_table=ON). Finds INDEX pages at any byte offset,
    /// keeps those whose records fit the table's definition byte for byte, reads the
    /// best-fitting index (all candidates are listed) from the newest copy of each page,
    /// each row once. Writes OUT/<table>.sql and OUT/report.json. Reads the sources only:
    /// stop the server or image the disk first, new writes overwrite free pages.
    #[command(after_help = RECOVERED_HELP)]
    Undrop(forensic::Undrop),
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
    Rescue(forensic::Rescue),
    /// Print the audit journal: every action lifeboat took on a server, oldest first.
    Journal(target::Journal),
}

/// `lifeboat demo`.
#[derive(Args)]
pub struct Demo {
    /// Work in this directory (kept afterwards) instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The server binary both instances run, e.g. a MySQL 9 mysqld [default:
    /// $LIFEBOAT_MYSQLD, else the first mariadbd or mysqld found].
    #[arg(long, value_name = "PATH")]
    pub mysqld: Option<PathBuf>,
}

/// The command line, or the exit code after clap printed help, a version or an error. A
/// password value is refused before clap sees it, and any word typed after `-p` is masked in
/// clap's errors, so no error path echoes a secret.
pub fn parse(argv: &[String]) -> Result<Cli, u8> {
    if let Err(msg) = reject_password_on_argv(argv) {
        eprintln!("error: {msg}");
        eprintln!(
            "hint: use -p to be asked, --password-file FILE, LIFEBOAT_PASSWORD, or an option file"
        );
        return Err(2);
    }
    Cli::try_parse_from(argv).map_err(|e| {
        let text = e.render().to_string();
        if e.use_stderr() {
            eprint!("{}", mask_after_password_flags(&text, argv));
        } else {
            print!("{text}");
        }
        u8::try_from(e.exit_code()).unwrap_or(2)
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_grouped_help_lists_every_command() {
        for c in Cli::command().get_subcommands() {
            let line = format!("\n  {:<12}", c.get_name());
            assert!(
                HELP_TEMPLATE.contains(&line),
                "{} is missing from HELP_TEMPLATE",
                c.get_name()
            );
        }
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
