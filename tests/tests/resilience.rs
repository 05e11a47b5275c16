//! Issue 16: what a client can make the server hold or do is bounded, and the bounds do not
//! stop legitimate work (docs/security.md, "Limits").
#![allow(clippy::unwrap_used)]

use futures_util::{StreamExt, stream};
use reqwest::StatusCode;

use davd_tests::{LOCKINFO_EXCLUSIVE, Multistatus, TestServer};

/// Issue 16 item 8: the If header is limited by its size, like every header, not by a count of
/// conditions: the owner of 1,000 locks inside a collection submits them all and deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_of_a_thousand_locks_deletes_their_collection() {
    const LOCKS: usize = 1000;
    let s = TestServer::start().await;
    assert_eq!(s.mkcol("/c").await.status(), StatusCode::CREATED);
    let tokens: Vec<(usize, String)> = stream::iter(0..LOCKS)
        .map(|i| {
            let request = s
                .request("LOCK", &format!("/c/m{i:03}"))
                .header("Depth", "0")
                .body(LOCKINFO_EXCLUSIVE)
                .send();
            async move {
                let r = request.await.unwrap();
                assert_eq!(r.status(), StatusCode::CREATED, "LOCK {i}");
                (i, davd_tests::lock_token(&r))
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut header = String::new();
    for (i, token) in &tokens {
        header.push_str(&format!("</c/m{i:03}> (<{token}>) "));
    }
    assert!(header.len() > 50_000, "{} bytes", header.len());
    // Without the tokens the collection is locked.
    assert_eq!(s.delete("/c/").await.status(), StatusCode::LOCKED);
    let r = s
        .request("DELETE", "/c/")
        .header("If", header.trim_end())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(s.get("/c/m000").await.status(), StatusCode::NOT_FOUND);
    // The locks went with their resources: the same user may lock again.
    assert_eq!(s.put("/again", "x").await.status(), StatusCode::CREATED);
    s.lock("/again", "0").await;
}

/// The If header is still bounded: one larger than the request head limit is refused with
/// 431 before anything is evaluated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_if_header_beyond_the_head_limit_is_431() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    let header = "(<urn:uuid:00000000-0000-0000-0000-000000000000>) ".repeat(2000);
    let r = s
        .request("PUT", "/f")
        .header("If", header.trim_end())
        .body("y")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(s.get("/f").await.text().await.unwrap(), "x");
}

/// Issue 16 item 9: a resource whose dead properties are larger than a response holds at once
/// (256 KiB) is answered in full, its values read and sent page by page: the 207 streams
/// (no Content-Length), and every form of PROPFIND gets what it asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_dead_properties_are_streamed_in_full() {
    let s = TestServer::start().await;
    assert_eq!(s.mkcol("/c").await.status(), StatusCode::CREATED);
    assert_eq!(
        s.put("/c/big", "content").await.status(),
        StatusCode::CREATED
    );
    let value = |i: usize| format!("{i}:{}", "v".repeat(200_000));
    for i in 0..4 {
        let (status, _) = s
            .proppatch(
                "/c/big",
                &format!(
                    "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><z:p{i} xmlns:z=\"urn:z\">{}</z:p{i}></D:prop></D:set></D:propertyupdate>",
                    value(i)
                ),
            )
            .await;
        assert_eq!(status, StatusCode::MULTI_STATUS);
    }
    let propfind = |path: &'static str, depth: &'static str, body: &'static str| {
        s.request("PROPFIND", path)
            .header("Depth", depth)
            .body(body)
            .send()
    };
    let values_of = |body: &str, href: &str| -> Vec<String> {
        let listing = Multistatus::parse(body);
        let response = listing.response(href);
        (0..4)
            .filter_map(|i| response.prop("urn:z", &format!("p{i}")))
            .filter(|p| p.status == 200)
            .map(|p| p.text.clone())
            .collect()
    };
    let all: Vec<String> = (0..4).map(value).collect();
    // allprop, Depth 0: streamed, every value whole, the live properties with them.
    let r = propfind("/c/big", "0", "").await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    assert_eq!(r.content_length(), None, "streamed");
    let body = r.text().await.unwrap();
    assert_eq!(values_of(&body, "/c/big"), all);
    let listing = Multistatus::parse(&body);
    assert_eq!(
        listing
            .response("/c/big")
            .status_of("DAV:", "getcontentlength"),
        Some(200)
    );
    // The collection's Depth 1 listing carries them too.
    let body = propfind("/c/", "1", "")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(values_of(&body, "/c/big"), all);
    // Named properties: found ones with their values, a missing one 404.
    let r = propfind(
        "/c/big",
        "0",
        r#"<D:propfind xmlns:D="DAV:" xmlns:z="urn:z"><D:prop><z:p2/><z:nope/><D:getetag/><z:p0/></D:prop></D:propfind>"#,
    )
    .await
    .unwrap();
    let body = r.text().await.unwrap();
    let listing = Multistatus::parse(&body);
    let big = listing.response("/c/big");
    assert_eq!(big.prop("urn:z", "p2").unwrap().text, value(2));
    assert_eq!(big.prop("urn:z", "p0").unwrap().text, value(0));
    assert_eq!(big.status_of("urn:z", "nope"), Some(404));
    assert_eq!(big.status_of("DAV:", "getetag"), Some(200));
    assert!(big.prop("urn:z", "p1").is_none());
    // propname: the names alone.
    let body = propfind(
        "/c/big",
        "0",
        r#"<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#,
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(body.len() < 10_000, "{} bytes", body.len());
    let listing = Multistatus::parse(&body);
    for i in 0..4 {
        assert_eq!(
            listing
                .response("/c/big")
                .status_of("urn:z", &format!("p{i}")),
            Some(200)
        );
    }
    // allprop with include: what is asked for and missing is 404.
    let body = propfind(
        "/c/big",
        "0",
        r#"<D:propfind xmlns:D="DAV:" xmlns:z="urn:z"><D:allprop/><D:include><z:p3/><z:absent/></D:include></D:propfind>"#,
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert_eq!(values_of(&body, "/c/big"), all);
    let listing = Multistatus::parse(&body);
    assert_eq!(
        listing.response("/c/big").status_of("urn:z", "absent"),
        Some(404)
    );
    // Microsoft's combined GET needs the properties' length first: the plain answer instead.
    let r = s
        .request("GET", "/c/big")
        .header("X-MSDAVEXT", "PROPFIND")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "content");
}
