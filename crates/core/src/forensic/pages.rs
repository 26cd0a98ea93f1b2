//! Reading InnoDB files page by page: page sizes, readers, leaf pages, records decoded as rows.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use lifeboat_innodb::{FspHeader, SpaceFlags, checksum, fsp};

use crate::error::Error;
use crate::forensic::recovered::Format;

/// Bytes read from the start of a file to find its page size when page 0 is unusable.
const PROBE: u64 = 1 << 20;

/// A redo log given where a tablespace belongs: named, since its bytes read as pages would
/// make a report of nonsense.
pub(crate) fn redo_log_given(path: &Path, h: &lifeboat_innodb::redo::Header) -> Error {
    Error::Tablespace {
        path: path.to_path_buf(),
        page: None,
        problem: format!(
            "an InnoDB redo log written by {} ({}), not a tablespace: `innodb inspect`, `salvage` and `undelete` read ibdata*, undo* and .ibd files; `undrop --datadir` reads the redo log for the undo records of DROP TABLE",
            h.creator,
            match h.framing {
                lifeboat_innodb::redo::Framing::Stream => "MariaDB 10.8+ format",
                lifeboat_innodb::redo::Framing::Blocks => "512-byte block format",
            }
        ),
    }
}

/// A tablespace's page size (and page 0's header when it can be trusted), from the start of
/// the file only.
pub fn page_size_of(path: &Path) -> Result<(usize, Option<FspHeader>), Error> {
    let err = |e: std::io::Error| Error::in_file(path, e);
    let mut head = Vec::new();
    std::fs::File::open(path)
        .map_err(err)?
        .take(PROBE)
        .read_to_end(&mut head)
        .map_err(err)?;
    if let Some(h) = lifeboat_innodb::redo::Header::parse(&head) {
        return Err(redo_log_given(path, &h));
    }
    // Page 0's flags are trusted when its checksum holds, or when the page size the other
    // pages show agrees with them; else the page numbers decide alone.
    let detected = fsp::detect_page_size(&head);
    // Pages of a ROW_FORMAT=COMPRESSED tablespace are stored at the compressed size.
    let stored = |f: &SpaceFlags| f.zip_size.unwrap_or(f.page_size);
    let fsp = FspHeader::parse(&head).filter(|h| {
        // A page 0 cut short is no evidence of anything.
        if head.len() < stored(&h.flags) {
            return false;
        }
        let intact = head
            .get(..stored(&h.flags))
            .is_some_and(|p0| checksum::verify(p0, h.flags.full_crc32).is_valid());
        intact || detected.is_none_or(|d| d == stored(&h.flags))
    });
    let page_size = match (fsp, detected) {
        (Some(h), _) => stored(&h.flags),
        (None, Some(size)) => size,
        (None, None) => {
            return Err(Error::Tablespace {
                path: path.to_path_buf(),
                page: None,
                problem: format!(
                    "not an InnoDB tablespace: page 0 has no valid tablespace flags, and no page size from 4 to 64 KiB fits the page numbers of the first {} bytes",
                    head.len()
                ),
            });
        }
    };
    Ok((page_size, fsp))
}

/// A datadir's innodb_page_size: its system tablespace's, which every tablespace shares.
pub fn datadir_page_size(dir: &Path) -> Option<usize> {
    page_size_of(&dir.join("ibdata1"))
        .ok()
        .map(|(size, _)| size)
}

/// Called with each page of a file (its number, its bytes).
type PageVisitor<'a> = dyn FnMut(u64, &[u8]) -> Result<(), Error> + 'a;

/// Calls `f` with each whole page of the file in order; returns the bytes after the last
/// whole page (a file cut short).
pub(crate) fn each_page(
    path: &Path,
    page_size: usize,
    f: &mut PageVisitor<'_>,
) -> Result<u64, Error> {
    let err = |e: std::io::Error| Error::in_file(path, e);
    let file = std::fs::File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    let mut file = std::io::BufReader::with_capacity(1 << 20, file);
    let mut page = vec![0u8; page_size];
    for n in 0..len / page_size as u64 {
        file.read_exact(&mut page).map_err(err)?;
        f(n, &page)?;
    }
    Ok(len % page_size as u64)
}

