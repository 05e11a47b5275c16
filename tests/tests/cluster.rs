//! Three davd processes A, B and C on separate ports serve one namespace through one
//! PostgreSQL (issue 18): locks, properties, document ids and write latches hold across them,
//! a killed instance loses nothing it acknowledged and holds nothing up, a database outage is
//! a 503 that heals by itself, and clocks that disagree agree on lock timeouts. The tests
//! about the namespace and the latches run twice (`NAME::fs`, `NAME::s3`): on one shared root,
//! and on an s3 namespace with nothing shared but the database and a bucket (issue 21;
//! `cluster_s3.rs` has the checks only s3 needs).
//!
//! They need a database: `DAVD_TEST_DATABASE_URL` (each test works in a schema of its own),
//! and for the outage a PostgreSQL of their own (`initdb`); the s3 runs also the test store
//! (`DAVD_TEST_S3_ENDPOINT`). Without them they pass after a loud line saying they did not
//! run; `.ci/run` sets `DAVD_REQUIRE_CLUSTER_TESTS` and `DAVD_REQUIRE_S3_TESTS` so that in CI
//! they must run. docs/scaling.md says how to run them by hand.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::StatusCode;

use davd_subsystems::conformance::cluster::skip;
use davd_tests::cluster::{Cluster, FreshDatabase, Kind, Postgres, have};
use davd_tests::{
    ALLPROP, LOCKINFO_EXCLUSIVE, Multistatus, lock_token, on_both_kinds, sync_token_of,
};

const BINARY: &str = env!("CARGO_BIN_EXE_davd-node");
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

/// Three instances serving a namespace of `kind`.
async fn three(kind: Kind) -> Option<Cluster> {
    Cluster::start_kind(BINARY, &["a", "b", "c"], "", kind).await
}

// Each of these runs twice: on a shared fs root and on an s3 namespace (three instances, one
// database, one bucket prefix, nothing shared on disk). The others below are fs-only, each
// saying why.
on_both_kinds!(
    a_lock_taken_through_one_instance_holds_at_every_other,
    sixty_concurrent_exclusive_locks_over_three_instances_yield_one,
    many_locks_at_once_through_one_instance_are_all_granted,
    instances_starting_together_on_a_fresh_database_migrate_once,
    properties_and_document_ids_are_the_same_through_every_instance,
    an_instance_killed_after_acknowledging_loses_nothing,
    a_killed_instance_s_latch_is_freed_at_once,
    a_database_outage_is_a_503_and_heals_by_itself,
    a_sync_token_from_one_instance_reports_changes_made_through_the_others,
);

const REPL: &str = "http://schemas.microsoft.com/repl/";

async fn lock(cluster: &Cluster, node: usize, path: &str, timeout: &str) -> reqwest::Response {
    cluster
        .request(node, "LOCK", path)
        .header("Timeout", timeout)
        .header("Content-Type", "application/xml")
        .body(LOCKINFO_EXCLUSIVE)
        .send()
        .await
        .unwrap()
}

