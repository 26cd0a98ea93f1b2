//! The tablespace header on page 0 and its flags (page size, row-format family, checksum
//! format, compression), and finding the page size when page 0 is gone.

use serde::Serialize;

use crate::page::{FIL_HEADER, PAGE_SIZES, Vendor, be};

/// What the tablespace flags (`FSP_SPACE_FLAGS`) say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SpaceFlags {
    /// The flags as stored.
    pub raw: u32,
    /// MariaDB 10.5+ full_crc32 format (one CRC-32C per page, in its last 4 bytes).
    pub full_crc32: bool,
    /// Page size in bytes.
    pub page_size: usize,
    /// ROW_FORMAT=COMPRESSED: the compressed page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip_size: Option<usize>,
    /// Not ROW_FORMAT=REDUNDANT only (COMPACT, DYNAMIC or COMPRESSED tables).
    pub post_antelope: bool,
    /// DYNAMIC or COMPRESSED: long columns stored off-page with a 20-byte pointer.
    pub atomic_blobs: bool,
    /// MySQL 8: the file carries SDI (serialized dictionary information).
    pub sdi: bool,
    /// MariaDB page_compressed: the algorithm (1 zlib, 2 lz4, 3 lzo, 4 lzma, 5 bzip2, 6
    /// snappy; 0 when the file does not say, as before full_crc32).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_compressed: Option<u8>,
    /// MySQL: the tablespace is encrypted.
    pub encrypted: bool,
}

/// MariaDB's full_crc32 marker: bit 4, never set in the older layout (ZIP_SSIZE is at most 5).
const FCRC32_MARKER: u32 = 1 << 4;

impl SpaceFlags {
    /// Reads `FSP_SPACE_FLAGS`; `None` for flags no server writes.
    pub fn parse(raw: u32) -> Option<SpaceFlags> {
        if raw & FCRC32_MARKER != 0 {
            let ssize = raw & 0xf;
            if !(3..=7).contains(&ssize) {
                return None;
            }
            let algo = ((raw >> 5) & 7) as u8;
            return Some(SpaceFlags {
                raw,
                full_crc32: true,
                page_size: 512 << ssize,
                zip_size: None,
                post_antelope: true,
                atomic_blobs: true,
                sdi: false,
                page_compressed: (algo != 0).then_some(algo),
                encrypted: false,
            });
        }
        let zip_ssize = (raw >> 1) & 0xf;
        let ssize = (raw >> 6) & 0xf;
        let page_size = match ssize {
            0 => 16384,
            3..=7 => 512usize << ssize,
            _ => return None,
        };
        Some(SpaceFlags {
            raw,
            full_crc32: false,
            page_size,
            zip_size: (zip_ssize != 0).then(|| 512usize << zip_ssize),
            post_antelope: raw & 1 != 0,
            atomic_blobs: raw & (1 << 5) != 0,
            sdi: raw & (1 << 14) != 0,
            page_compressed: (raw & (1 << 16) != 0).then_some(0),
            encrypted: raw & (1 << 13) != 0,
        })
    }

    /// The server family the flags point to.
    pub fn vendor(&self) -> Vendor {
        if self.full_crc32 || self.page_compressed.is_some() {
            Vendor::Mariadb
        } else if self.sdi {
            Vendor::Mysql
        } else {
            Vendor::Unknown
        }
    }
}

/// The file space header on page 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FspHeader {
    /// Tablespace id.
    pub space_id: u32,
    /// Size of the tablespace in pages.
    pub size: u32,
    /// Pages below this are initialized.
    pub free_limit: u32,
    /// The flags.
    pub flags: SpaceFlags,
}

impl FspHeader {
    /// The header of page 0 (`None` if the page is too short or its flags are impossible).
    pub fn parse(page0: &[u8]) -> Option<FspHeader> {
        let at = FIL_HEADER;
        Some(FspHeader {
            space_id: be::u32(page0, at)?,
            size: be::u32(page0, at + 8)?,
            free_limit: be::u32(page0, at + 12)?,
            flags: SpaceFlags::parse(be::u32(page0, at + 16)?)?,
        })
    }
}

