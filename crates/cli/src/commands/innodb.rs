//! `lifeboat innodb inspect`.

use crate::args::forensic::InnodbCommand;
use crate::context::{Ctx, Failure};
use crate::render;

pub fn run(ctx: &Ctx, cmd: &InnodbCommand) -> Result<u8, Failure> {
    match cmd {
        InnodbCommand::Inspect { file } => {
            let report = lifeboat_core::forensic::inspect(file)?;
            ctx.show(&report, |r| render::innodb_inspect(file, r));
            Ok(u8::from(report.invalid_pages > 0))
        }
    }
}
