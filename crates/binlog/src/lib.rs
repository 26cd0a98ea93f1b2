//! Binary log formats of MySQL and MariaDB.
//!
//! This crate is pure: bytes and text in, values out. It opens no files and no sockets (the
//! [`FileReader`] reads from any `std::io::Read`), so it can be fuzzed, benchmarked and reused
//! on its own.
//!
//! - [`FileReader`]: framing of v4 binlog files, CRC32 verified, a truncated tail ending
//!   cleanly with the offset of the last complete transaction; [`Event::decode`] types the
//!   events (unknown ones pass through raw) and [`Event::encode_data`] with [`encode_event`]
//!   writes them back;
//!
//! - [`BinlogPos`]: a file name and byte offset in a server's binary log;
//! - [`GtidSet`]: the GTID state of a server, one type for both flavors — MySQL's UUID interval
//!   sets (`3e11fa47-…:1-5:tag:1-3`) and MariaDB's per-domain lists (`0-1-100,1-2-7`);
//! - [`Gtid`]: a single transaction identifier of either flavor.
//!
//! ```
//! use lifeboat_binlog::GtidSet;
//! let mysql: GtidSet = "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7".parse().unwrap();
//! assert_eq!(mysql.to_string(), "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7");
//! let maria: GtidSet = "0-1-100,1-2-7".parse().unwrap();
//! assert_eq!(maria.to_string(), "0-1-100,1-2-7");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)
)]

pub mod decoder;
pub mod encode;
pub mod events;
pub mod file;
pub mod frame;
mod gtid;
pub use lifeboat_mysql_types::json;
mod pos;
use lifeboat_mysql_types::read;
pub mod roundtrip;
pub mod rows;
pub mod table;
mod types;
pub use lifeboat_mysql_types::value;
use lifeboat_mysql_types::write;

pub use decoder::Decoder;
pub use encode::{EncodeError, encode_event};
pub use events::{DecodeError, Event, UserValue, UserVar};
pub use file::{End, FileReader, RawEvent};
pub use frame::{Checksum, EventHeader, FormatDescription};
pub use gtid::{Flavor, Gtid, GtidError, GtidSet, MariaDbGtid, MySqlGtid, MySqlGtidSet, MySqlSid};
pub use lifeboat_mysql_types::Short;
pub use lifeboat_mysql_types::{Rendered, Value};
pub use pos::{BinlogPos, PosError};
pub use rows::{Image, Row, RowKind};
pub use table::{Column, TableDef};
pub use types::EventType;
