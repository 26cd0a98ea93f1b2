//! Protect: copies taken before anything goes wrong.
//!
//! - [`backup`]: consistent parallel logical snapshots into the repository;
//! - [`archive`]: continuous binlog archiving, the log between snapshots;
//! - [`prune`]: retention, which snapshots and logs the repository keeps.

pub mod archive;
pub mod backup;
pub mod prune;
