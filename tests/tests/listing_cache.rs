//! The listing cache is never stale (issue 20): a `Depth: 1` listing is kept and served again
//! only while nothing it shows changed. Each test lists a collection twice (the second answer
//! is the kept one: `executive_metrics.rs` counts the hit), changes something behind davd's
//! back or through it, and checks that the next listing shows the change. inotify reports a
//! change before the system call that made it returns, so no test waits for anything.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use davd_protocol::PropName;
use davd_registry::{LivePropertyHandler, PropContext, PropValue, SubsystemResult};
use davd_subsystems::live::standard_handlers;
use davd_tests::{ALLPROP, Multistatus, TestServer};
use reqwest::StatusCode;

/// Lists `path` with allprop and returns the answer, parsed.
async fn listing(s: &TestServer, path: &str) -> Multistatus {
    let (status, body) = s.propfind(path, "1", ALLPROP).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    Multistatus::parse(&body)
}

/// The answer to an allprop PROPFIND of `path` alone (`Depth: 0`), parsed.
async fn one_resource(s: &TestServer, path: &str) -> Multistatus {
    let (status, body) = s.propfind(path, "0", ALLPROP).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    Multistatus::parse(&body)
}

/// Lists `path` twice, so that the second answer comes from the cache, and returns it.
async fn kept_listing(s: &TestServer, path: &str) -> Multistatus {
    listing(s, path).await;
    listing(s, path).await
}

fn text(listed: &Multistatus, href: &str, name: &str) -> String {
    listed
        .response(href)
        .prop("DAV:", name)
        .map(|p| p.text.clone())
        .unwrap_or_default()
}

/// Sets the dead property `{urn:c}c` of `path` to "red".
async fn set_red(s: &TestServer, path: &str) {
    let (status, body) = s
        .proppatch(
            path,
            r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><c xmlns="urn:c">red</c></D:prop></D:set></D:propertyupdate>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
}

/// The value of `{urn:c}c` shown for `href`.
fn red<'a>(listed: &'a Multistatus, href: &str) -> Option<&'a str> {
    let prop = listed.response(href).prop("urn:c", "c");
    prop.map(|p| p.text.as_str())
}

/// Whether the answer shows an active lock on `href`.
fn shows_a_lock(listed: &Multistatus, href: &str) -> bool {
    let discovery = listed.response(href).prop("DAV:", "lockdiscovery");
    discovery.is_some_and(|p| p.element_children.iter().any(|(_, n)| n == "activelock"))
}

/// A modification time in 2001, far from any the tests' own writes give.
fn long_ago() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000)
}

#[tokio::test]
async fn the_kept_answer_is_the_rendered_one_byte_for_byte() {
    let s = TestServer::start().await;
    s.mkcol("/d/").await;
    for i in 0..20 {
        s.put(&format!("/d/f{i}.txt"), format!("file {i}")).await;
    }
    let (_, rendered) = s.propfind("/d/", "1", ALLPROP).await;
    let (_, kept) = s.propfind("/d/", "1", ALLPROP).await;
    assert_eq!(rendered, kept);
    assert_eq!(Multistatus::parse(&kept).hrefs().len(), 21);
}

#[tokio::test]
async fn a_file_written_by_another_process_shows_in_the_next_listing() {
    let s = TestServer::start().await;
    s.mkcol("/d/").await;
    s.put("/d/f.txt", "one").await;
    let before = kept_listing(&s, "/d/").await;
    assert_eq!(text(&before, "/d/f.txt", "getcontentlength"), "3");

    fs::write(s.root().join("d/f.txt"), "written elsewhere").unwrap();
    let after = listing(&s, "/d/").await;
    assert_eq!(text(&after, "/d/f.txt", "getcontentlength"), "17");
    assert_ne!(
        text(&before, "/d/f.txt", "getetag"),
        text(&after, "/d/f.txt", "getetag")
    );
}

#[tokio::test]
async fn members_created_renamed_and_removed_behind_davd_show_at_once() {
    let s = TestServer::start().await;
    s.mkcol("/d/").await;
    s.put("/d/a.txt", "a").await;
    kept_listing(&s, "/d/").await;

    fs::write(s.root().join("d/b.txt"), "b").unwrap();
    assert_eq!(
        listing(&s, "/d/").await.sorted_hrefs(),
        ["/d/", "/d/a.txt", "/d/b.txt"]
    );
    kept_listing(&s, "/d/").await;
    fs::rename(s.root().join("d/b.txt"), s.root().join("d/c.txt")).unwrap();
    assert_eq!(
        listing(&s, "/d/").await.sorted_hrefs(),
        ["/d/", "/d/a.txt", "/d/c.txt"]
    );
    kept_listing(&s, "/d/").await;
    fs::remove_file(s.root().join("d/a.txt")).unwrap();
    assert_eq!(listing(&s, "/d/").await.sorted_hrefs(), ["/d/", "/d/c.txt"]);
    // A member moved in from a directory nobody listed.
    fs::create_dir(s.root().join("elsewhere")).unwrap();
    fs::write(s.root().join("elsewhere/e.txt"), "e").unwrap();
    kept_listing(&s, "/d/").await;
    fs::rename(s.root().join("elsewhere/e.txt"), s.root().join("d/e.txt")).unwrap();
    assert_eq!(
        listing(&s, "/d/").await.sorted_hrefs(),
        ["/d/", "/d/c.txt", "/d/e.txt"]
    );
}

