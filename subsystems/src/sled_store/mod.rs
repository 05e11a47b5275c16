//! sled-backed subsystems: dead properties and locks in the state directory's database.
//!
//! One `sled::Db` is opened per state directory ([`open_state_database`]) and shared; each store
//! uses its own trees.

mod chunks;
mod keys;
mod locks;
mod namespace;
mod properties;
mod state;

pub use locks::SledLocks;
pub use namespace::SledNamespace;
pub use properties::SledProperties;
pub use state::{CACHE_BYTES, DATABASE_DIR, StateError, open_state_database};

use davd_registry::SubsystemError;

pub(crate) fn db_error(e: sled::Error) -> SubsystemError {
    SubsystemError::internal(format!("state database: {e}"))
}
