//! The round trips the fuzz targets check on any bytes, and the tests replay on the inputs
//! that once failed them: what decodes must encode to bytes that decode to the same event or
//! the same rows. Flashback and the relay-log writer encode with this crate, so its round
//! trips must be exact. "The same" is bit for bit ([`crate::Value::identical`]): a NaN is the same
//! NaN, and -0.0 is not 0.0.

use crate::rows::{Image, Row};
use crate::{Event, EventType, FileReader, FormatDescription, TableDef};

/// Reads `data` as the body of a binlog file (after the magic) and round-trips every event
/// that decodes. The first event that comes back different is the error.
pub fn file(data: &[u8]) -> Result<(), String> {
    let mut bytes = b"\xfebin".to_vec();
    bytes.extend_from_slice(data);
    let Ok(mut r) = FileReader::new(bytes.as_slice(), "fuzz") else {
        return Ok(());
    };
    let mut dec = crate::Decoder::new();
    while let Ok(Some((raw, fde))) = r.next_with_format() {
        let t = raw.event_type();
        // Found again from its bytes alone (how flashback reads events back): the same.
        if t != EventType::FormatDescription {
            match crate::RawEvent::frame(raw.bytes, raw.offset, fde, "fuzz") {
                Ok(again) if again.data == raw.data && again.header == raw.header => {}
                other => {
                    return Err(format!(
                        "event at {} framed again differently: {other:?}",
                        raw.offset
                    ));
                }
            }
        }
        if let Ok(ev) = Event::decode(fde, t, raw.data)
            && let Ok((as_t, enc)) = ev.encode_data(t, fde)
        {
            let again = Event::decode(fde, as_t, &enc);
            if as_t == t
                && !matches!(ev, Event::FormatDescription(_))
                && again.as_ref().ok() != Some(&ev)
            {
                return Err(format!(
                    "event at {} re-decoded differently: {ev:?}, then {again:?}",
                    raw.offset
                ));
            }
        }
        let _ = dec.decode(fde, &raw);
    }
    let _ = r.end();
    Ok(())
}

/// Reads `data` as a TABLE_MAP body and a row event's (the first byte: where the map ends;
/// the second: which row event type), decodes the rows, renders every value, and
/// round-trips them. (Byte identity holds for what servers write, tested on real files;
/// arbitrary bytes may hold non-canonical values, such as a DATETIME with month 15, that
/// encode canonically: values are compared, not bytes.)
pub fn rows(data: &[u8]) -> Result<(), String> {
    let [split, kind, rest @ ..] = data else {
        return Ok(());
    };
    let cut = usize::from(*split).min(rest.len());
    let (map, rows) = rest.split_at(cut);
    let fde = FormatDescription::default_v4();
    let Ok(Event::TableMap(m)) = Event::decode(&fde, EventType::TableMap, map) else {
        return Ok(());
    };
    let Ok(table) = TableDef::from_map(&m) else {
        return Ok(());
    };
    const TYPES: [u8; 7] = [23, 24, 25, 30, 31, 32, 39];
    let t = EventType::from_code(
        TYPES
            .get(usize::from(*kind) % TYPES.len())
            .copied()
            .unwrap_or(30),
    );
    let Ok(Event::Rows(mut ev)) = Event::decode(&fde, t, rows) else {
        return Ok(());
    };
    ev.table_id = table.table_id;
    let Ok(it) = ev.rows(&table) else {
        return Ok(());
    };
    let Ok(decoded) = it.collect::<Result<Vec<_>, _>>() else {
        return Ok(());
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
    let Ok(back) = ev.encode_rows(&table, &decoded) else {
        return Ok(());
    };
    let mut again = ev.clone();
    again.rows = std::borrow::Cow::Owned(back);
    let redecoded = again
        .rows(&table)
        .map_err(|e| format!("re-encoded rows: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("re-encoded rows do not decode: {e}"))?;
    if redecoded.len() != decoded.len() {
        return Err(format!(
            "{} rows re-encoded decode as {}",
            decoded.len(),
            redecoded.len()
        ));
    }
    for (n, (a, b)) in decoded.iter().zip(&redecoded).enumerate() {
        if !same_row(a, b) {
            return Err(format!("row {n} re-decoded differently: {a:?}, then {b:?}"));
        }
    }
    undo(&ev, &table, &decoded)
}

/// What flashback writes: the undo of the rows decodes to the same rows with their images
/// swapped (or is refused, never wrong).
fn undo(
    ev: &crate::events::RowsEvent<'_>,
    table: &TableDef,
    rows: &[Row<'_>],
) -> Result<(), String> {
    let Ok(undo) = ev.undo(table, rows) else {
        return Ok(());
    };
    let swapped = undo
        .rows(table)
        .map_err(|e| format!("the undo: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the undo does not decode: {e}"))?;
    if swapped.len() != rows.len() {
        return Err(format!(
            "{} rows undone decode as {}",
            rows.len(),
            swapped.len()
        ));
    }
    for (n, (a, b)) in rows.iter().zip(&swapped).enumerate() {
        if !same_image(a.before.as_ref(), b.after.as_ref())
            || !same_image(a.after.as_ref(), b.before.as_ref())
        {
            return Err(format!(
                "row {n}'s undo is not its images swapped: {a:?}, then {b:?}"
            ));
        }
    }
    Ok(())
}

fn same_row(a: &Row<'_>, b: &Row<'_>) -> bool {
    same_image(a.before.as_ref(), b.before.as_ref())
        && same_image(a.after.as_ref(), b.after.as_ref())
}

fn same_image(a: Option<&Image<'_>>, b: Option<&Image<'_>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.options == b.options
                && a.padding == b.padding
                && a.values.len() == b.values.len()
                && a.values.iter().zip(&b.values).all(|(x, y)| match (x, y) {
                    (None, None) => true,
                    (Some(x), Some(y)) => x.identical(y),
                    _ => false,
                })
        }
        _ => false,
    }
}
