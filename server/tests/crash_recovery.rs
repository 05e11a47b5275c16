//! Crash safety (docs/adr/0017-crash-safety.md): davd killed at every step of a tree DELETE,
//! MOVE or COPY, within one scope and across scopes, on the fs and sled namespaces, and of a
//! large PROPPATCH, starts again with every resource exactly once, whole, with its own dead
//! properties and locks and no one else's.
//!
//! Each step boundary of a journaled queue is a fail point (`DAVD_FAIL_AT=MOVE:3` aborts the
//! process there, as `kill -9` would, in the debug build tests run). Every test walks the
//! boundaries of one request in turn, from the first until the request completes, and after
//! each abort restarts davd without the fail point and checks the tree on both sides.
//!
//! The memory namespace at `/mem` (with memory properties and locks) keeps nothing across a
//! restart: there the check is on the other side of a MOVE or COPY, which must be whole with
//! its own properties and locks whatever the memory side lost.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use support::{Davd, LOCKINFO, ROOT_AND_DB_ARGS, method, root_and_db_config};

/// The file system at `/`, a sled namespace at `/db` (both with sled properties and locks),
/// a memory namespace with memory properties and locks at `/mem`, and a memory namespace that
/// inherits the root's sled properties and locks at `/vol`.
fn config() -> String {
    format!(
        r#"{}
[[mount]]
scope = "/mem"
namespace = {{ kind = "memory" }}
properties = {{ kind = "memory" }}
locks = {{ kind = "memory" }}

[[mount]]
scope = "/vol"
namespace = {{ kind = "memory" }}
"#,
        root_and_db_config(0)
    )
}

/// True for a path in a namespace that keeps nothing across a restart.
fn volatile(base: &str) -> bool {
    base.starts_with("/mem") || base.starts_with("/vol")
}

/// The tree every test builds: collections and files below a base, relative names.
const DIRS: [&str; 3] = ["d1", "d1/d2", "d3"];
const FILES: [&str; 10] = [
    "top-1.txt",
    "top-2.txt",
    "d1/a.txt",
    "d1/b.txt",
    "d1/d2/c.txt",
    "d1/d2/d.txt",
    "d1/d2/e.txt",
    "d3/f.txt",
    "d3/g.txt",
    "d3/h.txt",
];
/// The file that carries a lock.
const LOCKED: &str = "d1/a.txt";

fn client() -> Client {
    support::client_builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The property every member of a source tree carries.
const ORIGIN: &str = "origin";
/// The property every member of a tree that a MOVE or COPY overwrites carries: a name of its
/// own, so that one left behind on the tree that replaced it shows.
const OLD_ORIGIN: &str = "old-origin";

fn origin_patch(name: &str, value: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><t:{name} xmlns:t="urn:crash">{value}</t:{name}></D:prop></D:set></D:propertyupdate>"#
    )
}

/// Every property, so that one a resource should not have shows too.
const PROPFIND_ALL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#;

/// Builds the tree at `base` (a path such as `/src` or `/db/src`): every member carries a
/// dead property `property` naming the path it was created at, every file holds its own name,
/// and, with `lock`, [`LOCKED`] is locked. Returns the lock token.
async fn build(c: &Client, url: &str, base: &str, property: &str, lock: bool) -> Option<String> {
    let at = |rel: &str| format!("{url}{}/{rel}", base.trim_start_matches('/'));
    let r = c
        .request(
            method("MKCOL"),
            format!("{url}{}", base.trim_start_matches('/')),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "MKCOL {base}");
    for dir in DIRS {
        let r = c.request(method("MKCOL"), at(dir)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "MKCOL {dir}");
    }
    for file in FILES {
        let r = c.put(at(file)).body(file.to_owned()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "PUT {file}");
    }
    for member in DIRS.iter().chain(FILES.iter()).copied().chain([""]) {
        let target = if member.is_empty() {
            format!("{url}{}", base.trim_start_matches('/'))
        } else {
            at(member)
        };
        let value = format!("{base}/{member}");
        let r = c
            .request(method("PROPPATCH"), target)
            .body(origin_patch(property, value.trim_end_matches('/')))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    }
    if !lock {
        return None;
    }
    let r = c
        .request(method("LOCK"), at(LOCKED))
        .header("Timeout", "Second-3600")
        .body(LOCKINFO)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    Some(
        r.headers()["lock-token"]
            .to_str()
            .unwrap()
            .trim_matches(['<', '>'])
            .to_owned(),
    )
}

