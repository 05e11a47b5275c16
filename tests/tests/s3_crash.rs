//! An `s3` mount killed mid-request (issue 21): a real davd process killed with SIGKILL while
//! large uploads stream, or aborted at a fail point (`DAVD_FAIL_AT`, debug builds) after an
//! upload and before its publish, between the parts of a multipart upload, before the
//! transaction that moves, detaches or purges rows commits, and at every step boundary of a MOVE of a collection with
//! many members and of a DELETE of a tree. After each, davd starts again and:
//!
//! - every path has exactly its old content or does not exist (an upload never half shows);
//! - a tree is wholly where it was or wholly where it was going;
//! - every blob a row of the tree or of a detached tree names is in the bucket, and once a
//!   collection round and an orphan scan with no grace period have run, the bucket holds
//!   exactly those blobs (`S3Namespace::collect_and_audit`, the invariant checker).
//!
//! They need a database and a store (`DAVD_TEST_DATABASE_URL`, `DAVD_TEST_S3_ENDPOINT`);
//! without them they pass after a loud line, and fail when `DAVD_REQUIRE_S3_TESTS` is set.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::StatusCode;

use davd_subsystems::s3::PART_SIZE;

const BINARY: &str = env!("CARGO_BIN_EXE_davd-node");

/// The harness (`davd_tests::s3_crashable`), with what these tests ask of it.
struct Crashable(davd_tests::s3_crashable::Crashable);

impl Crashable {
    async fn start() -> Option<Crashable> {
        davd_tests::s3_crashable::Crashable::start(BINARY, "")
            .await
            .map(Crashable)
    }

    async fn restart(&mut self, fail_at: Option<&str>) {
        self.0.restart(fail_at).await;
    }

    fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        self.0.request(method, path)
    }

    async fn put(&self, path: &str, body: impl Into<reqwest::Body>) -> StatusCode {
        self.request("PUT", path)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn mkcol(&self, path: &str) {
        let status = self.request("MKCOL", path).send().await.unwrap().status();
        assert_eq!(status, StatusCode::CREATED, "MKCOL {path}");
    }

    /// The content at `path`, or `None` if nothing is there.
    async fn content(&self, path: &str) -> Option<Bytes> {
        let response = self.request("GET", path).send().await.unwrap();
        match response.status() {
            StatusCode::NOT_FOUND => None,
            StatusCode::OK => Some(response.bytes().await.unwrap()),
            other => panic!("GET {path}: {other}"),
        }
    }

    async fn exists(&self, path: &str) -> bool {
        let response = self
            .request("PROPFIND", path)
            .header("Depth", "0")
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::MULTI_STATUS => true,
            StatusCode::NOT_FOUND => false,
            other => panic!("PROPFIND {path}: {other}"),
        }
    }

    async fn check_bucket(&self, context: &str) {
        self.0.check_bucket(context).await;
    }
}

/// `len` bytes that say which upload they belong to.
fn large_body(tag: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| tag.wrapping_add((i % 251) as u8))
        .collect()
}

/// Polls `ready` until it holds; a generous ceiling only guards against a hang.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut ready: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready().await {
        assert!(Instant::now() < deadline, "waited a minute for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many blobs are recorded as unreferenced (uploads in flight among them).
async fn recorded(crashable: &Crashable) -> usize {
    crashable.0.auditor.audit().await.unwrap().recorded.len()
}

/// Three PUTs of bodies past one part (so multipart uploads) streaming when davd is killed:
/// two over files that exist, one of a new file. Afterwards each old file has its old
/// content, the new one does not exist, and the bucket keeps only what rows name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_killed_while_streaming_leave_the_old_content() {
    let Some(mut c) = Crashable::start().await else {
        return;
    };
    c.mkcol("/s3/d").await;
    for name in ["one", "two"] {
        let old = format!("old {name}");
        assert_eq!(
            c.put(&format!("/s3/d/{name}"), old).await,
            StatusCode::CREATED
        );
    }
    let before = recorded(&c).await;
    let mut feeds = Vec::new();
    let mut uploads = Vec::new();
    for (tag, name) in [(1u8, "one"), (2, "two"), (3, "three")] {
        let (feed, chunks) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let body = reqwest::Body::wrap_stream(tokio_stream_of(chunks));
        let request = c.request("PUT", &format!("/s3/d/{name}")).body(body);
        uploads.push(tokio::spawn(request.send()));
        // More than one part, less than the whole: the upload is in its parts when killed.
        let data = Bytes::from(large_body(tag, PART_SIZE + PART_SIZE / 2));
        for chunk in data.chunks(256 * 1024) {
            feed.send(Ok(Bytes::copy_from_slice(chunk))).await.unwrap();
        }
        feeds.push(feed);
    }
    // Every upload has been staged (its blob recorded) before the kill.
    let watched = &c;
    until("three uploads to be staged", || async move {
        recorded(watched).await >= before + 3
    })
    .await;
    c.0.cluster.kill(0);
    for upload in uploads {
        assert!(
            upload.await.unwrap().is_err(),
            "no answer from a killed davd"
        );
    }
    drop(feeds);

    c.restart(None).await;
    assert_eq!(c.content("/s3/d/one").await.unwrap(), "old one");
    assert_eq!(c.content("/s3/d/two").await.unwrap(), "old two");
    assert_eq!(c.content("/s3/d/three").await, None);
    c.check_bucket("uploads killed while streaming").await;
}

