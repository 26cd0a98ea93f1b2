//! Contain: stop the bleeding.
//!
//! - [`freeze`]: make a server read-only (and undo it), journaled through the guard.

pub mod freeze;
