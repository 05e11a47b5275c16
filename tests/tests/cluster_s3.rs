//! Three davd processes A, B and C serve one s3 namespace (issue 21): the tree in one
//! PostgreSQL, the bytes in one bucket prefix, nothing shared on disk. What only this
//! deployment needs checking beyond `cluster.rs` (whose namespace and latch tests run on s3
//! too): a body written through one instance is read whole through the others, a MOVE through
//! one is seen at once by the others and moves no object, and PUTs of one path racing through
//! all three leave one body, with every other blob recorded for the collector, none lost.
//!
//! They need a database and the test S3 store (`DAVD_TEST_DATABASE_URL`,
//! `DAVD_TEST_S3_ENDPOINT`); without them they pass after a loud line, and `.ci/run` sets
//! `DAVD_REQUIRE_CLUSTER_TESTS` and `DAVD_REQUIRE_S3_TESTS` so that in CI they must run.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use futures_util::StreamExt;
use reqwest::StatusCode;

use davd_tests::Multistatus;
use davd_tests::cluster::{Cluster, Kind};

const BINARY: &str = env!("CARGO_BIN_EXE_davd-node");
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

async fn three() -> Option<Cluster> {
    Cluster::start_kind(BINARY, &["a", "b", "c"], "", Kind::S3).await
}

/// The store's name in the `davd_s3_*` tables.
fn store(cluster: &Cluster) -> String {
    cluster.s3.as_ref().unwrap().store_name()
}

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

/// The blob the row of the file `name` in the collection `dir` (`/`, `/moved/`) names.
async fn blob_of(cluster: &Cluster, dir: &str, name: &str) -> String {
    let rows = cluster
        .database()
        .await
        .query(
            "SELECT blob FROM davd_s3_tree WHERE store = $1 AND dir = $2 AND name = $3",
            &[&store(cluster), &dir, &name],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one row for {dir}{name}");
    rows[0].get::<_, Option<String>>(0).unwrap()
}

/// The blobs recorded as unreferenced, for the collector.
async fn unreferenced(cluster: &Cluster) -> BTreeSet<String> {
    cluster
        .database()
        .await
        .query(
            "SELECT blob FROM davd_s3_unreferenced WHERE store = $1",
            &[&store(cluster)],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The bytes of the object `blob`, read from the bucket itself.
async fn object(cluster: &Cluster, blob: &str) -> Vec<u8> {
    let blobs = cluster.s3.as_ref().unwrap().blobs();
    let mut stream = blobs.read(blob, None).await.unwrap();
    let mut all = Vec::new();
    while let Some(chunk) = stream.next().await {
        all.extend_from_slice(&chunk.unwrap());
    }
    all
}

/// The members' hrefs of a Depth 1 PROPFIND of `path` through `node`, sorted; `None` if 404.
async fn listing(cluster: &Cluster, node: usize, path: &str) -> Option<Vec<String>> {
    let response = cluster
        .request(node, "PROPFIND", path)
        .header("Depth", "1")
        .send()
        .await
        .unwrap();
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(response.status(), StatusCode::MULTI_STATUS);
    let text = response.text().await.unwrap();
    Some(Multistatus::parse(&text).sorted_hrefs())
}

/// A body of 9 MiB and a bit (more than one 8 MiB part: a multipart upload) put through A
/// is read whole through B and C, with the entity tag A answered, and a range of it too.
#[tokio::test]
async fn a_put_through_one_instance_is_read_whole_through_the_others() {
    let Some(cluster) = three().await else { return };
    let body: Vec<u8> = (0..9 * 1024 * 1024 + 4321u32)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 11)) as u8)
        .collect();
    let put = cluster
        .request(A, "PUT", "/big.bin")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let tag = etag(&put);
    for node in [B, C] {
        let got = cluster
            .request(node, "GET", "/big.bin")
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK, "through instance {node}");
        assert_eq!(etag(&got), tag, "through instance {node}");
        let read = got.bytes().await.unwrap();
        assert_eq!(read.len(), body.len(), "through instance {node}");
        assert!(read == body, "the bytes differ through instance {node}");
    }
    let range = cluster
        .request(C, "GET", "/big.bin")
        .header("Range", "bytes=8388600-8388615")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        range.bytes().await.unwrap().as_ref(),
        &body[8_388_600..=8_388_615],
        "a range across the first part's end"
    );
    // The row names one object, which holds the whole body.
    let blob = blob_of(&cluster, "/", "big.bin").await;
    assert!(
        object(&cluster, &blob).await == body,
        "the object in the bucket"
    );
}

