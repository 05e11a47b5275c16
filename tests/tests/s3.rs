//! An `s3` mount over HTTP (issue 21): the tree in PostgreSQL, the bytes in a real
//! S3-compatible store. PUT, GET with ranges, PROPFIND, COPY, MOVE and DELETE behave as on
//! any other kind.
//!
//! They need a database and a store (`DAVD_TEST_DATABASE_URL`, `DAVD_TEST_S3_ENDPOINT` and
//! the keys, `davd_subsystems::conformance::s3`); without them they pass after a loud line,
//! and `.ci/run` sets `DAVD_REQUIRE_S3_TESTS` so that in CI they must run.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;

use davd_subsystems::conformance::cluster::{SchemaGuard, fresh_schema, test_database};
use davd_subsystems::conformance::s3::test_store;
use davd_tests::{Multistatus, TestServer};

/// A server whose root is a fresh s3 namespace (its tree in a fresh schema), with
/// properties and locks in the same database.
async fn s3_server() -> Option<(TestServer, SchemaGuard)> {
    let store = test_store()?;
    s3_server_at(&store.table_keys()).await
}

/// Like [`s3_server`], with the namespace's keys given.
async fn s3_server_at(namespace: &str) -> Option<(TestServer, SchemaGuard)> {
    let url = test_database()?;
    let schema = fresh_schema();
    let config = format!(
        "[cluster]\ndatabase = \"{url}\"\nschema = \"{schema}\"\ninstance = \"s3-test\"\n\n\
         [[mount]]\nscope = \"/\"\nnamespace = {{ {namespace} }}\n\
         properties = {{ kind = \"postgres\" }}\nlocks = {{ kind = \"postgres\" }}\n"
    );
    let server = TestServer::configured(&config).await;
    Some((server, SchemaGuard { url, schema }))
}

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_mount_serves_the_methods_of_any_namespace() {
    let Some((s, _guard)) = s3_server().await else {
        return;
    };
    let put = s.put("/a.txt", "0123456789").await;
    assert_eq!(put.status(), StatusCode::CREATED);
    let first = etag(&put);

    let got = s.get("/a.txt").await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(etag(&got), first);
    assert_eq!(got.text().await.unwrap(), "0123456789");
    let range = s
        .request("GET", "/a.txt")
        .header("Range", "bytes=2-4")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.headers()["content-range"], "bytes 2-4/10");
    assert_eq!(range.text().await.unwrap(), "234");
    let outside = s
        .request("GET", "/a.txt")
        .header("Range", "bytes=20-30")
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let replaced = s.put("/a.txt", "new content").await;
    assert_eq!(replaced.status(), StatusCode::NO_CONTENT);
    assert_ne!(etag(&replaced), first, "a new body has a new entity tag");
    let stale = s
        .request("PUT", "/a.txt")
        .header("If-Match", &first)
        .body("lost")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);

    assert_eq!(s.mkcol("/dir").await.status(), StatusCode::CREATED);
    assert_eq!(
        s.mkcol("/dir").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(s.mkcol("/no/dir").await.status(), StatusCode::CONFLICT);
    assert_eq!(s.put("/no/f", "x").await.status(), StatusCode::CONFLICT);
    assert_eq!(s.put("/dir/b", "bee").await.status(), StatusCode::CREATED);
    let (status, text) = s.propfind("/dir/", "1", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let listing = Multistatus::parse(&text);
    let mut hrefs = listing.hrefs();
    hrefs.sort();
    assert_eq!(hrefs, ["/dir/", "/dir/b"]);
    let length = listing.response("/dir/b").prop("DAV:", "getcontentlength");
    assert_eq!(length.unwrap().text, "3");

    let copy = s
        .request("COPY", "/a.txt")
        .header("Destination", s.url("/dir/c.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(copy.status(), StatusCode::CREATED);
    assert_eq!(
        s.put("/a.txt", "changed").await.status(),
        StatusCode::NO_CONTENT
    );
    let copied = s.get("/dir/c.txt").await.text().await.unwrap();
    assert_eq!(copied, "new content", "the copy keeps its own content");

    let moved = s
        .request("MOVE", "/dir")
        .header("Destination", s.url("/moved"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::CREATED);
    assert_eq!(s.get("/dir/b").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(s.get("/moved/b").await.text().await.unwrap(), "bee");
    assert_eq!(
        s.get("/moved/c.txt").await.text().await.unwrap(),
        "new content"
    );

    assert_eq!(s.delete("/moved").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get("/moved/b").await.status(), StatusCode::NOT_FOUND);
    let (status, text) = s.propfind("/", "1", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(Multistatus::parse(&text).hrefs().len(), 2, "{text}");
    assert_eq!(s.get("/a.txt").await.text().await.unwrap(), "changed");
}

/// A server on the database at `url`, in `schema`, serving `namespace` at `/` as the
/// instance `instance`: two servers on one schema and one bucket prefix share the tree.
async fn server_on(url: &str, schema: &str, instance: &str, namespace: &str) -> TestServer {
    let config = format!(
        "[cluster]\ndatabase = \"{url}\"\nschema = \"{schema}\"\ninstance = \"{instance}\"\n\n\
         [[mount]]\nscope = \"/\"\nnamespace = {{ {namespace} }}\n\
         properties = {{ kind = \"postgres\" }}\nlocks = {{ kind = \"postgres\" }}\n"
    );
    TestServer::configured(&config).await
}

/// How long a request may take to be refused when the store is gone: far above the 2 s the
/// client's retries and the bounds of `deadlines.rs` take, a bound against hanging only.
const CEILING: std::time::Duration = std::time::Duration::from_secs(10);

/// Sends `request` and checks it is a 503 with `Retry-After`, answered within [`CEILING`].
async fn refused_in_time(request: reqwest::RequestBuilder, what: &str) {
    let started = std::time::Instant::now();
    let response = request.send().await.unwrap();
    let status = response.status();
    assert!(response.headers().contains_key("retry-after"), "{what}");
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    let took = started.elapsed();
    assert!(took < CEILING, "{what} took {took:?}");
    // The store's own error names its endpoint, bucket and blob ids: the log's, not the
    // client's.
    assert!(
        !body.contains("127.0.0.1"),
        "{what} shows the store: {body}"
    );
}

/// Through a server whose store is gone (`dead`, an endpoint): a PUT and a GET of content
/// acknowledged before are 503s with `Retry-After` within the ceiling, not hangs; the tree, in
/// the database, still answers. Then a server on the real store reads back what was
/// acknowledged: nothing is lost, nothing half-written is published.
async fn a_gone_store_is_refused_and_loses_nothing(dead: &str) {
    let Some(store) = test_store() else {
        return;
    };
    let Some(url) = test_database() else {
        return;
    };
    let schema = fresh_schema();
    let _guard = SchemaGuard {
        url: url.clone(),
        schema: schema.clone(),
    };
    let keys = store.table_keys();
    let live = server_on(&url, &schema, "live", &keys).await;
    assert_eq!(
        live.put("/kept", "acknowledged").await.status(),
        StatusCode::CREATED
    );

    let gone = server_on(&url, &schema, "gone", &keys.replace(&store.endpoint, dead)).await;
    refused_in_time(gone.request("PUT", "/f").body("lost?"), "a PUT").await;
    refused_in_time(
        gone.request("PUT", "/kept").body("replaced?"),
        "a PUT over content",
    )
    .await;
    refused_in_time(gone.request("GET", "/kept"), "a GET").await;
    refused_in_time(
        gone.request("GET", "/kept").header("Range", "bytes=2-5"),
        "a range GET",
    )
    .await;
    assert_eq!(
        gone.get("/f").await.status(),
        StatusCode::NOT_FOUND,
        "nothing published"
    );
    assert_eq!(gone.mkcol("/dir").await.status(), StatusCode::CREATED);
    let (status, _) = gone.propfind("/", "1", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);

    let back = live.get("/kept").await;
    assert_eq!(back.status(), StatusCode::OK);
    assert_eq!(back.text().await.unwrap(), "acknowledged");
    assert_eq!(live.get("/f").await.status(), StatusCode::NOT_FOUND);
}

/// A store nobody listens at (the connection is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_a_503_with_retry_after() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    a_gone_store_is_refused_and_loses_nothing(&format!("http://127.0.0.1:{port}")).await;
}

/// A store that accepts connections and never answers (a listener that never reads): the
/// client's connect timeout does not notice it, the bounds around each call do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_never_answers_is_a_503_with_retry_after() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    a_gone_store_is_refused_and_loses_nothing(&format!("http://127.0.0.1:{port}")).await;
    drop(silent);
}

/// COPY and MOVE between an `fs` scope and an `s3` scope, both ways, with collections: the
/// executive copies through the namespaces' contracts, and the s3 side stores what it gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_move_cross_between_fs_and_s3() {
    let Some(store) = test_store() else {
        return;
    };
    let Some(url) = test_database() else {
        return;
    };
    let schema = fresh_schema();
    let config = format!(
        "[cluster]\ndatabase = \"{url}\"\nschema = \"{schema}\"\ninstance = \"s3-test\"\n\n\
         [[mount]]\nscope = \"/\"\nnamespace = {{ kind = \"fs\", root = \"ROOT\" }}\n\
         properties = {{ kind = \"postgres\" }}\nlocks = {{ kind = \"postgres\" }}\n\n\
         [[mount]]\nscope = \"/s3\"\nnamespace = {{ {} }}\n",
        store.table_keys()
    );
    let s = TestServer::configured(&config).await;
    let _guard = SchemaGuard { url, schema };
    assert_eq!(s.mkcol("/tree").await.status(), StatusCode::CREATED);
    assert_eq!(
        s.put("/tree/a", "alpha").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(s.mkcol("/tree/sub").await.status(), StatusCode::CREATED);
    assert_eq!(
        s.put("/tree/sub/b", "beta").await.status(),
        StatusCode::CREATED
    );

    let copy = s
        .request("COPY", "/tree")
        .header("Destination", s.url("/s3/copied"))
        .send()
        .await
        .unwrap();
    assert_eq!(copy.status(), StatusCode::CREATED);
    assert_eq!(
        s.get("/s3/copied/sub/b").await.text().await.unwrap(),
        "beta"
    );
    assert_eq!(s.get("/tree/a").await.text().await.unwrap(), "alpha");

    let moved = s
        .request("MOVE", "/tree")
        .header("Destination", s.url("/s3/moved"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::CREATED);
    assert_eq!(s.get("/s3/moved/a").await.text().await.unwrap(), "alpha");
    assert_eq!(s.get("/tree/a").await.status(), StatusCode::NOT_FOUND);
    assert!(!s.root().join("tree").exists(), "the fs side is gone");

    let back = s
        .request("MOVE", "/s3/moved")
        .header("Destination", s.url("/back"))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), StatusCode::CREATED);
    assert_eq!(
        std::fs::read_to_string(s.root().join("back/sub/b")).unwrap(),
        "beta"
    );
    assert_eq!(s.get("/s3/moved/a").await.status(), StatusCode::NOT_FOUND);
    let (status, text) = s.propfind("/s3/", "1", "").await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(
        Multistatus::parse(&text).sorted_hrefs(),
        ["/s3/", "/s3/copied/"]
    );
}
