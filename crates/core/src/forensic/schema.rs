//! Where a table's definition comes from: its `.frm`, its SDI, a backup.

use std::io::Read;
use std::path::Path;

use crate::error::Error;
use crate::forensic::pages::{each_page_in_memory, page_reader, page_size_of, redo_log_given};

/// The definition of the table whose tablespace is `ibd`, from the files themselves: the
/// .frm file beside it (MariaDB; MySQL 5.7 writes the same format, untested), else the SDI inside it (MySQL 8).
pub fn schema_of(ibd: &Path) -> Result<lifeboat_innodb::schema::TableSchema, Error> {
    if ibd.is_dir() {
        return Err(Error::Tablespace {
            path: ibd.to_path_buf(),
            page: None,
            problem: "a directory: give a tablespace file (.ibd, ibdata1)".into(),
        });
    }
    // A redo log is said to be one before anything is looked for beside it.
    let mut head = Vec::new();
    if let Ok(f) = std::fs::File::open(ibd) {
        let _ = f.take(512).read_to_end(&mut head);
    }
    if let Some(h) = lifeboat_innodb::redo::Header::parse(&head) {
        return Err(redo_log_given(ibd, &h));
    }
    let frm = ibd.with_extension("frm");
    if !frm.is_file() {
        let beside = format!(
            "no {} beside it (MariaDB and MySQL 5.7 keep the definition there)",
            frm.file_name().unwrap_or_default().to_string_lossy()
        );
        return schema_from_sdi(ibd).map_err(|e| match e {
            // The same file: one line, not its name three times.
            Error::Definition {
                problem, source, ..
            } => Error::Definition {
                table: ibd.display().to_string(),
                problem: format!("{beside}, and {problem}"),
                source,
                hint: Some("give the definition with --schema DDL_FILE"),
            },
            e => Error::Definition {
                table: ibd.display().to_string(),
                problem: format!("{beside}, and its SDI cannot be read"),
                source: Some(Box::new(e)),
                hint: Some("give the definition with --schema DDL_FILE"),
            },
        });
    }
    let bytes = std::fs::read(&frm).map_err(|e| Error::in_file(&frm, e))?;
    let stem = frm.file_stem().unwrap_or_default().to_string_lossy();
    let table = crate::forensic::rescue::decode_file_name(&stem);
    let ddl = lifeboat_innodb::frm::create_table(&bytes, &table)
        .map_err(|e| Error::unreadable(&frm, e))?;
    lifeboat_innodb::schema::parse_create_table(&ddl).map_err(|e| Error::Definition {
        table: frm.display().to_string(),
        problem: "the definition read from it is not usable".into(),
        source: Some(Box::new(e)),
        hint: Some("give the definition with --schema DDL_FILE"),
    })
}

/// The table a tablespace file belongs to, from its path (`DATADIR/db/name.ibd`, names
/// decoded from MariaDB's and MySQL's file-name encoding).
pub fn table_of_path(ibd: &Path) -> Option<(String, String)> {
    let table = ibd.file_stem()?.to_str()?;
    let db = ibd.parent()?.file_name()?.to_str()?;
    Some((
        crate::forensic::rescue::decode_file_name(db),
        crate::forensic::rescue::decode_file_name(table),
    ))
}

/// The definition of `db.table` as a lifeboat backup recorded it (the server's own SHOW
/// CREATE TABLE, taken inside the backup's snapshot): backup `id`, or the newest committed
/// backup in `repo` that holds the table. Returns the definition and the backup's id.
pub async fn schema_from_backup(
    repo: &lifeboat_repo::Repository,
    id: Option<&str>,
    db: &str,
    table: &str,
) -> Result<(lifeboat_innodb::schema::TableSchema, String), Error> {
    let ids = match id {
        Some(id) => vec![id.to_owned()],
        None => repo.backup_ids().await?.0.into_iter().rev().collect(),
    };
    for id in &ids {
        let body = crate::protect::backup::Body::of(&repo.manifest(id).await?)?;
        let found = body
            .schemas
            .iter()
            .filter(|s| s.name == db)
            .flat_map(|s| &s.tables)
            .find(|t| t.name == table);
        if let Some(t) = found {
            let schema = lifeboat_innodb::schema::parse_create_table(&t.create).map_err(|e| {
                Error::Definition {
                    table: format!("{db}.{table}"),
                    problem: format!("the definition backup {id} recorded is not usable"),
                    source: Some(Box::new(e)),
                    hint: Some("give the definition with --schema DDL_FILE"),
                }
            })?;
            return Ok((schema, id.clone()));
        }
    }
    Err(Error::Missing {
        what: format!("{db}.{table}"),
        within: match id {
            Some(id) => format!("backup {id}"),
            None => format!("any of the {} committed backups", ids.len()),
        },
        hint: Some("give the definition with --schema DDL_FILE"),
    })
}

/// The table definition a MySQL 8 tablespace carries in its SDI (serialized dictionary
/// information).
pub fn schema_from_sdi(ibd: &Path) -> Result<lifeboat_innodb::schema::TableSchema, Error> {
    let (page_size, fsp) = page_size_of(ibd)?;
    let flags = fsp.map(|h| h.flags);
    let mut page_of = page_reader(ibd, page_size, flags)?;
    let mut found = None;
    let mut problems = Vec::new();
    // A compressed tablespace's SDI pages are compressed too.
    each_page_in_memory(ibd, page_size, flags, &mut |_, page| {
        if lifeboat_innodb::FilHeader::parse(page).is_none_or(|h| h.page_type != 17853) {
            return Ok(());
        }
        for r in lifeboat_innodb::sdi::records(page, &mut page_of) {
            match r {
                Ok(r) if r.kind == lifeboat_innodb::sdi::SDI_TYPE_TABLE => {
                    found = Some(lifeboat_innodb::sdi::table_schema(&r.json));
                }
                Ok(_) => {}
                Err(e) => problems.push(e),
            }
        }
        Ok(())
    })?;
    match found {
        Some(Ok(schema)) => Ok(schema),
        Some(Err(e)) => Err(Error::Definition {
            table: ibd.display().to_string(),
            problem: "the definition in its SDI is not usable".into(),
            source: Some(e.into()),
            hint: None,
        }),
        None => Err(Error::Definition {
            table: ibd.display().to_string(),
            problem: "no table definition in the file's SDI".into(),
            source: problems.into_iter().next().map(Into::into),
            hint: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tablespace_path_names_its_table() {
        let t = super::table_of_path(std::path::Path::new(
            "/var/lib/mysql/we@0020ird/t@002d1.ibd",
        ));
        assert_eq!(t, Some(("we ird".into(), "t-1".into())));
    }
}
