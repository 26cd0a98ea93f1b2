//! The one gate every write to a server passes.
//!
//! Only [`check`] builds a [`GuardedTarget`], and every function that changes a server takes
//! one, so a new command cannot skip the identity check. The rule: the operator must name
//! the server (`--confirm-server ID`, where ID is what `lifeboat check` prints), or confirm
//! it at an interactive prompt by typing that identity. Run unattended without a matching
//! `--confirm-server`, the command is refused (exit 3). (A published incident: a restore
//! script fired on the live production server in the middle of the day.)

use lifeboat_server::{ConnectOptions, ServerInfo};
use mysql_async::Conn;

/// Asks the operator to type the server identity; `None` when there is no terminal.
pub type Confirm<'a> = &'a dyn Fn(&str) -> Option<String>;

/// How the operator vouches for the target.
pub struct Policy<'a> {
    /// `--confirm-server ID`.
    pub confirm_server: Option<String>,
    /// An interactive prompt, when stdin is a terminal.
    pub prompt: Option<Confirm<'a>>,
    /// What is about to happen, for the prompt ("set the server read-only").
    pub action: String,
}

/// Refusals: the command did nothing.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// `--confirm-server` names another server.
    #[error("refusing to {action}: this server is {actual}, not {given}")]
    WrongServer {
        /// What would have happened.
        action: String,
        /// The identity of the connected server.
        actual: String,
        /// What the operator named.
        given: String,
    },
    /// Unattended and not named.
    #[error(
        "refusing to {action} on {actual} without --confirm-server (not running interactively)"
    )]
    NotConfirmed {
        /// What would have happened.
        action: String,
        /// The identity of the connected server.
        actual: String,
    },
    /// The operator typed something else at the prompt.
    #[error("refusing to {action}: confirmation did not match {actual}")]
    PromptMismatch {
        /// What would have happened.
        action: String,
        /// The identity of the connected server.
        actual: String,
    },
    /// A command-specific safety rule.
    #[error("refusing to {action}: {reason}")]
    Unsafe {
        /// What would have happened.
        action: String,
        /// Why not.
        reason: String,
    },
}

impl Refusal {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Refusal::WrongServer { actual, .. } | Refusal::NotConfirmed { actual, .. } => {
                Some(format!(
                    "check that you are connected to the server you mean; if so, pass --confirm-server {actual}"
                ))
            }
            Refusal::PromptMismatch { actual, .. } => {
                Some(format!("type {actual} exactly to confirm"))
            }
            Refusal::Unsafe { .. } => None,
        }
    }
}

/// A connection to a server the operator has vouched for. Every server write takes one.
pub struct GuardedTarget {
    pub(crate) conn: Conn,
    /// What the server is.
    pub info: ServerInfo,
    /// How it was reached.
    pub endpoint: String,
    options: ConnectOptions,
}

/// The right to open more connections to a server the operator vouched for, after the
/// [`GuardedTarget`] is gone (a point-in-time replay after its restore). Only a
/// `GuardedTarget` makes one, and each connection it opens must be the same server, so a
/// write path that holds a `Vouched` cannot reach a server nobody confirmed.
#[derive(Debug, Clone)]
pub struct Vouched {
    options: ConnectOptions,
    identity: String,
}

impl Vouched {
    /// A new connection, after checking the server behind the endpoint is still the one
    /// vouched for (a failover or a port reused by another instance is refused).
    pub(crate) async fn connect(&self, action: &str) -> Result<Conn, crate::Error> {
        let mut conn = lifeboat_server::connect(&self.options).await?;
        let info = ServerInfo::probe(&mut conn).await?;
        if !info.identity.matches(&self.identity) {
            let _ = conn.disconnect().await;
            return Err(Refusal::WrongServer {
                action: action.to_owned(),
                actual: info.identity.id(),
                given: self.identity.clone(),
            }
            .into());
        }
        Ok(conn)
    }

    /// Options for lifeboat's own protocol connections, to open right after [`Self::connect`]
    /// proved the server.
    pub(crate) fn options(&self) -> &ConnectOptions {
        &self.options
    }
}

impl GuardedTarget {
    /// The connection, for writes.
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// What later connections to this server need: see [`Vouched`].
    pub fn vouched(&self) -> Vouched {
        Vouched {
            options: self.options.clone(),
            identity: self.info.identity.id(),
        }
    }

    /// Connection and server description together (reads that need both).
    pub fn parts(&mut self) -> (&mut Conn, &ServerInfo) {
        (&mut self.conn, &self.info)
    }
}

/// A side instance lifeboat itself just started: nobody else can be using it, so no
/// confirmation is needed. The only other way to get a [`GuardedTarget`].
pub fn own_sandbox(conn: Conn, info: ServerInfo, options: &ConnectOptions) -> GuardedTarget {
    GuardedTarget {
        conn,
        info,
        endpoint: options.endpoint.to_string(),
        options: options.clone(),
    }
}

/// Verifies the operator named this server; the only way to get a [`GuardedTarget`] for a
/// server lifeboat did not start.
pub fn check(
    conn: Conn,
    info: ServerInfo,
    options: &ConnectOptions,
    policy: &Policy<'_>,
) -> Result<GuardedTarget, Refusal> {
    let actual = info.identity.id();
    let action = policy.action.clone();
    match (&policy.confirm_server, policy.prompt) {
        (Some(given), _) if info.identity.matches(given) => {}
        (Some(given), _) => {
            return Err(Refusal::WrongServer {
                action,
                actual,
                given: given.clone(),
            });
        }
        (None, Some(ask)) => {
            let question = format!(
                "About to {action} on {} {} at {} ({}).\nType the server identity `{actual}` to confirm: ",
                info.flavor, info.version, options.endpoint, info.identity.hostname
            );
            let typed = ask(&question).unwrap_or_default();
            if !info.identity.matches(&typed) {
                return Err(Refusal::PromptMismatch { action, actual });
            }
        }
        (None, None) => return Err(Refusal::NotConfirmed { action, actual }),
    }
    Ok(GuardedTarget {
        conn,
        info,
        endpoint: options.endpoint.to_string(),
        options: options.clone(),
    })
}
