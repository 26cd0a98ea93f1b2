//! `lifeboat binlog show|verify`: binlog files read for people and scripts.

use std::io::Write;
use std::path::{Path, PathBuf};

use lifeboat_core::Error;
use lifeboat_core::detect::events::{self, Filter};

use crate::args::detect::BinlogCommand;
use crate::args::shared::ArchivedArgs;
use crate::context::{Ctx, Failure, usage};
use crate::{open, render};

pub async fn run(ctx: &Ctx, cmd: &BinlogCommand) -> Result<u8, Failure> {
    match cmd {
        BinlogCommand::Verify { files, archived } => verify(ctx, files, archived).await,
        BinlogCommand::Show {
            files,
            archived,
            start_datetime,
            stop_datetime,
            time_zone,
            start_position,
            stop_position,
            include_gtids,
            exclude_gtids,
            databases,
            tables,
        } => {
            let tz = lifeboat_core::time::zone(time_zone.as_deref())?;
            let gtids = |flag: &str,
                         v: &Option<String>|
             -> Result<Option<lifeboat_binlog::GtidSet>, Failure> {
                v.as_deref()
                    .map(|t| t.parse().map_err(|e| usage(format!("{flag}: {e}"))))
                    .transpose()
            };
            let filter = Filter {
                start_time: lifeboat_core::time::flag(
                    "--start-datetime",
                    start_datetime.as_deref(),
                    &tz,
                )?,
                stop_time: lifeboat_core::time::flag(
                    "--stop-datetime",
                    stop_datetime.as_deref(),
                    &tz,
                )?,
                start_position: *start_position,
                stop_position: *stop_position,
                include_gtids: gtids("--include-gtids", include_gtids)?,
                exclude_gtids: gtids("--exclude-gtids", exclude_gtids)?,
                databases: databases.clone(),
                tables: tables.clone(),
            };
            show(ctx, files, archived, &filter).await
        }
    }
}

async fn verify(ctx: &Ctx, files: &[PathBuf], archived: &ArchivedArgs) -> Result<u8, Failure> {
    let (tmp, files) = open::materialize(ctx, archived, files).await?;
    let mut verdicts = events::verify(&files);
    if let (Some(loc), Some(_)) = (&archived.repo, &tmp) {
        // Name the archived file, not its temporary copy.
        for v in &mut verdicts {
            let name = Path::new(&v.file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            v.file = format!("{loc}: {}", name.unwrap_or_default());
        }
    }
    ctx.show_lines(&verdicts, render::binlog_verdicts);
    Ok(u8::from(!verdicts.iter().all(|v| v.ok)))
}

/// Streams the events: a JSON object per line, or text like `mysqlbinlog -vv`.
async fn show(
    ctx: &Ctx,
    files: &[PathBuf],
    archived: &ArchivedArgs,
    filter: &Filter,
) -> Result<u8, Failure> {
    let (_tmp, files) = open::materialize(ctx, archived, files).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let json = ctx.json;
    let result = events::show(&files, filter, |ev| {
        if json {
            serde_json::to_writer(&mut out, ev).map_err(std::io::Error::from)?;
            out.write_all(b"\n")
        } else {
            render::binlog_event(&mut out, ev)
        }
    });
    let flushed = out.flush();
    drop(out);
    let summary = match result {
        // A closed pipe (`| head`) is not an error.
        Err(e) if e.is_closed_pipe() => return Ok(0),
        other => other?,
    };
    if let Err(e) = flushed
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(Error::Output(e).into());
    }
    for (file, at) in &summary.truncated {
        eprintln!(
            "note: {file} ends in an incomplete event; its complete transactions end at offset {at}"
        );
    }
    Ok(0)
}
