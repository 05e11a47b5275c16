//! A GET's `ResourceTag` is reused from the thread's recent answers only while the property
//! store reports no change (`executive/src/ms/recent_tags.rs`): a record rewritten behind the
//! executive's back, with the resource's metadata unchanged, shows at the next GET.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http::{HeaderMap, HeaderValue, StatusCode};

use davd_executive::{Executive, Identity};
use davd_protocol::{DavPath, RequestHead};
use davd_registry::{DocumentRecord, PropertyManager, document_prop_name};
use davd_subsystems::sled_store::{SledProperties, StateDb};

fn executive(properties: Arc<dyn PropertyManager>) -> Arc<Executive> {
    support::executive_over(properties)
}

/// Status and `ResourceTag` of a request without a body (or with `body`).
async fn send(exec: &Arc<Executive>, method: &str, body: &'static str) -> (StatusCode, String) {
    let mut map = HeaderMap::new();
    map.insert("host", HeaderValue::from_static("localhost"));
    map.insert("content-length", HeaderValue::from(body.len()));
    let head = RequestHead {
        method,
        path: "/doc",
        headers: &map,
        default_port: 80,
        body_may_exist: !body.is_empty(),
    };
    let body = stream::once(async move { Ok(Bytes::from_static(body.as_bytes())) }).boxed();
    let response = exec.handle(head, Identity::default(), body).await;
    let tag = response
        .headers
        .get("resourcetag")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status, tag)
}

#[tokio::test]
async fn a_record_changed_in_the_store_shows_at_the_next_get() {
    let state = StateDb::temporary().unwrap();
    let properties: Arc<dyn PropertyManager> = Arc::new(SledProperties::open(&state).unwrap());
    let exec = executive(properties.clone());
    let (status, created) = send(&exec, "PUT", "content").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, first) = send(&exec, "GET", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first, created);
    assert_eq!(send(&exec, "GET", "").await.1, first, "nothing changed");

    // The same entity tag, a different version: only the store knows.
    let path = DavPath::parse_url_path("/doc").unwrap().0;
    let stored = properties
        .get(&path, &document_prop_name())
        .await
        .unwrap()
        .unwrap();
    let mut record = DocumentRecord::from_prop(&stored.xml).unwrap();
    record.version = 7;
    properties.set(&path, record.to_prop()).await.unwrap();

    let (_, after) = send(&exec, "GET", "").await;
    assert_ne!(after, first);
    assert!(after.ends_with("@00000000007"), "{after}");
}
