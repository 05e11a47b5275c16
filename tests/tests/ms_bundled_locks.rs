//! Bundled locks: one test per row of the MS-WDV 3.2.5.2 table, plus the combinations it
//! makes a 400.
#![allow(clippy::unwrap_used)]

use davd_tests::ms::header;
use davd_tests::{Multistatus, TestServer};
use reqwest::StatusCode;

/// The tokens of the locks PROPFIND shows on `path`.
async fn locks_on(s: &TestServer, path: &str) -> Vec<String> {
    let (_, body) = s
        .propfind(
            path,
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#,
        )
        .await;
    let doc = roxmltree::Document::parse(&body).unwrap();
    doc.descendants()
        .filter(|n| n.tag_name().name() == "locktoken")
        .filter_map(|n| n.first_element_child().and_then(|h| h.text()))
        .map(str::to_owned)
        .collect()
}

fn bare(r: &reqwest::Response) -> Option<String> {
    header(r, "lock-token")
}

async fn bundled(
    s: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    timeout: Option<&str>,
) -> reqwest::Response {
    let mut request = s.request(method, path).header("translate", "f");
    if let Some(token) = token {
        request = request.header("Lock-Token", token);
    }
    if let Some(timeout) = timeout {
        request = request.header("X-MSDAVEXTLockTimeout", timeout);
    }
    if method == "PUT" {
        request = request.body("saved");
    }
    request.send().await.unwrap()
}

