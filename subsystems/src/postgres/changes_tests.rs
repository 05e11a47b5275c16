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

/// Instances append at once, many times, while a reader follows the log: each append's
/// entries are consecutive and in its order, every seq from 1 is taken once, and the reader
/// never finds an entry appear behind one it has already seen.
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
    let total = (2 * PER_INSTANCE * EACH * 2) as u64;
    let reader = {
        let log = Arc::new(PgChangeLog::new(a));
        let start = start.clone();
        tokio::spawn(async move {
            let mut from = start;
            while from.seq < total {
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
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    for pair in changes.chunks(2) {
        assert_eq!(pair[0].change.path, pair[1].change.path, "an append split");
        assert_eq!(
            (pair[0].change.kind, pair[1].change.kind),
            (ChangeKind::Resource, ChangeKind::Tree),
            "an append out of order"
        );
    }
    for instance in 0..2 {
        for w in 0..PER_INSTANCE {
            let prefix = format!("/i{instance}w{w}/");
            let mine: Vec<&str> = changes
                .iter()
                .step_by(2)
                .map(|c| c.change.path.as_str())
                .filter(|p| p.starts_with(&prefix))
                .collect();
            let expected: Vec<String> = (0..EACH).map(|i| format!("{prefix}{i}")).collect();
            assert_eq!(mine, expected, "{prefix}");
        }
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
