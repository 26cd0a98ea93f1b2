//! MariaDB's `CHECKSUM TABLE`, computed from the rows a backup reads anyway.
//!
//! `CHECKSUM TABLE` is a second full scan of every table on the production server (a sixth
//! of the server's CPU in a backup of sysbench tables). For tables whose every column has a
//! storage image that follows from its text, lifeboat computes the same number from the rows
//! it already streams in the snapshot, and the server scans each table once.
//!
//! The server's value: the sum, wrapping at 2^32, over rows of a CRC-32 (zlib's) of
//! 1. the row's null bitmap, when the record has one: a bit per nullable column in column
//!    order (set: NULL), after a first bit that is reserved and set in records that are not
//!    "packed", and with the unused high bits of the last byte set;
//! 2. then each non-NULL column in order: VARCHAR, VARBINARY, TEXT and BLOB as their bytes;
//!    every other type as its fixed-size record image (integers little-endian, CHAR padded
//!    with spaces to its octet length, DECIMAL in its binary form, ...).
//!
//! A record is packed when the table has a TEXT/BLOB column, a VARCHAR/VARBINARY column
//! (unless `ROW_FORMAT=FIXED`), or an explicit `ROW_FORMAT=DYNAMIC` or `PAGE`.
//!
//! Checked against the server's own `CHECKSUM TABLE` for every type below, nullable and
//! not, across null-bitmap byte boundaries and row formats (tests/cli/backup.rs). Anything
//! else (temporals with time parts, whose storage format depends on when the column was
//! created; DOUBLE(M,D); ENUM, SET, BIT, UUID, INET, spatial types; generated columns; other
//! engines; MySQL) keeps the server's `CHECKSUM TABLE`.

use lifeboat_server::replica::fields;

/// What `information_schema.COLUMNS` says of one column.
#[derive(Debug, Clone)]
pub(crate) struct ColumnFacts {
    /// `COLUMN_NAME`.
    pub name: String,
    /// `DATA_TYPE`.
    pub data_type: String,
    /// `IS_NULLABLE = 'YES'`.
    pub nullable: bool,
    /// `CHARACTER_SET_NAME`.
    pub charset: Option<String>,
    /// `COLLATION_NAME`.
    pub collation: Option<String>,
    /// `CHARACTER_OCTET_LENGTH`.
    pub octets: Option<u64>,
    /// `NUMERIC_PRECISION`.
    pub precision: Option<u64>,
    /// `NUMERIC_SCALE`.
    pub scale: Option<u64>,
    /// A generated column (`EXTRA`; not in the SELECT).
    pub generated: bool,
}

/// How a non-NULL value enters the row's CRC.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Image {
    /// Integer: little-endian in this many bytes.
    Int(u8),
    /// FLOAT (read as a DOUBLE that holds it exactly): 4 bytes.
    Float,
    /// DOUBLE: 8 bytes.
    Double,
    /// DECIMAL(precision, scale), binary form.
    Decimal(u8, u8),
    /// DATE: 3 bytes.
    Date,
    /// YEAR: 1 byte.
    Year,
    /// CHAR: padded with spaces to this many bytes.
    Char(usize),
    /// BINARY: padded with zero bytes (the server sends them already) to this many bytes.
    Binary(usize),
    /// VARCHAR, VARBINARY, TEXT, BLOB: the bytes.
    Bytes,
}

/// The longest pad a CHAR or BINARY needs: 255 characters of up to 4 bytes.
const MAX_PAD: usize = 1024;
static SPACES: [u8; MAX_PAD] = [b' '; MAX_PAD];
static ZEROS: [u8; MAX_PAD] = [0; MAX_PAD];

/// One table's checksum recipe.
#[derive(Debug, Clone)]
pub(crate) struct RowChecksum {
    /// Per column: its image, and its bit in the null bitmap when it is nullable.
    columns: Vec<(Image, Option<usize>)>,
    /// The null bitmap with only the bits set in every row (reserved, unused).
    base: Vec<u8>,
}

