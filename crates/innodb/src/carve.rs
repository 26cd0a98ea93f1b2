//! Finding InnoDB pages in any bytes (a disk image, free blocks, a damaged file), at any
//! byte alignment: every INDEX page carries its infimum and supremum records at fixed
//! offsets, which a fast substring search finds.

use crate::checksum;
use crate::index::{COMPACT_INFIMUM, COMPACT_SUPREMUM, REDUNDANT_INFIMUM, REDUNDANT_SUPREMUM};
use crate::page::{FIL_TRAILER, PAGE_SIZES, be};

/// Offsets in `hay` where INDEX pages start: where "infimum" and "supremum" sit as a COMPACT
/// or REDUNDANT page holds them. A page is found if its first 130 bytes are in `hay`.
pub fn index_pages(hay: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for p in memchr::memmem::find_iter(hay, b"infimum\0") {
        let compact = p >= COMPACT_INFIMUM
            && hay.get(
                p + (COMPACT_SUPREMUM - COMPACT_INFIMUM)
                    ..p + (COMPACT_SUPREMUM - COMPACT_INFIMUM) + 8,
            ) == Some(b"supremum".as_slice());
        let redundant = p >= REDUNDANT_INFIMUM
            && hay.get(
                p + (REDUNDANT_SUPREMUM - REDUNDANT_INFIMUM)
                    ..p + (REDUNDANT_SUPREMUM - REDUNDANT_INFIMUM) + 8,
            ) == Some(b"supremum".as_slice());
        if compact {
            out.push(p - COMPACT_INFIMUM);
        } else if redundant {
            out.push(p - REDUNDANT_INFIMUM);
        }
    }
    out
}

/// The size of the page starting at `start` of `hay`: the size whose trailer repeats the
/// header's LSN and whose checksum holds, else whose trailer repeats the LSN, else `default`.
pub fn page_size_at(hay: &[u8], start: usize, default: usize) -> usize {
    let mut lsn_fits = None;
    for size in PAGE_SIZES {
        let Some(p) = hay.get(start..start + size) else {
            continue;
        };
        let lsn_low = be::u32(p, 20);
        // crc32/innodb pages repeat the LSN's low half in their last 4 bytes; full_crc32
        // pages keep it in the 4 bytes before the checksum. A cheap test before the sums.
        let full = lsn_low.is_some() && be::u32(p, size - FIL_TRAILER) == lsn_low;
        let old = lsn_low.is_some() && be::u32(p, size - 4) == lsn_low;
        if (full && checksum::verify(p, true).is_valid())
            || (old && checksum::verify(p, false).is_valid())
        {
            return size;
        }
        if (full || old) && lsn_low != Some(0) && lsn_fits.is_none() {
            lsn_fits = Some(size);
        }
    }
    lsn_fits.unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pages_at_odd_offsets() {
        let mut page = vec![0u8; 4096];
        page[COMPACT_INFIMUM..COMPACT_INFIMUM + 8].copy_from_slice(b"infimum\0");
        page[COMPACT_SUPREMUM..COMPACT_SUPREMUM + 8].copy_from_slice(b"supremum");
        page[20..24].copy_from_slice(&7u32.to_be_bytes());
        page[4092..4096].copy_from_slice(&7u32.to_be_bytes());
        let mut hay = vec![0x33u8; 1001];
        hay.extend_from_slice(&page);
        hay.extend_from_slice(&[0x44; 77]);
        assert_eq!(index_pages(&hay), vec![1001]);
        assert_eq!(page_size_at(&hay, 1001, 16384), 4096);
        assert!(index_pages(b"infimum\0 no supremum here").is_empty());
    }
}
