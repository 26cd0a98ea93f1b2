//! `lifeboat archive`.

use lifeboat_core::protect::archive::{self, ArchiveOptions};

use crate::args::protect::Archive;
use crate::context::{Ctx, Failure, usage};
use crate::{open, render};

pub async fn run(ctx: &Ctx, a: &Archive) -> Result<u8, Failure> {
    let r = open::open_repo_to_write(ctx, &a.repo).await?;
    let reporting = ctx.reporting();
    let outcome = if let Some(dir) = &a.from_dir {
        let Some(identity) = &a.as_server else {
            return Err(usage("--from-dir needs --as IDENTITY (the server the files come from, as `lifeboat check` prints it)".into()));
        };
        archive::import_dir(dir, identity, &r, &reporting).await?
    } else {
        let config = ctx.config()?;
        let target = ctx.resolve(&a.conn, &config)?;
        let opts = ArchiveOptions {
            once: a.once,
            flush_interval: std::time::Duration::from_secs_f64(a.flush_interval.max(0.01)),
            replica_server_id: a.replica_server_id.unwrap_or(0),
            ..Default::default()
        };
        archive::run(&target, &r, &opts, &reporting).await?
    };
    ctx.show(&outcome, render::archived);
    Ok(u8::from(!outcome.gaps.is_empty()))
}
