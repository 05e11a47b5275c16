//! What only the database's change log does: one log for every instance, appends from
//! several instances at once without gaps, a 503 when the database is gone. The contract
//! every log keeps is checked by the conformance suite (`crate::conformance::changes`).
//!
//! Cases that need a database run when `DAVD_TEST_DATABASE_URL` is set (`super::tests`).

use std::sync::Arc;
use std::time::Duration;

use davd_registry::{ChangeKind, StatusCode};

use super::*;
use crate::conformance::cluster::{SchemaGuard, fresh_schema, test_database};
use crate::conformance::support::path;
use crate::postgres::ClusterTable;

fn settings(url: &str, schema: &str) -> crate::postgres::ClusterSettings {
    let text = format!("database = \"{url}\"\nschema = \"{schema}\"\n");
    let table: ClusterTable = toml::from_str(&text).unwrap();
    table.check(None).unwrap()
}

/// Two instances on a fresh schema, dropped with the guard.
async fn two_instances(url: String) -> (Cluster, Cluster, SchemaGuard) {
    let schema = fresh_schema();
    let settings = settings(&url, &schema);
    let a = Cluster::open(&settings, "a").await.unwrap();
    let b = Cluster::open(&settings, "b").await.unwrap();
    (a, b, SchemaGuard { url, schema })
}

fn change(at: &str, kind: ChangeKind) -> Change {
    Change {
        path: path(at),
        kind,
    }
}

#[tokio::test]
async fn every_instance_reads_one_log_with_one_epoch() {
    let Some(url) = test_database() else { return };
    let (a, b, _guard) = two_instances(url).await;
    let (log_a, log_b) = (PgChangeLog::new(a.clone()), PgChangeLog::new(b));
    let start = log_b.current().await.unwrap();
    log_a
        .record(&[change("/x", ChangeKind::Resource)])
        .await
        .unwrap();
    let end = log_b.current().await.unwrap();
    assert_eq!((end.epoch.as_str(), end.seq), (start.epoch.as_str(), 1));
    let Since::Changes { changes, .. } = log_b.since(&start, &DavPath::root(), 10).await.unwrap()
    else {
        panic!("unknown");
    };
    assert_eq!(changes[0].change.path, path("/x"));
    // A new start of an instance (a log made afresh) keeps the epoch: tokens outlive it.
    assert_eq!(PgChangeLog::new(a).current().await.unwrap(), end);
}

