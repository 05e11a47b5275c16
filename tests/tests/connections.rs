//! Issue 16 items 6 and 7: one connection policy for every protocol version, with and without
//! TLS. A connection with no request in progress is closed after `header_read_timeout`,
//! whatever it speaks, and when every slot is taken the connection idle the longest makes room
//! for a new one, so idle and silent connections cannot keep other clients out.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use davd::settings::TlsFiles;
use davd_tests::{Dirs, TestServer};
use reqwest::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The HTTP/2 client preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// A HEADERS frame for `GET /` on stream 1, ending the stream (HPACK: `:method GET`,
/// `:scheme http`, `:path /` from the static table, `:authority x` as a literal).
const H2_GET: &[u8] = b"\x00\x00\x06\x01\x05\x00\x00\x00\x01\x82\x86\x84\x41\x01x";

const HTTP1_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Reads until the server closes the connection; true if it did within `limit`.
async fn closed_within(mut stream: impl AsyncRead + Unpin, limit: Duration) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Writes `bytes` and, if `answer` is given, reads until it has seen that text.
async fn talk(stream: &mut (impl AsyncRead + AsyncWrite + Unpin), bytes: &[u8], answer: &[u8]) {
    stream.write_all(bytes).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.is_empty() && !seen.windows(answer.len()).any(|w| w == answer) {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// What each kind of client does before it falls idle, and what it waits to see first.
const IDLE_KINDS: [(&str, &[u8], &[u8]); 4] = [
    ("silent", b"", b""),
    ("HTTP/1.1 between requests", HTTP1_GET, b"\r\n\r\n"),
    ("HTTP/2 without a request", H2_PREFACE, b""),
    // Sends the preface and a GET, and waits for the response (`h2_after_a_request`).
    ("HTTP/2 after a request", b"", b""),
];

async fn h2_after_a_request(stream: &mut (impl AsyncRead + AsyncWrite + Unpin)) {
    let mut request = H2_PREFACE.to_vec();
    request.extend_from_slice(H2_GET);
    stream.write_all(&request).await.unwrap();
    // Read frames until the response's HEADERS frame on stream 1 arrives.
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while pending.len() >= 9 {
            let len = u32::from_be_bytes([0, pending[0], pending[1], pending[2]]) as usize;
            if pending.len() < 9 + len {
                break;
            }
            let (kind, stream_id) = (
                pending[3],
                u32::from_be_bytes([pending[5], pending[6], pending[7], pending[8]]),
            );
            if kind == 1 && stream_id == 1 {
                return;
            }
            pending.drain(..9 + len);
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        pending.extend_from_slice(&buf[..n]);
    }
}

async fn fall_idle(stream: &mut (impl AsyncRead + AsyncWrite + Unpin), kind: usize) {
    let (_, bytes, answer) = IDLE_KINDS[kind];
    if kind == 3 {
        h2_after_a_request(stream).await;
    } else if !bytes.is_empty() {
        talk(stream, bytes, answer).await;
    }
}

fn quick_idle(settings: &mut davd::Settings) {
    settings.limits.header_read_timeout = Duration::from_secs(1);
}

/// Issue 16 item 6: every kind of idle connection is closed after the idle limit, plain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_whatever_they_speak() {
    let s = TestServer::start_with(quick_idle).await;
    for (kind, (name, ..)) in IDLE_KINDS.iter().enumerate() {
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        fall_idle(&mut stream, kind).await;
        let started = Instant::now();
        assert!(
            closed_within(stream, Duration::from_secs(20)).await,
            "{name}: still open after 20 s"
        );
        eprintln!("{name}: closed after {:?}", started.elapsed());
    }
    // The server still serves.
    assert_eq!(s.get("/").await.status(), StatusCode::OK);
}

fn self_signed(dir: &std::path::Path) -> (TlsFiles, rustls::pki_types::CertificateDer<'static>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let der = cert.cert.der().clone();
    (
        TlsFiles {
            cert: cert_path,
            key: key_path,
        },
        der,
    )
}

/// Issue 16 item 6: the same with TLS, HTTP/1.1 and HTTP/2 chosen by ALPN, and a connection
/// that never starts its handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tls_connections_are_closed_whatever_they_speak() {
    let dirs = Dirs::new();
    let (files, der) = self_signed(&dirs.state);
    let settings = davd::Settings {
        root: dirs.root.clone(),
        state: dirs.state.clone(),
        tls: Some(files),
        connection_threads: davd_tests::TEST_CONNECTION_THREADS,
        ..davd::Settings::default()
    };
    let mut settings = settings;
    quick_idle(&mut settings);
    let s = TestServer::start_app(davd::App::build(settings).await.unwrap(), dirs).await;

    let stream = TcpStream::connect(s.addr).await.unwrap();
    assert!(
        closed_within(stream, Duration::from_secs(20)).await,
        "a connection without a handshake stays open"
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    for (alpn, kinds) in [
        (&b"http/1.1"[..], [1usize]),
        (&b"h2"[..], [2]),
        (&b"h2"[..], [3]),
    ] {
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        for kind in kinds {
            let tcp = TcpStream::connect(s.addr).await.unwrap();
            let mut tls = connector
                .connect("localhost".try_into().unwrap(), tcp)
                .await
                .unwrap();
            fall_idle(&mut tls, kind).await;
            assert!(
                closed_within(tls, Duration::from_secs(20)).await,
                "TLS {}: still open after 20 s",
                IDLE_KINDS[kind].0
            );
        }
    }
}

/// Issue 16 items 6 and 7: every slot taken by connections that send nothing or sit idle on
/// HTTP/2 (the idle limit at its default of 30 s): a new client, HTTP/1.1 or HTTP/2, is still
/// served at once, because the connection idle the longest makes room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_silent_connections_make_room_for_new_clients() {
    const SLOTS: usize = 16;
    let s = TestServer::start_with(|settings| settings.limits.max_connections = SLOTS).await;
    let mut held = Vec::new();
    for i in 0..SLOTS {
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        if i % 2 == 0 {
            fall_idle(&mut stream, 2).await;
        }
        held.push(stream);
    }
    // Many more that send nothing wait in the backlog behind them.
    for _ in 0..(SLOTS * 20) {
        held.push(TcpStream::connect(s.addr).await.unwrap());
    }
    for http2 in [false, true] {
        let mut builder = davd_tests::client_builder().timeout(Duration::from_secs(10));
        if http2 {
            builder = builder.http2_prior_knowledge();
        }
        let client = builder.build().unwrap();
        let started = Instant::now();
        let r = client.get(s.url("/")).send().await;
        let r = r.unwrap_or_else(|e| panic!("not served (HTTP/2 {http2}): {e}"));
        assert_eq!(r.status(), StatusCode::OK);
        eprintln!("served after {:?} (HTTP/2 {http2})", started.elapsed());
    }
    drop(held);
}

