//! Windows Explorer through the WebDAV mini-redirector (issue 10, items 8 to 12;
//! docs/clients.md): what a mapped drive sends, and what it needs back.
#![allow(clippy::unwrap_used)]

use davd_tests::clients::{
    MINIREDIR, OFFICE_LOCKINFO, WIN32_NAMES, assert_dav_prefixed, win32_proppatch,
};
use davd_tests::ms::{Z, header, split_prefixed};
use davd_tests::{Multistatus, TestServer, lock_token};
use reqwest::StatusCode;

const DAV: &str = "DAV:";

/// The properties the mini-redirector asks for on every directory listing.
const LISTING_PROPS: [&str; 18] = [
    "name",
    "parentname",
    "href",
    "ishidden",
    "isreadonly",
    "getcontenttype",
    "contentclass",
    "getcontentlanguage",
    "creationdate",
    "lastaccessed",
    "getlastmodified",
    "getcontentlength",
    "iscollection",
    "isstructureddocument",
    "defaultdocument",
    "displayname",
    "isroot",
    "resourcetype",
];

fn listing_propfind() -> String {
    let props: String = LISTING_PROPS.iter().map(|p| format!("<D:{p}/>")).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<D:propfind xmlns:D=\"DAV:\"><D:prop>{props}</D:prop></D:propfind>"
    )
}

/// A request from the mini-redirector.
fn redir(s: &TestServer, method: &str, path: &str) -> reqwest::RequestBuilder {
    s.request(method, path)
        .header("User-Agent", MINIREDIR)
        .header("translate", "f")
}

