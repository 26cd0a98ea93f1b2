//! Talking to a live MySQL or MariaDB server.
//!
//! This crate knows servers, not repositories: how to find and read option files the way the
//! clients do ([`mycnf`]), how to hold a password without leaking it ([`Password`]), how to
//! connect with clear errors ([`connect()`], [`ConnectOptions`]), what a server is
//! ([`ServerInfo`]), and how to start side instances ([`Sandbox`]).
//!
//! Main types:
//! - [`ConnectOptions`] / [`Endpoint`]: a resolved connection target;
//! - [`ServerInfo`]: flavor, version, identity, GTID/binlog state, storage settings;
//! - [`Sandbox`]: a throwaway server lifeboat starts itself (restores, tests, demos).
//!
//! Feature `test-support` adds `testing::TestServer` for integration tests.
//!
//! ```
//! use lifeboat_server::mycnf::{parse, Line};
//! let lines = parse("[client]\nuser = backup\nskip-ssl\n").unwrap();
//! assert_eq!(lines[1], Line::Setting { name: "user".into(), value: Some("backup".into()) });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connect;
pub mod credentials;
pub mod info;
pub mod mycnf;
pub mod replica;
pub mod sandbox;
#[cfg(feature = "test-support")]
pub mod testing;
mod tls;

pub use connect::{ConnectError, ConnectOptions, Endpoint, SslMode, connect};
pub use credentials::Password;
pub use info::{ServerIdentity, ServerInfo, Version};
pub use lifeboat_binlog::{BinlogPos, Flavor, GtidSet};
pub use sandbox::{
    Registry, Sandbox, SandboxError, SandboxOptions, WantedServer, choose_server_binary,
};
