//! Pass 2 of undrop: the chosen index's pages, newest first, each row once.

use std::collections::HashSet;
use std::path::Path;

use lifeboat_innodb::index::IndexPage;
use lifeboat_innodb::record::decode_with;

use super::choose::{Choice, Decoding};
use super::image::{Image, load};
use super::scan::Found;
use super::{Sources, Undropped};
use crate::error::Error;
use crate::forensic::pages::row_values;
use crate::forensic::recovered::{Format, TableOut};
use crate::forensic::undelete::FastHash;

/// Writes the rows of the chosen index to `out`.
pub(super) fn write(
    found: &mut Found,
    d: Decoding,
    src: &Sources,
    table: &str,
    out: &Path,
    format: Format,
    scan_ms: u64,
) -> Result<Undropped, Error> {
    let Decoding {
        choice:
            Choice {
                candidates,
                chosen,
                chosen_by,
            },
        schema,
        layout,
        definition,
    } = d;
    let schema = &schema;
    let (files, logical, bytes) = (&src.files, src.logical, found.bytes);
    let leaves = &mut found.leaves;
    let (handles, blobs) = (&found.handles, &found.blobs);
    let mut sql = TableOut::create(out, schema, &format!("undrop of {table}"), format)?;
    let mut pages: Vec<Image> = leaves
        .remove(&(chosen.space_id, chosen.index_id))
        .unwrap_or_default()
        .into_values()
        .collect();
    pages.sort_by_key(|i| std::cmp::Reverse(i.lsn));
    let space = chosen.space_id;
    let mut seen: HashSet<Vec<u8>, FastHash> = HashSet::default();
    let mut result = Undropped {
        table: table.to_owned(),
        files: files.clone(),
        bytes,
        scan_ms,
        decode_ms: 0,
        candidates: candidates.clone(),
        chosen: chosen.clone(),
        chosen_by,
        rows: 0,
        rows_from_copies: 0,
        duplicates: 0,
        lost: 0,
        lost_examples: Vec::new(),
        output: sql.written(),
        report: out.join("report.json"),
        definition,
    };
    // Two threads read, decode and render chunks of pages (the first the even chunks, the
    // second the odd ones); this one takes the chunks back in order, keeps each row once
    // (newest page images first) and writes.
    struct PageRows {
        rows: Vec<(Vec<u8>, Vec<u8>)>,
        lost: Vec<String>,
        copy: bool,
    }
    const CHUNK: usize = 64;
    let chunks: Vec<&[Image]> = pages.chunks(CHUNK).collect();
    let (handles, blobs, files_ref, layout, chunks) = (&handles, &blobs, &files, &layout, &chunks);
    let work = move |first: usize,
                     tx: std::sync::mpsc::SyncSender<Result<Vec<PageRows>, Error>>| {
        let mut page_of = |no: u32| -> Option<Vec<u8>> {
            let img = blobs.get(&(space, no))?;
            load(handles.get(img.file)?, img, logical).ok()
        };
        for chunk in chunks.iter().skip(first).step_by(2) {
            let mut done = Vec::with_capacity(chunk.len());
            for img in chunk.iter() {
                let Some(f) = handles.get(img.file) else {
                    continue;
                };
                let page = match load(f, img, logical) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(Error::in_file(&files_ref[img.file], e)));
                        return;
                    }
                };
                let Some(ip) = IndexPage::new(&page) else {
                    continue;
                };
                let mut out = PageRows {
                    rows: Vec::new(),
                    lost: Vec::new(),
                    copy: img.copy,
                };
                for rec in ip.records() {
                    let Ok(rec) = rec else {
                        break;
                    };
                    // Rows deleted before the drop stay deleted.
                    if rec.deleted || rec.min_rec {
                        continue;
                    }
                    let rendered = decode_with(&page, rec.origin, schema, layout)
                        .map_err(|e| e.to_string())
                        .and_then(|row| {
                            let mut v = Vec::with_capacity(128);
                            row_values(&row, schema, rec.origin, &mut page_of, format, &mut v)
                                .map(|()| (row.key, v))
                        });
                    match rendered {
                        Ok(r) => out.rows.push(r),
                        Err(e) => out.lost.push(format!("offset {}: {e}", img.offset)),
                    }
                }
                done.push(out);
            }
            if tx.send(Ok(done)).is_err() {
                return;
            }
        }
    };
    std::thread::scope(|scope| -> Result<(), Error> {
        let (tx0, rx0) = std::sync::mpsc::sync_channel(2);
        let (tx1, rx1) = std::sync::mpsc::sync_channel(2);
        scope.spawn(move || work(0, tx0));
        scope.spawn(move || work(1, tx1));
        for n in 0..chunks.len() {
            let got = if n % 2 == 0 { rx0.recv() } else { rx1.recv() };
            let Ok(pages) = got else {
                return Err(Error::Internal("a page reader stopped early".into()));
            };
            for page in pages? {
                for e in page.lost {
                    result.lost += 1;
                    if result.lost_examples.len() < 20 {
                        result.lost_examples.push(e);
                    }
                }
                for (key, values) in page.rows {
                    if !seen.insert(key) {
                        result.duplicates += 1;
                        continue;
                    }
                    sql.row(&values)?;
                    result.rows += 1;
                    result.rows_from_copies += u64::from(page.copy);
                }
            }
        }
        Ok(())
    })?;
    result.output = sql.finish()?;
    Ok(result)
}
