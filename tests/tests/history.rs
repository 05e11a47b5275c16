//! Issue 22: history. A mount that keeps history keeps the content a PUT replaces as a
//! version of its path, and what a DELETE removes in a trash; both are browsed read-only
//! under `/.history` and restored with COPY or MOVE.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use davd_subsystems::conformance::cluster::{SchemaGuard, fresh_schema, test_database};
use davd_subsystems::conformance::s3::test_store;
use davd_tests::TestServer;
use reqwest::StatusCode;

const DAY: Duration = Duration::from_secs(86_400);

async fn keeping() -> TestServer {
    TestServer::start_with(|s| s.keep_history = Some(30 * DAY)).await
}

/// A `/` mount of namespace `kind` (with memory properties and locks) keeping history.
fn config_keeping(kind: &str, history: &str) -> String {
    let namespace = match kind {
        "fs" => "{ kind = \"fs\", root = \"ROOT\" }".to_owned(),
        other => format!("{{ kind = \"{other}\" }}"),
    };
    format!(
        "[[mount]]\nscope = \"/\"\nnamespace = {namespace}\n\
         properties = {{ kind = \"memory\" }}\nlocks = {{ kind = \"memory\" }}\n\
         history = {history}\n"
    )
}

/// The namespace kinds that keep history. `s3` runs only with a test database and store
/// (`davd_subsystems::conformance::s3`), and says loudly when it does not.
const KINDS: [&str; 4] = ["fs", "memory", "sled", "s3"];

/// A server under test, with what drops its s3 tree's schema when it is done.
struct Keeping {
    server: TestServer,
    _schema: Option<SchemaGuard>,
}

impl std::ops::Deref for Keeping {
    type Target = TestServer;

    fn deref(&self) -> &TestServer {
        &self.server
    }
}

/// A `/` mount of `kind` keeping `history`: [`config_keeping`], or for `s3` a fresh prefix of
/// the test store with its tree, properties and locks in a fresh schema of the test
/// database; `None` (after the loud skip line) when s3 has neither.
async fn server_keeping(kind: &str, history: &str) -> Option<Keeping> {
    if kind != "s3" {
        let server = TestServer::configured(&config_keeping(kind, history)).await;
        return Some(Keeping {
            server,
            _schema: None,
        });
    }
    let store = test_store()?;
    let url = test_database()?;
    let schema = fresh_schema();
    let config = format!(
        "[cluster]\ndatabase = \"{url}\"\nschema = \"{schema}\"\ninstance = \"history\"\n\n\
         [[mount]]\nscope = \"/\"\nnamespace = {{ {} }}\n\
         properties = {{ kind = \"postgres\" }}\nlocks = {{ kind = \"postgres\" }}\n\
         history = {history}\n",
        store.table_keys()
    );
    let server = TestServer::configured(&config).await;
    Some(Keeping {
        server,
        _schema: Some(SchemaGuard { url, schema }),
    })
}

/// A server keeping 30 days of history on `/` for each kind that keeps it: the embedded
/// default (fs with sled properties) and each other kind under [`server_keeping`].
async fn keeping_each_kind() -> Vec<Keeping> {
    let mut servers = vec![Keeping {
        server: keeping().await,
        _schema: None,
    }];
    for kind in KINDS.iter().filter(|k| **k != "fs") {
        servers.extend(server_keeping(kind, "{ keep = \"30d\" }").await);
    }
    servers
}

