//! Forensic recovery from InnoDB files: reading tablespaces, datadirs and disk images page by
//! page through the pure `lifeboat-innodb` crate.
//!
//! - [`inspect`](inspect()): what a file of pages holds (`innodb inspect`);
//! - [`undelete`](undelete()): deleted rows from a tablespace;
//! - [`undrop`](undrop()): a dropped table from a datadir or an image ([`undrop`] module:
//!   finding pages, the dictionaries and redo records that name the table, the rows);
//! - [`salvage`](salvage()): every readable row of a damaged tablespace;
//! - [`rescue`]: tables out of a datadir the server refuses to start from;
//! - [`recovered`]: how recovered rows are written and loaded;
//! - `schema` (where a definition comes from) and `pages` (page-level reading), shared.

mod inspect;
mod pages;
pub mod recovered;
pub mod rescue;
mod salvage;
mod schema;
mod undelete;
pub mod undrop;

pub use inspect::inspect;
pub use pages::{TableFile, datadir_page_size, page_size_of};
pub use salvage::{Salvaged, SalvagedPage, salvage};
pub use schema::{schema_from_backup, schema_from_sdi, schema_of, table_of_path};
pub use undelete::{PageFinding, Undeleted, undelete};
pub use undrop::{Candidate, Source, Undropped, read_dictionary, undrop};
