//! Names with a backslash (`%5C` in a URL): rclone copies `back\slash.txt` from a Linux tree,
//! and on Linux a backslash is an ordinary character. Every method stores, lists and serves
//! such names on every namespace kind; a backslash never acts as a separator.
#![allow(clippy::unwrap_used)]

use davd_tests::{Multistatus, TestServer};
use reqwest::StatusCode;

/// A server whose whole tree is a namespace of `kind`.
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

const KINDS: [&str; 3] = ["fs", "sled", "memory"];

async fn hrefs(s: &TestServer, path: &str) -> Vec<String> {
    let (status, text) = s.propfind(path, "1", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{path}: {text}");
    Multistatus::parse(&text).sorted_hrefs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_propfind_and_delete_a_backslash_name_on_every_kind() {
    for kind in KINDS {
        let s = serving(kind).await;
        assert_eq!(s.mkcol("/d/").await.status(), StatusCode::CREATED, "{kind}");
        let r = s.put("/d/back%5Cslash.txt", "one file").await;
        assert_eq!(r.status(), StatusCode::CREATED, "{kind}: PUT");
        // A lower-case escape names the same resource.
        let r = s.get("/d/back%5cslash.txt").await;
        assert_eq!(r.status(), StatusCode::OK, "{kind}: GET");
        assert_eq!(r.text().await.unwrap(), "one file");
        assert_eq!(
            s.get("/d/back/slash.txt").await.status(),
            StatusCode::NOT_FOUND,
            "{kind}: the backslash is no separator"
        );
        assert_eq!(
            hrefs(&s, "/d/").await,
            ["/d/", "/d/back%5Cslash.txt"],
            "{kind}: PROPFIND lists it, encoded"
        );
        let (status, text) = s.propfind("/d/back%5Cslash.txt", "0", "").await;
        assert_eq!(status, StatusCode::MULTI_STATUS, "{kind}");
        let ms = Multistatus::parse(&text);
        assert_eq!(ms.hrefs(), ["/d/back%5Cslash.txt"], "{kind}");
        assert_eq!(
            ms.response("/d/back%5Cslash.txt")
                .prop("DAV:", "getcontentlength")
                .unwrap()
                .text,
            "8",
            "{kind}"
        );
        assert_eq!(
            s.delete("/d/back%5Cslash.txt").await.status(),
            StatusCode::NO_CONTENT,
            "{kind}: DELETE"
        );
        assert_eq!(hrefs(&s, "/d/").await, ["/d/"], "{kind}");
        if kind == "fs" {
            assert!(s.root().join("d").read_dir().unwrap().next().is_none());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mkcol_copy_and_move_with_backslash_names_on_every_kind() {
    for kind in KINDS {
        let s = serving(kind).await;
        let r = s.mkcol("/dir%5Cwith%5Cslashes/").await;
        assert_eq!(r.status(), StatusCode::CREATED, "{kind}: MKCOL");
        s.put("/dir%5Cwith%5Cslashes/a%5Cb", "inner").await;
        // A name that would climb if a backslash were a separator is just a name.
        assert_eq!(s.mkcol("/..%5C..%5C").await.status(), StatusCode::CREATED);
        let r = s
            .request("COPY", "/dir%5Cwith%5Cslashes/")
            .header("Destination", s.url("/copy%5Cof/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{kind}: COPY");
        let r = s
            .request("MOVE", "/dir%5Cwith%5Cslashes/a%5Cb")
            .header("Destination", s.url("/..%5C..%5C/moved%5Cfile"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{kind}: MOVE");
        assert_eq!(
            hrefs(&s, "/").await,
            ["/", "/..%5C..%5C/", "/copy%5Cof/", "/dir%5Cwith%5Cslashes/"],
            "{kind}"
        );
        assert_eq!(
            hrefs(&s, "/copy%5Cof/").await,
            ["/copy%5Cof/", "/copy%5Cof/a%5Cb"],
            "{kind}"
        );
        assert_eq!(
            hrefs(&s, "/dir%5Cwith%5Cslashes/").await,
            ["/dir%5Cwith%5Cslashes/"],
            "{kind}: moved away"
        );
        let r = s.get("/..%5C..%5C/moved%5Cfile").await;
        assert_eq!(r.text().await.unwrap(), "inner", "{kind}");
        assert_eq!(
            s.delete("/copy%5Cof/").await.status(),
            StatusCode::NO_CONTENT,
            "{kind}"
        );
        if kind == "fs" {
            let root = s.root();
            assert!(root.join("..\\..\\").join("moved\\file").is_file());
            assert!(!root.join("copy\\of").exists());
            assert!(!root.join("dir").exists());
        }
    }
}

/// The browser page links a backslash name with `%5C`, and its upload form stores a file
/// named with one (as a browser on Linux or macOS posts it); only an old Internet Explorer's
/// whole Windows path loses its folders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_page_lists_and_uploads_backslash_names_on_every_kind() {
    for kind in KINDS {
        let s = serving(kind).await;
        s.mkcol("/up/").await;
        s.put("/up/listed%5Cname.txt", "x").await;
        let page = s
            .request("GET", "/up/")
            .header("Accept", "text/html")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("href=\"/up/listed%5Cname.txt\""),
            "{kind}: {page}"
        );
        assert!(page.contains(">listed\\name.txt<"), "{kind}");

        let boundary = "----davd-backslash-boundary";
        let mut body = String::new();
        for name in ["up\\load.txt", "C:\\Users\\me\\from-ie.txt"] {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; \
                 filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\ncontent\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let r = s
            .request("POST", "/up/")
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("Accept", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{kind}");
        assert_eq!(
            hrefs(&s, "/up/").await,
            [
                "/up/",
                "/up/from-ie.txt",
                "/up/listed%5Cname.txt",
                "/up/up%5Cload.txt"
            ],
            "{kind}"
        );
        let r = s.get("/up/up%5Cload.txt").await;
        assert_eq!(r.text().await.unwrap(), "content", "{kind}");
    }
}
