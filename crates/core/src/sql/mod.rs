//! SQL text: what lifeboat writes to servers and reads from their logs.
//!
//! - [`tsv`]: rows as LOAD DATA reads them back exactly;
//! - [`statement`]: just enough SQL to tell what a logged statement does to data.

pub mod statement;
pub mod tsv;
