//! Verify: prove the data is what it should be.
//!
//! - [`diff`]: checksums of two servers, or a server and a snapshot, table by table;
//! - `checksum_table`: MariaDB's `CHECKSUM TABLE` computed from rows a backup reads anyway.

pub(crate) mod checksum_table;
pub mod diff;