async fn text(r: reqwest::RequestBuilder) -> (StatusCode, String) {
    let r = r.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Item 8: every XML body davd writes names `DAV:` with the `D:` prefix, never as the default
/// namespace: multistatus (PROPFIND, PROPPATCH, partial COPY), error bodies, lock bodies, the
/// properties part of a prefix-encoded GET.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_sees_dav_with_a_prefix_in_every_body() {
    let s = TestServer::start().await;
    s.mkcol("/dir").await;
    s.put("/dir/a.txt", "a").await;
    s.put("/dir/b.txt", "b").await;
    let mut bodies: Vec<(String, String)> = Vec::new();
    let mut keep = |what: &str, (status, body): (StatusCode, String), expected: StatusCode| {
        assert_eq!(status, expected, "{what}: {body}");
        bodies.push((what.to_owned(), body));
    };
    let multi = StatusCode::MULTI_STATUS;
    // A dead property whose value used a default namespace of its own.
    keep(
        "PROPPATCH",
        text(redir(&s, "PROPPATCH", "/dir/a.txt").body(
            r#"<propertyupdate xmlns="DAV:"><set><prop><x xmlns="urn:x">v<y/></x><displayname>shown</displayname></prop></set></propertyupdate>"#,
        ))
        .await,
        multi,
    );
    keep(
        "PROPPATCH Win32",
        text(redir(&s, "PROPPATCH", "/dir/").body(win32_proppatch("00000010"))).await,
        multi,
    );
    keep(
        "PROPPATCH protected",
        text(redir(&s, "PROPPATCH", "/dir/a.txt").body(
            r#"<propertyupdate xmlns="DAV:"><set><prop><getetag>"x"</getetag></prop></set></propertyupdate>"#,
        ))
        .await,
        multi,
    );
    for depth in ["0", "1", "infinity"] {
        keep(
            &format!("PROPFIND allprop Depth {depth}"),
            text(redir(&s, "PROPFIND", "/dir/").header("Depth", depth)).await,
            multi,
        );
    }
    keep(
        "PROPFIND prop",
        text(
            redir(&s, "PROPFIND", "/dir/")
                .header("Depth", "1")
                .body(listing_propfind()),
        )
        .await,
        multi,
    );
    keep(
        "PROPFIND propname",
        text(
            redir(&s, "PROPFIND", "/dir/")
                .header("Depth", "1")
                .body(r#"<propfind xmlns="DAV:"><propname/></propfind>"#),
        )
        .await,
        multi,
    );
    let r = redir(&s, "LOCK", "/dir/a.txt")
        .body(r#"<lockinfo xmlns="DAV:"><lockscope><exclusive/></lockscope><locktype><write/></locktype><owner xmlns:o="urn:o"><o:who>me</o:who></owner></lockinfo>"#)
        .send()
        .await
        .unwrap();
    let token = lock_token(&r);
    keep(
        "LOCK",
        (r.status(), r.text().await.unwrap()),
        StatusCode::OK,
    );
    keep(
        "LOCK refresh",
        text(redir(&s, "LOCK", "/dir/a.txt").header("If", format!("(<{token}>)"))).await,
        StatusCode::OK,
    );
    keep(
        "LOCK conflict",
        text(redir(&s, "LOCK", "/dir/a.txt").body(OFFICE_LOCKINFO)).await,
        StatusCode::LOCKED,
    );
    keep(
        "PUT locked",
        text(redir(&s, "PUT", "/dir/a.txt").body("x")).await,
        StatusCode::LOCKED,
    );
    keep(
        "DELETE locked member",
        text(redir(&s, "DELETE", "/dir/")).await,
        StatusCode::LOCKED,
    );
    keep(
        "UNLOCK wrong resource",
        text(redir(&s, "UNLOCK", "/dir/b.txt").header("Lock-Token", format!("<{token}>"))).await,
        StatusCode::CONFLICT,
    );
    let r = redir(&s, "GET", "/dir/b.txt")
        .header("X-MSDAVEXT", "PROPFIND")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (xml, _) = split_prefixed(&r.bytes().await.unwrap());
    bodies.push(("GET X-MSDAVEXT: PROPFIND".into(), xml));
    let bad_proppatch = davd_tests::ms::prefixed(
        r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getetag>x</D:getetag></D:prop></D:set></D:propertyupdate>"#,
        b"content",
    );
    let r = redir(&s, "PUT", "/dir/c.txt")
        .header("X-MSDAVEXT", "PROPPATCH")
        .header("Content-Type", "multipart/MSDAVEXTPrefixEncoded")
        .body(bad_proppatch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    bodies.push((
        "PUT X-MSDAVEXT: PROPPATCH refused".into(),
        r.text().await.unwrap(),
    ));
    assert_eq!(bodies.len(), 16);
    for (what, body) in &bodies {
        assert_dav_prefixed(what, body);
    }
}

/// Item 9, revised by issue 19: Explorer (and Finder) take a resource's name from its href;
/// the live `displayname` is that same name, decoded, so it can never disagree with it, not
/// even after a rename. (It used to be left out, and client libraries that list it got 404.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_displayname_is_the_name_in_the_href() {
    let s = TestServer::start().await;
    s.mkcol("/folder").await;
    s.put("/folder/Report 2026.docx", "x").await;
    s.mkcol("/folder/sub").await;
    let expect = |href: &str| match href {
        "/folder/" => "folder",
        "/folder/Report%202026.docx" => "Report 2026.docx",
        "/folder/sub/" => "sub",
        "/folder/Renamed%20%231.docx" => "Renamed #1.docx",
        other => panic!("unexpected {other}"),
    };
    let (status, body) = text(redir(&s, "PROPFIND", "/folder/").header("Depth", "1")).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let ms = Multistatus::parse(&body);
    assert_eq!(ms.responses.len(), 3);
    for r in &ms.responses {
        let name = &r.prop(DAV, "displayname").unwrap().text;
        assert_eq!(name, expect(&r.href), "{body}");
    }
    let r = redir(&s, "MOVE", "/folder/Report 2026.docx")
        .header("Destination", s.url("/folder/Renamed%20%231.docx"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, body) = text(
        redir(&s, "PROPFIND", "/folder/")
            .header("Depth", "1")
            .body(listing_propfind()),
    )
    .await;
    for r in &Multistatus::parse(&body).responses {
        assert_eq!(r.status_of(DAV, "displayname"), Some(200), "{}", r.href);
        let name = &r.prop(DAV, "displayname").unwrap().text;
        assert_eq!(name, expect(&r.href), "{body}");
    }
}

/// Item 10: the Win32 PROPPATCH after a copy answers 207 with 200 for each property, on files
/// and on folders, and Explorer's next listing reads them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_win32_proppatch_answers_200_each_and_reads_back() {
    let s = TestServer::start().await;
    assert_eq!(
        redir(&s, "MKCOL", "/copied").send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let r = redir(&s, "PUT", "/copied/photo.jpg")
        .body(vec![0u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for (path, href, attributes) in [
        ("/copied/photo.jpg", "/copied/photo.jpg", "00000020"),
        ("/copied", "/copied/", "00000010"),
    ] {
        let (status, body) =
            text(redir(&s, "PROPPATCH", path).body(win32_proppatch(attributes))).await;
        assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
        let ms = Multistatus::parse(&body);
        let r = ms.response(href);
        for name in WIN32_NAMES {
            assert_eq!(r.status_of(Z, name), Some(200), "{path} {name}: {body}");
        }
    }
    let props: String = WIN32_NAMES
        .iter()
        .map(|n| format!("<Z:{n}/>"))
        .chain(["<D:getcontentlength/>".to_owned()])
        .collect();
    let (_, body) = text(redir(&s, "PROPFIND", "/copied/").header("Depth", "1").body(format!(
        r#"<D:propfind xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:prop>{props}</D:prop></D:propfind>"#
    )))
    .await;
    let ms = Multistatus::parse(&body);
    for (href, attributes) in [("/copied/", "00000010"), ("/copied/photo.jpg", "00000020")] {
        let r = ms.response(href);
        let value = |n: &str| {
            r.prop(Z, n)
                .unwrap_or_else(|| panic!("{n}: {body}"))
                .text
                .clone()
        };
        assert_eq!(value("Win32CreationTime"), "Mon, 02 Feb 2026 09:00:00 GMT");
        assert_eq!(
            value("Win32LastAccessTime"),
            "Mon, 02 Feb 2026 09:30:00 GMT"
        );
        assert_eq!(
            value("Win32LastModifiedTime"),
            "Mon, 02 Feb 2026 09:15:00 GMT"
        );
        assert_eq!(value("Win32FileAttributes"), attributes);
        assert_eq!(r.status_of(Z, "Win32FileAttributes"), Some(200));
    }
}

/// Item 11: a rename in Explorer is a MOVE; a 207 would read as failure even if it is all
/// success, so a simple MOVE answers 201 (new name) or 204 (replaced), nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_simple_move_is_201_or_204_never_207() {
    let s = TestServer::start().await;
    s.mkcol("/dir").await;
    s.put("/dir/one.txt", "1").await;
    s.put("/dir/two.txt", "2").await;
    s.mkcol("/tree").await;
    s.mkcol("/tree/deep").await;
    s.put("/tree/deep/x.txt", "x").await;
    s.mkcol("/other").await;
    let mv = |from: &str, to: &str, overwrite: Option<&str>| {
        let mut r = redir(&s, "MOVE", from).header("Destination", s.url(to));
        if let Some(o) = overwrite {
            r = r.header("Overwrite", o);
        }
        r
    };
    for (from, to, overwrite, expected) in [
        (
            "/dir/one.txt",
            "/dir/renamed.txt",
            None,
            StatusCode::CREATED,
        ),
        (
            "/dir/renamed.txt",
            "/dir/two.txt",
            Some("T"),
            StatusCode::NO_CONTENT,
        ),
        ("/tree/", "/moved/", None, StatusCode::CREATED),
        ("/moved", "/other/", Some("T"), StatusCode::NO_CONTENT),
        (
            "/dir/two.txt",
            "/other/deep/x.txt",
            Some("F"),
            StatusCode::PRECONDITION_FAILED,
        ),
    ] {
        let r = mv(from, to, overwrite).send().await.unwrap();
        assert_eq!(r.status(), expected, "MOVE {from} {to}");
        assert_ne!(r.status(), StatusCode::MULTI_STATUS);
    }
    assert_eq!(s.get("/dir/two.txt").await.text().await.unwrap(), "1");
    assert_eq!(s.get("/other/deep/x.txt").await.text().await.unwrap(), "x");
}

/// Item 12: a folder of 500 files listed with the mini-redirector's property list stays small
/// (its `FileAttributesLimitInBytes` defaults to 1,000,000 bytes per listing): no whitespace
/// between elements, no property it did not ask for, a few hundred bytes per member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_large_listing_stays_compact() {
    let s = TestServer::start().await;
    s.mkcol("/big").await;
    for i in 0..500 {
        let r = s.put(&format!("/big/IMG_{i:05}.jpg"), "jpeg").await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = redir(&s, "PROPFIND", "/big/")
        .header("Depth", "1")
        .body(listing_propfind())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    assert_eq!(header(&r, "content-encoding"), None);
    let body = r.text().await.unwrap();
    let ms = Multistatus::parse(&body);
    assert_eq!(ms.responses.len(), 501);
    for r in &ms.responses {
        for p in &r.props {
            assert!(
                p.namespace == DAV && LISTING_PROPS.contains(&p.name.as_str()),
                "{} was not asked for",
                p.name
            );
        }
    }
    assert!(!body.contains(">\n") && !body.contains("> ") && !body.contains("\t"));
    let per_member = body.len() / ms.responses.len();
    assert!(
        per_member < 800,
        "{per_member} bytes per member; the first: {}",
        &body[..1500.min(body.len())]
    );
    assert!(body.len() < 1_000_000 / 2, "{} bytes", body.len());
}
