//! Issue 22 on the `s3` kind, beyond the HTTP tests every kind runs (`history.rs`): the hourly
//! sweep run by two instances at once, and a real davd killed (`DAVD_FAIL_AT`, debug builds)
//! just before and just after it files what a PUT replaced or a DELETE removed. After each,
//! davd starts again and the version or the tree is on its shelf exactly once, and the
//! bucket holds exactly the blobs rows name once a collection round and an orphan scan with
//! no grace period have run (`S3Namespace::collect_and_audit`): no version's blob is ever
//! collected, no pruned one is left.
//!
//! They need a database and a store (`DAVD_TEST_DATABASE_URL`, `DAVD_TEST_S3_ENDPOINT`);
//! without them they pass after a loud line, and fail when `DAVD_REQUIRE_S3_TESTS` is set.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::StatusCode;

use davd_executive::history::{stamp, sweep};
use davd_registry::{ByteStream, DavPath, History, NamespaceManager, Retention, Shelf, WriteMode};
use davd_subsystems::conformance::cluster::{SchemaGuard, fresh_schema, test_database};
use davd_subsystems::conformance::s3::{fresh_prefix, test_store};
use davd_subsystems::s3::S3Namespace;

const BINARY: &str = env!("CARGO_BIN_EXE_davd-node");
const DAY: Duration = Duration::from_secs(86_400);

fn p(s: &str) -> DavPath {
    DavPath::parse_url_path(s).unwrap().0
}

fn body(text: &'static str) -> ByteStream {
    Box::pin(futures_util::stream::once(async move {
        Ok(Bytes::from_static(text.as_bytes()))
    }))
}

/// Names below `path` on a shelf, sorted.
async fn names(view: &dyn NamespaceManager, path: &str) -> Vec<String> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    let mut batches = match view.list(&p(path)).await {
        Ok(batches) => batches,
        Err(e) if e.is_not_found() => return out,
        Err(e) => panic!("listing {path}: {e}"),
    };
    while let Some(batch) = batches.next().await {
        out.extend(batch.unwrap().into_iter().map(|m| m.name));
    }
    out.sort();
    out
}

/// Files a new file at `live` (whose parent exists) at `at` on `shelf`, as a write or a
/// DELETE would have.
async fn file(ns: &S3Namespace, history: &History, shelf: Shelf, live: &str, at: &str) {
    ns.write(&p(live), body("kept"), WriteMode::Replace)
        .await
        .unwrap();
    let detached = ns.detach(&p(live), &uuid_like(at)).await.unwrap();
    history.area.keep(shelf, detached, &p(at)).await.unwrap();
}

fn uuid_like(at: &str) -> String {
    format!("test-{}", at.replace('/', "_"))
}

/// The sweep of two instances at once removes what is older than the retention once, with
/// the collections it leaves empty, and nothing newer; the collector then removes exactly
/// the pruned entries' blobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sweeping_at_once_prune_old_history_and_its_blobs() {
    let Some(store) = test_store() else { return };
    let Some(url) = test_database() else { return };
    let schema = fresh_schema();
    let _guard = SchemaGuard {
        url: url.clone(),
        schema: schema.clone(),
    };
    let prefix = fresh_prefix();
    let a = store.auditor(&url, &schema, &prefix).await;
    let b = store.auditor(&url, &schema, &prefix).await;
    let retention = Retention {
        keep: 30 * DAY,
        max_versions: 50,
    };
    let history_a = History {
        area: a.history_area().await.unwrap(),
        retention,
    };
    let history_b = History {
        area: b.history_area().await.unwrap(),
        retention,
    };
    let now = SystemTime::now();
    let (old, recent) = (stamp(now - 31 * DAY), stamp(now - 29 * DAY));
    a.create_collection(&p("/docs")).await.unwrap();
    let versions = [
        ("/docs/a.txt", format!("/docs/a.txt/{old}.txt")),
        ("/docs/a.txt", format!("/docs/a.txt/{recent}.txt")),
        ("/docs/old.txt", format!("/docs/old.txt/{old}.txt")),
        ("/docs/old.txt", format!("/docs/old.txt/{old}~2.txt")),
    ];
    for (live, at) in &versions {
        file(&a, &history_a, Shelf::Versions, live, at).await;
    }
    let trash = [
        ("/docs/gone.txt", format!("/{old}/docs/gone.txt")),
        ("/docs/recent.txt", format!("/{recent}/docs/recent.txt")),
    ];
    for (live, at) in &trash {
        file(&a, &history_a, Shelf::Trash, live, at).await;
    }
    assert_eq!(a.audit().await.unwrap().named.len(), 6);

    let (swept_a, swept_b) = tokio::join!(sweep(&history_a, now), sweep(&history_b, now));
    let swept = swept_a.unwrap() + swept_b.unwrap();
    assert!(
        (4..=8).contains(&swept),
        "each old entry seen once or twice"
    );
    let view = history_a.area.view(Shelf::Versions);
    assert_eq!(names(view.as_ref(), "/docs").await, ["a.txt"]);
    assert_eq!(
        names(view.as_ref(), "/docs/a.txt").await,
        [format!("{recent}.txt")]
    );
    let view = history_a.area.view(Shelf::Trash);
    assert_eq!(names(view.as_ref(), "/").await, [recent]);
    let audit = a.collect_and_audit().await.unwrap();
    audit.assert_exactly_named("after the sweeps");
    assert_eq!(audit.stored.len(), 2, "the two recent entries' blobs");
    assert_eq!(sweep(&history_a, now).await.unwrap(), 0);
}

