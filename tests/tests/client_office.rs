//! Microsoft Office in the field (issue 10, items 1 to 7; docs/clients.md): each test replays
//! what Word, Excel or PowerPoint send, directly or through a mapped drive. The full open/save
//! handshake is in `word_handshake.rs`; these are the reports that came after it.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use davd_tests::clients::{
    ALICE, BOB, MINIREDIR, OFFICE_CORE, OFFICE_DISCOVERY, OFFICE_EXISTENCE, OFFICE_LOCKINFO,
    WIN32_NAMES, settings_from_config, sorted_hrefs, win32_proppatch, with_users,
};
use davd_tests::ms::{Z, header};
use davd_tests::{App, Dirs, Multistatus, TestServer, lock_token};
use reqwest::StatusCode;

const DAV: &str = "DAV:";
const DOC: &str = "/docs/report.docx";

async fn server_with_document() -> TestServer {
    let s = TestServer::start().await;
    assert_eq!(s.mkcol("/docs").await.status(), StatusCode::CREATED);
    assert_eq!(s.put(DOC, "version 1").await.status(), StatusCode::CREATED);
    s
}

/// LOCK as Office sends it; returns the token.
async fn office_lock(s: &TestServer, path: &str, agent: &str) -> String {
    let r = s
        .request("LOCK", path)
        .header("User-Agent", agent)
        .header("Timeout", "Second-3600")
        .header("Content-Type", "text/xml; charset=\"utf-8\"")
        .body(OFFICE_LOCKINFO)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "LOCK {path}: {}", r.status());
    lock_token(&r)
}

/// `(Last-Modified, ETag)` of a HEAD as Office's existence check sends it.
async fn existence(s: &TestServer) -> (String, String) {
    let r = s
        .request("HEAD", DOC)
        .header("User-Agent", OFFICE_EXISTENCE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let modified = header(&r, "last-modified").expect("Last-Modified on HEAD");
    httpdate::parse_http_date(&modified).expect("an HTTP date");
    (modified, header(&r, "etag").expect("ETag on HEAD"))
}

/// The live `getlastmodified` and `getetag` of the document.
async fn live_dates(s: &TestServer) -> (String, String) {
    let (status, body) = s
        .propfind(
            DOC,
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/><D:getetag/></D:prop></D:propfind>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let ms = Multistatus::parse(&body);
    let r = ms.response(DOC);
    (
        r.prop(DAV, "getlastmodified").unwrap().text.clone(),
        r.prop(DAV, "getetag").unwrap().text.clone(),
    )
}

/// Item 1: Office's protocol discovery works before it has credentials, on the document's
/// folder, its parent and the root, while everything else asks for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_options_probe_needs_no_credentials() {
    let s = with_users("").await;
    let r = s.as_user(ALICE, "MKCOL", "/docs").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s.as_user(ALICE, "PUT", DOC).body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for url in ["/docs/", "/docs", "/", DOC, "/docs/not-yet.docx"] {
        let r = s
            .request("OPTIONS", url)
            .header("User-Agent", OFFICE_DISCOVERY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "OPTIONS {url}");
        assert_eq!(header(&r, "www-authenticate"), None, "OPTIONS {url}");
        assert_eq!(header(&r, "dav").as_deref(), Some("1, 2, 3"));
        assert_eq!(header(&r, "ms-author-via").as_deref(), Some("DAV"));
    }
    // Authentication really is on: the next request Office makes needs credentials.
    let r = s
        .request("HEAD", DOC)
        .header("User-Agent", OFFICE_EXISTENCE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&r, "www-authenticate").is_some());
}

