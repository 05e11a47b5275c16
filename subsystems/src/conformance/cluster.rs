//! For tests that need a real PostgreSQL: where it is, a schema of their own, and the loud
//! line that says they did not run.
//!
//! Tests find the database in `DAVD_TEST_DATABASE_URL` (`.ci/run` starts a throw-away
//! cluster and sets it; docs/scaling.md says how to do the same by hand). Without it they
//! pass without running and say so on the terminal, unless `DAVD_REQUIRE_CLUSTER_TESTS` is
//! set, as in CI: then a missing database fails them.

use std::io::Write;
use std::sync::Once;

/// Where tests find the database.
pub const TEST_DATABASE_VARIABLE: &str = "DAVD_TEST_DATABASE_URL";

/// When set (to anything), tests that need the database fail without it instead of passing.
pub const REQUIRE_VARIABLE: &str = "DAVD_REQUIRE_CLUSTER_TESTS";

static SKIPPED: Once = Once::new();

/// The test database's URL; `None`, after a loud line on the terminal (once per test
/// program), when there is none and none is required. Panics when one is required.
pub fn test_database() -> Option<String> {
    match std::env::var(TEST_DATABASE_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            skip(&format!("{TEST_DATABASE_VARIABLE} is not set"));
            None
        }
    }
}

/// Says loudly that the cluster tests are skipped because of `why`, or fails the test when
/// they are required to run.
pub fn skip(why: &str) {
    assert!(
        std::env::var_os(REQUIRE_VARIABLE).is_none(),
        "{why}, and {REQUIRE_VARIABLE} says the cluster tests must run"
    );
    SKIPPED.call_once(|| {
        // Straight to the terminal: the test harness keeps what `eprintln!` prints to
        // itself unless the test fails.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: tests against PostgreSQL ({why}). Set {TEST_DATABASE_VARIABLE} \
             to run them (docs/scaling.md, \"Running the cluster tests\"). ***\n"
        );
    });
}

/// True if the database tests can run (for `when` in the conformance macros).
pub fn database_available() -> bool {
    test_database().is_some()
}

/// A fresh schema name, so that each test starts from empty tables and tests running at the
/// same time do not meet.
pub fn fresh_schema() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

/// Drops `schema` and everything in it. Runs on a thread and runtime of its own, so that it
/// can be called from a `Drop` anywhere; best effort. It gives up after a few seconds and
/// leaves the schema behind: a test that failed may still hold a transaction open on a
/// connection that only its own runtime, blocked in this very drop, would close.
pub fn drop_schema(url: &str, schema: &str) {
    let (url, schema) = (url.to_owned(), schema.to_owned());
    let dropped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .ok()?;
            let driver = tokio::spawn(connection);
            let result = client
                .batch_execute(&format!(
                    "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                ))
                .await;
            drop(client);
            let _ = driver.await;
            result.ok()
        })
    });
    let _ = dropped.join();
}

/// Drops its schema when it goes (what a test keeps alongside its subject).
pub struct SchemaGuard {
    pub url: String,
    pub schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        drop_schema(&self.url, &self.schema);
    }
}
