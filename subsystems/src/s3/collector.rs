//! The collector: removes from S3 the blobs recorded in `davd_s3_unreferenced` once they have
//! been there longer than the grace period and no row names them.
//!
//! A blob is recorded when its upload starts (and its record is touched at every part, so a
//! long upload stays young) or when the last row naming it went; a publish claims it by
//! deleting the record in the same statement that points a row at it. The collector takes
//! the records it will remove with `FOR UPDATE SKIP LOCKED` in a transaction, removes the
//! objects, then the records, and commits: a publish claiming one of them meanwhile waits
//! for that commit and then finds it gone (503, send again), so the tree never names a
//! removed object. Instances collect side by side: each skips what another has locked. A
//! crash between removing an object and committing leaves a record of a missing object,
//! which the next round removes again (deleting nothing is no error).

use std::sync::Weak;
use std::time::Duration;

use tracing::{info, warn};

use davd_registry::SubsystemResult;

use super::S3Namespace;
use crate::postgres::db_error;

/// Blobs removed per transaction.
const BATCH: i64 = 100;

/// How often each instance looks for blobs to remove.
pub const ROUND_EVERY: Duration = Duration::from_secs(60);

/// Every how many rounds a round also scans the bucket for objects nothing names
/// (`orphans.rs`), starting with the first round after startup (a crash is what leaves
/// them, and a restart often follows one): once an hour. A round's query touches only the
/// records due; a scan lists the whole prefix (a LIST request per 1000 objects) and asks the
/// database about each object, and what it finds is rare, so it runs sixty times less often.
pub const SCAN_EVERY_ROUNDS: u64 = 60;

/// The records older than the grace period (`$2` seconds) of blobs no row names, locked.
const DUE: &str = "\
SELECT blob FROM davd_s3_unreferenced u WHERE store = $1 \
AND since < now() - make_interval(secs => $2) \
AND NOT EXISTS (SELECT 1 FROM davd_s3_tree t WHERE t.store = $1 AND t.blob = u.blob) \
AND NOT EXISTS (SELECT 1 FROM davd_s3_detached d WHERE d.store = $1 AND d.blob = u.blob) \
ORDER BY since LIMIT $3 FOR UPDATE SKIP LOCKED";

const FORGET: &str = "DELETE FROM davd_s3_unreferenced WHERE store = $1 AND blob = ANY($2)";

/// Keeps a blob being uploaded young, so the collector leaves it alone.
pub const TOUCH: &str =
    "UPDATE davd_s3_unreferenced SET since = now() WHERE store = $1 AND blob = $2";

impl S3Namespace {
    /// One round: removes what is due, a batch at a time; how many blobs it removed.
    pub async fn collect(&self) -> SubsystemResult<usize> {
        let mut removed = 0;
        loop {
            let batch = self.collect_batch().await?;
            removed += batch;
            if batch < BATCH as usize {
                return Ok(removed);
            }
        }
    }

    async fn collect_batch(&self) -> SubsystemResult<usize> {
        let grace = self.grace.as_secs_f64();
        let mut session = self.cluster.session().await?;
        let client = session.client();
        let tx = client.transaction().await.map_err(|e| db_error(&e))?;
        let due: Vec<String> = tx
            .query(DUE, &[&self.store, &grace, &BATCH])
            .await
            .map_err(|e| db_error(&e))?
            .iter()
            .filter_map(|row| row.try_get(0).ok())
            .collect();
        for blob in &due {
            // A failure leaves the records (the transaction rolls back): the next round
            // tries again.
            self.blobs.delete(blob).await?;
        }
        if !due.is_empty() {
            tx.execute(FORGET, &[&self.store, &due])
                .await
                .map_err(|e| db_error(&e))?;
        }
        tx.commit().await.map_err(|e| db_error(&e))?;
        session.done();
        Ok(due.len())
    }
}

/// Runs a round every [`ROUND_EVERY`] for as long as the namespace is open.
pub fn run(namespace: Weak<S3Namespace>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut rounds = tokio::time::interval(ROUND_EVERY);
        rounds.tick().await;
        for round in 0u64.. {
            rounds.tick().await;
            let Some(namespace) = namespace.upgrade() else {
                return;
            };
            match namespace.collect().await {
                Ok(0) => {}
                Ok(removed) => info!(store = %namespace.store, removed, "collected blobs"),
                Err(e) => warn!(store = %namespace.store, error = %e.message, "collecting blobs failed; trying again later"),
            }
            if round % SCAN_EVERY_ROUNDS != 0 {
                continue;
            }
            match namespace.scan_orphans().await {
                Ok(0) => {}
                Ok(removed) => {
                    info!(store = %namespace.store, removed, "removed objects no row named");
                }
                Err(e) => warn!(store = %namespace.store, error = %e.message, "scanning the bucket for orphaned objects failed; trying again later"),
            }
        }
    });
}
