//! `multipart/MSDAVEXTPrefixEncoded` both ways (MS-WDV 2.2.5): GET/HEAD with
//! `X-MSDAVEXT: PROPFIND`, PUT with `X-MSDAVEXT: PROPPATCH`.
#![allow(clippy::unwrap_used)]

use davd_tests::ms::{
    REPL, SPEC_VECTOR, Z, header, ms_root, prefixed, resource_tag, split_prefixed,
};
use davd_tests::{Multistatus, TestServer};
use reqwest::StatusCode;

const TYPE: &str = "multipart/MSDAVEXTPrefixEncoded";

async fn get_prefixed(s: &TestServer, method: &str, path: &str) -> reqwest::Response {
    s.request(method, path)
        .header("X-MSDAVEXT", "PROPFIND")
        .header("translate", "f")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_returns_properties_and_content() {
    let s = TestServer::start().await;
    s.mkcol("/docs").await;
    s.put("/docs/a.txt", "this is a text file").await;
    let plain = s.get("/docs/a.txt").await;
    let r = get_prefixed(&s, "GET", "/docs/a.txt").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type").as_deref(), Some(TYPE));
    assert_eq!(resource_tag(&r), resource_tag(&plain));
    assert_eq!(header(&r, "etag"), header(&plain, "etag"));
    let length: usize = header(&r, "content-length").unwrap().parse().unwrap();
    let body = r.bytes().await.unwrap();
    assert_eq!(
        body.len(),
        length,
        "Content-Length includes the size fields"
    );
    let (xml, content) = split_prefixed(&body);
    assert_eq!(content, b"this is a text file");
    assert!(xml.starts_with("<?xml version=\"1.0\""), "{xml}");
    assert!(xml.contains(&ms_root(&["Office", "Repl"])), "{xml}");
    assert_eq!(length, 32 + xml.len() + 19);
    let ms = Multistatus::parse(&xml);
    assert_eq!(ms.hrefs(), ["/docs/a.txt"]);
    let r0 = &ms.responses[0];
    assert_eq!(r0.prop("DAV:", "getcontentlength").unwrap().text, "19");
    assert_eq!(
        r0.prop(REPL, "resourcetag").unwrap().text,
        resource_tag(&plain).to_string()
    );
    // Exactly what a Depth 0 allprop PROPFIND answers.
    let (_, propfind) = s.propfind("/docs/a.txt", "0", "").await;
    assert_eq!(xml, propfind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_sends_the_same_headers_without_the_body() {
    let s = TestServer::start().await;
    s.put("/a.bin", vec![7u8; 5000]).await;
    let get = get_prefixed(&s, "GET", "/a.bin").await;
    let head = get_prefixed(&s, "HEAD", "/a.bin").await;
    assert_eq!(head.status(), StatusCode::OK);
    for name in [
        "content-type",
        "content-length",
        "etag",
        "resourcetag",
        "last-modified",
    ] {
        assert_eq!(header(&head, name), header(&get, name), "{name}");
    }
    let length: usize = header(&get, "content-length").unwrap().parse().unwrap();
    assert_eq!(get.bytes().await.unwrap().len(), length);
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_is_ignored_and_errors_are_plain() {
    let s = TestServer::start().await;
    s.put("/f", "0123456789").await;
    let r = s
        .request("GET", "/f")
        .header("X-MSDAVEXT", "PROPFIND")
        .header("Range", "bytes=2-3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, content) = split_prefixed(&r.bytes().await.unwrap());
    assert_eq!(content, b"0123456789");
    let r = get_prefixed(&s, "GET", "/missing").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_ne!(header(&r, "content-type").as_deref(), Some(TYPE));
    // A conditional GET that matches is a plain 304.
    let etag = header(&s.get("/f").await, "etag").unwrap();
    let r = s
        .request("GET", "/f")
        .header("X-MSDAVEXT", "PROPFIND")
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    // Other values, and the header on other methods, are ignored.
    let r = s
        .request("GET", "/f")
        .header("X-MSDAVEXT", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "0123456789");
    let r = s
        .request("GET", "/f")
        .header("X-MSDAVEXT", "PROPPATCH")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "0123456789");
    let r = s
        .request("PUT", "/f")
        .header("X-MSDAVEXT", "PROPFIND")
        .body("plain put")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(std::fs::read(s.root().join("f")).unwrap(), b"plain put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_and_post() {
    let s = TestServer::start().await;
    s.mkcol("/dir").await;
    s.put("/dir/member.txt", "m").await;
    let r = get_prefixed(&s, "GET", "/dir/").await;
    assert_eq!(r.status(), StatusCode::OK);
    let (xml, content) = split_prefixed(&r.bytes().await.unwrap());
    assert_eq!(Multistatus::parse(&xml).hrefs(), ["/dir/"]);
    let page = String::from_utf8(content).unwrap();
    assert!(page.contains("member.txt"), "{page}");
    // POST to a file with X-MSDAVEXT: PROPFIND is the mini-redirector's GET.
    let r = get_prefixed(&s, "POST", "/dir/member.txt").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type").as_deref(), Some(TYPE));
    let (_, content) = split_prefixed(&r.bytes().await.unwrap());
    assert_eq!(content, b"m");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_show_the_lock_taken_by_the_same_request() {
    let s = TestServer::start().await;
    s.put("/f.docx", "doc").await;
    let r = s
        .request("GET", "/f.docx")
        .header("X-MSDAVEXT", "PROPFIND")
        .header("X-MSDAVEXTLockTimeout", "Second-3600")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = header(&r, "lock-token").unwrap();
    assert_eq!(
        header(&r, "x-msdavextlocktimeout").as_deref(),
        Some("Second-3600")
    );
    let (xml, content) = split_prefixed(&r.bytes().await.unwrap());
    assert_eq!(content, b"doc");
    assert!(
        xml.contains(&format!("<D:locktoken><D:href>{token}</D:href>")),
        "{xml}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_with_the_specification_vector() {
    let s = TestServer::start().await;
    assert_eq!(SPEC_VECTOR.len(), 494);
    let r = s
        .request("PUT", "/test.txt")
        .header("X-MSDAVEXT", "PROPPATCH")
        .header("Content-Type", TYPE)
        .header("translate", "f")
        .body(SPEC_VECTOR)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = resource_tag(&r);
    assert_eq!(created.version, 1);
    assert!(header(&r, "repl-uid").is_some());
    assert_eq!(
        std::fs::read(s.root().join("test.txt")).unwrap(),
        b"this is a text file"
    );
    let (_, body) = s.propfind("/test.txt", "0", "").await;
    let ms = Multistatus::parse(&body);
    let r0 = ms.response("/test.txt");
    for (name, value) in [
        ("Win32CreationTime", "Wed, 20 Jun 2007 20:29:23 GMT"),
        ("Win32LastAccessTime", "Wed, 20 Jun 2007 20:29:30 GMT"),
        ("Win32LastModifiedTime", "Wed, 20 Jun 2007 20:29:30 GMT"),
        ("Win32FileAttributes", "00000020"),
    ] {
        assert_eq!(r0.prop(Z, name).unwrap().text, value, "{name}");
    }
    // Again: the version grows once per request, not once per part.
    let r = s
        .request("PUT", "/test.txt")
        .header("X-MSDAVEXT", "PROPPATCH")
        .header("Content-Type", TYPE)
        .body(SPEC_VECTOR)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(resource_tag(&r).version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_both_forms() {
    let s = TestServer::start().await;
    let xml = r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:" xmlns:o="urn:other"><D:set><D:prop><Z:Win32FileAttributes>00000002</Z:Win32FileAttributes><o:note>kept</o:note></D:prop></D:set></D:propertyupdate>"#;
    let content: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let r = s
        .request("PUT", "/bin.dat")
        .header("X-MSDAVEXT", "PROPPATCH")
        .header("Content-Type", "multipart/msdavextprefixencoded")
        .body(prefixed(xml, &content))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = get_prefixed(&s, "GET", "/bin.dat").await;
    let (props, body) = split_prefixed(&r.bytes().await.unwrap());
    assert_eq!(body, content);
    let ms = Multistatus::parse(&props);
    let r0 = &ms.responses[0];
    assert_eq!(r0.prop(Z, "Win32FileAttributes").unwrap().text, "00000002");
    assert_eq!(r0.prop("DAV:", "ishidden").unwrap().text, "1");
    assert_eq!(r0.prop("urn:other", "note").unwrap().text, "kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_fails_whole_when_a_part_fails() {
    let s = TestServer::start().await;
    s.put("/f", "original").await;
    let before = resource_tag(&s.get("/f").await);
    let put = |body: Vec<u8>, content_type: &'static str| {
        s.request("PUT", "/f")
            .header("X-MSDAVEXT", "PROPPATCH")
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let z = |extra: &str| {
        format!(
            r#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:" xmlns:O="urn:schemas-microsoft-com:office:office"><D:set><D:prop><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>{extra}</D:prop></D:set></D:propertyupdate>"#
        )
    };
    // A protected property: 403 for the whole PUT, the multistatus says which.
    let r = put(prefixed(&z("<D:getetag>\"x\"</D:getetag>"), b"new"), TYPE)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let text = r.text().await.unwrap();
    assert!(text.contains(&ms_root(&["Z"])), "{text}");
    let ms = Multistatus::parse(&text);
    assert_eq!(ms.responses[0].status_of("DAV:", "getetag"), Some(403));
    assert_eq!(
        ms.responses[0].status_of(Z, "Win32FileAttributes"),
        Some(424)
    );
    // A bad value: 409.
    let bad = z("<O:specialFolderType>many</O:specialFolderType>");
    let r = put(prefixed(&bad, b"new"), TYPE).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Framing errors: 400; the wrong media type: 415.
    let good = z("");
    let mut long = prefixed(&good, b"new");
    long.extend_from_slice(b"extra");
    let mut short = prefixed(&good, b"new");
    short.pop();
    let mut bad_size = prefixed(&good, b"new");
    bad_size[3] = b'g';
    for (body, expected) in [
        (long, StatusCode::BAD_REQUEST),
        (short, StatusCode::BAD_REQUEST),
        (bad_size, StatusCode::BAD_REQUEST),
        (prefixed("<not-xml", b"new"), StatusCode::BAD_REQUEST),
        (b"0000".to_vec(), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(put(body, TYPE).await.unwrap().status(), expected);
    }
    let r = put(prefixed(&good, b"new"), "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Nothing of any of it was applied.
    assert_eq!(std::fs::read(s.root().join("f")).unwrap(), b"original");
    assert_eq!(resource_tag(&s.get("/f").await), before);
    let (_, body) = s.propfind("/f", "0", "").await;
    assert!(!body.contains("Win32FileAttributes"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_with_properties_and_a_bundled_unlock() {
    let s = TestServer::start().await;
    s.put("/f", "v1").await;
    let token = s.lock("/f", "0").await;
    let r = s
        .request("PUT", "/f")
        .header("X-MSDAVEXT", "PROPPATCH")
        .header("Content-Type", TYPE)
        .header("Lock-Token", token.clone())
        .header("X-MSDAVEXTLockTimeout", "Second-0")
        .body(SPEC_VECTOR)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "lock-token"), None);
    assert_eq!(
        std::fs::read(s.root().join("f")).unwrap(),
        b"this is a text file"
    );
    let (_, body) = s.propfind("/f", "0", "").await;
    assert!(!body.contains(&token), "the lock is gone: {body}");
    assert!(body.contains("<Z:Win32FileAttributes"), "{body}");
}
