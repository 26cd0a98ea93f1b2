//! SIGINT and SIGTERM, for long-running commands that must clean up before they stop.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGINT and SIGTERM, caught from the moment [`listen`] returns: a command that takes a
/// lock listens first, so no signal can end it between taking the lock and watching.
pub struct Interrupts {
    int: Signal,
    term: Signal,
}

/// Catches SIGINT and SIGTERM from now on (within a tokio runtime); `None` where the
/// handlers cannot be installed (the default action then applies).
pub fn listen() -> Option<Interrupts> {
    Some(Interrupts {
        int: signal(SignalKind::interrupt()).ok()?,
        term: signal(SignalKind::terminate()).ok()?,
    })
}

impl Interrupts {
    /// Waits for the next signal and names it.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

/// Waits for SIGINT or SIGTERM of `interrupts` and names it; pending forever without them.
pub async fn of(interrupts: &mut Option<Interrupts>) -> &'static str {
    match interrupts {
        Some(i) => i.next().await,
        None => std::future::pending().await,
    }
}
