//! Commands over lock managers. Like the property commands they declare their changes, which
//! the queue's commit point applies (and flushes) before the response.

use std::sync::Arc;

use async_trait::async_trait;

use davd_registry::{LockChange, LockManager, LockRecord};

use crate::error::DavResult;
use crate::queue::{Command, Effects};

/// Adds a lock.
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
        effects.state.locks(
            &self.manager,
            &self.lock.root,
            LockChange::Put(self.lock.clone()),
        );
        effects.lock = Some(self.lock.clone());
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}

/// Replaces a lock record (a refresh).
pub struct RefreshLock {
    manager: Arc<dyn LockManager>,
    new: LockRecord,
}

impl RefreshLock {
    pub fn new(manager: Arc<dyn LockManager>, new: LockRecord) -> Self {
        RefreshLock { manager, new }
    }
}

#[async_trait]
impl Command for RefreshLock {
    fn describe(&self) -> String {
        format!("refresh lock {}", self.new.token)
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        effects.state.locks(
            &self.manager,
            &self.new.root,
            LockChange::Put(self.new.clone()),
        );
        effects.lock = Some(self.new.clone());
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}

/// Removes locks (UNLOCK; the locks of deleted or moved-away resources).
pub struct RemoveLocks {
    removals: Vec<(Arc<dyn LockManager>, LockRecord)>,
}

impl RemoveLocks {
    pub fn new(removals: Vec<(Arc<dyn LockManager>, LockRecord)>) -> Self {
        RemoveLocks { removals }
    }
}

#[async_trait]
impl Command for RemoveLocks {
    fn describe(&self) -> String {
        format!("remove {} locks", self.removals.len())
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        for (manager, lock) in &self.removals {
            effects.state.locks(
                manager,
                &lock.root,
                LockChange::Remove {
                    token: lock.token.clone(),
                },
            );
        }
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}
