//! A resource or a collection as the sled namespace stores it: one node per path, kept as
//! JSON under the path's key (`namespace.rs`), its content's chunks apart (`chunks.rs`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use davd_registry::{ResourceMeta, SubsystemError, SubsystemResult};

use super::chunks;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub(super) struct Node {
    pub(super) collection: bool,
    pub(super) len: u64,
    /// Seconds and nanoseconds since the epoch.
    pub(super) created: (u64, u32),
    pub(super) modified: (u64, u32),
    /// Grows on every change: the entity tag.
    pub(super) version: u64,
    /// Where the content's chunks live (files only).
    pub(super) content: Option<u64>,
    /// The size of those chunks.
    #[serde(default = "chunks::legacy_chunk")]
    pub(super) chunk: u32,
}

pub(super) fn stamp(t: SystemTime) -> (u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs(), d.subsec_nanos())
}

pub(super) fn time((secs, nanos): (u64, u32)) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

impl Node {
    /// An empty collection created at `now`, at `version`.
    pub(super) fn collection(now: (u64, u32), version: u64) -> Node {
        Node {
            collection: true,
            len: 0,
            created: now,
            modified: now,
            version,
            content: None,
            chunk: chunks::CHUNK,
        }
    }

    pub(super) fn meta(&self) -> ResourceMeta {
        ResourceMeta {
            collection: self.collection,
            len: self.len,
            modified: time(self.modified),
            created: Some(time(self.created)),
            etag: format!("s{:x}-{:x}", self.version, self.len),
            content_type: None,
        }
    }
}

pub(super) fn decode(bytes: &[u8]) -> SubsystemResult<Node> {
    serde_json::from_slice(bytes)
        .map_err(|e| SubsystemError::internal(format!("corrupt node: {e}")))
}

pub(super) fn encode(node: &Node) -> SubsystemResult<Vec<u8>> {
    serde_json::to_vec(node).map_err(|e| SubsystemError::internal(e.to_string()))
}
