//! Document ids and versions: `ResourceTag`, `Repl-uid`, their properties and their life
//! across writes, MOVE, COPY, DELETE and restarts (MS-WDVME 2.2.3, 2.2.4); and the If header
//! with a ResourceTag (MS-WDVME 3.1.5.5).
#![allow(clippy::unwrap_used)]

use davd_tests::ms::{REPL, Tag, header, resource_tag};
use davd_tests::{Multistatus, TestServer};
use reqwest::StatusCode;

async fn tag_property(s: &TestServer, path: &str) -> (Tag, String) {
    let (_, body) = s
        .propfind(
            path,
            "0",
            r#"<D:propfind xmlns:D="DAV:" xmlns:R="http://schemas.microsoft.com/repl/"><D:prop><R:resourcetag/><R:repl-uid/></D:prop></D:propfind>"#,
        )
        .await;
    let ms = Multistatus::parse(&body);
    let r = &ms.responses[0];
    (
        Tag::parse(&r.prop(REPL, "resourcetag").unwrap().text),
        r.prop(REPL, "repl-uid").unwrap().text.clone(),
    )
}

/// A MOVE or COPY of `from` to `to`; its status.
async fn transfer(s: &TestServer, method: &str, from: &str, to: &str) -> StatusCode {
    s.request(method, from)
        .header("Destination", s.url(to))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_head_and_versions() {
    let s = TestServer::start().await;
    let r = s.put("/doc.txt", "one").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = resource_tag(&r);
    assert_eq!(created.version, 1);
    assert_eq!(
        header(&r, "repl-uid").unwrap(),
        format!("rid:{{{}}}", created.guid)
    );
    let etag1 = header(&r, "etag").unwrap();
    for method in ["GET", "HEAD"] {
        let r = s.request(method, "/doc.txt").send().await.unwrap();
        assert_eq!(resource_tag(&r), created, "{method}");
        assert_eq!(header(&r, "repl-uid"), None, "{method}");
    }
    assert_eq!(tag_property(&s, "/doc.txt").await.0, created);

    let r = s.put("/doc.txt", "two").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let second = resource_tag(&r);
    assert_eq!(second.guid, created.guid, "kept across content changes");
    assert_eq!(second.version, 2);
    assert_ne!(header(&r, "etag").unwrap(), etag1);
    assert_eq!(
        header(&r, "repl-uid").unwrap(),
        format!("rid:{{{}}}", created.guid)
    );
    assert_eq!(resource_tag(&s.get("/doc.txt").await), second);
    // Neither reading nor properties nor locks change it.
    s.proppatch(
        "/doc.txt",
        r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>"#,
    )
    .await;
    let token = s.lock("/doc.txt", "0").await;
    s.request("UNLOCK", "/doc.txt")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(resource_tag(&s.get("/doc.txt").await), second);
    }
    let (tag, uid) = tag_property(&s, "/doc.txt").await;
    assert_eq!(tag, second);
    assert_eq!(uid, format!("rid:{{{}}}", second.guid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_keeps_copy_renews_delete_forgets() {
    let s = TestServer::start().await;
    s.put("/a", "content").await;
    s.put("/a", "content 2").await;
    let a = resource_tag(&s.get("/a").await);
    assert_eq!(a.version, 2);
    assert_eq!(transfer(&s, "MOVE", "/a", "/b").await, StatusCode::CREATED);
    assert_eq!(
        resource_tag(&s.get("/b").await),
        a,
        "MOVE keeps id and version"
    );

    assert_eq!(transfer(&s, "COPY", "/b", "/c").await, StatusCode::CREATED);
    let c = resource_tag(&s.get("/c").await);
    assert_ne!(c.guid, a.guid, "a copy is a new document");
    assert_eq!(c.version, 1);
    assert_eq!(
        resource_tag(&s.get("/b").await),
        a,
        "the source is untouched"
    );

    // MOVE over an existing destination: the destination's id goes, the source's stays.
    assert_eq!(
        transfer(&s, "MOVE", "/c", "/b").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(resource_tag(&s.get("/b").await), c);

    assert_eq!(s.delete("/b").await.status(), StatusCode::NO_CONTENT);
    let r = s.put("/b", "again").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let again = resource_tag(&r);
    assert_ne!(again.guid, c.guid, "re-creation is a new document");
    assert_eq!(again.version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_move_and_copy_with_their_members() {
    let s = TestServer::start().await;
    s.mkcol("/d").await;
    s.put("/d/x", "x").await;
    let d = resource_tag(&s.get("/d/").await);
    let x = resource_tag(&s.get("/d/x").await);
    assert_eq!(d.version, 1);
    assert_eq!(
        transfer(&s, "COPY", "/d/", "/e/").await,
        StatusCode::CREATED
    );
    let e = resource_tag(&s.get("/e/").await);
    let ex = resource_tag(&s.get("/e/x").await);
    assert_ne!(e.guid, d.guid);
    assert_ne!(ex.guid, x.guid);
    assert_eq!((e.version, ex.version), (1, 1));
    assert_eq!(
        transfer(&s, "MOVE", "/d/", "/f/").await,
        StatusCode::CREATED
    );
    assert_eq!(resource_tag(&s.get("/f/").await), d);
    assert_eq!(resource_tag(&s.get("/f/x").await), x);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_survive_a_restart() {
    let s = TestServer::start().await;
    s.put("/doc", "v1").await;
    s.put("/doc", "v2").await;
    s.mkcol("/dir").await;
    let doc = resource_tag(&s.get("/doc").await);
    let dir = resource_tag(&s.get("/dir/").await);
    let s = s.restart().await;
    assert_eq!(resource_tag(&s.get("/doc").await), doc);
    assert_eq!(resource_tag(&s.get("/dir/").await), dir);
    let r = s.put("/doc", "v3").await;
    let v3 = resource_tag(&r);
    assert_eq!((v3.guid.as_str(), v3.version), (doc.guid.as_str(), 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_changed_or_created_behind_davds_back() {
    let s = TestServer::start().await;
    s.put("/known", "v1").await;
    let known = resource_tag(&s.get("/known").await);
    std::fs::write(s.root().join("known"), "changed on disk").unwrap();
    let changed = resource_tag(&s.get("/known").await);
    assert_eq!(changed.guid, known.guid);
    assert_eq!(changed.version, known.version + 1);

    // A file davd never wrote: a stable id derived from its path, readable without writes.
    std::fs::write(s.root().join("dropped"), "hello").unwrap();
    let first = resource_tag(&s.get("/dropped").await);
    assert_eq!(resource_tag(&s.get("/dropped").await), first);
    assert_eq!(tag_property(&s, "/dropped").await.0, first);
    // Moving it keeps that id; writing it keeps the id and raises the version.
    assert_eq!(
        transfer(&s, "MOVE", "/dropped", "/moved").await,
        StatusCode::CREATED
    );
    assert_eq!(resource_tag(&s.get("/moved").await), first);
    let r = s.put("/moved", "written").await;
    let written = resource_tag(&r);
    assert_eq!(written.guid, first.guid);
    assert_eq!(written.version, first.version + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_uploads_get_documents() {
    let s = TestServer::start().await;
    s.mkcol("/up").await;
    let boundary = "XyZ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nhello\r\n--{boundary}--\r\n"
    );
    let r = s
        .request("POST", "/up/")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        resource_tag(&r),
        resource_tag(&s.get("/up/").await),
        "POST answers with the collection's tag"
    );
    let a = resource_tag(&s.get("/up/a.txt").await);
    assert_eq!(a.version, 1);
}

// --- If with a ResourceTag (MS-WDVME 3.1.5.5) ---

async fn status_with_if(s: &TestServer, method: &str, path: &str, condition: &str) -> StatusCode {
    s.request(method, path)
        .header("If", condition)
        .body(match method {
            "PUT" => "new",
            "PROPPATCH" => {
                r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>"#
            }
            _ => "",
        })
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_resource_tag_on_get_head_and_post() {
    let s = TestServer::start().await;
    s.put("/f", "v1").await;
    s.put("/f", "v2").await;
    let current = resource_tag(&s.get("/f").await);
    let stale = current.with_version(1);
    for method in ["GET", "HEAD"] {
        let cases = [
            (format!("(<{stale}>)"), StatusCode::OK),
            (format!("(<{current}>)"), StatusCode::OK),
            (format!("(Not <{stale}>)"), StatusCode::PRECONDITION_FAILED),
            (format!("(Not <{current}>)"), StatusCode::OK),
            (
                "(<rt:not-a-guid@00000000001>)".to_owned(),
                StatusCode::BAD_REQUEST,
            ),
        ];
        for (condition, expected) in cases {
            assert_eq!(
                status_with_if(&s, method, "/f", &condition).await,
                expected,
                "{method} If: {condition}"
            );
        }
    }
    // POST to a collection gets the same treatment.
    s.mkcol("/c").await;
    let c = resource_tag(&s.get("/c/").await);
    let r = s
        .request("POST", "/c/")
        .header("If", format!("(Not <{}>)", c.with_version(7)))
        .header("Content-Type", "multipart/form-data; boundary=b")
        .body("--b--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_resource_tag_on_put() {
    let s = TestServer::start().await;
    s.put("/f", "v1").await;
    let current = resource_tag(&s.get("/f").await);
    let stale = current.with_version(current.version + 5);
    // The MS-WDVME 4.3.3-4.3.6 exchange: a PUT with the current tag succeeds...
    let r = s
        .request("PUT", "/f")
        .header("If", format!("(<{current}>)"))
        .body("newly changed")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let next = resource_tag(&r);
    assert_eq!(next.version, current.version + 1);
    assert!(header(&r, "repl-uid").is_some());
    // ...and the same PUT again, its tag now stale, fails.
    for condition in [
        format!("(<{current}>)"),
        format!("(<{stale}>)"),
        format!("(Not <{next}>)"),
        format!("(Not <{stale}>)"),
    ] {
        assert_eq!(
            status_with_if(&s, "PUT", "/f", &condition).await,
            StatusCode::PRECONDITION_FAILED,
            "If: {condition}"
        );
    }
    assert_eq!(
        status_with_if(&s, "PUT", "/f", "(<rt:not-a-guid@1>)").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(std::fs::read(s.root().join("f")).unwrap(), b"newly changed");
    assert_eq!(resource_tag(&s.get("/f").await), next);
    // A PUT of a resource that does not exist cannot match a tag.
    assert_eq!(
        status_with_if(&s, "PUT", "/missing", &format!("(<{next}>)")).await,
        StatusCode::PRECONDITION_FAILED
    );
    assert!(!s.root().join("missing").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_tags_in_rfc_4918_if_headers() {
    let s = TestServer::start().await;
    s.put("/f", "v1").await;
    let current = resource_tag(&s.get("/f").await);
    let stale = current.with_version(9);
    let url = s.url("/f");
    // Other methods evaluate the header as RFC 4918 does, the tag being a state token.
    assert_eq!(
        status_with_if(&s, "PROPPATCH", "/f", &format!("(<{stale}>)")).await,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        status_with_if(&s, "DELETE", "/f", &format!("<{url}> (Not <{current}>)")).await,
        StatusCode::PRECONDITION_FAILED
    );
    // Two conditions in one list are not the Microsoft form: RFC logic on a PUT too.
    let both = format!("(<{current}> [\"no-such-etag\"])");
    assert_eq!(
        status_with_if(&s, "PUT", "/f", &both).await,
        StatusCode::PRECONDITION_FAILED
    );
    let either = format!("(<{stale}>) (<{current}>)");
    assert_eq!(
        status_with_if(&s, "PUT", "/f", &either).await,
        StatusCode::NO_CONTENT
    );
    // A matching ResourceTag is no lock token: a locked resource still needs the lock's.
    let token = s.lock("/f", "0").await;
    let current = resource_tag(&s.get("/f").await);
    assert_eq!(
        status_with_if(&s, "PUT", "/f", &format!("(<{current}>)")).await,
        StatusCode::LOCKED
    );
    let with_token = format!("(<{current}> <{token}>)");
    assert_eq!(
        status_with_if(&s, "PUT", "/f", &with_token).await,
        StatusCode::NO_CONTENT
    );
    let r = s
        .request("DELETE", "/f")
        .header("If", format!("<{url}> (<{token}>)"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// Reading never writes: after GET, HEAD, PROPFIND and a prefix-encoded GET of a file davd never
/// wrote, the property store holds no record for it (only for the file davd did write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_never_write_a_record() {
    let mut s = TestServer::start().await;
    std::fs::write(s.root().join("dropped"), "hello").unwrap();
    s.put("/written", "x").await;
    for method in ["GET", "HEAD"] {
        assert_eq!(
            s.request(method, "/dropped").send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    let r = s
        .request("GET", "/dropped")
        .header("X-MSDAVEXT", "PROPFIND")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.propfind("/dropped", "0", "").await.0,
        StatusCode::MULTI_STATUS
    );
    assert_eq!(s.propfind("/", "1", "").await.0, StatusCode::MULTI_STATUS);
    s.stop().await;
    let db = {
        let mut opened = None;
        for _ in 0..50 {
            if let Ok(db) = sled::open(s.dirs().state.join("db")) {
                opened = Some(db);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        opened.expect("the state database reopens")
    };
    let props = db.open_tree("props").unwrap();
    let records: Vec<String> = props
        .iter()
        .keys()
        .map(|k| String::from_utf8_lossy(&k.unwrap()).replace('\0', "|"))
        .filter(|k| k.contains("urn:davd:internal:"))
        .collect();
    assert_eq!(records, ["/|written|urn:davd:internal:|document"]);
}

/// A PUT continues from the record the store holds now, not from the one a PUT to the same
/// path wrote last (which davd remembers while the store changes nothing): a MOVE over the
/// path in between brings the moved document's id and version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_continues_from_the_record_stored_now() {
    let s = TestServer::start().await;
    s.put("/a", "a 1").await;
    let a = resource_tag(&s.put("/a", "a 2").await);
    assert_eq!(a.version, 2);
    for n in 1..=3 {
        s.put("/b", format!("b {n}")).await;
    }
    let b = resource_tag(&s.get("/b").await);
    assert_eq!(b.version, 3);
    assert_eq!(
        transfer(&s, "MOVE", "/b", "/a").await,
        StatusCode::NO_CONTENT
    );

    let after = resource_tag(&s.put("/a", "a 3").await);
    assert_eq!(after.guid, b.guid, "the moved document's id");
    assert_eq!(after.version, 4, "the moved document's next version");
    let again = resource_tag(&s.put("/a", "a 4").await);
    assert_eq!((again.guid, again.version), (b.guid, 5));
}
