//! macOS Finder (issue 10, items 13 to 16; docs/clients.md): chunked uploads, its probes for
//! metadata files, NFD-normalised names, MKCOL without a trailing slash.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use davd_tests::clients::{FINDER, sorted_hrefs};
use davd_tests::{Multistatus, TestServer};
use futures_util::stream;
use reqwest::StatusCode;
use tracing::Level;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

fn finder(s: &TestServer, method: &str, path: &str) -> reqwest::RequestBuilder {
    s.request(method, path).header("User-Agent", FINDER)
}

/// Item 13: Finder sends PUT bodies with `Transfer-Encoding: chunked` and no Content-Length;
/// every byte is stored, whatever the chunk sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finder_chunked_put_stores_every_byte() {
    let s = TestServer::start().await;
    let content: Vec<u8> = (0..3_000_017u32).map(|i| (i * 7 % 253) as u8).collect();
    let mut chunks: Vec<Result<Bytes, std::io::Error>> = Vec::new();
    let (mut at, mut size) = (0, 1);
    while at < content.len() {
        let end = (at + size).min(content.len());
        chunks.push(Ok(Bytes::copy_from_slice(&content[at..end])));
        at = end;
        size = size * 3 % 200_003 + 1;
    }
    assert!(chunks.len() > 20);
    let r = finder(&s, "PUT", "/finder.bin")
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(std::fs::read(s.root().join("finder.bin")).unwrap(), content);
    assert_eq!(s.get("/finder.bin").await.bytes().await.unwrap(), content);
    // The same on the wire, as Finder writes it, into a new and then an existing file.
    for (name, expected) in [("raw.txt", "201"), ("raw.txt", "204")] {
        let request = format!(
            "PUT /{name} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {FINDER}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nfirst\r\n1\r\n,\r\n0\r\n\r\n",
            s.host()
        );
        let answer = s.raw(request.as_bytes(), Duration::from_secs(10)).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {expected}")),
            "{answer}"
        );
        assert_eq!(std::fs::read(s.root().join(name)).unwrap(), b"first,");
    }
}

/// Log events: level and fields.
type Events = Arc<Mutex<Vec<(Level, String)>>>;

/// Log events, captured once for this test binary.
fn captured() -> &'static Events {
    static EVENTS: OnceLock<Events> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let events = Arc::new(Mutex::new(Vec::new()));
        let subscriber = Registry::default().with(Capture(events.clone()));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        events
    })
}

struct Capture(Events);

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut text = String::new();
        event.record(
            &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                let _ = write!(text, "{}={value:?} ", field.name());
            },
        );
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), text));
    }
}

/// Item 14: Finder probes every folder it opens for `._name` (AppleDouble), `.DS_Store`,
/// `.localized`, `.metadata_never_index` and the like. They are plain 404s, answered at once
/// and logged at debug level only; and Finder can store `._*` files like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finder_probes_are_quick_404s_and_never_logged_as_errors() {
    let events = captured();
    let s = TestServer::start().await;
    s.mkcol("/Photos").await;
    s.put("/Photos/beach.jpg", "jpeg").await;
    let probes = [
        "/._Photos",
        "/Photos/._beach.jpg",
        "/Photos/.DS_Store",
        "/Photos/.localized",
        "/.metadata_never_index",
        "/.metadata_never_index_unless_rootfs",
        "/.Spotlight-V100",
        "/.hidden",
        "/Photos/._.",
    ];
    let started = Instant::now();
    for _ in 0..20 {
        for probe in probes {
            let r = finder(&s, "PROPFIND", probe)
                .header("Depth", "0")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "PROPFIND {probe}");
            let r = finder(&s, "GET", probe).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "GET {probe}");
        }
    }
    // 360 requests; a generous bound that only catches a server that stalls on them.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let log = events.lock().unwrap().clone();
    let about = |probe: &str, level: Level| {
        log.iter()
            .filter(|(l, text)| *l == level && text.contains(&format!("path={probe:?}")))
            .count()
    };
    for probe in probes {
        assert!(about(probe, Level::DEBUG) >= 40, "{probe} logged at debug");
        for level in [Level::INFO, Level::WARN, Level::ERROR] {
            assert_eq!(about(probe, level), 0, "{probe} logged at {level}");
        }
    }
    // Storing them works: the AppleDouble companion, .DS_Store and the rest.
    for (path, body) in [
        (
            "/Photos/._beach.jpg",
            &b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X"[..],
        ),
        ("/Photos/.DS_Store", b"\x00\x00\x00\x01Bud1"),
        ("/._Photos", b"\x00\x05\x16\x07"),
    ] {
        let r = finder(&s, "PUT", path)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "PUT {path}");
        assert_eq!(s.get(path).await.bytes().await.unwrap(), body, "{path}");
    }
    let (_, listing) = s.propfind("/Photos/", "1", "").await;
    let ms = Multistatus::parse(&listing);
    assert!(ms.hrefs().contains(&"/Photos/._beach.jpg"));
    assert!(ms.hrefs().contains(&"/Photos/.DS_Store"));
    assert_eq!(
        s.delete("/Photos/._beach.jpg").await.status(),
        StatusCode::NO_CONTENT
    );
}

/// The names in a directory on disk.
fn names_on_disk(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != ".davd-staging")
        .collect();
    names.sort();
    names
}

