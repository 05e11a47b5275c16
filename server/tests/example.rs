//! The library example (`examples/custom_subsystems.rs`) builds and serves what it promises.
#![allow(clippy::unwrap_used)]

#[path = "../examples/custom_subsystems.rs"]
#[allow(dead_code)]
mod example;

use std::sync::Arc;

use davd::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_serves_generated_files_and_its_property() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = App::build(example::settings(example::CONFIG).unwrap())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(davd::serve(listener, Arc::new(app), async {
        let _ = stopped.await;
    }));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();

    let text = client
        .get(format!("{base}/numbers/12.txt"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "12 squared is 144\n");
    let propfind = reqwest::Method::from_bytes(b"PROPFIND").unwrap();
    let body = client
        .request(propfind.clone(), format!("{base}/numbers/7.txt"))
        .header("Depth", "0")
        .body(r#"<D:propfind xmlns:D="DAV:"><D:prop><p:parity xmlns:p="http://example.com/ns"/></D:prop></D:propfind>"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains(">odd<"), "{body}");
    let listing = client
        .request(propfind, format!("{base}/"))
        .header("Depth", "1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listing.contains("<D:href>/numbers/</D:href>"), "{listing}");
    let put = client
        .put(format!("{base}/numbers/1.txt"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 403);
    let put = client
        .put(format!("{base}/scratch.txt"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201, "the in-memory root is writable");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// The example's kind reads its own key, and a mistake in its table stops startup at its line,
/// like a mistake in davd's own kinds.
#[test]
fn the_example_kind_reports_its_mistakes_at_their_line() {
    let misspelt = example::CONFIG.replace("up_to = 100", "upto = 100");
    let e = example::settings(&misspelt).unwrap_err();
    assert_eq!(e.line, 10, "{e}");
    assert!(
        e.message
            .starts_with("namespace kind \"numbers\": unknown field `upto`"),
        "{e}"
    );
    let zero = example::CONFIG.replace("up_to = 100", "up_to = 0");
    let e = example::settings(&zero).unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (10, "namespace kind \"numbers\": up_to must be at least 1")
    );
    // Without the example's catalog the kind is unknown.
    let e =
        davd::config::FileConfig::parse(example::CONFIG, "example.toml", std::path::Path::new("."))
            .unwrap_err();
    assert!(
        e.message.starts_with("unknown namespace kind \"numbers\""),
        "{e}"
    );
}
