//! Batch markers (docs/adr/0017-crash-safety.md) in the table `davd_markers`, one row per
//! marker, written in the transaction of its batch.
//!
//! Each marker is kept with the instance whose request wrote it. Recovery at startup forgets
//! every marker its store holds that its journal no longer needs; on a database shared by
//! several instances, "every marker" must mean this instance's own: another instance may be
//! in the middle of the request that marker belongs to, and after a crash its recovery asks
//! for it. Markers are journal ids (UUIDs), so asking whether one exists needs no instance.

use deadpool_postgres::Transaction;

use davd_registry::{Marker, SubsystemResult};

use super::client::{Cluster, db_error};

/// Records or removes `marker` in the transaction of its batch, for `store` (`props`,
/// `locks`).
pub async fn write(
    tx: &Transaction<'_>,
    store: &str,
    instance: &str,
    marker: Marker<'_>,
) -> Result<(), tokio_postgres::Error> {
    match marker {
        Marker::None => {}
        Marker::Record(id) => {
            let sql = "INSERT INTO davd_markers (store, marker, instance) VALUES ($1, $2, $3) \
                       ON CONFLICT (store, marker) DO NOTHING";
            let statement = tx.prepare_cached(sql).await?;
            tx.execute(&statement, &[&store, &id, &instance]).await?;
        }
        Marker::Clear(id) => {
            let sql = "DELETE FROM davd_markers WHERE store = $1 AND marker = $2";
            let statement = tx.prepare_cached(sql).await?;
            tx.execute(&statement, &[&store, &id]).await?;
        }
    }
    Ok(())
}

/// True if a batch marked `marker` went into `store`, whichever instance wrote it.
pub async fn has(cluster: &Cluster, store: &str, marker: &str) -> SubsystemResult<bool> {
    let rows = cluster
        .query(
            "SELECT 1 FROM davd_markers WHERE store = $1 AND marker = $2",
            &[&store, &marker],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// Forgets this instance's `markers` in `store`.
pub async fn forget(cluster: &Cluster, store: &str, markers: &[String]) -> SubsystemResult<()> {
    if markers.is_empty() {
        return Ok(());
    }
    cluster
        .query(
            "DELETE FROM davd_markers WHERE store = $1 AND instance = $2 AND marker = ANY($3)",
            &[&store, &cluster.instance(), &markers],
        )
        .await?;
    Ok(())
}

/// This instance's markers in `store`.
pub async fn mine(cluster: &Cluster, store: &str) -> SubsystemResult<Vec<String>> {
    let rows = cluster
        .query(
            "SELECT marker FROM davd_markers WHERE store = $1 AND instance = $2",
            &[&store, &cluster.instance()],
        )
        .await?;
    rows.iter()
        .map(|row| row.try_get(0).map_err(|e| db_error(&e)))
        .collect()
}
