//! SIGINT and SIGTERM, for long-running commands that must clean up before they stop.

/// Waits for SIGINT or SIGTERM and names it. Pending forever where the handlers cannot be
/// installed (the default action then applies).
pub async fn signalled() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
