//! DELETE and MOVE of a tree one of whose members cannot be changed (RFC 4918 §9.6.1, §9.9.4).
//!
//! Both are all or nothing in davd, so such a request fails completely, and RFC 4918 lets a
//! complete failure be a 4xx rather than a 207: davd answers 423 whose `lock-token-submitted`
//! names the locked member (docs/adr/0015-tree-failures-are-not-207.md says why), and changes
//! nothing.
#![allow(clippy::unwrap_used)]

use davd_tests::TestServer;
use reqwest::StatusCode;

/// `/c/` holding `a`, `b` and `sub/d`, with `b` locked; the lock token.
async fn tree_with_locked_member(s: &TestServer) -> String {
    assert_eq!(s.mkcol("/c").await.status(), StatusCode::CREATED);
    assert_eq!(s.mkcol("/c/sub").await.status(), StatusCode::CREATED);
    for path in ["/c/a", "/c/b", "/c/sub/d"] {
        assert_eq!(s.put(path, path).await.status(), StatusCode::CREATED);
    }
    s.lock("/c/b", "0").await
}

async fn assert_tree_intact(s: &TestServer, root: &str) {
    for member in ["a", "b", "sub/d"] {
        let r = s.get(&format!("{root}/{member}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{root}/{member}");
        assert_eq!(r.text().await.unwrap(), format!("/c/{member}"));
    }
}

/// The body of a 423 that blames exactly `href` (RFC 4918 §16: `lock-token-submitted`
/// names the locked resource that prevented the request).
async fn assert_locked_naming(r: reqwest::Response, href: &str) {
    assert_eq!(r.status(), StatusCode::LOCKED);
    let body = r.text().await.unwrap();
    assert!(
        body.contains(&format!(
            "<D:lock-token-submitted><D:href>{href}</D:href></D:lock-token-submitted>"
        )),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_of_a_tree_with_a_locked_member_is_423_naming_it_and_deletes_nothing() {
    let s = TestServer::start().await;
    let token = tree_with_locked_member(&s).await;
    assert_locked_naming(s.delete("/c/").await, "/c/b").await;
    assert_tree_intact(&s, "/c").await;
    // The member's token, submitted for the collection, lets the whole tree go.
    let r = s
        .request("DELETE", "/c/")
        .header("If", format!("</c/b> (<{token}>)"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get("/c/a").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_of_a_tree_with_a_locked_member_is_423_naming_it_and_moves_nothing() {
    let s = TestServer::start().await;
    tree_with_locked_member(&s).await;
    let r = s
        .request("MOVE", "/c/")
        .header("Destination", s.url("/moved/"))
        .send()
        .await
        .unwrap();
    assert_locked_naming(r, "/c/b").await;
    assert_tree_intact(&s, "/c").await;
    assert_eq!(s.get("/moved/a").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_over_a_tree_with_a_locked_member_is_423_naming_it_and_changes_neither() {
    let s = TestServer::start().await;
    tree_with_locked_member(&s).await;
    assert_eq!(s.mkcol("/src").await.status(), StatusCode::CREATED);
    assert_eq!(s.put("/src/new", "new").await.status(), StatusCode::CREATED);
    let r = s
        .request("MOVE", "/src/")
        .header("Destination", s.url("/c/"))
        .header("Overwrite", "T")
        .send()
        .await
        .unwrap();
    assert_locked_naming(r, "/c/b").await;
    assert_tree_intact(&s, "/c").await;
    assert_eq!(s.get("/src/new").await.status(), StatusCode::OK);
    assert_eq!(s.get("/c/new").await.status(), StatusCode::NOT_FOUND);
}
