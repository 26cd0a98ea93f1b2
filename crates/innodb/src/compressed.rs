//! MariaDB page_compressed pages (`PAGE_COMPRESSED=1`): each page is compressed on its own
//! when written and expanded when read, so on disk a page is a short header, the compressed
//! image of the whole page, and zeros (a sparse file's holes).
//!
//! Two layouts, measured on MariaDB 10.11:
//! - **full_crc32** (the default since 10.5): the page-type field holds `0x8000 | size/256`,
//!   `size` being the stored length (a multiple of 256) including the CRC-32C of bytes
//!   `0..size-4` in its last 4 bytes. The compressed stream starts at byte 26. The algorithm
//!   is in the tablespace flags. For algorithms whose streams do not mark their own end (lz4,
//!   lzo, snappy) the byte before the checksum holds the low byte of the unrounded length
//!   (payload + that byte + checksum; 0 when it was a multiple of 256).
//! - **older checksum formats**: page type 34354; the checksum field holds 0xDEADBEEF (no
//!   checksum); bytes 26..34 the algorithm, 38..40 the compressed length, the stream from
//!   byte 40. The expanded page carries the original's own checksum.
//!
//! Either way the stream expands to the whole page as the server had it in memory.

use crate::page::be;

/// Page type of a page_compressed page in the older checksum formats.
pub const PAGE_COMPRESSED: u16 = 34354;
/// The same, encrypted too (not readable without the key).
pub const PAGE_COMPRESSED_ENCRYPTED: u16 = 37401;
/// Where the stream starts (full_crc32).
const FULL_CRC32_DATA: usize = 26;
/// Where the stream starts (older formats), after its 2-byte length at 38.
const DATA: usize = 40;

/// Why a page did not expand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// An algorithm lifeboat does not decompress.
    #[error("page_compressed with {0}, which lifeboat does not decompress (zlib and lz4 only)")]
    Unsupported(&'static str),
    /// Encrypted as well.
    #[error("page_compressed and encrypted: the key is needed")]
    Encrypted,
    /// The header or the stream is damaged.
    #[error("page_compressed page does not expand: {0}")]
    Corrupt(String),
}

/// The name of algorithm `code` (tablespace flags, or the older header).
pub fn algorithm_name(code: u64) -> &'static str {
    match code {
        1 => "zlib",
        2 => "lz4",
        3 => "lzo",
        4 => "lzma",
        5 => "bzip2",
        6 => "snappy",
        _ => "an unknown algorithm",
    }
}

/// Whether `page` is stored page_compressed (`full_crc32`: the tablespace's checksum format,
/// when known; both layouts are tried otherwise).
pub fn is_compressed(page: &[u8], full_crc32: Option<bool>) -> bool {
    let Some(t) = be::u16(page, 24) else {
        return false;
    };
    let full = t & 0x8000 != 0 && t & 0x7fff != 0 && usize::from(t & 0x7fff) * 256 <= page.len();
    let old = t == PAGE_COMPRESSED || t == PAGE_COMPRESSED_ENCRYPTED;
    match full_crc32 {
        Some(true) => full,
        Some(false) => old,
        None => full || old,
    }
}

/// The stored length of a full_crc32 page_compressed page (its checksum is in its last 4
/// bytes), or `None` for any other page.
pub fn full_crc32_size(page: &[u8]) -> Option<usize> {
    let t = be::u16(page, 24)?;
    let size = usize::from(t & 0x7fff) * 256;
    (t & 0x8000 != 0 && size >= FULL_CRC32_DATA + 4 && size <= page.len()).then_some(size)
}

