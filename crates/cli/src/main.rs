//! `lifeboat`: parse arguments, call one `lifeboat_core` function, render the outcome.
//!
//! [`args`] defines the command line, [`commands`] runs each command, [`render`] prints
//! outcomes as text ([`context::Ctx::show`] chooses text or JSON).
//!
//! Exit codes: 0 success; 1 failure (or `check` found a FAIL); 2 usage error; 3 refused for
//! safety (nothing was changed).

use std::process::ExitCode;

mod args;
mod commands;
mod context;
mod open;
mod progress;
mod recovered;
mod render;

use context::Ctx;

fn main() -> ExitCode {
    // Output piped into `head` ends quietly when the reader leaves, as Unix tools do. Rust
    // ignores SIGPIPE (which keeps a write to a closed server socket an error, not a silent
    // death), so printing to a closed pipe panics: that one panic becomes exit 141.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload_as_str().unwrap_or_default();
        if msg.starts_with("failed printing to std") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        hook(info);
    }));
    let argv: Vec<String> = std::env::args().collect();
    let cli = match args::parse(&argv) {
        Ok(cli) => cli,
        Err(code) => return ExitCode::from(code),
    };
    // A thread per core: a backup's or restore's connections are served in parallel (their
    // compression and decompression run on the blocking pool either way).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let journal_args = argv.into_iter().skip(1).collect();
    let ctx = Ctx::new(&cli.global, journal_args);
    match runtime.block_on(commands::run(&cli.command, &ctx)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", f.message);
            if let Some(h) = f.hint {
                eprintln!("hint: {h}");
            }
            ExitCode::from(f.code)
        }
    }
}
