//! Which of the indexes whose pages fit the definition was the dropped table's, and how
//! its records are decoded.

use std::collections::HashMap;
use std::path::PathBuf;

use lifeboat_innodb::record::Layout;

use super::image::load;
use super::scan::Found;
use super::sources::freed_trees_in_redo;
use super::{Candidate, Definition, Sources};
use crate::error::Error;

/// The index chosen, and why.
pub(super) struct Choice {
    /// Indexes whose pages fit the definition, best first.
    pub candidates: Vec<Candidate>,
    pub chosen: Candidate,
    pub chosen_by: String,
}

/// Chooses the index to read.
pub(super) fn index(
    found: &mut Found,
    def: &Definition,
    src: &Sources,
    logs: &[PathBuf],
    redo_only: &HashMap<u64, PathBuf>,
    table: &str,
    index_id: Option<u64>,
) -> Result<Choice, Error> {
    let groups = std::mem::take(&mut found.groups);
    let (dict, g_hits, undo_drops) = (&found.dict, &found.g_hits, &found.undo_drops);
    let (recreated, sdi_index, files) = (&def.recreated, def.sdi_index, &src.files);
    let dict_name = table.replacen('.', "/", 1);
    let mut candidates: Vec<Candidate> =
        groups.into_values().filter(|c| c.consistent > 0).collect();
    candidates.sort_by_key(|c| std::cmp::Reverse((c.exact, c.consistent, c.pages)));
    for (space, id) in g_hits {
        if let Some(c) = candidates
            .iter_mut()
            .find(|c| c.space_id == *space && c.index_id == *id)
        {
            c.grep_hits += 1;
        }
    }
    // Which index: the one asked for; else a dropped index of that name the dictionary's
    // deleted records name; else pages holding the --grep value; else the best fit that is
    // not the index of a live table of that name (a table dropped and created again).
    let (live, dropped) = dict.clustered_of(&dict_name);
    // Pages of the other live tables are never this table's, however well they fit.
    let elsewhere = dict.live_elsewhere(&dict_name);
    candidates.retain(|c| !elsewhere.contains(&c.index_id));
    // Where some indexes fit mostly byte for byte, a loose fit elsewhere is another table
    // whose records happen to decode.
    let exactly = |c: &Candidate| c.exact * 2 >= c.pages;
    let plausible: Vec<&Candidate> = if candidates.iter().any(exactly) {
        candidates.iter().filter(|c| exactly(c)).collect()
    } else {
        candidates.iter().collect()
    };
    let none = || Error::NoRows {
        table: table.to_string(),
        problem: format!(
            "no INDEX pages in {} fit its definition: they were overwritten, or the definition differs (column types, their order, ROW_FORMAT)",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let (chosen, chosen_by) = if let Some(id) = index_id {
        let c = candidates
            .iter()
            .find(|c| c.index_id == id)
            .cloned()
            .ok_or_else(|| Error::NoRows {
                table: table.to_string(),
                problem: format!("no pages of index {id} fit its definition"),
            })?;
        (c, "--index-id".to_owned())
    } else if let Some(c) = sdi_index.and_then(|id| candidates.iter().find(|c| c.index_id == id)) {
        (
            c.clone(),
            format!("the SDI of {table}'s dropped tablespace, which names its clustered index"),
        )
    } else if let Some(c) = candidates.iter().find(|c| dropped.contains(&c.index_id)) {
        (
            c.clone(),
            format!("the dictionary's deleted records of {dict_name}"),
        )
    } else if let Some((c, d)) = candidates.iter().find_map(|c| {
        undo_drops
            .iter()
            .find(|d| d.index_ids.contains(&c.index_id) && !live.contains(&c.index_id))
            .map(|d| (c, d))
    }) {
        (
            c.clone(),
            match redo_only.get(&d.table_id) {
                Some(log) => format!(
                    "the undo log's records of the DROP of {dict_name} (table id {}), as the redo log {} kept them",
                    d.table_id,
                    log.display()
                ),
                None => format!(
                    "the undo log's records of the DROP of {dict_name} (table id {})",
                    d.table_id
                ),
            },
        )
    } else if let Some((c, (root, log))) = {
        // MySQL's DDL log, in the redo log, names the B-trees DROPs freed.
        let open: Vec<(u32, u64)> = plausible
            .iter()
            .filter(|c| !live.contains(&c.index_id))
            .map(|c| (c.space_id, c.index_id))
            .collect();
        // MariaDB has no such log: only a MySQL 8+ dictionary's datadir is searched.
        let freed = if open.is_empty() || dict.documents.is_empty() {
            HashMap::new()
        } else {
            freed_trees_in_redo(logs, &open)?
        };
        plausible
            .iter()
            .filter(|c| !live.contains(&c.index_id))
            .find_map(|c| {
                freed
                    .get(&(c.space_id, c.index_id))
                    .map(|f| (*c, f.clone()))
            })
    } {
        (
            c.clone(),
            format!(
                "the DDL log record in the redo log {} of the B-tree of index {} (root page {root}), which no live table owns",
                log.display(),
                c.index_id
            ),
        )
    } else if let Some(c) = candidates
        .iter()
        .find(|c| recreated.contains_key(&c.index_id))
    {
        (
            c.clone(),
            format!(
                "the dictionary's deleted records of a dropped table whose columns match {dict_name}'s (created again with another definition)"
            ),
        )
    } else if let Some(c) = candidates
        .iter()
        .filter(|c| c.grep_hits > 0)
        .max_by_key(|c| (c.grep_hits, c.exact, c.consistent))
    {
        (c.clone(), "pages holding the --grep value".to_owned())
    } else if let Some(&c) = plausible.iter().find(|c| !live.contains(&c.index_id)) {
        let by = if live.is_empty() {
            "the best fit of the definition".to_owned()
        } else {
            format!(
                "the best fit of the definition other than the live {dict_name} (index {})",
                live.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        (c.clone(), by)
    } else {
        // Only the index the dictionary lists fits. Either the DROP had not reached the
        // data files (a server stopped right after it), or the table was created again and
        // the old rows never reached them (their pages were freed before being flushed):
        // then these are the new table's rows, which the user must be told.
        let c = plausible.first().cloned().cloned().ok_or_else(none)?;
        (
            c,
            format!(
                "the only index that fits is the one the dictionary in the files lists for {dict_name}: the DROP had not reached the files, or the table was created again and these are the new table's rows (the old ones never reached the data files; look for a copy of the files from before the drop)"
            ),
        )
    };

    Ok(Choice {
        candidates,
        chosen,
        chosen_by,
    })
}

/// How the chosen index's records decode.
pub(super) struct Decoding {
    pub choice: Choice,
    pub schema: lifeboat_innodb::schema::TableSchema,
    pub layout: Layout,
    /// The definition rebuilt from the dictionary, when none was given.
    pub definition: Option<lifeboat_innodb::dict::Definition>,
}

/// The definition and layout that decode the chosen index: the one given or rebuilt, or the
/// chosen index's own table's when the name was created again with another definition.
pub(super) fn decoding(
    choice: Choice,
    found: &Found,
    def: Definition,
    src: &Sources,
    table: &str,
) -> Result<Decoding, Error> {
    let Choice {
        candidates,
        chosen,
        chosen_by,
    } = choice;
    let (dict, cores, first_leaves) = (&found.dict, &found.cores, &found.first_leaves);
    let (handles, blobs, logical) = (&found.handles, &found.blobs, src.logical);
    let dict_name = table.replacen('.', "/", 1);
    let definition = def.definition;
    let schema = &def.schema;
    let layout = Layout::new(schema);
    let (mut chosen_by, mut definition) = (chosen_by, definition);
    let owner = dict.table_of_index(chosen.index_id);
    if let Some((tid, true)) = owner
        && !chosen_by.contains("deleted records")
    {
        chosen_by.push_str(&format!(
            "; the dictionary's deleted records give this index to a dropped table (id {tid})"
        ));
    }
    // A definition from the dictionary was the name's; the chosen index may be another
    // table id's (the table was created again under the name): its own columns decode it.
    let mut rebuilt = None;
    if let (Some(d), Some((tid, _))) = (&definition, owner)
        && tid != d.table_id
        && let Ok(own) = dict.definition_of(tid, &dict_name)
    {
        if own.create_sql != d.create_sql {
            rebuilt = Some(super::parse(&own)?);
        }
        definition = Some(own);
    }
    let schema = rebuilt.as_ref().unwrap_or(schema);
    let key = (chosen.space_id, chosen.index_id);
    let mut layout = if rebuilt.is_some() {
        Layout::new(schema)
    } else {
        layout
    };
    if let Some(&n) = cores.get(&key) {
        layout.set_instant_core(n);
        if let Some(img) = first_leaves.get(&key)
            && let Some(f) = handles.get(img.file)
            && let Ok(page) = load(f, img, logical)
        {
            let mut page_of = |no: u32| -> Option<Vec<u8>> {
                let img = blobs.get(&(chosen.space_id, no))?;
                load(handles.get(img.file)?, img, logical).ok()
            };
            let _ = layout.learn_metadata(&page, schema, &mut page_of);
        }
    }
    Ok(Decoding {
        schema: schema.clone(),
        layout,
        definition,
        choice: Choice {
            candidates,
            chosen,
            chosen_by,
        },
    })
}
