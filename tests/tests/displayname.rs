//! `DAV:displayname`: the decoded last segment of every resource's path (empty for the root),
//! in allprop and propname; a PROPPATCH stores a name of the client's own, which overrides the
//! computed one until it is removed (RFC 4918 §15.2: SHOULD NOT be protected).
#![allow(clippy::unwrap_used)]

use davd_tests::{Multistatus, TestServer};
use reqwest::StatusCode;

const DISPLAYNAME: &str =
    r#"<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>"#;

async fn names(s: &TestServer, path: &str, depth: &str, body: &str) -> Vec<(String, String)> {
    let (status, text) = s.propfind(path, depth, body).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{text}");
    let ms = Multistatus::parse(&text);
    let mut out: Vec<(String, String)> = ms
        .responses
        .iter()
        .map(|r| {
            let matching: Vec<_> = r
                .props
                .iter()
                .filter(|p| p.namespace == "DAV:" && p.name == "displayname")
                .collect();
            assert_eq!(matching.len(), 1, "{}: once, {text}", r.href);
            assert_eq!(matching[0].status, 200, "{}", r.href);
            (r.href.clone(), matching[0].text.clone())
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resource_has_its_decoded_name_as_displayname() {
    let s = TestServer::configured(
        "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"ROOT\" }\n\n\
         [[mount]]\nscope = \"/mem\"\nnamespace = { kind = \"memory\" }\n",
    )
    .await;
    s.mkcol("/docs/").await;
    for name in ["a%20b.txt", "back%5Cslash.txt", "Caf%C3%A9", "100%25"] {
        s.put(&format!("/docs/{name}"), "x").await;
    }
    s.mkcol("/docs/sub/").await;
    let expected = [
        ("/docs/", "docs"),
        ("/docs/100%25", "100%"),
        ("/docs/Caf%C3%A9", "Café"),
        ("/docs/a%20b.txt", "a b.txt"),
        ("/docs/back%5Cslash.txt", "back\\slash.txt"),
        ("/docs/sub/", "sub"),
    ]
    .map(|(h, n)| (h.to_owned(), n.to_owned()));
    assert_eq!(names(&s, "/docs/", "1", DISPLAYNAME).await, expected);
    // allprop includes it; the root's is empty; a mount point and what is in it have theirs.
    s.put("/mem/m.txt", "x").await;
    let root = names(&s, "/", "1", "").await;
    assert!(root.contains(&("/".to_owned(), String::new())), "{root:?}");
    assert!(
        root.contains(&("/mem/".to_owned(), "mem".to_owned())),
        "{root:?}"
    );
    assert_eq!(
        names(&s, "/mem/m.txt", "0", "").await,
        [("/mem/m.txt".to_owned(), "m.txt".to_owned())]
    );
    // propname lists it.
    let (_, text) = s
        .propfind(
            "/docs/a%20b.txt",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#,
        )
        .await;
    assert!(
        Multistatus::parse(&text).responses[0]
            .prop("DAV:", "displayname")
            .is_some(),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_displayname_overrides_the_computed_one_until_removed() {
    let s = TestServer::start().await;
    s.mkcol("/cal/").await;
    let (status, text) = s
        .proppatch(
            "/cal/",
            r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>My &amp; Work</D:displayname></D:prop></D:set></D:propertyupdate>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert!(text.contains("200 OK"), "{text}");
    let set = [("/cal/".to_owned(), "My & Work".to_owned())];
    assert_eq!(names(&s, "/cal/", "0", DISPLAYNAME).await, set);
    assert_eq!(names(&s, "/cal/", "0", "").await, set, "allprop, once");
    // It travels with the resource like any dead property.
    let r = s
        .request("MOVE", "/cal/")
        .header("Destination", s.url("/renamed/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        names(&s, "/renamed/", "0", DISPLAYNAME).await[0].1,
        "My & Work"
    );
    let (status, _) = s
        .proppatch(
            "/renamed/",
            r#"<D:propertyupdate xmlns:D="DAV:"><D:remove><D:prop><D:displayname/></D:prop></D:remove></D:propertyupdate>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(
        names(&s, "/renamed/", "0", DISPLAYNAME).await,
        [("/renamed/".to_owned(), "renamed".to_owned())]
    );
}
