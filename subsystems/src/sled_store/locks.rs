use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use davd_registry::{
    DavPath, LockChange, LockManager, LockRecord, LockScope, Marker, SubsystemError,
    SubsystemResult, Timeout,
};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::keys::{dir_prefix, resource_prefix};
use super::{StateDb, db_error, markers};

/// Locks in two sled trees: `locks` (token -> record as JSON) and `lock_paths`
/// (resource key + token -> token), the index that finds the locks on or below a path. The
/// index tree also holds the batch markers (`markers`).
pub struct SledLocks {
    state: StateDb,
    locks: sled::Tree,
    by_path: sled::Tree,
}

/// The stored form of a [`LockRecord`]; JSON so the state directory can be inspected.
#[derive(Serialize, Deserialize)]
struct StoredLock {
    token: String,
    root: String,
    exclusive: bool,
    deep: bool,
    owner: Option<String>,
    principal: Option<String>,
    /// Seconds granted; `None` for Infinite.
    timeout: Option<u64>,
    /// Expiry in seconds since the Unix epoch; `None` for Infinite.
    expires: Option<u64>,
}

impl StoredLock {
    fn from_record(lock: &LockRecord) -> Self {
        StoredLock {
            token: lock.token.clone(),
            root: lock.root.as_str().to_owned(),
            exclusive: lock.scope == LockScope::Exclusive,
            deep: lock.deep,
            owner: lock.owner.clone(),
            principal: lock.principal.clone(),
            timeout: match lock.timeout {
                Timeout::Seconds(s) => Some(s),
                Timeout::Infinite => None,
            },
            // Whole seconds, rounded up: a lock never ends before the time granted.
            expires: lock.expires.map(|e| {
                e.duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
            }),
        }
    }

    fn into_record(self) -> Option<LockRecord> {
        let root = DavPath::from_segments(self.root.split('/').filter(|s| !s.is_empty())).ok()?;
        Some(LockRecord {
            token: self.token,
            root,
            scope: if self.exclusive {
                LockScope::Exclusive
            } else {
                LockScope::Shared
            },
            deep: self.deep,
            owner: self.owner,
            principal: self.principal,
            timeout: self.timeout.map_or(Timeout::Infinite, Timeout::Seconds),
            expires: self.expires.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
        })
    }
}

fn encode(lock: &LockRecord) -> SubsystemResult<Vec<u8>> {
    serde_json::to_vec(&StoredLock::from_record(lock))
        .map_err(|e| SubsystemError::internal(e.to_string()))
}

/// The index key of the record stored as `json`, if it can be read.
fn stored_index_key(json: &[u8]) -> Option<String> {
    let stored: StoredLock = serde_json::from_slice(json).ok()?;
    stored.into_record().map(|lock| index_key(&lock))
}

fn index_key(lock: &LockRecord) -> String {
    format!("{}{}", resource_prefix(&lock.root), lock.token)
}

impl SledLocks {
    pub fn open(state: &StateDb) -> Result<Self, sled::Error> {
        Ok(SledLocks {
            state: state.clone(),
            locks: state.db.open_tree("locks")?,
            by_path: state.db.open_tree("lock_paths")?,
        })
    }

    fn load(&self, token: &[u8]) -> SubsystemResult<Option<LockRecord>> {
        let Some(bytes) = self.locks.get(token).map_err(db_error)? else {
            return Ok(None);
        };
        let stored: StoredLock = serde_json::from_slice(&bytes)
            .map_err(|e| SubsystemError::internal(format!("a stored lock is corrupt: {e}")))?;
        Ok(stored.into_record())
    }

    /// Unexpired locks indexed under `prefix`, kept if `keep` says so.
    fn scan(
        &self,
        prefix: &str,
        keep: impl Fn(&LockRecord) -> bool,
    ) -> SubsystemResult<Vec<LockRecord>> {
        let now = SystemTime::now();
        let mut out = Vec::new();
        for item in self.by_path.scan_prefix(prefix.as_bytes()) {
            let (_, token) = item.map_err(db_error)?;
            if let Some(lock) = self.load(&token)?
                && !lock.is_expired(now)
                && keep(&lock)
            {
                out.push(lock);
            }
        }
        Ok(out)
    }

    fn write(&self, lock: &LockRecord) -> SubsystemResult<()> {
        self.state.room_for(0)?;
        let json = encode(lock)?;
        self.locks
            .insert(lock.token.as_bytes(), json)
            .map_err(db_error)?;
        let indexed = self
            .by_path
            .insert(index_key(lock).as_bytes(), lock.token.as_bytes());
        self.state.lock_index.written();
        indexed.map_err(db_error)?;
        Ok(())
    }
}

