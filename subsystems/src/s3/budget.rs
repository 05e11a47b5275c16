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

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use davd_registry::{SubsystemError, SubsystemResult};

use super::PART_SIZE;

/// Part buffers shared by the uploads of one mount.
#[derive(Clone)]
pub struct UploadBudget {
    parts: Arc<Semaphore>,
    total: usize,
    /// Buffers of parts already sent, kept for the next parts: allocating and freeing 8 MiB
    /// per part left the allocator's per-thread arenas holding freed memory well past the
    /// budget (about 50 MiB more with sixteen uploads). Never more than `total` of them.
    spare: Arc<Mutex<Vec<BytesMut>>>,
}

/// The right to hold one part buffer, and the buffer; given back when dropped.
pub struct PartPermit {
    /// The part's bytes, up to [`PART_SIZE`]: filled by the upload, then taken to be sent.
    pub buffer: BytesMut,
    spare: Arc<Mutex<Vec<BytesMut>>>,
    // Released after `Drop::drop` has put the buffer back, so the next holder finds it.
    _permit: OwnedSemaphorePermit,
}

impl PartPermit {
    /// The filled part, to be sent; [`PartPermit::give_back`] returns its buffer once sent.
    pub fn take(&mut self) -> Bytes {
        std::mem::take(&mut self.buffer).freeze()
    }

    /// Keeps the buffer of `sent` for the next part, unless something still refers to it.
    pub fn give_back(&mut self, sent: Bytes) {
        if let Ok(mut buffer) = sent.try_into_mut() {
            buffer.clear();
            self.buffer = buffer;
        }
    }
}

impl Drop for PartPermit {
    fn drop(&mut self) {
        if self.buffer.capacity() >= PART_SIZE {
            let mut buffer = std::mem::take(&mut self.buffer);
            buffer.clear();
            let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
            spare.push(buffer);
        }
    }
}

impl UploadBudget {
    /// A budget of `parts` part buffers (at least one: a smaller budget would stop every upload).
    pub fn new(parts: usize) -> UploadBudget {
        let parts = parts.clamp(1, Semaphore::MAX_PERMITS);
        UploadBudget {
            parts: Arc::new(Semaphore::new(parts)),
            total: parts,
            spare: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Waits for a part buffer to be free. Its memory is allocated once and reused; only the
    /// pages a part fills become resident.
    pub async fn part(&self) -> SubsystemResult<PartPermit> {
        // The semaphore is never closed; an error would be a bug, not a client's doing.
        let permit = self
            .parts
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SubsystemError::internal("the upload budget was closed"))?;
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        Ok(PartPermit {
            buffer: spare.unwrap_or_else(|| BytesMut::with_capacity(PART_SIZE)),
            spare: self.spare.clone(),
            _permit: permit,
        })
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
