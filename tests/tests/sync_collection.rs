//! Issue 22, item 3: RFC 6578 `sync-collection`. A client keeps the token of its last sync
//! and asks what changed since: it must receive exactly the members created, changed and
//! removed since then, on every namespace kind, across restarts, in pages when it sets a limit.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use davd_tests::{Multistatus, TestServer, sync_token_of};
use reqwest::StatusCode;

/// A `/` mount of namespace `kind` with properties and locks of `state` (memory or sled).
fn config(kind: &str, state: &str) -> String {
    let namespace = match kind {
        "fs" => "{ kind = \"fs\", root = \"ROOT\" }".to_owned(),
        other => format!("{{ kind = \"{other}\" }}"),
    };
    format!(
        "[[mount]]\nscope = \"/\"\nnamespace = {namespace}\n\
         properties = {{ kind = \"{state}\" }}\nlocks = {{ kind = \"{state}\" }}\n"
    )
}

/// The embedded default (fs with sled state) and each other namespace kind davd keeps
/// locally, with memory and with sled state.
async fn each_kind() -> Vec<(String, TestServer)> {
    let mut servers = vec![("fs+sled (default)".to_owned(), TestServer::start().await)];
    for (kind, state) in [("fs", "memory"), ("memory", "memory"), ("sled", "sled")] {
        let name = format!("{kind}+{state}");
        servers.push((name, TestServer::configured(&config(kind, state)).await));
    }
    servers
}

fn body(token: Option<&str>, level: &str, limit: Option<u32>) -> String {
    let token = match token {
        Some(t) => format!("<D:sync-token>{t}</D:sync-token>"),
        None => "<D:sync-token/>".to_owned(),
    };
    let limit = limit
        .map(|n| format!("<D:limit><D:nresults>{n}</D:nresults></D:limit>"))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:">{token}<D:sync-level>{level}</D:sync-level>{limit}
<D:prop><D:getetag/><D:displayname/></D:prop></D:sync-collection>"#
    )
}

/// What one report said: each href with its status (200 for a member reported with its
/// properties, 404 for one removed, 507 for "more follow"), and the token it handed out.
#[derive(Debug)]
struct Synced {
    members: BTreeMap<String, u16>,
    token: String,
}

impl Synced {
    fn truncated(&self, collection: &str) -> bool {
        self.members.get(collection) == Some(&507)
    }

    fn hrefs(&self, status: u16) -> Vec<&str> {
        self.members
            .iter()
            .filter(|(_, s)| **s == status)
            .map(|(h, _)| h.as_str())
            .collect()
    }
}

async fn report(s: &TestServer, path: &str, body: String) -> (StatusCode, String) {
    let r = s
        .request("REPORT", path)
        .header("Content-Type", "application/xml")
        .header("Depth", "0")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn sync(
    s: &TestServer,
    path: &str,
    token: Option<&str>,
    level: &str,
    limit: Option<u32>,
) -> Synced {
    let (status, text) = report(s, path, body(token, level, limit)).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{path}: {text}");
    let parsed = Multistatus::parse(&text);
    let mut members = BTreeMap::new();
    for r in &parsed.responses {
        let status = match r.status {
            Some(status) => status,
            None => {
                assert!(r.status_of("DAV:", "getetag").is_some(), "{text}");
                200
            }
        };
        assert!(
            members.insert(r.href.clone(), status).is_none(),
            "{} reported twice: {text}",
            r.href
        );
    }
    let token = sync_token_of(&text).unwrap_or_else(|| panic!("no sync-token: {text}"));
    Synced { members, token }
}

async fn put(s: &TestServer, path: &str, body: &str) {
    let status = s.put(path, body.to_owned()).await.status();
    assert!(status.is_success(), "PUT {path}: {status}");
}

async fn copy(s: &TestServer, from: &str, to: &str) {
    let r = s
        .request("COPY", from)
        .header("Destination", s.url(to))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "COPY {from} {to}");
}

async fn mkcol(s: &TestServer, path: &str) {
    assert_eq!(
        s.mkcol(path).await.status(),
        StatusCode::CREATED,
        "MKCOL {path}"
    );
}

