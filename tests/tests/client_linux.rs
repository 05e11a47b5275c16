//! Linux and sync clients: rclone, davfs2, cadaver (issue 10, items 17 to 19; docs/clients.md).
//! `scripts/clients-test.sh` runs the real rclone and cadaver against the binary; these tests
//! replay their requests (and davfs2's, which needs a kernel mount) at the HTTP level.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use davd_tests::clients::{CADAVER, DAVFS2, RCLONE, sorted_hrefs};
use davd_tests::ms::header;
use davd_tests::{Multistatus, TestServer, lock_token};
use percent_encoding::{
    AsciiSet, CONTROLS, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode,
};
use reqwest::StatusCode;

const DAV: &str = "DAV:";

/// What rclone asks for when it lists a directory.
const RCLONE_LIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns"><d:prop><d:displayname/><d:getlastmodified/><d:getcontentlength/><d:resourcetype/><d:getcontenttype/><oc:checksums/><oc:permissions/></d:prop></d:propfind>"#;

/// What davfs2 asks for when it lists a directory.
const DAVFS2_LIST: &str = r#"<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop><getlastmodified xmlns="DAV:"/><getcontentlength xmlns="DAV:"/><resourcetype xmlns="DAV:"/><getetag xmlns="DAV:"/><executable xmlns="http://apache.org/dav/props/"/></prop></propfind>"#;

/// neon (davfs2, cadaver) escapes everything but the unreserved characters.
const NEON: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Go's `url.URL` (rclone) leaves the sub-delimiters `$&+,;=` and `:@` alone.
const GO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'\'')
    .add(b'!')
    .add(b'(')
    .add(b')')
    .add(b'*');

/// The names item 18 is about: `%`, `+`, `#`, `?`, spaces, non-Latin scripts.
const AWKWARD: [&str; 10] = [
    "100% done.txt",
    "%25 literally.txt",
    "a+b=c.txt",
    "C# notes.txt",
    "why?.txt",
    "  spaced  out  .txt",
    "日本語のファイル.txt",
    "Ελληνικά κείμενα.txt",
    "русский текст.txt",
    "emoji 😀 & more;.txt",
];

fn encode(name: &str, set: &'static AsciiSet) -> String {
    utf8_percent_encode(name, set).to_string()
}

/// Item 17: rclone lists and reads a file right after its PUT answered, while other listings
/// run; a listing never shows a file half written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rclone_file_is_visible_the_moment_its_put_answers() {
    let s = Arc::new(TestServer::start().await);
    assert_eq!(s.mkcol("/sync/").await.status(), StatusCode::CREATED);
    let done = Arc::new(AtomicBool::new(false));
    let lister = {
        let (s, done) = (s.clone(), done.clone());
        tokio::spawn(async move {
            let mut listings = 0;
            while !done.load(Ordering::Relaxed) {
                let r = s
                    .request("PROPFIND", "/sync/")
                    .header("Depth", "1")
                    .header("User-Agent", RCLONE)
                    .body(RCLONE_LIST)
                    .send()
                    .await
                    .unwrap();
                let ms = Multistatus::parse(&r.text().await.unwrap());
                for r in ms.responses.iter().filter(|r| r.href != "/sync/") {
                    let i: usize = r.href["/sync/file-".len()..].parse().unwrap();
                    let length = &r.prop(DAV, "getcontentlength").unwrap().text;
                    assert_eq!(length, &(1000 + i).to_string(), "{} half written", r.href);
                }
                listings += 1;
            }
            listings
        })
    };
    for i in 0..60usize {
        let path = format!("/sync/file-{i}");
        let content = vec![b'a' + (i % 26) as u8; 1000 + i];
        let r = s
            .request("PUT", &path)
            .header("User-Agent", RCLONE)
            .header("Content-Type", "application/octet-stream")
            .body(content.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = s
            .request("PROPFIND", "/sync/")
            .header("Depth", "1")
            .header("User-Agent", RCLONE)
            .body(RCLONE_LIST)
            .send()
            .await
            .unwrap();
        let ms = Multistatus::parse(&r.text().await.unwrap());
        assert_eq!(ms.responses.len(), i + 2, "listed at once");
        let listed = ms.response(&path);
        assert_eq!(
            listed.prop(DAV, "getcontentlength").unwrap().text,
            content.len().to_string()
        );
        let r = s.get(&path).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap(), content);
    }
    done.store(true, Ordering::Relaxed);
    assert!(lister.await.unwrap() > 0);
}

