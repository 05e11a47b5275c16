//! The executive's metrics (issue 19), read back from the recorder the server installs with
//! `--metrics-listen`: queue rollbacks and latch waits. A test binary of its own, as the
//! recorder is the process's; the tests here share it, so each compares with what was
//! counted before it began.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use davd::{App, Settings};
use davd_protocol::DavPath;
use davd_registry::{Mount, Registry};
use davd_subsystems::fs::{FsNamespace, FsOptions};
use davd_subsystems::live::standard_handlers;
use davd_subsystems::memory::MemoryLocks;
use davd_tests::faulty::FailingFlush;
use davd_tests::prometheus::parse_prometheus;
use davd_tests::{Dirs, TEST_CONNECTION_THREADS, TestServer};
use metrics_exporter_prometheus::PrometheusHandle;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The process's recorder, installed by the first test that asks.
fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| davd::metrics::install().unwrap())
}

/// The value of `series` now; a series appears once it has something to count.
fn sample(series: &str) -> f64 {
    parse_prometheus(&recorder().render())
        .get(series)
        .copied()
        .unwrap_or(0.0)
}

/// Polls `done` until it holds; the bound is only a guard against a broken build.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_undone_is_counted_as_a_rollback() {
    recorder();
    let dirs = Dirs::new();
    let fail = Arc::new(AtomicBool::new(false));
    let registry = Registry::new(vec![(
        DavPath::root(),
        Mount {
            namespace: Some(Arc::new(
                FsNamespace::open(&dirs.root, FsOptions::default()).unwrap(),
            )),
            properties: Some(Arc::new(FailingFlush::new(fail.clone()))),
            locks: Some(Arc::new(MemoryLocks::new())),
            live: standard_handlers(),
            access: None,
        },
    )])
    .unwrap();
    let settings = Settings {
        root: dirs.root.clone(),
        state: dirs.state.clone(),
        connection_threads: TEST_CONNECTION_THREADS,
        ..Settings::default()
    };
    let s = TestServer::start_app(App::with_registry(registry, settings), dirs.clone()).await;
    s.mkcol("/tree").await;
    s.put("/tree/f", "content").await;
    let (status, _) = s
        .proppatch(
            "/tree/f",
            r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><c xmlns="urn:c">red</c></D:prop></D:set></D:propertyupdate>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let before = sample("davd_queue_rollbacks_total");

    // The DELETE detaches the tree, then cannot make the properties' removal durable: the
    // detach is undone.
    fail.store(true, Ordering::SeqCst);
    assert_eq!(
        s.delete("/tree").await.status(),
        StatusCode::INSUFFICIENT_STORAGE
    );
    fail.store(false, Ordering::SeqCst);
    assert_eq!(s.get("/tree/f").await.status(), StatusCode::OK);
    assert!(sample("davd_queue_rollbacks_total") >= before + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_for_a_latch_is_counted() {
    recorder();
    let dirs = Dirs::new();
    let settings = Settings {
        root: dirs.root.clone(),
        state: dirs.state.clone(),
        connection_threads: TEST_CONNECTION_THREADS,
        ..Settings::default()
    };
    let app = App::build(settings).await.unwrap();
    let executive = app.executive.clone();
    let s = TestServer::start_app(app, dirs).await;
    assert_eq!(
        s.put("/f", "0123456789").await.status(),
        StatusCode::CREATED
    );
    let waits = sample("davd_latch_waits_total");
    let waited = sample("davd_latch_wait_seconds_count");

    // A segment write receives its body under the path's latch (a whole-content PUT receives
    // it before): half a body keeps the latch held.
    let mut upload = TcpStream::connect(s.addr).await.unwrap();
    upload
        .write_all(
            b"PUT /f HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\
              Content-Range: bytes 0-9/10\r\n\r\nabcde",
        )
        .await
        .unwrap();
    wait_until("the segment write holds the latch", || {
        executive.latches.held() == 1
    })
    .await;
    let delete = tokio::spawn(s.client.delete(s.url("/f")).send());
    wait_until("the DELETE waits for the latch", || {
        executive.latches.waiting() == 1
    })
    .await;
    upload.write_all(b"fghij").await.unwrap();
    let mut answer = [0u8; 12];
    upload.read_exact(&mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 2"), "{answer:?}");
    assert_eq!(
        delete.await.unwrap().unwrap().status(),
        StatusCode::NO_CONTENT
    );

    assert!(sample("davd_latch_waits_total") >= waits + 1.0);
    assert!(sample("davd_latch_wait_seconds_count") >= waited + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_served_again_is_counted_as_a_hit_and_a_changed_one_as_a_miss() {
    recorder();
    let s = TestServer::start().await;
    s.mkcol("/d").await;
    s.put("/d/f", "content").await;
    let list = || s.propfind("/d/", "1", davd_tests::ALLPROP);
    const HITS: &str = r#"davd_listing_cache_hits_total{depth="1"}"#;
    const MISSES: &str = r#"davd_listing_cache_misses_total{depth="1"}"#;
    let (hits, misses) = (sample(HITS), sample(MISSES));
    let (_, first) = list().await;
    let (_, second) = list().await;
    assert_eq!(first, second);
    // Other tests of this binary may list at the same time: at least ours were counted.
    assert!(sample(MISSES) > misses);
    assert!(sample(HITS) > hits);

    std::fs::write(s.root().join("d/f"), "changed behind davd's back").unwrap();
    let misses = sample(MISSES);
    let (_, third) = list().await;
    assert_ne!(second, third);
    assert!(sample(MISSES) > misses);

    // One resource's answer is kept too, checked against its metadata as just read.
    const ONE_HIT: &str = r#"davd_listing_cache_hits_total{depth="0"}"#;
    let hits = sample(ONE_HIT);
    let (_, first) = s.propfind("/d/f", "0", davd_tests::ALLPROP).await;
    let (_, second) = s.propfind("/d/f", "0", davd_tests::ALLPROP).await;
    assert_eq!(first, second);
    assert!(sample(ONE_HIT) > hits);

    // Switched off, nothing is kept or looked for (no other test of this binary lists).
    let off = TestServer::start_with(|settings| settings.executive.listing_cache_bytes = 0).await;
    off.mkcol("/d").await;
    off.put("/d/f", "content").await;
    let (hits, misses) = (sample(HITS), sample(MISSES));
    for _ in 0..2 {
        let (status, _) = off.propfind("/d/", "1", davd_tests::ALLPROP).await;
        assert_eq!(status, StatusCode::MULTI_STATUS);
    }
    assert_eq!((sample(HITS), sample(MISSES)), (hits, misses));
}
