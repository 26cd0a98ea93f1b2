//! `lifeboat demo`: the whole runbook on sandbox servers.

use lifeboat_core::Error;

use crate::args::Demo;
use crate::context::{Ctx, Failure};
use crate::render;

pub async fn run(ctx: &Ctx, a: &Demo) -> Result<u8, Failure> {
    let tmp;
    let work = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| Error::in_file(d, e))?;
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("lifeboat-demo.")
                .tempdir()
                .map_err(|e| Error::in_file(&std::env::temp_dir(), e))?;
            tmp.path().to_path_buf()
        }
    };
    let sakila = lifeboat_core::demo::Sakila {
        schema: include_str!("../../tests/fixtures/sakila-schema.sql"),
        data: include_str!("../../tests/fixtures/sakila-data.sql"),
    };
    let quiet = ctx.json;
    let t0 = std::time::Instant::now();
    // The story goes to stdout with its time; no progress bars between its lines.
    let story = lifeboat_core::Context::new(
        std::sync::Arc::new(lifeboat_core::progress::Silent),
        std::sync::Arc::new(move |s: &str| {
            if !quiet {
                println!("[{:5.1} s] {s}", t0.elapsed().as_secs_f64());
            }
        }),
    );
    let timeline = lifeboat_core::demo::run(&work, &sakila, a.mysqld.as_deref(), &story).await?;
    ctx.show(&timeline, |t| render::demo(t, t0.elapsed()));
    Ok(0)
}
