//! A progress bar on stderr when it is a terminal; nothing otherwise (and never with --json).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use lifeboat_core::progress::{Progress, Silent};

struct Bar {
    bar: ProgressBar,
    rows: AtomicU64,
    /// Set by `status`: shown instead of the row count.
    worded: std::sync::atomic::AtomicBool,
}

impl Progress for Bar {
    fn start(&self, phase: &str, total_bytes: u64) {
        self.bar.set_length(total_bytes.max(1));
        self.bar.set_position(0);
        self.bar.set_prefix(phase.to_owned());
        self.worded.store(false, Ordering::Relaxed);
    }

    fn advance(&self, bytes: u64, rows: u64) {
        let rows = self.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        // Sizes are the server's estimates: let the bar grow rather than overflow.
        if self.bar.position() + bytes > self.bar.length().unwrap_or(0) {
            self.bar.set_length(self.bar.position() + bytes);
        }
        self.bar.inc(bytes);
        if !self.worded.load(Ordering::Relaxed) {
            self.bar.set_message(format!("{rows} rows"));
        }
    }

    fn status(&self, text: &str) {
        self.worded.store(true, Ordering::Relaxed);
        self.bar.set_message(text.to_owned());
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The sink for this invocation.
pub fn sink(json: bool) -> Arc<dyn Progress> {
    if json || !std::io::stderr().is_terminal() {
        return Arc::new(Silent);
    }
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    Arc::new(Bar {
        bar,
        rows: AtomicU64::new(0),
        worded: std::sync::atomic::AtomicBool::new(false),
    })
}
