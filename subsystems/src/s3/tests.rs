//! The s3 kind beyond the conformance suite: what two instances see of a carried publish,
//! which blobs are recorded for the collector, and bodies large enough to go up in parts.
//! Each runs when a test database and a test S3 store are configured
//! (`conformance::s3`), in a schema and a bucket prefix of its own.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;

use davd_registry::{
    Body, ByteRange, ByteStream, DavPath, Detached, LatchClaim, NamespaceManager, SharedLatches,
    WriteMode,
};

use super::*;
use crate::conformance::cluster::{SchemaGuard, fresh_schema};
use crate::conformance::s3::test_store;
use crate::postgres::{ClusterTable, PgLatches};

fn p(s: &str) -> DavPath {
    DavPath::from_segments(s.split('/').filter(|s| !s.is_empty())).unwrap()
}

fn body(bytes: impl Into<Bytes>) -> ByteStream {
    let bytes = bytes.into();
    Box::pin(futures_util::stream::once(async move { Ok(bytes) }))
}

async fn read(ns: &S3Namespace, path: &str, range: Option<ByteRange>) -> Vec<u8> {
    let opened = ns.open(&p(path)).await.unwrap();
    match opened.content.read(range).await.unwrap() {
        Body::Empty => Vec::new(),
        Body::Full(bytes) => bytes.to_vec(),
        Body::Stream(mut stream) => {
            let mut all = Vec::new();
            while let Some(chunk) = stream.next().await {
                all.extend_from_slice(&chunk.unwrap());
            }
            all
        }
    }
}

/// Two instances of one s3 namespace (two clusters on one schema, one bucket prefix).
async fn two_instances() -> Option<(S3Namespace, S3Namespace, SchemaGuard)> {
    let store = test_store()?;
    let url = crate::conformance::cluster::test_database()?;
    let schema = fresh_schema();
    let cluster: ClusterTable =
        toml::from_str(&format!("database = \"{url}\"\nschema = \"{schema}\"\n")).unwrap();
    let cluster = cluster.check(None).unwrap();
    // No grace: what is unreferenced is due at once, when a test calls the collector.
    let settings = store.settings_at(&crate::conformance::s3::fresh_prefix());
    let a = Cluster::open(&cluster, "a").await.unwrap();
    let b = Cluster::open(&cluster, "b").await.unwrap();
    let a = S3Namespace::open(a, &settings).await.unwrap();
    let b = S3Namespace::open(b, &settings).await.unwrap();
    Some((a, b, SchemaGuard { url, schema }))
}

/// The blob the row at `path` names.
async fn blob_of(ns: &S3Namespace, path: &str) -> String {
    ns.row(&p(path)).await.unwrap().unwrap().1.unwrap()
}