/// Which pages of its range a descriptor page (page 0, and an XDES page every `physical`
/// pages) lists as free: `true` for a free page, by place in the range. Pages freed by
/// splits and merges keep their old bytes (MySQL writes nothing over them), so an INDEX page
/// there holds stale records. Each extent descriptor (at offset 150, one per extent of the
/// range) has a state (1: the whole extent free; 2 to 5: in use, as its bits say) and two
/// bits per page, the first set when the page is free. An extent is 1 MiB of pages of the
/// `logical` size up to 16 KiB, 64 pages above. `None` when the page is too short.
pub fn free_pages(desc: &[u8], physical: usize, logical: usize) -> Option<Vec<bool>> {
    const ARRAY: usize = FIL_HEADER + 112;
    let extent = if logical <= 16384 {
        (1usize << 20) / logical.max(1)
    } else {
        64
    };
    let entry = 24 + extent * 2 / 8;
    let mut out = vec![false; physical];
    for (k, chunk) in out.chunks_mut(extent).enumerate() {
        let at = ARRAY + k * entry;
        let state = be::u32(desc, at + 20)?;
        for (i, free) in chunk.iter_mut().enumerate() {
            let bit = i * 2;
            let byte = *desc.get(at + 24 + bit / 8)?;
            *free = match state {
                1 => true,
                2..=5 => byte >> (bit % 8) & 1 == 1,
                // Not initialized, or not a state: tells nothing.
                _ => false,
            };
        }
    }
    Some(out)
}

/// Which pages of a tablespace read in order are listed free, from its descriptor pages as
/// they pass ([`free_pages`]): each describes the pages after it, up to the next one.
#[derive(Debug, Clone)]
pub struct FreePages {
    physical: usize,
    logical: usize,
    /// The last descriptor page's range: its first page, its LSN, and which pages it lists
    /// as free.
    range: Option<(u64, u64, Vec<bool>)>,
}

impl FreePages {
    /// For a tablespace of `physical`-byte pages (stored) of `logical` bytes (in memory).
    pub fn new(physical: usize, logical: usize) -> FreePages {
        FreePages {
            physical,
            logical,
            range: None,
        }
    }

    /// Takes page `n` of the file: a descriptor page in its place (FSP_HDR or XDES) with a
    /// good checksum (`valid`) starts a new range; a damaged one ends what is known.
    pub fn page(&mut self, n: u64, page: &[u8], valid: bool) {
        let Some(fil) = crate::FilHeader::parse(page) else {
            return;
        };
        if !matches!(fil.page_type, 8 | 9)
            || u64::from(fil.page_no) != n
            || n.checked_rem(self.physical as u64) != Some(0)
        {
            return;
        }
        self.range = valid
            .then(|| free_pages(page, self.physical, self.logical).map(|b| (n, fil.lsn, b)))
            .flatten();
    }

    /// Whether page `n` (its bytes: `page`) is free: the descriptor read last lists it so,
    /// and wrote that after the page's last change. A page written after the descriptor
    /// (the descriptor on disk older than an allocation, as after a crash) is not.
    pub fn is_free(&self, n: u64, page: &[u8]) -> bool {
        let Some(lsn) = crate::FilHeader::parse(page).map(|h| h.lsn) else {
            return false;
        };
        self.range.as_ref().is_some_and(|(base, desc_lsn, bits)| {
            lsn <= *desc_lsn
                && n.checked_sub(*base)
                    .and_then(|i| bits.get(usize::try_from(i).ok()?))
                    .is_some_and(|&f| f)
        })
    }
}

