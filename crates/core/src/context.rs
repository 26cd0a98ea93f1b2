//! What a long command gets from its caller: where its progress and its notes go, and the
//! signals that stop it.
//!
//! The CLI builds one [`Context`] per invocation (a progress bar on a terminal, nothing
//! with `--json`); tests and the demo build their own. A command section that can stop
//! cleanly asks the context for [`Context::interrupts`] before it takes anything it must
//! give back (a lock, a half-loaded target), so SIGINT and SIGTERM are never lost between
//! sections: see [`crate::interrupt`].

use std::sync::Arc;

use crate::interrupt::Interrupts;
use crate::progress::{Progress, Silent};

/// Notes for the person watching (reconnects, files completed, gaps, the demo's story).
pub type Notes = Arc<dyn Fn(&str) + Send + Sync>;

/// Progress, notes and interrupts of one command.
#[derive(Clone)]
pub struct Context {
    progress: Arc<dyn Progress>,
    notes: Notes,
}

impl Context {
    /// A context that reports to `progress` and `notes`.
    pub fn new(progress: Arc<dyn Progress>, notes: Notes) -> Self {
        Context { progress, notes }
    }

    /// Reports nothing (scripts, `--json`, tests).
    pub fn silent() -> Self {
        Context::new(Arc::new(Silent), Arc::new(|_: &str| {}))
    }

    /// Where progress goes.
    pub fn progress(&self) -> Arc<dyn Progress> {
        self.progress.clone()
    }

    /// Tells the person watching.
    pub fn note(&self, text: &str) {
        (self.notes)(text);
    }

    /// The notes sink, for work that outlives a borrow of the context.
    pub fn notes(&self) -> Notes {
        self.notes.clone()
    }

    /// SIGINT and SIGTERM from now on, for a section that stops cleanly on them; `None`
    /// where handlers cannot be installed (the default action then applies).
    pub fn interrupts(&self) -> Option<Interrupts> {
        crate::interrupt::listen()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Context")
    }
}
