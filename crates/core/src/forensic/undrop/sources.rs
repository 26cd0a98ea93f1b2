//! Where a datadir keeps what undrop needs: its InnoDB files, its dictionaries (the
//! system tablespace's, or MySQL 8's `mysql.ibd`) and the redo log's records of the DROP.

use std::path::{Path, PathBuf};

use lifeboat_innodb::carve;

use crate::error::Error;
use crate::forensic::pages::{each_page_in_memory, page_reader, page_size_of};

/// The dictionary records (SYS_TABLES, SYS_COLUMNS, SYS_INDEXES, SYS_FIELDS: live,
/// delete-marked or freed) found anywhere in `files`.
pub fn read_dictionary(files: &[PathBuf]) -> Result<lifeboat_innodb::dict::Dictionary, Error> {
    Ok(scan_dictionary(files, None)?.0)
}

/// A table's SDI document and clustered index id.
type SdiDefinition = (String, Option<u64>);

/// The dictionary records found anywhere in `files`, and, when `sdi_of` names a table
/// (`db.name`), its definition from an SDI page found there: MySQL 8 keeps no SYS_ tables,
/// and a dropped table's tablespace carried its definition and clustered index id in its
/// SDI. One read of the files serves both.
pub(crate) fn scan_dictionary(
    files: &[PathBuf],
    sdi_of: Option<&str>,
) -> Result<(lifeboat_innodb::dict::Dictionary, Option<SdiDefinition>), Error> {
    let mut dict = lifeboat_innodb::dict::Dictionary::default();
    let mut sdi: Option<SdiDefinition> = None;
    let wanted = sdi_of.map(|t| t.split_once('.').unwrap_or(("", t)));
    // MySQL 8+'s dictionary: mysql.ibd, read in place (its records name their pages).
    let (mysql, files): (Vec<PathBuf>, Vec<PathBuf>) = files
        .iter()
        .cloned()
        .partition(|f| f.file_name().is_some_and(|n| n == "mysql.ibd"));
    for m in &mysql {
        read_mysql_dictionary(m, &mut dict)?;
    }
    each_index_page(&files, &mut |block, start, size| {
        let Some(page) = block.get(start..start + size) else {
            return;
        };
        dict.page(page);
        let Some((db, name)) = wanted else {
            return;
        };
        let Some(fil) = lifeboat_innodb::FilHeader::parse(page).filter(|h| h.page_type == 17853)
        else {
            return;
        };
        if sdi.is_some() {
            return;
        }
        // A long document continues on SDI BLOB pages of the same tablespace: found where
        // they lie when the tablespace sits whole in the block (a file's blocks in order).
        let mut page_of = |no: u32| -> Option<Vec<u8>> {
            let at = (start as u64 + u64::from(no) * size as u64)
                .checked_sub(u64::from(fil.page_no) * size as u64)?;
            let at = usize::try_from(at).ok()?;
            let p = block.get(at..at + size)?;
            lifeboat_innodb::FilHeader::parse(p)
                .filter(|h| h.page_no == no && h.space_id == fil.space_id)
                .map(|_| p.to_vec())
        };
        sdi = lifeboat_innodb::sdi::records(page, &mut page_of)
            .into_iter()
            .flatten()
            .filter(|r| r.kind == lifeboat_innodb::sdi::SDI_TYPE_TABLE)
            .find_map(|r| {
                let t = lifeboat_innodb::sdi::table_of(&r.json).ok()?;
                (t.schema == db && t.name == name).then_some((r.json, t.clustered_index))
            });
    })?;
    Ok((dict, sdi))
}

