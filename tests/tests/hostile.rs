//! Hostile input: every case is sent, then the server must still answer correctly.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use davd_tests::TestServer;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn still_serving(s: &TestServer) {
    assert_eq!(
        s.request("OPTIONS", "/").send().await.unwrap().status(),
        StatusCode::OK
    );
}

fn first_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_or_too_large_headers_are_431() {
    let s = TestServer::start().await;
    let many: String = (0..300).map(|i| format!("X-Filler-{i}: x\r\n")).collect();
    let answer = s
        .raw(
            format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
            Duration::from_secs(5),
        )
        .await;
    assert!(
        first_line(&answer).contains(" 431 "),
        "{}",
        first_line(&answer)
    );
    // Every size over the 64 KiB limit is 431, every time, and a head just under it is served
    // (see `the_head_limit_holds_below_hypers_buffer`).
    for size in [70, 100, 130] {
        for _ in 0..5 {
            let r = s
                .request("GET", "/")
                .header("X-Big", "v".repeat(size * 1024))
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "{size} KiB"
            );
        }
    }
    let r = s
        .request("GET", "/")
        .header("X-Big", "v".repeat(60 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let huge = "y".repeat(200 * 1024);
    let answer = s
        .raw(
            format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n\r\n").as_bytes(),
            Duration::from_secs(5),
        )
        .await;
    assert!(
        first_line(&answer).contains(" 431 "),
        "{}",
        first_line(&answer)
    );
    still_serving(&s).await;
}

/// hyper bounds its read buffer (never below 8 KiB), not the head, so a head over the limit
/// could be parsed and served; the CI run of the hostile-input memory test once got 200 for a
/// 100 KiB header. The limit is now measured on every parsed head: with a 4 KiB limit a 5 KiB
/// head, which hyper's 8 KiB buffer takes in, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_limit_holds_below_hypers_buffer() {
    let s = TestServer::start_with(|settings| settings.limits.max_header_bytes = 4096).await;
    let r = s
        .request("GET", "/")
        .header("X-Big", "v".repeat(5 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("4096 bytes"));
    let r = s
        .request("GET", "/")
        .header("X-Small", "v".repeat(3 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_dropped_without_holding_up_others() {
    let s = TestServer::start_with(|settings| {
        settings.limits.header_read_timeout = Duration::from_secs(2)
    })
    .await;
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        for byte in b"GET / HTTP/1.1\r\nHost: slowly-slowly-slowly\r\n" {
            if slow.write_all(&[*byte]).await.is_err() {
                break;
            }
            // One byte a second, as in the issue; others are served meanwhile.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
        rest
    });
    for _ in 0..10 {
        still_serving(&s).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = writer.await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(8),
        "the slow client was not dropped ({elapsed:?})"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(!text.contains("200 OK"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_connections_than_the_limit_wait_their_turn() {
    let s = TestServer::start_with(|settings| {
        settings.limits.max_connections = 4;
        settings.limits.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    // Eight idle connections: four are accepted, the rest wait in the backlog.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(s.addr).await.unwrap());
    }
    // A real request still gets through once the idle ones time out.
    let started = Instant::now();
    let r = s.get("/").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(idle);
    still_serving(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_names_and_property_values() {
    let s = TestServer::start().await;
    for target in ["/%ff", "/a%c3", "/%ed%a0%80", "/%c0%af"] {
        let answer = s
            .raw(
                format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
                Duration::from_secs(5),
            )
            .await;
        assert!(
            first_line(&answer).contains(" 400 "),
            "{target}: {}",
            first_line(&answer)
        );
    }
    s.put("/f", "x").await;
    let mut body = b"<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><a xmlns=\"u\">".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0x80]);
    body.extend_from_slice(b"</a></D:prop></D:set></D:propertyupdate>");
    let r = s
        .request("PROPPATCH", "/f")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    still_serving(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_headers_and_overflowing_numbers() {
    let s = TestServer::start().await;
    s.put("/f", "0123456789").await;
    let cases: Vec<(&str, &str, &str)> = vec![
        ("LOCK", "Timeout", "Second-abc"),
        ("LOCK", "Timeout", ""),
        ("PUT", "If", "(<urn:a> [\"x\""),
        ("PUT", "If", "((("),
        ("PUT", "Content-Range", "bytes 0-99999999999999999999999/*"),
        ("PUT", "Content-Range", "bytes 18446744073709551615-0/1"),
        ("PROPFIND", "Depth", "99999999999999999999"),
        ("COPY", "Overwrite", "TT"),
        ("COPY", "Destination", "/%c0%ae%c0%ae/x"),
        ("PUT", "If-Match", "\"unterminated"),
        ("UNLOCK", "Lock-Token", "<"),
    ];
    for (method, header, value) in cases {
        let mut r = s.request(method, "/f").header(header, value);
        if method == "LOCK" {
            r = r.body(davd_tests::LOCKINFO_EXCLUSIVE);
        }
        if method == "COPY" && header != "Destination" {
            r = r.header("Destination", "/g");
        }
        let status = r.send().await.unwrap().status();
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {header}: {value:?}"
        );
    }
    // A huge but valid timeout is capped, not refused.
    let r = s
        .request("LOCK", "/f")
        .header("Timeout", "Second-99999999999999999999999")
        .body(davd_tests::LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Ranges that overflow are ignored (the whole body), as RFC 7233 says.
    let r = s
        .request("GET", "/f")
        .header("Range", "bytes=18446744073709551615-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let r = s
        .request("GET", "/f")
        .header("Range", "bytes=-18446744073709551615")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(s.get("/f").await.text().await.unwrap(), "0123456789");
    still_serving(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_out_of_the_root_are_not_served() {
    let s = TestServer::start().await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(outside.path(), s.root().join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", s.root().join("passwd")).unwrap();
    for path in ["/escape/secret.txt", "/passwd", "/escape/"] {
        let r = s.get(path).await;
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
        assert!(!r.text().await.unwrap().contains("secret"));
    }
    let r = s
        .request("PUT", "/escape/planted.txt")
        .body("x")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    assert!(!outside.path().join("planted.txt").exists());
    let (_, listing) = s.propfind("/", "1", "").await;
    assert!(
        !listing.contains("escape") && !listing.contains("passwd"),
        "{listing}"
    );
    still_serving(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_bombs_and_huge_bodies() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><a xmlns="u">&lol2;</a></D:prop></D:set></D:propertyupdate>"#;
    assert_eq!(s.proppatch("/f", bomb).await.0, StatusCode::BAD_REQUEST);
    let external = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop>&e;</D:prop></D:propfind>"#;
    assert_eq!(
        s.propfind("/f", "0", external).await.0,
        StatusCode::BAD_REQUEST
    );
    let wide = format!(
        "<D:propfind xmlns:D=\"DAV:\"><D:prop>{}</D:prop></D:propfind>",
        "<x/>".repeat(100_000)
    );
    let status = s.propfind("/f", "0", &wide).await.0;
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE,
        "{status}"
    );
    still_serving(&s).await;
}

/// The fuzzing review found that roxmltree's namespace resolution costs the square of the
/// namespaces in scope for every element that declares one: these bodies, far under the size
/// cap, took 23 s and 36 s of CPU each before a scan refused them ahead of parsing. Every XML
/// method must now refuse them at once, with a reason, and go on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_heavy_bodies_are_refused_at_once() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    let mut wide_root = String::new();
    for i in 0..2000 {
        wide_root.push_str(&format!(" xmlns:p{i}=\"urn:n{i}\""));
    }
    let children = "<z:x xmlns:z=\"urn:z\"/>".repeat(2000);
    let nested = format!(
        "{}{}",
        "<n xmlns:q=\"urn:q\">".repeat(4000),
        "</n>".repeat(4000)
    );
    let bodies = [
        (
            "PROPFIND",
            format!(
                "<D:propfind xmlns:D=\"DAV:\"{wide_root}><D:prop>{children}</D:prop></D:propfind>"
            ),
        ),
        (
            "PROPPATCH",
            format!(
                "<D:propertyupdate xmlns:D=\"DAV:\"{wide_root}><D:set><D:prop>{children}</D:prop></D:set></D:propertyupdate>"
            ),
        ),
        (
            "PROPPATCH",
            format!(
                "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><v xmlns=\"urn:v\">{nested}</v></D:prop></D:set></D:propertyupdate>"
            ),
        ),
        (
            "LOCK",
            format!(
                "<D:lockinfo xmlns:D=\"DAV:\"{wide_root}><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>{children}</D:owner></D:lockinfo>"
            ),
        ),
    ];
    for (method, body) in bodies {
        assert!(body.len() < 200_000, "{method}: {} bytes", body.len());
        let started = Instant::now();
        let response = s
            .request(method, "/f")
            .header("Depth", "0")
            .header("Content-Type", "application/xml")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let reason = response.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method}: {reason}");
        assert!(
            reason.contains("namespaces") || reason.contains("deeper"),
            "{method}: {reason}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{method} took {:?}",
            started.elapsed()
        );
    }
    // Nothing was stored or locked on the way.
    let (status, body) = s.propfind("/f", "0", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert!(!body.contains("urn:z"), "{body}");
    assert!(!body.contains("locktoken"), "{body}");
    assert_eq!(
        s.request("DELETE", "/f").send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    still_serving(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_locks_from_one_user_hit_the_limit() {
    let s =
        TestServer::start_with(|settings| settings.executive.max_locks_per_principal = 50).await;
    s.mkcol("/many").await;
    let mut refused = 0;
    for i in 0..80 {
        let r = s
            .request("LOCK", &format!("/many/f{i}"))
            .body(davd_tests::LOCKINFO_EXCLUSIVE)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        } else {
            assert_eq!(r.status(), StatusCode::CREATED);
        }
    }
    assert_eq!(refused, 30);
    still_serving(&s).await;
}

/// Issue 16 item 6: the header limits hold for HTTP/2 as for HTTP/1.1. A header block over
/// `max_header_bytes` is refused by hyper's h2 (`max_header_list_size`), one with more than
/// `max_headers` fields by the server before the request goes further.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_header_blocks_over_the_limits_are_431() {
    let s = TestServer::start().await;
    let client = davd_tests::client_builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let r = client
        .get(s.url("/"))
        .header("X-Big", "v".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let mut many = client.get(s.url("/"));
    for i in 0..300 {
        many = many.header(format!("x-filler-{i}"), "x");
    }
    let r = many.send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("100 headers"));
    // Under both limits: served, on the same client.
    let mut fine = client
        .get(s.url("/"))
        .header("X-Big", "v".repeat(50 * 1024));
    for i in 0..90 {
        fine = fine.header(format!("x-filler-{i}"), "x");
    }
    let r = fine.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A block far over the limit (more CONTINUATION frames than the limit can need) is not
    // even read to its end: h2 closes the connection (GOAWAY, ENHANCE_YOUR_CALM).
    let r = client
        .get(s.url("/"))
        .header("X-Big", "v".repeat(130 * 1024))
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        Err(e) => assert!(format!("{e:?}").contains("ENHANCE_YOUR_CALM"), "{e:?}"),
    }
    still_serving(&s).await;
}

/// One HTTP/2 frame.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut frame = length[1..].to_vec();
    frame.extend([kind, flags]);
    frame.extend(stream.to_be_bytes());
    frame.extend(payload);
    frame
}

/// Reads one HTTP/2 frame: its type, flags, stream and payload.
async fn h2_read_frame(stream: &mut TcpStream) -> (u8, u8, u32, Vec<u8>) {
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut head))
        .await
        .expect("a frame within 30 s")
        .expect("the connection stays open");
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.unwrap();
    (head[3], head[4], id, payload)
}

/// Issue 16 item 6: an HTTP/2 connection carries at most 100 concurrent streams. The server
/// says so in its SETTINGS; a client that opens a 101st while 100 are in progress (uploads
/// whose bodies have not come) gets that stream refused (RST_STREAM, REFUSED_STREAM), and the
/// connection itself goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_101st_concurrent_http2_stream_is_refused() {
    const SETTINGS: u8 = 4;
    const RST_STREAM: u8 = 3;
    const GOAWAY: u8 = 7;
    const MAX_CONCURRENT_STREAMS: u16 = 3;
    const REFUSED_STREAM: u32 = 7;
    let s = TestServer::start().await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    stream
        .write_all(&h2_frame(SETTINGS, 0, 0, &[]))
        .await
        .unwrap();
    let advertised = loop {
        let (kind, flags, _, payload) = h2_read_frame(&mut stream).await;
        if kind == SETTINGS && flags & 1 == 0 {
            break payload
                .chunks_exact(6)
                .find(|p| u16::from_be_bytes([p[0], p[1]]) == MAX_CONCURRENT_STREAMS)
                .map(|p| u32::from_be_bytes([p[2], p[3], p[4], p[5]]));
        }
    };
    assert_eq!(advertised, Some(100));
    // The server applies its limit once its SETTINGS are acknowledged.
    let mut frames = h2_frame(SETTINGS, 1, 0, &[]);
    for i in 0..101u32 {
        // HPACK, without indexing: `:method PUT`, `:scheme http`, `:path /f<i>`,
        // `:authority x`. END_HEADERS but not END_STREAM: the body is still to come.
        let path = format!("/f{i}");
        let mut block = vec![0x02, 3];
        block.extend(b"PUT");
        block.push(0x86);
        block.extend([0x04, u8::try_from(path.len()).unwrap()]);
        block.extend(path.as_bytes());
        block.extend([0x01, 1, b'x']);
        frames.extend(h2_frame(1, 0x4, 2 * i + 1, &block));
    }
    stream.write_all(&frames).await.unwrap();
    let refused = loop {
        let (kind, _, id, payload) = h2_read_frame(&mut stream).await;
        assert_ne!(kind, GOAWAY, "the connection was closed: {payload:?}");
        if kind == RST_STREAM {
            break (id, u32::from_be_bytes(payload[..4].try_into().unwrap()));
        }
    };
    assert_eq!(refused, (201, REFUSED_STREAM));
    still_serving(&s).await;
}
