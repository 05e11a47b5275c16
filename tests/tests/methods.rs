//! Class 1 methods: OPTIONS, GET/HEAD, PUT, DELETE, MKCOL, unknown methods.
#![allow(clippy::unwrap_used)]

use davd_protocol::MethodKind;
use davd_tests::TestServer;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_advertises_dav_and_allow() {
    let s = TestServer::start().await;
    let r = s.request("OPTIONS", "/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["dav"], "1, 2, 3");
    assert_eq!(r.headers()["ms-author-via"], "DAV");
    let allow = r.headers()["allow"].to_str().unwrap();
    for m in [
        "PROPFIND",
        "PROPPATCH",
        "LOCK",
        "UNLOCK",
        "COPY",
        "MOVE",
        "DELETE",
    ] {
        assert!(allow.contains(m), "{allow}");
    }
    // Unmapped URL: only methods that can create something.
    let r = s.request("OPTIONS", "/nothing").send().await.unwrap();
    let allow = r.headers()["allow"].to_str().unwrap();
    assert!(
        allow.contains("PUT") && allow.contains("MKCOL") && !allow.contains("DELETE"),
        "{allow}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_creates_then_replaces() {
    let s = TestServer::start().await;
    let r = s.put("/a.txt", "one").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let first_etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = s.put("/a.txt", "two!").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_ne!(r.headers()["etag"].to_str().unwrap(), first_etag);
    assert_eq!(std::fs::read(s.root().join("a.txt")).unwrap(), b"two!");
    let r = s.get("/a.txt").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "two!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_head_headers() {
    let s = TestServer::start().await;
    s.put("/doc.html", "<p>hello</p>").await;
    let get = s.get("/doc.html").await;
    assert_eq!(get.status(), StatusCode::OK);
    let h = get.headers().clone();
    assert_eq!(h["content-type"], "text/html");
    assert_eq!(h["content-length"], "12");
    assert_eq!(h["accept-ranges"], "bytes");
    assert!(h["etag"].to_str().unwrap().starts_with('"'));
    assert!(h.contains_key("last-modified"));
    let head = s.request("HEAD", "/doc.html").send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "12");
    assert_eq!(head.headers()["etag"], h["etag"]);
    assert_eq!(head.bytes().await.unwrap().len(), 0);
    assert_eq!(s.get("/missing").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_needs_a_parent_and_cannot_replace_a_collection() {
    let s = TestServer::start().await;
    assert_eq!(
        s.put("/no/parent.txt", "x").await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(s.mkcol("/dir").await.status(), StatusCode::CREATED);
    assert_eq!(
        s.put("/dir", "x").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        s.put("/", "x").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    s.put("/file", "x").await;
    assert_eq!(
        s.put("/file/child", "x").await.status(),
        StatusCode::CONFLICT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mkcol_rules() {
    let s = TestServer::start().await;
    assert_eq!(s.mkcol("/c/").await.status(), StatusCode::CREATED);
    assert!(s.root().join("c").is_dir());
    assert_eq!(
        s.mkcol("/c/").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(s.mkcol("/x/y/").await.status(), StatusCode::CONFLICT);
    let r = s
        .request("MKCOL", "/withbody")
        .body("afafafaf")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(!s.root().join("withbody").exists());
    // Without a trailing slash too (macOS Finder sends it that way).
    assert_eq!(s.mkcol("/noslash").await.status(), StatusCode::CREATED);
    assert!(s.root().join("noslash").is_dir());
    s.put("/plain", "x").await;
    assert_eq!(
        s.mkcol("/plain").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_files_and_trees() {
    let s = TestServer::start().await;
    s.mkcol("/t").await;
    s.mkcol("/t/u").await;
    s.put("/t/u/f", "x").await;
    s.put("/g", "x").await;
    assert_eq!(s.delete("/g").await.status(), StatusCode::NO_CONTENT);
    assert!(!s.root().join("g").exists());
    assert_eq!(s.delete("/t").await.status(), StatusCode::NO_CONTENT);
    assert!(!s.root().join("t").exists());
    assert_eq!(s.delete("/t").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.delete("/").await.status(), StatusCode::FORBIDDEN);
    let r = s
        .request("DELETE", "/x")
        .header("Depth", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_are_501_with_allow() {
    let s = TestServer::start().await;
    let r = s.request("BREW", "/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_IMPLEMENTED);
    assert!(r.headers()["allow"].to_str().unwrap().contains("PROPFIND"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_get_an_escaped_html_index() {
    let s = TestServer::start().await;
    s.mkcol("/dir").await;
    s.put("/dir/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E.txt", "x")
        .await;
    s.mkcol("/dir/sub").await;
    let r = s.get("/dir/").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;.txt"),
        "{page}"
    );
    assert!(page.contains("href=\"/dir/sub/\""), "{page}");
    assert!(
        page.find("sub/").unwrap() < page.find("&lt;img").unwrap(),
        "folders first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_area_is_invisible_and_unreachable() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    let (_, body) = s.propfind("/", "1", "").await;
    assert!(!body.contains("davd-staging"), "{body}");
    assert_eq!(
        s.get("/.davd-staging/").await.status(),
        StatusCode::NOT_FOUND
    );
    // It does not exist as far as clients can tell, and cannot be created either.
    assert_eq!(
        s.put("/.davd-staging/x", "x").await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        s.mkcol("/.davd-staging").await.status(),
        StatusCode::FORBIDDEN
    );
    let page = s.get("/").await.text().await.unwrap();
    assert!(!page.contains("davd-staging"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_405_says_what_is_allowed() {
    let s = TestServer::start().await;
    s.mkcol("/dir").await;
    s.put("/file", "x").await;
    for (method, path) in [
        ("PUT", "/dir"),
        ("MKCOL", "/dir"),
        ("MKCOL", "/file"),
        ("POST", "/file"),
    ] {
        let r = s.request(method, path).send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let allow = r
            .headers()
            .get("allow")
            .unwrap_or_else(|| panic!("{method} {path}: no Allow"))
            .to_str()
            .unwrap();
        assert!(allow.contains("PROPFIND"), "{allow}");
    }
}

/// Every method of the table in `davd-protocol` reaches a module of the executive that answers
/// it: none is listed in `Allow` and then answered 501 (or fails inside the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_in_the_table_is_answered_by_the_executive() {
    let s = TestServer::start().await;
    for kind in MethodKind::ALL {
        s.put("/doc.txt", "text").await;
        let r = s
            .request(kind.token(), "/doc.txt")
            .header("destination", s.url("/other.txt"))
            .header(
                "lock-token",
                "<urn:uuid:00000000-0000-0000-0000-000000000000>",
            )
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(
            status != StatusCode::NOT_IMPLEMENTED && !status.is_server_error(),
            "{}: {status}",
            kind.token()
        );
    }
    let r = s.request("BREW", "/doc.txt").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(r.headers()["allow"], davd_protocol::IMPLEMENTED_METHODS);
}
