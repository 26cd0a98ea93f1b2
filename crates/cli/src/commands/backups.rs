//! `lifeboat backups`: the backups in the repository.

use lifeboat_core::Error;

use crate::args::protect::Backups;
use crate::context::{Ctx, Failure};
use crate::{open, render};

pub async fn run(ctx: &Ctx, a: &Backups) -> Result<u8, Failure> {
    let r = open::open_repo(ctx, &a.repo).await?;
    let list = r.list_backups().await.map_err(Error::from)?;
    ctx.show(&list, |l| render::backups(l));
    Ok(0)
}
