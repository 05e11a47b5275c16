//! Many clients at once: no lost or mixed updates, readers never see a half-written file, and
//! no request holds up the others on its connection thread.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use davd_tests::{ALLPROP, TestServer};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// PUTs to one path from several connections (so from several connection threads, whose
/// turns under the path's latch run on whichever thread lets it go): each is its own version,
/// and the last version answered is what the path holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_of_one_path_each_get_their_own_version() {
    let s = Arc::new(TestServer::start().await);
    let mut tasks = Vec::new();
    for writer in 0..8u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for round in 0..10u8 {
                let body = format!("writer {writer} round {round}");
                let r = s.put("/versions", body.clone()).await;
                assert!(r.status().is_success(), "{}", r.status());
                let header = |name: &str| {
                    r.headers()
                        .get(name)
                        .unwrap_or_else(|| panic!("no {name} header"))
                        .to_str()
                        .unwrap()
                        .to_owned()
                };
                answers.push((header("resourcetag"), header("etag"), body));
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.extend(t.await.unwrap());
    }
    // `rt:<document guid>@<version, 11 digits>`: one document, 80 versions.
    let split = |tag: &str| {
        let (guid, version) = tag.rsplit_once('@').unwrap();
        (guid.to_owned(), version.parse::<u64>().unwrap())
    };
    let guids: std::collections::HashSet<_> = answers.iter().map(|a| split(&a.0).0).collect();
    assert_eq!(guids.len(), 1, "{guids:?}");
    let mut versions: Vec<u64> = answers.iter().map(|a| split(&a.0).1).collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), 80, "two PUTs were given one version");
    let (tag, etag, body) = answers
        .iter()
        .max_by_key(|a| split(&a.0).1)
        .unwrap()
        .clone();
    let got = s.get("/versions").await;
    assert_eq!(got.headers()["resourcetag"].to_str().unwrap(), tag);
    assert_eq!(got.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(got.text().await.unwrap(), body);
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
    let staging = davd_subsystems::fs::staged_leftovers(&s.root().join(".davd-staging")).unwrap();
    assert!(
        staging.is_empty(),
        "the staged body was discarded: {staging:?}"
    );
    let r = s
        .request("PUT", "/doc")
        .header("If", format!("(<{token}>)"))
        .body("locked write")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// A connection thread serves many connections. A long listing must let the others run between
/// its batches of members, not keep the thread to itself and the connection it writes to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_listing_lets_the_other_connections_on_its_thread_run() {
    const MEMBERS: usize = 10_000;
    let s = TestServer::start_with(|settings| settings.connection_threads = 1).await;
    let big = s.root().join("big");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..MEMBERS {
        std::fs::File::create(big.join(format!("f{i}"))).unwrap();
    }
    std::fs::write(s.root().join("small"), "x").unwrap();

    let mut listing = TcpStream::connect(s.addr).await.unwrap();
    let request = format!(
        "PROPFIND /big/ HTTP/1.1\r\nHost: x\r\nDepth: 1\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{ALLPROP}",
        ALLPROP.len()
    );
    listing.write_all(request.as_bytes()).await.unwrap();
    // The first bytes: the listing is under way. From here it is read as fast as it comes.
    let mut buffer = vec![0; 1 << 20];
    let mut received = listing.read(&mut buffer).await.unwrap();
    assert!(received > 0);
    let listing_done = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn({
        let done = listing_done.clone();
        async move {
            loop {
                match listing.read(&mut buffer).await.unwrap() {
                    0 => break,
                    n => received += n,
                }
            }
            done.store(true, Ordering::SeqCst);
            received
        }
    });

    // One thread only: this connection shares it with the listing. It asks for a small file
    // again and again until the listing has arrived.
    let mut other = TcpStream::connect(s.addr).await.unwrap();
    let mut answered = 0;
    while !listing_done.load(Ordering::SeqCst) {
        other
            .write_all(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        while !answer.ends_with(b"\r\n\r\nx") {
            let mut chunk = [0; 4096];
            let n = other.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed after {answer:?}");
            answer.extend_from_slice(&chunk[..n]);
        }
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
        answered += 1;
    }

    let received = reader.await.unwrap();
    eprintln!("{answered} GETs answered during the listing");
    assert!(received > MEMBERS * 500, "the whole listing arrived");
    // The listing yields after each of its 256-member batches (39 here), and each time the
    // thread looks for I/O, so about one GET is answered per batch. Before, the listing and the
    // connection it writes to were always ready to run, tokio looked for I/O only every 61
    // task polls, and this connection got two or three answers in all.
    assert!(
        answered >= 15,
        "{answered} GETs answered during a listing of {MEMBERS} members"
    );
}
