//! Kind `memory`: a namespace, properties and locks held in memory, private to their mount
//! and gone when the server stops, `{ kind = "memory" }`.

use std::sync::Arc;

use davd_registry::{DavPath, LockManager, NamespaceManager, PropertyManager};

use super::{ConfigProblem, Kind, KindConfig, OpenContext, OpenError, Opener};
use crate::memory::{MemoryLocks, MemoryNamespace, MemoryProperties};

pub const KIND: Kind = Kind::new("memory")
    .namespace(namespace)
    .properties(properties)
    .locks(locks);

fn namespace(config: &KindConfig<'_>) -> Result<Opener<dyn NamespaceManager>, ConfigProblem> {
    config.no_keys()?;
    Ok(Arc::new(
        |_: &OpenContext, _: &DavPath| -> Result<Arc<dyn NamespaceManager>, OpenError> {
            Ok(Arc::new(MemoryNamespace::new()))
        },
    ))
}

fn properties(config: &KindConfig<'_>) -> Result<Opener<dyn PropertyManager>, ConfigProblem> {
    config.no_keys()?;
    Ok(Arc::new(
        |_: &OpenContext, _: &DavPath| -> Result<Arc<dyn PropertyManager>, OpenError> {
            Ok(Arc::new(MemoryProperties::new()))
        },
    ))
}

fn locks(config: &KindConfig<'_>) -> Result<Opener<dyn LockManager>, ConfigProblem> {
    config.no_keys()?;
    Ok(Arc::new(
        |_: &OpenContext, _: &DavPath| -> Result<Arc<dyn LockManager>, OpenError> {
            Ok(Arc::new(MemoryLocks::new()))
        },
    ))
}