/// The page as the server has it in memory. `algorithm`: the tablespace flags' code for
/// full_crc32 files (`None` when page 0 is gone: zlib is recognised by its header, lz4 is
/// tried otherwise).
pub fn expand(page: &[u8], algorithm: Option<u8>) -> Result<Vec<u8>, ExpandError> {
    let t = be::u16(page, 24).unwrap_or(0);
    if t == PAGE_COMPRESSED_ENCRYPTED {
        return Err(ExpandError::Encrypted);
    }
    let corrupt = |what: &str| ExpandError::Corrupt(what.to_owned());
    let (stream, algo) = if t == PAGE_COMPRESSED {
        let algo = be::u64(page, 26).ok_or_else(|| corrupt("page cut short"))?;
        let len = usize::from(be::u16(page, 38).ok_or_else(|| corrupt("page cut short"))?);
        let stream = page
            .get(DATA..DATA + len)
            .ok_or_else(|| corrupt("compressed length beyond the page"))?;
        (stream, algo)
    } else {
        let size = full_crc32_size(page).ok_or_else(|| corrupt("not a compressed page"))?;
        let algo = match algorithm {
            Some(a) => u64::from(a),
            None if page.get(FULL_CRC32_DATA).is_some_and(|&b| b & 0x0f == 8) => 1,
            None => 2,
        };
        let end = if matches!(algo, 2 | 3 | 6) {
            let lsb = usize::from(page.get(size - 5).copied().unwrap_or(0));
            let unrounded = if lsb == 0 { size } else { size - 256 + lsb };
            unrounded
                .checked_sub(5)
                .filter(|&e| e >= FULL_CRC32_DATA)
                .ok_or_else(|| corrupt("stored length too short"))?
        } else {
            size - 4
        };
        let stream = page
            .get(FULL_CRC32_DATA..end)
            .ok_or_else(|| corrupt("stored length beyond the page"))?;
        (stream, algo)
    };
    let mut out = vec![0u8; page.len()];
    match algo {
        1 => {
            let mut z = flate2::Decompress::new(true);
            let status = z
                .decompress(stream, &mut out, flate2::FlushDecompress::Finish)
                .map_err(|e| corrupt(&format!("zlib: {e}")))?;
            // A stream that fills the page before its end is a larger page's.
            if status != flate2::Status::StreamEnd {
                return Err(corrupt(&format!(
                    "zlib gives more than the page's {} bytes",
                    out.len()
                )));
            }
            if z.total_out() != out.len() as u64 {
                return Err(corrupt(&format!(
                    "zlib gave {} bytes, the page has {}",
                    z.total_out(),
                    out.len()
                )));
            }
        }
        2 => {
            let n = lz4_flex::block::decompress_into(stream, &mut out)
                .map_err(|e| corrupt(&format!("lz4: {e}")))?;
            if n != out.len() {
                return Err(corrupt(&format!(
                    "lz4 gave {n} bytes, the page has {}",
                    out.len()
                )));
            }
        }
        other => return Err(ExpandError::Unsupported(algorithm_name(other))),
    }
    Ok(out)
}