async fn propfind(cluster: &Cluster, node: usize, path: &str, body: &str) -> (StatusCode, String) {
    let response = cluster
        .request(node, "PROPFIND", path)
        .header("Depth", "0")
        .header("Content-Type", "application/xml")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// The lock discovery of `path` through `node`: each active lock's token and timeout.
async fn locks_seen(cluster: &Cluster, node: usize, path: &str) -> Vec<(String, String)> {
    let body = r#"<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>"#;
    let (status, text) = propfind(cluster, node, path, body).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{text}");
    let doc = roxmltree::Document::parse(&text).unwrap();
    doc.descendants()
        .filter(|n| n.tag_name().name() == "activelock")
        .map(|lock| {
            let text_of = |name: &str| {
                lock.descendants()
                    .find(|n| n.tag_name().name() == name)
                    .map(|n| {
                        n.descendants()
                            .filter(|t| t.is_text())
                            .filter_map(|t| t.text())
                            .collect::<String>()
                    })
                    .unwrap_or_default()
            };
            (text_of("locktoken").trim().to_owned(), text_of("timeout"))
        })
        .collect()
}

fn seconds(timeout: &str) -> u64 {
    timeout
        .strip_prefix("Second-")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a timeout in seconds: {timeout}"))
}

const SET_AUTHOR: &str = r#"<?xml version="1.0"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:z="urn:z"><D:set><D:prop><z:author>Ada</z:author></D:prop></D:set></D:propertyupdate>"#;

/// The value of `{urn:z}author` on `path` through `node`.
async fn author(cluster: &Cluster, node: usize, path: &str) -> Option<String> {
    let (status, text) = propfind(cluster, node, path, ALLPROP).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{text}");
    Multistatus::parse(&text).responses[0]
        .prop("urn:z", "author")
        .map(|p| p.text.clone())
}

/// A lock taken through A binds B's writes, shows in C's lock discovery, and C can release
/// it.
async fn a_lock_taken_through_one_instance_holds_at_every_other(kind: Kind) {
    let Some(cluster) = three(kind).await else {
        return;
    };
    let put = cluster
        .request(A, "PUT", "/report.docx")
        .body("v1")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let locked = lock(&cluster, A, "/report.docx", "Second-600").await;
    assert_eq!(locked.status(), StatusCode::OK);
    let token = lock_token(&locked);

    let without = cluster
        .request(B, "PUT", "/report.docx")
        .body("someone else's")
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), StatusCode::LOCKED);
    let with = cluster
        .request(B, "PUT", "/report.docx")
        .header("If", format!("(<{token}>)"))
        .body("v2")
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), StatusCode::NO_CONTENT);

    let seen = locks_seen(&cluster, C, "/report.docx").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, token);
    let unlock = cluster
        .request(C, "UNLOCK", "/report.docx")
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(unlock.status(), StatusCode::NO_CONTENT);
    assert!(locks_seen(&cluster, A, "/report.docx").await.is_empty());
    let after = cluster
        .request(B, "PUT", "/report.docx")
        .body("v3")
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::NO_CONTENT);
    let body = cluster
        .request(C, "GET", "/report.docx")
        .send()
        .await
        .unwrap();
    assert_eq!(body.text().await.unwrap(), "v3");
}

