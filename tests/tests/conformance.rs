//! The backend conformance suite from outside `davd-subsystems`, as the tests of a backend
//! written in another crate use it (`docs/extending.md` quotes this file).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use davd_registry::{LockManager, NamespaceManager};
use davd_subsystems::conformance::Subject;
use davd_subsystems::fs::{FsNamespace, FsOptions};
use davd_subsystems::memory::MemoryLocks;

// ANCHOR: conformance
/// A fresh, empty namespace for each case; the temporary directory lives as long as it.
fn fresh_directory() -> Subject<dyn NamespaceManager> {
    let dir = tempfile::tempdir().unwrap();
    let namespace = FsNamespace::open(dir.path(), FsOptions::default()).unwrap();
    Subject::holding(Arc::new(namespace), dir)
}

fn fresh_lock_table() -> Subject<dyn LockManager> {
    Subject::new(Arc::new(MemoryLocks::new()))
}

// One #[test] per case, in a module of the name given.
davd_subsystems::namespace_conformance!(directory_namespace, fresh_directory);
davd_subsystems::locks_conformance!(memory_lock_table, fresh_lock_table);
// ANCHOR_END: conformance
