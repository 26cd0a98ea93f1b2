//! Row decoding on arbitrary TABLE_MAP and row-event bodies: never a panic; what decodes
//! encodes to bytes that decode to the same values. (Byte identity holds for what servers
//! write, tested on real files; arbitrary bytes may hold non-canonical values, such as a
//! DATETIME with month 15, that encode canonically.)
#![no_main]
use libfuzzer_sys::fuzz_target;
use lifeboat_binlog::{Event, EventType, FormatDescription, TableDef};

fuzz_target!(|data: &[u8]| {
    // First byte: where the table map ends; second: which row event type.
    let [split, kind, rest @ ..] = data else {
        return;
    };
    let cut = usize::from(*split).min(rest.len());
    let (map, rows) = rest.split_at(cut);
    let fde = FormatDescription::default_v4();
    let Ok(Event::TableMap(m)) = Event::decode(&fde, EventType::TableMap, map) else {
        return;
    };
    let Ok(table) = TableDef::from_map(&m) else {
        return;
    };
    let types = [23u8, 24, 25, 30, 31, 32, 39];
    let t = EventType::from_code(types[usize::from(*kind) % types.len()]);
    let Ok(Event::Rows(mut ev)) = Event::decode(&fde, t, rows) else {
        return;
    };
    ev.table_id = table.table_id;
    let Ok(it) = ev.rows(&table) else {
        return;
    };
    let Ok(decoded) = it.collect::<Result<Vec<_>, _>>() else {
        return;
    };
    for row in &decoded {
        for img in [&row.before, &row.after].into_iter().flatten() {
            for (c, v) in table.columns.iter().zip(&img.values) {
                if let Some(v) = v {
                    let _ = v.render(c);
                }
            }
        }
    }
    if let Ok(back) = ev.encode_rows(&table, &decoded) {
        let mut again = ev.clone();
        again.rows = std::borrow::Cow::Owned(back);
        let redecoded: Vec<_> = again
            .rows(&table)
            .expect("re-encoded rows")
            .collect::<Result<Vec<_>, _>>()
            .expect("re-encoded rows decode");
        assert_eq!(redecoded, decoded, "re-encoded rows decode differently");
    }
});
