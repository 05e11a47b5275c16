//! `Office:modifiedby` records the principal of every content write (MS-WDVME 2.2.10.4).
//!
//! This drives the executive directly with an identity, as the server does once HTTP Basic
//! authentication has filled `Identity::principal` (over HTTP:
//! `tests/tests/security.rs::modifiedby_records_the_authenticated_user`). A change made
//! without authentication shows the anonymous principal's name, `anonymous`.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http::{HeaderMap, HeaderValue, StatusCode};

use davd_executive::{Executive, Identity};
use davd_protocol::{Body, RequestHead};
use davd_subsystems::memory::MemoryProperties;

fn executive() -> Arc<Executive> {
    support::executive_over(Arc::new(MemoryProperties::new()))
}

async fn send(
    exec: &Arc<Executive>,
    method: &str,
    path: &str,
    principal: Option<&str>,
    headers: &[(&'static str, &str)],
    body: &'static str,
) -> (StatusCode, String) {
    let mut map = HeaderMap::new();
    map.insert("host", HeaderValue::from_static("localhost"));
    map.insert("content-length", HeaderValue::from(body.len()));
    for (name, value) in headers {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    let head = RequestHead {
        method,
        path,
        headers: &map,
        default_port: 80,
        body_may_exist: !body.is_empty(),
    };
    let identity = Identity {
        principal: principal.map(str::to_owned),
    };
    let body = stream::once(async move { Ok(Bytes::from_static(body.as_bytes())) }).boxed();
    let response = exec.handle(head, identity, body).await;
    let text = match response.body {
        Body::Empty => String::new(),
        Body::Full(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
        Body::Stream(mut s) => {
            let mut out = Vec::new();
            while let Some(chunk) = s.next().await {
                out.extend_from_slice(&chunk.unwrap());
            }
            String::from_utf8(out).unwrap()
        }
    };
    (response.status, text)
}

async fn modified_by(exec: &Arc<Executive>, path: &str) -> String {
    let (status, body) = send(
        exec,
        "PROPFIND",
        path,
        None,
        &[("depth", "0")],
        r#"<D:propfind xmlns:D="DAV:"><D:prop><O:modifiedby xmlns:O="urn:schemas-microsoft-com:office:office"/></D:prop></D:propfind>"#,
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    body
}

#[tokio::test]
async fn every_content_write_records_its_principal() {
    let exec = executive();
    let (status, _) = send(&exec, "PUT", "/doc", Some("alice"), &[], "v1").await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        modified_by(&exec, "/doc")
            .await
            .contains("<Office:modifiedby>alice</Office:modifiedby>")
    );
    let (status, _) = send(&exec, "PUT", "/doc", Some("bob & co"), &[], "v2").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        modified_by(&exec, "/doc")
            .await
            .contains("<Office:modifiedby>bob &amp; co</Office:modifiedby>")
    );
    // Properties are not content: PROPPATCH leaves the last writer.
    let (status, _) = send(
        &exec,
        "PROPPATCH",
        "/doc",
        Some("carol"),
        &[],
        r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>"#,
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert!(modified_by(&exec, "/doc").await.contains(">bob &amp; co<"));
    // An anonymous write shows the anonymous principal (MS-WDVME 2.2.10.4, issue 5).
    send(&exec, "PUT", "/doc", None, &[], "v3").await;
    assert!(
        modified_by(&exec, "/doc")
            .await
            .contains("<Office:modifiedby>anonymous</Office:modifiedby>")
    );
    // A new collection and a copy are written by whoever made them.
    send(&exec, "MKCOL", "/dir", Some("dave"), &[], "").await;
    assert!(modified_by(&exec, "/dir").await.contains(">dave<"));
    let (status, _) = send(
        &exec,
        "COPY",
        "/doc",
        Some("erin"),
        &[("destination", "/copy")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(modified_by(&exec, "/copy").await.contains(">erin<"));
}
