//! Where a cluster of [`Kind::S3`](crate::cluster::Kind::S3) keeps its bytes: a prefix of its
//! own in the test S3 store, and a client of it for tests that look at the objects.

use std::time::Duration;

use davd_subsystems::conformance::cluster::fresh_schema;
use davd_subsystems::conformance::s3::{TestStore, test_store};
use davd_subsystems::s3::{
    ACCESS_KEY_VARIABLE, Blobs, Credentials, DEFAULT_GRACE_SECS, S3Settings, SECRET_KEY_VARIABLE,
};

/// The place in the test S3 store of a cluster of [`Kind::S3`].
pub struct S3Place {
    pub store: TestStore,
    /// The cluster's own prefix in the bucket.
    pub prefix: String,
}

impl S3Place {
    /// A fresh prefix of the test store; `None` after the loud skip line without one.
    pub(crate) fn fresh() -> Option<S3Place> {
        Some(S3Place {
            store: test_store()?,
            prefix: format!("cluster-{}", fresh_schema()),
        })
    }

    /// The mount's `namespace` table.
    pub(crate) fn table(&self) -> String {
        format!(
            "{{ kind = \"s3\", bucket = \"{}\", endpoint = \"{}\", region = \"{}\", \
             prefix = \"{}\" }}",
            self.store.bucket, self.store.endpoint, self.store.region, self.prefix
        )
    }

    /// The namespace's name in the `store` column of the `davd_s3_*` tables.
    pub fn store_name(&self) -> String {
        format!("{}/{}", self.store.bucket, self.prefix)
    }

    /// A client of the bucket under the cluster's prefix, with the keys the instances use,
    /// for looking at the objects themselves.
    pub fn blobs(&self) -> Blobs {
        let key = |name: &str| std::env::var(name).unwrap_or_default();
        let settings = S3Settings {
            bucket: self.store.bucket.clone(),
            endpoint: Some(self.store.endpoint.clone()),
            region: self.store.region.clone(),
            prefix: self.prefix.clone(),
            credentials: Credentials {
                access_key_id: key(ACCESS_KEY_VARIABLE),
                secret_access_key: key(SECRET_KEY_VARIABLE),
                session_token: None,
            },
            grace: Duration::from_secs(DEFAULT_GRACE_SECS),
            // Only reads: no upload takes a part.
            upload_parts: 1,
        };
        Blobs::new(&settings).unwrap()
    }
}
