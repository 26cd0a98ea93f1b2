//! Which server a command talks to: flags, `--server NAME`, option files and defaults,
//! resolved once into [`ConnectOptions`].
//!
//! Precedence, highest first: command-line flags; the named server from the config; option
//! files (`[client]`, `[client-server]`, `[client-mariadb]`, `[lifeboat]`, each also with the
//! group suffix); defaults. Host and socket are taken together from the first layer that sets
//! either, so a `socket=` in `~/.my.cnf` never hijacks `--host db1`.
//!
//! Passwords come from, in order: `-p` (prompt), `--password-file`, `LIFEBOAT_PASSWORD`, the
//! named server's `password_file`, the option files' `password`. There is no flag that takes
//! a password value.

pub mod guard;
pub mod journal;
pub mod side;

use std::path::PathBuf;
use std::time::Duration;

use lifeboat_server::credentials::read_password_file;
use lifeboat_server::mycnf::{OptionFileError, OptionFiles, client_groups};
use lifeboat_server::{ConnectOptions, Endpoint, Password, SslMode};

use crate::config::{Config, ServerEntry};

/// Connection flags shared by every command that talks to a server.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[cfg_attr(feature = "clap", command(next_help_heading = "Connection"))]
pub struct ConnArgs {
    /// Server host name or IP; `localhost` means the unix socket, as with the mysql client.
    #[cfg_attr(feature = "clap", arg(long, short = 'h'))]
    pub host: Option<String>,
    /// TCP port (given without --host: 127.0.0.1 over TCP).
    #[cfg_attr(feature = "clap", arg(long, short = 'P'))]
    pub port: Option<u16>,
    /// Unix socket path.
    #[cfg_attr(feature = "clap", arg(long, short = 'S'))]
    pub socket: Option<PathBuf>,
    /// User name (default: from option files, else the OS user).
    #[cfg_attr(feature = "clap", arg(long, short = 'u'))]
    pub user: Option<String>,
    /// Ask for the password at a prompt. Takes no value: a password on the command line would
    /// be visible to every user in `ps`.
    #[cfg_attr(feature = "clap", arg(long = "password", short = 'p'))]
    pub prompt_password: bool,
    /// Read the password from the first line of this file (chmod 600).
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
    pub password_file: Option<PathBuf>,
    /// A server named in the config file's [servers.NAME] table.
    #[cfg_attr(feature = "clap", arg(long, value_name = "NAME"))]
    pub server: Option<String>,
    /// Read only this option file (my.cnf syntax) instead of the default ones.
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
    pub defaults_file: Option<PathBuf>,
    /// Read this option file after the global ones and before ~/.my.cnf.
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
    pub defaults_extra_file: Option<PathBuf>,
    /// Also read groups with this suffix, e.g. _prod reads `[client_prod]` and `[lifeboat_prod]`.
    #[cfg_attr(feature = "clap", arg(long, value_name = "SUFFIX"))]
    pub defaults_group_suffix: Option<String>,
    /// Read no option files at all.
    #[cfg_attr(feature = "clap", arg(long))]
    pub no_defaults: bool,
    /// TLS: DISABLED, PREFERRED (default), REQUIRED, VERIFY_CA, VERIFY_IDENTITY.
    #[cfg_attr(feature = "clap", arg(long, value_name = "MODE"))]
    pub ssl_mode: Option<String>,
    /// CA certificate (PEM) to verify the server with.
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
    pub ssl_ca: Option<PathBuf>,
    /// Seconds to wait for the server to answer.
    #[cfg_attr(feature = "clap", arg(long, value_name = "SECS", default_value_t = 10))]
    pub connect_timeout: u64,
}

