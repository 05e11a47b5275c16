//! The Word 2019 handshake, step by step (shared-notes/microsoft-requirements.md §3): protocol
//! discovery, existence check, properties, LOCK, GET, save, UNLOCK, the owner file, and the same
//! open/save through a mapped drive with the MS-WDV extensions.
#![allow(clippy::unwrap_used)]

use davd_tests::ms::{
    OFFICE, REPL, SPEC_VECTOR, Tag, Z, header, ms_root, resource_tag, split_prefixed,
};
use davd_tests::{Multistatus, TestServer};
use reqwest::StatusCode;

const DOC: &str = "/path/to/document.docx";
const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const DAV: &str = "DAV:";

/// The seed's LOCK body (DAV: as the default namespace).
const SEED_LOCKINFO: &str = r#"<?xml version="1.0" encoding="utf-8" ?>
<lockinfo xmlns="DAV:">
    <lockscope><exclusive/></lockscope>
    <locktype><write/></locktype>
    <owner>
        <href>mailto:user@example.com</href>
    </owner>
</lockinfo>"#;

/// What Word really sends (sabre-io/dav#955): `D:` prefixed, a computer/user owner.
const WORD_LOCKINFO: &str = r#"<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>computerid/user</D:href></D:owner></D:lockinfo>"#;

fn fixture() -> Vec<u8> {
    (0..12345u32).map(|i| (i % 251) as u8).collect()
}

async fn server_with_document() -> TestServer {
    let s = TestServer::start().await;
    s.mkcol("/path").await;
    s.mkcol("/path/to").await;
    assert_eq!(s.put(DOC, fixture()).await.status(), StatusCode::CREATED);
    s
}

fn assert_discovery_headers(r: &reqwest::Response) {
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(r, "dav").as_deref(), Some("1, 2, 3"));
    assert_eq!(header(r, "ms-author-via").as_deref(), Some("DAV"));
    assert_eq!(header(r, "x-msdavext").as_deref(), Some("1"));
    assert_eq!(
        header(r, "public-extension").as_deref(),
        Some("http://schemas.microsoft.com/repl-2")
    );
    let allow = header(r, "allow").unwrap();
    for method in ["GET", "HEAD", "PROPFIND", "LOCK", "UNLOCK", "GETLIB"] {
        assert!(
            allow.split(", ").any(|m| m == method),
            "{method} in {allow}"
        );
    }
    assert_eq!(header(r, "documentmanagementserver"), None);
    assert_eq!(header(r, "x-msfsshttp"), None);
}

