//! Recover: get the data back.
//!
//! - [`restore`]: a snapshot from the repository into a side instance or a server;
//! - [`pitr`]: point-in-time recovery, a snapshot plus the archived binlogs up to a stop point.
//!
//! Recovery from InnoDB files when there is no backup lives in [`crate::forensic`].

pub mod pitr;
pub mod restore;
