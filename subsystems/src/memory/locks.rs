use std::collections::HashMap;
use std::sync::RwLock;
use std::time::SystemTime;

use async_trait::async_trait;

use davd_registry::{DavPath, LockManager, LockRecord, SubsystemResult};

use super::{read, write};

/// A lock table in memory.
#[derive(Default)]
pub struct MemoryLocks {
    locks: RwLock<HashMap<String, LockRecord>>,
}

impl MemoryLocks {
    pub fn new() -> Self {
        Self::default()
    }

    fn live<F: Fn(&LockRecord) -> bool>(&self, keep: F) -> Vec<LockRecord> {
        let now = SystemTime::now();
        read(&self.locks)
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
        write(&self.locks).insert(lock.token.clone(), lock);
        Ok(())
    }

    async fn update(&self, lock: LockRecord) -> SubsystemResult<()> {
        self.insert(lock).await
    }

    async fn remove(&self, token: &str) -> SubsystemResult<Option<LockRecord>> {
        Ok(write(&self.locks).remove(token))
    }

    async fn get(&self, token: &str) -> SubsystemResult<Option<LockRecord>> {
        let now = SystemTime::now();
        Ok(read(&self.locks)
            .get(token)
            .filter(|l| !l.is_expired(now))
            .cloned())
    }

    async fn covering(&self, path: &DavPath) -> SubsystemResult<Vec<LockRecord>> {
        Ok(self.live(|l| l.covers(path)))
    }

    async fn below(&self, path: &DavPath) -> SubsystemResult<Vec<LockRecord>> {
        Ok(self.live(|l| l.root.is_strictly_within(path)))
    }

    async fn held_by(&self, principal: Option<&str>) -> SubsystemResult<usize> {
        Ok(self.live(|l| l.principal.as_deref() == principal).len())
    }

    async fn sweep(&self) -> SubsystemResult<usize> {
        let now = SystemTime::now();
        let mut locks = write(&self.locks);
        let before = locks.len();
        locks.retain(|_, l| !l.is_expired(now));
        Ok(before - locks.len())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use davd_registry::{LockScope, Timeout};

    use super::*;

    fn lock(token: &str, expires: Option<SystemTime>) -> LockRecord {
        LockRecord {
            token: token.to_owned(),
            root: DavPath::parse_url_path("/doc").unwrap().0,
            scope: LockScope::Shared,
            deep: false,
            owner: None,
            principal: None,
            timeout: expires.map_or(Timeout::Infinite, |_| Timeout::Seconds(1)),
            expires,
        }
    }

    #[tokio::test]
    async fn sweep_removes_expired_locks() {
        let locks = MemoryLocks::new();
        let past = SystemTime::now() - Duration::from_secs(5);
        let future = SystemTime::now() + Duration::from_secs(3600);
        locks
            .insert(lock("urn:uuid:old", Some(past)))
            .await
            .unwrap();
        locks
            .insert(lock("urn:uuid:live", Some(future)))
            .await
            .unwrap();
        locks.insert(lock("urn:uuid:forever", None)).await.unwrap();
        assert_eq!(
            locks.get("urn:uuid:old").await.unwrap(),
            None,
            "filtered on use"
        );
        assert_eq!(read(&locks.locks).len(), 3, "but still stored");

        assert_eq!(locks.sweep().await.unwrap(), 1);
        let mut left: Vec<String> = read(&locks.locks).keys().cloned().collect();
        left.sort();
        assert_eq!(left, ["urn:uuid:forever", "urn:uuid:live"]);
        assert_eq!(locks.sweep().await.unwrap(), 0);
    }
}
