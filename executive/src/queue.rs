//! The CommandQueue: how every state-changing method runs.
//!
//! A method's plan is a list of small [`Command`]s. The queue runs in three phases:
//!
//! 1. **check** every command, without effect. If any check fails, nothing runs and every
//!    failure is reported (PROPPATCH uses this to give each bad instruction its own status).
//! 2. **execute** the commands in order. If one fails, the ones already executed are undone in
//!    reverse order, and the failure is reported with its index.
//! 3. **commit** them all: irreversible clean-up such as purging a deleted file's backup.
//!
//! Commands that never get to execute (a check failed, or an earlier command) are told to
//! **abandon** what they hold, such as a body staged before the request took its latch.
//!
//! Namespace commands act as they execute; property and lock commands only declare their
//! changes ([`Effects::state`]), which the commit point ([`crate::commands::commit::CommitState`])
//! applies as one atomic batch per store.
//!
//! This is the 1997 paper's CommandQueue (its Figure 2 is PROPPATCH), with the check phase
//! added so that a request that cannot succeed never touches storage, and, for queues of more
//! than one storage step, a **journal**: the plan is written down before the first step and
//! the progress at the commit point, so that a crash part way is finished or undone when the
//! server starts again ([`crate::intent`], [`crate::recovery`], docs/adr/0017-crash-safety.md).
//! A queue is atomic: where RFC 4918 wants partial results (a Depth-infinity COPY), that is one
//! composite command that reports per resource in [`Effects::member_failures`] and fails as a
//! whole only when the request's own resource fails.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::{error, warn};

use davd_protocol::DavPath;
use davd_registry::{
    Change, ChangeKind, DocumentRecord, LockRecord, PropertyManager, Replaced, ResourceMeta,
};

use crate::Executive;
use crate::error::{DavError, DavResult};
use crate::intent::{IntentWriter, Step};
use crate::latch::{LatchGuard, NamedGuard};
use crate::state::{StateChanges, Store};

/// What executed commands leave behind for the response.
#[derive(Default)]
pub struct Effects {
    /// A resource was created (201 rather than 204).
    pub created: bool,
    /// Metadata of content just written (for the ETag of a PUT response).
    pub meta: Option<ResourceMeta>,
    /// The client's modification time was applied (`commands::modified`): a PUT or MKCOL
    /// answers `X-OC-Mtime: accepted`.
    pub modified_set: bool,
    /// Members that failed inside a composite command (reported in a 207).
    pub member_failures: Vec<(DavPath, DavError)>,
    /// A lock granted or refreshed.
    pub lock: Option<LockRecord>,
    /// The document record written for the request's resource (its new ResourceTag).
    pub document: Option<DocumentRecord>,
    /// Property and lock changes declared by the commands, applied at the commit point.
    pub state: StateChanges,
    /// The journal record of this queue, if it has one: the commit's batches carry its id as
    /// their marker.
    pub intent: Option<String>,
    /// The queue's method, naming the fail points inside its commands (`crate::failpoint`).
    pub label: Option<&'static str>,
    /// The stores the commit applied batches to.
    pub committed: Vec<Store>,
    /// What a queue without a journal changed, for its method to append to the change logs
    /// ([`crate::sync::record`]) once it committed the latches the queue ran under: in a
    /// cluster its statements ride their transaction, and an entry readable before the change
    /// is would let a report skip it. A journaled queue commits them at its commit point and
    /// appends its changes itself.
    pub changes: Vec<(Arc<dyn PropertyManager>, Change)>,
    /// Content the commands replaced and their stores still hold (`Replaced`): freed when
    /// the effects are dropped, which a method does after its latches are released.
    pub replaced: Vec<Replaced>,
}

impl std::fmt::Debug for Effects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Effects")
            .field("created", &self.created)
            .field("member_failures", &self.member_failures.len())
            .field("intent", &self.intent)
            .finish_non_exhaustive()
    }
}

/// One undoable step.
#[async_trait]
pub trait Command: Send {
    /// What the command does, for logs.
    fn describe(&self) -> String;

    /// Validates without effect. A failure here means nothing is executed.
    async fn check(&mut self) -> DavResult<()> {
        Ok(())
    }

    /// Does the work, remembering what undo needs.
    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()>;

    /// Reverses a successful execute.
    async fn undo(&mut self) -> DavResult<()>;

    /// Makes the change final (called only when every command executed).
    async fn commit(&mut self) -> DavResult<()> {
        Ok(())
    }

