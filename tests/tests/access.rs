//! Issue 16: access rules hold for every method and for every member a tree operation touches,
//! and nothing the rules hide is revealed (docs/security.md, "Access rules").
//!
//! The rules: everyone who logs in reads everything and alice and bob write it, but
//! `/team/private` is alice's alone, the single file `/team/report.txt` only she may change,
//! `/public` is readable without a login and written by alice, and `/café/vault` (written in NFD
//! in the configuration, requested in NFC) is alice's.
#![allow(clippy::unwrap_used)]

use davd_tests::{LOCKINFO_EXCLUSIVE, Multistatus, TestServer};
use reqwest::{RequestBuilder, StatusCode};

const RULES: &str = "
[[mount]]
scope = \"/\"
namespace = { kind = \"fs\", root = \"ROOT\" }
read = [\"*\"]
write = [\"alice\", \"bob\"]

[[mount]]
scope = \"/team/private\"
read = [\"alice\"]
write = [\"alice\"]

[[mount]]
scope = \"/team/report.txt\"
read = [\"*\"]
write = [\"alice\"]

[[mount]]
scope = \"/public\"
read = [\"anonymous\"]
write = [\"alice\"]

[[mount]]
scope = \"/cafe\u{301}/vault\"
read = [\"alice\"]
write = [\"alice\"]
";

struct Site {
    s: TestServer,
}

impl Site {
    /// The server and, made by alice: `/team/` with `private/secret.txt`, `report.txt` and
    /// `notes.txt`; `/public/p.txt`; `/café/vault/v.txt`; `/other/o.txt`.
    async fn new() -> Site {
        let site = Site {
            s: TestServer::with_users(RULES).await,
        };
        for dir in [
            "/team",
            "/team/private",
            "/public",
            "/café",
            "/café/vault",
            "/other",
        ] {
            let r = site.alice("MKCOL", dir).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED, "MKCOL {dir}");
        }
        for file in [
            "/team/private/secret.txt",
            "/team/report.txt",
            "/team/notes.txt",
            "/public/p.txt",
            "/café/vault/v.txt",
            "/other/o.txt",
        ] {
            let r = site.alice("PUT", file).body(file).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED, "PUT {file}");
        }
        site
    }

    fn alice(&self, method: &str, path: &str) -> RequestBuilder {
        self.s
            .request(method, path)
            .basic_auth("alice", Some("wonderland"))
    }

    fn bob(&self, method: &str, path: &str) -> RequestBuilder {
        self.s
            .request(method, path)
            .basic_auth("bob", Some("builder"))
    }

    fn anonymous(&self, method: &str, path: &str) -> RequestBuilder {
        self.s.request(method, path)
    }

    /// The content of `path` as alice reads it, or the status when it is not there.
    async fn content(&self, path: &str) -> Result<String, StatusCode> {
        let r = self.alice("GET", path).send().await.unwrap();
        match r.status() {
            StatusCode::OK => Ok(r.text().await.unwrap()),
            status => Err(status),
        }
    }

    async fn assert_team_intact(&self) {
        for file in [
            "/team/private/secret.txt",
            "/team/report.txt",
            "/team/notes.txt",
        ] {
            assert_eq!(self.content(file).await.as_deref(), Ok(file), "{file}");
        }
    }

    /// Lock roots alice can see on `path` (PROPFIND lockdiscovery).
    async fn lock_roots(&self, path: &str) -> String {
        let r = self
            .alice("PROPFIND", path)
            .header("Depth", "0")
            .body(r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::MULTI_STATUS);
        r.text().await.unwrap()
    }
}

/// A 403 whose text does not name what bob may not see.
async fn assert_forbidden_without_naming(r: reqwest::Response, hidden: &str) -> String {
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!body.contains(hidden), "the refusal names {hidden}: {body}");
    body
}

/// Issue 16 item 1: DELETE, MOVE, COPY and a deep LOCK of a parent of a protected scope touch
/// the protected members, so they are refused as a whole, and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_operations_on_a_parent_need_every_member() {
    let site = Site::new().await;
    let r = site.bob("DELETE", "/team/").send().await.unwrap();
    assert_forbidden_without_naming(r, "private").await;
    site.assert_team_intact().await;

    let r = site
        .bob("MOVE", "/team/")
        .header("Destination", site.s.url("/moved/"))
        .send()
        .await
        .unwrap();
    assert_forbidden_without_naming(r, "private").await;
    site.assert_team_intact().await;
    assert_eq!(
        site.content("/moved/notes.txt").await,
        Err(StatusCode::NOT_FOUND)
    );

    // COPY reads every member of its source: bob may not read the private one.
    let r = site
        .bob("COPY", "/team/")
        .header("Destination", site.s.url("/copied/"))
        .send()
        .await
        .unwrap();
    assert_forbidden_without_naming(r, "private").await;
    assert_eq!(
        site.content("/copied/notes.txt").await,
        Err(StatusCode::NOT_FOUND)
    );

    // Overwriting /team with a COPY or MOVE of another tree would replace the private members.
    for method in ["COPY", "MOVE"] {
        let r = site
            .bob(method, "/other/")
            .header("Destination", site.s.url("/team/"))
            .header("Overwrite", "T")
            .send()
            .await
            .unwrap();
        assert_forbidden_without_naming(r, "private").await;
        site.assert_team_intact().await;
    }
    // A Depth 0 COPY copies the collection alone, but still replaces the whole destination.
    let r = site
        .bob("COPY", "/other/")
        .header("Destination", site.s.url("/team/"))
        .header("Overwrite", "T")
        .header("Depth", "0")
        .send()
        .await
        .unwrap();
    assert_forbidden_without_naming(r, "private").await;
    site.assert_team_intact().await;

    // A depth-infinity lock on /team would lock the private members; depth 0 does not.
    let r = site
        .bob("LOCK", "/team/")
        .header("Depth", "infinity")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_forbidden_without_naming(r, "private").await;
    assert!(
        !site
            .lock_roots("/team/private/secret.txt")
            .await
            .contains("lockroot")
    );
    let r = site
        .bob("LOCK", "/team/")
        .header("Depth", "0")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = davd_tests::lock_token(&r);
    let r = site
        .bob("UNLOCK", "/team/")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // alice may do it all.
    let r = site
        .alice("COPY", "/team/")
        .header("Destination", site.s.url("/copied/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        site.content("/copied/private/secret.txt").await.as_deref(),
        Ok("/team/private/secret.txt")
    );
    let r = site.alice("DELETE", "/team/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// A deep lock covers members created after it is taken: one on /team must not be granted
/// to bob while /team/private does not exist, or alice could not create her own scope (nor
/// write in it) until bob's lock ran out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_lock_cannot_cover_a_protected_scope_yet_to_be_made() {
    let site = Site::new().await;
    // Neither protected scope of /team exists now.
    for path in ["/team/private/", "/team/report.txt"] {
        let r = site.alice("DELETE", path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{path}");
    }
    let r = site
        .bob("LOCK", "/team/")
        .header("Depth", "infinity")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_forbidden_without_naming(r, "private").await;
    let r = site.alice("MKCOL", "/team/private/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // A scope bob may write does not stand in the way of his deep lock.
    let r = site
        .bob("LOCK", "/other/")
        .header("Depth", "infinity")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// A member bob may read but not change is named in the refusal: the rule on a single file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_on_one_file_protects_it_from_tree_operations() {
    let site = Site::new().await;
    let r = site.alice("DELETE", "/team/private/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = site.bob("DELETE", "/team/").send().await.unwrap();
    let body = assert_forbidden_without_naming(r, "private").await;
    assert!(body.contains("/team/report.txt"), "{body}");
    assert_eq!(
        site.content("/team/report.txt").await.as_deref(),
        Ok("/team/report.txt")
    );
    let r = site
        .bob("MOVE", "/team/")
        .header("Destination", site.s.url("/elsewhere/"))
        .send()
        .await
        .unwrap();
    let body = assert_forbidden_without_naming(r, "private").await;
    assert!(body.contains("/team/report.txt"), "{body}");
    // Copying it away is reading, which bob may do.
    let r = site
        .bob("COPY", "/team/")
        .header("Destination", site.s.url("/copy/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // The file alone: bob may not change it, alice may.
    let r = site.bob("DELETE", "/team/report.txt").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = site.bob("DELETE", "/team/notes.txt").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// Scope names are compared in NFC, however the configuration or the request spells them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_hold_in_nfc_and_nfd() {
    let site = Site::new().await;
    for spelling in ["/caf%C3%A9/", "/cafe%CC%81/"] {
        let r = site.bob("DELETE", spelling).send().await.unwrap();
        assert_forbidden_without_naming(r, "vault").await;
        let r = site
            .bob("GET", &format!("{spelling}vault/v.txt"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{spelling}");
    }
    assert_eq!(
        site.content("/café/vault/v.txt").await.as_deref(),
        Ok("/café/vault/v.txt")
    );
}

fn form(files: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "XyZzy";
    let mut body = Vec::new();
    for (name, content) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n\
                 Content-Type: text/plain\r\n\r\n{content}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Issue 16 item 2: each file of a browser upload needs write permission on itself, not only on
/// the collection it goes into.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_uploads_need_write_permission_on_each_file() {
    let site = Site::new().await;
    let (content_type, body) = form(&[("report.txt", "bob was here"), ("new.txt", "new")]);
    let r = site
        .bob("POST", "/team/")
        .header("Content-Type", content_type)
        .header("Accept", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let answer: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let statuses: Vec<(String, u64)> = answer["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [("report.txt".to_owned(), 403), ("new.txt".to_owned(), 201)]
    );
    assert_eq!(
        site.content("/team/report.txt").await.as_deref(),
        Ok("/team/report.txt")
    );
    assert_eq!(site.content("/team/new.txt").await.as_deref(), Ok("new"));
    // Into a scope bob may not see at all: refused before a byte is stored.
    let (content_type, body) = form(&[("x.txt", "x")]);
    let r = site
        .bob("POST", "/team/private/")
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        site.content("/team/private/x.txt").await,
        Err(StatusCode::NOT_FOUND)
    );
}

/// Issue 16 item 3: a Microsoft bundled lock on GET or HEAD (MS-WDV 2.2.4) is a write lock, so
/// it needs write permission; a reader, logged in or not, may still read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_locks_on_get_need_write_permission() {
    let site = Site::new().await;
    for method in ["GET", "HEAD"] {
        let r = site
            .anonymous(method, "/public/p.txt")
            .header("X-MSDAVEXTLockTimeout", "Second-3600")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method}");
        assert!(r.headers().get("lock-token").is_none());
        let r = site
            .bob(method, "/public/p.txt")
            .header("X-MSDAVEXTLockTimeout", "Second-3600")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method}");
        assert!(r.headers().get("lock-token").is_none());
    }
    assert!(!site.lock_roots("/public/p.txt").await.contains("lockroot"));
    // Reading is still allowed, and alice (who may write) gets her lock.
    let r = site.anonymous("GET", "/public/p.txt").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = site
        .alice("GET", "/public/p.txt")
        .header("X-MSDAVEXTLockTimeout", "Second-3600")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("lock-token").is_some());
}

/// Issue 16 item 4: a 423 does not name a locked resource the client may not see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_do_not_name_hidden_locked_members() {
    let site = Site::new().await;
    let r = site
        .alice("LOCK", "/team/private/secret.txt")
        .header("Depth", "0")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = site.bob("DELETE", "/team/").send().await.unwrap();
    assert_forbidden_without_naming(r, "secret").await;
    let r = site
        .bob("MOVE", "/team/")
        .header("Destination", site.s.url("/moved/"))
        .send()
        .await
        .unwrap();
    assert_forbidden_without_naming(r, "secret").await;
    let r = site
        .bob("LOCK", "/team/")
        .header("Depth", "infinity")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_forbidden_without_naming(r, "secret").await;
    site.assert_team_intact().await;
}

/// Issue 16 item 4: OPTIONS needs no credentials, so it must not tell whether a resource the
/// client may not read exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_does_not_reveal_what_the_client_may_not_read() {
    let site = Site::new().await;
    let allow = |r: reqwest::Response| {
        assert_eq!(r.status(), StatusCode::OK);
        r.headers()["allow"].to_str().unwrap().to_owned()
    };
    for (client, who) in [
        (
            site.anonymous("OPTIONS", "/team/private/secret.txt"),
            "anonymous",
        ),
        (site.bob("OPTIONS", "/team/private/secret.txt"), "bob"),
    ] {
        let existing = allow(client.send().await.unwrap());
        let missing = allow(
            match who {
                "bob" => site.bob("OPTIONS", "/team/private/missing.txt"),
                _ => site.anonymous("OPTIONS", "/team/private/missing.txt"),
            }
            .send()
            .await
            .unwrap(),
        );
        assert_eq!(existing, missing, "{who}");
        assert_eq!(
            allow(
                site.anonymous("OPTIONS", "/team/private/")
                    .send()
                    .await
                    .unwrap()
            ),
            missing
        );
    }
    // Where the client may read, OPTIONS describes the resource as before.
    let file = allow(
        site.anonymous("OPTIONS", "/public/p.txt")
            .send()
            .await
            .unwrap(),
    );
    assert!(file.contains("GET"), "{file}");
    let alice = allow(
        site.alice("OPTIONS", "/team/private/secret.txt")
            .send()
            .await
            .unwrap(),
    );
    assert!(alice.contains("GET"), "{alice}");
}

/// Issue 16 item 4: a tagged If header is evaluated against resources the client may not read
/// as if they did not exist, so its outcome says nothing about them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_headers_learn_nothing_about_hidden_resources() {
    let site = Site::new().await;
    let r = site
        .alice("PROPFIND", "/team/private/secret.txt")
        .header("Depth", "0")
        .body(r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"#)
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    let etag = Multistatus::parse(&body).responses[0]
        .prop("DAV:", "getetag")
        .unwrap()
        .text
        .clone();
    let secret = site.s.url("/team/private/secret.txt");
    // With the right entity tag the list would hold for alice; for bob it must not.
    let r = site
        .bob("PUT", "/team/notes.txt")
        .header("If", format!("<{secret}> ([{etag}])"))
        .body("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = site
        .alice("PUT", "/team/notes.txt")
        .header("If", format!("<{secret}> ([{etag}])"))
        .body("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// `/a` is alice's alone; bob may read and write `/a/b` inside it.
const NESTED_RULES: &str = "
[[mount]]
scope = \"/\"
namespace = { kind = \"fs\", root = \"ROOT\" }
read = [\"*\"]
write = [\"alice\", \"bob\"]

[[mount]]
scope = \"/a\"
read = [\"alice\"]
write = [\"alice\"]

[[mount]]
scope = \"/a/b\"
read = [\"alice\", \"bob\"]
write = [\"alice\", \"bob\"]
";

/// The hrefs of a response body, in order.
fn hrefs(body: &str) -> Vec<&str> {
    body.split("<D:href>")
        .skip(1)
        .filter_map(|rest| rest.split("</D:href>").next())
        .collect()
}

/// Issue 16 item 4: alice's deep lock on `/a`, which bob may not read, covers `/a/b`, which he
/// may. The 423s bob gets, and the lock discovery he reads, must not name `/a`: the lock root
/// is named by the nearest collection he may read (`/`) or left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_lock_root_is_not_named() {
    let s = TestServer::with_users(NESTED_RULES).await;
    let alice = |method: &str, path: &str| {
        s.request(method, path)
            .basic_auth("alice", Some("wonderland"))
    };
    let bob = |method: &str, path: &str| s.request(method, path).basic_auth("bob", Some("builder"));
    for dir in ["/a", "/a/b"] {
        let r = alice("MKCOL", dir).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "MKCOL {dir}");
    }
    let r = alice("PUT", "/a/b/f.txt").body("f").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = alice("LOCK", "/a/")
        .header("Depth", "infinity")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let hidden = |href: &&str| href.trim_end_matches('/') == "/a";

    let r = bob("PUT", "/a/b/x").body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    let body = r.text().await.unwrap();
    assert!(body.contains("lock-token-submitted"), "{body}");
    assert_eq!(hrefs(&body), ["/"], "{body}");

    let r = bob("LOCK", "/a/b/")
        .header("Depth", "0")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    let body = r.text().await.unwrap();
    assert!(body.contains("no-conflicting-lock"), "{body}");
    assert_eq!(hrefs(&body), ["/"], "{body}");

    // A Microsoft bundled lock (MS-WDV) is refused the same way.
    let r = bob("GET", "/a/b/f.txt")
        .header("X-MSDAVEXTLockTimeout", "Second-3600")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::LOCKED);
    let body = r.text().await.unwrap();
    assert_eq!(hrefs(&body), ["/"], "{body}");

    // Lock discovery shows bob the lock (he is kept out by it), but not where it is rooted.
    let propfind = |who: &dyn Fn(&str, &str) -> RequestBuilder| {
        who("PROPFIND", "/a/b/")
            .header("Depth", "0")
            .body(r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#)
            .send()
    };
    let r = propfind(&bob).await.unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let body = r.text().await.unwrap();
    assert!(body.contains("activelock"), "{body}");
    assert!(!body.contains("lockroot"), "{body}");
    assert!(!hrefs(&body).iter().any(hidden), "{body}");
    // alice, who may read /a, sees the root.
    let body = propfind(&alice).await.unwrap().text().await.unwrap();
    assert!(body.contains("<D:lockroot><D:href>/a"), "{body}");
}
