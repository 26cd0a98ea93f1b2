//! InnoDB on-disk formats of MySQL and MariaDB, for forensic recovery.
//!
//! This crate is pure: bytes in, pages and records out. It opens no files (callers hand it
//! page-sized slices), so it can be fuzzed and run over any source: a tablespace, a datadir,
//! a raw disk image. Damage is data, not an error: a bad checksum is a verdict on the page,
//! a broken record list ends its walk with the reason, and nothing panics on any bytes.
//!
//! - [`page`]: the FIL header every page starts with, [`PageType`] (type 18 read per
//!   [`Vendor`]: MySQL's SDI BLOB, MariaDB's instant-ALTER root);
//! - [`checksum`]: a [`checksum::Verdict`] per page for crc32, the legacy innodb fold, none,
//!   and MariaDB's full_crc32;
//! - [`fsp`]: page 0's tablespace header and flags ([`SpaceFlags`]: page size, row-format
//!   family, checksum format, compression), and the page size of a file without page 0;
//! - [`index`]: INDEX page headers and record headers (REDUNDANT and COMPACT), walked along
//!   the record list and the free list;
//! - [`inspect`]: a whole tablespace summarized page by page ([`Inspector`]);
//! - [`schema`]: a table definition from `CREATE TABLE` text ([`schema::TableSchema`]);
//! - [`record`]: clustered index records decoded into rows with it, every length checked,
//!   and how well a page fits a definition ([`record::fit`]);
//! - [`lob`]: MySQL 8's LOB and ZLOB pages, which hold its off-page columns;
//! - [`carve`]: INDEX pages (compressed ones too) and off-page column pages found in any
//!   bytes at any alignment;
//! - [`sdi`]: MySQL 8's serialized dictionary information, read into `CREATE TABLE` text;
//! - [`dict`]: the SYS_TABLES / SYS_INDEXES dictionary of the system tablespace, deleted
//!   records included;
//! - [`dd`]: MySQL 8's data dictionary tables in `mysql.ibd`, read into the same
//!   [`dict::Dictionary`];
//! - [`undo`]: the table and index ids a DROP TABLE left in undo records;
//! - [`compressed`] and [`zip`]: MariaDB page_compressed pages and ROW_FORMAT=COMPRESSED
//!   pages, expanded into the pages the server works on.
//!
//! Feature `test-support` adds `testing`: writers of formats no server on a test machine
//! writes (MySQL 8's ZLOB), for tests that put them into real tablespaces.
//!
//! ```
//! use lifeboat_innodb::{checksum, page::FilHeader};
//! let mut page = vec![0u8; 16384];
//! page[24..26].copy_from_slice(&17855u16.to_be_bytes()); // an INDEX page
//! let crc = checksum::crc32(&page);
//! page[..4].copy_from_slice(&crc.to_be_bytes());
//! assert!(checksum::verify(&page, false).is_valid());
//! assert_eq!(FilHeader::parse(&page).unwrap().page_type, 17855);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)
)]

pub mod carve;
pub mod checksum;
pub mod collations;
pub mod compressed;
pub mod dd;
pub mod dict;
pub mod frm;
pub mod fsp;
pub mod index;
pub mod inspect;
pub mod lob;
pub mod page;
pub mod record;
pub mod redo;
pub mod schema;
pub mod sdi;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod undo;
pub mod zip;

pub use fsp::{FspHeader, SpaceFlags};
pub use inspect::{Inspector, Report};
pub use page::{FilHeader, PageType, Vendor};
