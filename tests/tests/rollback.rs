//! The CommandQueue undoes a request whose last step fails: storage is left exactly as before.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use davd::{App, Settings};
use davd_protocol::DavPath;
use davd_registry::{Mount, NamespaceManager, Registry};
use davd_subsystems::fs::{FsNamespace, FsOptions};
use davd_subsystems::live::standard_handlers;
use davd_subsystems::memory::MemoryLocks;
use davd_tests::faulty::{FailingFlush, Faults, Faulty};
use davd_tests::{Dirs, Multistatus, TestServer};
use reqwest::StatusCode;

async fn server(fail: Arc<AtomicBool>) -> (TestServer, Arc<Dirs>) {
    server_with(fail, None).await
}

/// A server whose property store fails its flush on `fail`, and whose namespace, with
/// `fail_restore`, cannot put detached resources back while that is set.
async fn server_with(
    fail: Arc<AtomicBool>,
    fail_restore: Option<Arc<AtomicBool>>,
) -> (TestServer, Arc<Dirs>) {
    let dirs = Dirs::new();
    let settings = Settings {
        root: dirs.root.clone(),
        state: dirs.state.clone(),
        ..Settings::default()
    };
    let registry = Registry::new(vec![(
        DavPath::root(),
        Mount {
            namespace: Some({
                let fs = FsNamespace::open(&dirs.root, FsOptions::default()).unwrap();
                match fail_restore {
                    Some(restore) => Arc::new(Faulty::new(
                        fs,
                        Faults {
                            restore,
                            ..Faults::default()
                        },
                    )),
                    None => Arc::new(fs) as Arc<dyn NamespaceManager>,
                }
            }),
            properties: Some(Arc::new(FailingFlush::new(fail))),
            locks: Some(Arc::new(MemoryLocks::new())),
            live: standard_handlers(),
            access: None,
        },
    )])
    .unwrap();
    (
        TestServer::start_app(App::with_registry(registry, settings), dirs.clone()).await,
        dirs,
    )
}

const COLOR: &str = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><c xmlns="urn:c">red</c></D:prop></D:set></D:propertyupdate>"#;

async fn color(s: &TestServer, path: &str) -> Option<String> {
    let (status, body) = s
        .propfind(
            path,
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><c xmlns="urn:c"/></D:prop></D:propfind>"#,
        )
        .await;
    if status != StatusCode::MULTI_STATUS {
        return None;
    }
    let ms = Multistatus::parse(&body);
    ms.responses[0]
        .prop("urn:c", "c")
        .filter(|p| p.status == 200)
        .map(|p| p.text.clone())
}

/// Snapshot of a directory tree: relative path -> content (None for directories).
fn snapshot(root: &std::path::Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let rel = entry
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.starts_with(".davd-staging") {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
                out.push((rel, None));
            } else {
                out.push((rel, Some(std::fs::read(entry.path()).unwrap())));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_delete_leaves_everything_in_place() {
    let fail = Arc::new(AtomicBool::new(false));
    let (s, dirs) = server(fail.clone()).await;
    s.mkcol("/tree").await;
    s.mkcol("/tree/sub").await;
    s.put("/tree/sub/f", "content").await;
    s.proppatch("/tree/sub/f", COLOR).await;
    let before = snapshot(&dirs.root);

    fail.store(true, Ordering::SeqCst);
    let r = s.delete("/tree").await;
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    // The subsystem's own status and message reach the client (issue 2, registry contract).
    let body = r.text().await.unwrap();
    assert!(body.contains("injected: disk full"), "{body}");
    fail.store(false, Ordering::SeqCst);

    assert_eq!(snapshot(&dirs.root), before);
    assert_eq!(color(&s, "/tree/sub/f").await.as_deref(), Some("red"));
    let staging = davd_subsystems::fs::staged_leftovers(&dirs.root.join(".davd-staging")).unwrap();
    assert!(staging.is_empty(), "left behind in staging: {staging:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_move_over_a_destination_restores_both() {
    let fail = Arc::new(AtomicBool::new(false));
    let (s, dirs) = server(fail.clone()).await;
    s.put("/src", "source").await;
    s.proppatch("/src", COLOR).await;
    s.put("/dst", "destination").await;
    let before = snapshot(&dirs.root);

    fail.store(true, Ordering::SeqCst);
    let r = s
        .request("MOVE", "/src")
        .header("Destination", s.url("/dst"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    fail.store(false, Ordering::SeqCst);

    assert_eq!(snapshot(&dirs.root), before);
    assert_eq!(color(&s, "/src").await.as_deref(), Some("red"));
    assert_eq!(color(&s, "/dst").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_copy_removes_what_it_created() {
    let fail = Arc::new(AtomicBool::new(false));
    let (s, dirs) = server(fail.clone()).await;
    s.mkcol("/a").await;
    s.put("/a/f", "x").await;
    s.proppatch("/a/f", COLOR).await;
    let before = snapshot(&dirs.root);

    fail.store(true, Ordering::SeqCst);
    let r = s
        .request("COPY", "/a/")
        .header("Destination", s.url("/b/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    fail.store(false, Ordering::SeqCst);

    assert_eq!(snapshot(&dirs.root), before);
    assert_eq!(color(&s, "/b/f").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_proppatch_keeps_old_values() {
    let fail = Arc::new(AtomicBool::new(false));
    let (s, _dirs) = server(fail.clone()).await;
    s.put("/f", "x").await;
    s.proppatch("/f", COLOR).await;
    fail.store(true, Ordering::SeqCst);
    let (status, body) = s
        .proppatch("/f", r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><c xmlns="urn:c">blue</c></D:prop></D:set></D:propertyupdate>"#)
        .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
    assert!(body.contains("injected: disk full"), "{body}");
    fail.store(false, Ordering::SeqCst);
    assert_eq!(color(&s, "/f").await.as_deref(), Some("red"));
}

/// A DELETE whose commit fails and whose undo fails too (the tree cannot be put back) is
/// recovered in the background, the way startup would, once the store works again: the
/// tree comes back whole, with its properties, and meanwhile nothing else writes there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_that_fails_is_finished_in_the_background() {
    let fail_flush = Arc::new(AtomicBool::new(false));
    let fail_restore = Arc::new(AtomicBool::new(false));
    let (s, _dirs) = server_with(fail_flush.clone(), Some(fail_restore.clone())).await;
    s.mkcol("/d").await;
    s.put("/d/f", "kept").await;
    s.proppatch("/d/f", COLOR).await;

    fail_flush.store(true, Ordering::SeqCst);
    fail_restore.store(true, Ordering::SeqCst);
    let r = s.request("DELETE", "/d").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    fail_flush.store(false, Ordering::SeqCst);
    // The tree is detached and cannot be put back yet. A PUT of a file at its path must not
    // take its place: it waits for the recovery, which holds the DELETE's latch, and then
    // finds the collection back.
    let put = tokio::spawn(s.request("PUT", "/d").body("usurper").send());
    fail_restore.store(false, Ordering::SeqCst);
    let r = put.await.unwrap().unwrap();
    assert_eq!(
        r.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "the PUT ran once the tree was back"
    );
    assert_eq!(s.get("/d/f").await.text().await.unwrap(), "kept");
    assert_eq!(color(&s, "/d/f").await.as_deref(), Some("red"));
}
