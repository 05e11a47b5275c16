//! Commands over lock managers.

use std::sync::Arc;

use async_trait::async_trait;

use davd_registry::{LockManager, LockRecord};

use crate::error::DavResult;
use crate::queue::{Command, Effects};

/// Adds a lock, durably. Undo: removes it.
pub struct InsertLock {
    manager: Arc<dyn LockManager>,
    lock: LockRecord,
}

impl InsertLock {
    pub fn new(manager: Arc<dyn LockManager>, lock: LockRecord) -> Self {
        InsertLock { manager, lock }
    }
}

#[async_trait]
impl Command for InsertLock {
    fn describe(&self) -> String {
        format!("lock {} ({})", self.lock.root, self.lock.token)
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        self.manager.insert(self.lock.clone()).await?;
        self.manager.flush().await?;
        effects.lock = Some(self.lock.clone());
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        self.manager.remove(&self.lock.token).await?;
        Ok(())
    }
}

/// Replaces a lock record (a refresh), durably. Undo: puts the old record back.
pub struct RefreshLock {
    manager: Arc<dyn LockManager>,
    old: LockRecord,
    new: LockRecord,
}

impl RefreshLock {
    pub fn new(manager: Arc<dyn LockManager>, old: LockRecord, new: LockRecord) -> Self {
        RefreshLock { manager, old, new }
    }
}

#[async_trait]
impl Command for RefreshLock {
    fn describe(&self) -> String {
        format!("refresh lock {}", self.new.token)
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        self.manager.update(self.new.clone()).await?;
        self.manager.flush().await?;
        effects.lock = Some(self.new.clone());
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(self.manager.update(self.old.clone()).await?)
    }
}

/// Removes locks (UNLOCK; the locks of deleted or moved-away resources), durably. Undo: puts
/// them back.
pub struct RemoveLocks {
    removals: Vec<(Arc<dyn LockManager>, LockRecord)>,
    done: usize,
}

impl RemoveLocks {
    pub fn new(removals: Vec<(Arc<dyn LockManager>, LockRecord)>) -> Self {
        RemoveLocks { removals, done: 0 }
    }
}

#[async_trait]
impl Command for RemoveLocks {
    fn describe(&self) -> String {
        format!("remove {} locks", self.removals.len())
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        let result: DavResult<()> = async {
            for (manager, lock) in &self.removals {
                manager.remove(&lock.token).await?;
                self.done += 1;
            }
            for (manager, _) in &self.removals {
                manager.flush().await?;
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            // The queue undoes only commands that succeeded; put back what this one removed.
            self.undo().await?;
        }
        result
    }

    async fn undo(&mut self) -> DavResult<()> {
        for (manager, lock) in self.removals.iter().take(self.done) {
            manager.insert(lock.clone()).await?;
        }
        self.done = 0;
        Ok(())
    }
}
