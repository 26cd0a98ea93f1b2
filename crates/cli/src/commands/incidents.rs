//! `lifeboat incidents`.

use lifeboat_core::detect::incidents::{self, Options};

use crate::args::detect::Incidents;
use crate::context::{Ctx, Failure, usage};
use crate::{open, render};

pub async fn run(ctx: &Ctx, a: &Incidents) -> Result<u8, Failure> {
    let tz = lifeboat_core::time::zone(a.time_zone.as_deref())?;
    let opts = Options {
        since: lifeboat_core::time::flag("--since", a.since.as_deref(), &tz)?,
        until: lifeboat_core::time::flag("--until", a.until.as_deref(), &tz)?,
        min_rows: a.min_rows,
        context: a.context,
    };
    let scanned = match (&a.archived.repo, a.files.is_empty()) {
        (Some(loc), true) => {
            let (r, server) = open::archived_server(ctx, &a.archived, loc).await?;
            incidents::scan_archive(&r, &server, opts).await?
        }
        (None, true) => {
            return Err(usage(
                "name binlog files, or --repo to read the archive".into(),
            ));
        }
        _ => {
            let (_tmp, paths) = open::materialize(ctx, &a.archived, &a.files).await?;
            incidents::scan_files(&paths, opts)?
        }
    };
    ctx.show(&scanned, render::incidents);
    Ok(0)
}
