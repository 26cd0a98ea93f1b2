//! `lifeboat backup`.

use crate::args::protect::Backup;
use crate::context::{Ctx, Failure};
use crate::{open, render};

pub async fn run(ctx: &Ctx, a: &Backup) -> Result<u8, Failure> {
    let r = open::open_repo_to_write(ctx, &a.repo).await?;
    let config = ctx.config()?;
    let target = ctx.resolve(&a.conn, &config)?;
    let outcome =
        lifeboat_core::protect::backup::run(&target, &r, &a.opts, &ctx.reporting()).await?;
    ctx.show(&outcome, render::backup);
    Ok(0)
}
