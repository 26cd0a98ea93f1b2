//! MySQL's binary JSON (the JSON column type in row events) rendered as JSON text, and the
//! partial-update diffs of PARTIAL_UPDATE_ROWS events.
//!
//! Layout: a type byte, then the value. Objects and arrays come in a small form (16-bit
//! counts and offsets) and a large one (32-bit); offsets are relative to the start of the
//! container; literals and small integers are stored inline in the value entry.

use crate::read::Reader;

const MAX_DEPTH: usize = 100;

/// Renders a binary JSON document (type byte first) as JSON text, MySQL's style
/// (`{"a": 1, "b": [true, null]}`).
pub fn to_text(doc: &[u8]) -> Result<String, String> {
    let mut out = String::new();
    let mut r = Reader::new(doc);
    let t = r.u8().map_err(|e| format!("JSON: {e}"))?;
    if doc.len() == 1 && t == 0 {
        // An empty value (a JSON column that was set to '' with strict mode off).
        return Ok(String::new());
    }
    value(t, r.rest(), &mut out, 0)?;
    Ok(out)
}

fn value(t: u8, b: &[u8], out: &mut String, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("JSON nested deeper than 100 levels".into());
    }
    let mut r = Reader::new(b);
    let sh = |e: crate::read::Short| format!("JSON: {e}");
    match t {
        0x00 => container(b, false, true, out, depth)?,
        0x01 => container(b, true, true, out, depth)?,
        0x02 => container(b, false, false, out, depth)?,
        0x03 => container(b, true, false, out, depth)?,
        0x04 => literal(r.u8().map_err(sh)?, out)?,
        0x05 => out.push_str(&(r.u16().map_err(sh)? as i16).to_string()),
        0x06 => out.push_str(&r.u16().map_err(sh)?.to_string()),
        0x07 => out.push_str(&(r.u32().map_err(sh)? as i32).to_string()),
        0x08 => out.push_str(&r.u32().map_err(sh)?.to_string()),
        0x09 => out.push_str(&r.i64().map_err(sh)?.to_string()),
        0x0a => out.push_str(&r.u64().map_err(sh)?.to_string()),
        0x0b => {
            let d = f64::from_bits(r.u64().map_err(sh)?);
            out.push_str(&format!("{d:?}"));
        }
        0x0c => {
            let n = varlen(&mut r)?;
            string(r.take(n).map_err(sh)?, out);
        }
        0x0f => {
            let ft = r.u8().map_err(sh)?;
            let n = varlen(&mut r)?;
            opaque(ft, r.take(n).map_err(sh)?, out)?;
        }
        other => return Err(format!("JSON: unknown value type {other:#04x}")),
    }
    Ok(())
}

fn literal(v: u8, out: &mut String) -> Result<(), String> {
    out.push_str(match v {
        0 => "null",
        1 => "true",
        2 => "false",
        other => return Err(format!("JSON: unknown literal {other}")),
    });
    Ok(())
}

/// The variable-length size of strings: 7 bits per byte, high bit = more, at most 5 bytes.
fn varlen(r: &mut Reader<'_>) -> Result<usize, String> {
    let mut n = 0usize;
    for i in 0..5 {
        let b = r.u8().map_err(|e| format!("JSON: {e}"))?;
        n |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err("JSON: string length longer than 5 bytes".into())
}

fn container(
    b: &[u8],
    large: bool,
    object: bool,
    out: &mut String,
    depth: usize,
) -> Result<(), String> {
    let sh = |e: crate::read::Short| format!("JSON: {e}");
    let w = if large { 4 } else { 2 };
    let mut r = Reader::new(b);
    let count = r.uint(w).map_err(sh)? as usize;
    let size = r.uint(w).map_err(sh)? as usize;
    let b = b
        .get(..size)
        .ok_or_else(|| format!("JSON: container of {size} bytes in {} bytes", b.len()))?;
    let key_entries = if object { count } else { 0 };
    // Each key entry: offset (w) + length (2); each value entry: type (1) + offset/inline (w).
    if (key_entries * (w + 2) + count * (1 + w)).saturating_add(2 * w) > size {
        return Err(format!(
            "JSON: {count} entries do not fit a container of {size} bytes"
        ));
    }
    let mut keys = Reader::new(b.get(2 * w..).unwrap_or_default());
    let mut vals = Reader::new(b.get(2 * w + key_entries * (w + 2)..).unwrap_or_default());
    out.push(if object { '{' } else { '[' });
    for i in 0..count {
        if i > 0 {
            out.push_str(", ");
        }
        if object {
            let off = keys.uint(w).map_err(sh)? as usize;
            let len = usize::from(keys.u16().map_err(sh)?);
            let key = b
                .get(off..off.saturating_add(len))
                .ok_or_else(|| format!("JSON: key at {off}+{len} outside the object"))?;
            string(key, out);
            out.push_str(": ");
        }
        let t = vals.u8().map_err(sh)?;
        let inline = matches!(t, 0x04..=0x06) || (large && matches!(t, 0x07 | 0x08));
        if inline {
            let raw = vals.take(w).map_err(sh)?;
            value(t, raw, out, depth + 1)?;
        } else {
            let off = vals.uint(w).map_err(sh)? as usize;
            let v = b
                .get(off..)
                .ok_or_else(|| format!("JSON: value offset {off} outside the container"))?;
            value(t, v, out, depth + 1)?;
        }
    }
    out.push(if object { '}' } else { ']' });
    Ok(())
}

fn string(s: &[u8], out: &mut String) {
    out.push('"');
    for ch in String::from_utf8_lossy(s).chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn opaque(field_type: u8, b: &[u8], out: &mut String) -> Result<(), String> {
    use crate::column::column_type as ct;
    let mut r = Reader::new(b);
    match field_type {
        ct::NEWDECIMAL if b.len() >= 2 => {
            let p = r.u8().map_err(|e| e.to_string())?;
            let s = r.u8().map_err(|e| e.to_string())?;
            let (d, _) = crate::value::decimal_from(r.rest(), p, s)?;
            out.push_str(&d);
        }
        ct::DATE | ct::TIME | ct::DATETIME | ct::TIMESTAMP if b.len() >= 8 => {
            let packed = r.i64().map_err(|e| e.to_string())?;
            out.push('"');
            out.push_str(&crate::value::packed_temporal_text(field_type, packed));
            out.push('"');
        }
        _ => {
            out.push_str(&format!("\"base64:type{field_type}:"));
            out.push_str(&base64(b));
            out.push('"');
        }
    }
    Ok(())
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, &x)| a | u32::from(x) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(char::from(
                    A.get((n >> (18 - 6 * i)) as usize & 63)
                        .copied()
                        .unwrap_or(b'='),
                ));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// One change of a partial JSON update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonDiff<'a> {
    /// 0 replace, 1 insert, 2 remove.
    pub operation: u8,
    /// JSON path (`$.a[2]`).
    pub path: &'a [u8],
    /// The new value (binary JSON, type byte first); none for remove.
    pub value: Option<&'a [u8]>,
}

impl JsonDiff<'_> {
    /// MySQL's function for the operation.
    pub fn function(&self) -> &'static str {
        match self.operation {
            0 => "JSON_REPLACE",
            1 => "JSON_INSERT",
            _ => "JSON_REMOVE",
        }
    }
}

