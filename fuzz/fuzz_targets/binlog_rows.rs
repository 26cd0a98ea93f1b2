//! Row decoding on arbitrary TABLE_MAP and row-event bodies: never a panic; what decodes
//! encodes to bytes that decode to the same values ([`lifeboat_binlog::roundtrip::rows`],
//! which the tests replay on inputs that once failed here).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = lifeboat_binlog::roundtrip::rows(data) {
        panic!("{e}");
    }
});
