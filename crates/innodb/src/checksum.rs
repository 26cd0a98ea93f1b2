//! Page checksums: a verdict per page, never a reason to skip it (a page with a bad checksum
//! still holds rows).
//!
//! - `crc32` (MySQL 5.7.7+, MariaDB before 10.5): CRC-32C of bytes 4..26 XOR CRC-32C of
//!   38..size-8, in the header's checksum field;
//! - `innodb` (older servers): a byte-wise fold of the same two ranges, added;
//! - `none`: the magic 0xDEADBEEF;
//! - `full_crc32` (MariaDB 10.5+ files): one CRC-32C of everything but the last 4 bytes,
//!   stored in those 4 bytes;
//! - ROW_FORMAT=COMPRESSED pages (no trailer): CRC-32C of bytes 4..16, 24..26 and 34..,
//!   XORed (`crc32`), or one Adler-32 over the same ranges (`innodb`). Checked on 8 KiB
//!   pages MariaDB 10.11 wrote.

use serde::Serialize;

use crate::page::{FIL_TRAILER, be};

/// What `innodb_checksum_algorithm=none` writes.
pub const NO_CHECKSUM_MAGIC: u32 = 0xDEAD_BEEF;

/// Algorithm a page's checksum matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// CRC-32C of two ranges, XORed.
    Crc32,
    /// The legacy fold.
    Innodb,
    /// No checksum (the magic value).
    None,
    /// MariaDB full_crc32.
    FullCrc32,
}

/// The checksum verdict of one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// The stored checksum matches.
    Valid {
        /// How it was computed.
        algorithm: Algorithm,
    },
    /// Every byte is zero: allocated, never written.
    Empty,
    /// Nothing matches (a torn write, damage, or not a page).
    Invalid {
        /// The checksum stored in the page.
        stored: u32,
        /// What `crc32` (or `full_crc32` for such files) gives.
        computed: u32,
    },
}

impl Verdict {
    /// Whether the checksum matched.
    pub fn is_valid(self) -> bool {
        matches!(self, Verdict::Valid { .. })
    }
}

/// The verdict for `page` (its whole bytes); `full_crc32` for files whose tablespace flags
/// say so (see [`crate::fsp::SpaceFlags`]).
pub fn verify(page: &[u8], full_crc32: bool) -> Verdict {
    if page.iter().all(|&b| b == 0) {
        return Verdict::Empty;
    }
    let size = page.len();
    if full_crc32 {
        // A page_compressed page's checksum ends its stored length, not the page.
        let end = crate::compressed::full_crc32_size(page).unwrap_or(size);
        let stored_page = page.get(..end).unwrap_or(page);
        let (body, tail) = stored_page.split_at(stored_page.len().saturating_sub(4));
        let stored = be::u32(tail, 0).unwrap_or(0);
        let computed = crc32c::crc32c(body);
        return if stored == computed {
            Verdict::Valid {
                algorithm: Algorithm::FullCrc32,
            }
        } else {
            Verdict::Invalid { stored, computed }
        };
    }
    let stored = be::u32(page, 0).unwrap_or(0);
    if be::u16(page, 24) == Some(crate::compressed::PAGE_COMPRESSED) && stored == NO_CHECKSUM_MAGIC
    {
        // Stored without a checksum or trailer: the expanded page carries the original's.
        return Verdict::Valid {
            algorithm: Algorithm::None,
        };
    }
    let computed = crc32(page);
    // The LSN's low half is repeated in the trailer: a mismatch is a torn page.
    let lsn_ok = be::u32(page, 20) == be::u32(page, size.saturating_sub(4));
    let algorithm = if stored == computed {
        Some(Algorithm::Crc32)
    } else if stored == NO_CHECKSUM_MAGIC {
        Some(Algorithm::None)
    } else if stored == innodb_new(page) {
        Some(Algorithm::Innodb)
    } else {
        None
    };
    match algorithm {
        Some(algorithm) if lsn_ok => Verdict::Valid { algorithm },
        // A compressed table's page: its own ranges, no trailer.
        _ if size <= 16384 && stored == zip_crc32(page) => Verdict::Valid {
            algorithm: Algorithm::Crc32,
        },
        _ if size <= 16384 && stored == zip_adler32(page) => Verdict::Valid {
            algorithm: Algorithm::Innodb,
        },
        _ => Verdict::Invalid { stored, computed },
    }
}

/// The ranges a ROW_FORMAT=COMPRESSED page's checksum covers.
fn zip_ranges(page: &[u8]) -> [&[u8]; 3] {
    [
        page.get(4..16).unwrap_or_default(),
        page.get(24..26).unwrap_or_default(),
        page.get(34..).unwrap_or_default(),
    ]
}

/// The `crc32` checksum of a ROW_FORMAT=COMPRESSED page.
pub fn zip_crc32(page: &[u8]) -> u32 {
    zip_ranges(page)
        .iter()
        .fold(0, |acc, r| acc ^ crc32c::crc32c(r))
}

/// The `innodb` checksum of a ROW_FORMAT=COMPRESSED page: Adler-32 over its ranges.
pub(crate) fn zip_adler32(page: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for r in zip_ranges(page) {
        // 5552 bytes keep the sums below 2^32 between reductions.
        for chunk in r.chunks(5552) {
            for &x in chunk {
                a += u32::from(x);
                b += a;
            }
            a %= MOD;
            b %= MOD;
        }
    }
    b << 16 | a
}

/// The `crc32` checksum of a page.
pub fn crc32(page: &[u8]) -> u32 {
    let size = page.len();
    let a = crc32c::crc32c(page.get(4..26).unwrap_or_default());
    let b = crc32c::crc32c(
        page.get(38..size.saturating_sub(FIL_TRAILER))
            .unwrap_or_default(),
    );
    a ^ b
}

const FOLD_MASK: u32 = 1_463_735_687;
const FOLD_MASK2: u32 = 1_653_893_711;

/// The legacy fold of two numbers (only the low 32 bits matter, so u32 arithmetic is exact).
fn fold_pair(n1: u32, n2: u32) -> u32 {
    ((((n1 ^ n2 ^ FOLD_MASK2) << 8).wrapping_add(n1)) ^ FOLD_MASK).wrapping_add(n2)
}

fn fold(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0u32, |acc, &b| fold_pair(acc, u32::from(b)))
}

/// The legacy `innodb` checksum of the header field.
pub fn innodb_new(page: &[u8]) -> u32 {
    let size = page.len();
    fold(page.get(4..26).unwrap_or_default()).wrapping_add(fold(
        page.get(38..size.saturating_sub(FIL_TRAILER))
            .unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_page_is_empty_and_garbage_is_invalid() {
        assert_eq!(verify(&[0u8; 16384], false), Verdict::Empty);
        let mut p = vec![7u8; 16384];
        assert!(!verify(&p, false).is_valid());
        assert!(!verify(&p, true).is_valid());
        // A page stamped with its own crc32 and matching LSN halves is valid.
        let c = crc32(&p);
        p[..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            verify(&p, false),
            Verdict::Valid {
                algorithm: Algorithm::Crc32
            }
        );
        // Torn: the trailer's LSN half differs.
        p[16383] ^= 1;
        assert!(!verify(&p, false).is_valid());
    }

    #[test]
    fn full_crc32_covers_all_but_the_last_four_bytes() {
        let mut p = vec![3u8; 4096];
        let c = crc32c::crc32c(&p[..4092]);
        p[4092..].copy_from_slice(&c.to_be_bytes());
        assert!(verify(&p, true).is_valid());
        p[100] ^= 0x40;
        assert!(!verify(&p, true).is_valid());
    }
}
