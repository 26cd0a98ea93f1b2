//! `lifeboat recover`: recovered tables back into production, keeping the writes since.

use lifeboat_core::Error;
use lifeboat_core::recover::flashback::{self, Range};
use serde::Serialize;

use crate::args::recover::{Mode, Recover};
use crate::context::{Ctx, Failure};
use crate::render;

#[derive(Serialize)]
struct Shown<'a> {
    mode: Mode,
    plan: &'a flashback::Summary,
    #[serde(flatten)]
    done: &'a flashback::apply::Applied,
    #[serde(skip_serializing_if = "Option::is_none")]
    froze: Option<bool>,
}

pub async fn run(ctx: &Ctx, a: &Recover) -> Result<u8, Failure> {
    let incident = a.before_incident.parse().map_err(|_| Error::Argument {
        flag: "--before-incident",
        value: a.before_incident.clone(),
        reason: "expected an id from `lifeboat incidents` (FILE:OFFSET)".into(),
    })?;
    let range = Range::Incident(incident);
    let plan = super::flashback::plan(ctx, &a.files, &a.archived, &range, &a.tables).await?;
    let (target, mut audit) = ctx.prepare_write(&a.conn)?;
    let policy = a.confirm.policy("merge the recovered rows into the server");
    let freeze = a.freeze && !a.dry_run;
    if freeze {
        let opts = lifeboat_core::contain::freeze::FreezeOptions {
            reason: format!("lifeboat recover --before-incident {}", a.before_incident),
            wait: 10,
            kill_writers: false,
            dry_run: false,
            admins_may_write: true,
        };
        lifeboat_core::contain::freeze::freeze(&target, &policy, &opts, &mut audit).await?;
    }
    let how = flashback::apply::How {
        dry_run: a.dry_run,
        merge: true,
    };
    let applied =
        flashback::apply::apply(&plan, &target, &policy, how, &mut audit, &ctx.reporting()).await;
    if freeze {
        // Thawed whatever happened: a failed merge must not leave production read-only.
        let thawed = lifeboat_core::contain::freeze::thaw(
            &target,
            &policy,
            &lifeboat_core::contain::freeze::ThawOptions::default(),
            &mut audit,
        )
        .await;
        if let Err(e) = thawed {
            eprintln!("warning: thawing the server failed: {e}; run `lifeboat thaw`");
        }
    }
    let applied = applied?;
    let shown = Shown {
        mode: a.mode,
        plan: &plan.summary,
        done: &applied,
        froze: a.freeze.then_some(freeze),
    };
    ctx.show(&shown, |s| {
        render::flashback_plan(s.plan);
        render::flashback_applied(s.done);
    });
    Ok(u8::from(applied.conflicts_total > 0))
}
