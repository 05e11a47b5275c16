//! Class 2: LOCK, UNLOCK, the If header, lock discovery, persistence, concurrency.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use davd_tests::{LOCKINFO_EXCLUSIVE, LOCKINFO_SHARED, Multistatus, TestServer, lock_token};
use reqwest::StatusCode;

fn if_token(token: &str) -> String {
    format!("(<{token}>)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_response_shape() {
    let s = TestServer::start().await;
    s.put("/doc", "x").await;
    let r = s
        .request("LOCK", "/doc")
        .header("Timeout", "Second-3600")
        .header("Depth", "0")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = lock_token(&r);
    assert!(token.starts_with("urn:uuid:"), "{token}");
    let uuid = token.trim_start_matches("urn:uuid:");
    assert_eq!(uuid.len(), 36);
    assert_eq!(uuid.as_bytes()[14], b'4', "a version 4 UUID");
    let body = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let dav = |name: &str| {
        doc.descendants()
            .find(|n| n.tag_name().name() == name && n.tag_name().namespace() == Some("DAV:"))
            .unwrap_or_else(|| panic!("{name} missing: {body}"))
    };
    assert!(dav("write").is_element());
    assert!(dav("exclusive").is_element());
    assert_eq!(dav("depth").text(), Some("0"));
    assert_eq!(dav("timeout").text(), Some("Second-3600"));
    assert_eq!(
        dav("locktoken").first_element_child().unwrap().text(),
        Some(token.as_str())
    );
    assert_eq!(
        dav("lockroot").first_element_child().unwrap().text(),
        Some("/doc")
    );
    let owner_href = dav("owner").first_element_child().unwrap();
    assert_eq!(
        owner_href.text(),
        Some("mailto:tester@example.com"),
        "owner kept verbatim"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_capped() {
    let s = TestServer::start_with(|settings| settings.executive.max_lock_timeout = 600).await;
    s.put("/doc", "x").await;
    let r = s
        .request("LOCK", "/doc")
        .header("Timeout", "Infinite, Second-4100000000")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<D:timeout>Second-600</D:timeout>")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_resources_need_the_token() {
    let s = TestServer::start().await;
    s.put("/doc", "x").await;
    let token = s.lock("/doc", "0").await;
    let r = s.put("/doc", "y").await;
    assert_eq!(r.status(), StatusCode::LOCKED);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<D:lock-token-submitted><D:href>/doc</D:href></D:lock-token-submitted>"),
        "{body}"
    );
    assert_eq!(s.delete("/doc").await.status(), StatusCode::LOCKED);
    assert_eq!(
        s.proppatch("/doc", r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><a xmlns="u">1</a></D:prop></D:set></D:propertyupdate>"#).await.0,
        StatusCode::LOCKED
    );
    let r = s
        .request("MOVE", "/doc")
        .header("Destination", s.url("/moved"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    s.put("/other", "o").await;
    let r = s
        .request("COPY", "/other")
        .header("Destination", s.url("/doc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    // With the token everything works.
    let r = s
        .request("PUT", "/doc")
        .header("If", if_token(&token))
        .body("y")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Reading never needs a token.
    assert_eq!(s.get("/doc").await.text().await.unwrap(), "y");
    // A malformed-but-parseable token on a locked resource: 423, not 412 or 400.
    let r = s
        .request("PUT", "/doc")
        .header("If", format!("(<{token}x>) (Not <DAV:no-lock>)"))
        .body("z")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_header_evaluation() {
    let s = TestServer::start().await;
    s.put("/doc", "x").await;
    let token = s.lock("/doc", "0").await;
    let etag = s.get("/doc").await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let put = |header: String| {
        let s = &s;
        async move {
            s.request("PUT", "/doc")
                .header("If", header)
                .body("v")
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        put(format!("(<{token}> [{etag}])")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put("(<DAV:no-lock>)".into()).await,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        put(format!("(<{token}>) (Not <DAV:no-lock>)")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put(format!("(Not <{token}>)")).await,
        StatusCode::PRECONDITION_FAILED
    );
    // Several lists are OR-ed.
    assert_eq!(
        put(format!("(<urn:uuid:nothing>) (<{token}>)")).await,
        StatusCode::NO_CONTENT
    );
    // Tagged lists apply to the resource they name.
    let tagged = format!("<{}> (<{token}>)", s.url("/doc"));
    assert_eq!(put(tagged).await, StatusCode::NO_CONTENT);
    let wrong_tag = format!("<{}> (<{token}>)", s.url("/elsewhere"));
    assert_eq!(put(wrong_tag).await, StatusCode::PRECONDITION_FAILED);
    // On an unlocked resource, a lock-token condition fails with 412.
    s.put("/free", "x").await;
    let r = s
        .request("PUT", "/free")
        .header("If", "(<DAV:no-lock>)")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_rules() {
    let s = TestServer::start().await;
    s.mkcol("/c").await;
    s.put("/c/f", "x").await;
    let token = s.lock("/c", "infinity").await;
    let r = s.request("UNLOCK", "/c/f").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no Lock-Token");
    let r = s
        .request("UNLOCK", "/c/f")
        .header("Lock-Token", "<urn:uuid:bogus>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("lock-token-matches-request-uri")
    );
    s.put("/outside", "x").await;
    let r = s
        .request("UNLOCK", "/outside")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "the token does not cover that URI"
    );
    // Any resource inside the lock's scope may be named; brackets are optional.
    let r = s
        .request("UNLOCK", "/c/f")
        .header("Lock-Token", token.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.put("/c/f", "y").await.status(), StatusCode::NO_CONTENT);
}

/// UNLOCK of a URL that names nothing is 404 (it was 409, as if a lock might be there), with
/// a made-up token, and with the token of a deep lock whose scope the URL lies in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_of_a_missing_resource_is_not_found() {
    let s = TestServer::start().await;
    s.mkcol("/c").await;
    let token = s.lock("/c", "infinity").await;
    for (path, token) in [
        ("/missing", "urn:uuid:bogus".to_owned()),
        ("/c/missing", token.clone()),
        ("/nowhere/deep", token.clone()),
    ] {
        let r = s
            .request("UNLOCK", path)
            .header("Lock-Token", format!("<{token}>"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // The lock is still there and still released where it is.
    assert_eq!(s.mkcol("/c/sub").await.status(), StatusCode::LOCKED);
    let r = s
        .request("UNLOCK", "/c")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_and_shared_locks() {
    let s = TestServer::start().await;
    s.mkcol("/c").await;
    s.put("/c/f", "x").await;
    let token = s.lock("/c/f", "0").await;
    // Exclusive on a locked resource, and a deep lock over it: 423 naming the root.
    let r = s
        .request("LOCK", "/c/f")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    assert!(r.text().await.unwrap().contains("no-conflicting-lock"));
    let r = s
        .request("LOCK", "/c")
        .header("Depth", "infinity")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    assert!(r.text().await.unwrap().contains("<D:href>/c/f</D:href>"));
    // A depth-0 lock on the collection does not conflict with a member's lock.
    let r = s
        .request("LOCK", "/c")
        .header("Depth", "0")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.request("UNLOCK", "/c/f")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    // Shared locks coexist; an exclusive one does not join them.
    s.put("/s", "x").await;
    for _ in 0..2 {
        let r = s
            .request("LOCK", "/s")
            .body(LOCKINFO_SHARED)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = s
        .request("LOCK", "/s")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    let (_, text) = s
        .propfind(
            "/s",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#,
        )
        .await;
    assert_eq!(text.matches("<D:activelock>").count(), 2, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_infinity_lock_protects_membership() {
    let s = TestServer::start().await;
    s.mkcol("/c").await;
    let token = s.lock("/c", "infinity").await;
    assert_eq!(s.put("/c/new", "x").await.status(), StatusCode::LOCKED);
    assert_eq!(s.mkcol("/c/sub").await.status(), StatusCode::LOCKED);
    let r = s
        .request("PUT", "/c/new")
        .header("If", if_token(&token))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // lockdiscovery on a member shows the inherited lock and its root.
    let (_, text) = s
        .propfind(
            "/c/new",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#,
        )
        .await;
    assert!(
        text.contains("<D:lockroot><D:href>/c</D:href></D:lockroot>"),
        "{text}"
    );
    // A depth-0 lock on a collection protects its member list too.
    s.mkcol("/d").await;
    s.lock("/d", "0").await;
    assert_eq!(s.put("/d/new", "x").await.status(), StatusCode::LOCKED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmapped_lock_creates_an_empty_resource() {
    let s = TestServer::start().await;
    let r = s
        .request("LOCK", "/reserved.docx")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = lock_token(&r);
    assert_eq!(
        std::fs::read(s.root().join("reserved.docx")).unwrap().len(),
        0
    );
    let r = s
        .request("LOCK", "/no/parent")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = s
        .request("PUT", "/reserved.docx")
        .header("If", if_token(&token))
        .body("content")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_keeps_the_token_and_the_resource() {
    let s = TestServer::start().await;
    s.put("/doc", "x").await;
    let before = s.get("/doc").await;
    let (etag, modified) = (
        before.headers()["etag"].clone(),
        before.headers()["last-modified"].clone(),
    );
    let token = s.lock("/doc", "0").await;
    let r = s
        .request("LOCK", "/doc")
        .header("If", if_token(&token))
        .header("Timeout", "Second-100")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(
        body.contains(&token) && body.contains("Second-100"),
        "{body}"
    );
    let r = s.request("LOCK", "/doc").send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "refresh without a token"
    );
    let r = s
        .request("LOCK", "/doc")
        .header("If", "(<urn:uuid:other>)")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    s.request("UNLOCK", "/doc")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    let after = s.get("/doc").await;
    assert_eq!(
        after.headers()["etag"],
        etag,
        "locking never changes the entity tag"
    );
    assert_eq!(after.headers()["last-modified"], modified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_survive_a_restart() {
    let s = TestServer::start().await;
    s.put("/doc", "x").await;
    let token = s.lock("/doc", "0").await;
    let s = s.restart().await;
    assert_eq!(s.put("/doc", "y").await.status(), StatusCode::LOCKED);
    let r = s
        .request("PUT", "/doc")
        .header("If", if_token(&token))
        .body("y")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_resource_removes_its_locks() {
    let s = TestServer::start().await;
    s.put("/doc", "x").await;
    let token = s.lock("/doc", "0").await;
    let r = s
        .request("DELETE", "/doc")
        .header("If", if_token(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.put("/doc", "new").await.status(),
        StatusCode::CREATED,
        "no stale lock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_clients_one_exclusive_lock() {
    let s = Arc::new(TestServer::start().await);
    s.put("/contended", "x").await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.request("LOCK", "/contended")
                .body(LOCKINFO_EXCLUSIVE)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    let mut locked = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::LOCKED => locked += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, locked), (1, 49));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_does_not_copy_locks_and_move_drops_them() {
    let s = TestServer::start().await;
    s.put("/doc", "x").await;
    let token = s.lock("/doc", "0").await;
    let r = s
        .request("COPY", "/doc")
        .header("Destination", s.url("/copy"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        s.put("/copy", "y").await.status(),
        StatusCode::NO_CONTENT,
        "the copy is not locked"
    );
    let r = s
        .request("MOVE", "/doc")
        .header("Destination", s.url("/moved"))
        .header("If", if_token(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        s.put("/moved", "y").await.status(),
        StatusCode::NO_CONTENT,
        "the lock stayed behind"
    );
    let (_, text) = s.propfind("/moved", "0", "").await;
    assert!(
        Multistatus::parse(&text).responses[0]
            .prop("DAV:", "lockdiscovery")
            .unwrap()
            .element_children
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_cannot_take_unlimited_locks() {
    let s = TestServer::start_with(|settings| settings.executive.max_locks_per_principal = 5).await;
    for i in 0..5 {
        s.put(&format!("/f{i}"), "x").await;
        s.lock(&format!("/f{i}"), "0").await;
    }
    s.put("/f5", "x").await;
    let r = s
        .request("LOCK", "/f5")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Releasing one makes room again.
    let (_, text) = s
        .propfind(
            "/f0",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#,
        )
        .await;
    let token = text
        .split("<D:locktoken><D:href>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    s.request("UNLOCK", "/f0")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    let r = s
        .request("LOCK", "/f5")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// A lock ends when its timeout runs out: it is no longer enforced nor discovered, even before
/// the periodic sweep (every 60 s) removes it from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_locks_are_no_longer_enforced() {
    let s = TestServer::start().await;
    s.put("/doc", "x").await;
    let r = s
        .request("LOCK", "/doc")
        .header("Timeout", "Second-1")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = lock_token(&r);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<D:timeout>Second-1</D:timeout>"),
        "one second is granted as asked: {body}"
    );
    assert_eq!(s.put("/doc", "y").await.status(), StatusCode::LOCKED);

    // Stored with whole seconds, rounded up: gone at most two seconds after it was granted.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let (_, text) = s
        .propfind(
            "/doc",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#,
        )
        .await;
    assert!(
        Multistatus::parse(&text).responses[0]
            .prop("DAV:", "lockdiscovery")
            .unwrap()
            .element_children
            .is_empty(),
        "{text}"
    );
    assert_eq!(s.put("/doc", "z").await.status(), StatusCode::NO_CONTENT);
    // The old token refreshes nothing, and another client may lock the resource.
    let r = s
        .request("LOCK", "/doc")
        .header("If", if_token(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = s
        .request("LOCK", "/doc")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(lock_token(&r), token);
}

/// Issue 4 §4: a state token that is not a URI is 423 where the resource is locked, 412 where
/// it is not (the If header simply fails), 400 only when the header cannot be parsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_is_not_a_uri() {
    let s = TestServer::start().await;
    s.put("/doc", "x").await;
    let token = s.lock("/doc", "0").await;
    let put = |path: &'static str, header: &'static str| {
        let s = &s;
        async move {
            s.request("PUT", path)
                .header("If", header)
                .body("v")
                .send()
                .await
                .unwrap()
        }
    };
    let r = put("/doc", "(<not-a-uri>)").await;
    assert_eq!(r.status(), StatusCode::LOCKED);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<D:lock-token-submitted><D:href>/doc</D:href></D:lock-token-submitted>"),
        "{body}"
    );
    let r = s
        .request("DELETE", "/doc")
        .header("If", "(<not-a-uri>)")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    let r = s
        .request("PROPPATCH", "/doc")
        .header("If", "(<not-a-uri>)")
        .body(r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><a xmlns="u">1</a></D:prop></D:set></D:propertyupdate>"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    // Reading and copying change nothing locked: the If header just fails.
    let r = s
        .request("GET", "/doc")
        .header("If", "(<not-a-uri>)")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = s
        .request("COPY", "/doc")
        .header("Destination", s.url("/copy"))
        .header("If", "(<not-a-uri>)")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // Not locked: 412.
    s.put("/free", "x").await;
    assert_eq!(
        put("/free", "(<not-a-uri>)").await.status(),
        StatusCode::PRECONDITION_FAILED
    );
    // Not parseable at all: 400, locked or not.
    assert_eq!(
        put("/doc", "(<not-a-uri>").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        put("/free", "(<not-a-uri>").await.status(),
        StatusCode::BAD_REQUEST
    );
    // With the real token next to it, the failing list is only a failing list: 412 ...
    let both = format!("(<not-a-uri> <{token}>)");
    let r = s
        .request("PUT", "/doc")
        .header("If", both)
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // ... and a list that holds makes the request go through.
    let either = format!("(<not-a-uri>) (<{token}>)");
    let r = s
        .request("PUT", "/doc")
        .header("If", either)
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// A PUT without the lock's token is refused (423) however its body comes: a client that
/// waits for `100 Continue` gets the 423 instead and never sends the body; a small body sent
/// at once is received before the checks (they run once, under the latch) and changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_without_the_token_is_refused_however_the_body_comes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start().await;
    s.put("/doc", "original").await;
    let token = s.lock("/doc", "0").await;
    assert!(!token.is_empty());
    // Waits for 100 Continue: the answer comes before a byte of the body.
    let mut waiting = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    waiting
        .write_all(
            b"PUT /doc HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        waiting.read(&mut answer),
    )
    .await
    .expect("answered without the body")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 423"), "{answer}");
    let r = s.request("PUT", "/doc").body("small").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    assert_eq!(s.get("/doc").await.text().await.unwrap(), "original");
    // With the token, the small body goes in.
    let r = s
        .request("PUT", "/doc")
        .header("If", if_token(&token))
        .body("changed")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get("/doc").await.text().await.unwrap(), "changed");
}
