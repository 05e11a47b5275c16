//! sled-backed subsystems: dead properties, locks and whole namespaces in the state
//! directory's database.
//!
//! One database is opened per state directory ([`open_state`], which also refuses a damaged
//! one) and shared; each store uses its own trees.

mod changes;
mod chunks;
mod emptiness;
mod flush_count;
mod history;
mod keys;
mod locks;
mod markers;
mod namespace;
mod node;
mod prop_batch;
mod properties;
mod state;

pub use changes::SledChangeLog;
pub use locks::SledLocks;
pub use namespace::SledNamespace;
pub use properties::SledProperties;
pub use state::{CACHE_BYTES, StateError, StateOptions, open_state};

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use davd_registry::{SubsystemError, SubsystemResult};

use crate::space::SpaceGuard;
use flush_count::FlushCounter;

/// The state database and the guard that keeps its disk from filling up (`crate::space`).
#[derive(Clone)]
pub struct StateDb {
    pub(crate) db: sled::Db,
    pub(crate) guard: SpaceGuard,
    /// Raised by every flush and copied beside the database, so that startup can tell a
    /// database that lost flushed writes (`flush_count`).
    pub(crate) counter: Arc<FlushCounter>,
    /// Raised after every change to the `props` tree, by whichever property manager made it
    /// (several mounts may share one database): `PropertyManager::change_count`.
    pub(crate) prop_changes: Arc<AtomicU64>,
    /// Whether the lock index (`lock_paths`) is known to be empty, shared by every lock
    /// manager on this database.
    pub(crate) lock_index: Arc<emptiness::IndexEmptiness>,
    /// The change log of every property manager on this database (`changes`): one, however
    /// many mounts share the database, so that their changes land in one order.
    pub(crate) changes: Arc<SledChangeLog>,
}

impl StateDb {
    /// A throw-away database that vanishes when dropped, with no reserve (tests, examples).
    pub fn temporary() -> sled::Result<Self> {
        let db = sled::Config::new().temporary(true).open()?;
        let guard = SpaceGuard::none(std::path::Path::new("/"));
        let counter = Arc::new(FlushCounter::without_file());
        let changes = Arc::new(SledChangeLog::open(&db, &guard, &counter, false)?);
        Ok(StateDb {
            guard,
            db,
            counter,
            prop_changes: Arc::default(),
            lock_index: Arc::default(),
            changes,
        })
    }

    /// Makes everything written so far durable. Every flush of the state database goes through
    /// here, and raises its flush counter ([`FlushCounter::flush`]).
    ///
    /// sled's own `flush_async` runs the flush on sled's small I/O thread pool, where it waits
    /// for log buffers that only that pool writes: a few concurrent flushes (seven concurrent
    /// LOCKs were enough) took every thread and waited for each other forever, and every later
    /// write hung behind them. The flush runs on tokio's blocking pool instead, leaving sled's
    /// threads to write.
    pub async fn flush(&self) -> SubsystemResult<()> {
        let state = self.clone();
        crate::blocking::blocking(move || {
            state
                .counter
                .flush(&state.db, &state.guard)
                .map_err(db_error)
        })
        .await
    }

    /// 507 unless the disk has room for a write of about `more` bytes beyond the reserve.
    pub(crate) fn room_for(&self, more: u64) -> SubsystemResult<()> {
        self.guard.check(more)
    }
}

/// A sled failure as the client sees it: a full disk is 507, anything else 500.
pub(crate) fn db_error(e: sled::Error) -> SubsystemError {
    match &e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            SubsystemError::insufficient_storage(format!("the state database's disk is full: {e}"))
        }
        _ => SubsystemError::internal(format!("state database: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// Issue 16: many writers flushing at once all finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_flushes_all_finish() {
        let state = super::StateDb::temporary().expect("a temporary database");
        let tree = state.db.open_tree("t").expect("a tree");
        for round in 0..20 {
            let flushes = (0..64).map(|i| {
                let (state, tree) = (state.clone(), tree.clone());
                tokio::spawn(async move {
                    tree.insert(format!("{round}-{i}"), vec![0u8; 4096])
                        .expect("insert");
                    state.flush().await
                })
            });
            let all = futures_util::future::join_all(flushes);
            let done = tokio::time::timeout(Duration::from_secs(120), all)
                .await
                .expect("the flushes hung");
            for flushed in done {
                flushed.expect("task").expect("flush");
            }
        }
    }
}
