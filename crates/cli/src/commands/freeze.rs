//! `lifeboat freeze` and `lifeboat thaw`.

use lifeboat_core::contain::freeze;

use crate::args::contain::{Freeze, Thaw};
use crate::context::{Ctx, Failure, policy};
use crate::render;

pub async fn freeze(ctx: &Ctx, a: &Freeze) -> Result<u8, Failure> {
    let (target, mut audit) = ctx.prepare_write(&a.conn)?;
    let policy = policy(&a.confirm_server, "set the server read-only");
    let outcome = freeze::freeze(&target, &policy, &a.opts, &mut audit).await?;
    ctx.show(&outcome, render::freeze);
    Ok(0)
}

pub async fn thaw(ctx: &Ctx, a: &Thaw) -> Result<u8, Failure> {
    let (target, mut audit) = ctx.prepare_write(&a.conn)?;
    let policy = policy(&a.confirm_server, "make the server writable");
    let outcome = freeze::thaw(&target, &policy, &a.opts, &mut audit).await?;
    ctx.show(&outcome, render::freeze);
    Ok(0)
}
