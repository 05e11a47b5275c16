use std::collections::HashMap;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio::sync::RwLock;

use davd_registry::{DavPath, LockManager, LockRecord, SubsystemResult};

/// A lock table in memory.
#[derive(Default)]
pub struct MemoryLocks {
    locks: RwLock<HashMap<String, LockRecord>>,
}

impl MemoryLocks {
    pub fn new() -> Self {
        Self::default()
    }

    async fn live<F: Fn(&LockRecord) -> bool>(&self, keep: F) -> Vec<LockRecord> {
        let now = SystemTime::now();
        self.locks
            .read()
            .await
            .values()
            .filter(|l| !l.is_expired(now) && keep(l))
            .cloned()
            .collect()
    }
}

#[async_trait]
impl LockManager for MemoryLocks {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn insert(&self, lock: LockRecord) -> SubsystemResult<()> {
        self.locks.write().await.insert(lock.token.clone(), lock);
        Ok(())
    }

    async fn update(&self, lock: LockRecord) -> SubsystemResult<()> {
        self.insert(lock).await
    }

    async fn remove(&self, token: &str) -> SubsystemResult<Option<LockRecord>> {
        Ok(self.locks.write().await.remove(token))
    }

    async fn get(&self, token: &str) -> SubsystemResult<Option<LockRecord>> {
        let now = SystemTime::now();
        Ok(self
            .locks
            .read()
            .await
            .get(token)
            .filter(|l| !l.is_expired(now))
            .cloned())
    }

    async fn covering(&self, path: &DavPath) -> SubsystemResult<Vec<LockRecord>> {
        Ok(self.live(|l| l.covers(path)).await)
    }

    async fn below(&self, path: &DavPath) -> SubsystemResult<Vec<LockRecord>> {
        Ok(self.live(|l| l.root.is_strictly_within(path)).await)
    }

    async fn held_by(&self, principal: Option<&str>) -> SubsystemResult<usize> {
        Ok(self
            .live(|l| l.principal.as_deref() == principal)
            .await
            .len())
    }

    async fn sweep(&self) -> SubsystemResult<usize> {
        let now = SystemTime::now();
        let mut locks = self.locks.write().await;
        let before = locks.len();
        locks.retain(|_, l| !l.is_expired(now));
        Ok(before - locks.len())
    }
}
