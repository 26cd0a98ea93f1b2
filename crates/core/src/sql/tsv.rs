//! Rows as LOAD DATA reads them back exactly.
//!
//! Format: fields separated by TAB, rows ended by LF, escape character `\`, NULL as `\N`
//! (LOAD DATA's defaults, stated explicitly on load). Values are the server's own text
//! protocol output, copied as they arrive: strings and BLOBs are the column's raw bytes
//! (`SET NAMES binary` on dump, `CHARACTER SET binary` on load), which also carries BIT and
//! GEOMETRY (internal SRID+WKB) values unchanged; numbers and temporals are the server's
//! text, which LOAD DATA parses back to the same value. One exception, handled in the
//! SELECT: the text protocol prints FLOAT with 6 digits (measured on MariaDB 10.11,
//! 0.1234567 came back as 0.123457), so FLOAT columns are read as `col * 1e0`, a DOUBLE that
//! holds the FLOAT exactly and prints with every digit it needs.

use lifeboat_server::replica::fields;

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

/// Whether `bytes` holds nothing to escape. Every special byte is below 14 or is `\`: a
/// test without early exit, which the compiler turns into vector instructions (the
/// byte-by-byte search was 10% of a backup's CPU).
fn plain(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(false, |acc, &b| acc | (b < 14) | (b == b'\\'))
        .eq(&false)
}

/// Appends `bytes` with `\`, TAB, LF, CR and NUL escaped.
pub fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    if plain(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
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

/// Appends one text-protocol row (its packet payload) as a line; `false` when the payload
/// is cut short or does not hold `columns` values (nothing is appended then).
pub fn encode_text_row(row: &[u8], columns: usize, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let (mut n, mut cut) = (0, false);
    for f in fields(row) {
        if n > 0 {
            out.push(b'\t');
        }
        match f {
            Ok(None) => out.extend_from_slice(b"\\N"),
            Ok(Some(v)) => escape_into(v, out),
            Err(()) => {
                cut = true;
                break;
            }
        }
        n += 1;
    }
    if cut || n != columns {
        out.truncate(start);
        return false;
    }
    out.push(b'\n');
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A text-protocol row from values (`None`: NULL).
    fn row(values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut p = Vec::new();
        for v in values {
            match v {
                None => p.push(0xfb),
                Some(v) if v.len() < 251 => {
                    p.push(v.len() as u8);
                    p.extend_from_slice(v);
                }
                Some(v) => {
                    p.push(0xfc);
                    p.extend_from_slice(&(v.len() as u16).to_le_bytes());
                    p.extend_from_slice(v);
                }
            }
        }
        p
    }

    #[test]
    fn escapes_and_nulls() {
        let mut out = Vec::new();
        escape_into(b"a\\b\tc\nd\re\0f\\N", &mut out);
        assert_eq!(out, b"a\\\\b\\tc\\nd\\re\\0f\\\\N");
        let mut out = Vec::new();
        let long = vec![b'x'; 300];
        let r = row(&[None, Some(b""), Some(b"1.5"), Some(&long)]);
        assert!(encode_text_row(&r, 4, &mut out));
        assert_eq!(out, [b"\\N\t\t1.5\t".as_slice(), &long, b"\n"].concat());
    }

    #[test]
    fn short_or_wrong_rows_append_nothing() {
        let mut out = b"kept".to_vec();
        let r = row(&[Some(b"abc"), None]);
        assert!(!encode_text_row(&r, 3, &mut out));
        assert!(!encode_text_row(&r[..r.len() - 2], 2, &mut out));
        assert!(!encode_text_row(&[0xfc, 9], 1, &mut out));
        assert_eq!(out, b"kept");
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