/// A MOVE of a collection through B is seen by A and C at their next request: the old
/// names are gone, the new ones list and read, with their entity tags; no object was copied
/// (the rows name the same blobs). A DELETE through C then records the blobs for the
/// collector, and A no longer finds them.
#[tokio::test]
async fn a_move_of_a_collection_through_one_instance_is_seen_at_once_by_the_others() {
    let Some(cluster) = three().await else { return };
    for path in ["/col", "/col/sub"] {
        let made = cluster.request(A, "MKCOL", path).send().await.unwrap();
        assert_eq!(made.status(), StatusCode::CREATED, "{path}");
    }
    let mut tags = Vec::new();
    for (path, text) in [("/col/a.txt", "alpha"), ("/col/sub/b.txt", "beta")] {
        let put = cluster
            .request(A, "PUT", path)
            .body(text)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::CREATED, "{path}");
        tags.push(etag(&put));
    }
    let blobs_before = [
        blob_of(&cluster, "/col/", "a.txt").await,
        blob_of(&cluster, "/col/sub/", "b.txt").await,
    ];
    // A and C have looked at the collection before it moves.
    for node in [A, C] {
        let seen = listing(&cluster, node, "/col/").await.unwrap();
        assert_eq!(seen, ["/col/", "/col/a.txt", "/col/sub/"]);
    }

    let moved = cluster
        .request(B, "MOVE", "/col")
        .header("Destination", cluster.url(B, "/moved"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::CREATED);
    for node in [A, C] {
        assert_eq!(
            listing(&cluster, node, "/col/").await,
            None,
            "instance {node}"
        );
        let old = cluster
            .request(node, "GET", "/col/a.txt")
            .send()
            .await
            .unwrap();
        assert_eq!(old.status(), StatusCode::NOT_FOUND, "instance {node}");
        let seen = listing(&cluster, node, "/moved/").await.unwrap();
        assert_eq!(seen, ["/moved/", "/moved/a.txt", "/moved/sub/"]);
        for ((path, text), tag) in [("/moved/a.txt", "alpha"), ("/moved/sub/b.txt", "beta")]
            .into_iter()
            .zip(&tags)
        {
            let got = cluster.request(node, "GET", path).send().await.unwrap();
            assert_eq!(got.status(), StatusCode::OK, "{path} through {node}");
            assert_eq!(&etag(&got), tag, "{path} through {node}");
            assert_eq!(got.text().await.unwrap(), text);
        }
    }
    let blobs_after = [
        blob_of(&cluster, "/moved/", "a.txt").await,
        blob_of(&cluster, "/moved/sub/", "b.txt").await,
    ];
    assert_eq!(
        blobs_after, blobs_before,
        "a MOVE changes rows, not objects"
    );
    assert!(unreferenced(&cluster).await.is_empty());

    let deleted = cluster.request(C, "DELETE", "/moved").send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = cluster
        .request(A, "GET", "/moved/sub/b.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        unreferenced(&cluster).await,
        blobs_before.iter().cloned().collect::<BTreeSet<_>>(),
        "the deleted tree's blobs wait for the collector"
    );
}

/// Nine PUTs of one path at once, three through each instance: the write latches serialise
/// them across the instances, so exactly one creates the file and every instance then serves
/// the same one of the nine bodies. The other eight blobs are not lost track of: each is
/// recorded in `davd_s3_unreferenced` (for the collector, after its grace period), and is
/// still in the bucket with the body that was sent.
#[tokio::test]
async fn concurrent_puts_of_one_path_through_three_instances_leave_one_body() {
    let Some(cluster) = three().await else { return };
    // Larger than a body davd receives before its latch (64 KiB), so uploads overlap.
    let bodies: Vec<Vec<u8>> = (0..9)
        .map(|i| {
            format!("body {i} through {} ", i % 3)
                .repeat(8 * 1024)
                .into_bytes()
        })
        .collect();
    let puts = bodies.iter().enumerate().map(|(i, body)| {
        let request = cluster
            .request(i % 3, "PUT", "/race.bin")
            .body(body.clone());
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(puts).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let replaced = statuses
        .iter()
        .filter(|s| **s == StatusCode::NO_CONTENT)
        .count();
    assert_eq!((created, replaced), (1, 8), "{statuses:?}");

    let mut seen = Vec::new();
    for node in [A, B, C] {
        let got = cluster
            .request(node, "GET", "/race.bin")
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK);
        seen.push((etag(&got), got.bytes().await.unwrap().to_vec()));
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "the instances serve different content"
    );
    let winner = &seen[0].1;
    assert!(
        bodies.contains(winner),
        "the body served is none of those sent"
    );

    let kept = blob_of(&cluster, "/", "race.bin").await;
    let losers = unreferenced(&cluster).await;
    assert_eq!(losers.len(), 8, "{losers:?}");
    assert!(
        !losers.contains(&kept),
        "the blob served is recorded as unreferenced"
    );
    let detached = cluster
        .database()
        .await
        .query(
            "SELECT count(*) FROM davd_s3_detached WHERE store = $1",
            &[&store(&cluster)],
        )
        .await
        .unwrap();
    assert_eq!(detached[0].get::<_, i64>(0), 0, "nothing left detached");
    // Every body sent is in the bucket exactly once: the kept blob's and the eight others.
    let mut stored = vec![object(&cluster, &kept).await];
    for blob in &losers {
        stored.push(object(&cluster, blob).await);
    }
    assert_eq!(&stored[0], winner);
    stored.sort();
    let mut sent = bodies.clone();
    sent.sort();
    assert!(
        stored == sent,
        "the bucket does not hold the nine bodies sent"
    );
}