/// Item 15: Finder sends names in NFD (`e` + U+0301), Windows and Linux clients in NFC
/// (U+00E9). davd normalises every URL segment to NFC, so both spellings are one resource;
/// files that other programs created on disk in NFD stay reachable under both spellings, are
/// listed once (in NFC), and a write in NFC replaces them instead of creating a twin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finder_nfd_names_are_one_resource_with_their_nfc_spelling() {
    let s = TestServer::start().await;
    let nfd = "/Cafe%CC%81.txt";
    let nfc = "/Caf%C3%A9.txt";
    let r = finder(&s, "PUT", nfd)
        .body("from Finder")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for url in [nfd, nfc] {
        let r = s.get(url).await;
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert_eq!(r.text().await.unwrap(), "from Finder");
    }
    let r = s.put(nfc, "from Windows").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "the same resource");
    assert_eq!(
        names_on_disk(s.root()),
        vec!["Caf\u{e9}.txt"],
        "stored in NFC"
    );
    let (_, body) = s.propfind("/", "1", "").await;
    assert_eq!(sorted_hrefs(&body), vec!["/", nfc]);

    // Created in NFD on disk by another program (an rsync from a Mac, say).
    std::fs::write(s.root().join("Re\u{301}sume\u{301}.pdf"), "nfd on disk").unwrap();
    std::fs::create_dir(s.root().join("Pho\u{302}tos")).unwrap();
    std::fs::write(
        s.root().join("Pho\u{302}tos/e\u{301}te\u{301}.jpg"),
        "summer",
    )
    .unwrap();
    let resume_nfc = "/R%C3%A9sum%C3%A9.pdf";
    let resume_nfd = "/Re%CC%81sume%CC%81.pdf";
    let photos_nfc = "/Ph%C3%B4tos/";
    let ete_nfc = "/Ph%C3%B4tos/%C3%A9t%C3%A9.jpg";
    for url in [resume_nfc, resume_nfd] {
        let r = s.get(url).await;
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert_eq!(r.text().await.unwrap(), "nfd on disk");
    }
    assert_eq!(s.get(ete_nfc).await.text().await.unwrap(), "summer");
    let (status, body) = s.propfind("/", "infinity", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(
        sorted_hrefs(&body),
        vec!["/", nfc, photos_nfc, ete_nfc, resume_nfc],
        "listed once each, in NFC"
    );
    // Properties and locks follow the resource whatever the spelling.
    let (status, _) = s
        .proppatch(
            resume_nfd,
            r#"<D:propertyupdate xmlns:D="DAV:" xmlns:f="urn:finder"><D:set><D:prop><f:tag>red</f:tag></D:prop></D:set></D:propertyupdate>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let (_, body) = s.propfind(resume_nfc, "0", "").await;
    assert!(body.contains(">red<"), "{body}");
    // Written in NFC: replaces the NFD file, no twin.
    let r = s.put(resume_nfc, "replaced").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s.put("/Ph%C3%B4tos/new.jpg", "new").await;
    assert_eq!(r.status(), StatusCode::CREATED, "into the NFD folder");
    assert_eq!(
        names_on_disk(s.root()),
        vec!["Caf\u{e9}.txt", "Pho\u{302}tos", "Re\u{301}sume\u{301}.pdf"]
    );
    assert_eq!(
        names_on_disk(&s.root().join("Pho\u{302}tos")),
        vec!["e\u{301}te\u{301}.jpg", "new.jpg"]
    );
    assert_eq!(s.get(resume_nfd).await.text().await.unwrap(), "replaced");
    let r = s.mkcol("/Pho%CC%82tos").await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "it exists");
    // Renamed and deleted under the NFC spelling.
    let r = s
        .request("MOVE", ete_nfc)
        .header("Destination", s.url("/Ph%C3%B4tos/%C3%A9t%C3%A9%202.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(s.delete(resume_nfc).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.delete(photos_nfc).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(names_on_disk(s.root()), vec!["Caf\u{e9}.txt"]);

    // Twins made on disk by others: one visible resource, the NFC file.
    std::fs::write(s.root().join("na\u{ef}ve.txt"), "nfc").unwrap();
    std::fs::write(s.root().join("nai\u{308}ve.txt"), "nfd").unwrap();
    let (_, body) = s.propfind("/", "1", "").await;
    assert_eq!(sorted_hrefs(&body), vec!["/", nfc, "/na%C3%AFve.txt"]);
    assert_eq!(s.get("/nai%CC%88ve.txt").await.text().await.unwrap(), "nfc");
}

/// Item 16: Finder's "New Folder" sends MKCOL without a trailing slash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finder_mkcol_without_trailing_slash_creates_the_collection() {
    let s = TestServer::start().await;
    let r = finder(&s, "MKCOL", "/untitled%20folder")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(s.root().join("untitled folder").is_dir());
    let r = finder(&s, "MKCOL", "/untitled%20folder/inner")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = finder(&s, "MKCOL", "/untitled%20folder")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = finder(&s, "PUT", "/untitled%20folder/inner/file.txt")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, body) = s.propfind("/untitled%20folder", "1", "").await;
    assert_eq!(
        sorted_hrefs(&body),
        vec!["/untitled%20folder/", "/untitled%20folder/inner/"]
    );
    let ms = Multistatus::parse(&body);
    assert_eq!(
        ms.response("/untitled%20folder/inner/")
            .prop("DAV:", "resourcetype")
            .unwrap()
            .element_children,
        vec![("DAV:".to_owned(), "collection".to_owned())]
    );
}
