//! Opening a connection: where, as whom, with which TLS, and errors a person can act on.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mysql_async::{Conn, OptsBuilder, SslOpts};
use serde::Serialize;

use crate::credentials::Password;

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Endpoint {
    /// A unix socket file.
    Socket {
        /// Path of the socket.
        path: PathBuf,
    },
    /// TCP.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Socket { path } => write!(f, "socket {}", path.display()),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Socket paths the clients try when none is configured and the host is `localhost`.
pub const DEFAULT_SOCKETS: &[&str] = &[
    "/run/mysqld/mysqld.sock",
    "/var/run/mysqld/mysqld.sock",
    "/var/lib/mysql/mysql.sock",
    "/tmp/mysql.sock",
];

/// `--ssl-mode`, with MySQL's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SslMode {
    /// Never use TLS.
    Disabled,
    /// TLS when the server offers it, without verifying its certificate (the clients' default).
    #[default]
    Preferred,
    /// TLS or fail; certificate not verified.
    Required,
    /// TLS, certificate signed by the CA (`--ssl-ca`), host name not checked.
    VerifyCa,
    /// TLS, certificate signed by the CA and issued for the host name.
    VerifyIdentity,
}

impl std::str::FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().replace('-', "_").as_str() {
            "DISABLED" => Ok(Self::Disabled),
            "PREFERRED" => Ok(Self::Preferred),
            "REQUIRED" => Ok(Self::Required),
            "VERIFY_CA" => Ok(Self::VerifyCa),
            "VERIFY_IDENTITY" => Ok(Self::VerifyIdentity),
            _ => Err(format!(
                "{s:?} is not an ssl mode (DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY)"
            )),
        }
    }
}

/// Everything needed to open a connection, already resolved from flags, config and option
/// files. `Debug` never shows the password (see [`Password`]).
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Where.
    pub endpoint: Endpoint,
    /// User name; the OS user when absent, as the clients do.
    pub user: Option<String>,
    /// Password, if any.
    pub password: Option<Password>,
    /// TLS mode (TCP only: a unix socket is already local and private).
    pub ssl_mode: SslMode,
    /// CA certificate for `VERIFY_CA`/`VERIFY_IDENTITY`.
    pub ssl_ca: Option<PathBuf>,
    /// How long to wait for the server to answer.
    pub connect_timeout: Duration,
}

impl ConnectOptions {
    /// Root over a socket with no password: how lifeboat talks to its own side instances.
    pub fn socket_root(path: &Path) -> Self {
        Self {
            endpoint: Endpoint::Socket {
                path: path.to_owned(),
            },
            user: Some("root".to_owned()),
            password: None,
            ssl_mode: SslMode::Disabled,
            ssl_ca: None,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// The user name that will be sent.
    pub fn effective_user(&self) -> String {
        self.user.clone().unwrap_or_else(|| {
            std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "root".to_owned())
        })
    }

    fn builder(&self, tls: Option<SslOpts>) -> OptsBuilder {
        let base = OptsBuilder::default()
            .user(Some(self.effective_user()))
            .pass(self.password.as_ref().map(|p| p.expose().to_owned()))
            .prefer_socket(false)
            .stmt_cache_size(0)
            .ssl_opts(tls);
        match &self.endpoint {
            Endpoint::Socket { path } => base.socket(Some(path.to_string_lossy().into_owned())),
            Endpoint::Tcp { host, port } => base.ip_or_hostname(host.clone()).tcp_port(*port),
        }
    }

    fn tls_opts(&self) -> Option<SslOpts> {
        if matches!(self.endpoint, Endpoint::Socket { .. }) {
            return None;
        }
        let roots = self.ssl_ca.iter().map(|p| p.clone().into()).collect();
        match self.ssl_mode {
            SslMode::Disabled => None,
            SslMode::Preferred | SslMode::Required => Some(
                SslOpts::default()
                    .with_danger_accept_invalid_certs(true)
                    .with_danger_skip_domain_validation(true),
            ),
            // mysql_async 0.37 skips the name check only when the verifier's error text
            // contains "NotValidForName", which rustls 0.23.2x no longer prints (it says
            // `certificate not valid for name "<name>"`). Certificates without a
            // subjectAltName, as MySQL generates them, were refused. Naming the server so
            // for verification makes that text contain it: the chain is still verified
            // first (webpki checks the name only after the chain), the name never counts,
            // which is what VERIFY_CA means. The name goes out as SNI, which MySQL and
            // MariaDB ignore.
            SslMode::VerifyCa => Some(
                SslOpts::default()
                    .with_root_certs(roots)
                    .with_danger_skip_domain_validation(true)
                    .with_danger_tls_hostname_override(Some(VERIFY_CA_NAME)),
            ),
            SslMode::VerifyIdentity => Some(SslOpts::default().with_root_certs(roots)),
        }
    }
}

/// The name VERIFY_CA connections verify the certificate against (see
/// `ConnectOptions::tls_opts`).
const VERIFY_CA_NAME: &str = "verify-ca.NotValidForName.invalid";

/// Why a connection could not be opened: each variant knows what to tell the user.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The socket file does not exist.
    #[error("socket {path} does not exist")]
    NoSocket {
        /// The path tried.
        path: PathBuf,
    },
    /// Nothing listens there, or the host is unreachable.
    #[error("cannot connect to {endpoint}: {reason}")]
    Unreachable {
        /// Where.
        endpoint: Endpoint,
        /// The OS's words.
        reason: String,
    },
    /// No answer within the timeout.
    #[error("no answer from {endpoint} within {secs} s")]
    Timeout {
        /// Where.
        endpoint: Endpoint,
        /// The timeout.
        secs: u64,
    },
    /// The server refused the credentials.
    #[error("{endpoint}: {message}")]
    AccessDenied {
        /// Where.
        endpoint: Endpoint,
        /// The server's message (it names user and host, never the password).
        message: String,
    },
    /// TLS required or verification failed.
    #[error("{endpoint}: TLS failed: {reason}")]
    Tls {
        /// Where.
        endpoint: Endpoint,
        /// What failed.
        reason: String,
    },
    /// Anything else the driver or server reported.
    #[error("{endpoint}: {source}")]
    Other {
        /// Where.
        endpoint: Endpoint,
        /// The driver's error.
        #[source]
        source: mysql_async::Error,
    },
}

