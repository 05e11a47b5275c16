//! Client behaviour that the specifications do not describe (docs/clients.md).
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use davd_tests::TestServer;
use futures_util::stream;
use reqwest::StatusCode;

/// macOS Finder sends PUT bodies chunked, without Content-Length (sabre.io's Finder notes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finder_chunked_put() {
    let s = TestServer::start().await;
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"first chunk, ")),
        Ok(Bytes::from_static(b"second chunk")),
    ];
    let r = s
        .request("PUT", "/finder.txt")
        .header(
            "User-Agent",
            "WebDAVFS/3.0.0 (03008000) Darwin/22.1.0 (arm64)",
        )
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        std::fs::read(s.root().join("finder.txt")).unwrap(),
        b"first chunk, second chunk"
    );
}
