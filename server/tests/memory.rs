//! Bounded memory: large uploads and downloads are streamed, large listings are streamed.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use support::Davd;

const MIB: u64 = 1024 * 1024;

/// A cheap deterministic byte pattern, generated chunk by chunk.
fn pattern_chunk(index: u64, len: usize) -> Vec<u8> {
    let mut state = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

const CHUNK: usize = 1024 * 1024;

/// PUTs `chunks` MiB of the pattern to `url`, streamed, and checks the status.
async fn put_pattern(client: &reqwest::Client, url: &str, chunks: u64) {
    let upload = futures_util::stream::iter(0..chunks)
        .map(|i| Ok::<_, std::io::Error>(pattern_chunk(i, CHUNK)));
    let r = client
        .put(url)
        .header("Content-Length", (chunks * CHUNK as u64).to_string())
        .body(reqwest::Body::wrap_stream(upload))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

/// GETs `url` and checks it is the pattern of `chunks` MiB, byte for byte, as it streams.
async fn get_pattern(client: &reqwest::Client, url: &str, chunks: u64) {
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_length(), Some(chunks * CHUNK as u64));
    let mut stream = r.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut index = 0u64;
    while let Some(chunk) = stream.next().await {
        pending.extend_from_slice(&chunk.unwrap());
        while pending.len() >= CHUNK {
            let rest = pending.split_off(CHUNK);
            assert!(
                pending == pattern_chunk(index, CHUNK),
                "chunk {index} differs"
            );
            pending = rest;
            index += 1;
        }
    }
    assert_eq!((index, pending.len()), (chunks, 0), "byte for byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_round_trip_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &["--root", "r", "--state", "s"]);
    let client = support::client_builder().build().unwrap();
    let url = format!("{}big.bin", davd.url);
    put_pattern(&client, &url, 1024).await;
    get_pattern(&client, &url, 1024).await;
    let peak = davd.peak_rss();
    eprintln!("peak resident memory: {} MiB", peak / MIB);
    assert!(peak < 64 * MIB, "peak resident memory {} MiB", peak / MIB);
}

/// The sled namespace keeps content in small chunks and streams them in and out: a 512 MiB
/// file goes in and comes back byte for byte while the server stays far below its size. The
/// bound is wider than the file system's 64 MiB because sled keeps a page cache (16 MiB, and
/// sled's accounting of it is approximate) and a page table entry per chunk; with 64 KiB chunks
/// this test peaked at 600 MiB. With a 32 MiB cache it peaked at 90-96 MiB alone and at
/// 129-131 MiB in full workspace runs; with 16 MiB, 75 MiB alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_namespace_streams_large_files_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("r")).unwrap();
    std::fs::write(
        dir.path().join("davd.toml"),
        "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"r\" }\n\n\
         [[mount]]\nscope = \"/db\"\nnamespace = { kind = \"sled\" }\n",
    )
    .unwrap();
    let davd = Davd::start(dir.path(), &["--config", "davd.toml", "--state", "s"]);
    let client = support::client_builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let url = format!("{}db/big.bin", davd.url);
    put_pattern(&client, &url, 512).await;
    eprintln!(
        "peak resident memory after the upload: {} MiB",
        davd.peak_rss() / MIB
    );
    get_pattern(&client, &url, 512).await;
    let peak = davd.peak_rss();
    eprintln!("peak resident memory: {} MiB", peak / MIB);
    assert!(peak < 128 * MIB, "peak resident memory {} MiB", peak / MIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propfind_of_100_000_members_streams_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r/big");
    std::fs::create_dir_all(&root).unwrap();
    for i in 0..100_000 {
        std::fs::File::create(root.join(format!("member-{i:06}.txt"))).unwrap();
    }
    let davd = Davd::start(dir.path(), &["--root", "r", "--state", "s"]);
    let client = support::client_builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let r = client
        .request(
            reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
            format!("{}big/", davd.url),
        )
        .header("Depth", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 207);
    let mut stream = r.bytes_stream();
    let mut responses = 0usize;
    let mut carry = String::new();
    while let Some(chunk) = stream.next().await {
        carry.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        responses += carry.matches("</D:response>").count();
        let keep = carry
            .rfind("</D:response>")
            .map_or(0, |i| i + "</D:response>".len());
        carry.drain(..keep);
    }
    assert_eq!(responses, 100_001);
    let peak = davd.peak_rss();
    eprintln!("peak resident memory: {} MiB", peak / MIB);
    assert!(peak < 128 * MIB, "peak resident memory {} MiB", peak / MIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propfind_depth_infinity_of_100_000_resources_streams_in_bounded_memory() {
    const DIRS: usize = 100;
    const FILES: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let mut expected = std::collections::HashSet::with_capacity(DIRS * (FILES + 1) + 1);
    expected.insert("/tree/".to_owned());
    for d in 0..DIRS {
        let sub = dir.path().join(format!("r/tree/dir-{d:03}"));
        std::fs::create_dir_all(&sub).unwrap();
        expected.insert(format!("/tree/dir-{d:03}/"));
        for f in 0..FILES {
            std::fs::File::create(sub.join(format!("file-{f:04}.txt"))).unwrap();
            expected.insert(format!("/tree/dir-{d:03}/file-{f:04}.txt"));
        }
    }
    let davd = Davd::start(dir.path(), &["--root", "r", "--state", "s"]);
    let client = support::client_builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let r = client
        .request(
            reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
            format!("{}tree/", davd.url),
        )
        .header("Depth", "infinity")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 207);
    // Streamed: chunked, with no length known in advance.
    assert_eq!(r.content_length(), None);
    assert_eq!(
        r.headers()
            .get("transfer-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("chunked")
    );
    let mut stream = r.bytes_stream();
    let mut first_chunk = None;
    let mut seen = std::collections::HashSet::with_capacity(expected.len());
    let mut carry = String::new();
    while let Some(chunk) = stream.next().await {
        first_chunk.get_or_insert_with(|| started.elapsed());
        carry.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        let mut consumed = 0;
        while let Some(open) = carry[consumed..].find("<D:href>") {
            let from = consumed + open + "<D:href>".len();
            let Some(len) = carry[from..].find("</D:href>") else {
                break;
            };
            assert!(
                seen.insert(carry[from..from + len].to_owned()),
                "listed twice: {}",
                &carry[from..from + len]
            );
            consumed = from + len + "</D:href>".len();
        }
        carry.drain(..consumed);
    }
    let total = started.elapsed();
    let first_chunk = first_chunk.unwrap();
    eprintln!("first chunk after {first_chunk:?}, whole body after {total:?}");
    assert_eq!(seen.len(), expected.len());
    assert!(seen == expected, "every href, once");
    assert!(
        first_chunk * 4 < total,
        "the body starts before the walk ends: first chunk {first_chunk:?} of {total:?}"
    );
    let peak = davd.peak_rss();
    eprintln!("peak resident memory: {} MiB", peak / MIB);
    assert!(peak < 128 * MIB, "peak resident memory {} MiB", peak / MIB);
}

/// How many MiB each of `uploads` concurrent uploads may take on the disk holding `dir`: `want`
/// when half the free space holds all of them, otherwise as much as fits there, and never less
/// than 64 MiB (16 of those are still 1 GiB in flight, 16 times the 64 MiB bound the test
/// holds the server to). A scaled-down run says so on standard error, so a shortage
/// of disk is visible rather than a 507 that looks like a server bug.
fn upload_mib_that_fit(dir: &std::path::Path, uploads: u64, want: u64) -> u64 {
    let free = davd_subsystems::space::SpaceGuard::none(dir)
        .available()
        .unwrap_or(u64::MAX);
    // The other tests in this binary write gigabyte files (one through sled, whose log
    // doubles it) at the same time, so this one takes at most half of what is free.
    let spare = (4096 * MIB).max(free / 2);
    let fits = free.saturating_sub(spare) / uploads / MIB;
    let mib = fits.min(want);
    // Even 64 MiB each streams sixteen times the resident bound through the server.
    assert!(
        mib >= 64,
        "this test needs at least {} MiB free on {}, it has {} MiB",
        2 * (uploads * 64).max(4096),
        dir.display(),
        free / MIB
    );
    if mib < want {
        eprintln!(
            "only {} MiB free on {}: {uploads} uploads of {mib} MiB each instead of {want} MiB",
            free / MIB,
            dir.display()
        );
    }
    mib
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_one_gib_uploads_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &["--root", "r", "--state", "s"]);
    let client = support::client_builder()
        .timeout(Duration::from_secs(1800))
        .build()
        .unwrap();
    const CHUNK: usize = 1024 * 1024;
    let chunks = upload_mib_that_fit(dir.path(), 16, 1024);
    let chunk = bytes::Bytes::from(vec![0x5a; CHUNK]);
    let mut uploads = Vec::new();
    for i in 0..16 {
        let (client, url, chunk) = (
            client.clone(),
            format!("{}upload-{i}.bin", davd.url),
            chunk.clone(),
        );
        uploads.push(tokio::spawn(async move {
            let body = futures_util::stream::iter(0..chunks)
                .map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
            client
                .put(url)
                .header("Content-Length", (chunks * CHUNK as u64).to_string())
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for upload in uploads {
        assert_eq!(upload.await.unwrap(), 201);
    }
    for i in 0..16 {
        let len = std::fs::metadata(dir.path().join(format!("r/upload-{i}.bin")))
            .unwrap()
            .len();
        assert_eq!(len, chunks * CHUNK as u64);
    }
    let peak = davd.peak_rss();
    eprintln!("peak resident memory: {} MiB", peak / MIB);
    assert!(peak < 64 * MIB, "peak resident memory {} MiB", peak / MIB);
    for i in 0..16 {
        let _ = std::fs::remove_file(dir.path().join(format!("r/upload-{i}.bin")));
    }
}

/// Issue 7: the server's memory stays bounded through hostile input. One server takes, in
/// turn, bodies at the XML limits (too many nodes, 10,000-deep nesting, namespace-heavy
/// elements), too many and too large headers, a DTD, more LOCKs than one user may hold, and a
/// Depth infinity PROPFIND over what that left; it answers each with the expected refusal,
/// still serves, and stays small.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_through_hostile_input() {
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &["--root", "r", "--state", "s"]);
    let client = support::client_builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let method = |name: &str| reqwest::Method::from_bytes(name.as_bytes()).unwrap();
    let url = |path: &str| format!("{}{}", davd.url, path.trim_start_matches('/'));
    let send = |verb: &str, path: &str, body: String| {
        client
            .request(method(verb), url(path))
            .header("Depth", "0")
            .header("Content-Type", "application/xml")
            .body(body)
            .send()
    };
    let r = client.put(url("/f")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 201);

    let many_nodes = format!(
        "<D:propfind xmlns:D=\"DAV:\"><D:prop>{}</D:prop></D:propfind>",
        "<x/>".repeat(200_000)
    );
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let mut wide_root = String::new();
    for i in 0..2000 {
        wide_root.push_str(&format!(" xmlns:p{i}=\"urn:n{i}\""));
    }
    let namespaces = format!(
        "<D:propertyupdate xmlns:D=\"DAV:\"{wide_root}><D:set><D:prop>{}</D:prop></D:set></D:propertyupdate>",
        "<z:x xmlns:z=\"urn:z\"/>".repeat(2000)
    );
    let dtd = "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY e \"x\">]><D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>".to_owned();
    for _ in 0..10 {
        for (verb, body) in [
            ("PROPFIND", many_nodes.clone()),
            ("PROPFIND", deep.clone()),
            ("PROPPATCH", namespaces.clone()),
            ("LOCK", deep.clone()),
            ("PROPFIND", dtd.clone()),
        ] {
            let r = send(verb, "/f", body).await.unwrap();
            assert_eq!(r.status(), 400, "{verb}");
        }
        // Refused from its Content-Length before it is read: the client may see the 413, or
        // the connection closing under the rest of its body.
        let too_large = client
            .request(method("PROPPATCH"), url("/f"))
            .body(vec![b' '; 2 * 1024 * 1024])
            .send()
            .await;
        if let Ok(r) = too_large {
            assert_eq!(r.status(), 413);
        }
        let mut headers = client.get(url("/f"));
        for i in 0..200 {
            headers = headers.header(format!("x-h{i}"), "v");
        }
        assert_eq!(headers.send().await.unwrap().status(), 431);
        let huge = client
            .get(url("/f"))
            .header("x-big", "v".repeat(100 * 1024))
            .send()
            .await
            .unwrap();
        assert_eq!(huge.status(), 431);
    }
    let lockinfo = "<D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>";
    let mut refused = 0;
    for i in 0..1100 {
        let r = send("LOCK", &format!("/lock-{i}"), lockinfo.to_owned())
            .await
            .unwrap();
        match r.status().as_u16() {
            200 | 201 => {}
            429 => refused += 1,
            other => panic!("LOCK {i}: {other}"),
        }
    }
    assert!(refused >= 100, "the per-user lock limit refused {refused}");
    let r = client
        .request(method("PROPFIND"), url("/"))
        .header("Depth", "infinity")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 207);
    let listing = r.text().await.unwrap();
    assert!(
        listing.contains("/lock-999"),
        "the locked resources are listed"
    );

    let r = client
        .request(method("OPTIONS"), url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let peak = davd.peak_rss();
    eprintln!("peak resident memory: {} MiB", peak / MIB);
    assert!(peak < 64 * MIB, "peak resident memory {} MiB", peak / MIB);
}

/// Issue 16 item 5: failed logins cost no memory of their own. 192 wrong passwords, 64 at a
/// time, each from its own address for its own user name (so that the throttle lets every one
/// of them be checked at once), used to run 64 Argon2 hashes of 19 MiB at once, 1.2 GiB; now a
/// few run at a time, in memory allocated once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_at_once_from_many_addresses_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    davd::auth::add_user(&dir.path().join("users"), "alice", "wonderland").unwrap();
    let davd = Davd::start(
        dir.path(),
        &["--users", "users", "--root", "r", "--state", "s"],
    );
    for round in 1..=3u8 {
        let attempts = (1..=64u8).map(|i| {
            let client = support::client_builder()
                .local_address(std::net::IpAddr::from([127, 0, round, i]))
                .timeout(Duration::from_secs(300))
                .build()
                .unwrap();
            let url = davd.url.clone();
            async move {
                client
                    .get(url)
                    .basic_auth(format!("guesser-{round}-{i}"), Some("wrong"))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        });
        for status in futures_util::future::join_all(attempts).await {
            assert_eq!(status, 401);
        }
    }
    let client = support::client_builder().build().unwrap();
    let r = client
        .get(&davd.url)
        .basic_auth("alice", Some("wonderland"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let peak = davd.peak_rss();
    eprintln!("peak resident memory: {} MiB", peak / MIB);
    assert!(peak < 128 * MIB, "peak resident memory {} MiB", peak / MIB);
}

/// Issue 16 item 10: symbolic links back up the tree (two of them, so that following them
/// would make the tree grow exponentially) are reported and refused instead of followed: ten
/// Depth infinity PROPFINDs and ten COPYs at once end quickly, in bounded memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbolic_link_cycles_end_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/f.txt"), "f").unwrap();
    std::os::unix::fs::symlink("..", root.join("a/x")).unwrap();
    std::os::unix::fs::symlink("../..", root.join("a/b/y")).unwrap();
    let davd = Davd::start(dir.path(), &["--root", "r", "--state", "s"]);
    let client = support::client_builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let method = |name: &str| reqwest::Method::from_bytes(name.as_bytes()).unwrap();
    let walks = (0..10).map(|_| {
        let request = client
            .request(method("PROPFIND"), &davd.url)
            .header("Depth", "infinity")
            .send();
        async move {
            let r = request.await.unwrap();
            assert_eq!(r.status(), 207);
            let mut body = r.bytes_stream();
            let mut text = Vec::new();
            while let Some(chunk) = body.next().await {
                text.extend_from_slice(&chunk.unwrap());
                assert!(text.len() < 1024 * 1024, "the listing does not end");
            }
            String::from_utf8(text).unwrap()
        }
    });
    let copies = (0..10).map(|i| {
        client
            .request(method("COPY"), format!("{}a/", davd.url))
            .header("Destination", format!("{}copy-{i}/", davd.url))
            .send()
    });
    let (walks, copies) = futures_util::future::join(
        futures_util::future::join_all(walks),
        futures_util::future::join_all(copies),
    )
    .await;
    for listing in walks {
        assert_eq!(listing.matches("508 Loop Detected").count(), 2, "{listing}");
    }
    for copy in copies {
        assert_eq!(copy.unwrap().status(), 508);
    }
    let peak = davd.peak_rss();
    eprintln!("peak resident memory: {} MiB", peak / MIB);
    assert!(peak < 64 * MIB, "peak resident memory {} MiB", peak / MIB);
}

/// Issue 16 item 9: a resource with 40 MiB of dead properties, read by ten clients at once
/// (Depth 0 allprop, and Depth 1 of its collection), used to take the server to 500 MiB: each
/// response held every value, several times over. Values are now read and sent page by page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_dead_properties_are_streamed_in_bounded_memory() {
    const PROPERTIES: usize = 40;
    const VALUE: usize = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let davd = Davd::start(dir.path(), &["--root", "r", "--state", "s"]);
    let client = support::client_builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let method = |name: &str| reqwest::Method::from_bytes(name.as_bytes()).unwrap();
    let url = |path: &str| format!("{}{}", davd.url, path.trim_start_matches('/'));
    let r = client
        .request(method("MKCOL"), url("/c"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client.put(url("/c/big")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 201);
    for i in 0..PROPERTIES {
        let value = char::from(b'a' + (i % 26) as u8).to_string().repeat(VALUE);
        let body = format!(
            "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><z:p{i:02} xmlns:z=\"urn:z\">{value}</z:p{i:02}></D:prop></D:set></D:propertyupdate>"
        );
        let r = client
            .request(method("PROPPATCH"), url("/c/big"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 207, "PROPPATCH {i}");
    }
    let before = davd.peak_rss();
    eprintln!("peak resident memory before reading: {} MiB", before / MIB);
    let reads = (0..10).map(|i| {
        let (path, depth) = if i % 2 == 0 {
            ("/c/big", "0")
        } else {
            ("/c/", "1")
        };
        let request = client
            .request(method("PROPFIND"), url(path))
            .header("Depth", depth)
            .send();
        async move {
            let r = request.await.unwrap();
            assert_eq!(r.status(), 207);
            let mut body = r.bytes_stream();
            let (mut bytes, mut values) = (0usize, [0usize; 26]);
            while let Some(chunk) = body.next().await {
                let chunk = chunk.unwrap();
                bytes += chunk.len();
                for byte in chunk.iter().filter(|b| b.is_ascii_lowercase()) {
                    values[usize::from(byte - b'a')] += 1;
                }
            }
            (bytes, values)
        }
    });
    for (bytes, values) in futures_util::future::join_all(reads).await {
        assert!(bytes > PROPERTIES * VALUE, "{bytes} bytes");
        // Every value, whole: 40 values of 1,000,000 letters cycling through the alphabet.
        assert!(values[0] >= 2 * VALUE && values[13] >= VALUE, "{values:?}");
    }
    let peak = davd.peak_rss();
    eprintln!("peak resident memory: {} MiB", peak / MIB);
    assert!(peak < 160 * MIB, "peak resident memory {} MiB", peak / MIB);
}
