//! # davd-subsystems: mechanism
//!
//! Implementations of the contracts in `davd-registry`:
//!
//! | kind        | implementations |
//! |-------------|-----------------|
//! | namespace   | [`fs::FsNamespace`], [`sled_store::SledNamespace`], [`memory::MemoryNamespace`], [`s3::S3Namespace`] (tree in PostgreSQL, bytes in S3) |
//! | properties  | [`sled_store::SledProperties`], [`memory::MemoryProperties`] |
//! | locks       | [`sled_store::SledLocks`], [`memory::MemoryLocks`] |
//! | change logs | [`sled_store::SledChangeLog`], [`memory::MemoryChangeLog`], [`postgres::PgChangeLog`]: each property store's, for `sync-collection` |
//! | journal     | [`journal::DirJournal`], [`journal::MemoryJournal`] |
//! | live props  | [`live`]: the RFC 4918 set, quota, and two teaching examples |
//!
//! [`catalog`] names them for the configuration file: `kind = "fs"`, `"sled"`, `"memory"`,
//! `"postgres"`, `"s3"`.
//!
//! Nothing here knows RFC 4918 policy: no lock conflicts, no status rules beyond "this did not
//! exist" or "the parent is missing".

mod blocking;
pub mod catalog;
mod changes;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
pub mod fs;
pub mod history_names;
pub mod history_view;
pub mod journal;
pub mod live;
pub mod memory;
pub mod postgres;
pub mod s3;
pub mod sled_store;
pub mod space;
mod stream;
