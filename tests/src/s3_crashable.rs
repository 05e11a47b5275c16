//! One davd process serving an s3 namespace at `/s3`, which a test kills and starts again at
//! fail points (`DAVD_FAIL_AT`), with the test's own view of that namespace (no grace period)
//! to collect and audit the bucket with: `s3_crash.rs`, `s3_history.rs`.

use reqwest::{RequestBuilder, StatusCode};

use davd_subsystems::conformance::s3::{fresh_prefix, test_store};
use davd_subsystems::s3::S3Namespace;

use crate::cluster::Cluster;

pub struct Crashable {
    pub cluster: Cluster,
    pub auditor: S3Namespace,
}

impl Crashable {
    /// davd (the `binary`, a cluster node) with the file system at `/` and an s3 mount at
    /// `/s3` whose table ends with `mount_keys` (such as `history = { keep = "30d" }`, or
    /// nothing); `None` after the loud skip line when there is no test store.
    pub async fn start(binary: &str, mount_keys: &str) -> Option<Crashable> {
        let store = test_store()?;
        let prefix = fresh_prefix();
        let extra = format!(
            "\n[[mount]]\nscope = \"/s3\"\nnamespace = {{ {} }}\n{mount_keys}",
            store.table_keys_at(&prefix)
        );
        let cluster = Cluster::start_with(binary, &["a"], &extra).await?;
        let auditor = store
            .auditor(&cluster.database, &cluster.schema, &prefix)
            .await;
        Some(Crashable { cluster, auditor })
    }

    /// Kills davd and starts it again, aborting at `fail_at` (a `DAVD_FAIL_AT` list) if given.
    pub async fn restart(&mut self, fail_at: Option<&str>) {
        self.cluster.kill(0);
        match fail_at {
            Some(points) => {
                let variable = format!("DAVD_FAIL_AT={points}");
                self.cluster
                    .start_node(0, &["env", variable.as_str()])
                    .await;
            }
            None => self.cluster.start_node(0, &[]).await,
        }
    }

    pub fn request(&self, method: &str, path: &str) -> RequestBuilder {
        self.cluster.request(0, method, path)
    }

    /// The invariant after a crash and a restart: every named blob is stored; and after a
    /// collection and a scan, exactly the named blobs are.
    pub async fn check_bucket(&self, context: &str) {
        self.auditor
            .audit()
            .await
            .unwrap_or_else(|e| panic!("{context}: audit: {e}"))
            .assert_named_are_stored(context);
        self.auditor
            .collect_and_audit()
            .await
            .unwrap_or_else(|e| panic!("{context}: collect: {e}"))
            .assert_exactly_named(context);
    }

    /// The status of a request, or `None` when davd went away before answering (killed at a
    /// fail point).
    pub async fn status(&self, request: RequestBuilder) -> Option<StatusCode> {
        request.send().await.ok().map(|r| r.status())
    }
}
