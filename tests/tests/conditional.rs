//! RFC 7232 conditional requests and RFC 7233 ranges.
#![allow(clippy::unwrap_used)]

use davd_tests::TestServer;
use reqwest::StatusCode;

async fn etag(s: &TestServer, path: &str) -> String {
    s.get(path).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_changes_with_content_only() {
    let s = TestServer::start().await;
    s.put("/f", "one").await;
    let a = etag(&s, "/f").await;
    assert_eq!(etag(&s, "/f").await, a, "stable while unchanged");
    s.put("/f", "one").await;
    assert_ne!(
        etag(&s, "/f").await,
        a,
        "a new PUT is a new entity, even with the same bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_conditions() {
    let s = TestServer::start().await;
    s.put("/f", "content").await;
    let tag = etag(&s, "/f").await;
    let last_modified = s.get("/f").await.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();

    let r = s
        .request("GET", "/f")
        .header("If-None-Match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), tag);
    let r = s
        .request("GET", "/f")
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .request("GET", "/f")
        .header("If-Modified-Since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = s
        .request("GET", "/f")
        .header("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .request("GET", "/f")
        .header("If-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = s
        .request("GET", "/f")
        .header("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_conditions_guard_against_lost_updates() {
    let s = TestServer::start().await;
    s.put("/f", "v1").await;
    let tag = etag(&s, "/f").await;
    let r = s
        .request("PUT", "/f")
        .header("If-Match", &tag)
        .body("v2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // The same If-Match again is now stale.
    let r = s
        .request("PUT", "/f")
        .header("If-Match", &tag)
        .body("v3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(s.get("/f").await.text().await.unwrap(), "v2");
    // If-None-Match: * creates only.
    let r = s
        .request("PUT", "/f")
        .header("If-None-Match", "*")
        .body("v4")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = s
        .request("PUT", "/new")
        .header("If-None-Match", "*")
        .body("n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // The If header's entity-tag form.
    let tag = etag(&s, "/f").await;
    let r = s
        .request("PUT", "/f")
        .header("If", format!("([{tag}])"))
        .body("v5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .request("PUT", "/f")
        .header("If", format!("([{tag}])"))
        .body("v6")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = s
        .request("PUT", "/f")
        .header("If", "(<garbage")
        .body("v6")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_ranges() {
    let s = TestServer::start().await;
    let body: String = (0..200)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    s.put("/r", body.clone()).await;
    let r = s
        .request("GET", "/r")
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/200");
    assert_eq!(r.headers()["content-length"], "10");
    assert_eq!(r.text().await.unwrap(), &body[10..20]);
    let r = s
        .request("GET", "/r")
        .header("Range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), &body[195..]);
    let r = s
        .request("GET", "/r")
        .header("Range", "bytes=190-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), &body[190..]);
    let r = s
        .request("GET", "/r")
        .header("Range", "bytes=500-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], "bytes */200");
    // Malformed or multiple ranges: the whole thing.
    for range in [
        "bytes=z-",
        "bytes=0-1,5-6",
        "lines=1-2",
        "bytes=99999999999999999999999-",
    ] {
        let r = s
            .request("GET", "/r")
            .header("Range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{range}");
        assert_eq!(r.text().await.unwrap(), body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_file_ranges_stream() {
    let s = TestServer::start().await;
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    s.put("/big", body.clone()).await;
    let r = s
        .request("GET", "/big")
        .header("Range", "bytes=1000000-1999999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &body[1_000_000..2_000_000]
    );
    assert_eq!(
        s.get("/big").await.bytes().await.unwrap().as_ref(),
        &body[..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumable_upload_with_content_range() {
    let s = TestServer::start().await;
    let r = s
        .request("PUT", "/up")
        .header("Content-Range", "bytes 0-4/10")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .request("PUT", "/up")
        .header("Content-Range", "bytes 5-9/10")
        .body("world")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get("/up").await.text().await.unwrap(), "helloworld");
    // Length mismatch and broken ranges are refused.
    let r = s
        .request("PUT", "/up")
        .header("Content-Range", "bytes 0-4/10")
        .body("toolong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .request("PUT", "/up")
        .header("Content-Range", "bytes 9-0/10")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(s.get("/up").await.text().await.unwrap(), "helloworld");
}