#[async_trait]
impl LockManager for SledLocks {
    fn kind(&self) -> &'static str {
        "sled"
    }

    fn survives_restart(&self) -> bool {
        true
    }

    async fn insert(&self, lock: LockRecord) -> SubsystemResult<()> {
        self.write(&lock)
    }

    async fn update(&self, lock: LockRecord) -> SubsystemResult<()> {
        self.write(&lock)
    }

    async fn remove(&self, token: &str) -> SubsystemResult<Option<LockRecord>> {
        self.state.room_for(0)?;
        // A corrupt record is removed all the same.
        let lock = self.load(token.as_bytes()).ok().flatten();
        if let Some(lock) = &lock {
            let unindexed = self.by_path.remove(index_key(lock).as_bytes());
            self.state.lock_index.written();
            unindexed.map_err(db_error)?;
        }
        self.locks.remove(token.as_bytes()).map_err(db_error)?;
        Ok(lock)
    }

    async fn get(&self, token: &str) -> SubsystemResult<Option<LockRecord>> {
        let now = SystemTime::now();
        Ok(self.load(token.as_bytes())?.filter(|l| !l.is_expired(now)))
    }

    async fn covering(&self, path: &DavPath) -> SubsystemResult<Vec<LockRecord>> {
        // Most of the time no lock exists at all: an index known to be empty then answers,
        // where a scan per ancestor cost a third of a PUT's own instructions. What is known
        // is shared by every `SledLocks` over the database, so they see each other's locks.
        let empty = self
            .state
            .lock_index
            .is_empty(|| self.by_path.first().map(|first| first.is_none()));
        if empty.map_err(db_error)? {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for ancestor in path.ancestors_and_self() {
            out.extend(self.scan(&resource_prefix(&ancestor), |l| l.covers(path))?);
        }
        Ok(out)
    }

    async fn below(&self, path: &DavPath) -> SubsystemResult<Vec<LockRecord>> {
        self.scan(&dir_prefix(path), |_| true)
    }

    async fn held_by(&self, principal: Option<&str>) -> SubsystemResult<usize> {
        let now = SystemTime::now();
        let mut count = 0;
        for item in self.locks.iter() {
            let (token, _) = item.map_err(db_error)?;
            if let Ok(Some(lock)) = self.load(&token)
                && !lock.is_expired(now)
                && lock.principal.as_deref() == principal
            {
                count += 1;
            }
        }
        Ok(count)
    }

    async fn sweep(&self) -> SubsystemResult<usize> {
        // Even a removal writes to the database: not while its disk is below the reserve.
        self.state.room_for(0)?;
        let now = SystemTime::now();
        let mut expired = Vec::new();
        for item in self.locks.iter() {
            let (token, _) = item.map_err(db_error)?;
            match self.load(&token) {
                Ok(Some(lock)) if lock.is_expired(now) => expired.push(lock.token),
                Ok(Some(_)) => {}
                // Unreadable records are dropped too: they could never be honoured.
                Ok(None) | Err(_) => expired.push(String::from_utf8_lossy(&token).into_owned()),
            }
        }
        for token in &expired {
            self.remove(token).await?;
        }
        if !expired.is_empty() {
            self.flush().await?;
        }
        Ok(expired.len())
    }

    async fn flush(&self) -> SubsystemResult<()> {
        self.state.flush().await
    }

    /// One sled transaction over both trees, with the marker (recorded or removed) in the index
    /// tree.
    async fn apply(
        &self,
        changes: &[LockChange],
        marker: Marker<'_>,
    ) -> SubsystemResult<Vec<LockChange>> {
        self.state.room_for(0)?;
        let mut undo = Vec::new();
        let mut writes = Vec::new();
        for change in changes {
            match change {
                LockChange::Put(lock) => {
                    undo.push(match self.load(lock.token.as_bytes()).ok().flatten() {
                        Some(old) => LockChange::Put(old),
                        None => LockChange::Remove {
                            token: lock.token.clone(),
                        },
                    });
                    writes.push((lock.token.clone(), Some((encode(lock)?, index_key(lock)))));
                }
                LockChange::Remove { token } => {
                    if let Some(old) = self.load(token.as_bytes()).ok().flatten() {
                        undo.push(LockChange::Put(old));
                    }
                    writes.push((token.clone(), None));
                }
            }
        }
        let (record, clear) = match marker {
            Marker::Record(m) => (Some(markers::key(m)), None),
            Marker::Clear(m) => (None, Some(markers::key(m))),
            Marker::None => (None, None),
        };
        let applied = (&self.locks, &self.by_path).transaction(|(locks, by_path)| {
            for (token, write) in &writes {
                if let Some(old) = locks.get(token.as_bytes())?
                    && let Some(old_index) = stored_index_key(&old)
                {
                    by_path.remove(old_index.as_bytes())?;
                }
                match write {
                    Some((json, index)) => {
                        locks.insert(token.as_bytes(), json.as_slice())?;
                        by_path.insert(index.as_bytes(), token.as_bytes())?;
                    }
                    None => {
                        locks.remove(token.as_bytes())?;
                    }
                }
            }
            if let Some(marker) = &record {
                by_path.insert(marker.as_slice(), b"".as_slice())?;
            }
            if let Some(marker) = &clear {
                by_path.remove(marker.as_slice())?;
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        self.state.lock_index.written();
        applied.map_err(|e| match e {
            sled::transaction::TransactionError::Storage(e) => db_error(e),
            sled::transaction::TransactionError::Abort(()) => {
                SubsystemError::internal("the lock batch was aborted")
            }
        })?;
        undo.reverse();
        Ok(undo)
    }

    async fn has_marker(&self, marker: &str) -> SubsystemResult<bool> {
        markers::has(&self.by_path, marker)
    }

    async fn forget_markers(&self, forget: &[String]) -> SubsystemResult<()> {
        self.state.room_for(0)?;
        let forgotten = markers::forget(&self.by_path, forget);
        self.state.lock_index.written();
        forgotten
    }

    async fn markers(&self) -> SubsystemResult<Vec<String>> {
        markers::all(&self.by_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(token: &str, path: &str, expires: Option<SystemTime>) -> LockRecord {
        LockRecord {
            token: token.to_owned(),
            root: DavPath::parse_url_path(path).unwrap().0,
            scope: LockScope::Exclusive,
            deep: false,
            owner: None,
            principal: None,
            timeout: expires.map_or(Timeout::Infinite, |_| Timeout::Seconds(1)),
            expires,
        }
    }

    #[test]
    fn stored_expiry_never_ends_a_lock_early() {
        // Stored in whole seconds: a lock granted until x.5 s must not end at x s.
        let expires = UNIX_EPOCH + Duration::from_millis(100_500);
        let stored = StoredLock::from_record(&lock("urn:uuid:x", "/x", Some(expires)));
        let back = stored.into_record().unwrap().expires.unwrap();
        assert!(back >= expires, "{back:?} is before {expires:?}");
        let whole = UNIX_EPOCH + Duration::from_secs(100);
        let stored = StoredLock::from_record(&lock("urn:uuid:x", "/x", Some(whole)));
        assert_eq!(stored.into_record().unwrap().expires, Some(whole));
    }

    /// `covering` answers at once when no lock exists; it must not remember that answer, and
    /// two managers over one database must see each other's locks.
    #[tokio::test]
    async fn covering_sees_locks_taken_through_another_manager() {
        let db = StateDb::temporary().unwrap();
        let (one, two) = (SledLocks::open(&db).unwrap(), SledLocks::open(&db).unwrap());
        let below = DavPath::parse_url_path("/a/b/c").unwrap().0;
        assert!(two.covering(&below).await.unwrap().is_empty());

        let mut deep = lock("urn:uuid:deep", "/a", None);
        deep.deep = true;
        one.insert(deep).await.unwrap();
        one.insert(lock("urn:uuid:other", "/z", None))
            .await
            .unwrap();
        let found = two.covering(&below).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].token, "urn:uuid:deep");

        one.remove("urn:uuid:deep").await.unwrap();
        assert!(two.covering(&below).await.unwrap().is_empty());
        one.remove("urn:uuid:other").await.unwrap();
        assert!(two.covering(&below).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn sweep_removes_expired_records_from_both_trees() {
        let locks = SledLocks::open(&StateDb::temporary().unwrap()).unwrap();
        let past = SystemTime::now() - Duration::from_secs(5);
        let future = SystemTime::now() + Duration::from_secs(3600);
        locks
            .insert(lock("urn:uuid:old", "/old", Some(past)))
            .await
            .unwrap();
        locks
            .insert(lock("urn:uuid:live", "/live", Some(future)))
            .await
            .unwrap();
        locks
            .insert(lock("urn:uuid:forever", "/forever", None))
            .await
            .unwrap();
        // A record that cannot be read is dropped too.
        locks
            .locks
            .insert("urn:uuid:corrupt", b"{".to_vec())
            .unwrap();

        // Before the sweep the expired lock is still stored, only filtered on use.
        assert!(locks.locks.contains_key("urn:uuid:old").unwrap());
        assert_eq!(locks.get("urn:uuid:old").await.unwrap(), None);
        let old_path = DavPath::parse_url_path("/old").unwrap().0;
        assert!(locks.covering(&old_path).await.unwrap().is_empty());

        assert_eq!(locks.sweep().await.unwrap(), 2);
        assert!(!locks.locks.contains_key("urn:uuid:old").unwrap());
        assert!(!locks.locks.contains_key("urn:uuid:corrupt").unwrap());
        let index: Vec<Vec<u8>> = locks
            .by_path
            .iter()
            .values()
            .map(|v| v.unwrap().to_vec())
            .collect();
        assert_eq!(
            index,
            [b"urn:uuid:forever".to_vec(), b"urn:uuid:live".to_vec()],
            "the path index lost the expired lock and kept the others"
        );
        assert!(locks.get("urn:uuid:live").await.unwrap().is_some());
        assert!(locks.get("urn:uuid:forever").await.unwrap().is_some());
        // Nothing left to sweep.
        assert_eq!(locks.sweep().await.unwrap(), 0);
    }
}
