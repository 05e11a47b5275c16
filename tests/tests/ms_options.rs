//! Microsoft extensions on the edges of a request: OPTIONS advertisements, GETLIB and
//! MS-Doclib, Translate, X-MSDAVEXT_ERROR, Ms-Echo-Reply, lock headers on the wrong method.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use davd_tests::TestServer;
use davd_tests::ms::header;
use reqwest::StatusCode;

/// The advertisement every OPTIONS answer must carry (MS-WDVME 3.2.5.1, MS-WDV 3.2.5).
fn assert_advertises(r: &reqwest::Response) {
    assert_eq!(header(r, "dav").as_deref(), Some("1, 2, 3"));
    assert_eq!(header(r, "ms-author-via").as_deref(), Some("DAV"));
    assert_eq!(header(r, "x-msdavext").as_deref(), Some("1"));
    assert_eq!(
        header(r, "public-extension").as_deref(),
        Some("http://schemas.microsoft.com/repl-2")
    );
    assert!(header(r, "allow").unwrap().ends_with(", GETLIB"));
    assert_eq!(header(r, "documentmanagementserver"), None);
    assert_eq!(header(r, "x-msfsshttp"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_advertises_the_extensions_on_every_url() {
    let s = TestServer::start().await;
    s.mkcol("/dir").await;
    s.put("/dir/file.docx", "x").await;
    for (path, allow) in [
        (
            "/",
            "OPTIONS, GET, HEAD, POST, DELETE, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK, REPORT, GETLIB",
        ),
        (
            "/dir/",
            "OPTIONS, GET, HEAD, POST, DELETE, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK, REPORT, GETLIB",
        ),
        (
            "/dir/file.docx",
            "OPTIONS, GET, HEAD, POST, PUT, DELETE, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK, GETLIB",
        ),
        ("/nothing/here", "OPTIONS, PUT, MKCOL, LOCK, GETLIB"),
    ] {
        for agent in [
            "Microsoft Office Protocol Discovery",
            "DavClnt",
            "Microsoft-WebDAV-MiniRedir/10.0.19045",
        ] {
            let r = s
                .request("OPTIONS", path)
                .header("User-Agent", agent)
                .header("translate", "f")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_advertises(&r);
            assert_eq!(header(&r, "allow").as_deref(), Some(allow), "{path}");
            assert_eq!(header(&r, "content-length").as_deref(), Some("0"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_errors_still_advertise() {
    let s = TestServer::start().await;
    // An encoded slash in a segment is refused by the protocol layer.
    let reply = s
        .raw(
            b"OPTIONS /a%2fb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
    let lower = reply.to_ascii_lowercase();
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(lower.contains("x-msdavext: 1\r\n"), "{reply}");
    assert!(lower.contains("ms-author-via: dav\r\n"), "{reply}");
    assert!(lower.contains("x-msdavext_error: 589936; "), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_on_405_and_501_lists_getlib() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    // POST to a file is refused with the file's Allow.
    let r = s.request("POST", "/f").body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(header(&r, "allow").unwrap().ends_with("GETLIB"));
    let r = s.request("BREW", "/f").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_IMPLEMENTED);
    assert!(
        header(&r, "allow")
            .unwrap()
            .ends_with("UNLOCK, REPORT, GETLIB")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getlib_is_404_everywhere() {
    let s = TestServer::start().await;
    s.mkcol("/Shared Documents").await;
    s.put("/Shared%20Documents/a.txt", "x").await;
    for path in [
        "/",
        "/missing",
        "/Shared%20Documents/",
        "/Shared%20Documents/a.txt",
    ] {
        let r = s
            .request("GETLIB", path)
            .header("If", "(((garbage")
            .header("Depth", "7")
            .body("not xml")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&r, "ms-doclib"), None);
        assert_eq!(header(&r, "content-length").as_deref(), Some("0"));
        assert!(r.bytes().await.unwrap().is_empty());
    }
    // Nothing was touched.
    assert_eq!(
        std::fs::read(s.root().join("Shared Documents/a.txt")).unwrap(),
        b"x"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propfind_with_ms_doclib_behaves_as_getlib() {
    let s = TestServer::start().await;
    s.mkcol("/dir").await;
    for value in ["", "some random value"] {
        let r = s
            .request("PROPFIND", "/dir/")
            .header("MS-Doclib", value)
            .header("Depth", "infinity")
            .header("Content-Type", "application/xml")
            .body("<<< garbage")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "MS-Doclib: {value:?}");
        assert_eq!(header(&r, "content-type"), None);
        assert!(r.bytes().await.unwrap().is_empty());
    }
    // Without the header the same PROPFIND is an ordinary 400 (bad body).
    let r = s
        .request("PROPFIND", "/dir/")
        .header("Depth", "0")
        .body("<<< garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translate_is_accepted_on_every_method_and_changes_nothing() {
    let s = TestServer::start().await;
    s.put("/page.asp", "<% server code %>").await;
    let plain = s.get("/page.asp").await.bytes().await.unwrap();
    for value in [&b"f"[..], b"F", b"t", b"T", b"false", b"xyz", b"", b"\xff"] {
        let value = reqwest::header::HeaderValue::from_bytes(value).unwrap();
        let r = s
            .request("GET", "/page.asp")
            .header("Translate", value.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{value:?}");
        assert_eq!(r.bytes().await.unwrap(), plain, "{value:?}");
        for (method, path) in [
            ("HEAD", "/page.asp"),
            ("OPTIONS", "/page.asp"),
            ("PROPFIND", "/page.asp"),
            ("MKCOL", "/new-dir"),
            ("DELETE", "/new-dir"),
        ] {
            let mut request = s.request(method, path).header("Translate", value.clone());
            if method == "PROPFIND" {
                request = request.header("Depth", "0");
            }
            let r = request.send().await.unwrap();
            assert!(
                r.status().is_success(),
                "{method} with Translate {value:?}: {}",
                r.status()
            );
        }
        translate_on_the_writing_methods(&s, &value, &plain).await;
    }
    let r = s
        .request("PUT", "/page.asp")
        .header("translate", "f")
        .body("<% new %>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        std::fs::read(s.root().join("page.asp")).unwrap(),
        b"<% new %>"
    );
}

/// POST (an upload, and Microsoft's GET-like POST), PROPPATCH, LOCK, COPY, MOVE and UNLOCK with
/// `Translate: value` behave exactly as without it: stored bytes are copied and moved verbatim.
async fn translate_on_the_writing_methods(
    s: &TestServer,
    value: &reqwest::header::HeaderValue,
    plain: &[u8],
) {
    let request =
        |method: &str, path: &str| s.request(method, path).header("Translate", value.clone());
    let status = |r: &reqwest::Response, method: &str| {
        assert!(
            r.status().is_success(),
            "{method} with Translate {value:?}: {}",
            r.status()
        );
    };
    let upload = b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"up.asp\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n<% uploaded %>\r\n--b--\r\n";
    let r = request("POST", "/")
        .header("Content-Type", "multipart/form-data; boundary=b")
        .header("Accept", "application/json")
        .body(upload.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "POST upload, {value:?}");
    assert_eq!(
        std::fs::read(s.root().join("up.asp")).unwrap(),
        b"<% uploaded %>"
    );
    let r = request("POST", "/page.asp")
        .header("X-MSDAVEXT", "PROPFIND")
        .send()
        .await
        .unwrap();
    status(&r, "POST with X-MSDAVEXT: PROPFIND");
    let (_, content) = davd_tests::ms::split_prefixed(&r.bytes().await.unwrap());
    assert_eq!(content, plain, "{value:?}");

    let r = request("PROPPATCH", "/page.asp")
        .body(r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><t:p xmlns:t="urn:t">1</t:p></D:prop></D:set></D:propertyupdate>"#)
        .send()
        .await
        .unwrap();
    status(&r, "PROPPATCH");
    assert!(r.text().await.unwrap().contains("200 OK"));
    let r = request("LOCK", "/page.asp")
        .body(davd_tests::LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "LOCK, {value:?}");
    let token = davd_tests::lock_token(&r);
    for (method, from, to) in [
        ("COPY", "/page.asp", "/copy.asp"),
        ("MOVE", "/copy.asp", "/moved.asp"),
    ] {
        let r = request(method, from)
            .header("Destination", s.url(to))
            .send()
            .await
            .unwrap();
        status(&r, method);
        assert_eq!(std::fs::read(s.root().join(&to[1..])).unwrap(), plain);
    }
    let r = request("UNLOCK", "/page.asp")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "UNLOCK, {value:?}");
    assert_eq!(std::fs::read(s.root().join("page.asp")).unwrap(), plain);
    for leftover in ["/up.asp", "/moved.asp"] {
        assert_eq!(s.delete(leftover).await.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_449_and_ms_echo_reply_is_ignored() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    for (method, path, expected) in [
        ("GET", "/f", StatusCode::OK),
        ("GET", "/missing", StatusCode::NOT_FOUND),
        ("PUT", "/g", StatusCode::CREATED),
        ("DELETE", "/g", StatusCode::NO_CONTENT),
        ("OPTIONS", "/", StatusCode::OK),
    ] {
        let r = s
            .request(method, path)
            .header("Ms-Echo-Reply", "token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "{method} {path}");
        assert_eq!(header(&r, "ms-echo-request"), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_timeout_header_on_other_methods_is_400() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    for method in [
        "PROPFIND",
        "PROPPATCH",
        "DELETE",
        "MKCOL",
        "OPTIONS",
        "LOCK",
    ] {
        let r = s
            .request(method, "/f")
            .header("X-MSDAVEXTLockTimeout", "Second-3600")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{method}");
        assert!(
            r.text().await.unwrap().contains("X-MSDAVEXTLockTimeout"),
            "{method}: the reason names the header"
        );
    }
    // Nothing happened to the file.
    assert_eq!(std::fs::read(s.root().join("f")).unwrap(), b"x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_answers_carry_the_windows_error_number() {
    let s = TestServer::start().await;
    s.put("/doc.docx", "v1").await;
    let token = s.lock("/doc.docx", "0").await;
    for (method, path) in [
        ("PUT", "/doc.docx"),
        ("DELETE", "/doc.docx"),
        ("PROPPATCH", "/doc.docx"),
        ("LOCK", "/doc.docx"),
    ] {
        let mut request = s.request(method, path);
        request = match method {
            "PROPPATCH" => request.body(
                r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>"#,
            ),
            "LOCK" => request.body(davd_tests::LOCKINFO_EXCLUSIVE),
            "PUT" => request.body("v2"),
            _ => request,
        };
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::LOCKED, "{method}");
        let value = header(&r, "x-msdavext_error").unwrap_or_default();
        assert!(value.starts_with("589838; "), "{method}: {value:?}");
        assert!(
            value[8..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
            "percent-encoded: {value}"
        );
    }
    assert_eq!(std::fs::read(s.root().join("doc.docx")).unwrap(), b"v1");
    // Other errors carry no number.
    let r = s.get("/missing").await;
    assert_eq!(header(&r, "x-msdavext_error"), None);
    let r = s
        .request("UNLOCK", "/doc.docx")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}
