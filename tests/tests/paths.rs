//! Paths: percent-decoding, refused spellings, href encoding, fragments.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use davd_tests::{Multistatus, TestServer};
use reqwest::StatusCode;

async fn raw_status(s: &TestServer, request_line: &str) -> String {
    let request = format!(
        "{request_line}\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s.host()
    );
    let response = s.raw(request.as_bytes(), Duration::from_secs(5)).await;
    response.lines().next().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_in_every_spelling_is_refused() {
    let s = TestServer::start().await;
    std::fs::create_dir_all(s.root()).unwrap();
    for target in [
        "/../etc/passwd",
        "/a/../../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/%2E%2E/%2e%2e/etc/passwd",
        "/a%2f..%2f..%2fetc",
        "/a%00b",
        "/%c0%ae%c0%ae/etc/passwd",
        "/%zz",
    ] {
        let line = raw_status(&s, &format!("GET {target} HTTP/1.1")).await;
        assert!(line.contains(" 400 "), "{target}: {line}");
    }
    // And in Destination.
    s.put("/src", "x").await;
    for destination in ["/../x", "/%2e%2e/x", "/a%2fb", "/a%00"] {
        let r = s
            .request("COPY", "/src")
            .header("Destination", s.url(destination))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{destination}");
    }
    // A backslash is part of a name, not a separator (backslash_names.rs): `..\..\etc` is
    // one name that does not exist, and a copy to `..\x` stays inside the root.
    let line = raw_status(&s, "GET /..%5c..%5cetc/passwd HTTP/1.1").await;
    assert!(line.contains(" 404 "), "{line}");
    let r = s
        .request("COPY", "/src")
        .header("Destination", s.url("/..%5cx"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(s.root().join("..\\x").is_file());
    // The server is still fine.
    assert_eq!(s.get("/src").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_are_refused() {
    let s = TestServer::start().await;
    s.mkcol("/frag/").await;
    let line = raw_status(&s, "DELETE /frag/#ment HTTP/1.1").await;
    assert!(line.contains(" 400 "), "{line}");
    assert!(
        s.root().join("frag").is_dir(),
        "the collection must survive"
    );
    // A body that merely contains such a line does not affect other requests.
    let r = s.put("/body.txt", "DELETE /frag/#x HTTP/1.1\r\n").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(s.delete("/frag/").await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_names_round_trip() {
    let s = TestServer::start().await;
    let names = [
        ("%25percent", "%percent"),
        ("plus+sign", "plus+sign"),
        ("hash%23tag", "hash#tag"),
        ("question%3Fmark", "question?mark"),
        ("with%20space", "with space"),
        ("%E6%97%A5%E6%9C%AC%E8%AA%9E", "日本語"),
        ("res-%e2%82%ac", "res-€"),
        ("amp%26and", "amp&and"),
    ];
    for (encoded, decoded) in names {
        let r = s.put(&format!("/{encoded}"), decoded.to_owned()).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{encoded}");
        assert!(s.root().join(decoded).is_file(), "{decoded} on disk");
        assert_eq!(
            s.get(&format!("/{encoded}")).await.text().await.unwrap(),
            decoded
        );
    }
    let (status, body) = s.propfind("/", "1", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let ms = Multistatus::parse(&body);
    for href in ms.hrefs() {
        // Every href decodes back to a path that GETs.
        if href != "/" {
            assert_eq!(s.get(href).await.status(), StatusCode::OK, "{href}");
        }
    }
    assert!(ms.hrefs().contains(&"/%25percent"));
    assert!(ms.hrefs().contains(&"/hash%23tag"));
    assert!(ms.hrefs().contains(&"/plus%2Bsign"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_hrefs_end_with_a_slash() {
    let s = TestServer::start().await;
    s.mkcol("/col").await;
    s.put("/col/f", "x").await;
    let (_, body) = s.propfind("/col", "1", "").await;
    let ms = Multistatus::parse(&body);
    assert_eq!(ms.hrefs(), vec!["/col/", "/col/f"]);
}
