//! Intent records: a journaled queue's plan and progress, written before storage is touched.
//!
//! The 1997 paper this server follows named the gap itself: "the CommandQueue's transaction
//! model is not powerful enough ... to allow transactions to be rolled back in the event of a
//! server crash". A queue undoes in memory, which is right while the process lives; these
//! records carry the plan across a crash (docs/adr/0017-crash-safety.md):
//!
//! 1. before the first step, the record lists the namespace steps to come ([`Step`]), each
//!    with what it needs to be undone (the tag a detached tree will be kept under);
//! 2. just before the commit point, it gains the commit plan: which store's marker will say
//!    that the commit happened, and the batches after the first;
//! 3. once every batch is in, it is marked committed;
//! 4. when the request is finished it is removed.
//!
//! At startup, [`crate::recovery`] finishes every request whose commit happened and undoes
//! every other.

mod record;

use std::sync::Arc;

use tracing::warn;

use davd_protocol::DavPath;
use davd_registry::Journal;

pub use record::{
    BatchRecord, ChangesRecord, CommitPlan, FORMAT, IntentRecord, Step, StoreKind, StoreRecord,
};

use crate::error::{DavError, DavResult};
use crate::failpoint;
use crate::state::StateChanges;

/// Writes one queue's record as it runs.
pub struct IntentWriter {
    journal: Arc<dyn Journal>,
    record: IntentRecord,
    boundary: usize,
}

impl IntentWriter {
    /// The record of a new request, not yet written.
    pub fn new(journal: Arc<dyn Journal>, method: &str, path: &DavPath, steps: Vec<Step>) -> Self {
        IntentWriter {
            journal,
            record: IntentRecord {
                format: FORMAT,
                id: uuid::Uuid::new_v4().to_string(),
                method: method.to_owned(),
                path: path.clone(),
                steps,
                commit: None,
                committed: false,
            },
            boundary: 0,
        }
    }

    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// Passes the next numbered fail point of this request.
    pub fn boundary(&mut self) {
        failpoint::boundary(&self.record.method, &self.boundary.to_string());
        self.boundary += 1;
    }

    /// Passes a named fail point of this request.
    pub fn named(&self, point: &str) {
        failpoint::boundary(&self.record.method, point);
    }

    async fn write(&self) -> DavResult<()> {
        self.journal
            .write(&self.record.id, &self.record.to_bytes()?)
            .await
            .map_err(DavError::from)
    }

    /// Writes the plan before anything is done.
    pub async fn begin(&mut self) -> DavResult<()> {
        self.write().await?;
        self.boundary();
        Ok(())
    }

    /// Writes the commit plan: the first batch's store, and the later batches in full.
    pub async fn plan_commit(&mut self, state: &StateChanges) -> DavResult<()> {
        let batches = state.batches();
        let Some(first) = batches.first() else {
            return Ok(());
        };
        self.record.commit = Some(CommitPlan {
            first: StoreRecord::of(&first.store, &first.anchor),
            later: batches[1..]
                .iter()
                .map(|b| BatchRecord {
                    store: StoreRecord::of(&b.store, &b.anchor),
                    changes: (&b.changes).into(),
                })
                .collect(),
        });
        self.write().await?;
        self.boundary();
        Ok(())
    }

    /// Records that every batch is in. Without it, recovery could only ask the first batch's
    /// store, and a store that keeps nothing across restarts would answer "not committed"
    /// for a request already acknowledged: so a failure here fails the request (undone).
    pub async fn committed(&mut self) -> DavResult<()> {
        self.record.committed = true;
        self.write().await?;
        self.boundary();
        Ok(())
    }

    /// The request is done (or wholly undone): the record goes. Returns false if it could not
    /// be removed; the batches' markers must then stay, so that recovery, finding the record
    /// again, sees that its batches are in and applies none of them a second time.
    pub async fn finish(mut self) -> bool {
        self.boundary();
        match self.journal.remove(&self.record.id).await {
            Ok(()) => true,
            Err(e) => {
                warn!(intent = %self.record.id, error = %e, "could not remove a finished intent");
                false
            }
        }
    }

    /// The record, for recovery of a request that could not be undone in place.
    pub fn into_record(self) -> IntentRecord {
        self.record
    }
}