/// `/c/` with a, b, sub/ and sub/x.
async fn tree(s: &TestServer) {
    mkcol(s, "/c").await;
    put(s, "/c/a", "a").await;
    put(s, "/c/b", "b").await;
    mkcol(s, "/c/sub").await;
    put(s, "/c/sub/x", "x").await;
}

fn owned(hrefs: &[&str]) -> Vec<String> {
    hrefs.iter().map(|h| (*h).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_reports_every_member_at_its_level() {
    for (kind, s) in each_kind().await {
        tree(&s).await;
        let one = sync(&s, "/c/", None, "1", None).await;
        assert_eq!(one.hrefs(200), ["/c/a", "/c/b", "/c/sub/"], "{kind}");
        assert!(
            one.token.starts_with("https://davd.invalid/sync/"),
            "{kind}"
        );
        let all = sync(&s, "/c/", None, "infinite", None).await;
        assert_eq!(
            all.hrefs(200),
            ["/c/a", "/c/b", "/c/sub/", "/c/sub/x"],
            "{kind}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_reports_exactly_what_changed_since_its_token() {
    for (kind, s) in each_kind().await {
        tree(&s).await;
        put(&s, "/c/stays", "same").await;
        let first = sync(&s, "/c/", None, "infinite", None).await;
        let one = sync(&s, "/c/", None, "1", None).await;

        put(&s, "/c/a", "a, again").await; // changed
        assert_eq!(s.delete("/c/b").await.status(), StatusCode::NO_CONTENT); // removed
        put(&s, "/c/new", "n").await; // created
        put(&s, "/c/sub/x", "x, again").await; // changed, one level down
        let r = s
            .request("MOVE", "/c/new")
            .header("Destination", s.url("/c/moved"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{kind}");
        let (status, _) = s
            .proppatch(
                "/c/sub",
                r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>
                   <Z:colour xmlns:Z="urn:z">red</Z:colour></D:prop></D:set></D:propertyupdate>"#,
            )
            .await;
        assert_eq!(status, StatusCode::MULTI_STATUS, "{kind}");

        let deep = sync(&s, "/c/", Some(&first.token), "infinite", None).await;
        assert_eq!(
            deep.hrefs(200),
            ["/c/a", "/c/moved", "/c/sub/", "/c/sub/x"],
            "{kind}: {deep:?}"
        );
        assert_eq!(deep.hrefs(404), ["/c/b", "/c/new"], "{kind}: {deep:?}");
        assert!(!deep.members.contains_key("/c/stays"), "{kind}");

        let shallow = sync(&s, "/c/", Some(&one.token), "1", None).await;
        assert_eq!(
            shallow.hrefs(200),
            ["/c/a", "/c/moved", "/c/sub/"],
            "{kind}: {shallow:?}"
        );
        assert_eq!(shallow.hrefs(404), ["/c/b", "/c/new"], "{kind}");

        // Nothing since: an empty answer, and the same token.
        let again = sync(&s, "/c/", Some(&deep.token), "infinite", None).await;
        assert!(again.members.is_empty(), "{kind}: {again:?}");
        assert_eq!(again.token, deep.token, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_tree_is_its_collection_and_a_copied_one_every_member() {
    for (kind, s) in each_kind().await {
        tree(&s).await;
        let before = sync(&s, "/c/", None, "infinite", None).await;
        assert_eq!(s.delete("/c/sub").await.status(), StatusCode::NO_CONTENT);
        let after = sync(&s, "/c/", Some(&before.token), "infinite", None).await;
        assert_eq!(after.hrefs(404), ["/c/sub/"], "{kind}: {after:?}");
        assert!(after.hrefs(200).is_empty(), "{kind}: {after:?}");

        mkcol(&s, "/elsewhere").await;
        mkcol(&s, "/elsewhere/t").await;
        put(&s, "/elsewhere/t/one", "1").await;
        put(&s, "/elsewhere/t/two", "2").await;
        copy(&s, "/elsewhere/t/", "/c/t/").await;
        let copied = sync(&s, "/c/", Some(&after.token), "infinite", None).await;
        assert_eq!(
            copied.hrefs(200),
            ["/c/t/", "/c/t/one", "/c/t/two"],
            "{kind}: {copied:?}"
        );
        // What happened outside the collection is not its members' change.
        put(&s, "/elsewhere/t/one", "changed").await;
        let outside = sync(&s, "/c/", Some(&copied.token), "infinite", None).await;
        assert!(outside.members.is_empty(), "{kind}: {outside:?}");
    }
}

/// One change that covers more members than an answer holds (a tree copied in) is paged
/// inside the change, like a first sync, instead of being refused or answered whole: each
/// page's token names the point before the change and the last member of the tree reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_larger_than_the_limit_is_paged_inside_its_change() {
    for (kind, s) in each_kind().await {
        mkcol(&s, "/c").await;
        put(&s, "/c/before", "b").await;
        let start = sync(&s, "/c/", None, "infinite", None).await;
        mkcol(&s, "/elsewhere").await;
        mkcol(&s, "/elsewhere/t").await;
        mkcol(&s, "/elsewhere/t/sub").await;
        for name in ["a", "a-b", "b", "sub/x", "sub/y"] {
            put(&s, &format!("/elsewhere/t/{name}"), name).await;
        }
        copy(&s, "/elsewhere/t/", "/c/t/").await;
        put(&s, "/c/after", "a").await;
        let mut expected = owned(&[
            "/c/t/",
            "/c/t/a",
            "/c/t/a-b",
            "/c/t/b",
            "/c/t/sub/",
            "/c/t/sub/x",
            "/c/t/sub/y",
            "/c/after",
        ]);
        expected.sort();
        for limit in [1, 2, 3, 7] {
            let first = sync(&s, "/c/", Some(&start.token), "infinite", Some(limit)).await;
            assert!(first.truncated("/c/"), "{kind}, limit {limit}: {first:?}");
            // The tree's seven responses fill a limit of 7 exactly; smaller limits stop
            // inside it.
            if limit < 7 {
                assert!(
                    first.token.contains("?within="),
                    "{} {first:?}",
                    first.token
                );
            }
            let (mut paged, last) =
                page_through(&s, Some(start.token.clone()), "infinite", limit).await;
            paged.sort();
            assert_eq!(
                paged, expected,
                "{kind}, limit {limit}: each member exactly once"
            );
            let none = sync(&s, "/c/", Some(&last), "infinite", None).await;
            assert!(none.members.is_empty(), "{kind}: {none:?}");
        }
        // Without a limit, the whole change in one answer, as before.
        let whole = sync(&s, "/c/", Some(&start.token), "infinite", None).await;
        let mut got = owned(&whole.hrefs(200));
        got.sort();
        assert_eq!(got, expected, "{kind}: {whole:?}");
    }
}

/// RFC 6578 §3.6: an answer holds at most `limit` responses; a 507 for the collection says
/// more follow, and its token leads to them.
async fn page_through(
    s: &TestServer,
    token: Option<String>,
    level: &str,
    limit: u32,
) -> (Vec<String>, String) {
    let mut seen = Vec::new();
    let mut token = token;
    for _ in 0..20 {
        let page = sync(s, "/c/", token.as_deref(), level, Some(limit)).await;
        let members: Vec<String> = page
            .members
            .iter()
            .filter(|(h, _)| h.as_str() != "/c/")
            .map(|(h, _)| h.clone())
            .collect();
        assert!(members.len() <= limit as usize, "{page:?}");
        seen.extend(members);
        token = Some(page.token.clone());
        if !page.truncated("/c/") {
            return (seen, page.token);
        }
    }
    panic!("paging never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_pages_the_answer_with_507_and_its_token() {
    for (kind, s) in each_kind().await {
        mkcol(&s, "/c").await;
        for i in 0..7 {
            put(&s, &format!("/c/f{i}"), "x").await;
        }
        let (first, token) = page_through(&s, None, "1", 3).await;
        let all: Vec<String> = (0..7).map(|i| format!("/c/f{i}")).collect();
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(sorted, all, "{kind}: every member once");

        for i in 0..5 {
            put(&s, &format!("/c/f{i}"), "changed").await;
        }
        let (changed, last) = page_through(&s, Some(token), "1", 2).await;
        let mut changed_sorted = changed.clone();
        changed_sorted.sort();
        assert_eq!(changed_sorted, all[..5].to_vec(), "{kind}");
        let none = sync(&s, "/c/", Some(&last), "1", None).await;
        assert!(none.members.is_empty(), "{kind}: {none:?}");
    }
}

/// A first sync of a whole tree pages in walk order (a collection before its members,
/// siblings by name): every member exactly once, whatever the names. In plain path order
/// `/c/a-b` comes before `/c/a/x` (`-` sorts before `/`); a page that stopped at one and went
/// on in the other order would skip a member. davd's earlier `?after=` tokens kept the
/// place in plain path order and are refused, so a client holding one starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_of_a_tree_pages_in_walk_order_and_misses_nothing() {
    for (kind, s) in each_kind().await {
        mkcol(&s, "/c").await;
        mkcol(&s, "/c/a").await;
        put(&s, "/c/a/x", "x").await;
        mkcol(&s, "/c/a/sub").await;
        put(&s, "/c/a/sub/y", "y").await;
        put(&s, "/c/a-b", "ab").await;
        put(&s, "/c/a.c", "ac").await;
        put(&s, "/c/b", "b").await;
        let members = [
            "/c/a/",
            "/c/a/sub/",
            "/c/a/sub/y",
            "/c/a/x",
            "/c/a-b",
            "/c/a.c",
            "/c/b",
        ];
        let all = sync(&s, "/c/", None, "infinite", None).await;
        let mut expected = owned(&members);
        expected.sort();
        let mut got = all
            .hrefs(200)
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>();
        got.retain(|h| h != "/c/");
        got.sort();
        assert_eq!(got, expected, "{kind}: {all:?}");
        for limit in [1, 2, 3] {
            let (mut paged, token) = page_through(&s, None, "infinite", limit).await;
            paged.sort();
            assert_eq!(
                paged, expected,
                "{kind}, limit {limit}: each member exactly once"
            );
            let none = sync(&s, "/c/", Some(&token), "infinite", None).await;
            assert!(none.members.is_empty(), "{kind}: {none:?}");
        }
        let page = sync(&s, "/c/", None, "infinite", Some(2)).await;
        assert!(page.token.contains("?last="), "{}", page.token);
        let old = page.token.replace("?last=", "?after=");
        let (status, text) = report(&s, "/c/", body(Some(&old), "infinite", Some(2))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{kind}: {text}");
        assert!(text.contains("<D:valid-sync-token/>"), "{kind}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_while_paging_is_reported_by_the_next_sync() {
    let s = TestServer::start().await;
    mkcol(&s, "/c").await;
    for i in 0..4 {
        put(&s, &format!("/c/f{i}"), "x").await;
    }
    let page = sync(&s, "/c/", None, "1", Some(2)).await;
    assert!(page.truncated("/c/"), "{page:?}");
    // f0 was reported already; its change must not be lost between the pages.
    put(&s, "/c/f0", "changed while paging").await;
    let (_, token) = page_through(&s, Some(page.token), "1", 2).await;
    let next = sync(&s, "/c/", Some(&token), "1", None).await;
    assert_eq!(next.hrefs(200), ["/c/f0"], "{next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_survive_a_restart_of_a_durable_store_and_not_of_memory() {
    let s = TestServer::start().await;
    tree(&s).await;
    let before = sync(&s, "/c/", None, "infinite", None).await;
    put(&s, "/c/a", "changed before the restart").await;
    let s = s.restart().await;
    put(&s, "/c/b", "changed after the restart").await;
    let after = sync(&s, "/c/", Some(&before.token), "infinite", None).await;
    assert_eq!(after.hrefs(200), ["/c/a", "/c/b"], "{after:?}");

    let s = TestServer::configured(&config("fs", "memory")).await;
    tree(&s).await;
    let before = sync(&s, "/c/", None, "1", None).await;
    let s = s.restart().await;
    let (status, text) = report(&s, "/c/", body(Some(&before.token), "1", None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("valid-sync-token"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_old_and_replaced_tokens_are_refused_with_valid_sync_token() {
    let s = TestServer::start().await;
    tree(&s).await;
    let first = sync(&s, "/c/", None, "1", None).await;
    let mut other_epoch = first.token.clone();
    let at = "https://davd.invalid/sync/".len();
    other_epoch.replace_range(
        at..at + 1,
        if &first.token[at..=at] == "0" {
            "1"
        } else {
            "0"
        },
    );
    let beyond = format!("{}9", first.token);
    for token in [
        "http://example.com/ns/sync/1234",
        "garbage",
        other_epoch.as_str(),
        beyond.as_str(),
    ] {
        let (status, text) = report(&s, "/c/", body(Some(token), "1", None)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{token}: {text}");
        assert!(text.contains("<D:valid-sync-token/>"), "{token}: {text}");
    }
    // The collection itself was replaced: whatever the client knew of it is gone.
    assert_eq!(s.delete("/c").await.status(), StatusCode::NO_CONTENT);
    mkcol(&s, "/c").await;
    let (status, text) = report(&s, "/c/", body(Some(&first.token), "1", None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("<D:valid-sync-token/>"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reports_get_a_clear_refusal() {
    let s = TestServer::start().await;
    tree(&s).await;
    let cases: [(&str, Option<&str>, String, StatusCode, &str); 6] = [
        (
            "/c/",
            None,
            r#"<D:expand-property xmlns:D="DAV:"/>"#.to_owned(),
            StatusCode::FORBIDDEN,
            "<D:supported-report/>",
        ),
        (
            "/c/a",
            None,
            body(None, "1", None),
            StatusCode::FORBIDDEN,
            "<D:supported-report/>",
        ),
        (
            "/c/",
            Some("1"),
            body(None, "1", None),
            StatusCode::BAD_REQUEST,
            "Depth 0",
        ),
        (
            "/c/",
            None,
            r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/></D:sync-collection>"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "sync-level",
        ),
        (
            "/c/",
            None,
            "<D:sync-collection".to_owned(),
            StatusCode::BAD_REQUEST,
            "well-formed",
        ),
        (
            "/nothing/",
            None,
            body(None, "1", None),
            StatusCode::NOT_FOUND,
            "",
        ),
    ];
    for (path, depth, text, status, says) in cases {
        let mut request = s.request("REPORT", path).body(text.clone());
        if let Some(depth) = depth {
            request = request.header("Depth", depth);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status, "{path} {text}");
        let answer = r.text().await.unwrap();
        assert!(answer.contains(says), "{path}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_name_their_sync_token_and_the_report_when_asked() {
    let s = TestServer::start().await;
    tree(&s).await;
    let ask = r#"<D:propfind xmlns:D="DAV:"><D:prop><D:sync-token/><D:supported-report-set/>
                 </D:prop></D:propfind>"#;
    let (status, text) = s.propfind("/c/", "0", ask).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let listed = Multistatus::parse(&text);
    let before = listed.responses[0].prop("DAV:", "sync-token").unwrap();
    assert_eq!(before.status, 200, "{text}");
    assert!(
        before.text.starts_with("https://davd.invalid/sync/"),
        "{text}"
    );
    let reports = listed.responses[0]
        .prop("DAV:", "supported-report-set")
        .unwrap();
    assert_eq!(reports.status, 200);
    assert!(text.contains("<D:sync-collection/>"), "{text}");

    // The property is where a sync starts: a report from it sees the change after it.
    put(&s, "/c/a", "changed").await;
    let (_, text) = s.propfind("/c/", "0", ask).await;
    let after = Multistatus::parse(&text).responses[0]
        .prop("DAV:", "sync-token")
        .unwrap()
        .text
        .clone();
    assert_ne!(after, before.text);
    let since = sync(&s, "/c/", Some(&before.text), "1", None).await;
    assert_eq!(since.hrefs(200), ["/c/a"]);

    // Not in allprop (RFC 6578 §4), not on a file.
    let (_, all) = s.propfind("/c/", "0", "").await;
    assert!(!all.contains("sync-token"), "{all}");
    let (_, file) = s.propfind("/c/a", "0", ask).await;
    assert_eq!(
        Multistatus::parse(&file).responses[0].status_of("DAV:", "sync-token"),
        Some(404)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_of_the_root_leaves_out_the_history_views() {
    let s = TestServer::start_with(|s| {
        s.keep_history = Some(std::time::Duration::from_secs(86_400));
    })
    .await;
    put(&s, "/f", "one").await;
    let first = sync(&s, "/", None, "infinite", None).await;
    assert_eq!(first.hrefs(200), ["/f"], "{first:?}");
    put(&s, "/f", "two").await; // keeps a version under /.history
    let next = sync(&s, "/", Some(&first.token), "infinite", None).await;
    assert_eq!(owned(&next.hrefs(200)), ["/f"], "{next:?}");
}
