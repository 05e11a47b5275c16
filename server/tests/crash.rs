//! Durability: what davd has answered for is on disk, even if the process dies right after
//! without a clean shutdown (SIGKILL: no signal handler, no final flush of the state).
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use support::Davd;

const LOCKINFO: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>crash test</D:owner></D:lockinfo>"#;

const PROPPATCH: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><t:colour xmlns:t="urn:test">ochre</t:colour></D:prop></D:set></D:propertyupdate>"#;

const PROPFIND: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><t:colour xmlns:t="urn:test"/></D:prop></D:propfind>"#;

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_and_a_dead_property_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--root", "r", "--state", "s"];
    let client = support::client_builder().build().unwrap();

    let davd = Davd::start(dir.path(), &args);
    let doc = format!("{}doc.txt", davd.url);
    let r = client.put(&doc).body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = client
        .request(method("LOCK"), &doc)
        .header("Timeout", "Second-3600")
        .body(LOCKINFO)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = r.headers()["lock-token"]
        .to_str()
        .unwrap()
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned();
    let r = client
        .request(method("PROPPATCH"), &doc)
        .header("If", format!("(<{token}>)"))
        .body(PROPPATCH)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    assert!(r.text().await.unwrap().contains("200 OK"));
    // At once, well within sled's own background flush interval (500 ms).
    davd.signal("KILL");
    assert_eq!(
        davd.wait(Duration::from_secs(20)),
        None,
        "killed, no exit code"
    );

    let davd = Davd::start(dir.path(), &args);
    let doc = format!("{}doc.txt", davd.url);
    let r = client.put(&doc).body("y").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED, "the lock is still enforced");
    let r = client
        .request(method("PROPFIND"), &doc)
        .header("Depth", "0")
        .body(PROPFIND)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let body = r.text().await.unwrap();
    assert!(body.contains(">ochre</"), "the property reads back: {body}");
    assert!(!body.contains("404"), "{body}");
    let r = client
        .put(&doc)
        .header("If", format!("(<{token}>)"))
        .body("y")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "the same token still works"
    );
    assert_eq!(davd.stop(), Some(0));
}
