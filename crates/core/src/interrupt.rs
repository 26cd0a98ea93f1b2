//! SIGINT and SIGTERM, handled once for the whole process.
//!
//! Sections get their [`Interrupts`] from [`crate::Context::interrupts`]; the first one
//! installs the handler task. While some command section listens (a
//! backup holding its lock, an archive, a restore's load), a signal is delivered to it and
//! the section stops where it is safe to. When nobody listens, a signal ends the process at
//! once with the shell's code (130 or 143), as the default action would: a signal is never
//! swallowed between two sections that handle it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// The signals seen, in order: each new one replaces the last.
static SIGNALS: OnceLock<Option<watch::Sender<Option<&'static str>>>> = OnceLock::new();
/// How many [`Interrupts`] are alive.
static LISTENING: AtomicUsize = AtomicUsize::new(0);

/// A section that stops cleanly on SIGINT or SIGTERM; signals sent before it listened are
/// not its.
pub struct Interrupts {
    rx: watch::Receiver<Option<&'static str>>,
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        LISTENING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Catches SIGINT and SIGTERM for the caller from now on (within a tokio runtime); `None`
/// where the handlers cannot be installed (the default action then applies).
pub(crate) fn listen() -> Option<Interrupts> {
    let tx = SIGNALS.get_or_init(install).as_ref()?;
    LISTENING.fetch_add(1, Ordering::SeqCst);
    let mut rx = tx.subscribe();
    rx.mark_unchanged();
    Some(Interrupts { rx })
}

/// The one handler: forwards each signal to the listening sections, or ends the process
/// when there are none.
fn install() -> Option<watch::Sender<Option<&'static str>>> {
    let mut int = signal(SignalKind::interrupt()).ok()?;
    let mut term = signal(SignalKind::terminate()).ok()?;
    let (tx, _) = watch::channel(None);
    let forward = tx.clone();
    tokio::spawn(async move {
        loop {
            let (name, code) = tokio::select! {
                _ = int.recv() => ("SIGINT", 130),
                _ = term.recv() => ("SIGTERM", 143),
            };
            if LISTENING.load(Ordering::SeqCst) == 0 {
                std::process::exit(code);
            }
            forward.send_replace(Some(name));
        }
    });
    Some(tx)
}

impl Interrupts {
    /// Waits for the next signal and names it.
    pub async fn next(&mut self) -> &'static str {
        loop {
            if self.rx.changed().await.is_err() {
                return std::future::pending().await;
            }
            if let Some(s) = *self.rx.borrow_and_update() {
                return s;
            }
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
