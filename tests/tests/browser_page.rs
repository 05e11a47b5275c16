//! The directory page browsers get, and uploads through its form.
#![allow(clippy::unwrap_used)]

use davd_tests::TestServer;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const HOSTILE: &str = "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E.txt";

async fn page(s: &TestServer, path: &str) -> (StatusCode, HeaderMap, String) {
    let r = s
        .request("GET", path)
        .header("Accept", BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    (r.status(), r.headers().clone(), r.text().await.unwrap())
}

/// A multipart/form-data body with one file part per (name, content).
fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----davd-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nnot a file\r\n"
        )
        .as_bytes(),
    );
    for (name, content) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    s: &TestServer,
    path: &str,
    accept: &str,
    files: &[(&str, &[u8])],
) -> (StatusCode, HeaderMap, String) {
    let (content_type, body) = multipart(files);
    let r = s
        .request("POST", path)
        .header("Content-Type", content_type)
        .header("Accept", accept)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.headers().clone(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_a_page_with_forms_and_no_external_assets() {
    let s = TestServer::start().await;
    s.mkcol("/docs").await;
    s.mkcol("/docs/sub").await;
    s.put("/docs/report.pdf", vec![0u8; 1536]).await;
    let (status, headers, body) = page(&s, "/docs/sub/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers["vary"], "Accept");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    // Breadcrumb: every ancestor is a link, the current folder is not.
    assert!(body.contains("<nav class=\"crumbs\""), "{body}");
    assert!(body.contains("<a href=\"/\">"), "{body}");
    assert!(body.contains("<a href=\"/docs/\">docs</a>"), "{body}");
    assert!(
        body.contains("<span aria-current=\"page\">sub</span>"),
        "{body}"
    );

    let (_, headers, body) = page(&s, "/docs/").await;
    for needle in [
        "<meta name=\"viewport\"",
        "<table id=\"listing\"",
        "data-key=\"name\"",
        "data-key=\"size\"",
        "data-key=\"modified\"",
        "data-key=\"type\"",
        "<form id=\"upload\" class=\"drop\" method=\"post\" action=\"/docs/\" enctype=\"multipart/form-data\">",
        "type=\"file\" name=\"files\" multiple",
        "<progress id=\"progress-bar\"",
        "<form id=\"mkcol\"",
        "data-action=\"rename\"",
        "data-action=\"delete\"",
        "<dialog id=\"dialog\"",
        "1.5 kB",
        "application/pdf",
        "<time datetime=\"",
        "1 folder \u{b7} 1 file \u{b7} 1.5 kB",
    ] {
        assert!(body.contains(needle), "missing {needle:?} in {body}");
    }
    // Everything is inline, and only what carries this response's nonce may run.
    for external in [
        "src=\"http",
        "href=\"http",
        "<link rel=\"stylesheet\"",
        "<script src",
    ] {
        assert!(!body.contains(external), "external asset {external:?}");
    }
    let csp = headers["content-security-policy"].to_str().unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(body.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(body.contains(&format!("<style nonce=\"{nonce}\">")));
    assert_eq!(body.matches("<script").count(), 1);
    let (_, again, _) = page(&s, "/docs/").await;
    assert_ne!(
        again["content-security-policy"],
        headers["content-security-policy"]
    );

    let head = s
        .request("HEAD", "/docs/")
        .header("Accept", BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().contains_key("content-length"));
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_shown_as_text() {
    let s = TestServer::start().await;
    s.put(&format!("/{HOSTILE}"), "x").await;
    s.mkcol("/%22%3E%3Csvg%20onload%3Dalert(2)%3E").await;
    let (status, _, body) = page(&s, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("<img"), "{body}");
    assert_eq!(body.matches("<script").count(), 1, "{body}");
    assert!(body.contains("<span class=\"name\">&lt;img src=x onerror=alert(1)&gt;.txt</span>"));
    assert!(body.contains("data-name=\"&lt;img src=x onerror=alert(1)>.txt\""));
    assert!(!body.contains("<svg onload"), "{body}");
    assert!(body.contains("<span class=\"name\">&quot;&gt;&lt;svg onload=alert(2)&gt;</span>"));
    assert!(body.contains("aria-label=\"Rename &quot;>&lt;svg onload=alert(2)>\""));
    assert!(body.contains("href=\"/%3Cimg%20src=x%20onerror=alert(1)%3E.txt\""));
    // Inside the hostile folder, its name is the heading and the title.
    let (status, _, body) = page(&s, "/%22%3E%3Csvg%20onload%3Dalert(2)%3E/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.matches("<script").count(), 1, "{body}");
    assert!(!body.contains("<svg onload"), "{body}");
    assert!(body.contains("<h1>&quot;&gt;&lt;svg onload=alert(2)&gt;</h1>"));
    assert!(body.contains("<title>&quot;&gt;&lt;svg onload=alert(2)&gt; \u{2014} davd</title>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_come_first() {
    let s = TestServer::start().await;
    s.put("/aardvark.txt", "x").await;
    s.mkcol("/zebra").await;
    s.put("/beta.txt", "x").await;
    s.mkcol("/yak").await;
    let (_, _, body) = page(&s, "/").await;
    let at = |name: &str| body.find(&format!("data-name=\"{name}\"")).unwrap();
    assert!(at("yak") < at("zebra"));
    assert!(at("zebra") < at("aardvark.txt"));
    assert!(at("aardvark.txt") < at("beta.txt"));
    assert!(body.contains("data-kind=\"folder\""));
    assert!(body.contains("href=\"/zebra/\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_clients_keep_the_plain_index() {
    let s = TestServer::start().await;
    s.mkcol("/dir").await;
    s.put("/dir/b.txt", "x").await;
    s.mkcol("/dir/a").await;
    let expected = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of /dir</title></head>\n\
        <body><h1>Index of /dir</h1>\n<ul>\n<li><a href=\"/\">../</a></li>\n\
        <li><a href=\"/dir/a/\">a/</a></li>\n<li><a href=\"/dir/b.txt\">b.txt</a></li>\n</ul>\n</body></html>\n";
    for accept in [None, Some("*/*"), Some("application/xml")] {
        let mut request = s.request("GET", "/dir/");
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().contains_key("etag"), "{accept:?}");
        assert_eq!(r.headers()["vary"], "Accept");
        assert!(!r.headers().contains_key("content-security-policy"));
        assert_eq!(r.text().await.unwrap(), expected, "{accept:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_of_two_files_answers_json() {
    let s = TestServer::start().await;
    s.mkcol("/in").await;
    s.put("/in/old.txt", "old").await;
    let (status, headers, body) = upload(
        &s,
        "/in/",
        "application/json",
        &[("one.txt", b"first file"), ("old.txt", b"replaced!")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{body}");
    assert_eq!(files[0]["name"], "one.txt");
    assert_eq!(files[0]["status"], 201);
    assert_eq!(files[1]["name"], "old.txt");
    assert_eq!(files[1]["status"], 204);
    assert_eq!(
        std::fs::read(s.root().join("in/one.txt")).unwrap(),
        b"first file"
    );
    assert_eq!(
        std::fs::read(s.root().join("in/old.txt")).unwrap(),
        b"replaced!"
    );
    // The new file is in the page a browser gets next.
    let (_, _, page) = page(&s, "/in/").await;
    assert!(page.contains("data-name=\"one.txt\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_upload_without_script_answers_a_page() {
    let s = TestServer::start().await;
    let (status, headers, body) = upload(
        &s,
        "/",
        BROWSER_ACCEPT,
        &[("<b>bold.txt", b"1"), ("two.txt", b"2")],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(headers.contains_key("content-security-policy"));
    assert!(body.contains("<h1>Upload finished</h1>"), "{body}");
    assert!(body.contains("&lt;b&gt;bold.txt"), "{body}");
    assert!(!body.contains("<b>"), "{body}");
    assert!(body.contains("two.txt"));
    assert!(body.contains("href=\"/\">Back to Home</a>"), "{body}");
    assert!(s.root().join("two.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_into_a_locked_collection_is_refused() {
    let s = TestServer::start().await;
    s.mkcol("/locked").await;
    s.lock("/locked", "infinity").await;
    let (status, _, body) = upload(&s, "/locked/", "application/json", &[("a.txt", b"x")]).await;
    assert_eq!(status, StatusCode::LOCKED, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["files"][0]["name"], "a.txt");
    assert_eq!(json["files"][0]["status"], 423, "{body}");
    assert!(!s.root().join("locked/a.txt").exists());
    // The form without script gets the same refusal as a page.
    let (status, _, body) = upload(&s, "/locked/", BROWSER_ACCEPT, &[("a.txt", b"x")]).await;
    assert_eq!(status, StatusCode::LOCKED);
    assert!(body.contains("Upload failed"), "{body}");
    assert!(body.contains("423 Locked"), "{body}");
}

/// Browsers on macOS may send a file name decomposed (NFD); it is stored in NFC, as a PUT to
/// either spelling would be (docs/clients.md, "Unicode names").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_with_nfd_file_names_are_stored_in_nfc() {
    let s = TestServer::start().await;
    s.mkcol("/docs").await;
    let (status, _, body) = upload(
        &s,
        "/docs/",
        "application/json",
        &[("Re\u{301}sume\u{301}.pdf", b"pdf")],
    )
    .await;
    assert!(status.is_success(), "{body}");
    assert!(body.contains("\"status\":201"), "{body}");
    let names: Vec<String> = std::fs::read_dir(s.root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["R\u{e9}sum\u{e9}.pdf"]);
    assert_eq!(
        s.get("/docs/Re%CC%81sume%CC%81.pdf")
            .await
            .text()
            .await
            .unwrap(),
        "pdf"
    );
}

/// The form's POST obeys the scope's access rules like PUT: a user who may only read gets 403
/// and nothing is stored; without credentials the answer is 401 with the challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_uploads_obey_access_rules() {
    let s = TestServer::with_users(
        "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"fs\", root = \"ROOT\" }\nread = [\"*\"]\nwrite = [\"alice\"]\n",
    )
    .await;
    std::fs::create_dir_all(s.root().join("drop")).unwrap();

    let (content_type, body) = multipart(&[("bob.txt", b"from bob")]);
    let post = |user: Option<(&str, &str)>| {
        let mut r = s
            .request("POST", "/drop/")
            .header("Content-Type", content_type.clone())
            .header("Accept", "application/json")
            .body(body.clone());
        if let Some((name, password)) = user {
            r = r.basic_auth(name, Some(password));
        }
        r
    };
    let bob = post(Some(("bob", "builder"))).send().await.unwrap();
    assert_eq!(bob.status(), StatusCode::FORBIDDEN);
    let anonymous = post(None).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert!(!s.root().join("drop/bob.txt").exists());

    let alice = post(Some(("alice", "wonderland"))).send().await.unwrap();
    assert_eq!(alice.status(), StatusCode::CREATED);
    assert_eq!(
        std::fs::read(s.root().join("drop/bob.txt")).unwrap(),
        b"from bob"
    );
}
