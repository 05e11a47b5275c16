//! Issue 22: history survives `kill -9`. davd is aborted at each moment of keeping a version
//! or a deleted tree, and started again without the fail point: the new content and the
//! version are both whole, or the old state is intact; a deleted tree is in the trash, never
//! lost and never twice.
//!
//! - fs: the version is a hard link made just before the new content is published
//!   (`HISTORY:linked`, after the link; `HISTORY:written`, after the publish).
//! - sled: the replaced content is filed at commit, under the journal (`HISTORY:keep`, just
//!   before; `HISTORY:kept`, just after), and its keeping must be flushed before the request's
//!   journal record goes.
//! - a DELETE on fs files the tree at commit (`HISTORY:keep`).
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use reqwest::{Client, StatusCode};
use support::{Davd, method};

const ARGS: [&str; 6] = [
    "--root",
    "root",
    "--state",
    "state",
    "--keep-history",
    "30d",
];

fn client() -> Client {
    support::client_builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The hrefs below `path` (without its own), sorted newest first.
async fn members(c: &Client, davd: &Davd, path: &str) -> Vec<String> {
    let r = c
        .request(method("PROPFIND"), format!("{}{}", davd.url, &path[1..]))
        .header("Depth", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS, "PROPFIND {path}");
    let body = r.text().await.unwrap();
    let mut hrefs: Vec<String> = body
        .split("<D:href>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</D:href>").map(|(h, _)| h.to_owned()))
        .filter(|h| h.trim_end_matches('/') != path.trim_end_matches('/'))
        .collect();
    hrefs.sort_by(|a, b| b.cmp(a));
    hrefs
}

async fn text(c: &Client, davd: &Davd, path: &str) -> String {
    let r = c
        .get(format!("{}{}", davd.url, &path[1..]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.text().await.unwrap()
}

/// `/` served by a sled namespace, keeping history ([`ARGS`] give the time).
const SLED: &str = "[[mount]]\nscope = \"/\"\nnamespace = { kind = \"sled\" }\n";

/// Aborts davd at `point` during a PUT of "new" that replaces "old" at `a.txt`; then `a.txt`
/// must hold `live` and its one version `version`. On the fs kind (the embedded default), or
/// on sled.
async fn put_killed_at(point: &str, sled: bool, live: &str, version: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = ARGS.to_vec();
    if sled {
        std::fs::write(dir.path().join("davd.toml"), SLED).unwrap();
        // Its "/" serves no directory: no --root.
        args.retain(|a| *a != "--root" && *a != "root");
        args.extend(["--config", "davd.toml"]);
    }
    let args = args.as_slice();
    let c = client();
    let fail = format!("HISTORY:{point}");
    let davd = Davd::start_with_env(dir.path(), args, &[("DAVD_FAIL_AT", &fail)]);
    let r = c
        .put(format!("{}a.txt", davd.url))
        .body("old")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // The replacing PUT never gets its answer: the process is gone.
    assert!(
        c.put(format!("{}a.txt", davd.url))
            .body("new")
            .send()
            .await
            .is_err()
    );
    davd.wait(Duration::from_secs(20));

    let davd = Davd::start(dir.path(), args);
    assert_eq!(text(&c, &davd, "/a.txt").await, live, "{point}");
    let versions = members(&c, &davd, "/.history/a.txt/").await;
    assert_eq!(versions.len(), 1, "{point}: {versions:?}");
    assert_eq!(text(&c, &davd, &versions[0]).await, version, "{point}");
    if !sled {
        let staging =
            davd_subsystems::fs::staged_leftovers(&dir.path().join("root/.davd-staging")).unwrap();
        assert!(staging.is_empty(), "{point}: left in staging: {staging:?}");
    }
    assert_eq!(davd.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_killed_after_the_version_and_before_the_write_leaves_the_old_state() {
    // The old content is still live; its version is a second name for the same bytes.
    put_killed_at("linked", false, "old", "old").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_killed_after_the_write_keeps_both() {
    put_killed_at("written", false, "new", "old").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sled_a_put_killed_before_its_version_is_kept_keeps_it_on_restart() {
    put_killed_at("keep", true, "new", "old").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sled_a_put_killed_after_its_version_is_kept_keeps_it_once() {
    put_killed_at("kept", true, "new", "old").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_killed_before_the_trash_puts_the_tree_there_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    let davd = Davd::start_with_env(dir.path(), &ARGS, &[("DAVD_FAIL_AT", "HISTORY:keep")]);
    let r = c
        .request(method("MKCOL"), format!("{}tree", davd.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for name in ["a.txt", "b.txt"] {
        let r = c
            .put(format!("{}tree/{name}", davd.url))
            .body(name)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    assert!(c.delete(format!("{}tree", davd.url)).send().await.is_err());
    davd.wait(Duration::from_secs(20));

    let davd = Davd::start(dir.path(), &ARGS);
    let r = c
        .get(format!("{}tree/a.txt", davd.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "the DELETE was finished");
    let removals = members(&c, &davd, "/.history/.trash/").await;
    assert_eq!(removals.len(), 1, "{removals:?}");
    let tree = format!("{}tree/", removals[0]);
    for name in ["a.txt", "b.txt"] {
        assert_eq!(text(&c, &davd, &format!("{tree}{name}")).await, name);
    }
    assert_eq!(davd.stop(), Some(0));
}
