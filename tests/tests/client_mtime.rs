//! Modification times a client sets: ownCloud's `X-OC-Mtime` on PUT and MKCOL (rclone with
//! `--webdav-vendor owncloud|nextcloud`, the ownCloud and Nextcloud desktop clients) and
//! Windows' `Z:Win32LastModifiedTime` PROPPATCH end in the same stored time, which
//! `getlastmodified`, `Last-Modified` and the ETag reflect, on every namespace kind.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, UNIX_EPOCH};

use davd_tests::{Multistatus, TestServer};
use reqwest::StatusCode;
use reqwest::header::{ETAG, LAST_MODIFIED};

const KINDS: [&str; 3] = ["fs", "sled", "memory"];

/// 1500000000 seconds after the epoch, as HTTP writes it.
const AT: &str = "Fri, 14 Jul 2017 02:40:00 GMT";

async fn serving(kind: &str) -> TestServer {
    match kind {
        "fs" => TestServer::start().await,
        _ => {
            TestServer::configured(&format!(
                "[[mount]]\nscope = \"/\"\nnamespace = {{ kind = \"{kind}\" }}\n"
            ))
            .await
        }
    }
}

/// `getlastmodified` and `getetag` (without quotes) of one resource.
async fn times(s: &TestServer, path: &str) -> (String, String) {
    let (status, text) = s
        .propfind(
            path,
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/><D:getetag/></D:prop></D:propfind>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{path}: {text}");
    let ms = Multistatus::parse(&text);
    let r = &ms.responses[0];
    (
        r.prop("DAV:", "getlastmodified").unwrap().text.clone(),
        r.prop("DAV:", "getetag").unwrap().text.clone(),
    )
}

async fn put_with_mtime(s: &TestServer, path: &str, mtime: &str, body: &str) -> reqwest::Response {
    s.request("PUT", path)
        .header("X-OC-Mtime", mtime)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_with_x_oc_mtime_keeps_the_client_s_time_on_every_kind() {
    for kind in KINDS {
        let s = serving(kind).await;
        let r = put_with_mtime(&s, "/f.txt", "1500000000", "content").await;
        assert_eq!(r.status(), StatusCode::CREATED, "{kind}");
        assert_eq!(r.headers()["x-oc-mtime"], "accepted", "{kind}");
        let put_etag = r.headers()[ETAG].to_str().unwrap().to_owned();
        let (modified, etag) = times(&s, "/f.txt").await;
        assert_eq!(modified, AT, "{kind}");
        assert_eq!(etag, put_etag, "{kind}: the PUT's ETag is the stored one");
        let r = s.get("/f.txt").await;
        assert_eq!(r.headers()[LAST_MODIFIED], AT, "{kind}");
        assert_eq!(r.headers()[ETAG].to_str().unwrap(), put_etag, "{kind}");
        assert_eq!(r.text().await.unwrap(), "content", "{kind}");

        // The same bytes with another time: a new ETag, so a client's cache sees the change.
        let r = put_with_mtime(&s, "/f.txt", "1600000000", "content").await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{kind}");
        assert_eq!(r.headers()["x-oc-mtime"], "accepted", "{kind}");
        let (modified, etag) = times(&s, "/f.txt").await;
        assert_eq!(modified, "Sun, 13 Sep 2020 12:26:40 GMT", "{kind}");
        assert_ne!(etag, put_etag, "{kind}");

        // Without the header: the server's clock, and no claim that a time was accepted.
        let r = s.put("/plain.txt", "x").await;
        assert!(r.headers().get("x-oc-mtime").is_none(), "{kind}");
        let (modified, _) = times(&s, "/plain.txt").await;
        assert_ne!(modified, AT, "{kind}");

        // A Content-Range segment write takes the time too.
        let r = s
            .request("PUT", "/f.txt")
            .header("Content-Range", "bytes 0-1/7")
            .header("X-OC-Mtime", "1500000000")
            .body("CO")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{kind}: {}", r.status());
        assert_eq!(times(&s, "/f.txt").await.0, AT, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mkcol_with_x_oc_mtime_keeps_the_client_s_time_on_every_kind() {
    for kind in KINDS {
        let s = serving(kind).await;
        let r = s
            .request("MKCOL", "/dir/")
            .header("X-OC-Mtime", "1500000000")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{kind}");
        assert_eq!(r.headers()["x-oc-mtime"], "accepted", "{kind}");
        assert_eq!(times(&s, "/dir/").await.0, AT, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_x_oc_mtime_is_a_400_with_a_reason_and_stores_nothing() {
    for kind in KINDS {
        let s = serving(kind).await;
        for bad in ["yesterday", "-5", "1e9", "", "99999999999999"] {
            let r = put_with_mtime(&s, "/bad.txt", bad, "x").await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{kind} {bad:?}");
            let text = r.text().await.unwrap();
            assert!(text.contains("X-OC-Mtime"), "{kind} {bad:?}: {text}");
            let r = s
                .request("MKCOL", "/bad/")
                .header("X-OC-Mtime", bad)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{kind} {bad:?}");
        }
        assert_eq!(s.get("/bad.txt").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(s.get("/bad/").await.status(), StatusCode::NOT_FOUND);
        // Other methods ignore the header, as ownCloud does.
        s.put("/ok.txt", "x").await;
        let r = s
            .request("GET", "/ok.txt")
            .header("X-OC-Mtime", "yesterday")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{kind}");
    }
}

/// ownCloud keeps only whole seconds; davd keeps the fraction where the store can (the file
/// system's nanoseconds), and every store keeps the seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fractional_x_oc_mtime_is_kept() {
    let s = TestServer::start().await;
    let r = put_with_mtime(&s, "/frac.txt", "1500000000.25", "x").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let on_disk = std::fs::metadata(s.root().join("frac.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        on_disk,
        UNIX_EPOCH + Duration::from_millis(1_500_000_000_250)
    );
    assert_eq!(times(&s, "/frac.txt").await.0, AT);
}

fn win32_patch(date: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>
<Z:Win32CreationTime>Mon, 01 Jan 2001 00:00:00 GMT</Z:Win32CreationTime>
<Z:Win32LastModifiedTime>{date}</Z:Win32LastModifiedTime>
<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>
</D:prop></D:set></D:propertyupdate>"#
    )
}

/// Windows' PROPPATCH and ownCloud's header store the same time; the ResourceTag Office
/// keeps does not move, the ETag does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn win32_last_modified_time_and_x_oc_mtime_end_in_the_same_stored_time() {
    for kind in KINDS {
        let s = serving(kind).await;
        put_with_mtime(&s, "/oc.txt", "1500000000", "same").await;
        let r = s.put("/win.txt", "same").await;
        let tag_before = r.headers()["resourcetag"].to_str().unwrap().to_owned();
        let (_, etag_before) = times(&s, "/win.txt").await;
        let (status, text) = s.proppatch("/win.txt", &win32_patch(AT)).await;
        assert_eq!(status, StatusCode::MULTI_STATUS, "{kind}: {text}");
        assert!(!text.contains("424") && !text.contains("403"), "{text}");
        let (win_modified, win_etag) = times(&s, "/win.txt").await;
        let (oc_modified, _) = times(&s, "/oc.txt").await;
        assert_eq!(win_modified, AT, "{kind}");
        assert_eq!(win_modified, oc_modified, "{kind}");
        assert_ne!(win_etag, etag_before, "{kind}: the ETag follows the time");
        if kind == "fs" {
            let disk = |name: &str| {
                std::fs::metadata(s.root().join(name))
                    .unwrap()
                    .modified()
                    .unwrap()
            };
            assert_eq!(disk("win.txt"), disk("oc.txt"));
        }
        // The property itself is still answered as Windows stored it.
        let (_, text) = s
            .propfind(
                "/win.txt",
                "0",
                r#"<D:propfind xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:prop><Z:Win32LastModifiedTime/><D:getetag/></D:prop></D:propfind>"#,
            )
            .await;
        let ms = Multistatus::parse(&text);
        let stored = ms.responses[0]
            .prop("urn:schemas-microsoft-com:", "Win32LastModifiedTime")
            .unwrap();
        assert_eq!(stored.text, AT, "{kind}");
        // Office's document version did not move for a change of times.
        let r = s.get("/win.txt").await;
        assert_eq!(r.headers()["resourcetag"], tag_before.as_str(), "{kind}");
        assert_eq!(r.headers()[LAST_MODIFIED], AT, "{kind}");

        // A value that is not a date is stored and changes no time.
        let (status, _) = s.proppatch("/oc.txt", &win32_patch("soon")).await;
        assert_eq!(status, StatusCode::MULTI_STATUS);
        assert_eq!(times(&s, "/oc.txt").await.0, AT, "{kind}");
        // On a collection too.
        s.mkcol("/c/").await;
        s.proppatch("/c/", &win32_patch(AT)).await;
        assert_eq!(times(&s, "/c/").await.0, AT, "{kind}");
    }
}

/// Windows' PUT with its properties prefixed (`X-MSDAVEXT: PROPPATCH`, MS-WDV 3.2.5.5): the
/// `Z:Win32LastModifiedTime` among them gives the new content its time, in the same request;
/// the answer does not claim an `X-OC-Mtime` the client never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefixed_put_with_win32_last_modified_time_sets_the_stored_time() {
    for kind in KINDS {
        let s = serving(kind).await;
        let body = davd_tests::ms::prefixed(&win32_patch(AT), b"from windows");
        let r = s
            .request("PUT", "/prefixed.txt")
            .header("X-MSDAVEXT", "PROPPATCH")
            .header("Content-Type", "multipart/MSDAVEXTPrefixEncoded")
            .header("translate", "f")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{kind}");
        assert!(r.headers().get("x-oc-mtime").is_none(), "{kind}");
        let put_etag = r.headers()[ETAG].to_str().unwrap().to_owned();
        let (modified, etag) = times(&s, "/prefixed.txt").await;
        assert_eq!(modified, AT, "{kind}");
        assert_eq!(etag, put_etag, "{kind}");
        assert_eq!(
            s.get("/prefixed.txt").await.text().await.unwrap(),
            "from windows"
        );
    }
}
