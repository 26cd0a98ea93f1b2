//! Recover: get the data back.
//!
//! - [`restore`]: a snapshot from the repository into a side instance or a server;
//! - [`pitr`]: point-in-time recovery, a snapshot plus the archived binlogs up to a stop point;
//! - [`flashback`]: the undo of an incident's row changes in production, keeping the writes
//!   made since;
//! - [`tables`]: tables rebuilt as they were before a point, brought into production beside
//!   the live ones or in their place.
//!
//! Recovery from InnoDB files when there is no backup lives in [`crate::forensic`].

pub mod flashback;
pub mod pitr;
pub mod restore;
pub mod tables;