fn assert_locked(r: &reqwest::Response) {
    assert_eq!(r.status(), StatusCode::LOCKED);
    assert!(
        header(r, "x-msdavext_error")
            .unwrap_or_default()
            .starts_with("589838; "),
        "{:?}",
        r.headers()
    );
    assert_eq!(bare(r), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_1_get_with_token_without_timeout_ignores_the_token() {
    let s = TestServer::start().await;
    s.put("/f", "content").await;
    let token = s.lock("/f", "0").await;
    for method in ["GET", "HEAD", "POST"] {
        for sent in [
            token.clone(),
            "urn:uuid:no-such-lock".into(),
            format!("<{token}>"),
        ] {
            let r = bundled(&s, method, "/f", Some(&sent), None).await;
            let expected = match method {
                // A POST to a file is refused unless it asks for a lock or the properties.
                "POST" => StatusCode::METHOD_NOT_ALLOWED,
                _ => StatusCode::OK,
            };
            assert_eq!(r.status(), expected, "{method} {sent}");
            assert_eq!(bare(&r), None);
            assert_eq!(header(&r, "x-msdavextlocktimeout"), None);
        }
    }
    assert_eq!(locks_on(&s, "/f").await, [token]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_2_get_with_token_and_timeout_refreshes_or_unlocks() {
    let s = TestServer::start().await;
    s.put("/f", "content").await;
    for method in ["GET", "HEAD", "POST"] {
        let token = s.lock("/f", "0").await;
        // Refresh: the token comes back bare, with the time granted.
        let r = bundled(
            &s,
            method,
            "/f",
            Some(&format!("<{token}>")),
            Some("Second-7200"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{method}");
        assert_eq!(bare(&r).as_deref(), Some(token.as_str()));
        assert_eq!(
            header(&r, "x-msdavextlocktimeout").as_deref(),
            Some("Second-7200")
        );
        if method != "HEAD" {
            assert_eq!(r.text().await.unwrap(), "content");
        }
        let (_, body) = s.propfind("/f", "0", "").await;
        assert!(body.contains("<D:timeout>Second-7"), "{body}");
        // Unlock with timeout 0: no lock headers, no lock.
        let r = bundled(&s, method, "/f", Some(&token), Some("Second-0")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(bare(&r), None);
        assert_eq!(header(&r, "x-msdavextlocktimeout"), None);
        assert!(locks_on(&s, "/f").await.is_empty(), "{method}");
    }
    // A token that names no lock on an unlocked resource: 412.
    let r = bundled(&s, "GET", "/f", Some("urn:uuid:gone"), Some("Second-60")).await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // Locked by another lock: 423, and that lock stays as it was.
    let other = s.lock("/f", "0").await;
    for timeout in ["Second-60", "Second-0"] {
        let r = bundled(&s, "GET", "/f", Some("urn:uuid:mine"), Some(timeout)).await;
        assert_locked(&r);
    }
    assert_eq!(locks_on(&s, "/f").await, [other]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_3_get_with_timeout_takes_a_lock() {
    let s = TestServer::start().await;
    s.put("/f", "content").await;
    let r = bundled(&s, "GET", "/f", None, Some("Second-3600")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let token = bare(&r).unwrap();
    assert!(token.starts_with("urn:uuid:"), "bare, no brackets: {token}");
    assert_eq!(
        header(&r, "x-msdavextlocktimeout").as_deref(),
        Some("Second-3600")
    );
    assert_eq!(r.text().await.unwrap(), "content");
    let (_, body) = s.propfind("/f", "0", "").await;
    assert!(
        body.contains("<D:exclusive/>") && body.contains("<D:depth>0</D:depth>"),
        "{body}"
    );
    assert_eq!(locks_on(&s, "/f").await, std::slice::from_ref(&token));
    // The lock is a real one: a PUT without the token is refused.
    assert_eq!(s.put("/f", "other").await.status(), StatusCode::LOCKED);
    // Already locked: 423 for every method of the row, nothing changes.
    for method in ["GET", "HEAD", "POST"] {
        let r = bundled(&s, method, "/f", None, Some("Second-3600")).await;
        assert_locked(&r);
    }
    assert_eq!(locks_on(&s, "/f").await, [token]);
    // Timeout 0 without a token: there is nothing to unlock.
    s.put("/g", "x").await;
    let r = bundled(&s, "GET", "/g", None, Some("Second-0")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(locks_on(&s, "/g").await.is_empty());
    // A missing resource is a 404, and no lock is taken.
    let r = bundled(&s, "GET", "/missing", None, Some("Second-60")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = bundled(&s, "HEAD", "/g", None, Some("Infinite")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        header(&r, "x-msdavextlocktimeout")
            .unwrap()
            .starts_with("Second-")
    );
    // Office never refreshes sooner than 180 s: shorter requests get 180 s.
    s.put("/h", "x").await;
    let r = bundled(&s, "POST", "/h", None, Some("Second-10")).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "POST to a file with a lock request reads it"
    );
    assert_eq!(
        header(&r, "x-msdavextlocktimeout").as_deref(),
        Some("Second-180")
    );
    assert_eq!(r.text().await.unwrap(), "x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_4_get_without_lock_headers_processes_no_locks() {
    let s = TestServer::start().await;
    s.put("/f", "content").await;
    let token = s.lock("/f", "0").await;
    let r = bundled(&s, "GET", "/f", None, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(bare(&r), None, "a foreign lock's token is never handed out");
    assert_eq!(header(&r, "x-msdavextlocktimeout"), None);
    assert_eq!(locks_on(&s, "/f").await, [token]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_5_put_with_token_writes_under_the_lock() {
    let s = TestServer::start().await;
    s.put("/f", "v1").await;
    let token = s.lock("/f", "0").await;
    for sent in [token.clone(), format!("<{token}>")] {
        let r = bundled(&s, "PUT", "/f", Some(&sent), None).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{sent}");
        assert_eq!(bare(&r).as_deref(), Some(token.as_str()));
        assert_eq!(header(&r, "x-msdavextlocktimeout"), None);
    }
    assert_eq!(std::fs::read(s.root().join("f")).unwrap(), b"saved");
    assert_eq!(locks_on(&s, "/f").await, [token]);
    // Someone else's lock: 423, content unchanged.
    s.put("/g", "v1").await;
    s.lock("/g", "0").await;
    let r = bundled(&s, "PUT", "/g", Some("urn:uuid:mine"), None).await;
    assert_locked(&r);
    assert_eq!(std::fs::read(s.root().join("g")).unwrap(), b"v1");
    // No lock at all: the token matches nothing, 412.
    s.put("/h", "v1").await;
    let r = bundled(&s, "PUT", "/h", Some("urn:uuid:expired"), None).await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(std::fs::read(s.root().join("h")).unwrap(), b"v1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_6_put_with_token_and_timeout_writes_then_refreshes_or_unlocks() {
    let s = TestServer::start().await;
    s.put("/f", "v1").await;
    let token = s.lock("/f", "0").await;
    let r = bundled(&s, "PUT", "/f", Some(&token), Some("Second-900")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(bare(&r).as_deref(), Some(token.as_str()));
    assert_eq!(
        header(&r, "x-msdavextlocktimeout").as_deref(),
        Some("Second-900")
    );
    assert_eq!(std::fs::read(s.root().join("f")).unwrap(), b"saved");
    let r = bundled(&s, "PUT", "/f", Some(&token), Some("Second-0")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(bare(&r), None);
    assert!(locks_on(&s, "/f").await.is_empty());
    // Failures leave content and locks alone.
    std::fs::write(s.root().join("f"), "v2").unwrap();
    let r = bundled(&s, "PUT", "/f", Some(&token), Some("Second-60")).await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let other = s.lock("/f", "0").await;
    let r = bundled(&s, "PUT", "/f", Some(&token), Some("Second-0")).await;
    assert_locked(&r);
    assert_eq!(std::fs::read(s.root().join("f")).unwrap(), b"v2");
    assert_eq!(locks_on(&s, "/f").await, [other]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_7_put_with_timeout_writes_then_locks() {
    let s = TestServer::start().await;
    // A new resource: created and locked in one request.
    let r = bundled(&s, "PUT", "/new.docx", None, Some("Second-3600")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = bare(&r).unwrap();
    assert_eq!(
        header(&r, "x-msdavextlocktimeout").as_deref(),
        Some("Second-3600")
    );
    assert!(header(&r, "resourcetag").is_some());
    assert_eq!(std::fs::read(s.root().join("new.docx")).unwrap(), b"saved");
    assert_eq!(
        locks_on(&s, "/new.docx").await,
        std::slice::from_ref(&token)
    );
    // Already locked: 423, nothing written.
    std::fs::write(s.root().join("new.docx"), "kept").unwrap();
    let r = bundled(&s, "PUT", "/new.docx", None, Some("Second-3600")).await;
    assert_locked(&r);
    assert_eq!(std::fs::read(s.root().join("new.docx")).unwrap(), b"kept");
    // Timeout 0 without a token: 400, nothing written.
    let r = bundled(&s, "PUT", "/other", None, Some("Second-0")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!s.root().join("other").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_8_put_without_lock_headers_is_rfc_4918() {
    let s = TestServer::start().await;
    s.put("/f", "v1").await;
    let token = s.lock("/f", "0").await;
    let r = bundled(&s, "PUT", "/f", None, None).await;
    assert_locked(&r);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<D:lock-token-submitted><D:href>/f</D:href>"),
        "{body}"
    );
    let r = s
        .request("PUT", "/f")
        .header("If", format!("(<{token}>)"))
        .body("saved")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(bare(&r), None, "no lock headers asked for, none sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_lock_headers_are_400() {
    let s = TestServer::start().await;
    s.put("/f", "v1").await;
    for (token, timeout) in [
        (None, Some("soon")),
        (None, Some("Second-")),
        (Some("not a token"), Some("Second-60")),
        (Some("<urn:uuid:unclosed"), None),
    ] {
        for method in ["GET", "PUT"] {
            let r = bundled(&s, method, "/f", token, timeout).await;
            assert_eq!(
                r.status(),
                StatusCode::BAD_REQUEST,
                "{method} {token:?} {timeout:?}"
            );
        }
    }
    let r = s
        .request("PUT", "/f")
        .header("Lock-Token", "<urn:uuid:a>")
        .header("Lock-Token", "<urn:uuid:b>")
        .header("X-MSDAVEXTLockTimeout", "Second-60")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(std::fs::read(s.root().join("f")).unwrap(), b"v1");
    assert!(locks_on(&s, "/f").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translate_does_not_gate_lock_headers() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    let r = s
        .request("GET", "/f")
        .header("X-MSDAVEXTLockTimeout", "Second-600")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(bare(&r).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_to_a_collection_locks_it_after_the_upload() {
    let s = TestServer::start().await;
    s.mkcol("/up").await;
    let r = s
        .request("POST", "/up/")
        .header("X-MSDAVEXTLockTimeout", "Second-600")
        .header("Content-Type", "multipart/form-data; boundary=b")
        .body("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nhi\r\n--b--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = bare(&r).unwrap();
    assert_eq!(std::fs::read(s.root().join("up/a.txt")).unwrap(), b"hi");
    assert_eq!(locks_on(&s, "/up/").await, [token]);
    let ms = Multistatus::parse(&s.propfind("/up/", "0", "").await.1);
    assert!(!ms.responses.is_empty());
}

/// MS-WDV 3.2.5.2: "MUST fail the request if ... the file is locked by a different user". With
/// authentication on, alice's bundled lock refuses bob every lock operation even when he sends
/// her token, his plain writes too, and never hands him the token; alice keeps full use of it,
/// and her own plain reads are answered with her token (MS-WDV 2.2.4.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundled_lock_of_another_authenticated_user() {
    let s = TestServer::with_users("").await;
    let as_user = |user: &'static str, method: &str, token: Option<&str>, timeout: Option<&str>| {
        let password = if user == "alice" {
            "wonderland"
        } else {
            "builder"
        };
        let mut request = s
            .request(method, "/doc.docx")
            .basic_auth(user, Some(password))
            .header("translate", "f");
        if let Some(token) = token {
            request = request.header("Lock-Token", token.to_owned());
        }
        if let Some(timeout) = timeout {
            request = request.header("X-MSDAVEXTLockTimeout", timeout.to_owned());
        }
        if method == "PUT" {
            request = request.body(format!("saved by {user}"));
        }
        request.send()
    };
    let r = as_user("alice", "PUT", None, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = as_user("alice", "GET", None, Some("Second-3600"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = bare(&r).unwrap();

    // Bob: a new lock, a refresh, an unlock (with alice's token), a save with and without it.
    for (method, sent, timeout) in [
        ("GET", None, Some("Second-3600")),
        ("HEAD", None, Some("Second-3600")),
        ("GET", Some(token.as_str()), Some("Second-3600")),
        ("GET", Some(token.as_str()), Some("Second-0")),
        ("POST", Some(token.as_str()), Some("Second-0")),
        ("PUT", Some(token.as_str()), None),
        ("PUT", Some(token.as_str()), Some("Second-3600")),
        ("PUT", Some(token.as_str()), Some("Second-0")),
        ("PUT", None, Some("Second-3600")),
        ("PUT", None, None),
    ] {
        let r = as_user("bob", method, sent, timeout).await.unwrap();
        assert_locked(&r);
    }
    // A plain read works and does not reveal the token.
    let r = as_user("bob", "GET", None, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(bare(&r), None);
    assert_eq!(r.text().await.unwrap(), "saved by alice");
    assert_eq!(
        std::fs::read(s.root().join("doc.docx")).unwrap(),
        b"saved by alice"
    );

    // MS-WDV 2.2.4.2: answers to alice's own plain GET and HEAD carry her lock's token.
    for method in ["GET", "HEAD"] {
        let r = as_user("alice", method, None, None).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(bare(&r).as_deref(), Some(token.as_str()), "{method}");
    }

    // Alice's lock is untouched: she saves through it and releases it.
    let r = as_user("alice", "PUT", Some(&token), None).await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(bare(&r).as_deref(), Some(token.as_str()));
    let r = as_user("alice", "GET", Some(&token), Some("Second-0"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(bare(&r), None);
    // Now bob may lock it.
    let r = as_user("bob", "GET", None, Some("Second-3600"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(bare(&r).is_some_and(|t| t != token));
}
