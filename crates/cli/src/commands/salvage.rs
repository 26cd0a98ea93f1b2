//! `lifeboat salvage`: every readable row of a damaged tablespace.

use crate::args::forensic::FromTablespace;
use crate::context::{Ctx, Failure};
use crate::{recovered, render};

pub async fn run(ctx: &Ctx, a: &FromTablespace) -> Result<u8, Failure> {
    let def = a.file.definition(ctx).await?;
    let out = &a.output;
    let done = lifeboat_core::forensic::salvage(&a.file.with(&def), &out.out, out.format)?;
    let lost = done.damaged.iter().any(|p| p.lost);
    let loaded = out.load(ctx, &a.conn, &done.output).await?;
    recovered::show(ctx, &done, &done.output, loaded.as_ref(), render::salvaged);
    Ok(u8::from(lost))
}