impl ConnectError {
    /// What the user can try next.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ConnectError::NoSocket { .. } => {
                "is the server running? `SELECT @@socket` on it, or pass --socket / --host".into()
            }
            ConnectError::Unreachable { .. } => {
                "check that the server is running and listens there (bind-address, port, firewall)"
                    .into()
            }
            ConnectError::Timeout { .. } => "the host may be down or filtered; check --host/--port".into(),
            ConnectError::AccessDenied { .. } => {
                "check --user and the password source (option file, --password-file, LIFEBOAT_PASSWORD, -p)"
                    .into()
            }
            ConnectError::Tls { .. } => {
                "check --ssl-mode and --ssl-ca, and that the server has TLS configured".into()
            }
            ConnectError::Other { .. } => return None,
        })
    }
}

fn classify(endpoint: &Endpoint, e: mysql_async::Error) -> ConnectError {
    use mysql_async::{DriverError, Error, IoError};
    let endpoint = endpoint.clone();
    match e {
        Error::Server(s) if s.code == 1045 || s.code == 1044 || s.code == 1698 => {
            ConnectError::AccessDenied {
                endpoint,
                message: s.message,
            }
        }
        // tokio-rustls reports handshake failures (bad certificate, wrong CA) as InvalidData.
        Error::Io(IoError::Io(io)) if io.kind() == std::io::ErrorKind::InvalidData => {
            ConnectError::Tls {
                endpoint,
                reason: io.to_string(),
            }
        }
        Error::Io(IoError::Io(io)) => ConnectError::Unreachable {
            endpoint,
            reason: io.to_string(),
        },
        Error::Io(IoError::Tls(t)) => ConnectError::Tls {
            endpoint,
            reason: t.to_string(),
        },
        Error::Driver(DriverError::NoClientSslFlagFromServer) => ConnectError::Tls {
            endpoint,
            reason: "the server does not offer TLS".into(),
        },
        other => ConnectError::Other {
            endpoint,
            source: other,
        },
    }
}

async fn attempt(opts: &ConnectOptions, tls: Option<SslOpts>) -> Result<Conn, ConnectError> {
    let builder = opts.builder(tls);
    match tokio::time::timeout(opts.connect_timeout, Conn::new(builder)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(classify(&opts.endpoint, e)),
        Err(_) => Err(ConnectError::Timeout {
            endpoint: opts.endpoint.clone(),
            secs: opts.connect_timeout.as_secs(),
        }),
    }
}

/// Opens a connection. With `PREFERRED`, a server without TLS is reached in plain text, as
/// the clients do.
pub async fn connect(opts: &ConnectOptions) -> Result<Conn, ConnectError> {
    if let Endpoint::Socket { path } = &opts.endpoint
        && !path.exists()
    {
        return Err(ConnectError::NoSocket { path: path.clone() });
    }
    let tls = opts.tls_opts();
    let preferred = opts.ssl_mode == SslMode::Preferred && tls.is_some();
    match attempt(opts, tls).await {
        Err(ConnectError::Tls { .. }) if preferred => attempt(opts, None).await,
        other => other,
    }
}
