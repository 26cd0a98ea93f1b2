//! `lifeboat prune`: retention.

use crate::args::protect::Prune;
use crate::context::{Ctx, Failure};
use crate::{open, render};

pub async fn run(ctx: &Ctx, a: &Prune) -> Result<u8, Failure> {
    let r = open::open_repo_to_write(ctx, &a.repo).await?;
    let outcome = lifeboat_core::protect::prune::run(&r, &a.opts).await?;
    ctx.show(&outcome, render::prune);
    Ok(0)
}