/// Steps 0 to 6 in order, as Word opens, edits and saves a document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_opens_locks_saves_and_unlocks() {
    let s = server_with_document().await;

    // Step 0: protocol discovery on the folder (and its parent).
    for folder in ["/path/to/", "/path/"] {
        let r = s
            .request("OPTIONS", folder)
            .header("User-Agent", "Microsoft Office Protocol Discovery")
            .send()
            .await
            .unwrap();
        assert_discovery_headers(&r);
    }

    // Step 1: OPTIONS on the document.
    let r = s.request("OPTIONS", DOC).send().await.unwrap();
    assert_discovery_headers(&r);
    assert!(header(&r, "allow").unwrap().contains("PUT"));

    // Step 1b: existence check, on the document and on its folder.
    let r = s
        .request("HEAD", DOC)
        .header("User-Agent", "Microsoft Office Existence Discovery")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length").as_deref(), Some("12345"));
    let etag = header(&r, "etag").unwrap();
    let modified = header(&r, "last-modified").unwrap();
    let tag = resource_tag(&r);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = s.request("HEAD", "/path/to/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "never 405 on a folder");

    // Step 2: properties, Depth 0, no body (allprop).
    let r = s
        .request("PROPFIND", DOC)
        .header("Depth", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let content_type = header(&r, "content-type").unwrap();
    assert!(content_type.contains("xml") && content_type.to_lowercase().contains("utf-8"));
    let body = r.text().await.unwrap();
    assert!(body.contains(&ms_root(&["Office", "Repl"])), "{body}");
    assert!(
        !body.contains("xmlns=\""),
        "nothing in the default namespace: {body}"
    );
    let ms = Multistatus::parse(&body);
    assert_eq!(ms.hrefs(), [DOC]);
    let r0 = ms.response(DOC);
    let text = |ns: &str, name: &str| {
        let p = r0
            .prop(ns, name)
            .unwrap_or_else(|| panic!("{name} in {body}"));
        assert_eq!(p.status, 200, "{name}");
        p.text.clone()
    };
    assert_eq!(text(DAV, "getcontentlength"), "12345");
    assert_eq!(text(DAV, "getlastmodified"), modified);
    assert_eq!(text(DAV, "getetag"), etag);
    assert_eq!(text(DAV, "resourcetype"), "");
    assert_eq!(
        r0.prop(DAV, "supportedlock")
            .unwrap()
            .element_children
            .len(),
        2
    );
    assert!(
        r0.prop(DAV, "lockdiscovery")
            .unwrap()
            .element_children
            .is_empty()
    );
    assert_eq!(text(DAV, "iscollection"), "0");
    assert_eq!(text(DAV, "isFolder"), "f");
    assert_eq!(text(DAV, "ishidden"), "0");
    assert_eq!(text(REPL, "repl-uid"), format!("rid:{{{}}}", tag.guid));
    assert_eq!(text(REPL, "resourcetag"), tag.to_string());
    assert_eq!(text(OFFICE, "modifiedby"), "anonymous", "no authentication");

    // Step 3: LOCK (the seed's body, with the mini-redirector's Timeout and no Depth).
    let r = s
        .request("LOCK", DOC)
        .header("Content-Type", "application/xml; charset=\"utf-8\"")
        .header("Timeout", "Second-3600")
        .body(SEED_LOCKINFO)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "200 for an existing resource");
    let coded = header(&r, "lock-token").unwrap();
    assert!(coded.starts_with('<') && coded.ends_with('>'), "{coded}");
    let token = coded.trim_matches(|c| c == '<' || c == '>').to_owned();
    let body = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap();
    let dav = |name: &str| {
        doc.descendants()
            .find(|n| n.tag_name().name() == name && n.tag_name().namespace() == Some(DAV))
            .unwrap_or_else(|| panic!("{name} in {body}"))
    };
    assert!(dav("activelock").is_element());
    assert!(dav("write").is_element() && dav("exclusive").is_element());
    assert_eq!(dav("depth").text(), Some("infinity"));
    assert_eq!(dav("timeout").text(), Some("Second-3600"));
    let href = |n: roxmltree::Node| n.first_element_child().unwrap().text().unwrap().to_owned();
    assert_eq!(href(dav("owner")), "mailto:user@example.com");
    assert_eq!(href(dav("locktoken")), token);
    assert_eq!(href(dav("lockroot")), DOC);
    let r = s
        .request("LOCK", DOC)
        .header("Timeout", "Second-3600")
        .body(WORD_LOCKINFO)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::LOCKED,
        "another client cannot lock it too"
    );

    // Step 4: GET.
    for translate in [None, Some("f")] {
        let mut request = s.request("GET", DOC);
        if let Some(t) = translate {
            request = request.header("translate", t);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-length").as_deref(), Some("12345"));
        assert_eq!(header(&r, "content-type").as_deref(), Some(DOCX));
        assert_eq!(header(&r, "etag").unwrap(), etag);
        assert_eq!(header(&r, "last-modified").unwrap(), modified);
        assert_eq!(resource_tag(&r), tag);
        assert_eq!(header(&r, "lock-token"), None);
        assert_eq!(r.bytes().await.unwrap().to_vec(), fixture());
    }

    // Step 5: save with the lock token.
    let saved: Vec<u8> = fixture().into_iter().rev().collect();
    let r = s
        .request("PUT", DOC)
        .header("Content-Type", DOCX)
        .header("If", format!("(<{token}>)"))
        .body(saved.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "not 201: the document exists"
    );
    let after = resource_tag(&r);
    assert_eq!(after.guid, tag.guid);
    assert_eq!(after.version, tag.version + 1);
    assert_eq!(
        header(&r, "repl-uid").unwrap(),
        format!("rid:{{{}}}", tag.guid)
    );
    assert_ne!(header(&r, "etag").unwrap(), etag);
    let r = s.get(DOC).await;
    assert_eq!(resource_tag(&r), after);
    assert_eq!(r.bytes().await.unwrap().to_vec(), saved);

    // Step 6: UNLOCK.
    let r = s
        .request("UNLOCK", DOC)
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, body) = s.propfind(DOC, "0", "").await;
    let ms = Multistatus::parse(&body);
    assert!(
        ms.response(DOC)
            .prop(DAV, "lockdiscovery")
            .unwrap()
            .element_children
            .is_empty()
    );
    assert_eq!(
        s.put(DOC, "unlocked save").await.status(),
        StatusCode::NO_CONTENT
    );
}

