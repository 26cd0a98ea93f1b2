//! lifeboat's own TOML configuration: named servers and where the journal goes.
//!
//! ```toml
//! journal = "/var/log/lifeboat/journal.jsonl"
//!
//! [servers.prod]
//! host = "db1.example.com"
//! port = 3306
//! user = "lifeboat"
//! password_file = "/etc/lifeboat/prod.pw"
//! ssl_mode = "VERIFY_IDENTITY"
//! ssl_ca = "/etc/ssl/db-ca.pem"
//! ```
//! There is deliberately no `password` key: secrets live in a password file or option file.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A named server (`--server NAME`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// Host name or address.
    pub host: Option<String>,
    /// TCP port.
    pub port: Option<u16>,
    /// Unix socket.
    pub socket: Option<PathBuf>,
    /// User.
    pub user: Option<String>,
    /// File whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// Option file to read instead of the default ones.
    pub defaults_file: Option<PathBuf>,
    /// `--defaults-group-suffix` for this server.
    pub defaults_group_suffix: Option<String>,
    /// TLS mode.
    pub ssl_mode: Option<String>,
    /// CA certificate.
    pub ssl_ca: Option<PathBuf>,
}

/// `[s3]`: where and as whom to reach an S3-compatible store. Unset keys fall back to the
/// usual AWS environment variables.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Endpoint URL of a non-AWS store, e.g. `http://minio.internal:9000`.
    pub endpoint: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// File whose first line is the secret access key (chmod 600).
    pub secret_access_key_file: Option<PathBuf>,
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Audit journal path.
    pub journal: Option<PathBuf>,
    /// Default backup repository location.
    pub repo: Option<String>,
    /// S3-compatible storage settings for `s3://` repositories.
    pub s3: Option<S3Settings>,
    /// Named servers.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerEntry>,
    /// Where this configuration was read from.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, or unknown keys.
    #[error("config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's description, with line and column.
        message: String,
    },
}

impl Config {
    /// Loads `path` if given (it must exist), else the default location if it exists.
    /// Returns warnings (a config readable by group or others).
    pub fn load(path: Option<&Path>) -> Result<(Config, Vec<String>), ConfigError> {
        let (path, required) = match path {
            Some(p) => (p.to_owned(), true),
            None => match crate::paths::default_config() {
                Some(p) => (p, false),
                None => return Ok((Config::default(), Vec::new())),
            },
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Config::default(), Vec::new()));
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string().lines().next().unwrap_or_default().to_owned()
                + &e.span()
                    .map(|s| {
                        format!(
                            " (at line {})",
                            text[..s.start.min(text.len())].lines().count().max(1)
                        )
                    })
                    .unwrap_or_default(),
        })?;
        let mut warnings = Vec::new();
        if meta.permissions().mode() & 0o044 != 0 {
            warnings.push(format!(
                "config {} is readable by group or others; chmod 600 it",
                path.display()
            ));
        }
        config.source = Some(path);
        Ok((config, warnings))
    }
}
