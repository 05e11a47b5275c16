//! The URL-scoped registry in use: mounts appear in their parents, COPY and MOVE cross scopes,
//! locks cover mounted scopes, configuration files pick the subsystems.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use davd::config::FileConfig;
use davd::{App, Settings};
use davd_protocol::DavPath;
use davd_registry::{
    LivePropertyHandler, Mount, PropContext, PropName, PropValue, Registry, SubsystemResult,
};
use davd_subsystems::fs::{FsNamespace, FsOptions};
use davd_subsystems::live::standard_handlers;
use davd_subsystems::memory::{MemoryLocks, MemoryNamespace, MemoryProperties};
use davd_tests::faulty::{Faults, Faulty};
use davd_tests::{Dirs, MsProp, Multistatus, TestServer};
use reqwest::StatusCode;

const WITH_DB: &str = r#"
[[mount]]
scope = "/"
namespace = { kind = "fs", root = "ROOT" }

[[mount]]
scope = "/db"
namespace = { kind = "sled" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounts_appear_in_their_parent() {
    let s = TestServer::configured(WITH_DB).await;
    s.put("/top.txt", "t").await;
    let (_, text) = s.propfind("/", "1", "").await;
    let ms = Multistatus::parse(&text);
    let db = ms.response("/db/");
    assert_eq!(
        db.prop("DAV:", "resourcetype").unwrap().element_children,
        vec![("DAV:".into(), "collection".into())]
    );
    assert!(ms.hrefs().contains(&"/top.txt"));
    let page = s.get("/").await.text().await.unwrap();
    assert!(page.contains("href=\"/db/\""), "{page}");
    assert!(
        !s.root().join("db").exists(),
        "the mount lives in sled, not in the root directory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_points_cannot_be_deleted_or_moved() {
    let s = TestServer::configured(WITH_DB).await;
    assert_eq!(s.delete("/db").await.status(), StatusCode::FORBIDDEN);
    let r = s
        .request("MOVE", "/db/")
        .header("Destination", s.url("/elsewhere/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    s.put("/f", "x").await;
    let r = s
        .request("MOVE", "/f")
        .header("Destination", s.url("/db"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "nor overwritten");
    // Contents of the mount are ordinary resources.
    assert_eq!(s.mkcol("/db/c").await.status(), StatusCode::CREATED);
    assert_eq!(s.delete("/db/c").await.status(), StatusCode::NO_CONTENT);
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
    Multistatus::parse(&body).responses[0]
        .prop("urn:c", "c")
        .filter(|p| p.status == 200)
        .map(|p| p.text.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_move_between_scopes_carry_properties() {
    carry_properties_across(WITH_DB).await;
}

/// The same with a scope that keeps its properties in its own (in-memory) property manager:
/// they leave the root's sled store and arrive in the other one, and come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_move_between_different_property_managers() {
    carry_properties_across(
        r#"
[[mount]]
scope = "/"
namespace = { kind = "fs", root = "ROOT" }

[[mount]]
scope = "/db"
namespace = { kind = "sled" }
properties = { kind = "memory" }
"#,
    )
    .await;
}

async fn carry_properties_across(config: &str) {
    let s = TestServer::configured(config).await;
    s.mkcol("/tree").await;
    s.mkcol("/tree/sub").await;
    s.put("/tree/sub/f", "content").await;
    s.proppatch("/tree/sub/f", COLOR).await;
    let r = s
        .request("COPY", "/tree/")
        .header("Destination", s.url("/db/copy/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        s.get("/db/copy/sub/f").await.text().await.unwrap(),
        "content"
    );
    assert_eq!(color(&s, "/db/copy/sub/f").await.as_deref(), Some("red"));
    let r = s
        .request("MOVE", "/tree/")
        .header("Destination", s.url("/db/moved/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(!s.root().join("tree").exists());
    assert_eq!(
        s.get("/db/moved/sub/f").await.text().await.unwrap(),
        "content"
    );
    assert_eq!(color(&s, "/db/moved/sub/f").await.as_deref(), Some("red"));
    // Moved, not copied: a new resource at the old path has no properties.
    s.mkcol("/tree").await;
    s.mkcol("/tree/sub").await;
    s.put("/tree/sub/f", "new").await;
    assert_eq!(color(&s, "/tree/sub/f").await, None);
    // And back.
    let r = s
        .request("MOVE", "/db/moved/")
        .header("Destination", s.url("/back/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        std::fs::read(s.root().join("back/sub/f")).unwrap(),
        b"content"
    );
    assert_eq!(color(&s, "/back/sub/f").await.as_deref(), Some("red"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_scope_content_survives_a_restart() {
    let s = TestServer::configured(WITH_DB).await;
    s.mkcol("/db/docs").await;
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    s.put("/db/docs/big.bin", big.clone()).await;
    // Restart on the same directories with the same configuration.
    let mut s = s;
    s.stop().await;
    let dirs = s.dirs();
    drop(s);
    let text = WITH_DB.replace("ROOT", &dirs.root.display().to_string());
    let file = FileConfig::parse(&text, "test.toml", &dirs.root).unwrap();
    let settings = Settings {
        root: dirs.root.clone(),
        state: dirs.state.clone(),
        mounts: file.mounts,
        ..Settings::default()
    };
    let mut app = None;
    for _ in 0..50 {
        match App::build(settings.clone()).await {
            Ok(a) => {
                app = Some(a);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let s = TestServer::start_app(app.unwrap(), dirs).await;
    assert_eq!(
        s.get("/db/docs/big.bin")
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        &big[..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_lock_on_the_root_covers_a_scope_with_its_own_lock_manager() {
    let s = TestServer::configured(
        r#"
[[mount]]
scope = "/"
namespace = { kind = "fs", root = "ROOT" }

[[mount]]
scope = "/mem"
namespace = { kind = "memory" }
properties = { kind = "memory" }
locks = { kind = "memory" }
"#,
    )
    .await;
    s.put("/mem/f", "x").await;
    let token = s.lock("/", "infinity").await;
    assert_eq!(s.put("/mem/f", "y").await.status(), StatusCode::LOCKED);
    let r = s
        .request("PUT", "/mem/f")
        .header("If", format!("(<{token}>)"))
        .body("y")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, text) = s
        .propfind(
            "/mem/f",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#,
        )
        .await;
    assert!(text.contains(&token), "{text}");
    s.request("UNLOCK", "/mem/f")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    // A lock inside the scope blocks a deep lock from above.
    s.lock("/mem/f", "0").await;
    let r = s
        .request("LOCK", "/")
        .header("Depth", "infinity")
        .body(davd_tests::LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
}

/// `/` on the file system, with in-memory properties and locks and the standard handlers.
fn fs_root(dirs: &Dirs) -> (DavPath, Mount) {
    (
        DavPath::root(),
        Mount {
            namespace: Some(Arc::new(
                FsNamespace::open(&dirs.root, FsOptions::default()).unwrap(),
            )),
            properties: Some(Arc::new(MemoryProperties::new())),
            locks: Some(Arc::new(MemoryLocks::new())),
            live: standard_handlers(),
            access: None,
        },
    )
}

async fn faulty_server(fail_detach: Arc<AtomicBool>) -> TestServer {
    let dirs = Dirs::new();
    let registry = Registry::new(vec![
        fs_root(&dirs),
        (
            DavPath::parse_url_path("/poisoned").unwrap().0,
            Mount {
                namespace: Some(Arc::new(Faulty::new(
                    MemoryNamespace::new(),
                    Faults {
                        poison: true,
                        ..Faults::default()
                    },
                ))),
                ..Mount::default()
            },
        ),
        (
            DavPath::parse_url_path("/sticky").unwrap().0,
            Mount {
                namespace: Some(Arc::new(Faulty::new(
                    MemoryNamespace::new(),
                    Faults {
                        detach: fail_detach,
                        ..Faults::default()
                    },
                ))),
                ..Mount::default()
            },
        ),
    ])
    .unwrap();
    let settings = Settings {
        root: dirs.root.clone(),
        state: dirs.state.clone(),
        ..Settings::default()
    };
    TestServer::start_app(App::with_registry(registry, settings), dirs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_scope_move_failing_in_the_copy_leaves_both_sides_as_they_were() {
    let s = faulty_server(Arc::new(AtomicBool::new(false))).await;
    s.mkcol("/tree").await;
    s.put("/tree/a", "a").await;
    s.put("/tree/poison", "p").await;
    s.proppatch("/tree/a", COLOR).await;
    let r = s
        .request("MOVE", "/tree/")
        .header("Destination", s.url("/poisoned/tree/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(std::fs::read(s.root().join("tree/a")).unwrap(), b"a");
    assert_eq!(std::fs::read(s.root().join("tree/poison")).unwrap(), b"p");
    assert_eq!(color(&s, "/tree/a").await.as_deref(), Some("red"));
    assert_eq!(
        s.get("/poisoned/tree/a").await.status(),
        StatusCode::NOT_FOUND,
        "the partial copy was removed"
    );
    // A member that finds the disk full fails the whole COPY too (not a 207 that keeps the
    // rest): every later member would fail the same way, and a partial tree would only hold
    // the room left (docs/durability.md, "A full disk").
    let r = s
        .request("COPY", "/tree/")
        .header("Destination", s.url("/poisoned/copy/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(
        s.get("/poisoned/copy/a").await.status(),
        StatusCode::NOT_FOUND,
        "the partial copy was removed"
    );
}

/// A MOVE between two namespaces makes the copy durable before it removes the source
/// (docs/adr/0017-crash-safety.md): a power cut must never find the source gone and its copy
/// not yet on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_scope_move_syncs_the_copy_before_it_detaches_the_source() {
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let dirs = Dirs::new();
    let recorded = |name: &'static str| Mount {
        namespace: Some(Arc::new(Faulty::new(
            MemoryNamespace::new(),
            Faults {
                calls: calls.clone(),
                name,
                ..Faults::default()
            },
        ))),
        ..Mount::default()
    };
    let registry = Registry::new(vec![
        fs_root(&dirs),
        (DavPath::parse_url_path("/a").unwrap().0, recorded("a")),
        (DavPath::parse_url_path("/b").unwrap().0, recorded("b")),
    ])
    .unwrap();
    let settings = Settings {
        root: dirs.root.clone(),
        state: dirs.state.clone(),
        ..Settings::default()
    };
    let s = TestServer::start_app(App::with_registry(registry, settings), dirs).await;
    s.mkcol("/a/tree").await;
    s.put("/a/tree/f", "f").await;
    let r = s
        .request("MOVE", "/a/tree/")
        .header("Destination", s.url("/b/tree/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(s.get("/b/tree/f").await.text().await.unwrap(), "f");
    let calls = calls.lock().unwrap().clone();
    let at = |call: &str| calls.iter().position(|c| c == call);
    let synced = at("b: sync /tree").unwrap_or_else(|| panic!("the copy was synced: {calls:?}"));
    let detached =
        at("a: detach /tree").unwrap_or_else(|| panic!("the source was detached: {calls:?}"));
    assert!(synced < detached, "sync before detach: {calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_scope_move_failing_after_the_copy_is_undone() {
    let fail = Arc::new(AtomicBool::new(false));
    let s = faulty_server(fail.clone()).await;
    s.mkcol("/sticky/tree").await;
    s.put("/sticky/tree/a", "a").await;
    s.proppatch("/sticky/tree/a", COLOR).await;
    fail.store(true, Ordering::SeqCst);
    let r = s
        .request("MOVE", "/sticky/tree/")
        .header("Destination", s.url("/tree/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    fail.store(false, Ordering::SeqCst);
    assert!(
        !s.root().join("tree").exists(),
        "the copy at the destination was removed"
    );
    assert_eq!(s.get("/sticky/tree/a").await.text().await.unwrap(), "a");
    assert_eq!(color(&s, "/sticky/tree/a").await.as_deref(), Some("red"));
    assert_eq!(color(&s, "/tree/a").await, None);
}

/// Claims `DAV:getcontenttype` in a nested scope, overriding the standard handler.
struct FixedContentType;

#[async_trait]
impl LivePropertyHandler for FixedContentType {
    fn names(&self) -> &[PropName] {
        static NAMES: std::sync::OnceLock<Vec<PropName>> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| vec![PropName::dav("getcontenttype")])
    }

    async fn get(&self, _: &PropContext<'_>, _: &PropName) -> SubsystemResult<Option<PropValue>> {
        Ok(Some(PropValue::Text("x-test/nearer-scope".into())))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nearer_scope_handler_overrides_a_property_once_in_allprop() {
    let dirs = Dirs::new();
    let registry = Registry::new(vec![
        fs_root(&dirs),
        (
            DavPath::parse_url_path("/typed").unwrap().0,
            Mount {
                live: vec![Arc::new(FixedContentType)],
                ..Mount::default()
            },
        ),
    ])
    .unwrap();
    let settings = Settings {
        root: dirs.root.clone(),
        state: dirs.state.clone(),
        ..Settings::default()
    };
    let s = TestServer::start_app(App::with_registry(registry, settings), dirs).await;
    assert_eq!(s.mkcol("/typed/").await.status(), StatusCode::CREATED);
    s.put("/typed/a.txt", "a").await;
    s.put("/plain.txt", "p").await;

    let (_, text) = s.propfind("/typed/", "1", "").await;
    let ms = Multistatus::parse(&text);
    let member = ms.response("/typed/a.txt");
    let types: Vec<&MsProp> = member
        .props
        .iter()
        .filter(|p| p.namespace == "DAV:" && p.name == "getcontenttype")
        .collect();
    assert_eq!(types.len(), 1, "{text}");
    assert_eq!(types[0].text, "x-test/nearer-scope");
    // The rest of the standard properties still come from the outer scope.
    assert!(member.prop("DAV:", "getetag").is_some(), "{text}");

    let (_, text) = s.propfind("/plain.txt", "0", "").await;
    let ms = Multistatus::parse(&text);
    let plain = ms
        .response("/plain.txt")
        .prop("DAV:", "getcontenttype")
        .unwrap();
    assert_eq!(plain.text, "text/plain");
}
