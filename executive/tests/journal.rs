//! A journaled queue writes its plan before it touches storage, its progress at the commit
//! point, and removes the record when it is done or wholly undone; recovery finishes a
//! committed record and undoes any other (docs/adr/0017-crash-safety.md). Driven directly,
//! with in-memory stores and a journal that keeps every version of every record.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, stream};

use davd_executive::commands::commit::CommitState;
use davd_executive::commands::namespace::Detach;
use davd_executive::commands::properties::RemoveTreeProperties;
use davd_executive::intent::{IntentRecord, Step};
use davd_executive::queue::{Command, CommandQueue, Effects};
use davd_executive::recovery::{self, Outcome};
use davd_executive::{DavError, DavResult, Executive, ExecutiveConfig};
use davd_protocol::{DavPath, PropName};
use davd_registry::{
    Journal, Mount, NamespaceManager, PropChange, PropertyManager, Registry, StoredProp,
    SubsystemResult, WriteMode,
};
use davd_subsystems::journal::MemoryJournal;
use davd_subsystems::memory::{MemoryLocks, MemoryNamespace, MemoryProperties};

/// A journal that remembers what was written, in order.
#[derive(Default)]
struct Recording {
    inner: MemoryJournal,
    log: Mutex<Vec<(String, Option<IntentRecord>)>>,
}

#[async_trait]
impl Journal for Recording {
    fn kind(&self) -> &'static str {
        "recording"
    }
    async fn write(&self, id: &str, record: &[u8]) -> SubsystemResult<()> {
        let parsed = IntentRecord::from_bytes(record).unwrap();
        self.log.lock().unwrap().push((id.to_owned(), Some(parsed)));
        self.inner.write(id, record).await
    }
    async fn remove(&self, id: &str) -> SubsystemResult<()> {
        self.log.lock().unwrap().push((id.to_owned(), None));
        self.inner.remove(id).await
    }
    async fn pending(&self) -> SubsystemResult<Vec<(String, Vec<u8>)>> {
        self.inner.pending().await
    }
}

struct Setup {
    exec: Arc<Executive>,
    journal: Arc<Recording>,
    namespace: Arc<dyn NamespaceManager>,
    properties: Arc<dyn PropertyManager>,
}

fn p(s: &str) -> DavPath {
    DavPath::parse_url_path(s).unwrap().0
}

fn colour() -> PropName {
    PropName::new("urn:t", "colour")
}

async fn setup() -> Setup {
    let namespace: Arc<dyn NamespaceManager> = Arc::new(MemoryNamespace::new());
    let properties: Arc<dyn PropertyManager> = Arc::new(MemoryProperties::new());
    let registry = Registry::new(vec![(
        DavPath::root(),
        Mount {
            namespace: Some(namespace.clone()),
            properties: Some(properties.clone()),
            locks: Some(Arc::new(MemoryLocks::new())),
            live: Vec::new(),
            access: None,
        },
    )])
    .unwrap();
    let journal = Arc::new(Recording::default());
    let exec = Executive::new(
        Arc::new(registry),
        ExecutiveConfig::default(),
        journal.clone(),
    );
    namespace.create_collection(&p("/a")).await.unwrap();
    let body = stream::once(async { Ok(Bytes::from_static(b"x")) }).boxed();
    namespace
        .write(&p("/a/f"), body, WriteMode::Replace)
        .await
        .unwrap();
    properties
        .set(
            &p("/a/f"),
            StoredProp {
                name: colour(),
                xml: "<colour xmlns=\"urn:t\">red</colour>".into(),
            },
        )
        .await
        .unwrap();
    Setup {
        exec,
        journal,
        namespace,
        properties,
    }
}

/// A DELETE's queue, as `methods/delete.rs` builds it.
async fn delete_queue(s: &Setup, then: Option<Failing>) -> CommandQueue {
    let latch = s.exec.latches.acquire(vec![]).await;
    let mut queue = CommandQueue::journaled(s.exec.clone(), "DELETE", &p("/a"), latch);
    let subsystems = s.exec.registry.resolve(&p("/a"));
    queue.push(Detach::new(&subsystems, &p("/a")));
    queue.push(RemoveTreeProperties::new(s.properties.clone(), p("/a")));
    queue.push(CommitState::durable());
    if let Some(failing) = then {
        queue.push(failing);
    }
    queue
}

