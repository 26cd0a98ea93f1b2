//! `lifeboat verify`: check backups in the repository.

use lifeboat_core::Error;
use lifeboat_repo::BackupListing;

use crate::args::protect::Verify;
use crate::context::{Ctx, Failure};
use crate::{open, render};

pub async fn run(ctx: &Ctx, a: &Verify) -> Result<u8, Failure> {
    let r = open::open_repo(ctx, &a.repo).await?;
    let ids: Vec<String> = match &a.id {
        Some(id) => vec![id.clone()],
        None => r
            .list_backups()
            .await
            .map_err(Error::from)?
            .into_iter()
            .filter_map(|l| match l {
                BackupListing::Complete(m) => Some(m.id.0),
                _ => None,
            })
            .collect(),
    };
    let mut reports = Vec::new();
    for id in ids {
        reports.push(r.verify(&id, a.read_data).await.map_err(Error::from)?);
    }
    ctx.show(&reports, |r| render::verify(r));
    Ok(u8::from(reports.iter().any(|r| !r.problems.is_empty())))
}