/// Instances append at once, many times, while a reader follows the log: every seq from 1
/// is taken once, the reader never finds an entry appear behind one it has already seen, and
/// each append is in the log whole, its entries consecutive and in its order, in the order
/// its writer made them (an append that lost a race for seqs may also leave some of its
/// entries earlier, which a report reads as a path named twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_from_two_instances_leave_no_gap() {
    const PER_INSTANCE: usize = 4;
    const EACH: usize = 40;
    let Some(url) = test_database() else { return };
    let (a, b, _guard) = two_instances(url).await;
    let logs = [
        Arc::new(PgChangeLog::new(a.clone())),
        Arc::new(PgChangeLog::new(b)),
    ];
    let start = logs[0].current().await.unwrap();
    let mut writers = Vec::new();
    for (instance, log) in logs.iter().enumerate() {
        for w in 0..PER_INSTANCE {
            let log = log.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..EACH {
                    let at = format!("/i{instance}w{w}/{i}");
                    log.record(&[
                        change(&at, ChangeKind::Resource),
                        change(&at, ChangeKind::Tree),
                    ])
                    .await
                    .unwrap();
                }
            }));
        }
    }
    // Set to the log's end once every writer is done: the reader follows until it.
    let end = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = {
        let log = Arc::new(PgChangeLog::new(a));
        let (start, end) = (start.clone(), end.clone());
        tokio::spawn(async move {
            let mut from = start;
            loop {
                let target = end.load(std::sync::atomic::Ordering::Acquire);
                if target != 0 && from.seq >= target {
                    break;
                }
                let Since::Changes { changes, upto, .. } =
                    log.since(&from, &DavPath::root(), 25).await.unwrap()
                else {
                    panic!("{from:?} is unknown");
                };
                for (expected, entry) in (from.seq + 1..).zip(&changes) {
                    assert_eq!(entry.seq, expected, "a gap after {}", from.seq);
                }
                from = upto;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    let last = logs[1].current().await.unwrap().seq;
    end.store(last, std::sync::atomic::Ordering::Release);
    tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the reader reaches the end")
        .unwrap();
    let Since::Changes { changes, more, .. } = logs[1]
        .since(&start, &DavPath::root(), usize::MAX)
        .await
        .unwrap()
    else {
        panic!("unknown");
    };
    assert!(!more);
    let seqs: Vec<u64> = changes.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    // Where each path's append went in whole: a Resource entry followed by its Tree entry.
    let whole = |at: &str| {
        changes.windows(2).position(|pair| {
            pair[0].change == change(at, ChangeKind::Resource)
                && pair[1].change == change(at, ChangeKind::Tree)
        })
    };
    for instance in 0..2 {
        for w in 0..PER_INSTANCE {
            let mut previous = None;
            for i in 0..EACH {
                let at = format!("/i{instance}w{w}/{i}");
                let place = whole(&at).unwrap_or_else(|| panic!("{at} is not in whole"));
                assert!(
                    previous < Some(place),
                    "{at} went in before its writer's earlier one"
                );
                previous = Some(place);
            }
        }
    }
}

/// Many requests of one instance at once: its appends go out one group at a time, so they
/// never race each other for seqs, and every entry is in the log once, its append whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_of_one_instance_never_race_each_other() {
    let Some(url) = test_database() else { return };
    let (a, _b, _guard) = two_instances(url).await;
    let log = Arc::new(PgChangeLog::new(a));
    let start = log.current().await.unwrap();
    let mut writers = Vec::new();
    for w in 0..32 {
        let log = log.clone();
        writers.push(tokio::spawn(async move {
            let at = format!("/w{w}");
            log.record(&[
                change(&at, ChangeKind::Resource),
                change(&at, ChangeKind::Tree),
            ])
            .await
            .unwrap();
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let Since::Changes { changes, .. } = log
        .since(&start, &DavPath::root(), usize::MAX)
        .await
        .unwrap()
    else {
        panic!("unknown");
    };
    // One instance never races itself for seqs: each entry is there once.
    assert_eq!(changes.len(), 64);
    for pair in changes.chunks(2) {
        assert_eq!(pair[0].change.path, pair[1].change.path, "an append split");
        assert_eq!(
            (pair[0].change.kind, pair[1].change.kind),
            (ChangeKind::Resource, ChangeKind::Tree)
        );
    }
}

#[tokio::test]
async fn a_log_on_a_database_that_cannot_be_reached_is_a_503() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let text = format!("database = \"postgres://davd@127.0.0.1:{port}/davd\"\n");
    let table: ClusterTable = toml::from_str(&text).unwrap();
    let cluster = Cluster::new(&table.check(None).unwrap(), "a").unwrap();
    let log = PgChangeLog::new(cluster);
    let e = log
        .record(&[change("/x", ChangeKind::Resource)])
        .await
        .unwrap_err();
    assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    let e = log.current().await.unwrap_err();
    assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    let point = SyncPoint {
        epoch: "e".into(),
        seq: 0,
    };
    let e = log.since(&point, &DavPath::root(), 1).await.unwrap_err();
    assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE, "{e}");
}

/// A request whose entries an append in flight took with its group returns with that
/// append's answer, while the turn is still held: it does not queue for the turn only to
/// find its answer there (each such hand-over woke another connection thread in turn).
#[tokio::test]
async fn an_entry_taken_by_a_group_is_answered_without_the_turn() {
    // Never connects: the epoch is taken as known and the group's append is played here.
    let text = "database = \"postgres://davd@127.0.0.1:1/davd\"\n";
    let table: ClusterTable = toml::from_str(text).unwrap();
    let log = Arc::new(PgChangeLog::new(
        Cluster::new(&table.check(None).unwrap(), "a").unwrap(),
    ));
    log.has_epoch.store(true, Ordering::Release);
    // An append in flight holds the turn.
    let in_flight = log.turn.lock().await;
    let waiting = tokio::spawn({
        let log = log.clone();
        async move { log.record(&[change("/x", ChangeKind::Resource)]).await }
    });
    // The request queues its entry and waits.
    while queued(&log.queue).is_empty() {
        tokio::task::yield_now().await;
    }
    // The append in flight takes the queue with it and answers.
    for entry in std::mem::take(&mut *queued(&log.queue)) {
        let _ = entry.done.send(Ok(()));
    }
    // Bounded so that a request still queued for the turn fails the test instead of hanging
    // it: the turn is let go only after.
    let answered = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("answered while the turn is held")
        .unwrap();
    assert!(answered.is_ok(), "{answered:?}");
    drop(in_flight);
}
