//! `lifeboat freeze` and `lifeboat thaw`.

use lifeboat_core::contain::freeze;

use lifeboat_core::contain::freeze::{FreezeOptions, ThawOptions};

use crate::args::contain::OnServer;
use crate::context::{Ctx, Failure};
use crate::render;

pub async fn freeze(ctx: &Ctx, a: &OnServer<FreezeOptions>) -> Result<u8, Failure> {
    let (target, mut audit) = ctx.prepare_write(&a.conn)?;
    let policy = a.confirm.policy("set the server read-only");
    let outcome = freeze::freeze(&target, &policy, &a.opts, &mut audit).await?;
    ctx.show(&outcome, render::freeze);
    Ok(0)
}

pub async fn thaw(ctx: &Ctx, a: &OnServer<ThawOptions>) -> Result<u8, Failure> {
    let (target, mut audit) = ctx.prepare_write(&a.conn)?;
    let policy = a.confirm.policy("make the server writable");
    let outcome = freeze::thaw(&target, &policy, &a.opts, &mut audit).await?;
    ctx.show(&outcome, render::freeze);
    Ok(0)
}