/// Why no connection target could be resolved.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// `--server NAME` not in the config.
    #[error("no server named {name:?} in {config}")]
    UnknownServer {
        /// The name.
        name: String,
        /// The config file (or "the config" when none was read).
        config: String,
    },
    /// An option file problem.
    #[error(transparent)]
    OptionFile(#[from] OptionFileError),
    /// A password file problem.
    #[error(transparent)]
    PasswordFile(#[from] lifeboat_server::credentials::PasswordFileError),
    /// A bad value.
    #[error("{0}")]
    Invalid(String),
    /// A password is needed but there is no terminal to ask on.
    #[error("a password prompt was requested ({0}) but there is no terminal to ask on")]
    NoTerminal(String),
}

impl TargetError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            TargetError::UnknownServer { .. } => {
                Some("add it under [servers.NAME] in the config file (--config)".into())
            }
            TargetError::NoTerminal(_) => Some(
                "use --password-file, LIFEBOAT_PASSWORD or an option file when running unattended"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// A resolved target plus things to tell the user.
#[derive(Debug)]
pub struct Resolved {
    /// Where and how to connect.
    pub options: ConnectOptions,
    /// Non-fatal warnings (file permissions).
    pub warnings: Vec<String>,
    /// Option files that were read.
    pub option_files: Vec<PathBuf>,
}

/// One layer of settings.
#[derive(Default)]
struct Layer {
    host: Option<String>,
    socket: Option<PathBuf>,
    port: Option<u16>,
    user: Option<String>,
    ssl_mode: Option<String>,
    ssl_ca: Option<PathBuf>,
}

/// Asks for a password; `None` when there is no terminal.
pub type Prompt<'a> = &'a dyn Fn(&str) -> Option<Password>;

/// Resolves the target. `prompt` asks on the terminal (the CLI passes one; tests pass none).
pub fn resolve(
    args: &ConnArgs,
    config: &Config,
    prompt: Prompt<'_>,
) -> Result<Resolved, TargetError> {
    let mut warnings = Vec::new();
    let entry: ServerEntry = match &args.server {
        Some(name) => {
            config
                .servers
                .get(name)
                .cloned()
                .ok_or_else(|| TargetError::UnknownServer {
                    name: name.clone(),
                    config: config.source.as_ref().map_or_else(
                        || "the config (none was found)".to_owned(),
                        |p| p.display().to_string(),
                    ),
                })?
        }
        None => ServerEntry::default(),
    };

    // Option files.
    let mut files = OptionFiles::default();
    if !args.no_defaults {
        if let Some(f) = args.defaults_file.as_ref().or(entry.defaults_file.as_ref()) {
            files.read_file(f, true)?;
        } else {
            let home = crate::paths::home();
            let defaults = OptionFiles::default_paths(home.as_deref());
            let (user_files, global): (Vec<_>, Vec<_>) = defaults
                .into_iter()
                .partition(|p| home.as_ref().is_some_and(|h| p.starts_with(h)));
            for p in &global {
                files.read_file(p, false)?;
            }
            if let Some(extra) = &args.defaults_extra_file {
                files.read_file(extra, true)?;
            }
            for p in &user_files {
                files.read_file(p, false)?;
            }
        }
    }
    warnings.append(&mut files.warnings);
    let suffix = args
        .defaults_group_suffix
        .clone()
        .or_else(|| entry.defaults_group_suffix.clone())
        .or_else(|| std::env::var("MYSQL_GROUP_SUFFIX").ok());
    let opt = files.settings_for(&client_groups("lifeboat", suffix.as_deref()));
    let ov = |k: &str| opt.get(k).and_then(|(v, _)| v.clone());

    let layers = [
        Layer {
            host: args.host.clone(),
            socket: args.socket.clone(),
            port: args.port,
            user: args.user.clone(),
            ssl_mode: args.ssl_mode.clone(),
            ssl_ca: args.ssl_ca.clone(),
        },
        Layer {
            host: entry.host.clone(),
            socket: entry.socket.clone(),
            port: entry.port,
            user: entry.user.clone(),
            ssl_mode: entry.ssl_mode.clone(),
            ssl_ca: entry.ssl_ca.clone(),
        },
        Layer {
            host: ov("host"),
            socket: ov("socket").map(PathBuf::from),
            port: match ov("port") {
                Some(p) => Some(p.trim().parse().map_err(|_| {
                    TargetError::Invalid(format!("option file: port={p:?} is not a port number"))
                })?),
                None => None,
            },
            user: ov("user"),
            ssl_mode: ov("ssl_mode").or_else(|| option_file_ssl(&opt)),
            ssl_ca: ov("ssl_ca").map(PathBuf::from),
        },
    ];
    let first = |f: &dyn Fn(&Layer) -> bool| layers.iter().position(f);
    let place = first(&|l| l.host.is_some() || l.socket.is_some());
    let port_layer = first(&|l| l.port.is_some());
    let port = port_layer.and_then(|i| layers.get(i)?.port);
    let (host, socket) = place
        .and_then(|i| layers.get(i))
        .map_or((None, None), |l| (l.host.clone(), l.socket.clone()));
    let endpoint = match (host, socket) {
        (Some(h), _) if h != "localhost" => Endpoint::Tcp {
            host: h,
            port: port.unwrap_or(3306),
        },
        (_, Some(s)) => Endpoint::Socket { path: s },
        // A port given explicitly (flag or named server) without a host means TCP on this
        // machine; the mysql client would silently use the socket and ignore the port.
        (None, None) if port_layer.is_some_and(|i| i < 2) => Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: port.unwrap_or(3306),
        },
        _ => lifeboat_server::connect::DEFAULT_SOCKETS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .map_or_else(
                || Endpoint::Tcp {
                    host: "127.0.0.1".into(),
                    port: port.unwrap_or(3306),
                },
                |path| Endpoint::Socket { path },
            ),
    };
    let pick = |f: &dyn Fn(&Layer) -> Option<String>| layers.iter().find_map(f);
    let user = pick(&|l| l.user.clone());
    let ssl_mode = match pick(&|l| l.ssl_mode.clone()) {
        Some(m) => m.parse::<SslMode>().map_err(TargetError::Invalid)?,
        None => SslMode::default(),
    };
    let ssl_ca = layers.iter().find_map(|l| l.ssl_ca.clone());

    // Password, by the documented order.
    let password =
        if args.prompt_password {
            Some(prompt("-p").ok_or_else(|| TargetError::NoTerminal("-p".into()))?)
        } else if let Some(f) = &args.password_file {
            let (p, w) = read_password_file(f)?;
            warnings.extend(w);
            Some(p)
        } else if let Ok(p) = std::env::var("LIFEBOAT_PASSWORD") {
            Some(Password::new(p))
        } else if let Some(f) = &entry.password_file {
            let (p, w) = read_password_file(f)?;
            warnings.extend(w);
            Some(p)
        } else {
            match opt.get("password") {
                Some((Some(p), _)) => Some(Password::new(p.clone())),
                // A bare `password` line means "ask", as with the clients.
                Some((None, origin)) => Some(prompt(&origin.to_string()).ok_or_else(|| {
                    TargetError::NoTerminal(format!("bare `password` in {origin}"))
                })?),
                None => None,
            }
        };

    Ok(Resolved {
        options: ConnectOptions {
            endpoint,
            user,
            password,
            ssl_mode,
            ssl_ca,
            connect_timeout: Duration::from_secs(args.connect_timeout.max(1)),
        },
        warnings,
        option_files: files.files_read,
    })
}

/// MariaDB-style TLS switches in option files: `ssl`, `skip-ssl`, `ssl-verify-server-cert`.
fn option_file_ssl(
    opt: &std::collections::BTreeMap<String, (Option<String>, lifeboat_server::mycnf::Origin)>,
) -> Option<String> {
    let truthy = |k: &str| {
        opt.get(k).is_some_and(|(v, _)| {
            v.as_deref()
                .is_none_or(|v| !matches!(v, "0" | "OFF" | "off" | "FALSE" | "false"))
        })
    };
    if truthy("skip_ssl")
        || opt
            .get("ssl")
            .is_some_and(|(v, _)| matches!(v.as_deref(), Some("0" | "OFF" | "off")))
    {
        Some("DISABLED".into())
    } else if truthy("ssl_verify_server_cert") {
        Some("VERIFY_IDENTITY".into())
    } else if truthy("ssl") {
        Some("REQUIRED".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_prompt(_: &str) -> Option<Password> {
        None
    }

    #[test]
    fn flags_beat_named_server_beat_option_files() {
        let dir = tempfile::tempdir().unwrap();
        let cnf = dir.path().join("my.cnf");
        std::fs::write(
            &cnf,
            "[client]\nsocket=/tmp/nowhere.sock\nuser=fromfile\npassword=filepw\nport=3310\n[lifeboat]\nssl-mode=DISABLED\n",
        )
        .unwrap();
        let mut config = Config::default();
        config.servers.insert(
            "prod".into(),
            ServerEntry {
                host: Some("db1".into()),
                user: Some("fromconfig".into()),
                ..Default::default()
            },
        );
        let args = ConnArgs {
            defaults_file: Some(cnf.clone()),
            server: Some("prod".into()),
            connect_timeout: 10,
            ..Default::default()
        };
        let r = resolve(&args, &config, &no_prompt).unwrap();
        // The named server's host wins over the option file's socket; port comes from the file.
        assert_eq!(
            r.options.endpoint,
            Endpoint::Tcp {
                host: "db1".into(),
                port: 3310
            }
        );
        assert_eq!(r.options.user.as_deref(), Some("fromconfig"));
        assert_eq!(r.options.ssl_mode, SslMode::Disabled);
        assert_eq!(
            r.options.password.as_ref().map(Password::expose),
            Some("filepw")
        );

        let args = ConnArgs {
            socket: Some("/x.sock".into()),
            user: Some("cli".into()),
            ..args
        };
        let r = resolve(&args, &config, &no_prompt).unwrap();
        assert_eq!(
            r.options.endpoint,
            Endpoint::Socket {
                path: "/x.sock".into()
            }
        );
        assert_eq!(r.options.user.as_deref(), Some("cli"));
    }

    #[test]
    fn port_without_host_is_local_tcp() {
        let args = ConnArgs {
            port: Some(4000),
            no_defaults: true,
            connect_timeout: 10,
            ..Default::default()
        };
        let r = resolve(&args, &Config::default(), &no_prompt).unwrap();
        assert_eq!(
            r.options.endpoint,
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 4000
            }
        );
        assert!(r.options.password.is_none());
    }

    #[test]
    fn unknown_server_and_prompt_without_terminal() {
        let args = ConnArgs {
            server: Some("nope".into()),
            ..Default::default()
        };
        let e = resolve(&args, &Config::default(), &no_prompt).unwrap_err();
        assert!(e.to_string().contains("nope"));
        let args = ConnArgs {
            prompt_password: true,
            no_defaults: true,
            ..Default::default()
        };
        let e = resolve(&args, &Config::default(), &no_prompt).unwrap_err();
        assert!(matches!(e, TargetError::NoTerminal(_)));
    }
}

/// Connection arguments from a DSN: a server named in the config file, or
/// `mysql://user@host:port` / `mysql://user@localhost?socket=PATH`. Passwords never come from
/// a DSN (it would sit on the command line): they come from the usual sources.
pub fn conn_args_from_dsn(dsn: &str) -> Result<ConnArgs, String> {
    let Some(rest) = dsn.strip_prefix("mysql://") else {
        if dsn.is_empty() || dsn.contains(['/', ':', '@']) {
            return Err(format!(
                "{dsn:?}: expected a server named in the config, or mysql://user@host:port, or mysql://user@localhost?socket=PATH"
            ));
        }
        return Ok(ConnArgs {
            server: Some(dsn.to_owned()),
            ..ConnArgs::default()
        });
    };
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.trim_end_matches('/');
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if user.is_some_and(|u| u.contains(':')) {
        return Err(format!(
            "{dsn:?}: a password in a DSN would be visible to every user in `ps`; use --password-file, LIFEBOAT_PASSWORD or a named server"
        ));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            Some(
                p.parse::<u16>()
                    .map_err(|_| format!("{dsn:?}: bad port {p:?}"))?,
            ),
        ),
        None => (hostport, None),
    };
    let mut args = ConnArgs {
        user: user.filter(|u| !u.is_empty()).map(str::to_owned),
        host: Some(host.to_owned()).filter(|h| !h.is_empty()),
        port,
        ..ConnArgs::default()
    };
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        match kv.split_once('=') {
            Some(("socket", path)) => args.socket = Some(PathBuf::from(path)),
            _ => {
                return Err(format!(
                    "{dsn:?}: unknown parameter {kv:?} (only socket=PATH)"
                ));
            }
        }
    }
    Ok(args)
}

#[cfg(test)]
mod dsn_tests {
    use super::*;

    #[test]
    fn dsns() {
        let a = conn_args_from_dsn("mysql://app@db1:3307").unwrap();
        assert_eq!(
            (a.user.as_deref(), a.host.as_deref(), a.port),
            (Some("app"), Some("db1"), Some(3307))
        );
        let a = conn_args_from_dsn("mysql://root@localhost?socket=/run/mysqld.sock").unwrap();
        assert_eq!(a.socket, Some(PathBuf::from("/run/mysqld.sock")));
        assert_eq!(
            conn_args_from_dsn("prod").unwrap().server.as_deref(),
            Some("prod")
        );
        assert!(
            conn_args_from_dsn("mysql://u:secret@h")
                .unwrap_err()
                .contains("password")
        );
        assert!(conn_args_from_dsn("db1:3306").is_err());
    }
}
