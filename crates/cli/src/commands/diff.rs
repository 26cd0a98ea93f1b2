//! `lifeboat diff`.

use lifeboat_core::verify::diff::{self, Options};
use lifeboat_server::ConnectOptions;

use crate::args::verify::Diff;
use crate::context::{Ctx, Failure, usage};
use crate::render;

pub async fn run(ctx: &Ctx, a: &Diff) -> Result<u8, Failure> {
    let config = ctx.config()?;
    let side = |dsn: &str| -> Result<ConnectOptions, Failure> {
        let args = lifeboat_core::target::conn_args_from_dsn(dsn).map_err(usage)?;
        Ok(ctx.resolve(&args, &config)?)
    };
    let (s, t) = (side(&a.source)?, side(&a.target)?);
    let opts = Options {
        databases: a.databases.clone(),
        tables: a.tables.clone(),
        chunk_rows: a.chunk_rows,
        max_listed: a.max_rows,
        threads: a.threads,
    };
    let report = diff::run(&s, &t, &opts).await?;
    ctx.show(&report, render::diff);
    Ok(u8::from(!report.equal))
}
