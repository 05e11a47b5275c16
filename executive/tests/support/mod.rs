//! What the executive's own integration tests share: an executive over one root mount.

use std::sync::Arc;

use davd_executive::{Executive, ExecutiveConfig};
use davd_protocol::DavPath;
use davd_registry::{Mount, PropertyManager, Registry};
use davd_subsystems::live::standard_handlers;
use davd_subsystems::memory::{MemoryLocks, MemoryNamespace};

/// An executive whose root mount keeps content and locks in memory, properties in
/// `properties`, with the standard live properties.
pub fn executive_over(properties: Arc<dyn PropertyManager>) -> Arc<Executive> {
    let root = Mount {
        namespace: Some(Arc::new(MemoryNamespace::new())),
        properties: Some(properties),
        locks: Some(Arc::new(MemoryLocks::new())),
        live: standard_handlers(),
        access: None,
    };
    let registry = Registry::new(vec![(DavPath::root(), root)]).expect("one root mount");
    Executive::new(
        Arc::new(registry),
        ExecutiveConfig::default(),
        Arc::new(davd_subsystems::journal::MemoryJournal::new()),
    )
}