    /// Told before it executes that it is the queue's last command: nothing after it can fail,
    /// so it will never be undone and need not keep anything for undo.
    fn final_step(&mut self) {}

    /// Releases what the command holds when it will never execute (an earlier command or a
    /// check failed): staged content, for instance.
    async fn abandon(&mut self) {}

    /// The namespace step this command takes, as a journaled queue writes it down before
    /// running (what recovery undoes, or finishes, after a crash).
    fn step(&self) -> Option<Step> {
        None
    }

    /// True for the command that applies the declared property and lock changes: the
    /// queue's commit point.
    fn is_commit_point(&self) -> bool {
        false
    }
}

/// Why a queue did not commit.
#[derive(Debug)]
pub enum QueueFailure {
    /// These commands (by index) failed their checks; nothing was executed.
    Check(Vec<(usize, DavError)>),
    /// The command at `index` failed to execute; everything before it was undone.
    Execute { index: usize, error: DavError },
}

impl QueueFailure {
    /// The error to answer with when a method reports a single status.
    pub fn into_error(self) -> DavError {
        match self {
            QueueFailure::Check(mut failures) => failures.remove(0).1,
            QueueFailure::Execute { error, .. } => error,
        }
    }
}

/// What a journaled queue needs besides its commands.
struct Journaled {
    exec: Arc<Executive>,
    method: &'static str,
    path: DavPath,
    /// The request's latches, held until the queue is done: handed to the background
    /// recovery if the queue could not undo itself, so that no other request touches what
    /// it left until it is put right.
    latch: LatchGuard,
}

/// An ordered, atomic list of commands.
#[derive(Default)]
pub struct CommandQueue {
    commands: Vec<Box<dyn Command>>,
    journaled: Option<Journaled>,
    /// The method, for the fail points of a queue without a journal (`crate::failpoint`).
    label: Option<&'static str>,
    /// Named latches a decision behind the commands relies on (a user's lock count), held
    /// until the queue is done.
    held: Vec<NamedGuard>,
    /// What the queue changes, for the change logs (`crate::sync`, [`Effects::changes`]).
    changes: Vec<(Arc<dyn PropertyManager>, Change)>,
}