impl RowChecksum {
    /// The recipe for a MariaDB InnoDB table of these columns (in table order) and
    /// `CREATE_OPTIONS`, or `None` when one of them is not covered.
    pub(crate) fn of(columns: &[ColumnFacts], create_options: &str) -> Option<RowChecksum> {
        let row_format = create_options
            .split_whitespace()
            .find_map(|o| o.strip_prefix("row_format="))
            .map(str::to_ascii_uppercase);
        let mut packed = matches!(row_format.as_deref(), Some("DYNAMIC" | "PAGE"));
        let mut images = Vec::with_capacity(columns.len());
        for c in columns {
            if c.generated {
                return None;
            }
            let image = match c.data_type.as_str() {
                // Signed or not, the same bytes: two's complement, little-endian.
                "tinyint" => Image::Int(1),
                "smallint" => Image::Int(2),
                "mediumint" => Image::Int(3),
                "int" => Image::Int(4),
                "bigint" => Image::Int(8),
                "float" => Image::Float,
                // DOUBLE(M,D) prints D decimals of a value the server rounded its own way
                // (measured: 123456.7891 read back one bit off); FLOAT is read in full.
                "double" if c.scale.is_none() => Image::Double,
                "decimal" => Image::Decimal(
                    u8::try_from(c.precision?).ok()?,
                    u8::try_from(c.scale?).ok()?,
                ),
                "date" => Image::Date,
                "year" => Image::Year,
                "char" => {
                    // Multi-byte spaces (UCS-2, UTF-16, UTF-32) pad differently.
                    let cs = c.charset.as_deref()?;
                    if cs.starts_with("ucs2") || cs.starts_with("utf16") || cs.starts_with("utf32")
                    {
                        return None;
                    }
                    Image::Char(usize::try_from(c.octets?).ok().filter(|&n| n <= MAX_PAD)?)
                }
                "binary" => {
                    Image::Binary(usize::try_from(c.octets?).ok().filter(|&n| n <= MAX_PAD)?)
                }
                "varchar" | "varbinary" => {
                    if row_format.as_deref() != Some("FIXED") {
                        packed = true;
                    }
                    Image::Bytes
                }
                "tinytext" | "text" | "mediumtext" | "longtext" | "tinyblob" | "blob"
                | "mediumblob" | "longblob" => {
                    packed = true;
                    Image::Bytes
                }
                _ => return None,
            };
            images.push(image);
        }
        let mut next = usize::from(!packed);
        let columns: Vec<(Image, Option<usize>)> = images
            .into_iter()
            .zip(columns)
            .map(|(image, c)| {
                let bit = c.nullable.then(|| {
                    next += 1;
                    next - 1
                });
                (image, bit)
            })
            .collect();
        let mut base = vec![0u8; next.div_ceil(8)];
        if !packed && let Some(first) = base.first_mut() {
            *first |= 1;
        }
        if next % 8 != 0
            && let Some(last) = base.last_mut()
        {
            *last |= 0xffu8 << (next % 8);
        }
        Some(RowChecksum { columns, base })
    }

