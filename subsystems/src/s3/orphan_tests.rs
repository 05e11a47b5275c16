//! The orphan scan (`orphans.rs`): objects under the prefix that nothing names are removed
//! once older than the grace period, and nothing else is: not a blob a row of the tree, of a
//! detached tree or of the unreferenced ones names, not a key that is no blob, not a blob of
//! another mount's prefix. Each runs when a test database and a test S3 store are configured
//! (`conformance::s3`), in a schema and a bucket prefix of its own.

use bytes::Bytes;

use davd_registry::{ByteStream, DavPath, NamespaceManager, WriteMode};

use super::*;
use crate::conformance::cluster::{SchemaGuard, fresh_schema, test_database};
use crate::conformance::s3::{TestStore, fresh_prefix, test_store};

fn p(s: &str) -> DavPath {
    DavPath::from_segments(s.split('/').filter(|s| !s.is_empty())).unwrap()
}

fn body(bytes: &'static str) -> ByteStream {
    Box::pin(futures_util::stream::once(async move {
        Ok(Bytes::from_static(bytes.as_bytes()))
    }))
}

/// A namespace on `prefix` in a fresh schema, with the grace period `grace_secs`.
async fn namespace(
    store: &TestStore,
    url: &str,
    schema: &str,
    prefix: &str,
    grace_secs: u64,
) -> S3Namespace {
    let mut settings = store.settings_at(prefix);
    settings.grace = std::time::Duration::from_secs(grace_secs);
    let table: crate::postgres::ClusterTable =
        toml::from_str(&format!("database = \"{url}\"\nschema = \"{schema}\"\n")).unwrap();
    let cluster = Cluster::open(&table.check(None).unwrap(), "a")
        .await
        .unwrap();
    S3Namespace::open(cluster, &settings).await.unwrap()
}

struct Setup {
    store: TestStore,
    url: String,
    guard: SchemaGuard,
}

impl Setup {
    fn new() -> Option<Setup> {
        let store = test_store()?;
        let url = test_database()?;
        let schema = fresh_schema();
        Some(Setup {
            store,
            guard: SchemaGuard {
                url: url.clone(),
                schema,
            },
            url,
        })
    }