/// Item 2: the existence check gets `Last-Modified`, and locking, refreshing and unlocking
/// change neither it nor the entity tag (Office compares them to detect edits by others).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_existence_discovery_and_locks_keep_last_modified_and_etag() {
    let s = server_with_document().await;
    let before = existence(&s).await;
    let live = live_dates(&s).await;
    assert_eq!(live, before, "PROPFIND and HEAD agree");
    // Past the one-second resolution of HTTP dates, so a touched file would show.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let token = office_lock(&s, DOC, OFFICE_CORE).await;
    assert_eq!(existence(&s).await, before, "after LOCK");
    assert_eq!(live_dates(&s).await, live, "after LOCK");
    let r = s
        .request("LOCK", DOC)
        .header("User-Agent", OFFICE_CORE)
        .header("Timeout", "Second-3600")
        .header("If", format!("(<{token}>)"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(existence(&s).await, before, "after the refresh");
    assert_eq!(live_dates(&s).await, live, "after the refresh");
    let r = s
        .request("UNLOCK", DOC)
        .header("User-Agent", OFFICE_CORE)
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(existence(&s).await, before, "after UNLOCK");
    assert_eq!(live_dates(&s).await, live, "after UNLOCK");
}

/// Item 3: Office refreshes with an empty LOCK and `If: (<token>)`; it expects 200 and the
/// same token in the lock discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_lock_refresh_keeps_the_token() {
    let s = server_with_document().await;
    let token = office_lock(&s, DOC, OFFICE_CORE).await;
    for (timeout, expected) in [("Second-3600", "Second-3600"), ("Second-180", "Second-180")] {
        let r = s
            .request("LOCK", DOC)
            .header("User-Agent", OFFICE_CORE)
            .header("Timeout", timeout)
            .header("If", format!("(<{token}>)"))
            .header("Content-Length", "0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = r.text().await.unwrap();
        let doc = roxmltree::Document::parse(&body).unwrap();
        let text = |name: &str| {
            doc.descendants()
                .find(|n| n.tag_name().name() == name && n.tag_name().namespace() == Some(DAV))
                .unwrap_or_else(|| panic!("{name} in {body}"))
                .descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect::<String>()
        };
        assert_eq!(text("locktoken"), token);
        assert_eq!(text("timeout"), expected);
    }
    // Still the one lock, and it still works.
    let (_, body) = s.propfind(DOC, "0", "").await;
    let ms = Multistatus::parse(&body);
    let discovery = ms.response(DOC).prop(DAV, "lockdiscovery").unwrap();
    assert_eq!(discovery.element_children.len(), 1);
    assert!(discovery.text.contains(&token));
    let r = s
        .request("PUT", DOC)
        .header("If", format!("(<{token}>)"))
        .body("version 2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// Item 4, without authentication: Office sets the Win32 properties of the document it holds
/// locked without sending the token, right after saving; the save must not fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_win32_proppatch_of_its_locked_document_needs_no_token() {
    let s = server_with_document().await;
    let token = office_lock(&s, DOC, MINIREDIR).await;
    let r = s
        .request("PUT", DOC)
        .header("User-Agent", MINIREDIR)
        .header("If", format!("(<{token}>)"))
        .body("version 2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .request("PROPPATCH", DOC)
        .header("User-Agent", MINIREDIR)
        .body(win32_proppatch("00000020"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let ms = Multistatus::parse(&r.text().await.unwrap());
    for name in WIN32_NAMES {
        assert_eq!(ms.response(DOC).status_of(Z, name), Some(200), "{name}");
    }
    // Only the Win32 properties: anything else still needs the token.
    let other = r#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:" xmlns:o="urn:other"><D:set><D:prop><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes><o:x>1</o:x></D:prop></D:set></D:propertyupdate>"#;
    let (status, _) = s.proppatch(DOC, other).await;
    assert_eq!(status, StatusCode::LOCKED);
    let (status, _) = s
        .proppatch(
            DOC,
            r#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Other>1</Z:Other></D:prop></D:set></D:propertyupdate>"#,
        )
        .await;
    assert_eq!(status, StatusCode::LOCKED, "only the Win32 properties");
    let r = s.put(DOC, "someone else").await;
    assert_eq!(r.status(), StatusCode::LOCKED, "content still needs it");
    // The save went through, and the lock is still there.
    assert_eq!(s.get(DOC).await.text().await.unwrap(), "version 2");
    let r = s
        .request("UNLOCK", DOC)
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// Item 4, with authentication: the lock's owner may set the Win32 properties without the
/// token; another user may not, token or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_win32_proppatch_without_token_must_come_from_the_lock_owner() {
    let s = with_users("").await;
    s.as_user(ALICE, "MKCOL", "/docs").send().await.unwrap();
    s.as_user(ALICE, "PUT", DOC).body("1").send().await.unwrap();
    let r = s
        .as_user(ALICE, "LOCK", DOC)
        .header("User-Agent", OFFICE_CORE)
        .body(OFFICE_LOCKINFO)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = lock_token(&r);
    let r = s
        .as_user(BOB, "PROPPATCH", DOC)
        .body(win32_proppatch("00000020"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED, "bob does not own the lock");
    let r = s
        .as_user(BOB, "PROPPATCH", DOC)
        .header("If", format!("(<{token}>)"))
        .body(win32_proppatch("00000020"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED, "nor with alice's token");
    let r = s
        .as_user(ALICE, "PROPPATCH", DOC)
        .header("User-Agent", MINIREDIR)
        .body(win32_proppatch("00000021"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let ms = Multistatus::parse(&r.text().await.unwrap());
    assert_eq!(
        ms.response(DOC).status_of(Z, "Win32FileAttributes"),
        Some(200)
    );
    let r = s
        .as_user(ALICE, "PROPFIND", DOC)
        .header("Depth", "0")
        .send()
        .await
        .unwrap();
    let ms = Multistatus::parse(&r.text().await.unwrap());
    assert_eq!(
        ms.response(DOC)
            .prop(Z, "Win32FileAttributes")
            .unwrap()
            .text,
        "00000021"
    );
}

/// Item 5: some Office and Windows builds send `Lock-Token` without angle brackets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_unlock_with_a_bare_lock_token() {
    let s = server_with_document().await;
    let token = office_lock(&s, DOC, OFFICE_CORE).await;
    assert!(token.starts_with("urn:uuid:"));
    let r = s
        .request("UNLOCK", DOC)
        .header("User-Agent", OFFICE_CORE)
        .header("Lock-Token", token.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, body) = s.propfind(DOC, "0", "").await;
    let ms = Multistatus::parse(&body);
    assert!(
        ms.response(DOC)
            .prop(DAV, "lockdiscovery")
            .unwrap()
            .element_children
            .is_empty()
    );
    assert_eq!(s.put(DOC, "free").await.status(), StatusCode::NO_CONTENT);
    // A second bare UNLOCK names no lock any more: 409, not a 400 about the syntax.
    let r = s
        .request("UNLOCK", DOC)
        .header("Lock-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

/// Item 6: Word through a mapped drive writes its owner file `~$report.docx` and a temporary
/// `~WRL0001.tmp`, then MOVEs the temporary over the document it holds locked, naming the
/// document in a tagged If header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_mapped_drive_moves_a_temporary_over_its_locked_document() {
    let s = server_with_document().await;
    let token = office_lock(&s, DOC, MINIREDIR).await;
    let owner = "/docs/~$report.docx";
    let temp = "/docs/~WRL0001.tmp";
    let (status, _) = s.propfind(owner, "0", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = s
        .request("PUT", owner)
        .header("User-Agent", MINIREDIR)
        .body(vec![7u8; 162])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let owner_token = office_lock(&s, owner, MINIREDIR).await;
    let r = s
        .request("PROPPATCH", owner)
        .header("User-Agent", MINIREDIR)
        .body(win32_proppatch("00000022"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    // The temporary: created empty, then written, then its properties.
    for body in ["", "version 2, saved by Word"] {
        let r = s
            .request("PUT", temp)
            .header("User-Agent", MINIREDIR)
            .header("translate", "f")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "PUT {temp}: {}", r.status());
    }
    let r = s
        .request("PROPPATCH", temp)
        .header("User-Agent", MINIREDIR)
        .body(win32_proppatch("00000020"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    // Without the token the document cannot be replaced.
    let r = s
        .request("MOVE", temp)
        .header("User-Agent", MINIREDIR)
        .header("Destination", s.url(DOC))
        .header("Overwrite", "T")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    let r = s
        .request("MOVE", temp)
        .header("User-Agent", MINIREDIR)
        .header("Destination", s.url(DOC))
        .header("Overwrite", "T")
        .header("If", format!("<{}> (<{token}>)", s.url(DOC)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(DOC).await.text().await.unwrap(),
        "version 2, saved by Word"
    );
    assert_eq!(s.get(temp).await.status(), StatusCode::NOT_FOUND);
    // The lock stayed on the document.
    let (_, body) = s.propfind(DOC, "0", "").await;
    let ms = Multistatus::parse(&body);
    let discovery = ms.response(DOC).prop(DAV, "lockdiscovery").unwrap();
    assert!(discovery.text.contains(&token), "{body}");
    assert_eq!(s.put(DOC, "intruder").await.status(), StatusCode::LOCKED);
    let r = s
        .request("PUT", DOC)
        .header("If", format!("<{}> (<{token}>)", s.url(DOC)))
        .body("version 3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Closing: unlock both, delete the owner file.
    for (path, t) in [(DOC, &token), (owner, &owner_token)] {
        let r = s
            .request("UNLOCK", path)
            .header("Lock-Token", format!("<{t}>"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "UNLOCK {path}");
    }
    assert_eq!(s.delete(owner).await.status(), StatusCode::NO_CONTENT);
    let (_, body) = s.propfind("/docs/", "1", "").await;
    assert_eq!(sorted_hrefs(&body), vec!["/docs/", "/docs/report.docx"]);
}

/// `true` when a lock body (`prop` or `multistatus`) has a `lockroot`.
fn has_lockroot(body: &str) -> bool {
    let doc = roxmltree::Document::parse(body).unwrap();
    doc.descendants()
        .any(|n| n.tag_name().name() == "lockroot" && n.tag_name().namespace() == Some(DAV))
}

/// LOCK, refresh, PROPFIND and UNLOCK of the document by old and new Office user agents;
/// `omitted` lists the User-Agent substrings that must get no `lockroot`.
async fn check_lockroot(s: &TestServer, omitted: &[&str]) {
    for agent in [
        MSDAIPP,
        "Microsoft Office/16.0 (OldOffice 2003)",
        OFFICE_CORE,
    ] {
        let r = s
            .request("LOCK", DOC)
            .header("User-Agent", agent)
            .body(OFFICE_LOCKINFO)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let token = lock_token(&r);
        let body = r.text().await.unwrap();
        let expected = !omitted.iter().any(|o| agent.contains(o));
        assert_eq!(has_lockroot(&body), expected, "LOCK by {agent}: {body}");
        let r = s
            .request("LOCK", DOC)
            .header("User-Agent", agent)
            .header("If", format!("(<{token}>)"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = r.text().await.unwrap();
        assert_eq!(has_lockroot(&body), expected, "refresh by {agent}: {body}");
        let r = s
            .request("PROPFIND", DOC)
            .header("User-Agent", agent)
            .header("Depth", "0")
            .body(r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#)
            .send()
            .await
            .unwrap();
        let body = r.text().await.unwrap();
        assert!(body.contains(&token), "{body}");
        assert_eq!(has_lockroot(&body), expected, "PROPFIND by {agent}: {body}");
        let r = s
            .request("UNLOCK", DOC)
            .header("Lock-Token", format!("<{token}>"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
}

const MSDAIPP: &str = "Microsoft Data Access Internet Publishing Provider DAV 1.1";

/// A server configured by `config` (a `davd --config` file) with the document in place.
async fn configured(config: &str) -> TestServer {
    let dirs = Dirs::new();
    let settings = settings_from_config(&dirs, config);
    let s = TestServer::start_app(App::build(settings).await.unwrap(), dirs).await;
    assert_eq!(s.mkcol("/docs").await.status(), StatusCode::CREATED);
    assert_eq!(s.put(DOC, "x").await.status(), StatusCode::CREATED);
    s
}

/// Item 7: old Office user agents reject `lockroot` (an RFC 4918 addition); it is left out of
/// the LOCK response and of `lockdiscovery` for the user agents configured in
/// `omit_lockroot_for`, by default the one of Office's old Internet Publishing Provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_old_user_agents_get_no_lockroot() {
    check_lockroot(&server_with_document().await, &[MSDAIPP]).await;
    check_lockroot(&configured("").await, &[MSDAIPP]).await;
    let list = ["OldOffice", "Internet Publishing Provider"];
    let s =
        configured("omit_lockroot_for = [\"OldOffice\", \"Internet Publishing Provider\"]\n").await;
    check_lockroot(&s, &list).await;
    check_lockroot(&configured("omit_lockroot_for = []\n").await, &[]).await;
}
