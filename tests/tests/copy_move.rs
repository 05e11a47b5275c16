//! COPY and MOVE.
#![allow(clippy::unwrap_used)]

use davd_tests::{Multistatus, TestServer};
use reqwest::StatusCode;

async fn copy(s: &TestServer, from: &str, to: &str, headers: &[(&str, &str)]) -> StatusCode {
    let mut r = s.request("COPY", from).header("Destination", s.url(to));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap().status()
}

async fn mv(s: &TestServer, from: &str, to: &str, headers: &[(&str, &str)]) -> StatusCode {
    let mut r = s.request("MOVE", from).header("Destination", s.url(to));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap().status()
}

const SET_PROP: &str = r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:t="urn:t"><D:set><D:prop><t:color>blue</t:color></D:prop></D:set></D:propertyupdate>"#;
const GET_PROP: &str = r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><t:color xmlns:t="urn:t"/></D:prop></D:propfind>"#;

async fn color(s: &TestServer, path: &str) -> Option<String> {
    let (status, body) = s.propfind(path, "0", GET_PROP).await;
    if status == StatusCode::NOT_FOUND {
        return None;
    }
    let ms = Multistatus::parse(&body);
    let p = ms.responses[0].prop("urn:t", "color").unwrap();
    (p.status == 200).then(|| p.text.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_file_created_then_overwritten() {
    let s = TestServer::start().await;
    s.put("/a", "A").await;
    s.proppatch("/a", SET_PROP).await;
    assert_eq!(copy(&s, "/a", "/b", &[]).await, StatusCode::CREATED);
    assert_eq!(s.get("/b").await.text().await.unwrap(), "A");
    assert_eq!(
        color(&s, "/b").await.as_deref(),
        Some("blue"),
        "properties are copied"
    );
    s.put("/a", "A2").await;
    assert_eq!(
        copy(&s, "/a", "/b", &[("Overwrite", "F")]).await,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(s.get("/b").await.text().await.unwrap(), "A");
    assert_eq!(
        copy(&s, "/a", "/b", &[("Overwrite", "T")]).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.get("/b").await.text().await.unwrap(), "A2");
    assert_eq!(
        s.get("/a").await.text().await.unwrap(),
        "A2",
        "the source stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_collections_deep_and_shallow() {
    let s = TestServer::start().await;
    s.mkcol("/src").await;
    s.mkcol("/src/sub").await;
    s.put("/src/sub/f", "F").await;
    s.put("/src/g", "G").await;
    s.proppatch("/src/sub/f", SET_PROP).await;
    assert_eq!(copy(&s, "/src/", "/deep/", &[]).await, StatusCode::CREATED);
    assert_eq!(s.get("/deep/sub/f").await.text().await.unwrap(), "F");
    assert_eq!(s.get("/deep/g").await.text().await.unwrap(), "G");
    assert_eq!(color(&s, "/deep/sub/f").await.as_deref(), Some("blue"));
    assert_eq!(
        copy(&s, "/src/", "/shallow/", &[("Depth", "0")]).await,
        StatusCode::CREATED
    );
    assert!(s.root().join("shallow").is_dir());
    assert_eq!(
        std::fs::read_dir(s.root().join("shallow")).unwrap().count(),
        0
    );
    assert_eq!(
        copy(&s, "/src/", "/x/", &[("Depth", "1")]).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_move_refusals() {
    let s = TestServer::start().await;
    s.mkcol("/c").await;
    s.put("/f", "x").await;
    assert_eq!(copy(&s, "/f", "/f", &[]).await, StatusCode::FORBIDDEN);
    assert_eq!(
        copy(&s, "/c/", "/c/inside/", &[]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        mv(&s, "/c/", "/c/inside/", &[]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(copy(&s, "/f", "/nope/f", &[]).await, StatusCode::CONFLICT);
    assert_eq!(copy(&s, "/missing", "/g", &[]).await, StatusCode::NOT_FOUND);
    let r = s
        .request("COPY", "/f")
        .header("Destination", "http://elsewhere.example/f")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let r = s.request("COPY", "/f").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no Destination");
    let r = s
        .request("COPY", "/f")
        .header("Destination", s.url("/g"))
        .header("Overwrite", "maybe")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .request("MOVE", "/f")
        .header("Destination", "/g")
        .header("Depth", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(mv(&s, "/", "/x/", &[]).await, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_renames_with_properties() {
    let s = TestServer::start().await;
    s.mkcol("/m").await;
    s.put("/m/f", "F").await;
    s.proppatch("/m/f", SET_PROP).await;
    s.proppatch("/m", SET_PROP).await;
    assert_eq!(mv(&s, "/m/", "/n/", &[]).await, StatusCode::CREATED);
    assert!(!s.root().join("m").exists());
    assert_eq!(s.get("/n/f").await.text().await.unwrap(), "F");
    assert_eq!(color(&s, "/n/f").await.as_deref(), Some("blue"));
    assert_eq!(color(&s, "/n").await.as_deref(), Some("blue"));
    // Nothing lingers at the old paths: a new resource there starts clean.
    s.mkcol("/m").await;
    assert_eq!(color(&s, "/m").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_over_existing_destination() {
    let s = TestServer::start().await;
    s.put("/a", "A").await;
    s.put("/b", "B").await;
    s.proppatch("/b", SET_PROP).await;
    assert_eq!(
        mv(&s, "/a", "/b", &[("Overwrite", "F")]).await,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(mv(&s, "/a", "/b", &[]).await, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/b").await.text().await.unwrap(), "A");
    assert_eq!(
        color(&s, "/b").await,
        None,
        "the overwritten resource's properties are gone"
    );
    assert_eq!(s.get("/a").await.status(), StatusCode::NOT_FOUND);
    // A collection replaced by a file.
    s.mkcol("/dir").await;
    s.put("/dir/x", "x").await;
    s.put("/file", "file").await;
    assert_eq!(mv(&s, "/file", "/dir", &[]).await, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/dir").await.text().await.unwrap(), "file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_as_path_or_url() {
    let s = TestServer::start().await;
    s.put("/a", "A").await;
    let r = s
        .request("COPY", "/a")
        .header("Destination", "/b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .request("COPY", "/a")
        .header("Destination", format!("http://{}/c%20d", s.host()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(s.root().join("c d").is_file());
}
