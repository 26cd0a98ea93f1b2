//! Progress of long work, reported to a sink the caller provides.
//!
//! `core` never draws anything: the CLI implements [`Progress`] with a progress bar on a
//! terminal, and passes [`Silent`] otherwise (and always with `--json`).

/// Receives progress of a long operation. All methods have no-op defaults.
pub trait Progress: Send + Sync {
    /// A phase starts; `total_bytes` is an estimate (0 when unknown).
    fn start(&self, _phase: &str, _total_bytes: u64) {}
    /// Work done since the last call.
    fn advance(&self, _bytes: u64, _rows: u64) {}
    /// Where the work stands, in words (replaces the row count on a progress bar).
    fn status(&self, _text: &str) {}
    /// The phase ended.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {}
