//! What only the sled namespace does: content in chunks (of sizes older versions chose too),
//! chunks freed when content goes, recovery on reopening, tree-wide work off the connection's
//! thread. The contract every namespace keeps is checked by the conformance suite
//! (`crate::conformance`).
use davd_registry::ByteRange;

use super::super::state::reopen_state;
use super::super::{StateOptions, open_state};
use super::chunks::chunk_key;
use super::*;
use crate::conformance::support::{body, mkcol, path as p, put, read, read_range};

fn open() -> (SledNamespace, StateDb) {
    let db = StateDb::temporary().unwrap();
    (SledNamespace::open(&db, "/t").unwrap(), db)
}

/// Content written before the chunk size was recorded (64 KiB chunks, a node without
/// `chunk`) still reads back, and a segment written into it lands in those chunks.
#[tokio::test]
async fn content_in_legacy_64k_chunks_still_reads_and_takes_segments() {
    let (ns, _db) = open();
    let data: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let content = 7u64;
    for (index, piece) in data.chunks(64 * 1024).enumerate() {
        ns.data
            .insert(chunk_key(content, index as u64), piece)
            .unwrap();
    }
    let legacy = format!(
        r#"{{"collection":false,"len":{},"created":[1,0],"modified":[1,0],"version":1,"content":{content}}}"#,
        data.len()
    );
    ns.nodes
        .insert(node_key_on(LIVE, &p("/old")), legacy.as_bytes())
        .unwrap();
    assert_eq!(read(&ns, "/old").await, data);
    let r = ByteRange {
        start: 65_530,
        end: 131_080,
    };
    assert_eq!(
        read_range(&ns, "/old", Some(r)).await,
        &data[65_530..=131_080]
    );

    ns.write(
        &p("/old"),
        body(vec![b'x'; 10]),
        WriteMode::Segment {
            offset: 65_530,
            total: None,
        },
    )
    .await
    .unwrap();
    let mut expected = data.clone();
    expected[65_530..65_540].fill(b'x');
    assert_eq!(read(&ns, "/old").await, expected);
}

/// Content no resource points to any more (replaced and committed, purged with its tree) gives
/// its chunks back; undone content keeps them.
#[tokio::test]
async fn chunks_go_with_the_content_that_used_them() {
    let (ns, _db) = open();
    put(&ns, "/f", "old").await;
    let receipt = ns
        .write(&p("/f"), body("new"), WriteMode::Replace)
        .await
        .unwrap();
    ns.restore(receipt.previous.unwrap()).await.unwrap();
    assert_eq!(read(&ns, "/f").await, b"old");
    assert_eq!(ns.data.len(), 1, "the undone content's chunks are gone");
    let receipt = ns
        .write(&p("/f"), body("newer"), WriteMode::Replace)
        .await
        .unwrap();
    ns.purge(receipt.previous.unwrap()).await.unwrap();
    assert_eq!(ns.data.len(), 1, "the replaced content's chunks are gone");

    mkcol(&ns, "/c").await;
    put(&ns, "/c/g", vec![7; 100_000]).await;
    let detached = ns.detach(&p("/c"), "c").await.unwrap();
    ns.purge(detached).await.unwrap();
    let detached = ns.detach(&p("/f"), "f").await.unwrap();
    ns.purge(detached).await.unwrap();
    assert_eq!(ns.data.len(), 0, "a purged tree's chunks are gone");
}

