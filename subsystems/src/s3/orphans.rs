//! The orphan scan: removes objects under the mount's prefix that no row of the tree, of the
//! detached trees or of the unreferenced blobs names, once they are older than the grace
//! period.
//!
//! The collector (`collector.rs`) removes only what `davd_s3_unreferenced` records. An
//! object can exist without any record: an instance whose upload was collected while it
//! could not touch its record (and that finished writing afterwards), a discard whose
//! record went but whose object could not be removed, records lost with a database put back
//! from a backup. Only a look at the bucket finds those.
//!
//! Why it cannot remove anything a row needs: every blob is recorded (as unreferenced)
//! before its first byte is sent, and from then on something names it in every committed
//! state of the database: a publish claims the record in the statement that writes the row,
//! a removal records the blob in the transaction that removes its last row, and only the
//! collector (after removing the object) or a discarded upload forgets a record with no row
//! left. So an object that nothing names in one snapshot, read after the object was listed,
//! is named by nothing any more, and nothing can come to name it: a publish needs its
//! record, a copy or a restore a row. The grace period is kept anyway, against what a
//! snapshot may not show yet (a database whose reads lag its writes, a replica promoted
//! with its last commits missing): an object is removed only once it is older than that.
//!
//! Older by whose clock: S3's. An object's time (`last_modified`) is set by the store, so it
//! is compared with the store's own time now ([`Blobs::clock`]), not with the database's or
//! this machine's: with S3 a few minutes behind, a fresh object would look minutes old by
//! the database's clock, and a short grace period would not cover it. One small write and
//! read per scan buys that.
//!
//! Which keys are ours: only those directly under the prefix and named by a UUID
//! ([`Blobs::blob_of`]). Mounts with different prefixes may share a bucket, one of them
//! even at its top (an empty prefix): the keys of a mount with the prefix `b` are `b/<uuid>`,
//! one level deeper than the top mount's, so the top mount's scan never removes them, and
//! no configuration needs to be known or refused for that. A key that is no UUID (a file
//! someone else put there, or the store's clock probe) is never touched.
//!
//! Costs: one LIST request per 1000 objects and one query per batch, on the whole prefix, so
//! it runs far less often than the collection of recorded blobs (`collector.rs`).
//! Incomplete multipart uploads are not objects and no LIST shows them: a lifecycle rule of
//! the bucket removes those (docs/scaling.md).

use std::time::SystemTime;

use futures_util::StreamExt;

use davd_registry::SubsystemResult;

use super::S3Namespace;

/// Objects compared with the database per query.
const BATCH: usize = 1000;

/// Of the blobs `$2`, those no row of the store `$1` names: not in the tree, not detached,
/// not recorded (an upload in flight or a blob waiting for the collector).
const UNNAMED: &str = "\
SELECT b FROM unnest($2::text[]) AS b \
WHERE NOT EXISTS (SELECT 1 FROM davd_s3_tree t WHERE t.store = $1 AND t.blob = b) \
AND NOT EXISTS (SELECT 1 FROM davd_s3_detached d WHERE d.store = $1 AND d.blob = b) \
AND NOT EXISTS (SELECT 1 FROM davd_s3_unreferenced u WHERE u.store = $1 AND u.blob = b)";

impl S3Namespace {
    /// One scan of the bucket: removes the objects under the prefix that nothing names and
    /// that are older than the grace period by the store's clock; how many it removed.
    pub async fn scan_orphans(&self) -> SubsystemResult<usize> {
        // In whole seconds: a HEAD gives the probe's time to the second, a LIST may give
        // objects' times to the millisecond. Cut both, so that an object written before the
        // probe is never later than it; with no grace period it goes.
        let seconds = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        let now = seconds(self.blobs.clock().await?);
        // Removed when its age is at least the grace period.
        let cutoff = now.saturating_sub(self.grace.as_secs());
        let mut listing = self.blobs.list().chunks(BATCH);
        let mut removed = 0;
        while let Some(page) = listing.next().await {
            let mut old = Vec::with_capacity(page.len());
            for entry in page {
                let (blob, modified) = entry?;
                if seconds(modified) <= cutoff {
                    old.push(blob);
                }
            }
            if old.is_empty() {
                continue;
            }
            let unnamed: Vec<String> = self
                .cluster
                .query(UNNAMED, &[&self.store, &old])
                .await?
                .iter()
                .filter_map(|row| row.try_get(0).ok())
                .collect();
            for blob in &unnamed {
                self.blobs.delete(blob).await?;
            }
            removed += unnamed.len();
        }
        Ok(removed)
    }
}
