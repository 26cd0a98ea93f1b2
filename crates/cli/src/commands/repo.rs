//! `lifeboat repo init|unlock`.

use lifeboat_core::Error;

use crate::args::protect::RepoCommand;
use crate::context::{Ctx, Failure};
use crate::{open, render};

pub async fn run(ctx: &Ctx, cmd: &RepoCommand) -> Result<u8, Failure> {
    match cmd {
        RepoCommand::Init { repo, encrypt } => {
            let (loc, r) = open::init_repo(ctx, repo, *encrypt).await?;
            ctx.show(&r.config, |c| render::repo_created(&loc, c));
        }
        RepoCommand::Unlock { repo } => {
            let r = open::open_repo_to_write(ctx, repo).await?;
            let removed = r.unlock().await.map_err(Error::from)?;
            ctx.show(&removed, |l| render::unlocked(l));
        }
    }
    Ok(0)
}