/// `page` as the server has it in memory: expanded when stored page_compressed or as a
/// ROW_FORMAT=COMPRESSED INDEX page ([`crate::zip`]), as it is otherwise. An expanded full_crc32 page gets a checksum of its own when the stored one
/// held (and keeps a failing one when it did not), so a verdict on the expanded page says
/// what the verdict on the stored page said. `flags`: the tablespace's, when known.
pub fn in_memory<'a>(
    page: &'a [u8],
    flags: Option<&crate::SpaceFlags>,
) -> Result<std::borrow::Cow<'a, [u8]>, ExpandError> {
    // ROW_FORMAT=COMPRESSED: INDEX pages are expanded to the tablespace's page size (16
    // KiB when page 0 is gone: compressed tables need pages of at most 16 KiB).
    if flags.is_none_or(|f| f.zip_size.is_some()) && crate::zip::is_zip_index(page) {
        let logical = flags.map_or(16384, |f| f.page_size);
        return crate::zip::expand(page, logical).map(std::borrow::Cow::Owned);
    }
    let full_crc32 = flags.map(|f| f.full_crc32);
    if !is_compressed(page, full_crc32) {
        return Ok(std::borrow::Cow::Borrowed(page));
    }
    let mut out = expand(
        page,
        flags.and_then(|f| f.page_compressed).filter(|&a| a != 0),
    )?;
    if let Some(size) = full_crc32_size(page).filter(|_| full_crc32 != Some(false)) {
        let held = crate::checksum::verify(page.get(..size).unwrap_or(page), true).is_valid();
        let n = out.len().saturating_sub(4);
        let crc = crc32c::crc32c(out.get(..n).unwrap_or_default()) ^ u32::from(!held);
        if let Some(tail) = out.get_mut(n..) {
            tail.copy_from_slice(&crc.to_be_bytes());
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page with recognisable content, as the server would have it.
    fn page(size: usize) -> Vec<u8> {
        let mut p = vec![0u8; size];
        p[4..8].copy_from_slice(&7u32.to_be_bytes());
        p[24..26].copy_from_slice(&17855u16.to_be_bytes());
        for (i, b) in p[38..2000].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        p
    }

    /// Stores `p` page_compressed (full_crc32) with `stream` as its compressed image.
    fn full_crc32(p: &[u8], stream: &[u8], with_len: bool) -> Vec<u8> {
        let unrounded = FULL_CRC32_DATA + stream.len() + 4 + usize::from(with_len);
        let size = unrounded.div_ceil(256) * 256;
        let mut out = vec![0u8; p.len()];
        out[..24].copy_from_slice(&p[..24]);
        out[24..26].copy_from_slice(&(0x8000u16 | (size / 256) as u16).to_be_bytes());
        out[FULL_CRC32_DATA..FULL_CRC32_DATA + stream.len()].copy_from_slice(stream);
        if with_len {
            out[size - 5] = (unrounded % 256) as u8;
        }
        let crc = crc32c::crc32c(&out[..size - 4]);
        out[size - 4..size].copy_from_slice(&crc.to_be_bytes());
        out
    }

    #[test]
    fn zlib_and_lz4_pages_expand_to_the_page() {
        use std::io::Write;
        let p = page(16384);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&p).unwrap();
        let zs = z.finish().unwrap();
        let stored = full_crc32(&p, &zs, false);
        assert!(is_compressed(&stored, Some(true)));
        assert_eq!(expand(&stored, Some(1)).unwrap(), p);
        assert_eq!(
            expand(&stored, None).unwrap(),
            p,
            "zlib is recognised by its header"
        );
        let ls = lz4_flex::block::compress(&p);
        let stored = full_crc32(&p, &ls, true);
        assert_eq!(expand(&stored, Some(2)).unwrap(), p);
        // In memory: the expanded page with a checksum that holds.
        assert!(crate::checksum::verify(&stored, true).is_valid());
        let mem = in_memory(&stored, None).unwrap();
        assert_eq!(mem[..p.len() - 4], p[..p.len() - 4]);
        assert!(crate::checksum::verify(&mem, true).is_valid());
        // The older layout.
        let mut old = vec![0u8; p.len()];
        old[..24].copy_from_slice(&p[..24]);
        old[24..26].copy_from_slice(&PAGE_COMPRESSED.to_be_bytes());
        old[26..34].copy_from_slice(&1u64.to_be_bytes());
        old[38..40].copy_from_slice(&(zs.len() as u16).to_be_bytes());
        old[DATA..DATA + zs.len()].copy_from_slice(&zs);
        assert!(is_compressed(&old, Some(false)));
        assert_eq!(expand(&old, None).unwrap(), p);
        // lzo: named, not guessed at.
        old[26..34].copy_from_slice(&3u64.to_be_bytes());
        assert_eq!(expand(&old, None), Err(ExpandError::Unsupported("lzo")));
    }

    #[test]
    fn a_page_expands_only_to_its_own_size() {
        use std::io::Write;
        // An 8 KiB page found without its tablespace, tried at each page size.
        let p = page(8192);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&p).unwrap();
        let zs = z.finish().unwrap();
        let ls = lz4_flex::block::compress(&p);
        for (stream, algo, with_len) in [(&zs, 1, false), (&ls, 2, true)] {
            let stored = full_crc32(&p, stream, with_len);
            for size in [4096, 16384] {
                let mut other = stored.clone();
                other.resize(size, 0);
                assert!(expand(&other, Some(algo)).is_err(), "{algo} at {size}");
            }
            assert_eq!(expand(&stored, Some(algo)).unwrap(), p);
        }
    }

    #[test]
    fn damaged_pages_are_errors_not_panics() {
        let p = page(4096);
        let ls = lz4_flex::block::compress(&p);
        let stored = full_crc32(&p, &ls, true);
        for cut in [0, 1, 30, 100, ls.len() / 2] {
            let mut bad = stored.clone();
            for b in &mut bad[FULL_CRC32_DATA + cut..FULL_CRC32_DATA + cut + 8] {
                *b ^= 0x5a;
            }
            let _ = expand(&bad, Some(2));
            let _ = expand(&bad, Some(1));
            let _ = expand(&bad, None);
        }
        let mut junk = vec![0xffu8; 4096];
        junk[24..26].copy_from_slice(&0x8001u16.to_be_bytes());
        assert!(expand(&junk, Some(2)).is_err());
        junk[24..26].copy_from_slice(&PAGE_COMPRESSED.to_be_bytes());
        assert!(expand(&junk, None).is_err());
    }
}