fn tokio_stream_of(
    mut chunks: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| chunks.poll_recv(cx)).boxed()
}

/// An upload aborted after its last byte reached the store and before its publish, and one
/// aborted between two parts: the old content stays, and the blob written (or its parts)
/// never shows; the collector and the scan leave exactly what rows name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_aborted_before_their_publish_change_nothing() {
    let Some(mut c) = Crashable::start().await else {
        return;
    };
    for (round, (point, size)) in [
        ("s3:uploaded", 100),
        ("s3:uploaded", 2 * PART_SIZE + 1),
        ("s3:multipart", 3 * PART_SIZE),
    ]
    .into_iter()
    .enumerate()
    {
        let context = format!("{point} with {size} bytes");
        // A path of its own each round: replacing a file would record its old blob too.
        let path = &format!("/s3/file{round}");
        let old = format!("before {context}");
        assert!(c.put(path, old.clone()).await.is_success(), "{context}");
        c.restart(Some(point)).await;
        let sent = c
            .request("PUT", path)
            .body(large_body(7, size))
            .send()
            .await;
        assert!(
            sent.is_err(),
            "{context}: davd answered instead of aborting"
        );
        c.restart(None).await;
        assert_eq!(c.content(path).await.unwrap(), old, "{context}");
        if point == "s3:uploaded" {
            // The blob is whole in the bucket and recorded, named by no row, until collected.
            let audit = c.0.auditor.audit().await.unwrap();
            let unnamed: Vec<_> = audit.stored.difference(&audit.named).collect();
            assert_eq!(unnamed.len(), 1, "{context}: {audit:?}");
            assert!(audit.recorded.contains(unnamed[0]), "{context}");
        }
        c.check_bucket(&context).await;
    }
}

/// The members of the tree the MOVE and DELETE tests build, relative to its root:
/// collections end in `/`.
fn members() -> Vec<String> {
    let mut members = Vec::new();
    for dir in ["a", "b", "b/c"] {
        members.push(format!("{dir}/"));
        for file in 0..8 {
            members.push(format!("{dir}/f{file}"));
        }
    }
    for file in 0..6 {
        members.push(format!("top{file}"));
    }
    members
}

async fn build_tree(c: &Crashable, base: &str) {
    c.mkcol(base).await;
    for member in members() {
        let path = format!("{base}/{member}");
        if let Some(dir) = path.strip_suffix('/') {
            c.mkcol(dir).await;
        } else {
            assert_eq!(c.put(&path, member.clone()).await, StatusCode::CREATED);
        }
    }
}

/// Whether the whole tree is at `base` (true) or none of it (false); anything between
/// fails the test.
async fn whole_or_none(c: &Crashable, base: &str, context: &str) -> bool {
    let mut present = Vec::new();
    present.push(c.exists(base).await);
    for member in members() {
        let path = format!("{base}/{member}");
        if member.ends_with('/') {
            present.push(c.exists(&path).await);
        } else {
            match c.content(&path).await {
                Some(content) => {
                    assert_eq!(content, member.as_str(), "{context}: {path}");
                    present.push(true);
                }
                None => present.push(false),
            }
        }
    }
    let all = present.iter().all(|p| *p);
    assert!(
        all || present.iter().all(|p| !*p),
        "{context}: a part of the tree at {base}: {present:?}"
    );
    all
}

