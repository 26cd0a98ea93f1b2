//! Framing and event decoding on arbitrary bytes: never a panic, never unbounded memory.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = b"\xfebin".to_vec();
    bytes.extend_from_slice(data);
    let Ok(mut r) = lifeboat_binlog::FileReader::new(bytes.as_slice(), "fuzz") else {
        return;
    };
    let mut dec = lifeboat_binlog::Decoder::new();
    while let Ok(Some((raw, fde))) = r.next_with_format() {
        let _ = dec.decode(fde, &raw);
    }
    let _ = r.end();
});
