//! `lifeboat journal`: the audit trail.

use lifeboat_core::Error;
use lifeboat_core::target::journal::Journal;

use crate::args::target;
use crate::context::{Ctx, Failure};
use crate::render;

pub fn run(ctx: &Ctx, a: &target::Journal) -> Result<u8, Failure> {
    let config = ctx.config()?;
    let entries = Journal::read(&ctx.journal_path(&config)).map_err(Error::from)?;
    let skip = a.limit.map_or(0, |n| entries.len().saturating_sub(n));
    let shown = entries.get(skip..).unwrap_or_default();
    ctx.show_lines(shown, render::journal);
    Ok(0)
}