    /// The CRC of one text-protocol row (its packet payload), or `None` when a value is not
    /// what the column's type prints (the caller then asks the server instead). `image` is
    /// scratch space: the record image is built whole and hashed at once, which is several
    /// times faster than hashing each value on its own.
    pub(crate) fn row(&self, row: &[u8], image: &mut Vec<u8>) -> Option<u32> {
        image.clear();
        image.extend_from_slice(&self.base);
        let mut n = 0;
        for f in fields(row) {
            let (kind, bit) = *self.columns.get(n)?;
            n += 1;
            let Some(v) = f.ok()? else {
                let bit = bit?; // NULL in a NOT NULL column: not the table we know
                *image.get_mut(bit / 8)? |= 1 << (bit % 8);
                continue;
            };
            match kind {
                Image::Bytes => image.extend_from_slice(v),
                Image::Char(len) => {
                    image.extend_from_slice(v);
                    image.extend_from_slice(SPACES.get(..len.checked_sub(v.len())?)?);
                }
                Image::Binary(len) => {
                    image.extend_from_slice(v);
                    image.extend_from_slice(ZEROS.get(..len.checked_sub(v.len())?)?);
                }
                Image::Int(n) => {
                    let (neg, x) = int(v)?;
                    let n = u32::from(n);
                    // Fits n bytes: up to 2^(8n)-1, or down to -2^(8n-1).
                    let fits = if neg {
                        x <= 1u64 << (8 * n - 1)
                    } else {
                        n == 8 || x >> (8 * n) == 0
                    };
                    if !fits {
                        return None;
                    }
                    let x = if neg { x.wrapping_neg() } else { x };
                    image.extend_from_slice(x.to_le_bytes().get(..n as usize)?);
                }
                Image::Double => {
                    let x: f64 = std::str::from_utf8(v).ok()?.parse().ok()?;
                    image.extend_from_slice(&x.to_le_bytes());
                }
                Image::Float => {
                    let x: f64 = std::str::from_utf8(v).ok()?.parse().ok()?;
                    let f = x as f32;
                    if f64::from(f) != x {
                        return None;
                    }
                    image.extend_from_slice(&f.to_le_bytes());
                }
                Image::Decimal(p, s) => {
                    let text = std::str::from_utf8(v).ok()?;
                    lifeboat_binlog::value::decimal_to(text, p, s, image).ok()?;
                }
                Image::Date => {
                    let (y, m, d) = date(v)?;
                    let x: u32 = (y << 9) | (m << 5) | d;
                    image.extend_from_slice(x.to_le_bytes().get(..3)?);
                }
                Image::Year => {
                    let y = match int(v)? {
                        (false, y) => y,
                        _ => return None,
                    };
                    image.push(match y {
                        0 => 0,
                        1901..=2155 => (y - 1900) as u8,
                        _ => return None,
                    });
                }
            }
        }
        (n == self.columns.len()).then(|| crc32fast::hash(image))
    }
}

/// A decimal integer as the server prints it: its sign and magnitude.
fn int(v: &[u8]) -> Option<(bool, u64)> {
    let (neg, digits) = match v.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, v),
    };
    if digits.is_empty() {
        return None;
    }
    let mut x: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        x = x.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some((neg, x))
}

