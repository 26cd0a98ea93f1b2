//! The `lifeboat` binary against real MariaDB instances: what a user types, what they see.
//! What the modules share is in [`harness`]; each module tests one part of the tool.

mod harness;

mod archive;
mod backup;
mod binlog;
mod check;
mod demo;
mod diff;
mod flashback;
mod forensic;
mod freeze;
mod incidents;
mod mysql;
mod mysql8;
mod output;
mod pitr;
mod s3;
mod sandbox;
