//! What the forensic commands share: where a table's definition comes from, loading what
//! they recovered, and printing it.

use std::path::Path;

use lifeboat_core::forensic::recovered::{Loaded, Written};
use lifeboat_core::target::ConnArgs;
use lifeboat_innodb::schema::TableSchema;
use serde::Serialize;

use crate::args::shared::{BackupSchema, LoadTo, RecoveredOut, TablespaceArgs};
use crate::context::{Ctx, Failure, usage};
use crate::open::open_repo;
use crate::render;

impl BackupSchema {
    /// The definition of `db.table` from the backup named, if one is.
    pub async fn definition(
        &self,
        ctx: &Ctx,
        db: &str,
        table: &str,
    ) -> Result<Option<TableSchema>, Failure> {
        let Some(which) = &self.schema_from_backup else {
            return Ok(None);
        };
        let repo = open_repo(ctx, &self.repo).await?;
        let id = (which != "latest").then_some(which.as_str());
        let (schema, id) =
            lifeboat_core::forensic::schema_from_backup(&repo, id, db, table).await?;
        eprintln!("definition of {db}.{table} from backup {id}");
        Ok(Some(schema))
    }
}

impl TablespaceArgs {
    /// The table definition: `--schema`, or `--schema-from-backup`, else the .frm beside
    /// the file, else its SDI.
    pub async fn definition(&self, ctx: &Ctx) -> Result<TableSchema, Failure> {
        if let Some(s) = &self.schema {
            return read_schema(s);
        }
        if self.backup.schema_from_backup.is_some() {
            let (db, table) = match &self.table {
                Some(t) => split_table(t)?,
                None => lifeboat_core::forensic::table_of_path(&self.ibd).ok_or_else(|| {
                    usage(format!(
                        "cannot tell the table from {}: give --table DB.NAME",
                        self.ibd.display()
                    ))
                })?,
            };
            if let Some(s) = self.backup.definition(ctx, &db, &table).await? {
                return Ok(s);
            }
        }
        Ok(lifeboat_core::forensic::schema_of(&self.ibd)?)
    }
}

impl TablespaceArgs {
    /// The file and index these flags name, read with `schema`.
    pub fn with<'a>(&'a self, schema: &'a TableSchema) -> lifeboat_core::forensic::TableFile<'a> {
        lifeboat_core::forensic::TableFile {
            ibd: &self.ibd,
            schema,
            index_id: self.index_id,
        }
    }
}

/// `db.name` split at its first dot.
pub fn split_table(t: &str) -> Result<(String, String), Failure> {
    t.split_once('.')
        .map(|(d, n)| (d.to_owned(), n.to_owned()))
        .ok_or_else(|| usage(format!("--table {t}: expected DB.NAME")))
}

/// A table definition from a `--schema` file.
pub fn read_schema(path: &Path) -> Result<TableSchema, Failure> {
    let ddl = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("--schema {}: {e}", path.display())))?;
    lifeboat_innodb::schema::parse_create_table(&ddl)
        .map_err(|e| usage(format!("--schema {}: {e}", path.display())))
}

impl LoadTo {
    /// Loads what a recovery wrote, each table into its database, when asked to.
    pub async fn run(
        &self,
        ctx: &Ctx,
        conn: &ConnArgs,
        items: &[(String, Written)],
    ) -> Result<Option<Loaded>, Failure> {
        if (!self.load && self.side.sandbox.is_none()) || items.is_empty() {
            return Ok(None);
        }
        let config = ctx.config()?;
        let target = ctx.restore_target(&self.side, conn, &config)?;
        let mut audit = ctx.audit(&config)?;
        let names: Vec<String> = items
            .iter()
            .map(|(d, w)| format!("{d}.{}", w.table))
            .collect();
        let policy = self
            .confirm
            .policy(&format!("load recovered rows into {}", names.join(", ")));
        let loaded =
            lifeboat_core::forensic::recovered::load(items, target, &policy, &mut audit).await?;
        Ok(Some(loaded))
    }
}

impl RecoveredOut {
    /// Loads what a recovery wrote into --database, when asked to.
    pub async fn load(
        &self,
        ctx: &Ctx,
        conn: &ConnArgs,
        written: &Written,
    ) -> Result<Option<Loaded>, Failure> {
        let items = [(self.database.clone(), written.clone())];
        self.to.run(ctx, conn, &items).await
    }
}

/// What a recovery did and, when asked, where its rows were loaded: one JSON object, or the
/// recovery's own text (`text`) followed by the load.
#[derive(Serialize)]
pub struct Recovered<'a, T: Serialize> {
    #[serde(flatten)]
    pub done: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded: Option<&'a Loaded>,
}

/// Prints a recovery and its load.
pub fn show<T: Serialize>(
    ctx: &Ctx,
    done: &T,
    written: &Written,
    loaded: Option<&Loaded>,
    text: impl FnOnce(&T),
) {
    ctx.show(&Recovered { done, loaded }, |r| {
        text(r.done);
        render::loaded(written, r.loaded);
    });
}