    async fn namespace(&self, prefix: &str, grace_secs: u64) -> S3Namespace {
        namespace(
            &self.store,
            &self.url,
            &self.guard.schema,
            prefix,
            grace_secs,
        )
        .await
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Every kind of named blob survives a scan with no grace period; the one object nothing
/// names goes; a key that is no blob and a blob one level deeper (another mount's prefix)
/// stay.
#[tokio::test]
async fn the_scan_removes_what_nothing_names_and_only_that() {
    let Some(setup) = Setup::new() else {
        return;
    };
    let prefix = fresh_prefix();
    let ns = setup.namespace(&prefix, 0).await;
    ns.write(&p("/a"), body("a"), WriteMode::Replace)
        .await
        .unwrap();
    ns.copy_file(&p("/a"), &p("/b")).await.unwrap();
    ns.write(&p("/c"), body("c"), WriteMode::Replace)
        .await
        .unwrap();
    ns.detach(&p("/c"), "kept-for-undo").await.unwrap();
    // Staged, not published: recorded as unreferenced, as an upload in flight is.
    let staged = ns.stage(&p("/d"), body("d")).await.unwrap();
    let orphan = uuid();
    ns.blobs.put_raw(&orphan, b"nobody's").await.unwrap();
    ns.blobs.put_raw("notes.txt", b"not a blob").await.unwrap();
    let deeper = format!("inner/{}", uuid());
    ns.blobs.put_raw(&deeper, b"another mount's").await.unwrap();

    let before = ns.audit().await.unwrap();
    assert!(before.stored.contains(&orphan));
    assert_eq!(ns.scan_orphans().await.unwrap(), 1);

    assert!(!ns.blobs.exists_raw(&orphan).await.unwrap());
    assert!(ns.blobs.exists_raw("notes.txt").await.unwrap());
    assert!(ns.blobs.exists_raw(&deeper).await.unwrap());
    assert!(ns.blobs.exists_raw(&staged.handle).await.unwrap());
    let after = ns.audit().await.unwrap();
    after.assert_named_are_stored("after the scan");
    assert_eq!(
        after.named.len(),
        2,
        "/a and /b share one blob, /c is detached"
    );
    let mut expected = after.named.clone();
    expected.extend(after.recorded.iter().cloned());
    assert_eq!(
        after.stored, expected,
        "named and recorded blobs, nothing else"
    );
    assert_eq!(
        ns.scan_orphans().await.unwrap(),
        0,
        "nothing left to remove"
    );

    ns.publish(staged).await.unwrap();
    ns.blobs.delete("notes.txt").await.unwrap();
    ns.blobs.delete(&deeper).await.unwrap();
}

/// An object nothing names is kept while it is younger than the grace period, by the
/// store's clock, and removed by a scan with none.
#[tokio::test]
async fn an_orphan_younger_than_the_grace_period_is_kept() {
    let Some(setup) = Setup::new() else {
        return;
    };
    let prefix = fresh_prefix();
    let patient = setup.namespace(&prefix, 3600).await;
    let orphan = uuid();
    patient.blobs.put_raw(&orphan, b"young").await.unwrap();
    assert_eq!(patient.scan_orphans().await.unwrap(), 0);
    assert!(patient.blobs.exists_raw(&orphan).await.unwrap());

    let eager = setup.namespace(&prefix, 0).await;
    assert_eq!(eager.scan_orphans().await.unwrap(), 1);
    assert!(!patient.blobs.exists_raw(&orphan).await.unwrap());
}

/// A mount at the top of the bucket (an empty prefix) never removes the blobs of a mount
/// with a prefix beside it, orphans or not: they lie one level deeper than its own.
#[tokio::test]
async fn a_mount_at_the_top_of_the_bucket_leaves_other_prefixes_alone() {
    let Some(setup) = Setup::new() else {
        return;
    };
    let prefix = fresh_prefix();
    let top = setup.namespace("", 0).await;
    let inner = setup.namespace(&prefix, 0).await;
    inner
        .write(&p("/f"), body("inner's"), WriteMode::Replace)
        .await
        .unwrap();
    let inner_orphan = uuid();
    inner
        .blobs
        .put_raw(&inner_orphan, b"inner's")
        .await
        .unwrap();
    let top_orphan = uuid();
    top.blobs.put_raw(&top_orphan, b"top's").await.unwrap();

    // The top mount's scan lists the whole bucket: other tests' objects included, which
    // all lie under a prefix of their own.
    top.scan_orphans().await.unwrap();
    assert!(!top.blobs.exists_raw(&top_orphan).await.unwrap());
    assert!(inner.blobs.exists_raw(&inner_orphan).await.unwrap());
    inner
        .audit()
        .await
        .unwrap()
        .assert_named_are_stored("inner");

    assert_eq!(inner.scan_orphans().await.unwrap(), 1);
    assert!(!inner.blobs.exists_raw(&inner_orphan).await.unwrap());
}

/// Which keys are a mount's blobs: directly under its prefix and named by a UUID.
#[test]
fn a_blob_is_a_uuid_directly_under_the_prefix() {
    let settings = |prefix: &str| S3Settings {
        bucket: "b".to_owned(),
        endpoint: Some("http://127.0.0.1:9".to_owned()),
        region: DEFAULT_REGION.to_owned(),
        prefix: prefix.to_owned(),
        credentials: Credentials {
            access_key_id: "id".to_owned(),
            secret_access_key: "secret".to_owned(),
            session_token: None,
        },
        grace: std::time::Duration::ZERO,
        upload_parts: 1,
    };
    let id = uuid();
    let path = |key: String| object_store::path::Path::from(key.as_str());
    let top = Blobs::new(&settings("")).unwrap();
    assert_eq!(top.blob_of(&path(id.clone())), Some(id.clone()));
    assert_eq!(top.blob_of(&path(format!("a/{id}"))), None);
    assert_eq!(top.blob_of(&path(format!(".davd-clock-{}", id))), None);
    let a = Blobs::new(&settings("a")).unwrap();
    assert_eq!(a.blob_of(&path(format!("a/{id}"))), Some(id.clone()));
    assert_eq!(a.blob_of(&path(format!("a/b/{id}"))), None);
    assert_eq!(a.blob_of(&path(format!("ab/{id}"))), None);
    assert_eq!(a.blob_of(&path(id.clone())), None);
    assert_eq!(a.blob_of(&path("a/notes.txt".to_owned())), None);
}
