//! sled-backed subsystems: dead properties, locks and whole namespaces in the state
//! directory's database.
//!
//! One database is opened per state directory ([`open_state`], which also refuses a damaged
//! one) and shared; each store uses its own trees.

mod chunks;
mod keys;
mod locks;
mod markers;
mod namespace;
mod prop_batch;
mod properties;
mod state;

pub use locks::SledLocks;
pub use namespace::SledNamespace;
pub use properties::SledProperties;
pub use state::{CACHE_BYTES, StateError, StateOptions, open_state};

use davd_registry::{SubsystemError, SubsystemResult};

use crate::space::SpaceGuard;

/// The state database and the guard that keeps its disk from filling up (`crate::space`).
#[derive(Clone)]
pub struct StateDb {
    pub(crate) db: sled::Db,
    pub(crate) guard: SpaceGuard,
}

impl StateDb {
    /// A throw-away database that vanishes when dropped, with no reserve (tests, examples).
    pub fn temporary() -> sled::Result<Self> {
        let db = sled::Config::new().temporary(true).open()?;
        Ok(StateDb {
            guard: SpaceGuard::none(std::path::Path::new("/")),
            db,
        })
    }

    /// Makes everything written so far durable (on shutdown).
    pub async fn flush(&self) -> SubsystemResult<()> {
        self.db.flush_async().await.map_err(db_error)?;
        Ok(())
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
