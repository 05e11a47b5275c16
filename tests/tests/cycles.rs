//! Issue 16 item 10: a symbolic-link cycle inside the served tree (made by another local user)
//! is detected by identity (device and inode of every ancestor) and refused where a walk would
//! loop, with 508 Loop Detected; and a read-only walk stops as soon as its client is gone.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{StreamExt, stream};
use reqwest::StatusCode;
use tokio::sync::Notify;

use davd::{App, Settings};
use davd_protocol::DavPath;
use davd_registry::{
    Member, MemberStream, Mount, NamespaceManager, Opened, Registry, ResourceMeta, SubsystemError,
    SubsystemResult,
};
use davd_subsystems::live::standard_handlers;
use davd_subsystems::memory::{MemoryLocks, MemoryProperties};
use davd_tests::{Dirs, Multistatus, TestServer};

/// `/a/b/f.txt`, and `/a/b/up`, a symbolic link to `/a`.
async fn tree_with_a_cycle() -> TestServer {
    let s = TestServer::start().await;
    std::fs::create_dir_all(s.root().join("a/b")).unwrap();
    std::fs::write(s.root().join("a/b/f.txt"), "f").unwrap();
    std::os::unix::fs::symlink("..", s.root().join("a/b/up")).unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_depth_infinity_propfind_reports_the_cycle_and_ends() {
    let s = tree_with_a_cycle().await;
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        s.request("PROPFIND", "/")
            .header("Depth", "infinity")
            .send(),
    )
    .await
    .expect("the walk ends")
    .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let body = tokio::time::timeout(Duration::from_secs(60), r.text())
        .await
        .expect("the walk ends")
        .unwrap();
    let listing = Multistatus::parse(&body);
    let mut hrefs = listing.hrefs();
    hrefs.sort_unstable();
    assert_eq!(hrefs, ["/", "/a/", "/a/b/", "/a/b/f.txt", "/a/b/up/"]);
    let looping = listing.response("/a/b/up/");
    assert_eq!(looping.status, Some(508));
    assert!(looping.props.is_empty());
    // Paths through the link are still served: they are finite.
    assert_eq!(s.get("/a/b/up/b/f.txt").await.text().await.unwrap(), "f");
    let (status, body) = s.propfind("/a/b/", "1", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert!(
        Multistatus::parse(&body)
            .response("/a/b/up/")
            .status
            .is_none(),
        "a Depth 1 listing shows the link as the collection it is"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copying_a_tree_with_a_cycle_is_refused() {
    let s = tree_with_a_cycle().await;
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        s.request("COPY", "/a/")
            .header("Destination", s.url("/copy/"))
            .send(),
    )
    .await
    .expect("the COPY ends")
    .unwrap();
    assert_eq!(r.status(), StatusCode::LOOP_DETECTED);
    let text = r.text().await.unwrap();
    assert!(text.contains("/a/b/up/"), "{text}");
    assert_eq!(s.get("/copy/").await.status(), StatusCode::NOT_FOUND);
    // A MOVE renames, and a DELETE removes the link without following it.
    let r = s
        .request("MOVE", "/a/")
        .header("Destination", s.url("/moved/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(s.delete("/moved/").await.status(), StatusCode::NO_CONTENT);
    assert!(!s.root().join("moved").exists());
}

/// A namespace whose every collection holds another, `d/`, without end, and whose listings
/// from the fifth level on never finish: what a cycle nobody can see, or a hung network share,
/// looks like to a walk.
struct Endless {
    stalled: Arc<Notify>,
    abandoned: Arc<Notify>,
}

fn collection() -> ResourceMeta {
    ResourceMeta {
        collection: true,
        len: 0,
        modified: std::time::UNIX_EPOCH,
        created: None,
        etag: "d".into(),
        content_type: None,
    }
}

/// Signals when the listing that holds it is dropped.
struct Abandoned(Arc<Notify>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

#[async_trait]
impl NamespaceManager for Endless {
    fn kind(&self) -> &'static str {
        "endless"
    }
    async fn stat(&self, path: &DavPath) -> SubsystemResult<Option<ResourceMeta>> {
        Ok(path.segments().all(|s| s == "d").then(collection))
    }
    async fn list(&self, path: &DavPath) -> SubsystemResult<MemberStream> {
        if path.depth() < 5 {
            let member = Member {
                name: "d".into(),
                meta: collection(),
            };
            return Ok(stream::iter([Ok(vec![member])]).boxed());
        }
        let _abandoned = Abandoned(self.abandoned.clone());
        self.stalled.notify_one();
        std::future::pending::<()>().await;
        Err(SubsystemError::internal("never"))
    }
    async fn open(&self, _path: &DavPath) -> SubsystemResult<Opened> {
        Err(SubsystemError::not_found())
    }
}

/// When the client of a Depth infinity PROPFIND goes away, the walk stops at once, even in
/// the middle of a listing that does not finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_stops_when_its_client_goes_away() {
    let (stalled, abandoned) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let registry = Registry::new(vec![(
        DavPath::root(),
        Mount {
            namespace: Some(Arc::new(Endless {
                stalled: stalled.clone(),
                abandoned: abandoned.clone(),
            })),
            properties: Some(Arc::new(MemoryProperties::new())),
            locks: Some(Arc::new(MemoryLocks::new())),
            live: standard_handlers(),
            access: None,
        },
    )])
    .unwrap();
    let dirs = Dirs::new();
    let settings = Settings {
        root: dirs.root.clone(),
        state: dirs.state.clone(),
        connection_threads: davd_tests::TEST_CONNECTION_THREADS,
        ..Settings::default()
    };
    let s = TestServer::start_app(App::with_registry(registry, settings), dirs).await;
    let r = s
        .request("PROPFIND", "/")
        .header("Depth", "infinity")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let mut body = r.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("<D:href>/</D:href>"));
    tokio::time::timeout(Duration::from_secs(30), stalled.notified())
        .await
        .expect("the walk reaches the listing that does not finish");
    drop(body);
    tokio::time::timeout(Duration::from_secs(30), abandoned.notified())
        .await
        .expect("the walk stops once its client is gone");
}