/// The blobs recorded for the collector.
async fn unreferenced(ns: &S3Namespace) -> Vec<String> {
    let rows = ns
        .cluster
        .query(
            "SELECT blob FROM davd_s3_unreferenced WHERE store = $1 ORDER BY blob",
            &[&ns.store],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// A publish inside the latches' transaction is seen by another instance only once the
/// latches commit, and never when they are dropped instead (an instance that lost its
/// latch cannot publish); the dropped upload stays recorded for the collector.
#[tokio::test]
async fn a_carried_publish_waits_for_the_latches_commit() {
    let Some((a, b, _guard)) = two_instances().await else {
        return;
    };
    let latches = PgLatches::new(a.cluster.clone());
    let claim = [LatchClaim {
        path: p("/f"),
        deep: false,
    }];
    a.write(&p("/f"), body("old"), WriteMode::Replace)
        .await
        .unwrap();
    davd_registry::carrying(async {
        let held = latches.acquire(&claim).await.unwrap();
        let staged = a.stage(&p("/f"), body("new")).await.unwrap();
        a.publish(staged).await.unwrap();
        assert_eq!(read(&b, "/f", None).await, b"old", "not yet committed");
        held.commit().await.unwrap();
    })
    .await;
    assert_eq!(read(&b, "/f", None).await, b"new");

    let staged_blob = davd_registry::carrying(async {
        let held = latches.acquire(&claim).await.unwrap();
        let staged = a.stage(&p("/f"), body("lost")).await.unwrap();
        let blob = staged.handle.clone();
        a.publish(staged).await.unwrap();
        drop(held);
        blob
    })
    .await;
    // Once b gets the latch, a's transaction has ended.
    drop(
        PgLatches::new(b.cluster.clone())
            .acquire(&claim)
            .await
            .unwrap(),
    );
    assert_eq!(read(&b, "/f", None).await, b"new");
    assert!(unreferenced(&b).await.contains(&staged_blob));
}

/// In the latches' transaction each change of several rows is a unit of its own: one that
/// fails (a MOVE onto a row that exists, which the executive would have refused) takes back
/// only itself, the request's other changes stay and commit with the latches, and nothing
/// of any of them is seen by another instance before.
#[tokio::test]
async fn a_failed_change_takes_back_only_itself_in_the_carried_transaction() {
    let Some((a, b, _guard)) = two_instances().await else {
        return;
    };
    a.write(&p("/x"), body("x"), WriteMode::Replace)
        .await
        .unwrap();
    a.write(&p("/y"), body("y"), WriteMode::Replace)
        .await
        .unwrap();
    let latches = PgLatches::new(a.cluster.clone());
    let claim = [LatchClaim {
        path: p("/"),
        deep: true,
    }];
    davd_registry::carrying(async {
        let held = latches.acquire(&claim).await.unwrap();
        a.create_collection(&p("/c")).await.unwrap();
        let refused = a.rename(&p("/x"), &p("/y")).await.err().unwrap();
        assert_eq!(
            refused.status,
            davd_registry::StatusCode::INTERNAL_SERVER_ERROR
        );
        a.copy_file(&p("/x"), &p("/c/x")).await.unwrap();
        a.detach(&p("/y"), "t").await.unwrap();
        assert!(
            b.stat(&p("/c")).await.unwrap().is_none(),
            "not yet committed"
        );
        assert!(
            b.stat(&p("/y")).await.unwrap().is_some(),
            "not yet committed"
        );
        held.commit().await.unwrap();
    })
    .await;
    assert_eq!(
        read(&b, "/x", None).await,
        b"x",
        "the failed move kept nothing"
    );
    assert_eq!(read(&b, "/c/x", None).await, b"x");
    assert!(b.stat(&p("/y")).await.unwrap().is_none());
    assert!(b.is_detached("t").await.unwrap());

    // Dropped latches take every unit back with them.
    davd_registry::carrying(async {
        let held = latches.acquire(&claim).await.unwrap();
        a.rename(&p("/c"), &p("/d")).await.unwrap();
        a.restore(Detached {
            path: p("/y"),
            handle: "t".to_owned(),
        })
        .await
        .unwrap();
        drop(held);
    })
    .await;
    drop(
        PgLatches::new(b.cluster.clone())
            .acquire(&claim)
            .await
            .unwrap(),
    );
    assert!(b.stat(&p("/c/x")).await.unwrap().is_some());
    assert!(b.stat(&p("/d")).await.unwrap().is_none());
    assert!(b.stat(&p("/y")).await.unwrap().is_none());
}

/// An instance whose latches' connection is gone (terminated, as PostgreSQL ends the
/// connection of an instance that died) changes nothing: the change is a 503 and the
/// latches' commit fails.
#[tokio::test]
async fn a_change_after_the_latch_was_lost_is_refused() {
    let Some((a, b, _guard)) = two_instances().await else {
        return;
    };
    a.write(&p("/x"), body("x"), WriteMode::Replace)
        .await
        .unwrap();
    let latches = PgLatches::new(a.cluster.clone());
    let claim = [LatchClaim {
        path: p("/x"),
        deep: true,
    }];
    davd_registry::carrying(async {
        let held = latches.acquire(&claim).await.unwrap();
        held.granted().await.unwrap();
        // The latches' connection, asked on itself (other tests' instances are named
        // "a" too).
        let own = a
            .cluster
            .query("SELECT pg_backend_pid()", &[])
            .await
            .unwrap();
        let pid: i32 = own[0].get(0);
        b.cluster
            .query("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap();
        let refused = a.detach(&p("/x"), "lost").await.err().unwrap();
        assert_eq!(
            refused.status,
            davd_registry::StatusCode::SERVICE_UNAVAILABLE
        );
        let e = held.commit().await.err().unwrap();
        assert_eq!(e.status, davd_registry::StatusCode::SERVICE_UNAVAILABLE);
    })
    .await;
    assert_eq!(read(&b, "/x", None).await, b"x");
    assert!(!b.is_detached("lost").await.unwrap());
}

/// A copy names the same blob; replacing one of the two does not release it, removing the
/// last row that names it does; a blob whose upload was discarded is gone from the records.
#[tokio::test]
async fn blobs_no_row_names_are_recorded_for_the_collector() {
    let Some((ns, _other, _guard)) = two_instances().await else {
        return;
    };
    ns.write(&p("/a"), body("shared"), WriteMode::Replace)
        .await
        .unwrap();
    let shared = blob_of(&ns, "/a").await;
    ns.copy_file(&p("/a"), &p("/b")).await.unwrap();
    assert_eq!(blob_of(&ns, "/b").await, shared, "nothing was copied in S3");

    let mut staged = ns.stage(&p("/a"), body("own")).await.unwrap();
    staged.keep_previous = false;
    let receipt = ns.publish(staged).await.unwrap();
    assert!(receipt.previous.is_none());
    assert_eq!(read(&ns, "/b", None).await, b"shared");
    assert!(
        !unreferenced(&ns).await.contains(&shared),
        "/b still names it"
    );

    let detached = ns.detach(&p("/b"), "gone").await.unwrap();
    assert!(
        !unreferenced(&ns).await.contains(&shared),
        "a detached row can be restored"
    );
    ns.purge(detached).await.unwrap();
    assert_eq!(unreferenced(&ns).await, [shared]);

    let staged = ns.stage(&p("/c"), body("never")).await.unwrap();
    let blob = staged.handle.clone();
    assert!(unreferenced(&ns).await.contains(&blob));
    ns.discard(staged).await.unwrap();
    assert!(!unreferenced(&ns).await.contains(&blob));
}

/// The collector removes the objects of blobs no row names, and their records, and leaves
/// every blob a row names; an upload it collected before its publish cannot be published
/// (the tree never names a removed object).
#[tokio::test]
async fn the_collector_removes_unreferenced_blobs_and_only_those() {
    let Some((ns, _other, _guard)) = two_instances().await else {
        return;
    };
    ns.write(&p("/kept"), body("kept"), WriteMode::Replace)
        .await
        .unwrap();
    ns.write(&p("/gone"), body("gone"), WriteMode::Replace)
        .await
        .unwrap();
    ns.copy_file(&p("/kept"), &p("/copy")).await.unwrap();
    let gone = blob_of(&ns, "/gone").await;
    let detached = ns.detach(&p("/gone"), "t").await.unwrap();
    ns.purge(detached).await.unwrap();
    let late = ns.stage(&p("/late"), body("late")).await.unwrap();
    assert_eq!(unreferenced(&ns).await.len(), 2);

    assert_eq!(ns.collect().await.unwrap(), 2);
    assert!(unreferenced(&ns).await.is_empty());
    let missing = ns.blobs.read(&gone, None).await.err().unwrap();
    assert_eq!(
        missing.status,
        davd_registry::StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(read(&ns, "/kept", None).await, b"kept");
    assert_eq!(read(&ns, "/copy", None).await, b"kept");

    let refused = ns.publish(late).await.err().unwrap();
    assert_eq!(
        refused.status,
        davd_registry::StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(ns.stat(&p("/late")).await.unwrap().is_none());
    assert_eq!(ns.collect().await.unwrap(), 0, "nothing left to remove");
}

/// A body past one part goes up as a multipart upload in a stream of small chunks, and
/// reads back whole and in a range across a part boundary.
#[tokio::test]
async fn a_large_body_goes_up_in_parts_and_reads_back_in_ranges() {
    let Some((ns, _other, _guard)) = two_instances().await else {
        return;
    };
    const CHUNK: usize = 64 * 1024;
    let parts = 2 * PART_SIZE + 12_345;
    let byte = |i: usize| (i % 251) as u8;
    let chunks = futures_util::stream::iter((0..parts).step_by(CHUNK).map(move |start| {
        let end = (start + CHUNK).min(parts);
        Ok(Bytes::from((start..end).map(byte).collect::<Vec<u8>>()))
    }));
    let receipt = ns
        .write(&p("/big"), Box::pin(chunks), WriteMode::Replace)
        .await
        .unwrap();
    assert_eq!(receipt.meta.len, parts as u64);
    let whole = read(&ns, "/big", None).await;
    assert_eq!(whole.len(), parts);
    assert!(whole.iter().enumerate().all(|(i, b)| *b == byte(i)));
    let (start, end) = (PART_SIZE as u64 - 10, PART_SIZE as u64 + 10);
    let range = read(&ns, "/big", Some(ByteRange { start, end })).await;
    let expected: Vec<u8> = (start as usize..=end as usize).map(byte).collect();
    assert_eq!(range, expected);
}

/// The namespace's contract is shared with the other kinds' (`Arc<dyn NamespaceManager>`).
#[test]
fn the_namespace_is_a_namespace_manager() {
    fn shared(_: Option<Arc<dyn NamespaceManager>>) {}
    shared(None::<Arc<S3Namespace>>.map(|n| n as Arc<dyn NamespaceManager>));
}
