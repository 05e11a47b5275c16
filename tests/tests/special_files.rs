//! What the file system holds besides files and directories: named pipes, sockets and device
//! nodes that someone put under the root. davd serves files and collections only; the rest is
//! neither listed nor opened, because opening a named pipe waits for a writer (forever, holding
//! a thread) and a device can read without end.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use davd_tests::{ALLPROP, Multistatus, TestServer};
use reqwest::StatusCode;

fn mkfifo(path: &std::path::Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {path:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_pipe_is_neither_listed_nor_opened() {
    let s = TestServer::start().await;
    s.put("/file.txt", "plain").await;
    mkfifo(&s.root().join("pipe"));

    // Each of these used to wait for a writer on the pipe. Enough of them at once (one per
    // worker thread) stopped the whole server.
    for method in ["GET", "HEAD", "POST"] {
        let answer =
            tokio::time::timeout(Duration::from_secs(10), s.request(method, "/pipe").send())
                .await
                .unwrap_or_else(|_| panic!("{method} of a named pipe hung"))
                .unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{method}");
    }
    let (status, _) = s.propfind("/pipe", "0", ALLPROP).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, text) = s.propfind("/", "1", ALLPROP).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let hrefs = Multistatus::parse(&text).hrefs().join(" ");
    assert!(hrefs.contains("/file.txt"), "{hrefs}");
    assert!(!hrefs.contains("pipe"), "{hrefs}");

    // The server is still serving, and the pipe is untouched.
    assert_eq!(s.get("/file.txt").await.text().await.unwrap(), "plain");
    let kind = std::fs::symlink_metadata(s.root().join("pipe"))
        .unwrap()
        .file_type();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_to_a_named_pipe_is_not_opened_either() {
    let s = TestServer::start().await;
    mkfifo(&s.root().join("pipe"));
    std::os::unix::fs::symlink("pipe", s.root().join("link")).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), s.get("/link"))
        .await
        .expect("GET through a symlink to a named pipe hung");
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
}
