//! The lifeboat runbook: what each command does, independent of the terminal.
//!
//! Every command is one function here that takes resolved options and returns a
//! `Serialize` outcome; the CLI only parses arguments and renders. Nothing here prints.
//!
//! - [`target`]: which server, from flags, `--server NAME`, option files and defaults;
//! - [`check`]: the disaster-recovery readiness report;
//! - [`guard`]: the one gate every server write passes ([`guard::GuardedTarget`]);
//! - [`freeze`]: stop the bleeding (read-only) and undo it;
//! - [`journal`]: the audit trail of every action that changed a server;
//! - [`sandbox`]: side instances, remembered in a registry under the state directory.
//!
//! Feature `clap` derives command-line parsing on the option structs, so the CLI does not
//! mirror them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apply;
pub mod archive;
pub mod backup;
pub mod binlog;
pub mod check;
mod checksum;
pub mod config;
pub mod demo;
pub mod diff;
pub mod error;
pub mod forensic;
pub mod freeze;
mod groups;
pub mod guard;
pub mod incidents;
pub mod interrupt;
pub mod journal;
pub mod keys;
pub mod paths;
pub mod pitr;
pub mod progress;
pub mod prune;
pub mod recovered;
pub mod rescue;
pub mod restore;
pub mod sandbox;
pub mod statement;
pub mod target;
pub mod tsv;

pub use error::Error;
