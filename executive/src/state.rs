//! A queue's property and lock changes, gathered and applied all at once.
//!
//! Commands that change dead properties or locks do not touch the stores as they execute:
//! they declare their changes here ([`StateChanges`]), and the queue's [`CommitState`]
//! command applies them at its commit point, one atomic batch per store
//! (`PropertyManager::apply`, `LockManager::apply`). That is what makes a PROPPATCH of a
//! thousand properties all or nothing across a crash, and what lets a DELETE or MOVE of a tree
//! change its properties and locks in one step after the namespace has done its part
//! (docs/adr/0017-crash-safety.md).
//!
//! [`CommitState`]: crate::commands::commit::CommitState

use std::sync::Arc;

use davd_protocol::DavPath;
use davd_registry::{LockChange, LockManager, Marker, PropChange, PropertyManager};

use crate::error::DavResult;

/// The store a batch goes to.
#[derive(Clone)]
pub enum Store {
    Props(Arc<dyn PropertyManager>),
    Locks(Arc<dyn LockManager>),
}

impl Store {
    pub fn same(&self, other: &Store) -> bool {
        match (self, other) {
            (Store::Props(a), Store::Props(b)) => Arc::ptr_eq(a, b),
            (Store::Locks(a), Store::Locks(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Makes what was applied durable.
    pub async fn flush(&self) -> DavResult<()> {
        let started = std::time::Instant::now();
        let (store, kind) = match self {
            Store::Props(p) => {
                p.flush().await?;
                ("properties", p.kind())
            }
            Store::Locks(l) => {
                l.flush().await?;
                ("locks", l.kind())
            }
        };
        crate::metrics::store_flushed(store, kind, started.elapsed());
        Ok(())
    }

    /// True if the store keeps what it holds across a restart (and so keeps markers).
    pub fn survives_restart(&self) -> bool {
        match self {
            Store::Props(p) => p.survives_restart(),
            Store::Locks(l) => l.survives_restart(),
        }
    }

    pub async fn has_marker(&self, marker: &str) -> DavResult<bool> {
        Ok(match self {
            Store::Props(p) => p.has_marker(marker).await?,
            Store::Locks(l) => l.has_marker(marker).await?,
        })
    }

    pub async fn forget_marker(&self, marker: &str) -> DavResult<()> {
        let markers = [marker.to_owned()];
        match self {
            Store::Props(p) => p.forget_markers(&markers).await?,
            Store::Locks(l) => l.forget_markers(&markers).await?,
        }
        Ok(())
    }
}

/// The changes to one store, in the order they were declared.
#[derive(Clone)]
pub struct Batch {
    pub store: Store,
    /// A path the registry resolves to this store: what the journal writes down so that
    /// recovery finds the store again.
    pub anchor: DavPath,
    pub changes: Changes,
}

/// Property changes or lock changes, as the store's kind takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    Props(Vec<PropChange>),
    Locks(Vec<LockChange>),
}

/// What undoes an applied batch.
pub struct Applied {
    store: Store,
    undo: Changes,
    marker: Option<String>,
}

impl Batch {
    /// Applies the batch as one atomic change, recording `marker` with it.
    pub async fn apply(&self, marker: Option<&str>) -> DavResult<Applied> {
        let record = marker.map_or(Marker::None, Marker::Record);
        let undo = match (&self.store, &self.changes) {
            (Store::Props(p), Changes::Props(changes)) => {
                Changes::Props(p.apply(changes, record).await?)
            }
            (Store::Locks(l), Changes::Locks(changes)) => {
                Changes::Locks(l.apply(changes, record).await?)
            }
            _ => {
                return Err(crate::error::DavError::internal(
                    "a batch of changes for another kind of store",
                ));
            }
        };
        Ok(Applied {
            store: self.store.clone(),
            undo,
            marker: marker.map(str::to_owned),
        })
    }
}

impl Applied {
    /// Puts the store back as it was before the batch, removing the marker in the same
    /// atomic change: a crash mid-revert never leaves a marker that claims a batch which is
    /// no longer there.
    pub async fn revert(self) -> DavResult<()> {
        let clear = self.marker.as_deref().map_or(Marker::None, Marker::Clear);
        match (&self.store, self.undo) {
            (Store::Props(p), Changes::Props(undo)) => {
                p.apply(&undo, clear).await?;
            }
            (Store::Locks(l), Changes::Locks(undo)) => {
                l.apply(&undo, clear).await?;
            }
            _ => {}
        }
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Everything a queue has declared so far, one batch per store: first the stores that survive
/// a restart, then those that keep nothing (memory), each group in the order its stores were
/// first named. A MOVE between two property stores thus writes the destination's batch (the
/// copies) before the source's (the removal).
///
/// Recovery decides whether a request committed by the marker of its first batch's store, so
/// that store must be one that remembers markers: a memory store answers "no marker" after any
/// restart, and a request whose later, durable batches were in would be undone around them
/// (a MOVE from the file system into memory came back without its properties and locks).
/// The commit flushes each batch before it applies the next, so a later batch is never
/// durable while the first is not (docs/adr/0017-crash-safety.md).
#[derive(Default, Clone)]
pub struct StateChanges {
    batches: Vec<Batch>,
}

impl StateChanges {
    fn batch(&mut self, store: Store, anchor: &DavPath) -> &mut Batch {
        let found = self.batches.iter().position(|b| b.store.same(&store));
        let index = match found {
            Some(index) => index,
            None => {
                let changes = match store {
                    Store::Props(_) => Changes::Props(Vec::new()),
                    Store::Locks(_) => Changes::Locks(Vec::new()),
                };
                let index = match store.survives_restart() {
                    true => self
                        .batches
                        .iter()
                        .position(|b| !b.store.survives_restart())
                        .unwrap_or(self.batches.len()),
                    false => self.batches.len(),
                };
                self.batches.insert(
                    index,
                    Batch {
                        store,
                        anchor: anchor.clone(),
                        changes,
                    },
                );
                index
            }
        };
        &mut self.batches[index]
    }

    /// Declares a property change; `anchor` is a path the `properties` store serves.
    pub fn props(
        &mut self,
        properties: &Arc<dyn PropertyManager>,
        anchor: &DavPath,
        change: PropChange,
    ) {
        let batch = self.batch(Store::Props(properties.clone()), anchor);
        if let Changes::Props(changes) = &mut batch.changes {
            changes.push(change);
        }
    }

    /// Declares a lock change; `anchor` is the lock's root (its manager stores it).
    pub fn locks(&mut self, locks: &Arc<dyn LockManager>, anchor: &DavPath, change: LockChange) {
        let batch = self.batch(Store::Locks(locks.clone()), anchor);
        if let Changes::Locks(changes) = &mut batch.changes {
            changes.push(change);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }

    /// Takes the declared batches, leaving none.
    pub fn take(&mut self) -> Vec<Batch> {
        std::mem::take(&mut self.batches)
    }
}