#[tokio::test]
async fn times_set_behind_davd_show() {
    let s = TestServer::start().await;
    s.mkcol("/d/").await;
    s.put("/d/f.txt", "f").await;
    kept_listing(&s, "/d/").await;
    fs::File::options()
        .write(true)
        .open(s.root().join("d/f.txt"))
        .unwrap()
        .set_modified(long_ago())
        .unwrap();
    let after = listing(&s, "/d/").await;
    assert!(
        text(&after, "/d/f.txt", "getlastmodified").contains("2001"),
        "{:?}",
        text(&after, "/d/f.txt", "getlastmodified")
    );
}

#[tokio::test]
async fn a_subdirectory_changed_inside_shows_its_new_modification_time() {
    let s = TestServer::start().await;
    s.mkcol("/d/").await;
    s.mkcol("/d/sub/").await;
    let sub = s.root().join("d/sub");
    fs::File::open(&sub)
        .unwrap()
        .set_modified(long_ago())
        .unwrap();
    let before = kept_listing(&s, "/d/").await;
    assert!(text(&before, "/d/sub/", "getlastmodified").contains("2001"));

    // Only the subdirectory's own watch sees this: the listed directory does not change.
    fs::write(sub.join("new.txt"), "new").unwrap();
    let after = listing(&s, "/d/").await;
    assert!(
        !text(&after, "/d/sub/", "getlastmodified").contains("2001"),
        "{:?}",
        text(&after, "/d/sub/", "getlastmodified")
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_symbolic_links_target_changed_elsewhere_shows() {
    let s = TestServer::start().await;
    s.mkcol("/d/").await;
    s.put("/target.txt", "one").await;
    std::os::unix::fs::symlink("../target.txt", s.root().join("d/link.txt")).unwrap();
    let before = kept_listing(&s, "/d/").await;
    assert_eq!(text(&before, "/d/link.txt", "getcontentlength"), "3");

    fs::write(s.root().join("target.txt"), "changed").unwrap();
    let after = listing(&s, "/d/").await;
    assert_eq!(text(&after, "/d/link.txt", "getcontentlength"), "7");
}

#[tokio::test]
async fn a_file_written_through_its_second_name_elsewhere_shows() {
    let s = TestServer::start().await;
    s.mkcol("/d/").await;
    s.mkcol("/other/").await;
    s.put("/d/f.txt", "one").await;
    fs::hard_link(s.root().join("d/f.txt"), s.root().join("other/f.txt")).unwrap();
    let before = kept_listing(&s, "/d/").await;
    assert_eq!(text(&before, "/d/f.txt", "getcontentlength"), "3");

    // Written in place through the other name: the same file, another directory's name.
    fs::File::options()
        .write(true)
        .truncate(true)
        .open(s.root().join("other/f.txt"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"through the other name"))
        .unwrap();
    let after = listing(&s, "/d/").await;
    assert_eq!(text(&after, "/d/f.txt", "getcontentlength"), "22");
}

#[tokio::test]
async fn properties_and_locks_changed_through_davd_show() {
    let s = TestServer::start().await;
    s.mkcol("/d/").await;
    s.put("/d/f.txt", "f").await;
    kept_listing(&s, "/d/").await;

    set_red(&s, "/d/f.txt").await;
    assert_eq!(red(&kept_listing(&s, "/d/").await, "/d/f.txt"), Some("red"));
    let token = s.lock("/d/f.txt", "0").await;
    assert!(shows_a_lock(&kept_listing(&s, "/d/").await, "/d/f.txt"));
    assert_eq!(
        s.unlock("/d/f.txt", &token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(!shows_a_lock(&kept_listing(&s, "/d/").await, "/d/f.txt"));
}

#[tokio::test]
async fn a_collection_replaced_by_another_of_the_same_name_is_listed_anew() {
    let s = TestServer::start().await;
    s.mkcol("/a/").await;
    s.mkcol("/a/d/").await;
    s.put("/a/d/old.txt", "old").await;
    kept_listing(&s, "/a/d/").await;

    // The parent is renamed and a new tree put where it was: nothing happens to the watched
    // directory itself, which now lives at /moved/d/.
    fs::rename(s.root().join("a"), s.root().join("moved")).unwrap();
    fs::create_dir_all(s.root().join("a/d")).unwrap();
    fs::write(s.root().join("a/d/new.txt"), "new").unwrap();
    assert_eq!(
        listing(&s, "/a/d/").await.sorted_hrefs(),
        ["/a/d/", "/a/d/new.txt"]
    );
}

#[tokio::test]
async fn a_member_mounted_from_other_stores_is_never_served_from_the_cache() {
    let s = TestServer::configured(
        r#"
[[mount]]
scope = "/"
namespace = { kind = "fs", root = "ROOT" }

[[mount]]
scope = "/mem"
namespace = { kind = "memory" }
properties = { kind = "memory" }
"#,
    )
    .await;
    s.put("/top.txt", "t").await;
    kept_listing(&s, "/").await;
    // Only the mount's own property store changes: nothing the root's sources count.
    let (status, _) = s
        .proppatch(
            "/mem/",
            r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><c xmlns="urn:c">blue</c></D:prop></D:set></D:propertyupdate>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let listed = listing(&s, "/").await;
    assert_eq!(
        listed
            .response("/mem/")
            .prop("urn:c", "c")
            .map(|p| p.text.as_str()),
        Some("blue")
    );
}

/// A live property whose value changes on every read, as a clock or a counter would: it does
/// not say it is `stable`.
struct Ticks(AtomicU64);

#[async_trait]
impl LivePropertyHandler for Ticks {
    fn names(&self) -> &[PropName] {
        static NAMES: std::sync::OnceLock<Vec<PropName>> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| vec![PropName::new("urn:ticks", "ticks")])
    }

    async fn get(&self, _: &PropContext<'_>, _: &PropName) -> SubsystemResult<Option<PropValue>> {
        let tick = self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Some(PropValue::Text(tick.to_string().into())))
    }
}

#[tokio::test]
async fn a_listing_that_shows_an_unstable_live_property_is_rendered_every_time() {
    let mut live: Vec<Arc<dyn LivePropertyHandler>> = standard_handlers();
    live.push(Arc::new(Ticks(AtomicU64::new(0))));
    let s = TestServer::with_handlers(live).await;
    s.mkcol("/d/").await;
    s.put("/d/f.txt", "f").await;
    let ticks = || async {
        let (_, body) = s
            .propfind(
                "/d/",
                "1",
                r#"<D:propfind xmlns:D="DAV:"><D:prop><t:ticks xmlns:t="urn:ticks"/><D:getetag/></D:prop></D:propfind>"#,
            )
            .await;
        let listed = Multistatus::parse(&body);
        listed
            .response("/d/f.txt")
            .prop("urn:ticks", "ticks")
            .unwrap()
            .text
            .clone()
    };
    let first = ticks().await;
    assert_ne!(
        ticks().await,
        first,
        "the second listing was rendered again"
    );
    // allprop reaches it too; a listing that does not reach it is kept as usual.
    let (_, rendered) = s.propfind("/d/", "1", ALLPROP).await;
    let (_, again) = s.propfind("/d/", "1", ALLPROP).await;
    assert_ne!(rendered, again);
    let etags = r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"#;
    let (_, rendered) = s.propfind("/d/", "1", etags).await;
    let (_, kept) = s.propfind("/d/", "1", etags).await;
    assert_eq!(rendered, kept);
}

/// One resource's answer (`Depth: 0`) is kept as well, checked against its metadata as just
/// read, the property store's count and the lock table.
#[tokio::test]
async fn one_resources_answer_shows_every_change_at_once() {
    let s = TestServer::start().await;
    s.put("/f.txt", "one").await;
    let _ = one_resource(&s, "/f.txt").await;
    let kept = one_resource(&s, "/f.txt").await;
    assert_eq!(text(&kept, "/f.txt", "getcontentlength"), "3");

    fs::write(s.root().join("f.txt"), "written elsewhere").unwrap();
    assert_eq!(
        text(
            &one_resource(&s, "/f.txt").await,
            "/f.txt",
            "getcontentlength"
        ),
        "17"
    );

    set_red(&s, "/f.txt").await;
    let _ = one_resource(&s, "/f.txt").await;
    assert_eq!(
        red(&one_resource(&s, "/f.txt").await, "/f.txt"),
        Some("red")
    );
    let token = s.lock("/f.txt", "0").await;
    assert!(shows_a_lock(&one_resource(&s, "/f.txt").await, "/f.txt"));
    assert_eq!(
        s.unlock("/f.txt", &token).await.status(),
        StatusCode::NO_CONTENT
    );
    let _ = one_resource(&s, "/f.txt").await;
    assert!(!shows_a_lock(&one_resource(&s, "/f.txt").await, "/f.txt"));
}
