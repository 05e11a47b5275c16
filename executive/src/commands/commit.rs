//! The commit point: the property and lock changes a queue declared go into their stores.

use async_trait::async_trait;

use crate::error::DavResult;
use crate::queue::{Command, Effects};
use crate::state::{Applied, Store};

/// Applies every batch declared so far ([`crate::state`]), one atomic batch per store, in the
/// order [`crate::state::StateChanges`] keeps (stores that survive a restart first), each
/// carrying the queue's journal id as its marker; with `durable`, each batch is flushed before
/// the next is applied, so that the response leaves only once the change is on disk, and so
/// that no later batch is ever on disk while the first, whose marker recovery asks, is not.
/// If a batch fails, those already applied are reverted before the error returns. Undo (a
/// later command failed) reverts them all.
pub struct CommitState {
    durable: bool,
    applied: Vec<Applied>,
}

impl CommitState {
    /// The commit point of a queue whose changes must be on disk before it answers.
    pub fn durable() -> Self {
        CommitState {
            durable: true,
            applied: Vec::new(),
        }
    }

    /// A commit point that does not flush: for the document record a PUT writes before it
    /// publishes, which is best effort by design (docs/adr/0007-document-ids.md).
    pub fn without_flush() -> Self {
        CommitState {
            durable: false,
            applied: Vec::new(),
        }
    }

    async fn revert(&mut self) -> DavResult<()> {
        let mut result = Ok(());
        while let Some(applied) = self.applied.pop() {
            let store = applied.store().clone();
            if let Err(e) = applied.revert().await {
                result = Err(e);
            }
            if self.durable
                && let Err(e) = store.flush().await
            {
                result = Err(e);
            }
        }
        result
    }
}

#[async_trait]
impl Command for CommitState {
    fn describe(&self) -> String {
        "apply the property and lock changes".into()
    }

    fn is_commit_point(&self) -> bool {
        true
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        let batches = effects.state.take();
        let mut stores: Vec<Store> = Vec::new();
        let marker = effects.intent.as_deref();
        for (index, batch) in batches.iter().enumerate() {
            if index > 0
                && let Some(label) = effects.label
            {
                crate::failpoint::boundary(label, &format!("batch-{index}"));
            }
            match batch.apply(marker).await {
                Ok(applied) => {
                    stores.push(applied.store().clone());
                    self.applied.push(applied);
                }
                // Perhaps in, perhaps not: the marker will tell recovery, which finishes the
                // request if the first batch went in; reverting the others would undo part of
                // a request that may be committed.
                Err(e) if e.outcome_unknown && marker.is_some() => return Err(e),
                Err(e) => {
                    self.revert().await?;
                    return Err(e);
                }
            }
            if index + 1 == batches.len()
                && let Some(label) = effects.label
            {
                crate::failpoint::boundary(label, "applied");
            }
            if self.durable
                && let Err(e) = batch.store.flush().await
            {
                self.revert().await?;
                return Err(e);
            }
        }
        if let Some(label) = effects.label {
            crate::failpoint::boundary(label, "flushed");
        }
        effects.committed = stores;
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        self.revert().await
    }
}
