//! COPY and MOVE of a tree between an `fs` scope and an `s3` scope that fail part way, both
//! ways (issue 21): the source stays whole, the destination stays as it was (no partial
//! tree: neither files on disk nor rows in the database), the client gets an error status,
//! and the bucket keeps only what rows name.
//!
//! The failure is the store going away mid-request, made deterministic by a gate: the s3
//! mount reaches the store through a TCP relay of the test's own, which the test closes
//! (refusing new connections and cutting open ones) before the request. The collections of
//! the tree live in the database and copy fine; the first file needs the store and fails.
//!
//! They need a database and a store (`DAVD_TEST_DATABASE_URL`, `DAVD_TEST_S3_ENDPOINT`);
//! without them they pass after a loud line, and fail when `DAVD_REQUIRE_S3_TESTS` is set.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use davd_subsystems::conformance::cluster::{SchemaGuard, fresh_schema, test_database};
use davd_subsystems::conformance::s3::{fresh_prefix, test_store};
use davd_subsystems::s3::S3Namespace;
use davd_tests::TestServer;

/// A TCP relay to the store that the test can close and open again.
struct Gate {
    port: u16,
    open: Arc<watch::Sender<bool>>,
}

impl Gate {
    async fn to(upstream: SocketAddr) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(watch::channel(true).0);
        let watcher = open.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut state = watcher.subscribe();
                let open = *state.borrow_and_update();
                if !open {
                    // Closed: the connection ends at once, as at a store that went down.
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut store) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    // Ends when the gate closes: open connections are cut too.
                    let closed = async {
                        loop {
                            let open = *state.borrow_and_update();
                            if !open || state.changed().await.is_err() {
                                return;
                            }
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut store) => {}
                        () = closed => {}
                    }
                });
            }
        });
        Gate { port, open }
    }

    fn close(&self) {
        self.open.send_replace(false);
    }

    fn reopen(&self) {
        self.open.send_replace(true);
    }
}

/// The file system at `/`, an s3 namespace at `/s3` reached through a [`Gate`], and the
/// test's own view of the namespace (straight to the store, no grace period) to audit with.
struct Setup {
    server: TestServer,
    gate: Gate,
    auditor: S3Namespace,
    guard: SchemaGuard,
}

impl Setup {
    async fn start() -> Option<Setup> {
        let store = test_store()?;
        let url = test_database()?;
        let schema = fresh_schema();
        let prefix = fresh_prefix();
        let address = store.endpoint.trim_start_matches("http://");
        let upstream = tokio::net::lookup_host(address)
            .await
            .unwrap()
            .next()
            .unwrap();
        let gate = Gate::to(upstream).await;
        let keys = store
            .table_keys_at(&prefix)
            .replace(&store.endpoint, &format!("http://127.0.0.1:{}", gate.port));
        let config = format!(
            "[cluster]\ndatabase = \"{url}\"\nschema = \"{schema}\"\ninstance = \"s3-rollback\"\n\n\
             [[mount]]\nscope = \"/\"\nnamespace = {{ kind = \"fs\", root = \"ROOT\" }}\n\
             properties = {{ kind = \"postgres\" }}\nlocks = {{ kind = \"postgres\" }}\n\n\
             [[mount]]\nscope = \"/s3\"\nnamespace = {{ {keys} }}\n"
        );
        let server = TestServer::configured(&config).await;
        let auditor = store.auditor(&url, &schema, &prefix).await;
        Some(Setup {
            server,
            gate,
            auditor,
            guard: SchemaGuard { url, schema },
        })
    }

    /// A tree of collections and files at `base`.
    async fn build(&self, base: &str) {
        let s = &self.server;
        for dir in ["", "/sub", "/sub/deeper"] {
            let status = s.mkcol(&format!("{base}{dir}")).await.status();
            assert_eq!(status, StatusCode::CREATED, "MKCOL {base}{dir}");
        }
        for file in FILES {
            let status = s.put(&format!("{base}/{file}"), *file).await.status();
            assert_eq!(status, StatusCode::CREATED, "PUT {base}/{file}");
        }
    }

