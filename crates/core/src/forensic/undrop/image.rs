//! Pages found at any byte offset of an image, and which copy of each to keep.

use crate::forensic::pages::read_at;

/// Where a page image is: file, offset, size, and its LSN (the newest image wins).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Image {
    pub(crate) file: usize,
    pub(crate) offset: u64,
    pub(crate) size: usize,
    pub(crate) lsn: u64,
    /// A copy away from the page's own place in a tablespace file (the doublewrite buffer,
    /// say): the page itself was overwritten, and this image may be older than its last state.
    pub(crate) copy: bool,
    /// How the page is stored.
    pub(crate) stored: Stored,
}

/// How a page image is stored, and so how [`load`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// As the server works on it.
    Plain,
    /// A ROW_FORMAT=COMPRESSED INDEX page.
    Zip,
    /// A MariaDB page_compressed page (`size` is what it stores).
    PageCompressed,
}

/// The logical page size compressed pages found without their tablespace expand to, when
/// nothing tells it: the default innodb_page_size. In a datadir, the system tablespace's
/// page size is every tablespace's.
pub(crate) const LOGICAL: usize = 16384;

/// The page `img` holds, as the server works on it (expanded to `logical` bytes when
/// compressed).
pub(crate) fn load(f: &std::fs::File, img: &Image, logical: usize) -> std::io::Result<Vec<u8>> {
    let page = read_at(f, img.offset, img.size)?;
    expand(&page, img.stored, logical)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// `stored` bytes as the server works on them.
pub(crate) fn expand(stored: &[u8], how: Stored, logical: usize) -> Result<Vec<u8>, String> {
    match how {
        Stored::Plain => Ok(stored.to_vec()),
        Stored::Zip => lifeboat_innodb::zip::expand(stored, logical).map_err(|e| e.to_string()),
        Stored::PageCompressed => {
            // The stored bytes, then the hole the file had there. Nothing in the page says
            // its size, and it expands only to its own: the expected size first, then the
            // others.
            let sizes = std::iter::once(logical).chain(
                lifeboat_innodb::page::PAGE_SIZES
                    .into_iter()
                    .filter(|&s| s != logical),
            );
            let mut why = String::from("larger than any page size");
            for size in sizes.filter(|&s| s >= stored.len()) {
                let mut page = stored.to_vec();
                page.resize(size, 0);
                match lifeboat_innodb::compressed::expand(&page, None) {
                    Ok(p) => return Ok(p),
                    Err(e) => why = e.to_string(),
                }
            }
            Err(why)
        }
    }
}

/// Keeps an off-page column's page found at `offset` of file `file` (the newest image of
/// each page number wins).
pub(crate) fn keep_blob(
    blobs: &mut std::collections::HashMap<(u32, u32), Image>,
    fil: &lifeboat_innodb::FilHeader,
    file: usize,
    offset: u64,
    size: usize,
    stored: Stored,
) {
    let img = Image {
        file,
        offset,
        size,
        lsn: fil.lsn,
        copy: false,
        stored,
    };
    newer(blobs, (fil.space_id, fil.page_no), img);
}

pub(crate) fn newer<K: std::hash::Hash + Eq>(
    map: &mut std::collections::HashMap<K, Image>,
    key: K,
    img: Image,
) {
    let e = map.entry(key).or_insert(img);
    if img.lsn > e.lsn {
        *e = img;
    }
}