/// Item 18: names with `%`, `+`, `#`, `?`, spaces and non-Latin scripts round-trip whether
/// they arrive escaped as neon escapes them (davfs2, cadaver) or as Go does (rclone): the
/// listing's hrefs decode, without turning `+` into a space, to exactly the name, and work as
/// URLs again; MOVE destinations with such names work too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn davfs2_rclone_and_cadaver_names_round_trip() {
    let s = TestServer::start().await;
    for (client, set, agent) in [("neon", NEON, DAVFS2), ("go", GO, RCLONE)] {
        let dir = format!("/{client} dir + ü #1");
        let dir_url = format!("/{}/", encode(&dir[1..], set));
        let r = s
            .request("MKCOL", &dir_url)
            .header("User-Agent", agent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{dir_url}");
        for name in AWKWARD {
            let url = format!("{dir_url}{}", encode(name, set));
            let r = s
                .request("PUT", &url)
                .header("User-Agent", agent)
                .body(name.to_owned())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED, "PUT {url}");
            assert_eq!(
                std::fs::read_to_string(s.root().join(&dir[1..]).join(name)).unwrap(),
                name
            );
        }
        let r = s
            .request("PROPFIND", &dir_url)
            .header("Depth", "1")
            .header("User-Agent", agent)
            .body(if client == "go" {
                RCLONE_LIST
            } else {
                DAVFS2_LIST
            })
            .send()
            .await
            .unwrap();
        let ms = Multistatus::parse(&r.text().await.unwrap());
        let mut names: Vec<String> = Vec::new();
        for r in &ms.responses {
            let decoded = percent_decode_str(&r.href).decode_utf8().unwrap();
            assert!(
                decoded.starts_with(&format!("{dir}/")),
                "{} in {dir}",
                r.href
            );
            let name = &decoded[dir.len() + 1..];
            if !name.is_empty() {
                names.push(name.to_owned());
                // The href works as a URL as it stands.
                let got = s.get(&r.href).await;
                assert_eq!(got.status(), StatusCode::OK, "{}", r.href);
                assert_eq!(got.text().await.unwrap(), name);
            }
        }
        names.sort();
        let mut expected: Vec<String> = AWKWARD.iter().map(|n| n.to_string()).collect();
        expected.sort();
        assert_eq!(names, expected);
        // Renamed to another awkward name (cadaver `move`, rclone `moveto`).
        let from = format!("{dir_url}{}", encode(AWKWARD[0], set));
        let to = format!("{dir_url}{}", encode("moved? 100%+ #done ✓.txt", set));
        let r = s
            .request("MOVE", &from)
            .header("User-Agent", agent)
            .header("Destination", s.url(&to))
            .header("Overwrite", "T")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "MOVE {from} {to}");
        assert_eq!(s.get(&to).await.text().await.unwrap(), AWKWARD[0]);
        assert_eq!(s.get(&from).await.status(), StatusCode::NOT_FOUND);
        // And read back through the other client's escaping.
        let other = if client == "go" { NEON } else { GO };
        let url = format!(
            "/{}/{}",
            encode(&dir[1..], other),
            encode(AWKWARD[3], other)
        );
        assert_eq!(s.get(&url).await.text().await.unwrap(), AWKWARD[3]);
    }
}

/// Item 19: `Depth: infinity` PROPFIND (rclone's and other sync clients' full scans) is allowed
/// by default and streamed: no Content-Length, chunks as the walk goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_clients_depth_infinity_propfind_is_allowed_and_streamed() {
    let s = TestServer::start().await;
    let mut expected = vec!["/tree/".to_owned()];
    s.mkcol("/tree").await;
    for a in 0..5 {
        s.mkcol(&format!("/tree/d{a}")).await;
        expected.push(format!("/tree/d{a}/"));
        for b in 0..4 {
            s.mkcol(&format!("/tree/d{a}/e{b}")).await;
            expected.push(format!("/tree/d{a}/e{b}/"));
            for c in 0..10 {
                s.put(&format!("/tree/d{a}/e{b}/f{c}.txt"), "x").await;
                expected.push(format!("/tree/d{a}/e{b}/f{c}.txt"));
            }
        }
    }
    expected.sort();
    let r = s
        .request("PROPFIND", "/tree/")
        .header("Depth", "infinity")
        .header("User-Agent", RCLONE)
        .body(RCLONE_LIST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    assert_eq!(header(&r, "content-length"), None, "streamed");
    assert_eq!(header(&r, "transfer-encoding").as_deref(), Some("chunked"));
    let body = r.text().await.unwrap();
    assert_eq!(sorted_hrefs(&body), expected);
}