impl CommandQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// A queue whose plan goes to the executive's journal before it runs, so that a crash part
    /// way is finished or undone at the next start. For methods of more than one storage step
    /// (DELETE, COPY, MOVE); `latch` is the request's, kept until the queue is done.
    pub fn journaled(
        exec: Arc<Executive>,
        method: &'static str,
        path: &DavPath,
        latch: LatchGuard,
    ) -> Self {
        CommandQueue {
            commands: Vec::new(),
            journaled: Some(Journaled {
                exec,
                method,
                path: path.clone(),
                latch,
            }),
            label: None,
            held: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// Names the queue after its method, so that tests can stop the process between its
    /// steps (`crate::failpoint`; a journaled queue is named already).
    pub fn named(mut self, method: &'static str) -> Self {
        self.label = Some(method);
        self
    }

    /// Keeps `guard` until the queue has run: its commands carry out a decision made under it.
    pub fn hold(&mut self, guard: NamedGuard) -> &mut Self {
        self.held.push(guard);
        self
    }

    /// Says the queue changes `path` (a full request path) in the scope whose property store
    /// is `properties`: once it committed, that store's change log hears of it, for
    /// `sync-collection` reports (a journaled queue tells it; otherwise its method does, from
    /// [`Effects::changes`]).
    pub fn changes(
        &mut self,
        properties: &Arc<dyn PropertyManager>,
        path: &DavPath,
        kind: ChangeKind,
    ) -> &mut Self {
        let change = Change {
            path: path.clone(),
            kind,
        };
        self.changes.push((properties.clone(), change));
        self
    }

    pub fn push(&mut self, command: impl Command + 'static) -> &mut Self {
        self.commands.push(Box::new(command));
        self
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Gives up on the queue before running it: every command releases what it holds.
    pub async fn abandon(mut self) {
        for command in &mut self.commands {
            command.abandon().await;
        }
    }

    /// Checks, executes and commits; on failure undoes what ran.
    ///
    /// The failure paths (`fail`, `leave_to_recovery`) are boxed where they are taken: inline,
    /// their futures made this one, and with it every write's, 3,664 bytes instead of 2,000,
    /// copied whole as the request's futures are built.
    pub async fn run(mut self) -> Result<Effects, QueueFailure> {
        let mut failed_checks = Vec::new();
        for (index, command) in self.commands.iter_mut().enumerate() {
            if let Err(e) = command.check().await {
                failed_checks.push((index, e));
            }
        }
        if !failed_checks.is_empty() {
            for command in &mut self.commands {
                command.abandon().await;
            }
            return Err(QueueFailure::Check(failed_checks));
        }

        let mut journaled = self.journaled.take();
        let mut writer = match &journaled {
            Some(j) => {
                let steps = self.commands.iter().filter_map(|c| c.step()).collect();
                let mut writer =
                    IntentWriter::new(j.exec.journal.clone(), j.method, &j.path, steps);
                if let Err(error) = writer.begin().await {
                    self.abandon_from(0).await;
                    return Err(QueueFailure::Execute { index: 0, error });
                }
                Some(writer)
            }
            None => None,
        };

        let label = journaled.as_ref().map(|j| j.method).or(self.label);
        let mut effects = Effects {
            intent: writer.as_ref().map(|w| w.id().to_owned()),
            label,
            ..Effects::default()
        };
        if writer.is_none()
            && let Some(last) = self.commands.last_mut()
        {
            last.final_step();
        }
        for index in 0..self.commands.len() {
            if let Some(label) = self.label {
                crate::failpoint::boundary(label, &index.to_string());
            }
            let commit_point = self.commands[index].is_commit_point();
            if commit_point
                && let Some(w) = &mut writer
                && let Err(error) = w.plan_commit(&effects.state).await
            {
                return Err(Box::pin(self.fail(index, index, error, writer, journaled)).await);
            }
            if let Err(error) = self.commands[index].execute(&mut effects).await {
                if commit_point && error.outcome_unknown {
                    return Err(
                        Box::pin(self.leave_to_recovery(index, error, writer, journaled)).await,
                    );
                }
                return Err(Box::pin(self.fail(index, index, error, writer, journaled)).await);
            }
            // The cluster latches' transaction, which the namespace steps of a carrying
            // request rode, commits with the batches (before the journal says so): a
            // request whose latches were lost keeps nothing of those steps, and its batches
            // are undone like any that a later failure makes void.
            if commit_point
                && let Some(j) = &mut journaled
                && let Err(error) = j.latch.commit_shared().await
            {
                return Err(
                    Box::pin(self.fail(index + 1, index, error.into(), writer, journaled)).await,
                );
            }
            if let Some(w) = &mut writer {
                if commit_point && let Err(error) = w.committed().await {
                    return Err(
                        Box::pin(self.fail(index + 1, index, error, writer, journaled)).await,
                    );
                }
                if !commit_point {
                    w.boundary();
                }
            }
        }
        if let Some(label) = self.label {
            crate::failpoint::boundary(label, "end");
        }
        if !effects.state.is_empty() {
            error!(
                "a queue declared property or lock changes after its commit point; they were \
                 dropped"
            );
        }

        for command in &mut self.commands {
            if let Err(e) = command.commit().await {
                warn!(command = %command.describe(), error = %e, "commit clean-up failed");
            }
        }
        let changes = std::mem::take(&mut self.changes);
        match journaled {
            // The latches' transaction committed at the commit point.
            Some(_) => crate::sync::record(changes).await,
            None => effects.changes = changes,
        }
        if let Some(writer) = writer
            && writer.finish().await
            && let Some(intent) = &effects.intent
        {
            for store in &effects.committed {
                if let Err(e) = store.forget_marker(intent).await {
                    warn!(error = %e, "could not forget a batch marker");
                }
            }
        }
        drop(journaled);
        Ok(effects)
    }

    /// Abandons the commands from `first` on (they never executed).
    async fn abandon_from(&mut self, first: usize) {
        for never_run in &mut self.commands[first..] {
            never_run.abandon().await;
        }
    }

    /// The commit point at `index` could not tell whether its batches went in (the store lost
    /// its connection while committing). Whether they did is for the stores' markers to say
    /// once they answer again, so a journaled queue is handed, with its latches, to the
    /// background recovery instead of being undone: undoing its namespace steps now could
    /// leave them without the properties and locks that did go in. A queue without a journal
    /// has no markers to ask, and is undone as usual.
    async fn leave_to_recovery(
        &mut self,
        index: usize,
        error: DavError,
        writer: Option<IntentWriter>,
        journaled: Option<Journaled>,
    ) -> QueueFailure {
        match (writer, journaled) {
            (Some(writer), Some(journaled)) => {
                self.abandon_from(index + 1).await;
                crate::recovery::in_background(
                    journaled.exec,
                    writer.into_record(),
                    journaled.latch,
                );
                QueueFailure::Execute { index, error }
            }
            (writer, journaled) => self.fail(index, index, error, writer, journaled).await,
        }
    }

    /// Undoes the commands before `executed` in reverse, abandons those after `failed`, and
    /// removes the journal record once everything is undone. If an undo fails, the record
    /// stays and a background task, holding the request's latches, recovers the request as
    /// startup would, retrying until it can.
    async fn fail(
        &mut self,
        executed: usize,
        failed: usize,
        error: DavError,
        writer: Option<IntentWriter>,
        journaled: Option<Journaled>,
    ) -> QueueFailure {
        if executed > 0 {
            crate::metrics::rolled_back();
        }
        let mut undone = true;
        for done in self.commands[..executed].iter_mut().rev() {
            if let Err(e) = done.undo().await {
                warn!(command = %done.describe(), error = %e, "undo failed");
                undone = false;
            }
        }
        self.abandon_from(failed + 1).await;
        if let (Some(writer), Some(journaled)) = (writer, journaled) {
            if undone {
                writer.finish().await;
            } else {
                crate::recovery::in_background(
                    journaled.exec,
                    writer.into_record(),
                    journaled.latch,
                );
            }
        }
        QueueFailure::Execute {
            index: failed,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A command that appends to a shared journal and can be told to fail.
    struct Probe {
        name: &'static str,
        fail_check: bool,
        fail_execute: bool,
        journal: Arc<Mutex<Vec<String>>>,
    }

    impl Probe {
        fn new(name: &'static str, journal: &Arc<Mutex<Vec<String>>>) -> Self {
            Probe {
                name,
                fail_check: false,
                fail_execute: false,
                journal: journal.clone(),
            }
        }
        fn log(&self, what: &str) {
            self.journal
                .lock()
                .unwrap()
                .push(format!("{what} {}", self.name));
        }
    }

    #[async_trait]
    impl Command for Probe {
        fn describe(&self) -> String {
            self.name.into()
        }
        async fn check(&mut self) -> DavResult<()> {
            if self.fail_check {
                return Err(DavError::forbidden("no"));
            }
            Ok(())
        }
        async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
            if self.fail_execute {
                return Err(DavError::conflict("broken"));
            }
            self.log("execute");
            Ok(())
        }
        async fn undo(&mut self) -> DavResult<()> {
            self.log("undo");
            Ok(())
        }
        async fn commit(&mut self) -> DavResult<()> {
            self.log("commit");
            Ok(())
        }
    }

    #[tokio::test]
    async fn commits_when_all_succeed() {
        let journal = Arc::new(Mutex::new(vec![]));
        let mut q = CommandQueue::new();
        q.push(Probe::new("a", &journal))
            .push(Probe::new("b", &journal));
        q.run().await.unwrap();
        assert_eq!(
            *journal.lock().unwrap(),
            ["execute a", "execute b", "commit a", "commit b"]
        );
    }

    #[tokio::test]
    async fn undoes_in_reverse_when_the_last_fails() {
        let journal = Arc::new(Mutex::new(vec![]));
        let mut q = CommandQueue::new();
        let mut c = Probe::new("c", &journal);
        c.fail_execute = true;
        q.push(Probe::new("a", &journal))
            .push(Probe::new("b", &journal))
            .push(c);
        match q.run().await {
            Err(QueueFailure::Execute { index: 2, error }) => {
                assert_eq!(error.status.as_u16(), 409)
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            *journal.lock().unwrap(),
            ["execute a", "execute b", "undo b", "undo a"]
        );
    }

    #[tokio::test]
    async fn failed_checks_run_nothing_and_report_all() {
        let journal = Arc::new(Mutex::new(vec![]));
        let mut q = CommandQueue::new();
        let mut b = Probe::new("b", &journal);
        b.fail_check = true;
        let mut c = Probe::new("c", &journal);
        c.fail_check = true;
        q.push(Probe::new("a", &journal)).push(b).push(c);
        match q.run().await {
            Err(QueueFailure::Check(f)) => {
                assert_eq!(f.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 2])
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(journal.lock().unwrap().is_empty());
    }
}