/// A command that fails when it executes.
struct Failing;

#[async_trait]
impl Command for Failing {
    fn describe(&self) -> String {
        "fail".into()
    }
    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        Err(DavError::internal("injected"))
    }
    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_plan_is_written_first_then_the_commit_then_the_record_goes() {
    let s = setup().await;
    delete_queue(&s, None).await.run().await.unwrap();
    assert!(s.namespace.stat(&p("/a")).await.unwrap().is_none());
    assert!(
        s.properties
            .get(&p("/a/f"), &colour())
            .await
            .unwrap()
            .is_none()
    );
    let log = s.journal.log.lock().unwrap().clone();
    let records: Vec<&IntentRecord> = log.iter().filter_map(|(_, r)| r.as_ref()).collect();
    assert_eq!(records.len(), 3, "plan, commit plan, committed");
    let Step::Detach { path, tag } = &records[0].steps[0] else {
        panic!("the first step is the detach: {:?}", records[0].steps)
    };
    assert_eq!(*path, p("/a"));
    assert!(!tag.is_empty());
    assert!(records[0].commit.is_none() && !records[0].committed);
    assert!(records[1].commit.is_some() && !records[1].committed);
    assert!(records[2].committed);
    assert_eq!(log.last().unwrap().1, None, "the record is removed last");
    assert!(s.journal.pending().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failure_after_the_commit_undoes_everything_and_removes_the_record() {
    let s = setup().await;
    let failure = delete_queue(&s, Some(Failing)).await.run().await;
    assert!(failure.is_err());
    assert!(s.namespace.stat(&p("/a/f")).await.unwrap().is_some());
    assert_eq!(
        s.properties
            .get(&p("/a/f"), &colour())
            .await
            .unwrap()
            .unwrap()
            .xml,
        "<colour xmlns=\"urn:t\">red</colour>",
        "the commit was reverted"
    );
    assert!(s.journal.pending().await.unwrap().is_empty());
}

#[tokio::test]
async fn recovery_undoes_an_uncommitted_record_and_finishes_a_committed_one() {
    // Crash after the detach, before the commit: the tree comes back.
    let s = setup().await;
    let detached = s.namespace.detach(&p("/a"), "tag-1").await.unwrap();
    let mut record = IntentRecord {
        format: davd_executive::intent::FORMAT,
        id: "rec-1".into(),
        method: "DELETE".into(),
        path: p("/a"),
        steps: vec![Step::Detach {
            path: p("/a"),
            tag: detached.handle.clone(),
        }],
        commit: None,
        committed: false,
    };
    s.journal
        .write("rec-1", &record.to_bytes().unwrap())
        .await
        .unwrap();
    let recovered = recovery::recover(&s.exec).await.unwrap();
    assert_eq!(recovered[0].outcome, Outcome::Undone);
    assert!(s.namespace.stat(&p("/a/f")).await.unwrap().is_some());
    assert!(s.journal.pending().await.unwrap().is_empty());

    // Crash after the commit, before the purge: the removal is finished.
    s.namespace.detach(&p("/a"), "tag-2").await.unwrap();
    s.properties
        .apply(
            &[PropChange::RemoveTree { path: p("/a") }],
            davd_registry::Marker::Record("rec-2"),
        )
        .await
        .unwrap();
    record.id = "rec-2".into();
    record.steps = vec![Step::Detach {
        path: p("/a"),
        tag: "tag-2".into(),
    }];
    record.committed = true;
    s.journal
        .write("rec-2", &record.to_bytes().unwrap())
        .await
        .unwrap();
    let recovered = recovery::recover(&s.exec).await.unwrap();
    assert_eq!(recovered[0].outcome, Outcome::Finished);
    assert!(s.namespace.stat(&p("/a")).await.unwrap().is_none());
    assert!(!s.namespace.is_detached("tag-2").await.unwrap(), "purged");
    assert!(
        s.properties
            .get(&p("/a/f"), &colour())
            .await
            .unwrap()
            .is_none()
    );
}
