//! Dead and live properties: PROPFIND and atomic PROPPATCH.
#![allow(clippy::unwrap_used)]

use davd_tests::{ALLPROP, Multistatus, TestServer};
use reqwest::StatusCode;

const DAV: &str = "DAV:";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proppatch_is_atomic_third_of_three_fails() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    let body = r#"<?xml version="1.0"?>
    <D:propertyupdate xmlns:D="DAV:" xmlns:z="urn:z">
      <D:set><D:prop><z:one>1</z:one></D:prop></D:set>
      <D:remove><D:prop><z:two/></D:prop></D:remove>
      <D:set><D:prop><D:getetag>"forged"</D:getetag></D:prop></D:set>
    </D:propertyupdate>"#;
    let (status, text) = s.proppatch("/f", body).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let ms = Multistatus::parse(&text);
    let r = &ms.responses[0];
    assert_eq!(r.status_of("urn:z", "one"), Some(424));
    assert_eq!(r.status_of("urn:z", "two"), Some(424));
    assert_eq!(r.status_of(DAV, "getetag"), Some(403));
    assert!(text.contains("cannot-modify-protected-property"), "{text}");
    // Nothing was applied.
    let (_, text) = s
        .propfind(
            "/f",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><z:one xmlns:z="urn:z"/></D:prop></D:propfind>"#,
        )
        .await;
    assert_eq!(
        Multistatus::parse(&text).responses[0].status_of("urn:z", "one"),
        Some(404)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_failure_undoes_earlier_sets() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    s.proppatch("/f", r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><a xmlns="urn:a">old</a></D:prop></D:set></D:propertyupdate>"#).await;
    let body = r#"<D:propertyupdate xmlns:D="DAV:">
      <D:set><D:prop><a xmlns="urn:a">new</a></D:prop></D:set>
      <D:remove><D:prop><a xmlns="urn:a"/></D:prop></D:remove>
      <D:set><D:prop><D:resourcetype/></D:prop></D:set>
    </D:propertyupdate>"#;
    let (_, text) = s.proppatch("/f", body).await;
    let ms = Multistatus::parse(&text);
    assert_eq!(ms.responses[0].status_of(DAV, "resourcetype"), Some(403));
    let (_, text) = s
        .propfind(
            "/f",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><a xmlns="urn:a"/></D:prop></D:propfind>"#,
        )
        .await;
    let ms = Multistatus::parse(&text);
    assert_eq!(ms.responses[0].prop("urn:a", "a").unwrap().text, "old");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_values_come_back_exactly() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    let body = r#"<?xml version="1.0" encoding="utf-8"?>
    <D:propertyupdate xmlns:D="DAV:" xmlns:x="http://example.com/ns" xml:lang="en">
      <D:set><D:prop>
        <x:mixed>text <x:b attr="1 &amp; 2">bold</x:b> tail</x:mixed>
        <x:lang xml:lang="fr">bonjour</x:lang>
        <x:unicode>日本語 &#65536; ü</x:unicode>
        <x:nested><y:inner xmlns:y="urn:other"><y:deep/></y:inner></x:nested>
      </D:prop></D:set>
    </D:propertyupdate>"#;
    let (status, _) = s.proppatch("/f", body).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let (_, text) = s.propfind("/f", "0", ALLPROP).await;
    let doc = roxmltree::Document::parse(&text).unwrap();
    let find = |name: &str| {
        doc.descendants()
            .find(|n| {
                n.tag_name().name() == name
                    && n.tag_name().namespace() == Some("http://example.com/ns")
            })
            .unwrap_or_else(|| panic!("{name} missing in {text}"))
    };
    let mixed = find("mixed");
    let texts: Vec<&str> = mixed
        .children()
        .filter_map(|c| if c.is_text() { c.text() } else { None })
        .collect();
    assert_eq!(texts, vec!["text ", " tail"]);
    let b = mixed.children().find(|c| c.is_element()).unwrap();
    assert_eq!(b.attribute("attr"), Some("1 & 2"));
    assert_eq!(b.text(), Some("bold"));
    let xml_ns = "http://www.w3.org/XML/1998/namespace";
    assert_eq!(find("lang").attribute((xml_ns, "lang")), Some("fr"));
    assert_eq!(
        mixed.attribute((xml_ns, "lang")),
        Some("en"),
        "inherited xml:lang is kept"
    );
    assert_eq!(find("unicode").text(), Some("日本語 \u{10000} ü"));
    let inner = find("nested").first_element_child().unwrap();
    assert_eq!(inner.tag_name().namespace(), Some("urn:other"));
    assert_eq!(
        inner.first_element_child().unwrap().tag_name().name(),
        "deep"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_survive_a_restart() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    s.proppatch("/f", r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><k xmlns="urn:k">kept</k></D:prop></D:set></D:propertyupdate>"#).await;
    let s = s.restart().await;
    let (_, text) = s
        .propfind(
            "/f",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><k xmlns="urn:k"/></D:prop></D:propfind>"#,
        )
        .await;
    assert_eq!(
        Multistatus::parse(&text).responses[0]
            .prop("urn:k", "k")
            .unwrap()
            .text,
        "kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allprop_propname_and_include() {
    let s = TestServer::start().await;
    s.mkcol("/c").await;
    s.put("/c/f.txt", "hello").await;
    s.proppatch("/c/f.txt", r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><d xmlns="urn:d">v</d></D:prop></D:set></D:propertyupdate>"#).await;

    let (status, text) = s.propfind("/c/f.txt", "0", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let ms = Multistatus::parse(&text);
    let r = &ms.responses[0];
    for live in [
        "getcontentlength",
        "getetag",
        "getlastmodified",
        "creationdate",
        "resourcetype",
        "supportedlock",
        "lockdiscovery",
        "getcontenttype",
    ] {
        assert_eq!(r.status_of(DAV, live), Some(200), "{live}");
    }
    assert_eq!(r.prop(DAV, "getcontentlength").unwrap().text, "5");
    assert_eq!(r.prop(DAV, "getcontenttype").unwrap().text, "text/plain");
    assert_eq!(r.prop("urn:d", "d").unwrap().text, "v");
    assert_eq!(
        r.prop(DAV, "quota-available-bytes"),
        None,
        "quota is not in allprop"
    );

    let (_, text) = s
        .propfind(
            "/c/f.txt",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#,
        )
        .await;
    let ms = Multistatus::parse(&text);
    let r = &ms.responses[0];
    assert_eq!(r.prop(DAV, "getetag").unwrap().text, "");
    assert!(r.prop("urn:d", "d").is_some());

    let (_, text) = s
        .propfind("/c", "0", r#"<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:quota-available-bytes/><D:quota-used-bytes/></D:include></D:propfind>"#)
        .await;
    let ms = Multistatus::parse(&text);
    let r = &ms.responses[0];
    assert_eq!(r.status_of(DAV, "quota-available-bytes"), Some(200));
    assert!(
        r.prop(DAV, "quota-used-bytes")
            .unwrap()
            .text
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(
        r.prop(DAV, "resourcetype").unwrap().element_children,
        vec![("DAV:".to_owned(), "collection".to_owned())]
    );
    assert_eq!(
        r.prop(DAV, "getcontentlength"),
        None,
        "collections have no content length"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_one_and_infinity() {
    let s = TestServer::start().await;
    s.mkcol("/d").await;
    s.mkcol("/d/e").await;
    s.put("/d/e/deep", "x").await;
    for i in 0..5 {
        s.put(&format!("/d/f{i}"), "x").await;
        s.proppatch(
            &format!("/d/f{i}"),
            &format!(r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><n xmlns="urn:n">{i}</n></D:prop></D:set></D:propertyupdate>"#),
        )
        .await;
    }
    let (_, text) = s.propfind("/d/", "1", r#"<D:propfind xmlns:D="DAV:"><D:prop><n xmlns="urn:n"/><D:getcontentlength/></D:prop></D:propfind>"#).await;
    let ms = Multistatus::parse(&text);
    assert_eq!(ms.responses.len(), 7, "{:?}", ms.hrefs());
    for i in 0..5 {
        assert_eq!(
            ms.response(&format!("/d/f{i}"))
                .prop("urn:n", "n")
                .unwrap()
                .text,
            i.to_string()
        );
    }
    assert_eq!(ms.response("/d/e/").status_of("urn:n", "n"), Some(404));
    assert!(!ms.hrefs().contains(&"/d/e/deep"));
    let (_, text) = s.propfind("/d/", "infinity", "").await;
    assert!(Multistatus::parse(&text).hrefs().contains(&"/d/e/deep"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinity_can_be_switched_off() {
    let s = TestServer::start_with(|settings| settings.executive.propfind_infinity = false).await;
    let (status, text) = s.propfind("/", "infinity", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("propfind-finite-depth"), "{text}");
    let (status, _) = s.propfind("/", "1", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_propfind_bodies_are_400() {
    let s = TestServer::start().await;
    for body in [
        "<foo>",
        r#"<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>"#,
        r#"<D:propertyupdate xmlns:D="DAV:"/>"#,
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><D:propfind xmlns:D="DAV:"><D:prop>&e;</D:prop></D:propfind>"#,
        "\u{feff}\u{0}",
    ] {
        let (status, _) = s.propfind("/", "0", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let deep = format!(
        "<D:propfind xmlns:D=\"DAV:\">{}{}</D:propfind>",
        "<a>".repeat(10_000),
        "</a>".repeat(10_000)
    );
    assert_eq!(s.propfind("/", "0", &deep).await.0, StatusCode::BAD_REQUEST);
    // A body announced larger than the XML limit is refused before it is read.
    let head = format!(
        "PROPFIND / HTTP/1.1\r\nHost: {}\r\nDepth: 0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        s.host(),
        2 * 1024 * 1024
    );
    let answer = s
        .raw(head.as_bytes(), std::time::Duration::from_secs(5))
        .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(
        s.propfind("/missing", "0", "").await.0,
        StatusCode::NOT_FOUND
    );
    let r = s
        .request("PROPFIND", "/")
        .header("Depth", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        s.propfind("/", "0", "").await.0,
        StatusCode::MULTI_STATUS,
        "still serving"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_follow_their_resource() {
    let s = TestServer::start().await;
    s.mkcol("/p").await;
    s.put("/p/f", "x").await;
    s.proppatch("/p/f", r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><q xmlns="urn:q">1</q></D:prop></D:set></D:propertyupdate>"#).await;
    assert_eq!(s.delete("/p").await.status(), StatusCode::NO_CONTENT);
    s.mkcol("/p").await;
    s.put("/p/f", "x").await;
    let (_, text) = s.propfind("/p/f", "0", "").await;
    assert!(
        Multistatus::parse(&text).responses[0]
            .prop("urn:q", "q")
            .is_none(),
        "a deleted resource's properties do not come back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proppatch_errors() {
    let s = TestServer::start().await;
    assert_eq!(s.proppatch("/missing", r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><a xmlns="u">1</a></D:prop></D:set></D:propertyupdate>"#).await.0, StatusCode::NOT_FOUND);
    s.put("/f", "x").await;
    assert_eq!(s.proppatch("/f", "<nope").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        s.proppatch("/f", r#"<D:propfind xmlns:D="DAV:"/>"#).await.0,
        StatusCode::BAD_REQUEST
    );
    // Removing a property that does not exist is not an error.
    let (status, text) = s.proppatch("/f", r#"<D:propertyupdate xmlns:D="DAV:"><D:remove><D:prop><a xmlns="u"/></D:prop></D:remove></D:propertyupdate>"#).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(
        Multistatus::parse(&text).responses[0].status_of("u", "a"),
        Some(200)
    );
}

/// A listing whose dead properties are too many to hold at once reads them batch by batch
/// (256 members a batch) as it writes the members: 640 members, each with its own value, make
/// two and a half batches, across the file system's listing batches of 512 too. Both with a
/// budget that forces batches and with the default, which reads them in one scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_reads_each_members_own_properties_across_batches() {
    for budget in [Some(0), None] {
        let s = TestServer::start_with(|settings| {
            if let Some(budget) = budget {
                settings.executive.listing_dead_budget = budget;
            }
        })
        .await;
        std::fs::create_dir(s.root().join("many")).unwrap();
        for i in 0..640 {
            std::fs::write(s.root().join(format!("many/m{i:03}")), "").unwrap();
        }
        std::fs::create_dir(s.root().join("many/sub")).unwrap();
        // Every third member gets a property, the others have none.
        for i in (0..640).step_by(3) {
            let set = format!(
                r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><o:owner xmlns:o="urn:o">m{i:03}</o:owner></D:prop></D:set></D:propertyupdate>"#
            );
            assert_eq!(
                s.proppatch(&format!("/many/m{i:03}"), &set).await.0,
                StatusCode::MULTI_STATUS
            );
        }
        for body in [
            r#"<D:propfind xmlns:D="DAV:"><D:prop><o:owner xmlns:o="urn:o"/></D:prop></D:propfind>"#,
            ALLPROP,
        ] {
            let (status, text) = s.propfind("/many/", "1", body).await;
            assert_eq!(status, StatusCode::MULTI_STATUS);
            let ms = Multistatus::parse(&text);
            assert_eq!(ms.responses.len(), 642, "{budget:?}");
            for i in 0..640 {
                let r = ms.response(&format!("/many/m{i:03}"));
                let owner = r.prop("urn:o", "owner").filter(|p| p.status == 200);
                let expected = format!("m{i:03}");
                assert_eq!(
                    owner.map(|p| p.text.as_str()),
                    (i % 3 == 0).then_some(expected.as_str()),
                    "{budget:?} {body}"
                );
            }
            let sub = ms.response("/many/sub/");
            assert!(sub.prop("urn:o", "owner").is_none_or(|p| p.status == 404));
        }
    }
}

/// A file last modified before 1970 (an old archive unpacked with its times) used to make
/// every answer that dates it panic: GET, and any PROPFIND listing its folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_modified_before_1970_is_dated_not_dropped() {
    let s = TestServer::start().await;
    s.put("/old.txt", "from the sixties").await;
    s.put("/new.txt", "x").await;
    let nineteen_sixty = std::time::UNIX_EPOCH - std::time::Duration::from_secs(315_619_200);
    std::fs::File::options()
        .write(true)
        .open(s.root().join("old.txt"))
        .unwrap()
        .set_modified(nineteen_sixty)
        .unwrap();

    let got = s.get("/old.txt").await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(
        got.headers()["last-modified"],
        "Fri, 01 Jan 1960 00:00:00 GMT"
    );
    assert_eq!(got.text().await.unwrap(), "from the sixties");

    let (status, text) = s.propfind("/", "1", ALLPROP).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let ms = Multistatus::parse(&text);
    let old = ms.response("/old.txt");
    assert_eq!(
        old.prop(DAV, "getlastmodified").map(|p| p.text.as_str()),
        Some("Fri, 01 Jan 1960 00:00:00 GMT"),
        "{text}"
    );
    assert!(ms.hrefs().contains(&"/new.txt"), "{text}");
}

/// GET's `Content-Type`, PROPFIND's `getcontenttype` (listed and alone) and the type the
/// browser page shows all come from one guess, so they agree for every kind of name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_propfind_and_the_browser_page_agree_on_content_types() {
    let s = TestServer::start().await;
    s.mkcol("/t").await;
    let names = [
        "a.txt",
        "b.DOCX",
        "c.tar.gz",
        "noextension",
        ".profile",
        "d.",
        "e.unknownext",
        "f.html",
        "g.JPG",
        "h.svg",
    ];
    for name in names {
        let r = s
            .request("PUT", &format!("/t/{name}"))
            .header("content-type", "application/x-sent-by-client")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{name}");
    }
    let prop = r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getcontenttype/></D:prop></D:propfind>"#;
    let (_, listing) = s.propfind("/t/", "1", prop).await;
    let listing = Multistatus::parse(&listing);
    let page = s
        .request("GET", "/t/")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in names {
        let path = format!("/t/{name}");
        let r = s.get(&path).await;
        let served = r.headers()["content-type"].to_str().unwrap().to_owned();
        let listed = &listing
            .response(&path)
            .prop(DAV, "getcontenttype")
            .unwrap()
            .text;
        assert_eq!(*listed, served, "{name}: PROPFIND Depth 1 against GET");
        let (_, alone) = s.propfind(&path, "0", prop).await;
        let alone = Multistatus::parse(&alone);
        let alone = &alone
            .response(&path)
            .prop(DAV, "getcontenttype")
            .unwrap()
            .text;
        assert_eq!(*alone, served, "{name}: PROPFIND Depth 0 against GET");
        let row = page
            .split("<tr ")
            .find(|row| row.contains(&format!("data-href=\"{path}\"")))
            .unwrap_or_else(|| panic!("{name} is not on the page"));
        assert!(
            row.contains(&format!("class=\"c-type\" title=\"{served}\"")),
            "{name}: the page does not show {served}: {row}"
        );
    }
}

/// A multistatus declares only the namespaces its answer can name: none of Microsoft's for a
/// PROPFIND of a custom property, and the property keeps the prefix it declares itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multistatus_declares_only_the_namespaces_it_uses() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    let (status, _) = s
        .proppatch(
            "/f",
            r#"<D:propertyupdate xmlns:D="DAV:" xmlns:c="urn:custom"><D:set><D:prop><c:colour>blue</c:colour></D:prop></D:set></D:propertyupdate>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let (status, body) = s
        .propfind(
            "/f",
            "0",
            r#"<D:propfind xmlns:D="DAV:" xmlns:c="urn:custom"><D:prop><c:colour/></D:prop></D:propfind>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert!(
        body.contains(r#"<D:multistatus xmlns:D="DAV:"><D:response>"#),
        "{body}"
    );
    let ms = Multistatus::parse(&body);
    assert_eq!(
        ms.responses[0].prop("urn:custom", "colour").unwrap().text,
        "blue"
    );
    // The same for a listing, whose root is written before its members are known.
    s.mkcol("/dir").await;
    let (_, body) = s
        .propfind(
            "/dir/",
            "1",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"#,
        )
        .await;
    assert!(
        body.contains(r#"<D:multistatus xmlns:D="DAV:"><D:response>"#),
        "{body}"
    );
}

/// An allprop listing (Depth 1 or infinity) leaves Microsoft's live properties out unless
/// named, so its root declares none of their prefixes; a Depth 0 allprop, which has them,
/// still declares them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allprop_listing_declares_only_the_prefixes_it_reaches() {
    let s = TestServer::start().await;
    s.mkcol("/dir").await;
    s.put("/dir/f", "x").await;
    let root = |body: &str| body[..body.find("<D:response>").expect("a response")].to_string();
    for depth in ["1", "infinity"] {
        let (status, body) = s.propfind("/dir/", depth, ALLPROP).await;
        assert_eq!(status, StatusCode::MULTI_STATUS);
        assert!(
            !root(&body).contains("microsoft"),
            "Depth {depth}: {}",
            root(&body)
        );
    }
    // What a listing names through `include` is declared.
    let (_, body) = s
        .propfind(
            "/dir/",
            "1",
            r#"<D:propfind xmlns:D="DAV:" xmlns:R="http://schemas.microsoft.com/repl/"><D:allprop/><D:include><R:repl-uid/></D:include></D:propfind>"#,
        )
        .await;
    assert!(
        root(&body).contains(r#"xmlns:Repl="http://schemas.microsoft.com/repl/""#),
        "{}",
        root(&body)
    );
    assert!(!root(&body).contains("office"), "{}", root(&body));
    let (_, body) = s.propfind("/dir/f", "0", ALLPROP).await;
    let ms = Multistatus::parse(&body);
    assert!(
        ms.responses[0]
            .prop("http://schemas.microsoft.com/repl/", "repl-uid")
            .is_some(),
        "{body}"
    );
    assert!(
        root(&body).contains(r#"xmlns:Office="urn:schemas-microsoft-com:office:office""#),
        "{}",
        root(&body)
    );
    assert!(
        root(&body).contains(r#"xmlns:Repl="http://schemas.microsoft.com/repl/""#),
        "{}",
        root(&body)
    );
}
