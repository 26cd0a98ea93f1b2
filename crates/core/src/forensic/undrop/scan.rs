//! Pass 1 of undrop: every INDEX and BLOB page at any offset of the sources, grouped by
//! index, with how well each fits the definition; the dictionary and undo records on the way.

use std::collections::{BTreeMap, HashMap};

use lifeboat_innodb::carve;
use lifeboat_innodb::index::IndexPage;
use lifeboat_innodb::record::{Layout, fit_with};
use lifeboat_innodb::schema::TableSchema;

use super::image::{Image, Stored, expand, keep_blob, newer};
use super::{Candidate, Definition, Sources};
use crate::error::Error;

/// Bytes read at once; a page that straddles two blocks is found in the overlap.
const BLOCK: usize = 64 << 20;
const OVERLAP: usize = 64 << 10;

/// What pass 1 found.
#[derive(Default)]
pub(super) struct Found {
    /// Leaf pages that fit, per (tablespace, index).
    pub groups: BTreeMap<(u32, u64), Candidate>,
    /// The newest image of each leaf page, per (tablespace, index).
    pub leaves: HashMap<(u32, u64), HashMap<(u32, u32), Image>>,
    /// Off-page column pages, per (tablespace, page).
    pub blobs: HashMap<(u32, u32), Image>,
    /// The dictionary records of the sources.
    pub dict: lifeboat_innodb::dict::Dictionary,
    /// What MariaDB's instant ADD COLUMN left, per index: the root's count of the fields
    /// older records hold, and the leftmost leaf, which holds the added columns' defaults.
    pub cores: HashMap<(u32, u64), usize>,
    pub first_leaves: HashMap<(u32, u64), Image>,
    /// Indexes of pages that hold the `--grep` value, once a page.
    pub g_hits: Vec<(u32, u64)>,
    /// What undo logs kept of DROPs of the name: table ids and their index ids.
    pub undo_drops: Vec<lifeboat_innodb::undo::DroppedTable>,
    /// The files, open.
    pub handles: Vec<std::fs::File>,
    /// Bytes scanned.
    pub bytes: u64,
}

/// What pass 1 looks for, and what it has found so far.
struct Pass<'a> {
    found: Found,
    schema: &'a TableSchema,
    layout: Layout,
    /// Tables dropped and created again under the name: their own definitions, by index id.
    recreated: &'a HashMap<u64, (TableSchema, Layout)>,
    /// Layouts for fitting records older than an instant ADD COLUMN, per index.
    instant_layouts: HashMap<(u32, u64), Layout>,
    /// The dictionary: read already when it gave the definition (it lives in the system
    /// tablespace, which that scan covered), else gathered by this pass.
    gather_dict: bool,
    in_place: bool,
    grep: Option<&'a str>,
    logical: usize,
    /// Whether off-page column pages are wanted (the table may store columns there).
    blobs_needed: bool,
    /// The table's name as undo records of its DROP hold it.
    undo_field: Option<Vec<u8>>,
    scanner: carve::Scanner,
}

