//! Kind `memory`: a namespace, properties and locks held in memory, private to their mount
//! and gone when the server stops, `{ kind = "memory" }`.

use davd_registry::{LockManager, NamespaceManager, PropertyManager};

use super::{ConfigProblem, Kind, KindConfig, Opener, opener};
use crate::memory::{MemoryLocks, MemoryNamespace, MemoryProperties};

// ANCHOR: kind
pub const KIND: Kind = Kind::new("memory")
    .namespace(namespace)
    .properties(properties)
    .locks(locks);

fn namespace(config: &KindConfig<'_>) -> Result<Opener<dyn NamespaceManager>, ConfigProblem> {
    config.no_keys()?;
    Ok(opener(|_, _| Ok(MemoryNamespace::new())))
}

fn properties(config: &KindConfig<'_>) -> Result<Opener<dyn PropertyManager>, ConfigProblem> {
    config.no_keys()?;
    Ok(opener(|_, _| Ok(MemoryProperties::new())))
}

fn locks(config: &KindConfig<'_>) -> Result<Opener<dyn LockManager>, ConfigProblem> {
    config.no_keys()?;
    Ok(opener(|_, _| Ok(MemoryLocks::new())))
}
// ANCHOR_END: kind
