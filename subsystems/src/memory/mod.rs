//! In-memory subsystems: a namespace, a dead-property store and a lock table that live only
//! as long as the process. Useful for tests, for scratch scopes, and as the shortest complete
//! example of each contract.

mod changes;
mod history;
mod locks;
mod namespace;
mod properties;

pub use changes::MemoryChangeLog;
pub use locks::MemoryLocks;
pub use namespace::MemoryNamespace;
pub use properties::MemoryProperties;