/// Runs `method` on a tree (to a new place for a MOVE) with davd aborting at each of
/// `points` in turn, on a fresh tree each time, and checks after each restart that the
/// tree is wholly before or wholly after, and the bucket. A point the request never
/// reaches lets it complete, which is checked the same way. Returns the points at which
/// davd did abort.
async fn walk_boundaries(
    c: &mut Crashable,
    method: &str,
    points: &[String],
    from: &str,
    to: Option<&str>,
) -> Vec<String> {
    let moved = to.is_some();
    let mut aborted = Vec::new();
    for (round, point) in points.iter().enumerate() {
        let context = format!("{method} {from} -> {to:?} aborted at {point}");
        let source = format!("{from}/tree{round}");
        let destination = format!("{}/moved{round}", to.unwrap_or(from));
        build_tree(c, &source).await;
        c.restart(Some(point.as_str())).await;
        let mut request = c.request(method, &format!("{source}/"));
        if moved {
            request = request.header(
                "Destination",
                c.0.cluster.url(0, &format!("{destination}/")),
            );
        }
        let answer = request.send().await;
        let completed = match answer {
            Ok(response) => {
                assert!(
                    response.status().is_success(),
                    "{context}: {}",
                    response.status()
                );
                true
            }
            Err(_) => {
                aborted.push(point.clone());
                false
            }
        };
        c.restart(None).await;
        let at_source = whole_or_none(c, &source, &context).await;
        if completed {
            assert!(!at_source, "{context}: completed, yet the source is there");
        }
        if moved {
            let at_destination = whole_or_none(c, &destination, &context).await;
            assert!(
                at_source != at_destination,
                "{context}: the tree is at both or neither"
            );
        }
        c.check_bucket(&context).await;
    }
    aborted
}

/// Panics unless davd aborted at each of `expected` (a fail point the request never
/// reached would test nothing).
fn assert_aborted_at(aborted: &[String], expected: &[&str]) {
    for point in expected {
        assert!(
            aborted.iter().any(|a| a == point),
            "davd never aborted at {point}; it did at {aborted:?}"
        );
    }
}

/// A MOVE of a collection with many members within the s3 mount, aborted at every step
/// boundary of its queue and inside the transaction that moves the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_killed_at_any_step_is_wholly_before_or_after() {
    let Some(mut c) = Crashable::start().await else {
        return;
    };
    let mut points: Vec<String> = (0..6).map(|n| format!("MOVE:{n}")).collect();
    points.extend(["MOVE:flushed", "s3:commit-move"].map(str::to_owned));
    let aborted = walk_boundaries(&mut c, "MOVE", &points, "/s3", Some("/s3")).await;
    assert_aborted_at(&aborted, &["MOVE:0", "MOVE:1", "s3:commit-move"]);
}

/// A MOVE of a tree between the file system and the s3 mount, both ways, aborted at every
/// step boundary: copied member by member, then the source detached. Recovery removes a
/// partial copy (rows, and the blobs they named go to the collector) or finishes the move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_between_fs_and_s3_killed_at_any_step_is_wholly_before_or_after() {
    let Some(mut c) = Crashable::start().await else {
        return;
    };
    let mut points: Vec<String> = (0..7).map(|n| format!("MOVE:{n}")).collect();
    points.extend(["MOVE:copied-1", "MOVE:copied-half"].map(str::to_owned));
    for (from, to) in [("", "/s3"), ("/s3", "")] {
        let aborted = walk_boundaries(&mut c, "MOVE", &points, from, Some(to)).await;
        assert_aborted_at(
            &aborted,
            &["MOVE:0", "MOVE:1", "MOVE:2", "MOVE:copied-half"],
        );
    }
}

/// A DELETE of a tree within the s3 mount, aborted at every step boundary of its queue and
/// inside the transactions that detach and purge the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_killed_at_any_step_is_wholly_before_or_after() {
    let Some(mut c) = Crashable::start().await else {
        return;
    };
    let mut points: Vec<String> = (0..6).map(|n| format!("DELETE:{n}")).collect();
    points.extend(["DELETE:flushed", "s3:commit-detach", "s3:commit-purge"].map(str::to_owned));
    let aborted = walk_boundaries(&mut c, "DELETE", &points, "/s3", None).await;
    assert_aborted_at(
        &aborted,
        &[
            "DELETE:0",
            "DELETE:1",
            "s3:commit-detach",
            "s3:commit-purge",
        ],
    );
}
