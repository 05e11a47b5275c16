//! The 1997 paper's example live properties: a read-only flag and a hit counter.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use davd_registry::LivePropertyHandler;
use davd_subsystems::live::{HitCounter, ReadOnly, standard_handlers};
use davd_tests::{Multistatus, TestServer};
use reqwest::StatusCode;

async fn server() -> TestServer {
    let mut live: Vec<Arc<dyn LivePropertyHandler>> = standard_handlers();
    live.push(Arc::new(ReadOnly::new()));
    live.push(Arc::new(HitCounter::new()));
    TestServer::with_handlers(live).await
}

const READ_ONLY: &str = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><readonly xmlns="urn:davd:">true</readonly></D:prop></D:set></D:propertyupdate>"#;
const WRITABLE: &str = r#"<D:propertyupdate xmlns:D="DAV:"><D:remove><D:prop><readonly xmlns="urn:davd:"/></D:prop></D:remove></D:propertyupdate>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_flag_refuses_every_write_until_removed() {
    let s = server().await;
    s.mkcol("/c").await;
    s.put("/c/f", "original").await;
    s.put("/other", "o").await;
    assert_eq!(
        s.proppatch("/c/f", READ_ONLY).await.0,
        StatusCode::MULTI_STATUS
    );

    assert_eq!(
        s.put("/c/f", "changed").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.delete("/c/f").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        s.delete("/c").await.status(),
        StatusCode::FORBIDDEN,
        "a tree holding it cannot go either"
    );
    let r = s
        .request("MOVE", "/c/f")
        .header("Destination", s.url("/g"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s
        .request("COPY", "/other")
        .header("Destination", s.url("/c/f"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let other_prop = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="u">1</x></D:prop></D:set></D:propertyupdate>"#;
    assert_eq!(
        s.proppatch("/c/f", other_prop).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.get("/c/f").await.text().await.unwrap(),
        "original",
        "reading is fine"
    );

    // A bad value is refused with 409 in the PROPPATCH.
    let bad = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><readonly xmlns="urn:davd:">maybe</readonly></D:prop></D:set></D:propertyupdate>"#;
    let (_, text) = s.proppatch("/other", bad).await;
    assert_eq!(
        Multistatus::parse(&text).responses[0].status_of("urn:davd:", "readonly"),
        Some(409)
    );

    assert_eq!(
        s.proppatch("/c/f", WRITABLE).await.0,
        StatusCode::MULTI_STATUS
    );
    assert_eq!(
        s.put("/c/f", "changed").await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_collection_refuses_new_members() {
    let s = server().await;
    s.mkcol("/c").await;
    s.proppatch("/c", READ_ONLY).await;
    assert_eq!(s.put("/c/new", "x").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.mkcol("/c/sub").await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_counter_counts_gets_and_is_protected() {
    let s = server().await;
    s.put("/page.html", "<p>hi</p>").await;
    for _ in 0..3 {
        assert_eq!(s.get("/page.html").await.status(), StatusCode::OK);
    }
    s.request("HEAD", "/page.html").send().await.unwrap();
    let query =
        r#"<D:propfind xmlns:D="DAV:"><D:prop><hits xmlns="urn:davd:"/></D:prop></D:propfind>"#;
    let (_, text) = s.propfind("/page.html", "0", query).await;
    assert_eq!(
        Multistatus::parse(&text).responses[0]
            .prop("urn:davd:", "hits")
            .unwrap()
            .text,
        "3"
    );
    let forge = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><hits xmlns="urn:davd:">1000</hits></D:prop></D:set></D:propertyupdate>"#;
    let (_, text) = s.proppatch("/page.html", forge).await;
    assert_eq!(
        Multistatus::parse(&text).responses[0].status_of("urn:davd:", "hits"),
        Some(403)
    );
    // The count travels with the resource.
    s.request("MOVE", "/page.html")
        .header("Destination", s.url("/moved.html"))
        .send()
        .await
        .unwrap();
    let (_, text) = s.propfind("/moved.html", "0", query).await;
    assert_eq!(
        Multistatus::parse(&text).responses[0]
            .prop("urn:davd:", "hits")
            .unwrap()
            .text,
        "3"
    );
}
