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
//! This is the 1997 paper's CommandQueue (its Figure 2 is PROPPATCH), with the check phase
//! added so that a request that cannot succeed never touches storage. A queue is atomic: where
//! RFC 4918 wants partial results (a Depth-infinity COPY), that is one composite command that
//! reports per resource in [`Effects::member_failures`] and fails as a whole only when the
//! request's own resource fails.

use async_trait::async_trait;
use tracing::warn;

use davd_protocol::DavPath;
use davd_registry::{DocumentRecord, LockRecord, ResourceMeta};

use crate::error::{DavError, DavResult};

/// What executed commands leave behind for the response.
#[derive(Debug, Default)]
pub struct Effects {
    /// A resource was created (201 rather than 204).
    pub created: bool,
    /// Metadata of content just written (for the ETag of a PUT response).
    pub meta: Option<ResourceMeta>,
    /// Members that failed inside a composite command (reported in a 207).
    pub member_failures: Vec<(DavPath, DavError)>,
    /// A lock granted or refreshed.
    pub lock: Option<LockRecord>,
    /// The document record written for the request's resource (its new ResourceTag).
    pub document: Option<DocumentRecord>,
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

/// An ordered, atomic list of commands.
#[derive(Default)]
pub struct CommandQueue {
    commands: Vec<Box<dyn Command>>,
}

impl CommandQueue {
    pub fn new() -> Self {
        Self::default()
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

        let mut effects = Effects::default();
        if let Some(last) = self.commands.last_mut() {
            last.final_step();
        }
        for index in 0..self.commands.len() {
            if let Err(error) = self.commands[index].execute(&mut effects).await {
                for done in self.commands[..index].iter_mut().rev() {
                    if let Err(e) = done.undo().await {
                        warn!(command = %done.describe(), error = %e, "undo failed");
                    }
                }
                for never_run in &mut self.commands[index + 1..] {
                    never_run.abandon().await;
                }
                return Err(QueueFailure::Execute { index, error });
            }
        }

        for command in &mut self.commands {
            if let Err(e) = command.commit().await {
                warn!(command = %command.describe(), error = %e, "commit clean-up failed");
            }
        }
        Ok(effects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A command that appends to a shared journal and can be told to fail.
    struct Step {
        name: &'static str,
        fail_check: bool,
        fail_execute: bool,
        journal: Arc<Mutex<Vec<String>>>,
    }

    impl Step {
        fn new(name: &'static str, journal: &Arc<Mutex<Vec<String>>>) -> Self {
            Step {
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
    impl Command for Step {
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
        q.push(Step::new("a", &journal))
            .push(Step::new("b", &journal));
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
        let mut c = Step::new("c", &journal);
        c.fail_execute = true;
        q.push(Step::new("a", &journal))
            .push(Step::new("b", &journal))
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
        let mut b = Step::new("b", &journal);
        b.fail_check = true;
        let mut c = Step::new("c", &journal);
        c.fail_check = true;
        q.push(Step::new("a", &journal)).push(b).push(c);
        match q.run().await {
            Err(QueueFailure::Check(f)) => {
                assert_eq!(f.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 2])
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(journal.lock().unwrap().is_empty());
    }
}
