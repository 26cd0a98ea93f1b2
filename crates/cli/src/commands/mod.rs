//! What each command does with its arguments: call one core function, render its outcome.
//! One file per command; [`run`] dispatches.

use crate::args::Command;
use crate::context::{Ctx, Failure};

mod archive;
mod backup;
mod backups;
mod binlog;
mod binlogs;
mod check;
mod demo;
mod diff;
mod flashback;
mod freeze;
mod incidents;
mod innodb;
mod journal;
mod prune;
mod recover;
mod repo;
mod rescue;
mod restore;
mod salvage;
mod sandbox;
mod undelete;
mod undrop;
mod verify;

/// Runs the command; the exit code on success (1 when it found something wrong).
pub async fn run(command: &Command, ctx: &Ctx) -> Result<u8, Failure> {
    match command {
        Command::Check(a) => check::run(ctx, a).await,
        Command::Sandbox(c) => sandbox::run(ctx, c).await,
        Command::Journal(a) => journal::run(ctx, a),
        Command::Repo(c) => repo::run(ctx, c).await,
        Command::Backup(a) => backup::run(ctx, a).await,
        Command::Archive(a) => archive::run(ctx, a).await,
        Command::Backups(a) => backups::run(ctx, a).await,
        Command::Binlogs(a) => binlogs::run(ctx, a).await,
        Command::Verify(a) => verify::run(ctx, a).await,
        Command::Prune(a) => prune::run(ctx, a).await,
        Command::Incidents(a) => incidents::run(ctx, a).await,
        Command::Binlog(c) => binlog::run(ctx, c).await,
        Command::Freeze(a) => freeze::freeze(ctx, a).await,
        Command::Thaw(a) => freeze::thaw(ctx, a).await,
        Command::Restore(a) => restore::run(ctx, a).await,
        Command::Flashback(a) => flashback::run(ctx, a).await,
        Command::Recover(a) => recover::run(ctx, a).await,
        Command::Undelete(a) => undelete::run(ctx, a).await,
        Command::Undrop(a) => undrop::run(ctx, a).await,
        Command::Salvage(a) => salvage::run(ctx, a).await,
        Command::Rescue(a) => rescue::run(ctx, a).await,
        Command::Innodb(c) => innodb::run(ctx, c),
        Command::Diff(a) => diff::run(ctx, a).await,
        Command::Demo(a) => demo::run(ctx, a).await,
    }
}