/// Like [`each_page`], with each page as the server has it in memory (page_compressed pages
/// expanded, see [`lifeboat_innodb::compressed::in_memory`]). A page that does not expand
/// because it is damaged is handed over as stored (its checksum says so); an algorithm
/// lifeboat cannot decompress, or encryption, stops the read with an error naming the page.
pub(crate) fn each_page_in_memory(
    path: &Path,
    page_size: usize,
    flags: Option<SpaceFlags>,
    f: &mut PageVisitor<'_>,
) -> Result<u64, Error> {
    use lifeboat_innodb::compressed::{ExpandError, in_memory};
    each_page(
        path,
        page_size,
        &mut |n, page| match in_memory(page, flags.as_ref()) {
            Ok(p) => f(n, &p),
            Err(ExpandError::Corrupt(_)) => f(n, page),
            Err(e) => Err(Error::Page {
                path: path.to_path_buf(),
                page: n,
                source: Box::new(e),
            }),
        },
    )
}

/// Pages of a file by number, read where they are (BLOB chains, SDI documents), as the
/// server has them in memory.
pub(crate) fn page_reader(
    path: &Path,
    page_size: usize,
    flags: Option<SpaceFlags>,
) -> Result<impl FnMut(u32) -> Option<Vec<u8>>, Error> {
    let f = std::fs::File::open(path).map_err(|e| Error::in_file(path, e))?;
    Ok(move |no: u32| {
        let page = read_at(&f, u64::from(no) * page_size as u64, page_size).ok()?;
        match lifeboat_innodb::compressed::in_memory(&page, flags.as_ref()) {
            Ok(std::borrow::Cow::Owned(p)) => Some(p),
            _ => Some(page),
        }
    })
}

/// The layout of `schema`'s records in the index `summary` describes, with what a MariaDB
/// instant ADD COLUMN left there: the root page's count of the fields older records hold,
/// and the added columns' defaults from the leftmost leaf's metadata record.
pub(crate) fn layout_of(
    schema: &lifeboat_innodb::schema::TableSchema,
    summary: Option<&lifeboat_innodb::inspect::IndexSummary>,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
) -> lifeboat_innodb::record::Layout {
    let mut layout = lifeboat_innodb::record::Layout::new(schema);
    let Some(s) = summary else {
        return layout;
    };
    let page = |no: Option<u64>, page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>| {
        no.and_then(|n| u32::try_from(n).ok()).and_then(page_of)
    };
    if let Some(n_core) = page(s.root_page, page_of)
        .as_deref()
        .and_then(lifeboat_innodb::record::instant_core_fields)
    {
        layout.set_instant_core(n_core);
        if let Some(leaf) = page(s.first_leaf, page_of) {
            // Without it, records that need it fail to decode and are reported.
            let _ = layout.learn_metadata(&leaf, schema, page_of);
        }
    }
    layout
}

/// Writes `value` as pretty JSON to `path` (the reports next to recovered SQL).
pub(crate) fn write_report(path: &Path, value: &impl Serialize) -> Result<(), Error> {
    let json = serde_json::to_vec_pretty(value).unwrap_or_default();
    std::fs::write(path, json).map_err(|e| Error::in_file(path, e))
}

