//! Detect: what happened, and whether the server is ready for it.
//!
//! - [`incidents`]: destructive events (DROP, TRUNCATE, mass DELETE/UPDATE) in the binlogs;
//! - [`events`]: `binlog show` and `binlog verify`, binlogs read for people and scripts;
//! - [`check`]: the disaster-recovery readiness report;
//! - `groups`: transactions as the server delimits them in a binlog.

pub mod check;
pub mod events;
pub(crate) mod groups;
pub mod incidents;
