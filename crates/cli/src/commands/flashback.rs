//! `lifeboat flashback`: undo an incident's row changes, in production or as a script.

use lifeboat_core::Error;
use lifeboat_core::recover::flashback::{self, Binlogs, Point, Range, script};
use lifeboat_core::target::ConnArgs;
use serde::Serialize;

use crate::args::recover::Flashback;
use crate::context::{Ctx, Failure};
use crate::{open, render};

/// What `--apply` and `--out` print: the range, then what was done.
#[derive(Serialize)]
struct Shown<'a, T: Serialize> {
    plan: &'a flashback::Summary,
    #[serde(flatten)]
    done: T,
}

pub async fn run(ctx: &Ctx, a: &Flashback) -> Result<u8, Failure> {
    let tz = lifeboat_core::time::zone(a.time_zone.as_deref())?;
    let range = match (&a.incident, &a.from) {
        (Some(id), _) => Range::Incident(id.parse().map_err(|_| Error::Argument {
            flag: "--incident",
            value: id.clone(),
            reason: "expected an id from `lifeboat incidents` (FILE:OFFSET)".into(),
        })?),
        (None, Some(from)) => {
            let point = |flag: &'static str, v: &str| {
                Point::parse(v, &tz).map_err(|reason| Error::Argument {
                    flag,
                    value: v.to_owned(),
                    reason,
                })
            };
            Range::Between {
                from: point("--from", from)?,
                to: a.to.as_deref().map(|t| point("--to", t)).transpose()?,
            }
        }
        (None, None) => unreachable_range()?,
    };
    let (plan, archive) = plan(ctx, &a.files, &a.archived, &range, &a.tables).await?;
    let reporting = ctx.reporting();
    if let Some(out) = &a.out {
        let written = if given(&a.conn) {
            let config = ctx.config()?;
            let target = ctx.resolve(&a.conn, &config)?;
            let mut conn = lifeboat_server::connect(&target)
                .await
                .map_err(Error::from)?;
            let mut audit = ctx.audit(&config)?;
            let w = script::write(
                &plan,
                script::Definitions::Server(&mut conn),
                out,
                cascades(&archive, None),
                &mut audit,
                &reporting,
            )
            .await;
            let _ = conn.disconnect().await;
            w?
        } else {
            let mut audit = ctx.audit(&ctx.config()?)?;
            script::write(
                &plan,
                script::Definitions::Metadata,
                out,
                flashback::Cascades::Unavailable,
                &mut audit,
                &reporting,
            )
            .await?
        };
        let shown = Shown {
            plan: &plan.summary,
            done: &written,
        };
        ctx.show(&shown, |s| {
            render::flashback_plan(s.plan);
            render::flashback_written(s.done);
        });
        return Ok(0);
    }
    let (target, mut audit) = ctx.prepare_write(&a.conn)?;
    let policy = a
        .confirm
        .policy("undo the incident's row changes in the server");
    let how = flashback::apply::How {
        dry_run: a.dry_run,
        merge: false,
    };
    let applied = flashback::apply::apply(
        &plan,
        &target,
        &policy,
        how,
        cascades(&archive, None),
        &mut audit,
        &reporting,
    )
    .await?;
    let conflicts = applied.conflicts_total > 0;
    let shown = Shown {
        plan: &plan.summary,
        done: &applied,
    };
    ctx.show(&shown, |s| {
        render::flashback_plan(s.plan);
        render::flashback_applied(s.done);
    });
    Ok(u8::from(conflicts))
}

/// The transactions of `range` in the binlog `files` (or the archive `archived` names), and
/// the repository and archived server when they come from one.
pub async fn plan(
    ctx: &Ctx,
    files: &[std::path::PathBuf],
    archived: &crate::args::shared::ArchivedArgs,
    range: &Range,
    tables: &[String],
) -> Result<(flashback::Plan, Option<(lifeboat_repo::Repository, String)>), Failure> {
    Ok(match (&archived.repo, files.is_empty()) {
        (Some(loc), true) => {
            let (r, server) = open::archived_server(ctx, archived, loc).await?;
            let binlogs = Binlogs::Archive {
                repo: &r,
                server: Some(&server),
            };
            let plan = flashback::plan(binlogs, range, tables).await?;
            (plan, Some((r, server)))
        }
        (None, true) => {
            return Err(crate::context::usage(
                "name binlog files, or --repo to read the archive".into(),
            ));
        }
        _ => {
            let (_tmp, paths) = open::materialize(ctx, archived, files).await?;
            (
                flashback::plan(Binlogs::Files(&paths), range, tables).await?,
                None,
            )
        }
    })
}

/// Where cascaded child rows the binlog lacks are rebuilt from: the archive's repository.
pub fn cascades(
    archive: &Option<(lifeboat_repo::Repository, String)>,
    mysqld: Option<std::path::PathBuf>,
) -> flashback::Cascades<'_> {
    match archive {
        Some((repo, server)) => flashback::Cascades::Rebuild {
            repo,
            server: Some(server),
            mysqld,
        },
        None => flashback::Cascades::Unavailable,
    }
}

/// Clap requires --incident or --from.
fn unreachable_range() -> Result<Range, Failure> {
    Err(crate::context::usage(
        "give --incident ID, or --from POINT".into(),
    ))
}

/// Whether any connection option was given (for reading definitions with --out).
fn given(c: &ConnArgs) -> bool {
    c.host.is_some()
        || c.port.is_some()
        || c.socket.is_some()
        || c.server.is_some()
        || c.defaults_file.is_some()
        || c.user.is_some()
}
