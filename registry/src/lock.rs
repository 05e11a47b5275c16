//! The lock manager contract: a durable table of write locks.
//!
//! The lock manager stores and finds locks; whether a new lock conflicts with existing ones, and
//! whether a request may change a locked resource, is RFC 4918 policy decided by the executive
//! (the 1997 paper's policy/mechanism split). The executive holds its per-path latch while it
//! checks and inserts, which is what makes "50 clients, one lock" come out right.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use davd_protocol::DavPath;
use davd_protocol::headers::{Depth, Timeout};
use davd_protocol::xml::{ActiveLockView, LockScope};

use crate::error::SubsystemResult;
use crate::live::ClientInfo;
use crate::property::Marker;

/// One active write lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRecord {
    /// The state token, `urn:uuid:...`.
    pub token: String,
    /// The resource the lock was taken on.
    pub root: DavPath,
    pub scope: LockScope,
    /// Depth infinity: the lock covers everything below `root`.
    pub deep: bool,
    /// The `owner` element as the client sent it.
    pub owner: Option<String>,
    /// The authenticated user who took the lock, if any.
    pub principal: Option<String>,
    /// The timeout granted.
    pub timeout: Timeout,
    /// When the lock ends; `None` for an infinite lock.
    pub expires: Option<SystemTime>,
}

impl LockRecord {
    /// True if the lock applies to `path`: its root, or below it for a deep lock.
    pub fn covers(&self, path: &DavPath) -> bool {
        *path == self.root || (self.deep && path.is_within(&self.root))
    }

    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    /// The lock as an `activelock` element shows it to `client`, with `timeout` as its
    /// `timeout` (the time left, or just granted). The one place a lock record becomes what
    /// clients see, and so where the `omit_lockroot` quirk is applied, and where a root the
    /// client may not read is left out: a deep lock on a collection the client may not see
    /// shows in the `lockdiscovery` of members it may, and must not name the collection.
    pub fn view(&self, client: &ClientInfo, timeout: Timeout) -> ActiveLockView<'_> {
        let root_shown = !client.quirks.omit_lockroot && client.readable.may_read(&self.root);
        ActiveLockView {
            scope: self.scope,
            depth: if self.deep {
                Depth::Infinity
            } else {
                Depth::Zero
            },
            owner: self.owner.as_deref(),
            timeout,
            token: &self.token,
            root: root_shown.then_some(&self.root),
        }
    }

    /// The timeout left, for lock discovery.
    pub fn remaining(&self, now: SystemTime) -> Timeout {
        match self.expires {
            None => Timeout::Infinite,
            Some(expires) => Timeout::Seconds(
                expires
                    .duration_since(now)
                    .unwrap_or(Duration::ZERO)
                    .as_secs()
                    .max(1),
            ),
        }
    }
}

/// One change in a batch given to [`LockManager::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockChange {
    /// Adds a lock, or replaces the record with the same token (a refresh).
    Put(LockRecord),
    /// Removes the lock with this token (nothing happens if there is none).
    Remove { token: String },
}

/// Stores locks. Queries never return expired locks.
#[async_trait]
pub trait LockManager: Send + Sync {
    fn kind(&self) -> &'static str;

    /// Adds a lock (durable after the next [`LockManager::flush`]).
    async fn insert(&self, lock: LockRecord) -> SubsystemResult<()>;

    /// Replaces the stored record with the same token (a refresh).
    async fn update(&self, lock: LockRecord) -> SubsystemResult<()>;

    /// Removes a lock, returning it.
    async fn remove(&self, token: &str) -> SubsystemResult<Option<LockRecord>>;

    async fn get(&self, token: &str) -> SubsystemResult<Option<LockRecord>>;

    /// Locks that apply to `path`: rooted at it, or deep and rooted above it.
    async fn covering(&self, path: &DavPath) -> SubsystemResult<Vec<LockRecord>>;

    /// Locks rooted strictly below `path`.
    async fn below(&self, path: &DavPath) -> SubsystemResult<Vec<LockRecord>>;

    /// How many unexpired locks `principal` holds (`None`: those taken without authentication).
    async fn held_by(&self, principal: Option<&str>) -> SubsystemResult<usize>;

    /// Removes expired locks; returns how many.
    async fn sweep(&self) -> SubsystemResult<usize>;

    /// Durability barrier: returns when every change made before is on disk.
    async fn flush(&self) -> SubsystemResult<()> {
        Ok(())
    }

    /// Applies `changes`, in order, as **one atomic change**, recording or removing `marker`
    /// with them; returns the changes that undo the batch. The contract is that of
    /// `PropertyManager::apply` (docs/adr/0017-crash-safety.md). This default goes through
    /// `insert`, `update` and `remove`: atomic only while the process lives, no marker.
    async fn apply(
        &self,
        changes: &[LockChange],
        _marker: Marker<'_>,
    ) -> SubsystemResult<Vec<LockChange>> {
        let mut undo = Vec::new();
        for change in changes {
            match change {
                LockChange::Put(lock) => {
                    undo.push(match self.get(&lock.token).await? {
                        Some(old) => {
                            self.update(lock.clone()).await?;
                            LockChange::Put(old)
                        }
                        None => {
                            self.insert(lock.clone()).await?;
                            LockChange::Remove {
                                token: lock.token.clone(),
                            }
                        }
                    });
                }
                LockChange::Remove { token } => {
                    if let Some(old) = self.remove(token).await? {
                        undo.push(LockChange::Put(old));
                    }
                }
            }
        }
        undo.reverse();
        Ok(undo)
    }

    /// True if what the store holds survives a restart of the process; false for a store
    /// that starts empty (memory). See `PropertyManager::survives_restart`.
    fn survives_restart(&self) -> bool {
        false
    }

    /// True if a batch applied with `marker` is in the store (false for stores that keep
    /// nothing across restarts).
    async fn has_marker(&self, _marker: &str) -> SubsystemResult<bool> {
        Ok(false)
    }

    /// Forgets markers the journal no longer needs (need not be durable).
    async fn forget_markers(&self, _markers: &[String]) -> SubsystemResult<()> {
        Ok(())
    }

    /// Every marker the store holds.
    async fn markers(&self) -> SubsystemResult<Vec<String>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{Quirks, Readable};

    #[test]
    fn the_view_leaves_lockroot_out_only_for_the_quirk() {
        let lock = LockRecord {
            token: "urn:uuid:1".into(),
            root: DavPath::parse_url_path("/a/b").unwrap().0,
            scope: LockScope::Shared,
            deep: true,
            owner: Some("<D:owner xmlns:D=\"DAV:\">me</D:owner>".into()),
            principal: None,
            timeout: Timeout::Seconds(60),
            expires: None,
        };
        let plain = ClientInfo::default();
        let view = lock.view(&plain, Timeout::Seconds(7));
        assert_eq!(view.root, Some(&lock.root));
        assert_eq!(
            (view.scope, view.depth, view.owner, view.timeout, view.token),
            (
                LockScope::Shared,
                Depth::Infinity,
                lock.owner.as_deref(),
                Timeout::Seconds(7),
                "urn:uuid:1"
            )
        );
        let old_office = ClientInfo {
            quirks: Quirks {
                omit_lockroot: true,
                ..Quirks::default()
            },
            ..ClientInfo::default()
        };
        assert_eq!(lock.view(&old_office, Timeout::Infinite).root, None);
        let outside = ClientInfo {
            readable: Readable::by(|path| !path.to_href(false).starts_with("/a")),
            ..ClientInfo::default()
        };
        assert_eq!(lock.view(&outside, Timeout::Infinite).root, None);
    }
}
