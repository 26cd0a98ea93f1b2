//! Contain: freeze and thaw.

use clap::Args;
use lifeboat_core::target::ConnArgs;

use super::HelpFlag;
use super::shared::ConfirmServer;

/// `lifeboat freeze` and `lifeboat thaw`: their options, and the server they change.
#[derive(Args)]
pub struct OnServer<O: Args> {
    #[command(flatten)]
    pub opts: O,
    #[command(flatten)]
    pub confirm: ConfirmServer,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub help: HelpFlag,
}
