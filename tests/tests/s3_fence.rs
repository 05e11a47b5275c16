//! An `s3` mount's tree changes are fenced by the cluster latches' transaction (issue 21): a
//! MKCOL, DELETE, MOVE or COPY whose latch is lost before its change is made changes no row
//! and answers 503; the same requests succeed otherwise, and a refused one leaves nothing
//! half done.
//!
//! How a latch is lost on cue: the test holds `davd_s3_tree` in `EXCLUSIVE` mode (reads go
//! on, writes wait), so the request's first change of the tree waits; it waits on the
//! connection that holds the request's latches (the one with advisory locks), which the test
//! then terminates, as PostgreSQL would end the connection of an instance that stalled or
//! died. Had the change run on a connection of its own, no waiting connection would hold a
//! latch, and it would go through once the table is let go.
//!
//! They need a database and a store (`davd_subsystems::conformance::{cluster, s3}`);
//! without them they pass after a loud line, and fail when `DAVD_REQUIRE_*_TESTS` is set.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::StatusCode;
use tokio_postgres::{Client, NoTls};

use davd_subsystems::conformance::cluster::{SchemaGuard, fresh_schema, test_database};
use davd_subsystems::conformance::s3::test_store;
use davd_tests::TestServer;

struct Fenced {
    server: TestServer,
    /// The instance's name, and so its connections' `application_name`: one per test, as
    /// the tests run at once and each terminates its own instance's connections.
    instance: String,
    url: String,
    schema: String,
    /// The test's own connection, with the schema on its search path.
    db: Client,
    _guard: SchemaGuard,
}

async fn connect(url: &str, schema: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("SET search_path = {schema}"))
        .await
        .unwrap();
    client
}

/// A server whose root is a fresh s3 namespace, with properties and locks in the same
/// database, and the test's connection to it.
async fn fenced() -> Option<Fenced> {
    let store = test_store()?;
    let url = test_database()?;
    let schema = fresh_schema();
    let instance = format!("fence-{}", &schema[2..14]);
    let config = format!(
        "[cluster]\ndatabase = \"{url}\"\nschema = \"{schema}\"\ninstance = \"{instance}\"\n\n\
         [[mount]]\nscope = \"/\"\nnamespace = {{ {} }}\n\
         properties = {{ kind = \"postgres\" }}\nlocks = {{ kind = \"postgres\" }}\n",
        store.table_keys()
    );
    let server = TestServer::configured(&config).await;
    let db = connect(&url, &schema).await;
    Some(Fenced {
        server,
        instance,
        _guard: SchemaGuard {
            url: url.clone(),
            schema: schema.clone(),
        },
        url,
        schema,
        db,
    })
}

