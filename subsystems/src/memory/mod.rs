//! In-memory subsystems: a namespace, a dead-property store and a lock table that live only
//! as long as the process. Useful for tests, for scratch scopes, and as the shortest complete
//! example of each contract.

mod changes;
mod history;
mod locks;
mod namespace;
mod properties;

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use changes::MemoryChangeLog;
pub use locks::MemoryLocks;
pub use namespace::MemoryNamespace;
pub use properties::MemoryProperties;

/// A lock of these subsystems, to read. Their locks are plain ones, never held across an
/// `.await` (the guards are not `Send`, so the compiler sees to it): an async lock hands a
/// contended lock to a waiter on another connection thread through that thread's runtime, a
/// wake-up per write (docs/performance.md).
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// A lock of these subsystems, to change what it holds (see [`read`]).
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