/// The harness (`davd_tests::s3_crashable`) with an s3 mount at `/s3` that keeps history
/// (browsed at `/.history/s3`), and what these tests ask of it.
struct Crashable(davd_tests::s3_crashable::Crashable);

impl Crashable {
    async fn start() -> Option<Crashable> {
        let keys = "history = { keep = \"30d\" }\n";
        davd_tests::s3_crashable::Crashable::start(BINARY, keys)
            .await
            .map(Crashable)
    }

    async fn restart(&mut self, fail_at: Option<&str>) {
        self.0.restart(fail_at).await;
    }

    async fn send(&self, method: &str, path: &str, body: &'static str) -> Option<StatusCode> {
        self.0.status(self.0.request(method, path).body(body)).await
    }

    /// The hrefs below `path` (without its own), sorted newest first.
    async fn members(&self, path: &str) -> Vec<String> {
        let r = self.0.request("PROPFIND", path);
        let r = r.header("Depth", "1").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::MULTI_STATUS, "PROPFIND {path}");
        let body = r.text().await.unwrap();
        let mut hrefs: Vec<String> = davd_tests::Multistatus::parse(&body)
            .hrefs()
            .into_iter()
            .filter(|h| h.trim_end_matches('/') != path.trim_end_matches('/'))
            .map(str::to_owned)
            .collect();
        hrefs.sort_by(|a, b| b.cmp(a));
        hrefs
    }

    async fn text(&self, path: &str) -> String {
        let r = self.0.request("GET", path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.text().await.unwrap()
    }

    async fn check_bucket(&self, context: &str) {
        self.0.check_bucket(context).await;
    }
}

/// A PUT replacing "old" with "new" at `/s3/<point>.txt`, aborted at `HISTORY:<point>`.
async fn put_killed_at(c: &mut Crashable, point: &str) {
    let path = format!("/s3/{point}.txt");
    assert_eq!(c.send("PUT", &path, "old").await, Some(StatusCode::CREATED));
    c.restart(Some(&format!("HISTORY:{point}"))).await;
    assert_eq!(c.send("PUT", &path, "new").await, None, "{point}: aborted");
    c.restart(None).await;
    assert_eq!(c.text(&path).await, "new", "{point}");
    let versions = c.members(&format!("/.history{path}/")).await;
    assert_eq!(versions.len(), 1, "{point}: {versions:?}");
    assert_eq!(c.text(&versions[0]).await, "old", "{point}");
    c.check_bucket(&format!("a PUT killed at {point}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_killed_before_or_after_its_version_is_filed_keeps_it_once() {
    let Some(mut c) = Crashable::start().await else {
        return;
    };
    put_killed_at(&mut c, "keep").await;
    put_killed_at(&mut c, "kept").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_killed_before_or_after_the_trash_puts_the_tree_there_once() {
    let Some(mut c) = Crashable::start().await else {
        return;
    };
    for point in ["keep", "kept"] {
        let tree = format!("/s3/{point}");
        assert_eq!(c.send("MKCOL", &tree, "").await, Some(StatusCode::CREATED));
        for name in ["a.txt", "b.txt"] {
            let status = c.send("PUT", &format!("{tree}/{name}"), "x").await;
            assert_eq!(status, Some(StatusCode::CREATED));
        }
        c.restart(Some(&format!("HISTORY:{point}"))).await;
        assert_eq!(c.send("DELETE", &tree, "").await, None, "{point}: aborted");
        c.restart(None).await;
        let r = c.0.request("GET", &format!("{tree}/a.txt"));
        let status = r.send().await.unwrap().status();
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{point}: the DELETE was finished"
        );
        let found: Vec<String> = {
            let mut found = Vec::new();
            for removal in c.members("/.history/s3/.trash/").await {
                found.extend(c.members(&removal).await);
            }
            found
        };
        let here: Vec<&String> = found
            .iter()
            .filter(|h| h.ends_with(&format!("/{point}/")))
            .collect();
        assert_eq!(here.len(), 1, "{point}: {found:?}");
        for name in ["a.txt", "b.txt"] {
            assert_eq!(c.text(&format!("{}{name}", here[0])).await, "x");
        }
        c.check_bucket(&format!("a DELETE killed at {point}")).await;
    }
}
