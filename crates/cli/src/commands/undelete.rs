//! `lifeboat undelete`: deleted rows from a tablespace.

use crate::args::forensic::FromTablespace;
use crate::context::{Ctx, Failure};
use crate::{recovered, render};

pub async fn run(ctx: &Ctx, a: &FromTablespace) -> Result<u8, Failure> {
    let table = a.file.definition(ctx).await?;
    let out = &a.output;
    let done = lifeboat_core::forensic::undelete(&a.file.with(&table), &out.out, out.format)?;
    let loaded = out.load(ctx, &a.conn, &done.output).await?;
    recovered::show(ctx, &done, &done.output, loaded.as_ref(), render::undeleted);
    Ok(0)
}
