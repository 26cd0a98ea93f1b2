//! `lifeboat rescue`: tables out of a datadir the server refuses to start from.

use lifeboat_core::forensic::recovered::Written;
use lifeboat_core::forensic::rescue::{self, Origin, RescueOptions};

use crate::args::forensic::Rescue;
use crate::context::{Ctx, Failure};
use crate::recovered::Recovered;
use crate::render;

pub async fn run(ctx: &Ctx, a: &Rescue) -> Result<u8, Failure> {
    eprintln!("{}\n", rescue::FIRST_RESPONSE);
    let opts = RescueOptions {
        datadir: a.datadir.clone(),
        out: a.out.clone(),
        schema: a.schema.clone(),
        settings: a.settings.clone(),
        start_timeout: std::time::Duration::from_secs(a.start_timeout),
        format: a.format,
        mysqld: a.to.side.mysqld.clone(),
    };
    let done = rescue::run(&opts, &ctx.reporting()).await?;
    let incomplete = done
        .tables
        .iter()
        .any(|t| t.origin == Origin::Lost || t.pages_lost.unwrap_or(0) > 0 || t.rows_lost > 0);
    // Every table recovered goes into a database of its own name.
    let items: Vec<(String, Written)> = done
        .tables
        .iter()
        .filter_map(|t| Some((t.database.clone(), t.output.clone()?)))
        .collect();
    let loaded = a.to.run(ctx, &a.conn, &items).await?;
    let shown = Recovered {
        done: &done,
        loaded: loaded.as_ref(),
    };
    ctx.show(&shown, |r| {
        render::rescue(r.done);
        if let Some(l) = r.loaded {
            render::load_done(l);
        }
    });
    Ok(u8::from(incomplete))
}
