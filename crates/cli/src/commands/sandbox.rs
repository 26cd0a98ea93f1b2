//! `lifeboat sandbox start|stop|list`.

use lifeboat_core::target::side;
use lifeboat_server::SandboxOptions;

use crate::args::target::SandboxCommand;
use crate::context::{Ctx, Failure};
use crate::render;

pub async fn run(ctx: &Ctx, cmd: &SandboxCommand) -> Result<u8, Failure> {
    match cmd {
        SandboxCommand::Start {
            dir,
            port,
            mysqld,
            binlog,
            server_id,
            settings,
        } => {
            let mut o = SandboxOptions::new(dir.clone().unwrap_or_else(side::default_dir));
            o.port = *port;
            o.server_binary = mysqld.clone();
            o.binlog = *binlog;
            o.server_id = *server_id;
            o.server_settings = settings.clone();
            let started = side::start(&o).await?;
            ctx.show(&started, render::sandbox_started);
        }
        SandboxCommand::Stop { dir, remove } => {
            let stopped = side::stop(dir, *remove).await?;
            ctx.show(&stopped, render::sandbox_stopped);
        }
        SandboxCommand::List => ctx.show(&side::list(), |l| render::sandbox_list(l)),
    }
    Ok(0)
}
