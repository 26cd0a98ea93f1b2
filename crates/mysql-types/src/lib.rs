//! Facts about MySQL and MariaDB that the binlog and InnoDB format crates and the runbook
//! share, defined once: column descriptions ([`column`]), column values in their binary
//! storage format ([`value`], with the binary JSON of [`json`]), the little-endian readers
//! and writers those use, and SQL quoting ([`quote`]). Row events and InnoDB records store
//! DECIMAL, the temporals, BIT, JSON and the numbers the same way. Pure: no I/O.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)
)]

pub mod column;
pub mod json;
pub mod quote;
pub mod read;
pub mod value;
pub mod write;

pub use column::Column;
pub use read::Short;
pub use value::{Rendered, Value};