#[tokio::test]
async fn survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let options = StateOptions {
        reserve: 0,
        ballast: 0,
    };
    {
        let db = open_state(dir.path(), &options).unwrap();
        let ns = SledNamespace::open(&db, "/").unwrap();
        ns.create_collection(&p("/c")).await.unwrap();
        ns.write(&p("/c/f"), body("kept"), WriteMode::Replace)
            .await
            .unwrap();
        // A request in flight when the process died leaves a detached node behind.
        ns.detach(&p("/c/f"), "crashed").await.unwrap();
        ns.restore(ns.detach(&p("/c"), "undone").await.unwrap())
            .await
            .unwrap();
        ns.flush().await.unwrap();
    }
    // The first database's background writes may hold its lock a moment after the drop.
    let db = reopen_state(dir.path(), &options).unwrap();
    let ns = SledNamespace::open(&db, "/").unwrap();
    assert!(ns.stat(&p("/c")).await.unwrap().unwrap().collection);
    assert!(ns.stat(&p("/c/f")).await.unwrap().is_none());
    ns.restore(Detached {
        path: p("/c/f"),
        handle: "crashed".into(),
    })
    .await
    .expect("opening keeps what a crashed request detached, for recovery");
    assert_eq!(read(&ns, "/c/f").await, b"kept");
    ns.detach(&p("/c/f"), "crashed-again").await.unwrap();
    ns.discard_leftovers().await.unwrap();
    assert_eq!(ns.data.len(), 0, "leftovers and their chunks are collected");
}

/// How many times other tasks of this single-threaded runtime (a connection thread's, ADR
/// 0016) ran while `work` was awaited. Work done inline finishes in one poll and lets none
/// run; work on the blocking pool leaves the thread to them.
async fn others_ran_during<F: std::future::Future>(work: F) -> (F::Output, usize) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                ticks.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        }
    });
    let before = ticks.load(Ordering::SeqCst);
    let output = work.await;
    let ran = ticks.load(Ordering::SeqCst) - before;
    ticker.abort();
    (output, ran)
}

#[tokio::test]
async fn listings_and_tree_changes_leave_the_thread_to_other_tasks() {
    let (ns, _db) = open();
    ns.create_collection(&p("/a")).await.unwrap();
    // Big enough that each piece of work takes milliseconds: work handed to the blocking
    // pool cannot be finished before the handing-over future is first polled.
    for i in 0..2_000 {
        ns.create_collection(&p(&format!("/a/c{i}"))).await.unwrap();
    }
    let content = vec![7; 4 << 20];
    ns.write(&p("/a/f"), body(content.clone()), WriteMode::Replace)
        .await
        .unwrap();

    let (listed, others) = others_ran_during(ns.list(&p("/a"))).await;
    let mut members = listed.unwrap();
    assert_eq!(members.next().await.unwrap().unwrap().len(), 2_001);
    assert!(others > 0, "list ran inline");

    let (copied, others) = others_ran_during(ns.copy_file(&p("/a/f"), &p("/g"))).await;
    copied.unwrap();
    assert!(others > 0, "copy_file ran inline");
    assert_eq!(read(&ns, "/g").await, content);

    let (renamed, others) = others_ran_during(ns.rename(&p("/a"), &p("/b"))).await;
    renamed.unwrap();
    assert!(others > 0, "rename ran inline");
    assert!(ns.stat(&p("/b/c1999")).await.unwrap().is_some());

    let (detached, others) = others_ran_during(ns.detach(&p("/b"), "b")).await;
    let detached = detached.unwrap();
    assert!(others > 0, "detach ran inline");
    assert!(ns.stat(&p("/b")).await.unwrap().is_none());

    let (restored, others) = others_ran_during(ns.restore(detached)).await;
    restored.unwrap();
    assert!(others > 0, "restore ran inline");
    assert!(ns.stat(&p("/b/f")).await.unwrap().is_some());

    let gone = ns.detach(&p("/g"), "g").await.unwrap();
    let (purged, others) = others_ran_during(ns.purge(gone)).await;
    purged.unwrap();
    assert!(others > 0, "purge ran inline");
    assert!(ns.stat(&p("/g")).await.unwrap().is_none());

    let staged = ns.stage(&p("/h"), body(content)).await.unwrap();
    let (discarded, others) = others_ran_during(ns.discard(staged)).await;
    discarded.unwrap();
    assert!(others > 0, "discard ran inline");
    assert!(ns.stat(&p("/h")).await.unwrap().is_none());
}
