//! `lifeboat binlogs`: what the archive holds per server.

use crate::args::protect::Binlogs;
use crate::context::{Ctx, Failure};
use crate::{open, render};

pub async fn run(ctx: &Ctx, a: &Binlogs) -> Result<u8, Failure> {
    let r = open::open_repo_to_write(ctx, &a.repo).await?;
    let cov = lifeboat_core::protect::archive::coverage(&r).await?;
    ctx.show(&cov, |c| render::binlog_coverage(c));
    Ok(u8::from(cov.iter().any(|c| !c.gaps.is_empty())))
}
