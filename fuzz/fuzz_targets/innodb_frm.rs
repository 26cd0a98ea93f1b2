//! Any bytes as a .frm file, and whatever CREATE TABLE comes out of one read back by the
//! schema reader. Nothing may panic or loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat_innodb::{frm, schema};

fuzz_target!(|data: &[u8]| {
    if let Ok(ddl) = frm::create_table(data, "t") {
        let _ = schema::parse_create_table(&ddl);
    }
});
