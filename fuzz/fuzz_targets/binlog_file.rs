//! Framing and event decoding on arbitrary bytes: never a panic, never unbounded memory; and
//! what decodes encodes (no panic) to bytes that decode to the same event
//! ([`lifeboat_binlog::roundtrip::file`], which the tests replay on inputs that once failed
//! here).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = lifeboat_binlog::roundtrip::file(data) {
        panic!("{e}");
    }
});
