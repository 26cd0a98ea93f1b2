//! Framing and event decoding on arbitrary bytes: never a panic, never unbounded memory; and
//! what decodes encodes (no panic) to bytes that decode to the same event.
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
        let t = raw.event_type();
        if let Ok(ev) = lifeboat_binlog::Event::decode(fde, t, raw.data) {
            if let Ok((as_t, enc)) = ev.encode_data(t, fde) {
                let again = lifeboat_binlog::Event::decode(fde, as_t, &enc);
                if as_t == t && !matches!(ev, lifeboat_binlog::Event::FormatDescription(_)) {
                    assert_eq!(again.as_ref().ok(), Some(&ev), "re-decoded differently");
                }
            }
        }
        let _ = dec.decode(fde, &raw);
    }
    let _ = r.end();
});
