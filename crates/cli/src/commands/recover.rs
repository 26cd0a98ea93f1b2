//! `lifeboat recover`: tables back as they were before an incident, into production.

use lifeboat_core::Error;
use lifeboat_core::contain::freeze;
use lifeboat_core::recover::flashback::{self, Range};
use lifeboat_core::recover::pitr::{StopAt, StopFlags};
use lifeboat_core::recover::tables::{self, Placement, TablesOptions};
use serde::Serialize;

use crate::args::recover::{Mode, Recover};
use crate::args::shared::RepoArg;
use crate::context::{Ctx, Failure, usage};
use crate::{open, render};

#[derive(Serialize)]
struct Merged<'a> {
    mode: Mode,
    plan: &'a flashback::Summary,
    #[serde(flatten)]
    done: &'a flashback::apply::Applied,
}

pub async fn run(ctx: &Ctx, a: &Recover) -> Result<u8, Failure> {
    let (target, mut audit) = ctx.prepare_write(&a.conn)?;
    let policy = a.confirm.policy("bring recovered tables into the server");
    let freeze = a.freeze && !a.dry_run;
    if freeze {
        let opts = freeze::FreezeOptions {
            reason: format!("lifeboat recover {}", a.tables.join(",")),
            wait: 10,
            kill_writers: false,
            dry_run: false,
            admins_may_write: true,
        };
        freeze::freeze(&target, &policy, &opts, &mut audit).await?;
    }
    let result = work(ctx, a, &target, &policy, &mut audit).await;
    if freeze {
        // Thawed whatever happened: a failed recovery must not leave production read-only.
        let thawed = freeze::thaw(
            &target,
            &policy,
            &freeze::ThawOptions::default(),
            &mut audit,
        )
        .await;
        if let Err(e) = thawed {
            eprintln!("warning: thawing the server failed: {e}; run `lifeboat thaw`");
        }
    }
    result
}

async fn work(
    ctx: &Ctx,
    a: &Recover,
    target: &lifeboat_server::ConnectOptions,
    policy: &lifeboat_core::target::guard::Policy<'_>,
    audit: &mut lifeboat_core::target::journal::Audit,
) -> Result<u8, Failure> {
    if a.mode == Mode::Merge {
        let Some(id) = &a.before_incident else {
            return Err(usage(
                "--mode merge takes --before-incident ID: it takes back what that incident did"
                    .into(),
            ));
        };
        let incident = id.parse().map_err(|_| Error::Argument {
            flag: "--before-incident",
            value: id.clone(),
            reason: "expected an id from `lifeboat incidents` (FILE:OFFSET)".into(),
        })?;
        let range = Range::Incident(incident);
        let (plan, archive) =
            super::flashback::plan(ctx, &a.files, &a.archived, &range, &a.tables).await?;
        let how = flashback::apply::How {
            dry_run: a.dry_run,
            merge: true,
        };
        let cascades = super::flashback::cascades(&archive, a.mysqld.clone());
        let applied = flashback::apply::apply(
            &plan,
            target,
            policy,
            how,
            cascades,
            audit,
            &ctx.reporting(),
        )
        .await?;
        let shown = Merged {
            mode: a.mode,
            plan: &plan.summary,
            done: &applied,
        };
        ctx.show(&shown, |s| {
            render::flashback_plan(s.plan);
            render::flashback_applied(s.done);
        });
        return Ok(u8::from(applied.conflicts_total > 0));
    }
    let Some(stop) = StopAt::from_flags(&StopFlags {
        until: a.until.as_deref(),
        until_gtid: a.until_gtid.as_deref(),
        until_position: a.until_position.as_deref(),
        before_incident: a.before_incident.as_deref(),
        time_zone: a.time_zone.as_deref(),
    })?
    else {
        return Err(usage("give --before-incident ID or --until…".into()));
    };
    let Some(loc) = &a.archived.repo else {
        return Err(usage(
            "--mode side-by-side and replace rebuild the tables from a backup and the archive: give --repo".into(),
        ));
    };
    let repo = open::open_repo(
        ctx,
        &RepoArg {
            repo: Some(loc.clone()),
            passphrase_file: a.archived.passphrase_file.clone(),
        },
    )
    .await?;
    let server = a.archived.server.as_deref().map(lifeboat_repo::server_key);
    let opts = TablesOptions {
        tables: a.tables.clone(),
        placement: if a.mode == Mode::Replace {
            Placement::Replace
        } else {
            Placement::SideBySide
        },
        mysqld: a.mysqld.clone(),
        dry_run: a.dry_run,
    };
    let brought = tables::run(
        &repo,
        server.as_deref(),
        &stop,
        target,
        policy,
        &opts,
        audit,
        &ctx.reporting(),
    )
    .await?;
    ctx.show(&brought, render::brought);
    Ok(0)
}