/// Every row of the tree and of the detached trees, as text, in order.
async fn rows(db: &Client) -> (Vec<String>, Vec<String>) {
    let text =
        |rows: Vec<tokio_postgres::Row>| -> Vec<String> { rows.iter().map(|r| r.get(0)).collect() };
    let tree = db
        .query(
            "SELECT dir || '|' || name || '|' || coalesce(blob, '-') || '|' || etag \
             FROM davd_s3_tree ORDER BY dir, name",
            &[],
        )
        .await
        .unwrap();
    let detached = db
        .query(
            "SELECT tag || '|' || dir || '|' || name FROM davd_s3_detached ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    (text(tree), text(detached))
}

/// Sends `request` while the tree's writes are held back, terminates the connection its
/// change waits on (which must be the one holding its latches), and answers its status.
async fn with_latch_lost(f: &Fenced, request: reqwest::RequestBuilder) -> StatusCode {
    lose_latch(f, request, "davd_s3_tree", true).await
}

/// Sends `request` while the writes of `table` are held back and, once one of the
/// instance's connections waits for them, terminates the connection that holds the
/// request's latches: with `on_latch`, the waiting one must be that connection.
async fn lose_latch(
    f: &Fenced,
    request: reqwest::RequestBuilder,
    table: &str,
    on_latch: bool,
) -> StatusCode {
    let blocker = connect(&f.url, &f.schema).await;
    blocker
        .batch_execute(&format!("BEGIN; LOCK TABLE {table} IN EXCLUSIVE MODE"))
        .await
        .unwrap();
    let sent = tokio::spawn(request.send());
    let holds_latch = "EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid \
                       AND l.locktype = 'advisory' AND l.granted)";
    let waiting = format!(
        "SELECT a.pid FROM pg_stat_activity a WHERE a.wait_event_type = 'Lock' \
         AND a.application_name = 'davd {}'{}",
        f.instance,
        if on_latch {
            format!(" AND {holds_latch}")
        } else {
            String::new()
        }
    );
    let holder = format!(
        "SELECT a.pid FROM pg_stat_activity a WHERE a.application_name = 'davd {}' \
         AND {holds_latch}",
        f.instance
    );
    let mut terminated = false;
    // A ceiling against hanging, not a timing assumption: the loop ends as soon as the
    // request's write waits.
    for _ in 0..1200 {
        if !f.db.query(waiting.as_str(), &[]).await.unwrap().is_empty() {
            for row in f.db.query(holder.as_str(), &[]).await.unwrap() {
                let pid: i32 = row.get(0);
                f.db.execute("SELECT pg_terminate_backend($1)", &[&pid])
                    .await
                    .unwrap();
                terminated = true;
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    blocker.batch_execute("ROLLBACK").await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(30), sent).await;
    assert!(
        terminated,
        "the request's write of {table} never waited (on its latches' connection: {on_latch})"
    );
    response
        .expect("the request answered once its latch was lost")
        .unwrap()
        .unwrap()
        .status()
}

fn moving(s: &TestServer, method: &str, from: &str, to: &str) -> reqwest::RequestBuilder {
    s.request(method, from).header("Destination", s.url(to))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_lost_its_latch_changes_nothing_of_the_tree() {
    let Some(f) = fenced().await else {
        return;
    };
    let s = &f.server;
    assert_eq!(s.mkcol("/dir").await.status(), StatusCode::CREATED);
    assert_eq!(s.put("/dir/a", "alpha").await.status(), StatusCode::CREATED);
    assert_eq!(s.mkcol("/dir/sub").await.status(), StatusCode::CREATED);
    assert_eq!(
        s.put("/dir/sub/b", "beta").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(s.put("/f.txt", "file").await.status(), StatusCode::CREATED);
    let before = rows(&f.db).await;

    let cases = [
        ("MKCOL", s.request("MKCOL", "/new")),
        ("DELETE of a collection", s.request("DELETE", "/dir")),
        ("DELETE of a file", s.request("DELETE", "/f.txt")),
        ("MOVE of a file", moving(s, "MOVE", "/f.txt", "/g.txt")),
        ("MOVE of a collection", moving(s, "MOVE", "/dir", "/moved")),
        ("MOVE over a file", moving(s, "MOVE", "/dir/a", "/f.txt")),
        ("COPY of a file", moving(s, "COPY", "/f.txt", "/copy.txt")),
        ("COPY of a collection", moving(s, "COPY", "/dir", "/copied")),
    ];
    for (what, request) in cases {
        let status = with_latch_lost(&f, request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert_eq!(rows(&f.db).await, before, "{what} changed the tree");
    }

    // With their latches, the same requests go through, each committed before its answer.
    assert_eq!(s.mkcol("/new").await.status(), StatusCode::CREATED);
    let copied = moving(s, "COPY", "/dir", "/copied").send().await.unwrap();
    assert_eq!(copied.status(), StatusCode::CREATED);
    let moved = moving(s, "MOVE", "/dir", "/moved").send().await.unwrap();
    assert_eq!(moved.status(), StatusCode::CREATED);
    let over = moving(s, "MOVE", "/moved/a", "/f.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.delete("/copied").await.status(), StatusCode::NO_CONTENT);
    let (tree, detached) = rows(&f.db).await;
    let places: Vec<String> = tree
        .iter()
        .map(|row| row.split('|').take(2).collect::<Vec<_>>().join("|"))
        .collect();
    assert_eq!(
        places,
        [
            "|",
            "/|f.txt",
            "/|moved",
            "/|new",
            "/moved/|sub",
            "/moved/sub/|b"
        ]
    );
    assert!(detached.is_empty(), "{detached:?}");
    assert_eq!(s.get("/f.txt").await.text().await.unwrap(), "alpha");
    assert_eq!(s.get("/moved/sub/b").await.text().await.unwrap(), "beta");
}

/// A MOVE refused part way leaves no row changed, and the next request on the same
/// connection is served as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_move_leaves_nothing_half_done() {
    let Some(f) = fenced().await else {
        return;
    };
    let s = &f.server;
    assert_eq!(s.mkcol("/dir").await.status(), StatusCode::CREATED);
    assert_eq!(s.put("/dir/a", "alpha").await.status(), StatusCode::CREATED);
    assert_eq!(s.put("/b", "beta").await.status(), StatusCode::CREATED);
    let before = rows(&f.db).await;

    let orphan = moving(s, "MOVE", "/dir", "/missing/dir")
        .send()
        .await
        .unwrap();
    assert_eq!(orphan.status(), StatusCode::CONFLICT);
    let kept = moving(s, "MOVE", "/b", "/dir/a")
        .header("Overwrite", "F")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), StatusCode::PRECONDITION_FAILED);
    let into_itself = moving(s, "MOVE", "/dir", "/dir/inner")
        .send()
        .await
        .unwrap();
    assert_eq!(into_itself.status(), StatusCode::FORBIDDEN);
    assert_eq!(rows(&f.db).await, before);

    let moved = moving(s, "MOVE", "/b", "/dir/a").send().await.unwrap();
    assert_eq!(moved.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get("/dir/a").await.text().await.unwrap(), "beta");
    assert_eq!(s.get("/b").await.status(), StatusCode::NOT_FOUND);
    assert!(rows(&f.db).await.1.is_empty(), "nothing left detached");
}

/// A latch lost after the tree changed and before the latches' commit: the commit fails,
/// the request answers 503, the tree is as it was, and the property batch that went in on
/// its own connection is undone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latch_lost_before_the_commit_keeps_nothing() {
    let Some(f) = fenced().await else {
        return;
    };
    let s = &f.server;
    assert_eq!(s.mkcol("/dir").await.status(), StatusCode::CREATED);
    assert_eq!(s.put("/dir/a", "alpha").await.status(), StatusCode::CREATED);
    let set = "<D:propertyupdate xmlns:D=\"DAV:\" xmlns:z=\"urn:z\"><D:set><D:prop>\
               <z:author>Ada</z:author></D:prop></D:set></D:propertyupdate>";
    assert_eq!(s.proppatch("/dir/a", set).await.0, StatusCode::MULTI_STATUS);
    let before = rows(&f.db).await;

    let status = lose_latch(&f, s.request("DELETE", "/dir"), "davd_props", false).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(rows(&f.db).await, before);
    let ask = "<D:propfind xmlns:D=\"DAV:\"><D:prop><z:author xmlns:z=\"urn:z\"/></D:prop>\
               </D:propfind>";
    let (status, text) = s.propfind("/dir/a", "0", ask).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert!(
        text.contains("Ada"),
        "the property batch was undone: {text}"
    );

    assert_eq!(s.delete("/dir").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get("/dir/a").await.status(), StatusCode::NOT_FOUND);
}
