//! The journal contract: where the executive writes down a request's plan before it changes
//! anything, so that a restarted server can finish or undo what a crash interrupted.
//!
//! The executive owns the records' content (docs/adr/0017-crash-safety.md); a journal only
//! keeps opaque records by id, in a place that outlives the process.

use async_trait::async_trait;

use crate::error::SubsystemResult;

/// Durable storage for the executive's intent records.
#[async_trait]
pub trait Journal: Send + Sync {
    /// A short name for logs: `dir`, `memory`...
    fn kind(&self) -> &'static str;

    /// Writes the record `id`, replacing the one of that id if any, as one atomic change: a
    /// crash leaves the old record or the new one, never a mix. Returns once the record would
    /// survive a crash of the process (and, where the journal is configured for it, a power
    /// cut). A full disk is 507.
    async fn write(&self, id: &str, record: &[u8]) -> SubsystemResult<()>;

    /// Removes the record `id` (nothing happens if there is none).
    async fn remove(&self, id: &str) -> SubsystemResult<()>;

    /// Every record, oldest first.
    async fn pending(&self) -> SubsystemResult<Vec<(String, Vec<u8>)>>;
}
