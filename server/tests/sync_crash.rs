//! Issue 22: sync tokens and `kill -9`. The change log is not flushed with every change (a
//! PUT would pay a flush for it), so a process that is killed may lose its last entries, and
//! the numbers they had would be handed out again. A token from before such a stop must
//! therefore be refused (`DAV:valid-sync-token`, and the client syncs from scratch), while a
//! graceful stop keeps every token good.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use reqwest::{Client, StatusCode};
use support::{Davd, method};

const ARGS: [&str; 4] = ["--root", "root", "--state", "state"];

fn client() -> Client {
    support::client_builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A first (no `token`) or later sync of `/` through `davd`: the status and the body.
async fn report(c: &Client, davd: &Davd, token: Option<&str>) -> (StatusCode, String) {
    let token = token.map_or("<D:sync-token/>".to_owned(), |t| {
        format!("<D:sync-token>{t}</D:sync-token>")
    });
    let r = c
        .request(method("REPORT"), davd.url.clone())
        .header("Content-Type", "application/xml")
        .body(format!(
            r#"<D:sync-collection xmlns:D="DAV:">{token}<D:sync-level>1</D:sync-level>
               <D:prop><D:getetag/></D:prop></D:sync-collection>"#
        ))
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

fn token_of(body: &str) -> String {
    let start = body.find("<D:sync-token>").unwrap() + "<D:sync-token>".len();
    let end = body[start..].find("</D:sync-token>").unwrap();
    body[start..start + end].to_owned()
}

async fn put(c: &Client, davd: &Davd, name: &str) {
    let r = c
        .put(format!("{}{name}", davd.url))
        .body("x")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "PUT {name}: {}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_outlives_a_graceful_stop_and_not_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();

    let davd = Davd::start(dir.path(), &ARGS);
    put(&c, &davd, "a").await;
    let (status, body) = report(&c, &davd, None).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    let token = token_of(&body);
    put(&c, &davd, "b").await;
    assert_eq!(davd.stop(), Some(0));

    // Stopped gracefully: the token still covers what changed, before and after.
    let davd = Davd::start(dir.path(), &ARGS);
    put(&c, &davd, "c").await;
    let (status, body) = report(&c, &davd, Some(&token)).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert!(body.contains("<D:href>/b</D:href>"), "{body}");
    assert!(body.contains("<D:href>/c</D:href>"), "{body}");
    assert!(!body.contains("<D:href>/a</D:href>"), "{body}");
    let token = token_of(&body);

    // Killed: entries after the last flush may be gone, so no token from before holds.
    put(&c, &davd, "d").await;
    davd.signal("KILL");
    davd.wait(Duration::from_secs(20));
    let davd = Davd::start(dir.path(), &ARGS);
    let (status, body) = report(&c, &davd, Some(&token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("<D:valid-sync-token/>"), "{body}");
    // The client starts again from scratch, and from there on syncs as before.
    let (status, body) = report(&c, &davd, None).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    for name in ["a", "b", "c", "d"] {
        assert!(
            body.contains(&format!("<D:href>/{name}</D:href>")),
            "{body}"
        );
    }
    let fresh = token_of(&body);
    put(&c, &davd, "e").await;
    let (status, body) = report(&c, &davd, Some(&fresh)).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert!(body.contains("<D:href>/e</D:href>"), "{body}");
    assert!(!body.contains("<D:href>/a</D:href>"), "{body}");
    assert_eq!(davd.stop(), Some(0));
}
