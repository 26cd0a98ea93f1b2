//! Contain: freeze and thaw.

use clap::Args;
use lifeboat_core::contain::freeze::{FreezeOptions, ThawOptions};
use lifeboat_core::target::ConnArgs;

use super::HelpFlag;

/// `lifeboat freeze`.
#[derive(Args)]
pub struct Freeze {
    #[command(flatten)]
    pub opts: FreezeOptions,
    /// The identity `lifeboat check` prints; required when not run interactively.
    #[arg(long, value_name = "ID")]
    pub confirm_server: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}

/// `lifeboat thaw`.
#[derive(Args)]
pub struct Thaw {
    #[command(flatten)]
    pub opts: ThawOptions,
    /// The identity `lifeboat check` prints; required when not run interactively.
    #[arg(long, value_name = "ID")]
    pub confirm_server: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}
