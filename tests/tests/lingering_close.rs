//! Lingering close: a request refused before its body was read (here a PUT to a locked file,
//! 423) still lets the client send the whole body and read the answer. davd used to close
//! the connection with the body unread, and the kernel's reset reached the client before the
//! answer did: it saw "broken pipe" instead of the 423 (or the 507 of a full disk).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use davd_tests::TestServer;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// More than loopback's socket buffers hold, so the client can only finish sending if the
/// server reads.
const BODY: usize = 32 * 1024 * 1024;

/// Reads one response head from `stream`, returning it with the body bytes that followed it.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

async fn locked_file(s: &TestServer) {
    let r = s.put("/locked.txt", "original").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    s.lock("/locked.txt", "0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_refused_unread_is_drained_and_the_answer_arrives() {
    let s = TestServer::start().await;
    locked_file(&s).await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let head = format!("PUT /locked.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..BODY / chunk.len() {
        tokio::time::timeout(Duration::from_secs(60), stream.write_all(&chunk))
            .await
            .expect("the server keeps reading")
            .expect("the server must not reset the connection while the client sends");
    }
    let answer = read_head(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 423"), "{answer}");

    // The body was read to its end, so the connection serves the next request.
    let length: usize = answer
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let body_seen = answer.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
    let mut rest = vec![0u8; length.saturating_sub(body_seen)];
    stream.read_exact(&mut rest).await.unwrap();
    stream
        .write_all(b"GET /locked.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_head(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("original"), "{answer}");
}

/// A client that asked for `100-continue` has sent no body: it gets its answer at once, and
/// nothing is drained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_waiting_for_continue_gets_the_refusal_without_sending() {
    let s = TestServer::start().await;
    locked_file(&s).await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /locked.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\nExpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_head(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 423"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert_eq!(s.get("/locked.txt").await.text().await.unwrap(), "original");
}