/// Scans the sources once: one thread reads blocks ahead (into recycled buffers) while this
/// one looks through the last.
pub(super) fn pages(
    src: &Sources,
    def: &mut Definition,
    table: &str,
    grep: Option<&str>,
) -> Result<Found, Error> {
    let prescanned = def.prescanned.take();
    let layout = Layout::new(&def.schema);
    let dict_name = table.replacen('.', "/", 1);
    let gather_dict = prescanned.is_none();
    let mut pass = Pass {
        found: Found {
            dict: prescanned.unwrap_or_default(),
            ..Found::default()
        },
        schema: &def.schema,
        blobs_needed: layout.may_store_off_page(&def.schema)
            || def.recreated.values().any(|(s, l)| l.may_store_off_page(s)),
        layout,
        recreated: &def.recreated,
        instant_layouts: HashMap::new(),
        gather_dict,
        in_place: src.in_place,
        grep,
        logical: src.logical,
        undo_field: lifeboat_innodb::undo::name_field(&dict_name),
        scanner: carve::Scanner::new(Some(&dict_name)),
    };
    let mut handles = Vec::new();
    let mut lens = Vec::new();
    for path in &src.files {
        let err = |e: std::io::Error| Error::in_file(path, e);
        let f = std::fs::File::open(path).map_err(err)?;
        lens.push(f.metadata().map_err(err)?.len());
        handles.push(f);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Block>(1);
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| -> Result<(), Error> {
        scope.spawn(|| read_blocks(&src.files, &handles, &lens, tx, back_rx));
        for block in rx {
            let (fi, at, buf) = block?;
            pass.block(fi, at, &buf);
            let _ = back_tx.send(buf);
        }
        Ok(())
    })?;
    pass.found.bytes = lens.iter().sum();
    pass.found.handles = handles;
    Ok(pass.found)
}

/// A block of a file: its index, its offset, its bytes (with the overlap).
type Block = Result<(usize, u64, Vec<u8>), Error>;

/// Reads every file in blocks of [`BLOCK`] (plus [`OVERLAP`]) into buffers sent back for
/// reuse; stops at the first error, which it sends.
fn read_blocks(
    files: &[std::path::PathBuf],
    handles: &[std::fs::File],
    lens: &[u64],
    tx: std::sync::mpsc::SyncSender<Block>,
    back_rx: std::sync::mpsc::Receiver<Vec<u8>>,
) {
    use std::os::unix::fs::FileExt;
    for (fi, (f, &len)) in handles.iter().zip(lens).enumerate() {
        let mut at = 0u64;
        while at < len {
            let want = (BLOCK + OVERLAP).min((len - at) as usize);
            let mut buf = back_rx.try_recv().unwrap_or_default();
            buf.resize(want, 0);
            let block = f
                .read_exact_at(&mut buf, at)
                .map(|()| (fi, at, buf))
                .map_err(|e| Error::in_file(&files[fi], e));
            let failed = block.is_err();
            if tx.send(block).is_err() || failed {
                return;
            }
            at += BLOCK as u64;
        }
    }
}

