//! Many clients at once: no lost or mixed updates, and readers never see a half-written file.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use davd_tests::TestServer;
use reqwest::StatusCode;

const SIZE: usize = 512 * 1024;

fn uniform(body: &[u8]) -> bool {
    body.len() == SIZE && body.iter().all(|b| *b == body[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_leave_one_body_or_the_other() {
    let s = Arc::new(TestServer::start().await);
    s.put("/shared", vec![b'0'; SIZE]).await;
    let mut tasks = Vec::new();
    for writer in 0..8u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let status = s.put("/shared", vec![b'a' + writer; SIZE]).await.status();
                assert!(
                    status == StatusCode::NO_CONTENT || status == StatusCode::CREATED,
                    "{status}"
                );
            }
        }));
    }
    for _ in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let body = s.get("/shared").await.bytes().await.unwrap();
                assert!(uniform(&body), "a reader saw a mixed or partial body");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let body = std::fs::read(s.root().join("shared")).unwrap();
    assert!(uniform(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn move_and_put_in_one_subtree_do_not_interleave() {
    let s = Arc::new(TestServer::start().await);
    s.mkcol("/tree").await;
    for i in 0..20 {
        s.put(&format!("/tree/f{i}"), "x").await;
    }
    let mover = {
        let s = s.clone();
        tokio::spawn(async move {
            for round in 0..10 {
                let (from, to) = if round % 2 == 0 {
                    ("/tree/", "/moved/")
                } else {
                    ("/moved/", "/tree/")
                };
                let r = s
                    .request("MOVE", from)
                    .header("Destination", s.url(to))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        })
    };
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut created = 0;
            for i in 0..40 {
                // Either it lands inside the tree before or after a move, or the parent is
                // momentarily elsewhere (409); never a lost or misplaced file.
                let status = s.put(&format!("/tree/new{i}"), "n").await.status();
                if status == StatusCode::CREATED {
                    created += 1;
                } else {
                    assert_eq!(status, StatusCode::CONFLICT);
                }
            }
            created
        })
    };
    mover.await.unwrap();
    let created = writer.await.unwrap();
    let entries = std::fs::read_dir(s.root().join("tree")).unwrap().count();
    assert_eq!(
        entries,
        20 + created,
        "every acknowledged PUT is in the tree"
    );
    assert!(!s.root().join("moved").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_taken_while_an_upload_streams_is_honoured_and_nothing_is_left_behind() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start().await;
    s.put("/doc", "original").await;
    // The upload starts (headers and half the body) and stalls while it is being staged.
    let mut upload = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /doc HTTP/1.1\r\nHost: {}\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello",
        s.host()
    );
    upload.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Meanwhile another client locks the document: staging holds no latch.
    let token = s.lock("/doc", "0").await;
    upload.write_all(b"world").await.unwrap();
    let mut answer = String::new();
    upload.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 423"), "{answer}");
    assert_eq!(s.get("/doc").await.text().await.unwrap(), "original");
    let staging = std::fs::read_dir(s.root().join(".davd-staging"))
        .unwrap()
        .count();
    assert_eq!(staging, 0, "the staged body was discarded");
    let r = s
        .request("PUT", "/doc")
        .header("If", format!("(<{token}>)"))
        .body("locked write")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}