/// Step 5's variants: the MS-WDV Lock-Token header, no token at all, a stale ResourceTag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_variants() {
    let s = server_with_document().await;
    let r = s
        .request("LOCK", DOC)
        .header("Timeout", "Second-3600")
        .body(WORD_LOCKINFO)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = header(&r, "lock-token").unwrap();
    let token = token.trim_matches(|c| c == '<' || c == '>');
    let before = resource_tag(&s.get(DOC).await);

    // (a) Lock-Token instead of If.
    let r = s
        .request("PUT", DOC)
        .header("Lock-Token", format!("<{token}>"))
        .body("a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(resource_tag(&r).version, before.version + 1);
    assert_eq!(
        std::fs::read(s.root().join("path/to/document.docx")).unwrap(),
        b"a"
    );

    // (b) no token: 423 naming the lock root, with the Windows error number.
    let r = s.request("PUT", DOC).body("b").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    assert!(
        header(&r, "x-msdavext_error")
            .unwrap()
            .starts_with("589838; ")
    );
    let body = r.text().await.unwrap();
    assert!(
        body.contains(&format!(
            "<D:lock-token-submitted><D:href>{DOC}</D:href></D:lock-token-submitted></D:error>"
        )),
        "{body}"
    );

    // (c) a stale ResourceTag with the lock token: 412.
    let stale = Tag {
        version: before.version,
        ..before.clone()
    };
    for (if_header, lock_token) in [
        (format!("(<{stale}>)"), Some(format!("<{token}>"))),
        (format!("(<{stale}> <{token}>)"), None),
    ] {
        let mut request = s.request("PUT", DOC).header("If", if_header);
        if let Some(t) = lock_token {
            request = request.header("Lock-Token", t);
        }
        let r = request.body("c").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    }
    assert_eq!(
        std::fs::read(s.root().join("path/to/document.docx")).unwrap(),
        b"a"
    );
}

/// Step 7: Word's owner file `~$document.docx`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_owner_file() {
    let s = server_with_document().await;
    let owner = "/path/to/~%24document.docx";
    let (status, _) = s.propfind(owner, "0", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        s.put(owner, "computerid/user").await.status(),
        StatusCode::CREATED
    );
    assert!(s.root().join("path/to/~$document.docx").exists());
    let token = s.lock(owner, "0").await;
    // Both spellings name the same resource.
    let (status, body) = s.propfind("/path/to/%7E%24document.docx", "0", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let ms = Multistatus::parse(&body);
    assert_eq!(ms.responses[0].prop(DAV, "ishidden").unwrap().text, "0");
    assert_eq!(
        ms.responses[0]
            .prop(DAV, "lockdiscovery")
            .unwrap()
            .element_children
            .len(),
        1
    );
    let r = s
        .request("UNLOCK", owner)
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.delete(owner).await.status(), StatusCode::NO_CONTENT);
    assert!(!s.root().join("path/to/~$document.docx").exists());
}

/// Step 8: the same open and save through a mapped drive, with the MS-WDV extensions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mini_redirector_open_and_save() {
    let s = server_with_document().await;
    let agent = "Microsoft-WebDAV-MiniRedir/10.0.19045";
    let r = s
        .request("GET", DOC)
        .header("translate", "f")
        .header("User-Agent", agent)
        .header("X-MSDAVEXT", "PROPFIND")
        .header("X-MSDAVEXTLockTimeout", "Second-3600")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("multipart/MSDAVEXTPrefixEncoded")
    );
    let token = header(&r, "lock-token").unwrap();
    assert!(
        !token.starts_with('<'),
        "bare token, as MS-WDV 4.5: {token}"
    );
    assert_eq!(
        header(&r, "x-msdavextlocktimeout").as_deref(),
        Some("Second-3600")
    );
    let (xml, content) = split_prefixed(&r.bytes().await.unwrap());
    assert_eq!(content, fixture());
    let ms = Multistatus::parse(&xml);
    let lockdiscovery = ms.response(DOC).prop(DAV, "lockdiscovery").unwrap();
    assert_eq!(
        lockdiscovery.element_children,
        [(DAV.to_owned(), "activelock".to_owned())]
    );
    assert!(xml.contains(&token));

    let r = s
        .request("PUT", DOC)
        .header("translate", "f")
        .header("User-Agent", agent)
        .header("X-MSDAVEXT", "PROPPATCH")
        .header("Content-Type", "multipart/MSDAVEXTPrefixEncoded")
        .header("Lock-Token", token.clone())
        .header("X-MSDAVEXTLockTimeout", "Second-0")
        .body(SPEC_VECTOR)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&r, "lock-token"),
        None,
        "unlocked: no token to hand back"
    );
    assert_eq!(header(&r, "x-msdavextlocktimeout"), None);
    assert_eq!(
        std::fs::read(s.root().join("path/to/document.docx")).unwrap(),
        b"this is a text file"
    );
    let (_, body) = s.propfind(DOC, "0", "").await;
    let ms = Multistatus::parse(&body);
    let r0 = ms.response(DOC);
    assert!(
        r0.prop(DAV, "lockdiscovery")
            .unwrap()
            .element_children
            .is_empty()
    );
    assert_eq!(r0.prop(Z, "Win32FileAttributes").unwrap().text, "00000020");
    assert_eq!(
        r0.prop(Z, "Win32CreationTime").unwrap().text,
        "Wed, 20 Jun 2007 20:29:23 GMT"
    );
}