/// Parses the diffs of one partially updated JSON column.
pub fn parse_diffs(b: &[u8]) -> Result<Vec<JsonDiff<'_>>, String> {
    let sh = |e: crate::read::Short| format!("JSON diff: {e}");
    let mut r = Reader::new(b);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let operation = r.u8().map_err(sh)?;
        if operation > 2 {
            return Err(format!("JSON diff: unknown operation {operation}"));
        }
        let n = r.packed().map_err(sh)? as usize;
        let path = r.take(n).map_err(sh)?;
        let value = if operation == 2 {
            None
        } else {
            let n = r.packed().map_err(sh)? as usize;
            Some(r.take(n).map_err(sh)?)
        };
        out.push(JsonDiff {
            operation,
            path,
            value,
        });
    }
    Ok(out)
}

/// Encodes diffs back (the inverse of [`parse_diffs`]).
pub fn encode_diffs(diffs: &[JsonDiff<'_>], out: &mut Vec<u8>) {
    for d in diffs {
        out.push(d.operation);
        crate::write::packed(out, d.path.len() as u64);
        out.extend_from_slice(d.path);
        if let Some(v) = d.value {
            crate::write::packed(out, v.len() as u64);
            out.extend_from_slice(v);
        }
    }
}

/// Renders diffs as the SQL they stand for: `JSON_REPLACE(col, '$.a', 1)`, nested.
pub fn diffs_text(column: &str, diffs: &[JsonDiff<'_>]) -> Result<String, String> {
    let mut s = column.to_owned();
    for d in diffs {
        let path = String::from_utf8_lossy(d.path).replace('\'', "''");
        s = match d.value {
            None => format!("{}({s}, '{path}')", d.function()),
            Some(v) => format!("{}({s}, '{path}', {})", d.function(), to_text(v)?),
        };
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_documents() {
        // {"a": [1, "x"], "b": true} built by hand in the small form.
        let arr: Vec<u8> = {
            let mut v = vec![2, 0, 0, 0]; // count 2, size filled later
            v.extend_from_slice(&[0x05, 1, 0]); // int16 1 inline
            v.extend_from_slice(&[0x0c, 10, 0]); // string at offset 10
            v.extend_from_slice(&[1, b'x']);
            let n = v.len() as u16;
            v[2..4].copy_from_slice(&n.to_le_bytes());
            v
        };
        let mut obj = vec![2, 0, 0, 0];
        let keys_at = 4;
        let vals_at = keys_at + 2 * 4;
        let data_at = vals_at + 2 * 3;
        obj.extend_from_slice(&(data_at as u16).to_le_bytes());
        obj.extend_from_slice(&1u16.to_le_bytes());
        obj.extend_from_slice(&(data_at as u16 + 1).to_le_bytes());
        obj.extend_from_slice(&1u16.to_le_bytes());
        obj.extend_from_slice(&[0x02]);
        obj.extend_from_slice(&(data_at as u16 + 2).to_le_bytes());
        obj.extend_from_slice(&[0x04, 1, 0]);
        obj.extend_from_slice(b"ab");
        obj.extend_from_slice(&arr);
        let n = obj.len() as u16;
        obj[2..4].copy_from_slice(&n.to_le_bytes());
        let mut doc = vec![0x00];
        doc.extend_from_slice(&obj);
        assert_eq!(to_text(&doc).unwrap(), r#"{"a": [1, "x"], "b": true}"#);
        // Every truncation is an error, never a panic.
        for n in 0..doc.len() {
            let _ = to_text(&doc[..n]);
        }
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