/// Finds the page size of a file whose page 0 is unusable: the size at which the most pages
/// among the first bytes carry their own page number. `data` should hold the start of the
/// file (at least a few pages of the largest size).
pub fn detect_page_size(data: &[u8]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for size in PAGE_SIZES {
        let pages = data.len() / size;
        if pages < 2 {
            continue;
        }
        let hits = (1..pages)
            .filter(|&n| {
                data.get(n * size..(n + 1) * size)
                    .and_then(|p| be::u32(p, 4))
                    .is_some_and(|no| no as usize == n)
            })
            .count();
        // At a wrong size the numbers read are page bytes, not page numbers: at most chance
        // hits. Half the pages carrying their number decides it.
        if hits * 2 >= pages - 1 && best.is_none_or(|(_, h)| hits > h) {
            best = Some((size, hits));
        }
    }
    best.map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    /// A descriptor page of a 16 KiB tablespace: extent 0 in use with page 5 free, extent
    /// 1 wholly free, LSN 100.
    fn descriptor() -> Vec<u8> {
        let mut p = vec![0u8; 16384];
        p[16..24].copy_from_slice(&100u64.to_be_bytes());
        p[24..26].copy_from_slice(&8u16.to_be_bytes());
        let at = FIL_HEADER + 112;
        p[at + 20..at + 24].copy_from_slice(&2u32.to_be_bytes());
        p[at + 24 + 10 / 8] |= 1 << (10 % 8);
        p[at + 40 + 20..at + 40 + 24].copy_from_slice(&1u32.to_be_bytes());
        p
    }

    fn page_at(n: u32, lsn: u64) -> Vec<u8> {
        let mut p = vec![0u8; 16384];
        p[4..8].copy_from_slice(&n.to_be_bytes());
        p[16..24].copy_from_slice(&lsn.to_be_bytes());
        p
    }

    #[test]
    fn descriptors_list_free_pages_older_than_themselves() {
        let bits = free_pages(&descriptor(), 16384, 16384).unwrap();
        assert!(bits[5] && !bits[4] && !bits[6]);
        assert!(bits[64] && bits[127] && !bits[128]);
        let mut f = FreePages::new(16384, 16384);
        assert!(!f.is_free(5, &page_at(5, 50)), "nothing read yet");
        f.page(0, &descriptor(), true);
        assert!(f.is_free(5, &page_at(5, 50)));
        assert!(f.is_free(70, &page_at(70, 100)));
        assert!(!f.is_free(4, &page_at(4, 50)));
        // Written after the descriptor: in use, whatever the descriptor says.
        assert!(!f.is_free(5, &page_at(5, 101)));
        // A damaged descriptor tells nothing.
        f.page(0, &descriptor(), false);
        assert!(!f.is_free(5, &page_at(5, 50)));
    }

    use super::*;

    #[test]
    fn flags_of_each_format() {
        // MySQL 5.7 / MariaDB 10.4 DYNAMIC, 16 KiB: post-antelope and atomic blobs.
        let f = SpaceFlags::parse(0x21).unwrap();
        assert_eq!(f.page_size, 16384);
        assert!(!f.full_crc32 && f.atomic_blobs && f.post_antelope);
        // MySQL 8 with SDI.
        let f = SpaceFlags::parse(0x4021).unwrap();
        assert!(f.sdi);
        assert_eq!(f.vendor(), Vendor::Mysql);
        // MariaDB full_crc32, 16 KiB (ssize 5), no compression; and lz4-compressed 4 KiB.
        let f = SpaceFlags::parse(0x15).unwrap();
        assert!(f.full_crc32);
        assert_eq!(f.page_size, 16384);
        assert_eq!(f.page_compressed, None);
        let f = SpaceFlags::parse(0x13 | (2 << 5)).unwrap();
        assert_eq!((f.page_size, f.page_compressed), (4096, Some(2)));
        // Impossible sizes are refused.
        assert!(SpaceFlags::parse(1 << 6).is_none());
        assert!(SpaceFlags::parse(0x10 | 1).is_none());
    }

    #[test]
    fn page_size_from_page_numbers() {
        for size in [4096usize, 16384, 65536] {
            let mut data = vec![0u8; size * 6];
            for n in 0..6u32 {
                let at = n as usize * size + 4;
                data[at..at + 4].copy_from_slice(&n.to_be_bytes());
            }
            assert_eq!(detect_page_size(&data), Some(size), "{size}");
        }
        assert_eq!(detect_page_size(&[0u8; 100]), None);
    }
}