/// davfs2 (`scripts/clients-test.sh` mounts it where the machine allows): create, write,
/// rename and delete a file as `echo >`, `mv` and `rm` on a davfs2 1.6 mount send them, with
/// `use_locks 1`: neon's lower-case escapes, a tagged If header naming the file, If-Match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn davfs2_replay_create_write_rename_delete() {
    let s = TestServer::start().await;
    let req = |method: &str, path: &str| s.request(method, path).header("User-Agent", DAVFS2);
    let lockinfo = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<lockinfo xmlns='DAV:'>\n <lockscope><exclusive/></lockscope>\n<locktype><write/></locktype><owner>root</owner></lockinfo>";
    s.mkcol("/sub").await;
    // Mount: OPTIONS, the root's members, quota.
    let r = req("OPTIONS", "/").send().await.unwrap();
    assert!(header(&r, "dav").unwrap().contains('2'));
    let r = req("PROPFIND", "/")
        .header("Depth", "1")
        .body(DAVFS2_LIST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    // `echo > "a+b #1 100%?.txt"`: a LOCK creates the file, then PUT under the lock.
    let url = "/a%2bb%20%231%20100%25%3f.txt";
    let r = req("LOCK", url)
        .header("Timeout", "Second-1800")
        .header("Depth", "0")
        .header("Content-Type", "application/xml")
        .body(lockinfo)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = lock_token(&r);
    let r = req("HEAD", url).send().await.unwrap();
    let etag = header(&r, "etag").unwrap();
    let r = req("PUT", url)
        .header("If-Match", &etag)
        .header("If", format!("<{}> (<{token}>)", s.url(url)))
        .body("written by davfs2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let new_etag = header(&r, "etag").unwrap();
    assert_ne!(new_etag, etag);
    assert_eq!(
        std::fs::read_to_string(s.root().join("a+b #1 100%?.txt")).unwrap(),
        "written by davfs2"
    );
    // Its cache revalidates with the entity tag; the lock is refreshed while the file is open.
    let r = req("GET", url)
        .header("If-None-Match", &new_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = req("LOCK", url)
        .header("Timeout", "Second-1800")
        .header("If", format!("(<{token}>)"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = req("UNLOCK", url)
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // `mv` into /sub, `mkdir`.
    let to = "/sub/Caf%c3%a9%20%c3%bc.txt";
    let r = req("MOVE", url)
        .header("Destination", s.url(to))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        req("HEAD", to).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        req("MKCOL", "/new%20dir/").send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let r = req("PROPFIND", "/sub/")
        .header("Depth", "1")
        .body(DAVFS2_LIST)
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    let moved = "/sub/Caf%C3%A9%20%C3%BC.txt";
    assert_eq!(sorted_hrefs(&body), vec!["/sub/", moved]);
    let ms = Multistatus::parse(&body);
    assert_eq!(
        ms.response(moved).prop(DAV, "getetag").unwrap().text,
        new_etag
    );
    assert_eq!(
        ms.response(moved)
            .status_of("http://apache.org/dav/props/", "executable"),
        Some(404)
    );
    // `rm`.
    assert_eq!(
        req("DELETE", to).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        std::fs::read_dir(s.root().join("sub"))
            .unwrap()
            .next()
            .is_none()
    );
}

/// cadaver's session in `scripts/clients-test.sh`, as cadaver 0.24 sends it: mkcol, lock the
/// collection (depth infinity, no owner), put, propset, propget, move and get inside it (the
/// collection's token in a tagged If), unlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cadaver_replay_put_lock_propset_move_get_unlock() {
    let s = TestServer::start().await;
    let req = |method: &str, path: &str| s.request(method, path).header("User-Agent", CADAVER);
    const CUSTOM: &str = "http://webdav.org/cadaver/custom-properties/";
    assert_eq!(
        req("MKCOL", "/dir%20one/").send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let r = req("LOCK", "/dir%20one/")
        .header("Depth", "infinity")
        .body("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<lockinfo xmlns='DAV:'>\n <lockscope><exclusive/></lockscope>\n<locktype><write/></locktype></lockinfo>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = lock_token(&r);
    let tagged = format!("<{}> (<{token}>)", s.url("/dir%20one/"));
    let file = "/dir%20one/c%23%20%2b%20%e6%97%a5%e6%9c%ac.txt";
    assert_eq!(
        req("PUT", file).body("x").send().await.unwrap().status(),
        StatusCode::LOCKED
    );
    let r = req("PUT", file)
        .header("If", &tagged)
        .body("cadaver content\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = req("PROPPATCH", file)
        .header("If", &tagged)
        .body(format!(r#"<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><color xmlns="{CUSTOM}">blue</color></D:prop></D:set></D:propertyupdate>"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let r = req("PROPFIND", file)
        .header("Depth", "0")
        .body(format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<propfind xmlns="DAV:"><prop>
<color xmlns="{CUSTOM}"/>
</prop></propfind>"#
        ))
        .send()
        .await
        .unwrap();
    let ms = Multistatus::parse(&r.text().await.unwrap());
    let color = ms.responses[0].prop(CUSTOM, "color").unwrap();
    assert_eq!((color.status, color.text.as_str()), (200, "blue"));
    // Before a move cadaver checks that the destination is not a collection.
    let to = "/dir%20one/moved%20100%25.txt";
    let r = req("PROPFIND", &format!("{to}/"))
        .header("Depth", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = req("MOVE", file)
        .header("Destination", s.url(to))
        .header("Overwrite", "T")
        .header("If", &tagged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        req("GET", to).send().await.unwrap().text().await.unwrap(),
        "cadaver content\n"
    );
    let r = req("UNLOCK", "/dir%20one/")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = req("PROPFIND", to)
        .header("Depth", "0")
        .send()
        .await
        .unwrap();
    let ms = Multistatus::parse(&r.text().await.unwrap());
    assert_eq!(
        ms.responses[0].prop(CUSTOM, "color").unwrap().text,
        "blue",
        "moved along"
    );
    assert!(
        ms.responses[0]
            .prop(DAV, "lockdiscovery")
            .unwrap()
            .element_children
            .is_empty()
    );
}
