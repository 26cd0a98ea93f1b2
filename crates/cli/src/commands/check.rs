//! `lifeboat check`: the readiness report.

use lifeboat_core::detect::check::{self, Level};

use crate::args::detect::Check;
use crate::context::{Ctx, Failure};
use crate::{open, render};

pub async fn run(ctx: &Ctx, a: &Check) -> Result<u8, Failure> {
    let config = ctx.config()?;
    let opts = ctx.resolve(&a.conn, &config)?;
    let repo = match a.repo.repo.is_some() || config.repo.is_some() {
        true => Some(open::open_repo(ctx, &a.repo).await?),
        false => None,
    };
    let report = check::audit(&opts, repo.as_ref()).await?;
    ctx.show(&report, |r| render::check(r, &opts.endpoint.to_string()));
    Ok(u8::from(report.worst() == Level::Fail))
}