/// `YYYY-MM-DD`.
fn date(v: &[u8]) -> Option<(u32, u32, u32)> {
    if v.len() != 10 || v.get(4) != Some(&b'-') || v.get(7) != Some(&b'-') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| match int(v.get(r)?)? {
        (false, x) => u32::try_from(x).ok(),
        _ => None,
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    (m <= 12 && d <= 31).then_some((y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(data_type: &str, nullable: bool) -> ColumnFacts {
        ColumnFacts {
            name: data_type.into(),
            data_type: data_type.into(),
            nullable,
            charset: Some("latin1".into()),
            collation: None,
            octets: Some(5),
            precision: Some(10),
            scale: Some(2),
            generated: false,
        }
    }

    /// A text-protocol row (`None`: NULL), values under 251 bytes.
    fn row(values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut p = Vec::new();
        for v in values {
            match v {
                None => p.push(0xfb),
                Some(v) => {
                    p.push(v.len() as u8);
                    p.extend_from_slice(v);
                }
            }
        }
        p
    }

    // Expected values are MariaDB 10.11's CHECKSUM TABLE of one-row tables.
    #[test]
    fn matches_the_server_on_known_rows() {
        let mut bm = Vec::new();
        // (a INT NOT NULL) = (1): reserved bit and unused bits set.
        let t = RowChecksum::of(&[col("int", false)], "").unwrap();
        assert_eq!(t.row(&row(&[Some(b"1")]), &mut bm), Some(3036305396));
        // (a INT NOT NULL, c CHAR(5) latin1 NOT NULL) = (1, 'x'): padded with spaces.
        let t = RowChecksum::of(&[col("int", false), col("char", false)], "").unwrap();
        assert_eq!(
            t.row(&row(&[Some(b"1"), Some(b"x")]), &mut bm),
            Some(3934383515)
        );
        // (a INT NOT NULL, b VARCHAR(10)) = (1,'ab'),(2,NULL): packed, NULL skipped.
        let t = RowChecksum::of(&[col("int", false), col("varchar", true)], "").unwrap();
        let sum = t
            .row(&row(&[Some(b"1"), Some(b"ab")]), &mut bm)
            .unwrap()
            .wrapping_add(t.row(&row(&[Some(b"2"), None]), &mut bm).unwrap());
        assert_eq!(sum, 1669009383);
        // (a INT NOT NULL) ROW_FORMAT=DYNAMIC: packed, no bitmap at all.
        let t = RowChecksum::of(&[col("int", false)], "row_format=DYNAMIC").unwrap();
        assert_eq!(t.row(&row(&[Some(b"1")]), &mut bm), Some(2583214201));
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert!(RowChecksum::of(&[col("datetime", false)], "").is_none());
        assert!(RowChecksum::of(&[col("enum", false)], "").is_none());
        let mut g = col("int", false);
        g.generated = true;
        assert!(RowChecksum::of(&[g], "").is_none());
        let mut u = col("char", false);
        u.charset = Some("utf16".into());
        assert!(RowChecksum::of(&[u], "").is_none());
        let t = RowChecksum::of(&[col("int", false), col("tinyint", true)], "").unwrap();
        let mut bm = Vec::new();
        // A NULL where the column is NOT NULL, a value out of range, a short row, junk.
        assert_eq!(t.row(&row(&[None, Some(b"1")]), &mut bm), None);
        assert_eq!(t.row(&row(&[Some(b"1"), Some(b"300")]), &mut bm), None);
        assert_eq!(t.row(&row(&[Some(b"1")]), &mut bm), None);
        assert_eq!(t.row(&row(&[Some(b"x"), Some(b"1")]), &mut bm), None);
        assert_eq!(t.row(&[0xfc, 0xff], &mut bm), None);
    }

    #[test]
    fn null_bits_cross_byte_boundaries() {
        // 8 nullable columns after the reserved bit: two bitmap bytes, 7 unused bits set.
        let cols: Vec<ColumnFacts> = (0..8).map(|_| col("tinyint", true)).collect();
        let t = RowChecksum::of(&cols, "").unwrap();
        assert_eq!(t.base, vec![0x01, 0xfe]);
        assert_eq!(t.columns[7].1, Some(8));
    }

    proptest::proptest! {
        /// Whatever the server sends, a row gives a CRC or `None`, never a panic.
        #[test]
        fn any_bytes_are_safe(
            kinds in proptest::collection::vec(0usize..14, 1..12),
            nullable in proptest::collection::vec(proptest::bool::ANY, 12),
            row in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            const TYPES: [&str; 14] = [
                "tinyint", "smallint", "mediumint", "int", "bigint", "float", "double",
                "decimal", "date", "year", "char", "binary", "varchar", "blob",
            ];
            let cols: Vec<ColumnFacts> = kinds
                .iter()
                .zip(&nullable)
                .map(|(&k, &n)| {
                    let mut c = col(TYPES[k], n);
                    if TYPES[k] == "double" {
                        c.scale = None;
                    }
                    c
                })
                .collect();
            let t = RowChecksum::of(&cols, "").unwrap();
            let mut bm = Vec::new();
            let _ = t.row(&row, &mut bm);
            // Well-framed rows of number-like text reach every value parser.
            let values: Vec<Option<Vec<u8>>> = row
                .chunks(7)
                .map(|c| (c[0] % 5 != 0).then(|| c.iter().map(|b| b"0123456789-.e:"[usize::from(*b) % 14]).collect()))
                .collect();
            let values: Vec<Option<&[u8]>> = values.iter().map(|v| v.as_deref()).collect();
            let _ = t.row(&super::tests::row(&values), &mut bm);
        }
    }
}
