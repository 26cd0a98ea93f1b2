//! The lifeboat runbook: what each command does, independent of the terminal.
//!
//! Every command is one function here that takes resolved options and returns a
//! `Serialize` outcome; the CLI only parses arguments and renders. Nothing here prints.
//!
//! The modules follow the runbook, in the order a DBA meets them:
//!
//! | phase | module | commands |
//! |---|---|---|
//! | which server, and may we write to it | [`target`] ([`target::guard`], [`target::journal`], [`target::side`]) | `sandbox`, `journal` |
//! | protect | [`protect`] ([`protect::backup`], [`protect::archive`], [`protect::prune`]) | `backup`, `archive`, `prune` |
//! | detect | [`detect`] ([`detect::incidents`], [`detect::events`], [`detect::check`]) | `incidents`, `binlog`, `check` |
//! | contain | [`contain`] ([`contain::freeze`]) | `freeze`, `thaw` |
//! | recover | [`recover`] ([`recover::restore`], [`recover::pitr`]) | `restore`, `restore --until` |
//! | recover without a backup | [`forensic`] ([`forensic::rescue`], [`forensic::recovered`]) | `undelete`, `undrop`, `salvage`, `rescue`, `load` |
//! | verify | [`verify`] ([`verify::diff`]) | `diff` |
//!
//! Shared below the phases: [`sql`] (SQL text written and read), [`config`] and [`paths`]
//! (where lifeboat keeps its state), [`time`] (points in time as typed), [`context`] with
//! [`progress`] and [`interrupt`] (long work that reports and can be stopped), [`error`]. [`demo`] runs the whole runbook on sandbox servers.
//!
//! Feature `clap` derives command-line parsing on the option structs, so the CLI does not
//! mirror them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod contain;
pub mod context;
pub mod demo;
pub mod detect;
pub mod error;
pub mod forensic;
pub mod interrupt;
pub mod paths;
pub mod progress;
pub mod protect;
pub mod recover;
pub mod sql;
pub mod target;
pub mod time;
pub mod verify;

pub use context::Context;
pub use error::Error;
