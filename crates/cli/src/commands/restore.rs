//! `lifeboat restore`: a backup, or a point in time.

use lifeboat_core::recover::pitr::{self, StopAt, StopFlags};
use lifeboat_core::recover::restore;

use crate::args::recover::Restore;
use crate::context::{Ctx, Failure, usage};
use crate::{open, render};

pub async fn run(ctx: &Ctx, a: &Restore) -> Result<u8, Failure> {
    let stop = StopAt::from_flags(&StopFlags {
        until: a.until.as_deref(),
        until_gtid: a.until_gtid.as_deref(),
        until_position: a.until_position.as_deref(),
        before_incident: a.before_incident.as_deref(),
        time_zone: a.time_zone.as_deref(),
    })?;
    let r = open::open_repo(ctx, &a.repo).await?;
    let config = ctx.config()?;
    let target = ctx.restore_target(&a.side, &a.conn, &config)?;
    let policy = a.confirm.policy("restore into the server");
    let Some(stop) = stop else {
        let Some(id) = &a.id else {
            return Err(usage("no backup id and no point in time".into()));
        };
        let mut audit = ctx.audit(&config)?;
        let outcome = restore::run(
            &r,
            id,
            target,
            &policy,
            &a.opts,
            &mut audit,
            &ctx.reporting(),
        )
        .await?;
        ctx.show(&outcome, render::restore);
        return Ok(0);
    };
    let server = a.archived_server.as_deref().map(lifeboat_repo::server_key);
    let staging = pitr::staging_dir(a.side.sandbox.as_deref())?;
    let plan = pitr::plan(&r, server.as_deref(), &stop, staging.path()).await?;
    if a.dry_run {
        ctx.show(&plan, render::pitr_plan);
        return Ok(0);
    }
    let mut audit = ctx.audit(&config)?;
    let outcome = pitr::run(
        &r,
        plan,
        staging.path(),
        target,
        &policy,
        &a.opts,
        &mut audit,
        &ctx.reporting(),
    )
    .await?;
    ctx.show(&outcome, render::pitr);
    Ok(0)
}
