//! The mount's upload budget: how many part buffers its uploads may hold at once, so that
//! memory stays bounded however many uploads run (`upload_buffer_mib`, docs/performance.md).
//!
//! An upload takes a permit before it fills a part buffer (the first one too, which becomes
//! a single PUT when the body ends inside it) and gives it back when that part has been sent
//! to the store, or given up. While the budget is used up, the next upload to want a part
//! waits without reading its body; the client's TCP window fills and the client waits too.
//!
//! Why it cannot deadlock: a permit is held only by a part being filled, whose body arrives
//! or times out (`body_idle_timeout_secs`), or by a part being sent, which needs nothing more
//! than the store's answer and is bounded by `deadlines.rs`. An upload waits for its next
//! permit only while the permits it holds belong to parts already on their way to the store
//! (in tasks of their own), which finish without it. The semaphore is fair (first come,
//! first served), so no upload starves.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use davd_registry::{SubsystemError, SubsystemResult};

use super::PART_SIZE;

/// Part buffers shared by the uploads of one mount.
#[derive(Clone)]
pub struct UploadBudget {
    parts: Arc<Semaphore>,
    total: usize,
}

/// The right to hold one part buffer, given back when dropped.
pub struct PartPermit {
    _permit: OwnedSemaphorePermit,
}

impl UploadBudget {
    /// A budget of `parts` part buffers (at least one: a smaller budget would stop every upload).
    pub fn new(parts: usize) -> UploadBudget {
        let parts = parts.clamp(1, Semaphore::MAX_PERMITS);
        UploadBudget {
            parts: Arc::new(Semaphore::new(parts)),
            total: parts,
        }
    }

    /// Waits for a part buffer to be free.
    pub async fn part(&self) -> SubsystemResult<PartPermit> {
        // The semaphore is never closed; an error would be a bug, not a client's doing.
        let permit = self
            .parts
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SubsystemError::internal("the upload budget was closed"))?;
        Ok(PartPermit { _permit: permit })
    }

    /// Bytes of part buffers in use now: filled, being filled or being sent.
    pub fn bytes_in_use(&self) -> u64 {
        let used = self.total - self.parts.available_permits().min(self.total);
        used as u64 * PART_SIZE as u64
    }

    /// Part buffers free now (for tests).
    pub fn free_parts(&self) -> usize {
        self.parts.available_permits()
    }

    /// The budget's size in bytes.
    pub fn bytes(&self) -> u64 {
        self.total as u64 * PART_SIZE as u64
    }
}

impl std::fmt::Debug for UploadBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "UploadBudget({} of {} parts free)",
            self.free_parts(),
            self.total
        )
    }
}