/// The hrefs of a `Depth: 1` listing, without the collection's own, newest first: history
/// names begin with the time they were kept, so they sort in time (a second `~2` within one
/// second sorts after the first).
async fn members(s: &TestServer, path: &str) -> Vec<String> {
    let (status, body) = s.propfind(path, "1", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{path}: {body}");
    let own = s.url(path);
    let own = own.trim_start_matches(&format!("http://{}", s.addr));
    let mut hrefs = body
        .split("<D:href>")
        .skip(1)
        .filter_map(|rest| {
            rest.split_once("</D:href>")
                .map(|(href, _)| href.to_owned())
        })
        .filter(|href| href.trim_end_matches('/') != own.trim_end_matches('/'))
        .collect::<Vec<_>>();
    hrefs.sort_by(|a, b| b.cmp(a));
    hrefs
}

async fn text(s: &TestServer, path: &str) -> String {
    let r = s.get(path).await;
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_content_is_kept_as_versions_newest_first() {
    for s in keeping_each_kind().await {
        replaced_content_is_kept_as_versions_newest_first_on(&s).await;
    }
}

async fn replaced_content_is_kept_as_versions_newest_first_on(s: &TestServer) {
    assert_eq!(s.mkcol("/docs").await.status(), StatusCode::CREATED);
    for v in ["one", "two", "three"] {
        assert!(s.put("/docs/report.docx", v).await.status().is_success());
    }
    let versions = members(s, "/.history/docs/report.docx/").await;
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(
        versions.iter().all(|v| v.ends_with(".docx")),
        "{versions:?}"
    );
    // Newest first: the content replaced last comes first.
    assert_eq!(text(s, &versions[0]).await, "two");
    assert_eq!(text(s, &versions[1]).await, "one");
    assert_eq!(text(s, "/docs/report.docx").await, "three");

    // The space history takes: what the view holds, "two" and "one".
    let (status, body) = s
        .propfind(
            "/.history/",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><D:quota-used-bytes/></D:prop></D:propfind>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert!(
        body.contains("<D:quota-used-bytes>6</D:quota-used-bytes>"),
        "{body}"
    );
}

/// `COPY` or `MOVE` of `from` onto `to`, overwriting.
async fn transfer(s: &TestServer, method: &str, from: &str, to: &str) -> StatusCode {
    s.request(method, from)
        .header("Destination", s.url(to))
        .header("Overwrite", "T")
        .send()
        .await
        .unwrap()
        .status()
}

const PROPPATCH: &str = r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:t">1</x></D:prop></D:set></D:propertyupdate>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_is_restored_by_copy_and_never_changed_in_place() {
    for s in keeping_each_kind().await {
        a_version_is_restored_by_copy_and_never_changed_in_place_on(&s).await;
    }
}

async fn a_version_is_restored_by_copy_and_never_changed_in_place_on(s: &TestServer) {
    s.put("/a.txt", "first").await;
    s.put("/a.txt", "second").await;
    let versions = members(s, "/.history/a.txt/").await;
    assert_eq!(versions.len(), 1);
    let version = &versions[0];

    // The views take no writes, whatever the method.
    assert_eq!(
        s.put(version, "forged").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.delete(version).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        s.proppatch(version, PROPPATCH).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.mkcol("/.history/new").await.status(),
        StatusCode::FORBIDDEN
    );
    let locked = s
        .request("LOCK", version)
        .body(
            r#"<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), StatusCode::FORBIDDEN);
    let moved = transfer(s, "MOVE", version, "/elsewhere.txt").await;
    assert_eq!(moved, StatusCode::FORBIDDEN);
    assert_eq!(text(s, version).await, "first");

    // Restoring is an ordinary COPY onto the live path; what it replaces is kept in turn.
    assert_eq!(
        transfer(s, "COPY", version, "/a.txt").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(text(s, "/a.txt").await, "first");
    let versions = members(s, "/.history/a.txt/").await;
    assert_eq!(versions.len(), 2);
    assert_eq!(text(s, &versions[0]).await, "second");
    assert_eq!(text(s, &versions[1]).await, "first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_files_and_trees_wait_in_the_trash_and_move_back() {
    for s in keeping_each_kind().await {
        deleted_files_and_trees_wait_in_the_trash_and_move_back_on(&s).await;
    }
}

async fn deleted_files_and_trees_wait_in_the_trash_and_move_back_on(s: &TestServer) {
    s.mkcol("/project").await;
    s.put("/project/plan.md", "plan").await;
    s.put("/notes.txt", "notes").await;
    assert_eq!(s.delete("/project").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.delete("/notes.txt").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.get("/project/plan.md").await.status(),
        StatusCode::NOT_FOUND
    );

    // Each removal under its time, with the path it was removed from below it.
    let removals = members(s, "/.history/.trash/").await;
    assert!(!removals.is_empty() && removals.len() <= 2, "{removals:?}");
    let mut found = Vec::new();
    for removal in &removals {
        found.extend(members(s, removal).await);
    }
    found.sort();
    assert_eq!(found.len(), 2, "{found:?}");
    let notes = found.iter().find(|h| h.ends_with("/notes.txt")).unwrap();
    let project = found.iter().find(|h| h.ends_with("/project/")).unwrap();
    assert_eq!(text(s, &format!("{project}plan.md")).await, "plan");

    // A MOVE out of the trash restores the tree and empties its entry; a DELETE there
    // removes an entry for good.
    assert_eq!(
        transfer(s, "MOVE", project, "/project").await,
        StatusCode::CREATED
    );
    assert_eq!(text(s, "/project/plan.md").await, "plan");
    assert_eq!(s.get(project).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.delete(notes).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get(notes).await.status(), StatusCode::NOT_FOUND);
    // Nothing is taken into the trash but removals.
    let into_trash = format!("{}new.txt", removals[0]);
    assert_eq!(
        s.put(&into_trash, "x").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_replaced_by_copy_or_move_is_kept() {
    for s in keeping_each_kind().await {
        a_resource_replaced_by_copy_or_move_is_kept_on(&s).await;
    }
}

async fn a_resource_replaced_by_copy_or_move_is_kept_on(s: &TestServer) {
    s.put("/draft.txt", "draft").await;
    s.put("/final.txt", "final").await;
    s.put("/other.txt", "other").await;
    assert_eq!(
        transfer(s, "MOVE", "/draft.txt", "/final.txt").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        transfer(s, "COPY", "/other.txt", "/final.txt").await,
        StatusCode::NO_CONTENT
    );
    let versions = members(s, "/.history/final.txt/").await;
    assert_eq!(versions.len(), 2);
    assert_eq!(text(s, &versions[0]).await, "draft");
    assert_eq!(text(s, &versions[1]).await, "final");
    // The source of a MOVE lives on at its destination: it is neither a version nor trash.
    assert_eq!(
        s.get("/.history/draft.txt/").await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(members(s, "/.history/.trash/").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_is_hidden_from_the_live_tree_and_survives_a_restart() {
    let s = keeping().await;
    s.put("/a.txt", "1").await;
    s.put("/a.txt", "2").await;
    let listed = members(&s, "/").await;
    assert!(listed.contains(&"/.history/".to_owned()), "{listed:?}");
    assert!(
        !listed.iter().any(|h| h.contains("davd-history")),
        "{listed:?}"
    );
    assert!(s.root().join(".davd-history/versions/a.txt").is_dir());
    assert_eq!(
        s.get("/.davd-history/versions/a.txt").await.status(),
        StatusCode::NOT_FOUND
    );
    // As the staging directory: the name is refused, and nothing below it exists.
    assert_eq!(
        s.mkcol("/.davd-history").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.put("/.davd-history/x", "x").await.status(),
        StatusCode::CONFLICT
    );

    let s = s.restart().await;
    let versions = members(&s, "/.history/a.txt/").await;
    assert_eq!(versions.len(), 1);
    assert_eq!(text(&s, &versions[0]).await, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_history_nothing_is_kept() {
    let s = TestServer::start().await;
    s.put("/a.txt", "1").await;
    s.put("/a.txt", "2").await;
    s.delete("/a.txt").await;
    assert_eq!(s.get("/.history/").await.status(), StatusCode::NOT_FOUND);
    assert!(!s.root().join(".davd-history").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_versions_keeps_the_newest() {
    for kind in KINDS {
        let history = "{ keep = \"7d\", max_versions = 2 }";
        let Some(s) = server_keeping(kind, history).await else {
            continue;
        };
        for v in ["1", "2", "3", "4", "5"] {
            s.put("/a.txt", v).await;
        }
        let versions = members(&s, "/.history/a.txt/").await;
        assert_eq!(versions.len(), 2, "{kind}: {versions:?}");
        assert_eq!(text(&s, &versions[0]).await, "4", "{kind}");
        assert_eq!(text(&s, &versions[1]).await, "3", "{kind}");
    }
}

/// The hourly sweep removes versions and trash entries older than the retention, and the
/// collections they leave empty, and nothing newer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_prunes_what_is_older_than_the_retention() {
    use davd_executive::history::{stamp, sweep};
    use davd_registry::{History, NamespaceManager, Retention};
    use davd_subsystems::fs::{FsNamespace, FsOptions};
    use std::time::SystemTime;

    let root = tempfile::tempdir().unwrap();
    let namespace = FsNamespace::open(root.path(), FsOptions::default()).unwrap();
    let history = History {
        area: namespace.history_area().await.unwrap(),
        retention: Retention {
            keep: 30 * DAY,
            max_versions: 50,
        },
    };
    let now = SystemTime::now();
    let old = stamp(now - 31 * DAY);
    let recent = stamp(now - 29 * DAY);
    let versions = root.path().join(".davd-history/versions");
    let trash = root.path().join(".davd-history/trash");
    let write = |path: std::path::PathBuf| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    };
    write(versions.join(format!("docs/a.txt/{old}.txt")));
    write(versions.join(format!("docs/a.txt/{recent}.txt")));
    write(versions.join(format!("docs/old.txt/{old}.txt")));
    write(versions.join(format!("docs/old.txt/{old}~2.txt")));
    write(trash.join(format!("{old}/docs/gone.txt")));
    write(trash.join(format!("{recent}/docs/recent.txt")));

    assert_eq!(sweep(&history, now).await.unwrap(), 4);
    assert!(versions.join(format!("docs/a.txt/{recent}.txt")).is_file());
    assert!(!versions.join(format!("docs/a.txt/{old}.txt")).exists());
    assert!(
        !versions.join("docs/old.txt").exists(),
        "emptied collections go"
    );
    assert!(!trash.join(&old).exists());
    assert!(trash.join(format!("{recent}/docs/recent.txt")).is_file());
    // A second sweep finds nothing more.
    assert_eq!(sweep(&history, now).await.unwrap(), 0);
}

/// A sled namespace keeps its history in the state database: after a restart (which collects
/// the content chunks no node names) every version and trash entry still reads back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_history_survives_a_restart_with_its_content() {
    let config = config_keeping("sled", "{ keep = \"30d\" }").replace(
        "properties = { kind = \"memory\" }\nlocks = { kind = \"memory\" }\n",
        "",
    );
    let s = TestServer::configured(&config).await;
    let big = "x".repeat(300_000);
    s.put("/a.txt", big.clone()).await;
    s.put("/a.txt", "new").await;
    s.mkcol("/dir").await;
    s.put("/dir/b.txt", "b").await;
    assert_eq!(s.delete("/dir").await.status(), StatusCode::NO_CONTENT);

    let s = s.restart().await;
    let versions = members(&s, "/.history/a.txt/").await;
    assert_eq!(versions.len(), 1);
    assert_eq!(text(&s, &versions[0]).await, big);
    let removals = members(&s, "/.history/.trash/").await;
    assert_eq!(removals.len(), 1);
    assert_eq!(text(&s, &format!("{}dir/b.txt", removals[0])).await, "b");
    assert_eq!(text(&s, "/a.txt").await, "new");
}

/// The views are scopes below the root: a depth-infinity LOCK of the root still works (the
/// views take no locks of the root's, being read-only for everyone), and a PROPFIND of the
/// whole tree shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_can_still_be_locked_whole() {
    let s = keeping().await;
    s.put("/a.txt", "1").await;
    s.put("/a.txt", "2").await;
    let token = s.lock("/", "infinity").await;
    assert!(!token.is_empty());
    assert_eq!(s.unlock("/", &token).await.status(), StatusCode::NO_CONTENT);
}

/// The browser page knows where it is in the history: a live folder links to its versions
/// and the trash; a page of versions restores onto the live file; a trash entry's page
/// restores to the folder it was deleted from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_page_offers_to_restore() {
    let s = keeping().await;
    s.mkcol("/docs").await;
    s.put("/docs/a.txt", "1").await;
    s.put("/docs/a.txt", "2").await;
    s.put("/docs/b.txt", "b").await;
    s.delete("/docs/b.txt").await;
    let page = |path: &'static str| {
        let s = &s;
        async move {
            let r = s
                .request("GET", path)
                .header("Accept", "text/html")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            r.text().await.unwrap()
        }
    };
    let live = page("/docs/").await;
    assert!(
        live.contains("<a href=\"/.history/docs/\">Earlier versions</a>"),
        "{live}"
    );
    assert!(live.contains("<a href=\"/.history/.trash/\">Recently deleted</a>"));
    let versions = page("/.history/docs/a.txt/").await;
    assert!(
        versions.contains("<main data-restore=\"copy\" data-restore-to=\"/docs/a.txt\">"),
        "{versions}"
    );
    assert_eq!(versions.matches("data-action=\"restore\"").count(), 1);
    let removals = members(&s, "/.history/.trash/").await;
    let entry = format!("{}docs/", removals[0]);
    let r = s
        .request("GET", &entry)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    let trash = r.text().await.unwrap();
    assert!(
        trash.contains("<main data-restore=\"move\" data-restore-base=\"/docs/\">"),
        "{trash}"
    );
    // The trash's root and a versions folder of folders offer nothing to restore.
    assert!(!page("/.history/.trash/").await.contains("data-restore="));
    assert!(
        !page("/.history/docs/")
            .await
            .contains("data-action=\"restore\"")
    );
}

/// Pruning a file's versions by count removes only its versions: a collection beside them
/// (the versions of a path below it, from when it was a folder) stays, even when its name
/// reads like a version's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_leaves_the_versions_of_paths_below_alone() {
    for kind in KINDS {
        let history = "{ keep = \"7d\", max_versions = 1 }";
        let Some(s) = server_keeping(kind, history).await else {
            continue;
        };
        let stamped = "2020-01-01T00-00-00Z.txt";
        s.mkcol("/x").await;
        s.put(&format!("/x/{stamped}"), "inner 1").await;
        s.put(&format!("/x/{stamped}"), "inner 2").await;
        assert_eq!(s.delete("/x").await.status(), StatusCode::NO_CONTENT);
        for v in ["1", "2", "3"] {
            s.put("/x", v).await;
        }
        let inner = members(&s, &format!("/.history/x/{stamped}/")).await;
        assert_eq!(inner.len(), 1, "{kind}: {inner:?}");
        assert_eq!(text(&s, &inner[0]).await, "inner 1", "{kind}");
        let versions: Vec<String> = members(&s, "/.history/x/")
            .await
            .into_iter()
            .filter(|h| !h.ends_with('/'))
            .collect();
        assert_eq!(versions.len(), 1, "{kind}: {versions:?}");
        assert_eq!(text(&s, &versions[0]).await, "2", "{kind}");
    }
}

/// With authentication on, the history is as private as the mount: alice writes `/docs` and
/// bob may only read it; carol is nobody there. Bob reads the versions but cannot restore
/// (that writes the live file) or empty the trash; anonymous requests see nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_as_private_as_its_mount() {
    let s = TestServer::with_users(
        "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"ROOT\" }\n\
         properties = { kind = \"memory\" }\nlocks = { kind = \"memory\" }\n\
         history = { keep = \"30d\" }\nread = [\"alice\", \"bob\"]\nwrite = [\"alice\"]\n",
    )
    .await;
    let as_user = |method: &str, path: &str, user: Option<(&str, &str)>| {
        let request = s.request(method, path);
        match user {
            Some((name, password)) => request.basic_auth(name, Some(password)),
            None => request,
        }
    };
    let alice = Some(("alice", "wonderland"));
    let bob = Some(("bob", "builder"));
    for body in ["one", "two"] {
        let r = as_user("PUT", "/a.txt", alice)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let r = as_user("DELETE", "/a.txt", alice).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let listing = |user| {
        as_user("PROPFIND", "/.history/a.txt/", user)
            .header("Depth", "1")
            .send()
    };
    assert_eq!(
        listing(None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let r = listing(bob).await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let body = r.text().await.unwrap();
    let version = body
        .split("<D:href>")
        .filter_map(|rest| rest.split_once("</D:href>").map(|(h, _)| h.to_owned()))
        .find(|h| !h.ends_with('/'))
        .unwrap();
    let r = as_user("GET", &version, bob).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "one");
    // Restoring writes the live tree: bob may not.
    let restore = |user| {
        as_user("COPY", &version, user)
            .header("Destination", s.url("/a.txt"))
            .send()
    };
    assert_eq!(restore(bob).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(restore(alice).await.unwrap().status(), StatusCode::CREATED);
    // The trash: bob reads it, only alice empties it.
    let r = as_user("PROPFIND", "/.history/.trash/", bob)
        .header("Depth", "1")
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    let removal = body
        .split("<D:href>")
        .filter_map(|rest| rest.split_once("</D:href>").map(|(h, _)| h.to_owned()))
        .find(|h| h != "/.history/.trash/")
        .unwrap();
    let r = as_user("DELETE", &removal, bob).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = as_user("DELETE", &removal, alice).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}
