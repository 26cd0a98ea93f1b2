//! One page: the FIL header and trailer every InnoDB page starts and ends with, and page
//! types.

use serde::Serialize;

/// Bytes of the FIL header.
pub const FIL_HEADER: usize = 38;
/// Bytes of the FIL trailer (old-style checksum, low 32 bits of the LSN).
pub const FIL_TRAILER: usize = 8;
/// "No page" in page-number fields (prev/next of the first/last page of a level).
pub const FIL_NULL: u32 = 0xffff_ffff;

/// Page sizes InnoDB writes: 4 KiB to 64 KiB.
pub const PAGE_SIZES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];

/// Which server wrote a file: a few formats mean different things per vendor (page type 18,
/// tablespace flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    /// MySQL.
    Mysql,
    /// MariaDB.
    Mariadb,
    /// Not decidable from the file (MySQL 5.7 and MariaDB before full_crc32 write the same
    /// formats).
    Unknown,
}

/// The FIL header of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FilHeader {
    /// Checksum field (or the space id on very old pages).
    pub checksum: u32,
    /// Page number within its tablespace.
    pub page_no: u32,
    /// Previous page of the same B-tree level ([`FIL_NULL`] if none).
    pub prev: u32,
    /// Next page of the same B-tree level ([`FIL_NULL`] if none).
    pub next: u32,
    /// LSN of the last change written to the page.
    pub lsn: u64,
    /// Page type code (see [`PageType`]).
    pub page_type: u16,
    /// Flush LSN (page 0 of the system tablespace), or key version / compression data.
    pub flush_lsn: u64,
    /// Tablespace id.
    pub space_id: u32,
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Big-endian reads at a fixed offset (InnoDB stores integers big-endian); `None` past the end.
pub(crate) mod be {
    pub(crate) use super::{u16_at as u16, u32_at as u32, u64_at as u64};
}

impl FilHeader {
    /// The header of `page` (`None` when it is shorter than a header).
    pub fn parse(page: &[u8]) -> Option<FilHeader> {
        Some(FilHeader {
            checksum: u32_at(page, 0)?,
            page_no: u32_at(page, 4)?,
            prev: u32_at(page, 8)?,
            next: u32_at(page, 12)?,
            lsn: u64_at(page, 16)?,
            page_type: u16_at(page, 24)?,
            flush_lsn: u64_at(page, 26)?,
            space_id: u32_at(page, 34)?,
        })
    }
}

/// What a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageType {
    /// Freshly allocated, never used (0).
    Allocated,
    /// Undo log (2).
    UndoLog,
    /// File segment inodes (3).
    Inode,
    /// Insert buffer free list (4).
    IbufFreeList,
    /// Insert buffer bitmap (5).
    IbufBitmap,
    /// System page (6).
    Sys,
    /// Transaction system header (7).
    TrxSys,
    /// File space header, page 0 (8).
    FspHdr,
    /// Extent descriptors (9).
    Xdes,
    /// Uncompressed BLOB page of the old format (10).
    Blob,
    /// First compressed BLOB page (11).
    Zblob,
    /// Further compressed BLOB page (12).
    Zblob2,
    /// Unknown type (13).
    Unknown,
    /// MySQL transparent page compression (14).
    Compressed,
    /// MySQL encrypted page (15).
    Encrypted,
    /// MySQL compressed and encrypted page (16).
    CompressedEncrypted,
    /// MySQL encrypted R-tree page (17).
    EncryptedRtree,
    /// Type 18 in a MySQL file: SDI BLOB.
    SdiBlob,
    /// Type 18 in a MariaDB file: the root of a clustered index with instant ADD/DROP COLUMN.
    Instant,
    /// Type 18 when the vendor is not known.
    SdiBlobOrInstant,
    /// Compressed SDI BLOB (19).
    SdiZblob,
    /// Legacy doublewrite buffer (20).
    LegacyDblwr,
    /// Rollback segment array (21).
    RsegArray,
    /// MySQL 8 LOB index (22).
    LobIndex,
    /// MySQL 8 LOB data (23).
    LobData,
    /// MySQL 8 first LOB page (24).
    LobFirst,
    /// MySQL 8 first compressed LOB page (25).
    ZlobFirst,
    /// MySQL 8 compressed LOB data (26).
    ZlobData,
    /// MySQL 8 compressed LOB index (27).
    ZlobIndex,
    /// MySQL 8 compressed LOB fragment (28).
    ZlobFrag,
    /// MySQL 8 compressed LOB fragment entries (29).
    ZlobFragEntry,
    /// MySQL 8 serialized dictionary information (17853).
    Sdi,
    /// R-tree index (17854).
    Rtree,
    /// B-tree index: rows (17855).
    Index,
    /// MariaDB page_compressed (34354).
    PageCompressed,
    /// MariaDB page_compressed and encrypted (37401).
    PageCompressedEncrypted,
    /// A code no server writes: a damaged page, or not a page at all.
    Other(u16),
}

impl PageType {
    /// The type of a page-type code, for a file of `vendor`.
    pub fn from_code(code: u16, vendor: Vendor) -> PageType {
        use PageType::*;
        match code {
            0 => Allocated,
            2 => UndoLog,
            3 => Inode,
            4 => IbufFreeList,
            5 => IbufBitmap,
            6 => Sys,
            7 => TrxSys,
            8 => FspHdr,
            9 => Xdes,
            10 => Blob,
            11 => Zblob,
            12 => Zblob2,
            13 => Unknown,
            14 => Compressed,
            15 => Encrypted,
            16 => CompressedEncrypted,
            17 => EncryptedRtree,
            18 => match vendor {
                Vendor::Mysql => SdiBlob,
                Vendor::Mariadb => Instant,
                Vendor::Unknown => SdiBlobOrInstant,
            },
            19 => SdiZblob,
            20 => LegacyDblwr,
            21 => RsegArray,
            22 => LobIndex,
            23 => LobData,
            24 => LobFirst,
            25 => ZlobFirst,
            26 => ZlobData,
            27 => ZlobIndex,
            28 => ZlobFrag,
            29 => ZlobFragEntry,
            17853 => Sdi,
            17854 => Rtree,
            17855 => Index,
            34354 => PageCompressed,
            37401 => PageCompressedEncrypted,
            other => Other(other),
        }
    }

    /// Whether the page holds B-tree records (rows, secondary entries, node pointers).
    pub fn is_index(self) -> bool {
        matches!(
            self,
            PageType::Index | PageType::Rtree | PageType::Sdi | PageType::Instant
        )
    }

    /// Short lowercase name, for reports.
    pub fn name(self) -> String {
        if let PageType::Other(c) = self {
            return format!("type_{c}");
        }
        // The variant name in snake_case, as serde writes it.
        let mut out = String::new();
        for (i, ch) in format!("{self:?}").chars().enumerate() {
            if ch.is_ascii_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.push(ch.to_ascii_lowercase());
            } else {
                out.push(ch);
            }
        }
        out
    }
}