/// Adds what MySQL 8+'s data dictionary in `mysql_ibd` holds (live, delete-marked and
/// purged records, see [`lifeboat_innodb::dd`]) to `dict`. A file whose SDI does not
/// describe the dictionary tables adds nothing.
fn read_mysql_dictionary(
    mysql_ibd: &Path,
    dict: &mut lifeboat_innodb::dict::Dictionary,
) -> Result<(), Error> {
    let (page_size, fsp) = page_size_of(mysql_ibd)?;
    let flags = fsp.map(|h| h.flags);
    let mut page_of = page_reader(mysql_ibd, page_size, flags)?;
    let mut documents = Vec::new();
    each_page_in_memory(mysql_ibd, page_size, flags, &mut |_, page| {
        if lifeboat_innodb::FilHeader::parse(page).is_some_and(|h| h.page_type == 17853) {
            documents.extend(
                lifeboat_innodb::sdi::records(page, &mut page_of)
                    .into_iter()
                    .flatten()
                    .filter(|r| r.kind == lifeboat_innodb::sdi::SDI_TYPE_TABLE)
                    .map(|r| r.json),
            );
        }
        Ok(())
    })?;
    let Some(mut reader) =
        lifeboat_innodb::dd::Reader::from_sdi(documents.iter().map(String::as_str))
    else {
        return Ok(());
    };
    each_page_in_memory(mysql_ibd, page_size, flags, &mut |_, page| {
        reader.page(page, &mut page_of);
        Ok(())
    })?;
    reader.finish(dict);
    Ok(())
}

/// Calls `f` with every INDEX page found anywhere in `files`, at any offset, as the block
/// read, the page's start in it and its size.
fn each_index_page(files: &[PathBuf], f: &mut dyn FnMut(&[u8], usize, usize)) -> Result<(), Error> {
    use std::io::Read;
    const BLOCK: usize = 64 << 20;
    const OVERLAP: usize = 64 << 10;
    for path in files {
        let err = |e: std::io::Error| Error::in_file(path, e);
        let mut file = std::fs::File::open(path).map_err(err)?;
        // Each block starts with the last OVERLAP bytes of the one before: a page cut by
        // the block's end is whole in the next.
        let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + OVERLAP);
        loop {
            let kept = buf.len();
            buf.resize(kept + BLOCK, 0);
            let mut got = 0;
            while got < BLOCK {
                match file.read(&mut buf[kept + got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(err(e)),
                }
            }
            buf.truncate(kept + got);
            for start in carve::index_pages(&buf) {
                let size = carve::page_size_at(&buf, start, 16384);
                f(&buf, start, size);
            }
            if got < BLOCK {
                break;
            }
            let tail = buf.len().saturating_sub(OVERLAP);
            buf.drain(..tail);
        }
    }
    Ok(())
}

/// The files of a datadir that hold InnoDB pages: the system tablespace, the undo
/// tablespaces (their records name what a DROP removed) and every .ibd.
pub(crate) fn datadir_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let err = |p: &Path, e: std::io::Error| Error::in_file(p, e);
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| err(&d, e))? {
            let path = entry.map_err(|e| err(&d, e))?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                stack.push(path);
            } else if name.starts_with("ibdata")
                || is_undo_tablespace(&name)
                || name.ends_with(".ibd")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The redo log files of a datadir: `ib_logfile*` (MariaDB, MySQL before 8.0.30) and
/// `#innodb_redo/#ib_redo*` (MySQL 8.0.30 and later).
pub(crate) fn redo_files(dir: &Path) -> Vec<PathBuf> {
    let named = |d: &Path, prefix: &str| -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(d) else {
            return Vec::new();
        };
        let mut v: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect();
        v.sort();
        v
    };
    let mut files = named(dir, "ib_logfile");
    files.extend(named(&dir.join("#innodb_redo"), "#ib_redo"));
    files
}

/// Calls `f` with each redo log file of `files` and its records' stream, in chunks that
/// overlap by more than any search reads past a hit (see [`lifeboat_innodb::redo`]): memory
/// stays bounded whatever the log's size.
fn each_redo_chunk(files: &[PathBuf], f: &mut dyn FnMut(&Path, &[u8])) -> Result<(), Error> {
    use lifeboat_innodb::redo::{self, Framing};
    use std::os::unix::fs::FileExt;
    // Both multiples of the log block.
    const READ: usize = 64 << 20;
    const OVERLAP: usize = 64 << 10;
    for path in files {
        let err = |e: std::io::Error| Error::in_file(path, e);
        let file = std::fs::File::open(path).map_err(err)?;
        let len = file.metadata().map_err(err)?.len();
        let mut head = [0u8; 4];
        if len < head.len() as u64 {
            continue;
        }
        file.read_exact_at(&mut head, 0).map_err(err)?;
        let framing = Framing::of(&head);
        let mut at = framing.start();
        let mut buf = Vec::new();
        while at < len {
            buf.resize((READ + OVERLAP).min((len - at) as usize), 0);
            file.read_exact_at(&mut buf, at).map_err(err)?;
            let stream = match framing {
                Framing::Stream => std::borrow::Cow::Borrowed(buf.as_slice()),
                Framing::Blocks => std::borrow::Cow::Owned(redo::unframe(&buf)),
            };
            f(path, &stream);
            at += READ as u64;
        }
    }
    Ok(())
}

