//! `lifeboat undrop`: a dropped table's rows from a datadir or an image.

use lifeboat_core::forensic::Source;

use crate::args::forensic::Undrop;
use crate::context::{Ctx, Failure, usage};
use crate::recovered::{self, read_schema, split_table};
use crate::render;

pub async fn run(ctx: &Ctx, a: &Undrop) -> Result<u8, Failure> {
    if a.datadir.is_none() && !a.innodb_dir.is_empty() {
        return Err(usage(
            "--innodb-dir names a datadir's files kept elsewhere: give --datadir too".into(),
        ));
    }
    // Without either, undrop rebuilds it from the dictionary records in the sources.
    let def = match &a.schema {
        Some(s) => Some(read_schema(s)?),
        None => {
            let (db, name) = split_table(&a.table)?;
            a.backup.definition(ctx, &db, &name).await?
        }
    };
    let source = match (&a.datadir, &a.image) {
        (Some(d), _) => Source::Datadir(d.clone(), a.innodb_dir.clone()),
        (None, Some(i)) => Source::Image(i.clone()),
        (None, None) => return Err(usage("give --datadir or --image".into())),
    };
    let out = &a.output;
    let done = lifeboat_core::forensic::undrop(
        &source,
        &a.table,
        def.as_ref(),
        &out.out,
        out.format,
        a.index_id,
        a.grep.as_deref(),
    )?;
    let loaded = out.load(ctx, &a.conn, &done.output).await?;
    recovered::show(ctx, &done, &done.output, loaded.as_ref(), render::undropped);
    Ok(0)
}