/// The same with TLS: every slot taken by connections that never start their handshake, or
/// sit idle after it on HTTP/1.1 or HTTP/2, with many more silent ones waiting behind them. A
/// new TLS client, HTTP/1.1 or HTTP/2, is still served, because the connection idle the
/// longest makes room (a handshake in progress counts as idle).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_silent_tls_connections_make_room_for_new_clients() {
    const SLOTS: usize = 16;
    let dirs = Dirs::new();
    let (files, der) = self_signed(&dirs.state);
    let mut settings = davd::Settings {
        root: dirs.root.clone(),
        state: dirs.state.clone(),
        tls: Some(files),
        connection_threads: davd_tests::TEST_CONNECTION_THREADS,
        ..davd::Settings::default()
    };
    settings.limits.max_connections = SLOTS;
    let s = TestServer::start_app(davd::App::build(settings).await.unwrap(), dirs).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let connector = |alpn: &[u8]| {
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    };
    let connect = |alpn: &'static [u8]| {
        let connector = connector(alpn);
        let addr = s.addr;
        async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            tokio::time::timeout(
                Duration::from_secs(30),
                connector.connect("localhost".try_into().unwrap(), tcp),
            )
            .await
            .expect("a handshake within 30 s")
            .unwrap()
        }
    };
    let mut silent = Vec::new();
    let mut idle = Vec::new();
    for i in 0..SLOTS {
        match i % 3 {
            0 => silent.push(TcpStream::connect(s.addr).await.unwrap()),
            1 => {
                let mut tls = connect(b"h2").await;
                fall_idle(&mut tls, 2).await;
                idle.push(tls);
            }
            _ => {
                let mut tls = connect(b"http/1.1").await;
                fall_idle(&mut tls, 1).await;
                idle.push(tls);
            }
        }
    }
    for _ in 0..(SLOTS * 20) {
        silent.push(TcpStream::connect(s.addr).await.unwrap());
    }
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let started = Instant::now();
        let mut tls = connect(alpn).await;
        if alpn == b"h2" {
            h2_after_a_request(&mut tls).await;
        } else {
            talk(&mut tls, HTTP1_GET, b"HTTP/1.1 200 OK").await;
        }
        eprintln!(
            "served after {:?} ({})",
            started.elapsed(),
            String::from_utf8_lossy(alpn)
        );
    }
    drop((silent, idle));
}

/// A client whose request is in progress is never the one closed to make room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_progress_is_not_closed_to_make_room() {
    const SLOTS: usize = 4;
    let s = TestServer::start_with(|settings| settings.limits.max_connections = SLOTS).await;
    // An upload that is still sending its body: busy for as long as it takes. The server's
    // `100 Continue` says it has the request in hand.
    let mut upload = TcpStream::connect(s.addr).await.unwrap();
    talk(
        &mut upload,
        b"PUT /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n",
        b"100 Continue\r\n\r\n",
    )
    .await;
    upload.write_all(b"hello").await.unwrap();
    let mut silent = Vec::new();
    for _ in 0..(SLOTS * 4) {
        silent.push(TcpStream::connect(s.addr).await.unwrap());
    }
    let r = s.get("/").await;
    assert_eq!(r.status(), StatusCode::OK);
    upload.write_all(b"world").await.unwrap();
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(10), upload.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(s.get("/slow").await.text().await.unwrap(), "helloworld");
}
