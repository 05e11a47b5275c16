//! For tests (`testing`): what the rows name against what the bucket holds, the invariant the
//! crash tests check after every kill. Every blob a row of the tree or of a detached tree
//! names must be in the bucket, always; once a collection round and an orphan scan with no
//! grace period have run (nothing in flight), the bucket must hold exactly those blobs.

use std::collections::BTreeSet;

use futures_util::TryStreamExt;

use davd_registry::SubsystemResult;

use super::S3Namespace;

/// The blobs of one store, from both sides.
#[derive(Debug)]
pub struct Audit {
    /// Named by a row of the tree or of a detached tree.
    pub named: BTreeSet<String>,
    /// Recorded in `davd_s3_unreferenced` (uploads in flight, blobs waiting for the collector).
    pub recorded: BTreeSet<String>,
    /// Objects in the bucket that are blobs of this store (`Blobs::blob_of`).
    pub stored: BTreeSet<String>,
}

impl Audit {
    /// Blobs a row names that the bucket lacks: never allowed.
    pub fn missing(&self) -> Vec<&String> {
        self.named.difference(&self.stored).collect()
    }

    /// Panics (naming `context`) unless every blob a row names is in the bucket.
    pub fn assert_named_are_stored(&self, context: &str) {
        assert!(
            self.missing().is_empty(),
            "{context}: rows name blobs the bucket lacks: {:?}",
            self.missing()
        );
    }

    /// Panics unless the bucket holds exactly the blobs rows name and nothing is recorded
    /// for the collector: what a collection and a scan with no grace period leave.
    pub fn assert_exactly_named(&self, context: &str) {
        self.assert_named_are_stored(context);
        let extra: Vec<_> = self.stored.difference(&self.named).collect();
        assert!(
            extra.is_empty(),
            "{context}: the bucket holds blobs no row names: {extra:?}"
        );
        assert!(
            self.recorded.is_empty(),
            "{context}: blobs still recorded for the collector: {:?}",
            self.recorded
        );
    }
}

impl S3Namespace {
    /// The namespace's blobs, for tests that put objects into the bucket behind its back.
    pub fn blobs(&self) -> &super::Blobs {
        &self.blobs
    }

    /// Reads both sides.
    pub async fn audit(&self) -> SubsystemResult<Audit> {
        let column = |sql: &'static str| async move {
            let rows = self.cluster.query(sql, &[&self.store]).await?;
            Ok::<_, davd_registry::SubsystemError>(
                rows.iter()
                    .filter_map(|row| row.try_get::<_, String>(0).ok())
                    .collect::<BTreeSet<_>>(),
            )
        };
        let mut named =
            column("SELECT blob FROM davd_s3_tree WHERE store = $1 AND blob IS NOT NULL").await?;
        named.extend(
            column("SELECT blob FROM davd_s3_detached WHERE store = $1 AND blob IS NOT NULL")
                .await?,
        );
        let recorded = column("SELECT blob FROM davd_s3_unreferenced WHERE store = $1").await?;
        let stored = self
            .blobs
            .list()
            .map_ok(|(blob, _)| blob)
            .try_collect()
            .await?;
        Ok(Audit {
            named,
            recorded,
            stored,
        })
    }

    /// A collection round and an orphan scan (with this namespace's grace period), then the
    /// audit.
    pub async fn collect_and_audit(&self) -> SubsystemResult<Audit> {
        self.collect().await?;
        self.scan_orphans().await?;
        self.audit().await
    }
}