impl Pass<'_> {
    /// Everything in one block of file `fi` at offset `at`.
    fn block(&mut self, fi: usize, at: u64, buf: &[u8]) {
        let limit = BLOCK.min(buf.len());
        // The searches over the block: every page mark and the table's name in undo
        // records in one pass; the off-page page types (marks starting with a zero byte,
        // which the one pass leaves out) on the other core, when needed.
        let (found, off_page) = std::thread::scope(|s| {
            let other = s.spawn(|| {
                if self.blobs_needed {
                    carve::off_page_pages(buf)
                } else {
                    Vec::new()
                }
            });
            (self.scanner.scan(buf), other.join().unwrap_or_default())
        });
        for start in found.index {
            if start >= limit {
                continue;
            }
            let size = carve::page_size_at(buf, start, 16384);
            if let Some(page) = buf.get(start..start + size) {
                self.consider(page, fi, at + start as u64, size, Stored::Plain);
            }
        }
        // Compressed pages, expanded to the page the server works on: ROW_FORMAT=
        // COMPRESSED INDEX pages, and MariaDB page_compressed pages.
        let logical = self.logical;
        let zipped = found.zip_index.into_iter().filter_map(|start| {
            let size = carve::zip_size_at(buf, start, logical)?;
            Some((start, size, Stored::Zip))
        });
        let page_compressed = found
            .page_compressed
            .into_iter()
            .map(|(start, size)| (start, size, Stored::PageCompressed));
        for (start, size, how) in zipped.chain(page_compressed) {
            if start >= limit {
                continue;
            }
            let Some(Ok(page)) = buf
                .get(start..start + size)
                .map(|p| expand(p, how, logical))
            else {
                continue;
            };
            match lifeboat_innodb::FilHeader::parse(&page) {
                // A page_compressed table compresses its BLOB pages too.
                Some(fil) if carve::OFF_PAGE_TYPES.contains(&fil.page_type) => {
                    keep_blob(
                        &mut self.found.blobs,
                        &fil,
                        fi,
                        at + start as u64,
                        size,
                        how,
                    );
                }
                _ => self.consider(&page, fi, at + start as u64, size, how),
            }
        }
        for at in found.undo_names {
            if let Some(field) = &self.undo_field
                && let Some(d) = lifeboat_innodb::undo::dropped_table_at(buf, at, field)
            {
                lifeboat_innodb::undo::merge(&mut self.found.undo_drops, d);
            }
        }
        // Pages of off-page columns (BLOB, ZBLOB, LOB), read as stored, when the table
        // has columns that may be stored there.
        for (start, size) in off_page {
            if start >= limit {
                continue;
            }
            if let Some(fil) = buf
                .get(start..start + size)
                .and_then(lifeboat_innodb::FilHeader::parse)
            {
                keep_blob(
                    &mut self.found.blobs,
                    &fil,
                    fi,
                    at + start as u64,
                    size,
                    Stored::Plain,
                );
            }
        }
    }

    /// One INDEX page found in a block (expanded when the table is compressed): its
    /// dictionary records, MariaDB's instant-ALTER marks, and, for a leaf that fits, its
    /// place in its index's group.
    fn consider(&mut self, page: &[u8], fi: usize, offset: u64, size: usize, stored: Stored) {
        let (Some(fil), Some(ip)) = (
            lifeboat_innodb::FilHeader::parse(page),
            IndexPage::new(page),
        ) else {
            return;
        };
        if self.gather_dict {
            self.found.dict.page(page);
        }
        let key = (fil.space_id, ip.header.index_id);
        let (schema, layout) = self
            .recreated
            .get(&ip.header.index_id)
            .map_or((self.schema, &self.layout), |(s, l)| (s, l));
        if let Some(n) = lifeboat_innodb::record::instant_core_fields(page) {
            self.found.cores.insert(key, n);
            let mut l = Layout::new(schema);
            l.set_instant_core(n);
            self.instant_layouts.insert(key, l.lenient());
        }
        if !(fil.page_type == 17855 || fil.page_type == 18)
            || ip.header.level != 0
            || !ip.header.compact
        {
            return;
        }
        // A page_compressed page keeps its whole page's place in the file (the rest of
        // it a hole); a compressed table's page is its stored size.
        let slot = if stored == Stored::PageCompressed {
            page.len()
        } else {
            size
        };
        let img = Image {
            file: fi,
            offset,
            size,
            lsn: fil.lsn,
            copy: self.in_place && offset != u64::from(fil.page_no) * slot as u64,
            stored,
        };
        let g = self.found.groups.entry(key).or_insert_with(|| Candidate {
            space_id: fil.space_id,
            index_id: ip.header.index_id,
            ..Candidate::default()
        });
        if fil.prev == lifeboat_innodb::page::FIL_NULL
            && ip
                .records()
                .next()
                .is_some_and(|r| r.is_ok_and(|r| r.min_rec))
        {
            newer(
                &mut self.found.first_leaves,
                key,
                Image { copy: false, ..img },
            );
        }
        let f = fit_with(
            &ip,
            schema,
            self.instant_layouts.get(&key).unwrap_or(layout),
        );
        if let Some(g) = self.grep
            && f.consistent
            && memchr::memmem::find(page, g.as_bytes()).is_some()
        {
            self.found.g_hits.push(key);
        }
        let imgs = self.found.leaves.entry(key).or_default();
        if !imgs.contains_key(&(fil.space_id, fil.page_no)) {
            g.pages += 1;
            g.consistent += u64::from(f.consistent);
            g.exact += u64::from(f.exact);
        }
        newer(imgs, (fil.space_id, fil.page_no), img);
    }
}
