//! For tests that need a real S3-compatible store (and PostgreSQL, which holds the `s3`
//! kind's tree): where it is, a fresh prefix per test, and the loud line that says they did
//! not run.
//!
//! Tests find the store in `DAVD_TEST_S3_ENDPOINT` (with `DAVD_TEST_S3_BUCKET`, default
//! `davd`, `DAVD_TEST_S3_REGION`, and the keys in `AWS_ACCESS_KEY_ID` and
//! `AWS_SECRET_ACCESS_KEY`); `.ci/run` starts a throw-away SeaweedFS with `s3_start` from
//! `scripts/lib.sh` and sets them. Without it they pass without running and say so, unless
//! `DAVD_REQUIRE_S3_TESTS` is set, as in CI: then a missing store fails them.

use std::io::Write;
use std::sync::Once;

pub const ENDPOINT_VARIABLE: &str = "DAVD_TEST_S3_ENDPOINT";
pub const BUCKET_VARIABLE: &str = "DAVD_TEST_S3_BUCKET";
pub const REGION_VARIABLE: &str = "DAVD_TEST_S3_REGION";
/// When set (to anything), tests that need the store fail without it instead of passing.
pub const REQUIRE_VARIABLE: &str = "DAVD_REQUIRE_S3_TESTS";

static SKIPPED: Once = Once::new();

/// Where the test store is.
#[derive(Debug, Clone)]
pub struct TestStore {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
}

impl TestStore {
    /// A `namespace = { kind = "s3", ... }` table's keys for a fresh prefix of the bucket,
    /// so that each test starts from an empty namespace (the keys come from the
    /// environment).
    pub fn table_keys(&self) -> String {
        self.table_keys_at(&fresh_prefix())
    }

    /// The same keys for the prefix `prefix`.
    pub fn table_keys_at(&self, prefix: &str) -> String {
        format!(
            "kind = \"s3\", bucket = \"{}\", endpoint = \"{}\", region = \"{}\", \
             prefix = \"{prefix}\"",
            self.bucket, self.endpoint, self.region
        )
    }

    /// The settings of the prefix `prefix` with no grace period, for a namespace of the
    /// test's own that collects and audits what davd left there
    /// ([`crate::s3::S3Namespace::collect_and_audit`]).
    pub fn settings_at(&self, prefix: &str) -> crate::s3::S3Settings {
        let table: crate::s3::S3Table = toml::from_str(&format!(
            "bucket = \"{}\"\nendpoint = \"{}\"\nregion = \"{}\"\nprefix = \"{prefix}\"\n\
             grace_secs = 0",
            self.bucket, self.endpoint, self.region
        ))
        .unwrap();
        table.check(None, |name| std::env::var(name).ok()).unwrap()
    }

    /// A namespace on the prefix `prefix` of the test store, its tree in `schema` of the
    /// database at `url`, with no grace period: what a test collects and audits with.
    pub async fn auditor(&self, url: &str, schema: &str, prefix: &str) -> crate::s3::S3Namespace {
        let table: crate::postgres::ClusterTable =
            toml::from_str(&format!("database = \"{url}\"\nschema = \"{schema}\"\n")).unwrap();
        let cluster = crate::postgres::Cluster::open(&table.check(None).unwrap(), "auditor")
            .await
            .unwrap();
        crate::s3::S3Namespace::open(cluster, &self.settings_at(prefix))
            .await
            .unwrap()
    }
}

/// A prefix of the bucket no other test uses.
pub fn fresh_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// The test store; `None`, after a loud line on the terminal (once per test program), when
/// there is none (or no database for its tree) and none is required. Panics when one is
/// required.
pub fn test_store() -> Option<TestStore> {
    let endpoint = std::env::var(ENDPOINT_VARIABLE)
        .ok()
        .filter(|v| !v.is_empty());
    let database = std::env::var(super::cluster::TEST_DATABASE_VARIABLE)
        .ok()
        .filter(|v| !v.is_empty());
    let why = match (&endpoint, &database) {
        (None, _) => format!("{ENDPOINT_VARIABLE} is not set"),
        (_, None) => format!(
            "{} is not set (the s3 kind keeps its tree there)",
            super::cluster::TEST_DATABASE_VARIABLE
        ),
        (Some(endpoint), Some(_)) => {
            return Some(TestStore {
                endpoint: endpoint.clone(),
                bucket: std::env::var(BUCKET_VARIABLE).unwrap_or_else(|_| "davd".to_owned()),
                region: std::env::var(REGION_VARIABLE)
                    .unwrap_or_else(|_| crate::s3::DEFAULT_REGION.to_owned()),
            });
        }
    };
    assert!(
        std::env::var_os(REQUIRE_VARIABLE).is_none(),
        "{why}, and {REQUIRE_VARIABLE} says the s3 tests must run"
    );
    SKIPPED.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: tests against S3 ({why}). Start one with s3_start from \
             scripts/lib.sh and set {ENDPOINT_VARIABLE} (docs/scaling.md). ***\n"
        );
    });
    None
}

/// True if the s3 tests can run (for `when` in the conformance macros).
pub fn store_available() -> bool {
    test_store().is_some()
}