/// The DROPs of `dict_name` (`db/name`) whose undo records the redo log `files` hold, each
/// with the file it was found in.
pub(crate) fn undo_drops_in_redo(
    files: &[PathBuf],
    dict_name: &str,
) -> Result<Vec<(lifeboat_innodb::undo::DroppedTable, PathBuf)>, Error> {
    let mut found: Vec<lifeboat_innodb::undo::DroppedTable> = Vec::new();
    // The file each table was first found in.
    let mut first_in: std::collections::HashMap<u64, PathBuf> = Default::default();
    each_redo_chunk(files, &mut |path, stream| {
        for t in lifeboat_innodb::undo::dropped_tables(stream, dict_name) {
            first_in
                .entry(t.table_id)
                .or_insert_with(|| path.to_path_buf());
            lifeboat_innodb::undo::merge(&mut found, t);
        }
    })?;
    Ok(found
        .into_iter()
        .filter_map(|t| {
            let path = first_in.remove(&t.table_id)?;
            Some((t, path))
        })
        .collect())
}

/// Root page and redo log file of B-trees, by (space id, index id).
type FreedTrees = std::collections::HashMap<(u32, u64), (u32, PathBuf)>;

/// Of the indexes `wanted` ((space id, index id)), those whose B-tree MySQL's DDL log names
/// in the redo log `files` (see [`lifeboat_innodb::dd::freed_tree_root`]): their root page
/// and the file it was found in.
pub(crate) fn freed_trees_in_redo(
    files: &[PathBuf],
    wanted: &[(u32, u64)],
) -> Result<FreedTrees, Error> {
    let mut found = std::collections::HashMap::new();
    each_redo_chunk(files, &mut |path, stream| {
        for &(space, index) in wanted {
            if found.contains_key(&(space, index)) {
                continue;
            }
            if let Some(root) = lifeboat_innodb::dd::freed_tree_root(stream, space, index) {
                found.insert((space, index), (root, path.to_path_buf()));
            }
        }
    })?;
    Ok(found)
}

/// An undo tablespace's file name: MariaDB's `undo001`, MySQL 8's `undo_001` or `*.ibu`.
fn is_undo_tablespace(name: &str) -> bool {
    name.ends_with(".ibu")
        || name.strip_prefix("undo").is_some_and(|n| {
            let n = n.strip_prefix('_').unwrap_or(n);
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        })
}

/// The DROPs of `dict_name` whose undo records only the redo log kept (their undo page
/// never reached the disk), merged into `undo_drops`; each with the log it came from.
pub(super) fn drops_in_redo(
    undo_drops: &mut Vec<lifeboat_innodb::undo::DroppedTable>,
    logs: &[PathBuf],
    dict_name: &str,
) -> Result<std::collections::HashMap<u64, PathBuf>, Error> {
    let mut redo_only = std::collections::HashMap::new();
    for (t, path) in undo_drops_in_redo(logs, dict_name)? {
        if !undo_drops.iter().any(|u| u.table_id == t.table_id) {
            redo_only.insert(t.table_id, path);
        }
        lifeboat_innodb::undo::merge(undo_drops, t);
    }
    Ok(redo_only)
}

#[cfg(test)]
mod tests {
    #[test]
    fn undo_tablespaces_are_told_by_name() {
        for yes in ["undo001", "undo_002", "extra.ibu"] {
            assert!(super::is_undo_tablespace(yes), "{yes}");
        }
        for no in ["undo", "undo_", "undo.frm", "undone.ibd", "ibdata1"] {
            assert!(!super::is_undo_tablespace(no), "{no}");
        }
    }
}
