//! What every command gets: the global flags, the config, how to ask the user, and the one
//! place that decides between JSON and text.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use lifeboat_core::Error;
use lifeboat_core::config::Config;
use lifeboat_core::target::journal::{Audit, Journal};
use lifeboat_core::target::{self, ConnArgs};
use lifeboat_server::{ConnectOptions, Password};
use serde::Serialize;

use crate::args::Global;

/// A command's run: global flags and the arguments to journal.
pub struct Ctx {
    /// `--json`: machine-readable output on stdout, no progress or notes.
    pub json: bool,
    config: Option<PathBuf>,
    journal: Option<PathBuf>,
    /// The command line as typed (without the program name), for the journal.
    argv: Vec<String>,
}

/// Why a command failed, and its exit code.
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
    pub code: u8,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            message: e.to_string(),
            hint: e.hint(),
            code: if e.is_refusal() {
                3
            } else if e.is_usage() {
                2
            } else {
                1
            },
        }
    }
}

/// A usage error (exit 2).
pub fn usage(message: String) -> Failure {
    Failure {
        message,
        hint: None,
        code: 2,
    }
}

impl Ctx {
    pub fn new(global: &Global, argv: Vec<String>) -> Self {
        Ctx {
            json: global.json,
            config: global.config.clone(),
            journal: global.journal.clone(),
            argv,
        }
    }

    /// What a long command reports to: a progress bar and notes on stderr on a terminal,
    /// nothing with `--json`.
    pub fn reporting(&self) -> lifeboat_core::Context {
        let json = self.json;
        lifeboat_core::Context::new(
            crate::progress::sink(json),
            std::sync::Arc::new(move |m: &str| {
                if !json {
                    eprintln!("{m}");
                }
            }),
        )
    }

    /// Prints `value`: as JSON, or as `text` renders it.
    pub fn show<T: Serialize + ?Sized>(&self, value: &T, text: impl FnOnce(&T)) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("error: cannot render JSON: {e}"),
            }
        } else {
            text(value);
        }
    }

    /// Prints each item: one JSON object per line, or as `text` renders the list.
    pub fn show_lines<T: Serialize>(&self, items: &[T], text: impl FnOnce(&[T])) {
        if self.json {
            for i in items {
                println!("{}", serde_json::to_string(i).unwrap_or_default());
            }
        } else {
            text(items);
        }
    }

    /// The config file, with its warnings printed.
    pub fn config(&self) -> Result<Config, Error> {
        let (config, warnings) = Config::load(self.config.as_deref())?;
        for w in warnings {
            eprintln!("warning: {w}");
        }
        Ok(config)
    }

    /// The audit journal's path.
    pub fn journal_path(&self, config: &Config) -> PathBuf {
        self.journal
            .clone()
            .or_else(|| config.journal.clone())
            .unwrap_or_else(lifeboat_core::paths::default_journal)
    }

    /// The server the connection flags name.
    pub fn resolve(&self, conn: &ConnArgs, config: &Config) -> Result<ConnectOptions, Error> {
        let resolved = target::resolve(conn, config, &prompt_password)?;
        for w in resolved.warnings {
            eprintln!("warning: {w}");
        }
        Ok(resolved.options)
    }

    /// Target and journal for a command that changes a server; the journal is opened first
    /// so nothing happens that could not be recorded.
    pub fn prepare_write(&self, conn: &ConnArgs) -> Result<(ConnectOptions, Audit), Error> {
        let config = self.config()?;
        let target = self.resolve(conn, &config)?;
        Ok((target, self.audit(&config)?))
    }

    /// The audit journal, opened before anything changes (so nothing happens unrecorded).
    pub fn audit(&self, config: &Config) -> Result<Audit, Error> {
        let journal = Journal::open(&self.journal_path(config))?;
        Ok(Audit {
            journal,
            args: self.argv.clone(),
        })
    }
}

fn prompt_password(_origin: &str) -> Option<Password> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    rpassword::prompt_password("Password: ")
        .ok()
        .map(Password::new)
}

pub(crate) fn confirm_on_terminal(question: &str) -> Option<String> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).ok()?;
    Some(line.trim().to_owned())
}

impl Ctx {
    /// Where a restore or a load goes: a new side instance, or the server the connection
    /// options name.
    pub fn restore_target(
        &self,
        side: &crate::args::shared::SideArgs,
        conn: &ConnArgs,
        config: &Config,
    ) -> Result<lifeboat_core::recover::restore::Target, Error> {
        use lifeboat_core::recover::restore::{SideInstance, Target};
        Ok(match &side.sandbox {
            Some(dir) => Target::Sandbox(SideInstance {
                dir: dir.clone(),
                mysqld: side.mysqld.clone(),
                binlog: false,
            }),
            None => Target::Server(self.resolve(conn, config)?),
        })
    }
}
