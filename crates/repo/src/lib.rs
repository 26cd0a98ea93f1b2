//! The lifeboat backup repository.
//!
//! A repository is a set of objects in a store (a local directory today; the storage layer is
//! `object_store`, so S3-compatible stores share the code path). It knows nothing about MySQL:
//! it stores compressed, hashed, write-once data objects and, last, a [`Manifest`] per backup
//! that lists every object with its size and SHA-256. The manifest is the commit point: it is
//! written with a conditional create, and readers trust only backups that have one.
//!
//! Main types:
//! - [`Repository`]: init/open, put and get objects, commit and read manifests, locks, verify;
//! - [`Manifest`] / [`ObjectRef`]: what a committed backup holds (the body is the caller's);
//! - [`BackupId`]: sortable, time-based backup identifiers.
//!
//! The on-disk format is documented in `docs/repository-format.md`.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let repo = lifeboat_repo::Repository::init(dir.path().to_str().unwrap(), None).await.unwrap();
//! let id = lifeboat_repo::BackupId::new();
//! let obj = repo.put_object(&id, b"1\tone\n".to_vec()).await.unwrap();
//! assert_eq!(repo.get_object(&obj).await.unwrap(), b"1\tone\n");
//! # });
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod binlogs;
mod direct;
mod error;
mod format;
mod repository;
mod writer;

pub use binlogs::{FileIndex, FileSpan, Gap, Segment, server_key};
pub use error::Error;
pub use format::{BackupId, FORMAT_VERSION, LockInfo, Manifest, ObjectRef, RepoConfig};
pub use repository::{
    BackupListing, LockGuard, ObjectPieces, ObjectProblem, Repository, StoreOptions, VerifyReport,
};
pub use writer::ObjectWriter;
