//! Rows as LOAD DATA reads them back exactly.
//!
//! Format: fields separated by TAB, rows ended by LF, escape character `\`, NULL as `\N`
//! (LOAD DATA's defaults, stated explicitly on load). Values come from the binary protocol so
//! FLOAT/DOUBLE keep every bit (the text protocol prints FLOAT with 6 digits: measured on
//! MariaDB 10.11, 0.1234567 came back as 0.123457). Strings and BLOBs are the column's raw
//! bytes (`SET NAMES binary` on dump, `CHARACTER SET binary` on load), which also carries
//! BIT and GEOMETRY (internal SRID+WKB) values unchanged.

use mysql_async::Value;
use mysql_async::consts::ColumnType;

/// Bytes that LOAD DATA needs escaped: `\\`, TAB, LF, CR, NUL.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    t[b'\\' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[0] = true;
    t
};

/// Appends `bytes` with `\`, TAB, LF, CR and NUL escaped. Runs without special bytes are
/// copied whole (a per-byte `match` was 8% of a backup's CPU).
pub fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    let mut rest = bytes;
    while let Some(i) = rest.iter().position(|&b| NEEDS_ESCAPE[b as usize]) {
        let (head, tail) = rest.split_at(i);
        out.extend_from_slice(head);
        let Some((&b, after)) = tail.split_first() else {
            break;
        };
        out.extend_from_slice(match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => b"\\0",
        });
        rest = after;
    }
    out.extend_from_slice(rest);
}

/// Appends one value in the column's text form.
pub fn encode_value(v: &Value, column_type: ColumnType, out: &mut Vec<u8>) {
    use std::io::Write;
    match v {
        Value::NULL => out.extend_from_slice(b"\\N"),
        Value::Bytes(b) => escape_into(b, out),
        // YEAR 0 must be written `0000`: as text, `0` means the two-digit year 2000.
        Value::Int(i) if column_type == ColumnType::MYSQL_TYPE_YEAR => {
            let _ = write!(out, "{i:04}");
        }
        Value::UInt(u) if column_type == ColumnType::MYSQL_TYPE_YEAR => {
            let _ = write!(out, "{u:04}");
        }
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        // `Debug` prints the shortest text that parses back to the same bits, with an
        // exponent for very large or small values (`Display` would print 300 digits).
        Value::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::Double(d) => {
            let _ = write!(out, "{d:?}");
        }
        Value::Date(y, mo, d, h, mi, s, us) => {
            let _ = write!(out, "{y:04}-{mo:02}-{d:02}");
            if column_type != ColumnType::MYSQL_TYPE_DATE
                && column_type != ColumnType::MYSQL_TYPE_NEWDATE
            {
                let _ = write!(out, " {h:02}:{mi:02}:{s:02}");
                if *us > 0 {
                    let _ = write!(out, ".{us:06}");
                }
            }
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            let sign = if *neg { "-" } else { "" };
            let _ = write!(out, "{sign}{hours:02}:{mi:02}:{s:02}");
            if *us > 0 {
                let _ = write!(out, ".{us:06}");
            }
        }
    }
}

/// Appends one row: values separated by TAB, ended by LF.
pub fn encode_row(values: &[Value], types: &[ColumnType], out: &mut Vec<u8>) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        encode_value(
            v,
            types.get(i).copied().unwrap_or(ColumnType::MYSQL_TYPE_BLOB),
            out,
        );
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: Value, t: ColumnType) -> String {
        let mut out = Vec::new();
        encode_value(&v, t, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn escapes_and_nulls() {
        let mut out = Vec::new();
        escape_into(b"a\\b\tc\nd\re\0f\\N", &mut out);
        assert_eq!(out, b"a\\\\b\\tc\\nd\\re\\0f\\\\N");
        assert_eq!(enc(Value::NULL, ColumnType::MYSQL_TYPE_STRING), "\\N");
    }

    #[test]
    fn numbers_and_temporals() {
        assert_eq!(
            enc(Value::Float(0.123_456_7), ColumnType::MYSQL_TYPE_FLOAT),
            "0.1234567"
        );
        assert_eq!(
            enc(Value::Double(-1e-300), ColumnType::MYSQL_TYPE_DOUBLE),
            "-1e-300"
        );
        assert_eq!(
            enc(
                Value::Date(0, 0, 0, 0, 0, 0, 0),
                ColumnType::MYSQL_TYPE_DATETIME
            ),
            "0000-00-00 00:00:00"
        );
        assert_eq!(
            enc(
                Value::Date(2024, 2, 29, 0, 0, 0, 0),
                ColumnType::MYSQL_TYPE_DATE
            ),
            "2024-02-29"
        );
        assert_eq!(
            enc(
                Value::Date(2024, 2, 29, 23, 5, 9, 120),
                ColumnType::MYSQL_TYPE_TIMESTAMP
            ),
            "2024-02-29 23:05:09.000120"
        );
        assert_eq!(
            enc(
                Value::Time(true, 1, 2, 3, 4, 0),
                ColumnType::MYSQL_TYPE_TIME
            ),
            "-26:03:04"
        );
        assert_eq!(
            enc(
                Value::Time(false, 34, 22, 59, 59, 999_999),
                ColumnType::MYSQL_TYPE_TIME
            ),
            "838:59:59.999999"
        );
    }

    #[test]
    fn float_text_parses_back_to_the_same_bits() {
        for f in [
            f32::MAX,
            f32::MIN_POSITIVE,
            1.0e-45,
            0.1,
            16_777_217.0,
            -3.4e38,
        ] {
            let s = enc(Value::Float(f), ColumnType::MYSQL_TYPE_FLOAT);
            assert_eq!(s.parse::<f32>().unwrap().to_bits(), f.to_bits(), "{s}");
        }
    }

    /// LOAD DATA's reading of an escaped field.
    fn unescape(field: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut it = field.iter();
        while let Some(&b) = it.next() {
            if b != b'\\' {
                out.push(b);
                continue;
            }
            match it.next() {
                Some(b't') => out.push(b'\t'),
                Some(b'n') => out.push(b'\n'),
                Some(b'r') => out.push(b'\r'),
                Some(b'0') => out.push(0),
                Some(&o) => out.push(o),
                None => out.push(b'\\'),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn escape_round_trips(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            escape_into(&bytes, &mut out);
            proptest::prop_assert!(!out.contains(&b'\t') && !out.contains(&b'\n') && !out.contains(&0));
            proptest::prop_assert_eq!(unescape(&out), bytes);
        }
    }
}
