//! What the InnoDB and binlog format crates and the runbook all need to say in SQL, defined
//! once. Pure: no I/O, no dependencies.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod quote;
