//! The properties Microsoft clients read and write (MS-WDVME 2.2.9, 2.2.10, 3.2.5.6).
#![allow(clippy::unwrap_used)]

use davd_tests::ms::{OFFICE, REPL, Z, header, ms_root, resource_tag};
use davd_tests::{Multistatus, TestServer};
use reqwest::StatusCode;

const DAV: &str = "DAV:";

async fn allprop(s: &TestServer, path: &str) -> String {
    let (status, body) = s.propfind(path, "0", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allprop_of_a_file() {
    let s = TestServer::start().await;
    s.put("/a.txt", "hello").await;
    let tag = resource_tag(&s.get("/a.txt").await);
    let body = allprop(&s, "/a.txt").await;
    // Office's and Repl's properties are live ones every allprop shows; Z's are dead ones.
    assert!(body.contains(&ms_root(&["Office", "Repl"])), "{body}");
    assert!(!body.contains("urn:davd:internal"), "{body}");
    let ms = Multistatus::parse(&body);
    let r = ms.response("/a.txt");
    let text = |ns: &str, name: &str| {
        let p = r.prop(ns, name).unwrap_or_else(|| panic!("{name}: {body}"));
        assert_eq!(p.status, 200);
        p.text.clone()
    };
    assert_eq!(text(DAV, "iscollection"), "0");
    assert_eq!(text(DAV, "isFolder"), "f");
    assert_eq!(text(DAV, "ishidden"), "0");
    assert_eq!(text(REPL, "resourcetag"), tag.to_string());
    assert_eq!(text(REPL, "repl-uid"), format!("rid:{{{}}}", tag.guid));
    assert_eq!(
        text(OFFICE, "modifiedby"),
        "anonymous",
        "the anonymous principal without authentication"
    );
    assert!(r.prop(REPL, "authoritative-directory").is_none());
    // Prefixed as Office expects, never by the namespace URI.
    assert!(body.contains("<Repl:resourcetag>rt:"), "{body}");
    assert!(body.contains("<D:isFolder>f</D:isFolder>"), "{body}");
    assert!(
        body.contains("<Office:modifiedby>anonymous</Office:modifiedby>"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allprop_of_a_collection_and_named_properties() {
    let s = TestServer::start().await;
    s.mkcol("/dir").await;
    let body = allprop(&s, "/dir/").await;
    let ms = Multistatus::parse(&body);
    let r = ms.response("/dir/");
    assert_eq!(r.prop(DAV, "iscollection").unwrap().text, "1");
    assert_eq!(r.prop(DAV, "isFolder").unwrap().text, "t");
    assert_eq!(r.prop(REPL, "authoritative-directory").unwrap().text, "t");
    assert!(
        r.prop(REPL, "resourcetag")
            .unwrap()
            .text
            .ends_with("@00000000001")
    );
    s.put("/dir/f", "x").await;
    let (_, body) = s
        .propfind(
            "/dir/",
            "1",
            r#"<D:propfind xmlns:D="DAV:" xmlns:Repl="http://schemas.microsoft.com/repl/"><D:prop><Repl:authoritative-directory/><D:isFolder/></D:prop></D:propfind>"#,
        )
        .await;
    assert!(body.contains(&ms_root(&["Repl"])), "{body}");
    let ms = Multistatus::parse(&body);
    assert_eq!(
        ms.response("/dir/f")
            .status_of(REPL, "authoritative-directory"),
        Some(404)
    );
    assert_eq!(
        ms.response("/dir/f").prop(DAV, "isFolder").unwrap().text,
        "f"
    );
    assert_eq!(
        ms.response("/dir/")
            .prop(REPL, "authoritative-directory")
            .unwrap()
            .text,
        "t"
    );
}

/// Issue 20: RFC 4918 §9.1's allprop is the dead properties and the RFC's live ones. Office
/// reads the Microsoft live properties from the Depth 0 allprop of the document it opens, so a
/// single resource's allprop keeps them; in a listing (Depth 1 or infinity) they are returned
/// only when named, and the dead `Z:Win32*` ones as every dead property.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_allprop_has_the_microsoft_properties_only_when_named() {
    let s = TestServer::start().await;
    s.mkcol("/dir").await;
    s.put("/dir/a.txt", "hello").await;
    let (status, _) = s
        .proppatch("/dir/a.txt", &explorer_proppatch("00000020"))
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let extensions = [
        (DAV, "iscollection"),
        (DAV, "isFolder"),
        (DAV, "ishidden"),
        (REPL, "repl-uid"),
        (REPL, "resourcetag"),
        (REPL, "authoritative-directory"),
        (OFFICE, "modifiedby"),
    ];
    for depth in ["1", "infinity"] {
        for body in [
            "",
            r#"<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#,
        ] {
            let (status, text) = s.propfind("/dir/", depth, body).await;
            assert_eq!(status, StatusCode::MULTI_STATUS, "{text}");
            let ms = Multistatus::parse(&text);
            for href in ["/dir/", "/dir/a.txt"] {
                let r = ms.response(href);
                for (ns, name) in extensions {
                    assert!(r.prop(ns, name).is_none(), "{name} of {href}: {text}");
                }
                for name in [
                    "getetag",
                    "getlastmodified",
                    "resourcetype",
                    "supportedlock",
                ] {
                    assert_eq!(r.status_of(DAV, name), Some(200), "{name} of {href}");
                }
            }
            let a = ms.response("/dir/a.txt");
            assert_eq!(a.prop(Z, "Win32FileAttributes").unwrap().text, "00000020");
            assert_eq!(a.prop(DAV, "getcontentlength").unwrap().text, "5");
        }
    }
    // Named in allprop's include or in prop, they are there, with the values Depth 0 shows.
    let tag = resource_tag(&s.get("/dir/a.txt").await);
    let (_, text) = s
        .propfind(
            "/dir/",
            "1",
            r#"<D:propfind xmlns:D="DAV:" xmlns:R="http://schemas.microsoft.com/repl/"><D:allprop/><D:include><R:resourcetag/><D:isFolder/></D:include></D:propfind>"#,
        )
        .await;
    let ms = Multistatus::parse(&text);
    let a = ms.response("/dir/a.txt");
    assert_eq!(a.prop(REPL, "resourcetag").unwrap().text, tag.to_string());
    assert_eq!(a.prop(DAV, "isFolder").unwrap().text, "f");
    assert!(a.prop(REPL, "repl-uid").is_none(), "{text}");
    assert_eq!(
        ms.response("/dir/").prop(DAV, "isFolder").unwrap().text,
        "t"
    );
    let (_, text) = s
        .propfind(
            "/dir/",
            "1",
            r#"<D:propfind xmlns:D="DAV:" xmlns:O="urn:schemas-microsoft-com:office:office"><D:prop><O:modifiedby/><D:ishidden/></D:prop></D:propfind>"#,
        )
        .await;
    let ms = Multistatus::parse(&text);
    let a = ms.response("/dir/a.txt");
    assert_eq!(a.prop(OFFICE, "modifiedby").unwrap().text, "anonymous");
    assert_eq!(a.prop(DAV, "ishidden").unwrap().text, "0");
    // Depth 0 of the same resources: all of them (Office's handshake, `allprop_of_a_file`).
    for href in ["/dir/", "/dir/a.txt"] {
        let body = allprop(&s, href).await;
        let ms = Multistatus::parse(&body);
        let r = ms.response(href);
        for (ns, name) in extensions {
            if name == "authoritative-directory" && href == "/dir/a.txt" {
                continue; // collections only
            }
            assert_eq!(r.status_of(ns, name), Some(200), "{name} of {href}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_properties_are_protected() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    for (ns, prefix, name) in [
        (DAV, "D", "iscollection"),
        (DAV, "D", "isFolder"),
        (DAV, "D", "ishidden"),
        (REPL, "Repl", "repl-uid"),
        (REPL, "Repl", "resourcetag"),
        (REPL, "Repl", "authoritative-directory"),
        (OFFICE, "Office", "modifiedby"),
    ] {
        let declare = match prefix {
            "D" => String::new(),
            _ => format!(r#" xmlns:{prefix}="{ns}""#),
        };
        let body = format!(
            r#"<D:propertyupdate xmlns:D="DAV:"{declare}><D:set><D:prop><{prefix}:{name}>1</{prefix}:{name}><z:other xmlns:z="urn:z">v</z:other></D:prop></D:set></D:propertyupdate>"#
        );
        let (status, text) = s.proppatch("/f", &body).await;
        assert_eq!(status, StatusCode::MULTI_STATUS);
        let declared: &[&str] = match prefix {
            "D" => &[],
            other => &[other],
        };
        assert!(text.contains(&ms_root(declared)), "{text}");
        let ms = Multistatus::parse(&text);
        assert_eq!(ms.responses[0].status_of(ns, name), Some(403), "{name}");
        assert_eq!(ms.responses[0].status_of("urn:z", "other"), Some(424));
        assert!(text.contains("cannot-modify-protected-property"));
    }
    let (_, body) = s
        .propfind(
            "/f",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><z:other xmlns:z="urn:z"/></D:prop></D:propfind>"#,
        )
        .await;
    assert_eq!(
        Multistatus::parse(&body).responses[0].status_of("urn:z", "other"),
        Some(404),
        "nothing was applied"
    );
}

/// The PROPPATCH Windows Explorer sends after an upload (9001/copyparty#910).
fn explorer_proppatch(attributes: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:">
    <D:set>
        <D:prop>
            <Z:Win32CreationTime>Thu, 09 Oct 2025 17:54:43 GMT</Z:Win32CreationTime>
            <Z:Win32LastAccessTime>Thu, 09 Oct 2025 17:55:31 GMT</Z:Win32LastAccessTime>
            <Z:Win32LastModifiedTime>Thu, 09 Oct 2025 17:54:43 GMT</Z:Win32LastModifiedTime>
            <Z:Win32FileAttributes>{attributes}</Z:Win32FileAttributes>
        </D:prop>
    </D:set>
</D:propertyupdate>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn win32_properties_on_files_and_collections() {
    let s = TestServer::start().await;
    s.put("/test.txt", "x").await;
    s.mkcol("/folder").await;
    for (path, href, attributes, hidden) in [
        ("/test.txt", "/test.txt", "00000020", "0"),
        ("/folder/", "/folder/", "00000012", "1"),
        ("/folder", "/folder/", "00000016", "1"),
        ("/test.txt", "/test.txt", "not hex at all", "0"),
    ] {
        let (status, text) = s.proppatch(path, &explorer_proppatch(attributes)).await;
        assert_eq!(status, StatusCode::MULTI_STATUS);
        assert!(text.contains(&ms_root(&["Z"])), "{text}");
        let ms = Multistatus::parse(&text);
        for name in [
            "Win32CreationTime",
            "Win32LastAccessTime",
            "Win32LastModifiedTime",
            "Win32FileAttributes",
        ] {
            assert_eq!(ms.responses[0].status_of(Z, name), Some(200), "{name}");
            assert!(text.contains(&format!("<Z:{name}/>")), "{text}");
        }
        let body = allprop(&s, path).await;
        let ms = Multistatus::parse(&body);
        let r = ms.response(href);
        assert_eq!(
            r.prop(Z, "Win32CreationTime").unwrap().text,
            "Thu, 09 Oct 2025 17:54:43 GMT"
        );
        assert_eq!(
            r.prop(Z, "Win32LastAccessTime").unwrap().text,
            "Thu, 09 Oct 2025 17:55:31 GMT"
        );
        assert_eq!(r.prop(Z, "Win32FileAttributes").unwrap().text, attributes);
        assert_eq!(
            r.prop(DAV, "ishidden").unwrap().text,
            hidden,
            "{attributes}"
        );
    }
    // Removable like any dead property; the hidden flag follows.
    let (status, _) = s
        .proppatch(
            "/folder/",
            r#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:remove><D:prop><Z:Win32FileAttributes/></D:prop></D:remove></D:propertyupdate>"#,
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let ms = Multistatus::parse(&allprop(&s, "/folder/").await);
    assert_eq!(
        ms.response("/folder/").prop(DAV, "ishidden").unwrap().text,
        "0"
    );
    assert!(
        ms.response("/folder/")
            .prop(Z, "Win32FileAttributes")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn win32_properties_on_a_locked_file() {
    let s = TestServer::start().await;
    s.put("/locked.txt", "x").await;
    let token = s.lock("/locked.txt", "0").await;
    // Only Win32 properties: the lock's owner needs no token (Office saves that way; the rule
    // with authentication is in client_office.rs).
    let (status, _) = s
        .proppatch("/locked.txt", &explorer_proppatch("00000020"))
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    // Anything more, and the token is needed.
    let (status, _) = s
        .proppatch(
            "/locked.txt",
            r#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes><D:displayname>x</D:displayname></D:prop></D:set></D:propertyupdate>"#,
        )
        .await;
    assert_eq!(status, StatusCode::LOCKED);
    let r = s
        .request("PROPPATCH", "/locked.txt")
        .header("If", format!("(<{token}>)"))
        .body(explorer_proppatch("00000020"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let ms = Multistatus::parse(&r.text().await.unwrap());
    assert_eq!(
        ms.responses[0].status_of(Z, "Win32FileAttributes"),
        Some(200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_folder_type_must_be_a_32_bit_integer() {
    let s = TestServer::start().await;
    s.mkcol("/docs").await;
    let set = |value: &str| {
        format!(
            r#"<D:propertyupdate xmlns:D="DAV:" xmlns:Office="urn:schemas-microsoft-com:office:office" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32FileAttributes>00000010</Z:Win32FileAttributes><Office:specialFolderType>{value}</Office:specialFolderType></D:prop></D:set></D:propertyupdate>"#
        )
    };
    for bad in ["abc", "", "1.5", "0x10", "4294967296", "-2147483649"] {
        let (status, text) = s.proppatch("/docs/", &set(bad)).await;
        assert_eq!(status, StatusCode::MULTI_STATUS);
        let ms = Multistatus::parse(&text);
        assert_eq!(
            ms.responses[0].status_of(OFFICE, "specialFolderType"),
            Some(409),
            "{bad:?}"
        );
        assert_eq!(
            ms.responses[0].status_of(Z, "Win32FileAttributes"),
            Some(424)
        );
    }
    let ms = Multistatus::parse(&allprop(&s, "/docs/").await);
    assert!(
        ms.response("/docs/")
            .prop(Z, "Win32FileAttributes")
            .is_none()
    );
    assert!(
        ms.response("/docs/")
            .prop(OFFICE, "specialFolderType")
            .is_none()
    );
    for good in ["5", "-2147483648", "4294967295"] {
        let (_, text) = s.proppatch("/docs/", &set(good)).await;
        let ms = Multistatus::parse(&text);
        assert_eq!(
            ms.responses[0].status_of(OFFICE, "specialFolderType"),
            Some(200)
        );
        let ms = Multistatus::parse(&allprop(&s, "/docs/").await);
        assert_eq!(
            ms.response("/docs/")
                .prop(OFFICE, "specialFolderType")
                .unwrap()
                .text,
            good
        );
    }
    let (_, text) = s
        .proppatch(
            "/docs/",
            r#"<D:propertyupdate xmlns:D="DAV:"><D:remove><D:prop><o:specialFolderType xmlns:o="urn:schemas-microsoft-com:office:office"/></D:prop></D:remove></D:propertyupdate>"#,
        )
        .await;
    assert_eq!(
        Multistatus::parse(&text).responses[0].status_of(OFFICE, "specialFolderType"),
        Some(200)
    );
    let ms = Multistatus::parse(&allprop(&s, "/docs/").await);
    assert!(
        ms.response("/docs/")
            .prop(OFFICE, "specialFolderType")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn davd_bookkeeping_is_invisible_and_untouchable() {
    let s = TestServer::start().await;
    s.put("/f", "x").await;
    let internal = r#"<i:document xmlns:i="urn:davd:internal:"/>"#;
    let (_, body) = s
        .propfind(
            "/f",
            "0",
            &format!(r#"<D:propfind xmlns:D="DAV:"><D:prop>{internal}</D:prop></D:propfind>"#),
        )
        .await;
    assert_eq!(
        Multistatus::parse(&body).responses[0].status_of("urn:davd:internal:", "document"),
        Some(404)
    );
    let (_, body) = s
        .propfind(
            "/f",
            "0",
            r#"<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#,
        )
        .await;
    assert!(!body.contains("urn:davd:internal"), "{body}");
    let tag = resource_tag(&s.get("/f").await);
    for update in [
        r#"<D:set><D:prop><i:document xmlns:i="urn:davd:internal:">1;0;9;;</i:document></D:prop></D:set>"#.to_owned(),
        format!("<D:remove><D:prop>{internal}</D:prop></D:remove>"),
    ] {
        let (_, text) = s
            .proppatch(
                "/f",
                &format!(r#"<D:propertyupdate xmlns:D="DAV:">{update}</D:propertyupdate>"#),
            )
            .await;
        assert_eq!(
            Multistatus::parse(&text).responses[0].status_of("urn:davd:internal:", "document"),
            Some(403)
        );
    }
    assert_eq!(
        resource_tag(&s.get("/f").await),
        tag,
        "the record is unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_mini_redirectors_get_no_activelock_in_propfind() {
    let s = TestServer::start().await;
    s.put("/doc", "x").await;
    s.lock("/doc", "0").await;
    let lockdiscovery = |agent: &'static str| {
        let s = &s;
        async move {
            let r = s
                .request("PROPFIND", "/doc")
                .header("Depth", "0")
                .header("User-Agent", agent)
                .body(r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#)
                .send()
                .await
                .unwrap();
            let body = r.text().await.unwrap();
            let ms = Multistatus::parse(&body);
            let p = ms.responses[0].prop(DAV, "lockdiscovery").unwrap().clone();
            assert_eq!(p.status, 200);
            p.element_children.len()
        }
    };
    for old in [
        "Microsoft-WebDAV-MiniRedir/5.1.2600",
        "Microsoft-WebDAV-MiniRedir/5.2.3717",
    ] {
        assert_eq!(lockdiscovery(old).await, 0, "{old}");
    }
    for new in [
        "Microsoft-WebDAV-MiniRedir/5.2.3718",
        "Microsoft-WebDAV-MiniRedir/5.2.3718.0",
        "Microsoft-WebDAV-MiniRedir/5.2.3790",
        "Microsoft-WebDAV-MiniRedir/10.0.19045",
        "Microsoft-WebDAV-MiniRedir",
        "DavClnt",
    ] {
        assert_eq!(lockdiscovery(new).await, 1, "{new}");
    }
    // The LOCK response keeps its activelock whatever the agent (RFC 4918 requires it).
    s.put("/other", "x").await;
    let r = s
        .request("LOCK", "/other")
        .header("User-Agent", "Microsoft-WebDAV-MiniRedir/5.1.2600")
        .body(davd_tests::LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "lock-token").is_some());
    assert!(r.text().await.unwrap().contains("<D:activelock>"));
}
