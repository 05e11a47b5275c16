//! Issue 16: what a client can make the server hold or do is bounded, and the bounds do not
//! stop legitimate work (docs/security.md, "Limits").
#![allow(clippy::unwrap_used)]

use futures_util::{StreamExt, stream};
use reqwest::StatusCode;

use davd_tests::{LOCKINFO_EXCLUSIVE, TestServer};

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