    /// Panics unless the whole tree is at `base`, each file with its content.
    async fn assert_whole(&self, base: &str, context: &str) {
        for file in FILES {
            let got = self.server.get(&format!("{base}/{file}")).await;
            assert_eq!(got.status(), StatusCode::OK, "{context}: {base}/{file}");
            assert_eq!(got.text().await.unwrap(), *file, "{context}: {base}/{file}");
        }
    }

    /// Panics unless nothing is at `base`.
    async fn assert_absent(&self, base: &str, context: &str) {
        let (status, body) = self.server.propfind(base, "0", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{context}: {base}: {body}");
    }

    /// How many rows of the s3 tree lie at or below `relative` (a path in the s3 mount).
    async fn rows_below(&self, relative: &str) -> i64 {
        let (client, connection) = tokio_postgres::connect(&self.guard.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        // A row's path is its dir and name; everything below it has a dir in one range.
        let sql = format!(
            "SELECT count(*) FROM {}.davd_s3_tree WHERE dir || name = $1 \
             OR (dir >= $1 || '/' AND dir < $1 || '0')",
            self.guard.schema
        );
        client.query_one(&sql, &[&relative]).await.unwrap().get(0)
    }

    /// Sends `method` from `source` to `destination` with the store gone, and checks the
    /// answer is an error and not a 207.
    async fn fail_while_closed(&self, method: &str, source: &str, destination: &str) {
        self.gate.close();
        let response = self
            .server
            .request(method, source)
            .header("Destination", self.server.url(destination))
            .send()
            .await
            .unwrap();
        self.gate.reopen();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {source} -> {destination}: {body}"
        );
    }

    async fn check_bucket(&self, context: &str) {
        let audit = self.auditor.audit().await.unwrap();
        audit.assert_named_are_stored(context);
        self.auditor
            .collect_and_audit()
            .await
            .unwrap()
            .assert_exactly_named(context);
    }
}

const FILES: &[&str] = &["a", "b", "sub/c", "sub/d", "sub/deeper/e"];

/// From the file system to the store: the tree's collections copy (rows only), its first
/// file cannot go up. Neither the COPY nor the MOVE leaves a row or a directory behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_or_move_from_fs_to_s3_that_fails_part_way_leaves_both_as_they_were() {
    let Some(setup) = Setup::start().await else {
        return;
    };
    setup.build("/tree").await;
    setup.build("/s3/kept").await;
    for method in ["COPY", "MOVE"] {
        let context = format!("{method} fs -> s3");
        setup.fail_while_closed(method, "/tree", "/s3/copy").await;
        setup.assert_whole("/tree", &context).await;
        setup.assert_absent("/s3/copy", &context).await;
        assert_eq!(setup.rows_below("/copy").await, 0, "{context}");
        setup.assert_whole("/s3/kept", &context).await;
        setup.check_bucket(&context).await;
    }
}

/// From the store to the file system: the tree's collections are made on disk, its first
/// file cannot be read. Neither the COPY nor the MOVE leaves a directory behind, and the
/// source's rows are all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_or_move_from_s3_to_fs_that_fails_part_way_leaves_both_as_they_were() {
    let Some(setup) = Setup::start().await else {
        return;
    };
    setup.build("/s3/tree").await;
    let rows = setup.rows_below("/tree").await;
    assert_eq!(rows, 3 + FILES.len() as i64);
    for method in ["COPY", "MOVE"] {
        let context = format!("{method} s3 -> fs");
        setup.fail_while_closed(method, "/s3/tree", "/copy").await;
        setup.assert_whole("/s3/tree", &context).await;
        assert_eq!(setup.rows_below("/tree").await, rows, "{context}");
        setup.assert_absent("/copy", &context).await;
        assert!(
            !setup.server.root().join("copy").exists(),
            "{context}: a directory was left on disk"
        );
        setup.check_bucket(&context).await;
    }
}