/// Of sixty clients asking at once for an exclusive lock on one resource, spread over the
/// three instances, exactly one gets it.
async fn sixty_concurrent_exclusive_locks_over_three_instances_yield_one(kind: Kind) {
    let Some(cluster) = three(kind).await else {
        return;
    };
    let put = cluster
        .request(B, "PUT", "/contested.txt")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let attempts = (0..60).map(|i| {
        let request = cluster
            .request(i % 3, "LOCK", "/contested.txt")
            .header("Timeout", "Second-600")
            .header("Content-Type", "application/xml")
            .body(LOCKINFO_EXCLUSIVE);
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let granted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::LOCKED)
        .count();
    assert_eq!(granted, 1, "{statuses:?}");
    assert_eq!(refused, 59, "{statuses:?}");
    for node in [A, B, C] {
        assert_eq!(locks_seen(&cluster, node, "/contested.txt").await.len(), 1);
    }
    let rows = cluster
        .database()
        .await
        .query("SELECT count(*) FROM davd_locks", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 1, "one lock in the table");
}

/// `max_locks_per_user` counts the locks taken through every instance, and holds when one
/// user's LOCKs of thirty different files arrive at the three instances at once: exactly the
/// limit is granted, and a lock released through another instance makes room for one more.
/// fs only: the limit counts rows of the lock table under a latch named after the user; the
/// namespace takes no part but the setup's PUTs, which the s3 runs of the others cover.
#[tokio::test]
async fn the_lock_limit_per_user_holds_across_instances() {
    let Some(cluster) = Cluster::start_with(
        BINARY,
        &["a", "b", "c"],
        "\n[limits]\nmax_locks_per_user = 5\n",
    )
    .await
    else {
        return;
    };
    for i in 0..30 {
        let put = cluster
            .request(i % 3, "PUT", &format!("/limit-{i}.txt"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::CREATED);
    }
    let attempts = (0..30).map(|i| {
        let request = cluster
            .request(i % 3, "LOCK", &format!("/limit-{i}.txt"))
            .header("Timeout", "Second-600")
            .header("Content-Type", "application/xml")
            .body(LOCKINFO_EXCLUSIVE);
        async move {
            let response = request.send().await.unwrap();
            let token = (response.status() == StatusCode::OK).then(|| lock_token(&response));
            (i, response.status(), token)
        }
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let granted: Vec<_> = outcomes
        .iter()
        .filter_map(|(i, _, token)| token.clone().map(|t| (*i, t)))
        .collect();
    let refused = outcomes
        .iter()
        .filter(|(_, status, _)| *status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let statuses: Vec<_> = outcomes.iter().map(|(_, s, _)| *s).collect();
    assert_eq!(granted.len(), 5, "{statuses:?}");
    assert_eq!(refused, 25, "{statuses:?}");
    let rows = cluster
        .database()
        .await
        .query("SELECT count(*) FROM davd_locks", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 5, "five locks in the table");

    // Full through every instance; one released through another makes room for one more.
    let free: Vec<usize> = (0..30)
        .filter(|i| granted.iter().all(|(g, _)| g != i))
        .collect();
    for node in [A, B, C] {
        let more = lock(
            &cluster,
            node,
            &format!("/limit-{}.txt", free[node]),
            "Second-60",
        )
        .await;
        assert_eq!(more.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let (held, token) = &granted[0];
    let unlocked = cluster
        .request((held + 1) % 3, "UNLOCK", &format!("/limit-{held}.txt"))
        .header("Lock-Token", format!("<{token}>"))
        .send()
        .await
        .unwrap();
    assert_eq!(unlocked.status(), StatusCode::NO_CONTENT);
    let again = lock(&cluster, C, &format!("/limit-{}.txt", free[0]), "Second-60").await;
    assert_eq!(again.status(), StatusCode::OK);
}

/// More LOCKs at once through one instance than it has connections for latches (16) are all
/// granted, without waiting for one another: each holds its path's latch while it waits for
/// the user's lock-count latch, which is held on connections of its own. (When both came
/// from one pool, the first 16 took every connection and waited a minute for a 17th.)
async fn many_locks_at_once_through_one_instance_are_all_granted(kind: Kind) {
    let Some(cluster) = three(kind).await else {
        return;
    };
    const MANY: usize = 40;
    for i in 0..MANY {
        let put = cluster
            .request(A, "PUT", &format!("/many-{i}.txt"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::CREATED);
    }
    let started = Instant::now();
    let attempts = (0..MANY).map(|i| {
        let request = cluster
            .request(A, "LOCK", &format!("/many-{i}.txt"))
            .header("Timeout", "Second-600")
            .header("Content-Type", "application/xml")
            .body(LOCKINFO_EXCLUSIVE);
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    // Nowhere near the minute a starved pool waits before giving up.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// Three instances started at the same moment on a fresh database all start, the schema is
/// migrated once, to the latest version, and they serve one namespace at once (on s3, all
/// three make the root collection's row at startup: one is kept).
async fn instances_starting_together_on_a_fresh_database_migrate_once(kind: Kind) {
    let Some(database) = FreshDatabase::create().await else {
        return;
    };
    let Some(mut cluster) = Cluster::on_kind(BINARY, &database.url, "", &["a", "b", "c"], kind)
    else {
        return;
    };
    cluster.start_together().await;
    let rows = cluster
        .database()
        .await
        .query("SELECT version FROM davd_schema ORDER BY version", &[])
        .await
        .unwrap();
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    let latest = davd_subsystems::postgres::latest();
    assert_eq!(versions, (1..=latest).collect::<Vec<_>>());
    let put = cluster
        .request(A, "PUT", "/first.txt")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let patched = cluster
        .request(B, "PROPPATCH", "/first.txt")
        .header("Content-Type", "application/xml")
        .body(SET_AUTHOR)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::MULTI_STATUS);
    assert_eq!(
        author(&cluster, C, "/first.txt").await.as_deref(),
        Some("Ada")
    );
    for node in [A, B, C] {
        cluster.kill(node);
    }
}

/// The ResourceTag and Repl-uid of `path` through `node`.
async fn identity(cluster: &Cluster, node: usize, path: &str) -> (String, String) {
    let body = format!(
        r#"<D:propfind xmlns:D="DAV:" xmlns:R="{REPL}"><D:prop><R:resourcetag/><R:repl-uid/></D:prop></D:propfind>"#
    );
    let (status, text) = propfind(cluster, node, path, &body).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{text}");
    let ms = Multistatus::parse(&text);
    let response = &ms.responses[0];
    (
        response.prop(REPL, "resourcetag").unwrap().text.clone(),
        response.prop(REPL, "repl-uid").unwrap().text.clone(),
    )
}

/// A property set through A is read through B; a MOVE through C carries it, and the
/// document's id, which all three report alike.
async fn properties_and_document_ids_are_the_same_through_every_instance(kind: Kind) {
    let Some(cluster) = three(kind).await else {
        return;
    };
    assert_eq!(
        cluster
            .request(A, "MKCOL", "/folder")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    let put = cluster
        .request(A, "PUT", "/folder/doc.txt")
        .body("content")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let tag = put.headers()["resourcetag"].to_str().unwrap().to_owned();
    let response = cluster
        .request(A, "PROPPATCH", "/folder/doc.txt")
        .header("Content-Type", "application/xml")
        .body(SET_AUTHOR)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::MULTI_STATUS);
    assert_eq!(
        author(&cluster, B, "/folder/doc.txt").await.as_deref(),
        Some("Ada")
    );

    let before = identity(&cluster, A, "/folder/doc.txt").await;
    assert_eq!(before.0, tag, "the PUT's ResourceTag is the one recorded");
    for node in [B, C] {
        assert_eq!(identity(&cluster, node, "/folder/doc.txt").await, before);
    }

    let moved = cluster
        .request(C, "MOVE", "/folder")
        .header("Destination", cluster.url(C, "/moved"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::CREATED);
    for node in [A, B, C] {
        assert_eq!(
            author(&cluster, node, "/moved/doc.txt").await.as_deref(),
            Some("Ada"),
            "through instance {node}"
        );
        assert_eq!(
            identity(&cluster, node, "/moved/doc.txt").await,
            before,
            "the id moved with the document (instance {node})"
        );
    }
    let gone = cluster
        .request(B, "GET", "/folder/doc.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

/// The members a `sync-collection` report through `node` names, with their status (200 with
/// properties, 404 removed), and its token.
async fn synced(
    cluster: &Cluster,
    node: usize,
    path: &str,
    token: Option<&str>,
) -> (Vec<(String, u16)>, String) {
    let token = token.map_or("<D:sync-token/>".to_owned(), |t| {
        format!("<D:sync-token>{t}</D:sync-token>")
    });
    let response = cluster
        .request(node, "REPORT", path)
        .header("Content-Type", "application/xml")
        .body(format!(
            r#"<D:sync-collection xmlns:D="DAV:">{token}<D:sync-level>infinite</D:sync-level>
               <D:prop><D:getetag/></D:prop></D:sync-collection>"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::MULTI_STATUS,
        "through {node}"
    );
    let text = response.text().await.unwrap();
    let mut members: Vec<(String, u16)> = Multistatus::parse(&text)
        .responses
        .iter()
        .map(|r| (r.href.clone(), r.status.unwrap_or(200)))
        .collect();
    members.sort();
    (members, sync_token_of(&text).unwrap())
}

/// Issue 22: the change log is the database's, so a token handed out by A is good at B and
/// C, and reports what was changed through each of them.
async fn a_sync_token_from_one_instance_reports_changes_made_through_the_others(kind: Kind) {
    let Some(cluster) = three(kind).await else {
        return;
    };
    let status = |r: reqwest::Response| r.status();
    assert_eq!(
        status(cluster.request(A, "MKCOL", "/s").send().await.unwrap()),
        StatusCode::CREATED
    );
    for (node, name) in [(A, "a"), (B, "b")] {
        let put = cluster.request(node, "PUT", &format!("/s/{name}"));
        assert!(status(put.body("1").send().await.unwrap()).is_success());
    }
    let (first, token) = synced(&cluster, A, "/s/", None).await;
    assert_eq!(first, [("/s/a".to_owned(), 200), ("/s/b".to_owned(), 200)]);

    let put = cluster.request(B, "PUT", "/s/a").body("changed through B");
    assert!(status(put.send().await.unwrap()).is_success());
    let delete = cluster.request(C, "DELETE", "/s/b").send().await.unwrap();
    assert_eq!(status(delete), StatusCode::NO_CONTENT);
    let put = cluster.request(C, "PUT", "/s/c").body("new through C");
    assert!(status(put.send().await.unwrap()).is_success());
    let expected = [
        ("/s/a".to_owned(), 200),
        ("/s/b".to_owned(), 404),
        ("/s/c".to_owned(), 200),
    ];
    for node in [A, B, C] {
        let (changes, next) = synced(&cluster, node, "/s/", Some(&token)).await;
        assert_eq!(changes, expected, "through instance {node}");
        let (none, _) = synced(&cluster, node, "/s/", Some(&next)).await;
        assert!(none.is_empty(), "through instance {node}: {none:?}");
    }
}

/// What A acknowledged is in the database the moment it answered: killed right after, B
/// sees the lock and the property.
async fn an_instance_killed_after_acknowledging_loses_nothing(kind: Kind) {
    let Some(mut cluster) = three(kind).await else {
        return;
    };
    let put = cluster
        .request(A, "PUT", "/kept.txt")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let locked = lock(&cluster, A, "/kept.txt", "Second-600").await;
    assert_eq!(locked.status(), StatusCode::OK);
    let token = lock_token(&locked);
    let patched = cluster
        .request(A, "PROPPATCH", "/kept.txt")
        .header("Content-Type", "application/xml")
        .header("If", format!("(<{token}>)"))
        .body(SET_AUTHOR)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::MULTI_STATUS);
    cluster.kill(A);

    let seen = locks_seen(&cluster, B, "/kept.txt").await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, token);
    assert_eq!(
        author(&cluster, B, "/kept.txt").await.as_deref(),
        Some("Ada")
    );
    let refused = cluster
        .request(B, "PUT", "/kept.txt")
        .body("y")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::LOCKED);

    // A comes back, recovers, and agrees.
    cluster.start_node(A, &[]).await;
    assert_eq!(locks_seen(&cluster, A, "/kept.txt").await.len(), 1);
}

/// An instance killed while it holds a path's latch holds nobody up: the database ends its
/// transaction, and with it the latch, when its connection closes.
async fn a_killed_instance_s_latch_is_freed_at_once(kind: Kind) {
    let Some(mut cluster) = three(kind).await else {
        return;
    };
    // A resumable upload writes its segment under the path's latch: a body that stalls after
    // its first bytes keeps A holding it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let upload = cluster
        .request(A, "PUT", "/latched.bin")
        .header("Content-Range", "bytes 0-9/10")
        .header("Content-Length", "10")
        .body(reqwest::Body::wrap_stream(stream.boxed()))
        .send();
    let upload = tokio::spawn(upload);
    tx.send(Ok(Bytes::from_static(b"12345"))).await.unwrap();

    let database = cluster.database().await;
    let held = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid \
                WHERE l.locktype = 'advisory' AND l.granted AND s.application_name = $1";
    let application = format!("davd {}", cluster_instance(&cluster, A));
    let mut holding = false;
    for _ in 0..400 {
        let rows = database.query(held, &[&application]).await.unwrap();
        if rows[0].get::<_, i64>(0) > 0 {
            holding = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(holding, "A never took the latch in the database");

    cluster.kill(A);
    let started = Instant::now();
    let put = cluster
        .request(B, "PUT", "/latched.bin")
        .body("from B")
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(put.status().is_success(), "{}", put.status());
    assert!(
        waited < Duration::from_secs(2),
        "B's PUT waited {waited:?} for the killed instance's latch"
    );
    drop(tx);
    let _ = upload.await;
    let body = cluster
        .request(C, "GET", "/latched.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(body.text().await.unwrap(), "from B");
}

/// The default instance name: the host name and the port (what `application_name` says).
fn cluster_instance(cluster: &Cluster, node: usize) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let host: String = host
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => c,
            _ => '-',
        })
        .take(56)
        .collect();
    format!("{host}-{}", cluster.nodes[node].port)
}

/// The database stops as if it crashed: every request that needs it is a 503 with
/// Retry-After within seconds, reads that need none go on (on fs, downloads; on s3 the tree
/// is in the database, so a download is a 503 too); it starts again and davd serves again,
/// without a restart, with every acknowledged write there.
async fn a_database_outage_is_a_503_and_heals_by_itself(kind: Kind) {
    let Some(postgres) = Postgres::start() else {
        return;
    };
    let Some(mut cluster) =
        Cluster::on_kind(BINARY, &postgres.url, "outage", &["a", "b", "c"], kind)
    else {
        return;
    };
    cluster.start_all(&[]).await;
    let mut acknowledged = Vec::new();
    for (i, node) in [A, B, C].into_iter().enumerate() {
        let path = format!("/acked-{i}.txt");
        let put = cluster
            .request(node, "PUT", &path)
            .body(format!("body {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::CREATED);
        let patched = cluster
            .request(node, "PROPPATCH", &path)
            .header("Content-Type", "application/xml")
            .body(SET_AUTHOR)
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), StatusCode::MULTI_STATUS);
        acknowledged.push(path);
    }

    postgres.stop_abruptly();
    // The issue's bound is "about 2 s" per request; the slack is for a busy machine.
    let bound = Duration::from_secs(3);
    for node in [A, B, C] {
        let started = Instant::now();
        let response = cluster
            .request(node, "PROPFIND", "/acked-0.txt")
            .header("Depth", "0")
            .header("Content-Type", "application/xml")
            .body(ALLPROP)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
        assert!(
            started.elapsed() < bound,
            "PROPFIND took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let put = cluster
            .request(node, "PUT", "/during.txt")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(put.headers().contains_key("retry-after"));
        assert!(
            started.elapsed() < bound,
            "PUT took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let lock = lock(&cluster, node, "/acked-0.txt", "Second-60").await;
        assert_eq!(lock.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(lock.headers().contains_key("retry-after"));
        assert!(
            started.elapsed() < bound,
            "LOCK took {:?}",
            started.elapsed()
        );
        // On fs a download needs no shared state; on s3 it reads the tree's row first.
        let started = Instant::now();
        let get = cluster
            .request(node, "GET", "/acked-1.txt")
            .send()
            .await
            .unwrap();
        match kind {
            Kind::Fs => {
                assert_eq!(get.status(), StatusCode::OK);
                assert_eq!(get.text().await.unwrap(), "body 1");
            }
            Kind::S3 => {
                assert_eq!(get.status(), StatusCode::SERVICE_UNAVAILABLE);
                assert!(get.headers().contains_key("retry-after"));
                assert!(
                    started.elapsed() < bound,
                    "GET took {:?}",
                    started.elapsed()
                );
            }
        }
    }

    postgres.start_again();
    for node in [A, B, C] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, _) = propfind(&cluster, node, "/acked-0.txt", ALLPROP).await;
            if status == StatusCode::MULTI_STATUS {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "instance {node} did not serve again"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for path in &acknowledged {
            assert_eq!(
                author(&cluster, node, path).await.as_deref(),
                Some("Ada"),
                "{path}"
            );
        }
    }
    let put = cluster
        .request(B, "PUT", "/after.txt")
        .body("y")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    cluster.kill(A);
    cluster.kill(B);
    cluster.kill(C);
}

/// C's clock runs five minutes ahead: lock timeouts come from the database's clock, so C
/// shows the others' locks with the time they really have left, and a short lock C takes
/// ends for everyone when it should. fs only: the timeouts are the lock table's, the same
/// whatever the namespace (an s3 instance's clock also signs its requests to the store,
/// which refuses a skew beyond 15 minutes: not what this test is about).
#[tokio::test]
async fn an_instance_whose_clock_is_ahead_agrees_on_lock_timeouts() {
    if !have("faketime") {
        skip("faketime is not installed (apt-get install faketime)");
        return;
    }
    let Some(mut cluster) = three(Kind::Fs).await else {
        return;
    };
    cluster.kill(C);
    cluster.start_node(C, &["faketime", "-f", "+5m"]).await;

    // C's clock is really ahead: its Date header says so.
    let date = cluster
        .request(C, "OPTIONS", "/")
        .send()
        .await
        .unwrap()
        .headers()["date"]
        .to_str()
        .unwrap()
        .to_owned();
    let told = httpdate::parse_http_date(&date).unwrap();
    assert!(
        told > SystemTime::now() + Duration::from_secs(240),
        "C is not ahead: {date}"
    );

    for path in ["/by-a.txt", "/by-c.txt", "/short.txt"] {
        let put = cluster
            .request(B, "PUT", path)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::CREATED);
    }
    let by_a = lock(&cluster, A, "/by-a.txt", "Second-120").await;
    assert_eq!(by_a.status(), StatusCode::OK);
    let by_c = lock(&cluster, C, "/by-c.txt", "Second-120").await;
    assert_eq!(by_c.status(), StatusCode::OK);
    for node in [A, B, C] {
        for path in ["/by-a.txt", "/by-c.txt"] {
            let seen = locks_seen(&cluster, node, path).await;
            assert_eq!(seen.len(), 1, "{path} through {node}");
            let left = seconds(&seen[0].1);
            assert!(
                (100..=120).contains(&left),
                "{path} through instance {node}: {left} s left"
            );
        }
    }
    // C still refuses a write without the token: the lock has not ended by its clock.
    let refused = cluster
        .request(C, "PUT", "/by-a.txt")
        .body("y")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::LOCKED);

    // A lock of one second taken through C ends for A within seconds, not five minutes.
    let short = lock(&cluster, C, "/short.txt", "Second-1").await;
    assert_eq!(short.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let write = cluster
            .request(A, "PUT", "/short.txt")
            .body("after the lock")
            .send()
            .await
            .unwrap();
        if write.status() == StatusCode::NO_CONTENT {
            break;
        }
        assert_eq!(write.status(), StatusCode::LOCKED);
        assert!(Instant::now() < deadline, "the one-second lock never ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Killed, the instance under faketime is gone, not only faketime: its port stops
    // answering (a bounded wait for the kernel to close it, not a timing assumption).
    let port = cluster.nodes[C].port;
    cluster.kill(C);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "instance C still serves on port {port} after it was killed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each instance stages in a directory of its own on the shared root, and one that starts
/// leaves the others' alone. fs only: an s3 instance stages in the bucket, under names
/// nobody else picks (fresh UUIDs), with no directory of its own.
#[tokio::test]
async fn instances_stage_apart_and_starting_one_leaves_the_others_uploads() {
    let Some(mut cluster) = three(Kind::Fs).await else {
        return;
    };
    let staging = cluster.root.join(".davd-staging");
    let mut dirs: Vec<String> = std::fs::read_dir(&staging)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut expected: Vec<String> = [A, B, C]
        .iter()
        .map(|n| cluster_instance(&cluster, *n))
        .collect();
    expected.sort();
    assert_eq!(dirs, expected);
    // Something in flight at B (as an upload or an undo's backup would be).
    let in_flight = staging
        .join(cluster_instance(&cluster, B))
        .join("put-in-flight");
    std::fs::write(&in_flight, "B's upload").unwrap();
    let leftover = staging
        .join(cluster_instance(&cluster, A))
        .join("put-left-by-a-crash");
    std::fs::write(&leftover, "A's").unwrap();
    cluster.kill(A);
    cluster.start_node(A, &[]).await;
    assert!(in_flight.exists(), "A's start removed B's upload");
    assert!(!leftover.exists(), "A discards its own leftovers");
}

/// The harness itself: a port chosen free when the cluster was made may be given to another
/// test's server before an instance starts on it (CI saw "Address already in use"). An
/// instance that never served then starts on another port, and serves. fs only: it checks the
/// harness, not a namespace.
#[tokio::test]
async fn an_instance_whose_port_was_taken_before_it_started_takes_another() {
    let Some(database) = FreshDatabase::create().await else {
        return;
    };
    let mut cluster = Cluster::on(BINARY, &database.url, "", &["a", "b"]);
    let taken = cluster.nodes[B].port;
    let holder = std::net::TcpListener::bind(("127.0.0.1", taken)).unwrap();
    cluster.start_all(&[]).await;
    assert_ne!(cluster.nodes[B].port, taken);
    let put = cluster
        .request(A, "PUT", "/through-a.txt")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let get = cluster
        .request(B, "GET", "/through-a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    drop(holder);
}