/// A member's dead properties of the test's namespace: name -> value.
type Props = BTreeMap<String, String>;
/// What a tree holds: relative member name -> (content for files, its `urn:crash` properties).
type Snapshot = BTreeMap<String, (Option<String>, Props)>;

/// The tree at `base` as davd shows it, or `None` if nothing is there.
async fn snapshot(c: &Client, url: &str, base: &str) -> Option<Snapshot> {
    let root = format!("{url}{}/", base.trim_start_matches('/'));
    let r = c
        .request(method("PROPFIND"), &root)
        .header("Depth", "infinity")
        .body(PROPFIND_ALL)
        .send()
        .await
        .unwrap();
    if r.status() == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(r.status(), StatusCode::MULTI_STATUS, "PROPFIND {base}");
    let body = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let prefix = format!("{}/", base);
    let mut out = Snapshot::new();
    for response in doc
        .descendants()
        .filter(|n| n.has_tag_name(("DAV:", "response")))
    {
        let href = response
            .descendants()
            .find(|n| n.has_tag_name(("DAV:", "href")))
            .and_then(|n| n.text())
            .unwrap();
        let path = percent_decode(href);
        let rel = path
            .strip_prefix(&prefix)
            .or_else(|| (path.trim_end_matches('/') == base).then_some(""))
            .unwrap_or_else(|| panic!("{path} is outside {base}"))
            .trim_end_matches('/')
            .to_owned();
        let collection = response
            .descendants()
            .any(|n| n.has_tag_name(("DAV:", "collection")));
        let props: Props = response
            .descendants()
            .filter(|n| n.tag_name().namespace() == Some("urn:crash"))
            .map(|n| {
                (
                    n.tag_name().name().to_owned(),
                    n.text().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let content = if collection {
            None
        } else {
            let r = c.get(format!("{root}{rel}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "GET {base}/{rel}");
            Some(r.text().await.unwrap())
        };
        out.insert(rel, (content, props));
    }
    Some(out)
}

fn percent_decode(href: &str) -> String {
    let path = href
        .find("://")
        .and_then(|i| href[i + 3..].find('/').map(|j| &href[i + 3 + j..]))
        .unwrap_or(href);
    percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// The tree [`build`] makes at `created_at` with `property`, as a snapshot.
fn expected(created_at: &str, property: &str) -> Snapshot {
    let prop = |value: String| Props::from([(property.to_owned(), value)]);
    let mut out = Snapshot::new();
    out.insert(String::new(), (None, prop(created_at.to_owned())));
    for dir in DIRS {
        out.insert(dir.to_owned(), (None, prop(format!("{created_at}/{dir}"))));
    }
    for file in FILES {
        out.insert(
            file.to_owned(),
            (Some(file.to_owned()), prop(format!("{created_at}/{file}"))),
        );
    }
    out
}

/// After recovery nothing is left in the staging directory or the journal.
fn assert_clean(dir: &Path) {
    let staging = davd_subsystems::fs::staged_leftovers(&dir.join("root/.davd-staging")).unwrap();
    assert!(staging.is_empty(), "staging holds {staging:?}");
    let journal: Vec<_> = std::fs::read_dir(dir.join("state/journal"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(journal.is_empty(), "the journal holds {journal:?}");
}

/// Checks that the lock on `base/LOCKED` is still enforced.
async fn assert_locked(c: &Client, url: &str, base: &str) {
    let r = c
        .put(format!("{url}{}/{LOCKED}", base.trim_start_matches('/')))
        .body("intruder")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED, "{base}/{LOCKED} is locked");
}

/// Checks that no lock from elsewhere holds the tree at `base`: an unlocked PUT there
/// succeeds.
async fn assert_unlocked(c: &Client, url: &str, base: &str) {
    let r = c
        .put(format!("{url}{}/{LOCKED}", base.trim_start_matches('/')))
        .body("no lock")
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "{base}/{LOCKED} carries no lock, yet a PUT answered {}",
        r.status()
    );
}

/// Checks that nothing of the tree that was at `base` lingers: a new resource created there
/// has no property and no lock of the old one.
async fn assert_nothing_lingers(c: &Client, url: &str, base: &str) {
    let dir = format!("{url}{}", base.trim_start_matches('/'));
    let r = c.request(method("MKCOL"), &dir).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "MKCOL {base} again");
    let r = c
        .request(method("MKCOL"), format!("{dir}/d1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c
        .put(format!("{dir}/{LOCKED}"))
        .body("new")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "no stale lock refuses a new {base}/{LOCKED}"
    );
    let tree = snapshot(c, url, base).await.unwrap();
    for (rel, (_, props)) in tree {
        assert!(props.is_empty(), "{base}/{rel} inherited {props:?}");
    }
}

/// What the log line of recovery says it did with an interrupted `method` (`undone` or
/// `finished`), if davd recovered one as it started.
fn recovery_outcome(davd: &Davd, method: &str) -> Option<String> {
    let line = davd
        .startup_lines
        .iter()
        .find(|l| l.contains("recovered a request interrupted by a crash"))?;
    assert!(line.contains(&format!("method={method}")), "{line}");
    let outcome = line.split("outcome=").nth(1)?;
    let outcome = outcome.split_whitespace().next()?;
    Some(outcome.trim_matches('"').to_owned())
}

/// What the request under test does.
#[derive(Clone, Copy)]
enum Op {
    Delete,
    Move { overwrite: bool },
    Copy,
}

/// One request under test: `op` of the tree at `source` (to `destination`).
struct Case {
    op: Op,
    source: &'static str,
    destination: &'static str,
}

impl Case {
    fn method(&self) -> &'static str {
        match self.op {
            Op::Delete => "DELETE",
            Op::Move { .. } => "MOVE",
            Op::Copy => "COPY",
        }
    }

    /// Sends the request; `None` if the connection broke (the process aborted).
    async fn send(&self, c: &Client, url: &str, token: &str) -> Option<StatusCode> {
        let source = format!("{url}{}/", self.source.trim_start_matches('/'));
        let locked = format!("{source}{LOCKED}");
        let mut request = c
            .request(method(self.method()), &source)
            .header("If", format!("<{locked}> (<{token}>)"));
        if !matches!(self.op, Op::Delete) {
            request = request
                .header(
                    "Destination",
                    format!("{url}{}/", self.destination.trim_start_matches('/')),
                )
                .header("Overwrite", "T");
        }
        request.send().await.ok().map(|r| r.status())
    }

    /// Runs the request against a fresh server that aborts at `point`; returns true if the
    /// request completed (the point lies beyond it).
    async fn run_to(&self, point: &str) -> bool {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("davd.toml"), config()).unwrap();
        let c = client();
        let fail_at = format!("{}:{point}", self.method());
        let mut davd =
            Davd::start_with_env(dir.path(), &ROOT_AND_DB_ARGS, &[("DAVD_FAIL_AT", &fail_at)]);
        let url = davd.url.clone();
        let token = build(&c, &url, self.source, ORIGIN, true).await.unwrap();
        if let Op::Move { overwrite: true } = self.op {
            build(&c, &url, self.destination, OLD_ORIGIN, false).await;
        }
        let answer = self.send(&c, &url, &token).await;
        let completed = match answer {
            Some(status) => {
                assert!(
                    status.is_success(),
                    "{fail_at}: {} answered {status}",
                    self.method()
                );
                assert!(!davd.has_exited());
                true
            }
            None => false,
        };
        if completed {
            davd.stop();
        } else {
            assert_eq!(
                davd.wait(Duration::from_secs(20)),
                None,
                "{fail_at}: killed, no exit code"
            );
        }

        let davd = Davd::start(dir.path(), &ROOT_AND_DB_ARGS);
        let url = davd.url.clone();
        assert_clean(dir.path());
        let outcome = recovery_outcome(&davd, self.method());
        assert_eq!(
            outcome.is_some(),
            !completed,
            "{fail_at}: the log says what recovery did, when there was something to recover"
        );
        let source = snapshot(&c, &url, self.source).await;
        let destination = snapshot(&c, &url, self.destination).await;
        // What a restart leaves of each side when nothing went wrong: a tree in memory is gone.
        let kept = |base: &str, tree: Snapshot| (!volatile(base)).then_some(tree);
        let whole_source = kept(self.source, expected(self.source, ORIGIN));
        // Properties travel with what they describe: a moved or copied member still names
        // where it was made.
        let whole_copy = kept(self.destination, expected(self.source, ORIGIN));
        match self.op {
            Op::Delete => {
                if let Some(outcome) = outcome
                    && !volatile(self.source)
                {
                    let expected = if source.is_some() {
                        "undone"
                    } else {
                        "finished"
                    };
                    assert_eq!(outcome, expected, "{fail_at}: the log tells the outcome");
                }
                if source.is_some() {
                    assert_eq!(source, whole_source, "{fail_at}: the tree is back whole");
                    assert!(!completed, "{fail_at}: an acknowledged DELETE was undone");
                    assert_locked(&c, &url, self.source).await;
                } else {
                    assert_nothing_lingers(&c, &url, self.source).await;
                }
            }
            Op::Move { overwrite } => {
                let old_destination = overwrite
                    .then(|| expected(self.destination, OLD_ORIGIN))
                    .and_then(|tree| kept(self.destination, tree));
                // Which side the tree is on: the source is back (undone), or the
                // destination has it (finished). With a source in memory, only the
                // destination tells; with a destination in memory, only the source.
                let undone = if volatile(self.source) {
                    destination != whole_copy || whole_copy.is_none()
                } else {
                    source.is_some()
                };
                if let Some(outcome) = outcome
                    && !volatile(self.source)
                    && !volatile(self.destination)
                {
                    let expected = if undone { "undone" } else { "finished" };
                    assert_eq!(outcome, expected, "{fail_at}: the log tells the outcome");
                }
                if undone {
                    assert!(!completed, "{fail_at}: an acknowledged MOVE was undone");
                    assert_eq!(source, whole_source, "{fail_at}: the source is back whole");
                    assert_eq!(
                        destination, old_destination,
                        "{fail_at}: the destination is as it was"
                    );
                    if whole_source.is_some() {
                        assert_locked(&c, &url, self.source).await;
                    }
                    if old_destination.is_some() {
                        assert_unlocked(&c, &url, self.destination).await;
                    }
                } else {
                    assert_eq!(
                        destination, whole_copy,
                        "{fail_at}: the tree arrived whole, with its own properties"
                    );
                    if whole_copy.is_some() {
                        assert_unlocked(&c, &url, self.destination).await;
                    }
                    assert_nothing_lingers(&c, &url, self.source).await;
                }
            }
            Op::Copy => {
                assert_eq!(source, whole_source, "{fail_at}: the source is untouched");
                if whole_source.is_some() {
                    assert_locked(&c, &url, self.source).await;
                }
                if destination.is_some() {
                    assert_eq!(destination, whole_copy, "{fail_at}: the copy is whole");
                    assert_unlocked(&c, &url, self.destination).await;
                } else {
                    assert!(
                        !completed || whole_copy.is_none(),
                        "{fail_at}: an acknowledged COPY vanished"
                    );
                }
            }
        }
        assert_eq!(davd.stop(), Some(0));
        completed
    }

    /// Kills the request at every numbered boundary in turn, then at its named ones.
    async fn kill_everywhere(&self) {
        for named in ["copied-1", "copied-half", "batch-1", "applied", "flushed"] {
            self.run_to(named).await;
        }
        for boundary in 0..40 {
            if self.run_to(&boundary.to_string()).await {
                assert!(
                    boundary >= 3,
                    "a journaled request has at least three boundaries"
                );
                return;
            }
        }
        panic!("{} never completed", self.method());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_of_a_tree_on_fs() {
    Case {
        op: Op::Delete,
        source: "/src",
        destination: "/unused",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_of_a_tree_on_sled() {
    Case {
        op: Op::Delete,
        source: "/db/src",
        destination: "/db/unused",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_within_fs_onto_an_existing_tree() {
    Case {
        op: Op::Move { overwrite: true },
        source: "/src",
        destination: "/dst",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_within_sled() {
    Case {
        op: Op::Move { overwrite: false },
        source: "/db/src",
        destination: "/db/dst",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_from_fs_to_sled() {
    Case {
        op: Op::Move { overwrite: false },
        source: "/src",
        destination: "/db/dst",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_from_sled_to_fs_onto_an_existing_tree() {
    Case {
        op: Op::Move { overwrite: true },
        source: "/db/src",
        destination: "/dst",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_within_fs() {
    Case {
        op: Op::Copy,
        source: "/src",
        destination: "/dst",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_sled_to_fs() {
    Case {
        op: Op::Copy,
        source: "/db/src",
        destination: "/dst",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_fs_to_sled() {
    Case {
        op: Op::Copy,
        source: "/src",
        destination: "/db/dst",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_within_sled() {
    Case {
        op: Op::Copy,
        source: "/db/src",
        destination: "/db/dst",
    }
    .kill_everywhere()
    .await;
}

/// The destination's properties and locks keep nothing across a restart: the source must
/// come back with its own properties and lock, or be gone with the committed MOVE. It once
/// came back without them (the memory batch went first and decided "not committed").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_from_fs_to_memory() {
    Case {
        op: Op::Move { overwrite: false },
        source: "/src",
        destination: "/mem/dst",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_from_memory_to_fs_onto_an_existing_tree() {
    Case {
        op: Op::Move { overwrite: true },
        source: "/mem/src",
        destination: "/dst",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_fs_to_memory() {
    Case {
        op: Op::Copy,
        source: "/src",
        destination: "/mem/dst",
    }
    .kill_everywhere()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_memory_to_sled() {
    Case {
        op: Op::Copy,
        source: "/mem/src",
        destination: "/db/dst",
    }
    .kill_everywhere()
    .await;
}

/// A memory namespace that shares the root's sled properties and locks: after a crash in a
/// DELETE its tree is gone, and so must be its properties and locks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_under_a_memory_namespace_with_sled_properties() {
    Case {
        op: Op::Delete,
        source: "/vol/src",
        destination: "/vol/unused",
    }
    .kill_everywhere()
    .await;
}

/// Resources of a memory namespace are gone after a restart, even an orderly one; the
/// properties and locks it inherited from sled went with them, so new resources at their
/// paths start with none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_namespace_keeps_no_properties_or_locks_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("davd.toml"), config()).unwrap();
    let c = client();
    let davd = Davd::start(dir.path(), &ROOT_AND_DB_ARGS);
    build(&c, &davd.url, "/vol/src", ORIGIN, true).await;
    assert_eq!(davd.stop(), Some(0));
    let davd = Davd::start(dir.path(), &ROOT_AND_DB_ARGS);
    assert_eq!(snapshot(&c, &davd.url, "/vol/src").await, None);
    assert_nothing_lingers(&c, &davd.url, "/vol/src").await;
    assert_eq!(davd.stop(), Some(0));
}

/// A PROPPATCH of thousands of properties is one atomic batch: killed before, during or after
/// its commit, the restarted server has all of them or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_proppatch_is_all_or_nothing() {
    const COUNT: usize = 3000;
    let mut body = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:t="urn:bulk"><D:set><D:prop>"#,
    );
    for i in 0..COUNT {
        body.push_str(&format!("<t:p{i}>value {i}</t:p{i}>"));
    }
    body.push_str("</D:prop></D:set></D:propertyupdate>");
    for (point, base) in [
        ("0", ""),
        ("1500", ""),
        ("3000", "db/"),
        ("applied", ""),
        ("applied", "db/"),
        ("end", ""),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("davd.toml"), root_and_db_config(0)).unwrap();
        let c = client();
        let fail_at = format!("PROPPATCH:{point}");
        let davd =
            Davd::start_with_env(dir.path(), &ROOT_AND_DB_ARGS, &[("DAVD_FAIL_AT", &fail_at)]);
        let file = format!("{}{base}file.txt", davd.url);
        let r = c.put(&file).body("x").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let answer = c
            .request(method("PROPPATCH"), &file)
            .body(body.clone())
            .send()
            .await;
        assert!(answer.is_err(), "{fail_at}: the process aborted");
        assert_eq!(davd.wait(Duration::from_secs(20)), None);

        let davd = Davd::start(dir.path(), &ROOT_AND_DB_ARGS);
        let file = format!("{}{base}file.txt", davd.url);
        let r = c
            .request(method("PROPFIND"), &file)
            .header("Depth", "0")
            .body(r#"<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#)
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        let found = (0..COUNT)
            .filter(|i| text.contains(&format!(">value {i}<")))
            .count();
        assert!(
            found == 0 || found == COUNT,
            "{fail_at}: {found} of {COUNT} properties survived"
        );
        assert_eq!(davd.stop(), Some(0));
    }
}

/// A LOCK of an unmapped URL creates an empty resource and a lock: killed between the two,
/// the restarted server has neither (the resource is removed again) or both; on the file
/// system and in sled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_that_creates_its_resource_is_all_or_nothing() {
    for path in ["db/new.txt", "new.txt"] {
        lock_creating(path).await;
    }
}

async fn lock_creating(path: &str) {
    for boundary in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("davd.toml"), config()).unwrap();
        let c = client();
        let fail_at = format!("LOCK:{boundary}");
        let davd =
            Davd::start_with_env(dir.path(), &ROOT_AND_DB_ARGS, &[("DAVD_FAIL_AT", &fail_at)]);
        let answer = c
            .request(method("LOCK"), format!("{}{path}", davd.url))
            .body(LOCKINFO)
            .send()
            .await;
        let completed = answer.is_ok();
        if completed {
            assert_eq!(davd.stop(), Some(0));
        } else {
            assert_eq!(davd.wait(Duration::from_secs(20)), None);
        }
        let davd = Davd::start(dir.path(), &ROOT_AND_DB_ARGS);
        assert_clean(dir.path());
        let new = format!("{}{path}", davd.url);
        let exists = c.get(&new).send().await.unwrap().status() == StatusCode::OK;
        let locked = c.put(&new).body("y").send().await.unwrap().status() == StatusCode::LOCKED;
        assert_eq!(
            exists, locked,
            "{fail_at} {path}: the resource and its lock go together"
        );
        assert_eq!(davd.stop(), Some(0));
        if completed {
            assert!(exists, "an acknowledged LOCK kept its resource");
            return;
        }
    }
    panic!("the LOCK of {path} never completed");
}

/// A PUT that also sets properties (`X-MSDAVEXT: PROPPATCH`, MS-WDV 3.2.5.5) is journaled:
/// killed at any step, the restarted server has the old content without the new property, or
/// the new content with it; on the file system and in sled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_with_properties_is_all_or_nothing() {
    for path in ["f.txt", "db/f.txt"] {
        put_with_properties(path).await;
    }
}

async fn put_with_properties(path: &str) {
    let xml = origin_patch("put", "new");
    let mut body = format!("{:016X}{xml}{:016X}", xml.len(), 3).into_bytes();
    body.extend_from_slice(b"new");
    for point in ["0", "1", "2", "3", "4", "applied", "flushed", "5", "6"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("davd.toml"), config()).unwrap();
        let c = client();
        let fail_at = format!("PUT:{point}");
        let davd =
            Davd::start_with_env(dir.path(), &ROOT_AND_DB_ARGS, &[("DAVD_FAIL_AT", &fail_at)]);
        let url = format!("{}{path}", davd.url);
        let r = c.put(&url).body("old").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let answer = c
            .put(&url)
            .header("X-MSDAVEXT", "PROPPATCH")
            .header("Content-Type", "multipart/MSDAVEXTPrefixEncoded")
            .body(body.clone())
            .send()
            .await;
        let completed = match answer {
            Ok(r) => {
                assert_eq!(r.status(), StatusCode::NO_CONTENT, "{fail_at} {path}");
                assert_eq!(davd.stop(), Some(0));
                true
            }
            Err(_) => {
                assert_eq!(davd.wait(Duration::from_secs(20)), None);
                false
            }
        };
        let davd = Davd::start(dir.path(), &ROOT_AND_DB_ARGS);
        assert_clean(dir.path());
        let url = format!("{}{path}", davd.url);
        let content = c.get(&url).send().await.unwrap().text().await.unwrap();
        let r = c
            .request(method("PROPFIND"), &url)
            .header("Depth", "0")
            .body(PROPFIND_ALL)
            .send()
            .await
            .unwrap();
        let has_property = r.text().await.unwrap().contains(">new</");
        match content.as_str() {
            "old" => {
                assert!(
                    !completed,
                    "{fail_at} {path}: an acknowledged PUT was undone"
                );
                assert!(!has_property, "{fail_at} {path}: old content, new property");
            }
            "new" => assert!(has_property, "{fail_at} {path}: new content, no property"),
            other => panic!("{fail_at} {path}: the content is {other:?}"),
        }
        assert_eq!(davd.stop(), Some(0));
    }
}

/// A PUT or MKCOL into a sled namespace that was acknowledged survives a `kill -9` right
/// after the acknowledgment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_into_sled_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("davd.toml"), root_and_db_config(0)).unwrap();
    let c = client();
    let davd = Davd::start(dir.path(), &ROOT_AND_DB_ARGS);
    let r = c
        .request(method("MKCOL"), format!("{}db/folder", davd.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c
        .put(format!("{}db/folder/kept.txt", davd.url))
        .body("acknowledged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    davd.signal("KILL");
    assert_eq!(davd.wait(Duration::from_secs(20)), None);

    let davd = Davd::start(dir.path(), &ROOT_AND_DB_ARGS);
    let r = c
        .get(format!("{}db/folder/kept.txt", davd.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "acknowledged");
    assert_eq!(davd.stop(), Some(0));
}

/// The report that started this: a MOVE of a large tree from an fs scope to a sled scope,
/// killed half way through the copy or after its commit, lost hundreds of files. Every file
/// is now exactly once, at the source or at the destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_move_from_fs_to_sled_killed_half_way_loses_nothing() {
    const FILES: usize = 400;
    for point in ["copied-half", "applied", "4"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("davd.toml"), root_and_db_config(0)).unwrap();
        for i in 0..FILES {
            let sub = dir.path().join(format!("root/big/d{}", i % 10));
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(sub.join(format!("f{i}.txt")), format!("file {i}")).unwrap();
        }
        let c = client();
        let fail_at = format!("MOVE:{point}");
        let davd =
            Davd::start_with_env(dir.path(), &ROOT_AND_DB_ARGS, &[("DAVD_FAIL_AT", &fail_at)]);
        let answer = c
            .request(method("MOVE"), format!("{}big/", davd.url))
            .header("Destination", format!("{}db/big/", davd.url))
            .send()
            .await;
        assert!(answer.is_err(), "{fail_at}: the process aborted");
        assert_eq!(davd.wait(Duration::from_secs(60)), None);

        let davd = Davd::start(dir.path(), &ROOT_AND_DB_ARGS);
        let mut at_source = 0;
        let mut at_destination = 0;
        for i in 0..FILES {
            let name = format!("big/d{}/f{i}.txt", i % 10);
            let source = c.get(format!("{}{name}", davd.url)).send().await.unwrap();
            let moved = c
                .get(format!("{}db/{name}", davd.url))
                .send()
                .await
                .unwrap();
            match (source.status(), moved.status()) {
                (StatusCode::OK, StatusCode::NOT_FOUND) => {
                    assert_eq!(source.text().await.unwrap(), format!("file {i}"));
                    at_source += 1;
                }
                (StatusCode::NOT_FOUND, StatusCode::OK) => {
                    assert_eq!(moved.text().await.unwrap(), format!("file {i}"));
                    at_destination += 1;
                }
                (a, b) => panic!("{fail_at}: {name} is {a} at the source and {b} moved"),
            }
        }
        assert!(
            at_source == FILES || at_destination == FILES,
            "{fail_at}: the tree is whole on one side ({at_source} / {at_destination})"
        );
        assert_clean(dir.path());
        assert_eq!(davd.stop(), Some(0));
    }
}