/// Calls `f` with each leaf page of index `index_id` in the file (page number, bytes, the page
/// as an index page), in file order.
pub(crate) fn for_each_leaf(
    ibd: &Path,
    page_size: usize,
    flags: Option<SpaceFlags>,
    index_id: u64,
    mut f: impl FnMut(u64, &[u8], &lifeboat_innodb::index::IndexPage<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    each_page_in_memory(ibd, page_size, flags, &mut |no, page| {
        if leaf_index(page) == Some(index_id)
            && let Some(ip) = lifeboat_innodb::index::IndexPage::new(page)
        {
            f(no, page, &ip)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The index id of a B-tree leaf page (INDEX, or MariaDB's instant-ALTER root).
pub(crate) fn leaf_index(page: &[u8]) -> Option<u64> {
    let fil = lifeboat_innodb::FilHeader::parse(page)?;
    let ip = lifeboat_innodb::index::IndexPage::new(page)?;
    ((fil.page_type == 17855 || fil.page_type == 18) && ip.header.level == 0)
        .then_some(ip.header.index_id)
}

/// The definition as the file's server reads it: a MySQL file (its flags say so) keeps its
/// JSON columns in binary form, whatever the `--schema` text says.
/// A table's tablespace, the definition to read it with, and (when lifeboat's choice is
/// wrong) its clustered index: what `undelete` and `salvage` read.
pub struct TableFile<'a> {
    /// The tablespace.
    pub ibd: &'a Path,
    /// The table's definition.
    pub schema: &'a lifeboat_innodb::schema::TableSchema,
    /// The clustered index to read, instead of lifeboat's choice.
    pub index_id: Option<u64>,
}

/// A tablespace about to be read with a definition: what `inspect` found, and the
/// definition as this vendor stores it.
pub(crate) struct Tablespace<'a> {
    pub report: lifeboat_innodb::Report,
    pub schema: std::borrow::Cow<'a, lifeboat_innodb::schema::TableSchema>,
    pub page_size: usize,
    pub full_crc32: bool,
}

impl<'a> Tablespace<'a> {
    /// Inspects `ibd` and fits `schema` to its vendor.
    pub(crate) fn open(
        ibd: &Path,
        schema: &'a lifeboat_innodb::schema::TableSchema,
    ) -> Result<Self, Error> {
        let report = crate::forensic::inspect(ibd)?;
        let schema = for_vendor(schema, report.vendor);
        Ok(Tablespace {
            page_size: report.page_size,
            full_crc32: report.flags.is_some_and(|f| f.full_crc32),
            report,
            schema,
        })
    }
}

pub(crate) fn for_vendor(
    schema: &lifeboat_innodb::schema::TableSchema,
    vendor: lifeboat_innodb::Vendor,
) -> std::borrow::Cow<'_, lifeboat_innodb::schema::TableSchema> {
    if vendor == lifeboat_innodb::Vendor::Mysql && schema.json.contains(&true) {
        let mut s = schema.clone();
        s.mysql_json();
        std::borrow::Cow::Owned(s)
    } else {
        std::borrow::Cow::Borrowed(schema)
    }
}

/// A record's values encoded for `format`, appended to `out` (BLOB chains followed through
/// `page_of`), or why not.
pub(crate) fn row_values(
    row: &lifeboat_innodb::record::Row<'_>,
    schema: &lifeboat_innodb::schema::TableSchema,
    origin: usize,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
    format: Format,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    use lifeboat_innodb::record::Field;
    let mut first = true;
    for (k, (field, col)) in row.fields.iter().zip(&schema.columns).enumerate() {
        if !schema.loaded(k) {
            continue;
        }
        if !first {
            out.extend_from_slice(crate::forensic::recovered::separator(format));
        }
        first = false;
        match field {
            Field::Null => crate::forensic::recovered::push_null(out, format),
            Field::Value(v) => crate::forensic::recovered::push_value(out, v, col, format),
            Field::External { .. } => {
                let all = field.read_external(page_of).map_err(|e| {
                    format!(
                        "record at {origin}: column `{}`: {e}",
                        col.name.as_deref().unwrap_or("?")
                    )
                })?;
                // An off-page value is whole only now: MySQL's binary JSON is decoded too.
                let v = if col.real_type == lifeboat_binlog::table::column_type::JSON {
                    lifeboat_binlog::Value::Json(&all)
                } else {
                    lifeboat_binlog::Value::Bytes(&all)
                };
                crate::forensic::recovered::push_value(out, &v, col, format);
            }
        }
    }
    Ok(())
}

/// Reads `len` bytes at `offset` of `path`.
pub(crate) fn read_at(f: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}
