//! Locks in the table `davd_locks`, one row per lock, found by its root (an index) and
//! expired on the database's clock.
//!
//! Expiry is the database's business, so that instances whose clocks disagree agree on it:
//! a lock is stored with `expires_at = now() + the time it has left` (`now()` being the
//! database's), every query leaves out the rows whose `expires_at` has passed by the
//! database's clock, and a lock read back says when it expires in this process's clock, as
//! "now here + the time it has left there". An instance five minutes ahead thus shows the
//! same timeout as the others, and never thinks a live lock expired.
//!
//! Whether a new lock conflicts with the ones there is policy, decided by the executive while
//! it holds the resource's latch, which in a cluster holds across every instance
//! (`latches.rs`): the check and the insert are one atomic step cluster-wide.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use davd_registry::{
    DavPath, LockChange, LockManager, LockRecord, LockScope, Marker, StatusCode, SubsystemError,
    SubsystemResult, Timeout,
};

use super::client::{Cluster, OPERATION_TIMEOUT, commit_error, db_error};
use super::{markers, paths};

/// The columns of a lock, and the milliseconds it has left by the database's clock.
const COLUMNS: &str = "token, root, exclusive, deep, owner_xml, principal, timeout_s, \
                       (EXTRACT(EPOCH FROM (expires_at - now())) * 1000)::bigint";
/// Lives while the database's clock has not reached its end.
const LIVE: &str = "(expires_at IS NULL OR expires_at > now())";

/// Adds or replaces a lock; `$8` is the milliseconds it has left (NULL: never ends).
const PUT: &str = "INSERT INTO davd_locks \
                   (token, root, exclusive, deep, owner_xml, principal, timeout_s, expires_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, \
                   now() + $8::bigint * interval '1 millisecond') \
                   ON CONFLICT (token) DO UPDATE SET root = EXCLUDED.root, \
                   exclusive = EXCLUDED.exclusive, deep = EXCLUDED.deep, \
                   owner_xml = EXCLUDED.owner_xml, principal = EXCLUDED.principal, \
                   timeout_s = EXCLUDED.timeout_s, expires_at = EXCLUDED.expires_at";

fn select(condition: &str) -> String {
    format!("SELECT {COLUMNS} FROM davd_locks WHERE {condition}")
}

/// The marker store's name for this table.
const STORE: &str = "locks";

/// The lock table in the cluster's database.
pub struct PgLocks {
    cluster: Cluster,
}

impl PgLocks {
    pub fn new(cluster: Cluster) -> Self {
        PgLocks { cluster }
    }

    async fn records(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> SubsystemResult<Vec<LockRecord>> {
        let rows = self.cluster.query(sql, params).await?;
        rows.iter().map(record).collect()
    }

    async fn put(&self, lock: &LockRecord) -> SubsystemResult<()> {
        let columns = Columns::of(lock);
        self.cluster.query(PUT, &columns.params()).await?;
        Ok(())
    }
}

/// A lock as the statement [`PUT`] takes it.
struct Columns<'a> {
    lock: &'a LockRecord,
    root: &'a str,
    exclusive: bool,
    timeout: Option<i64>,
    left_ms: Option<i64>,
}

impl<'a> Columns<'a> {
    fn of(lock: &'a LockRecord) -> Self {
        Columns {
            lock,
            root: lock.root.as_str(),
            exclusive: lock.scope == LockScope::Exclusive,
            timeout: match lock.timeout {
                Timeout::Seconds(s) => Some(i64::try_from(s).unwrap_or(i64::MAX)),
                Timeout::Infinite => None,
            },
            left_ms: lock.expires.map(time_left_ms),
        }
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 8] {
        [
            &self.lock.token,
            &self.root,
            &self.exclusive,
            &self.lock.deep,
            &self.lock.owner,
            &self.lock.principal,
            &self.timeout,
            &self.left_ms,
        ]
    }
}

/// How long the lock has left from now in this process's clock, rounded up to the second it
/// ends in (a lock never ends before the time granted): what the database adds to its clock.
fn time_left_ms(expires: SystemTime) -> i64 {
    let end = expires
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let left = i128::from(end) * 1000 - now as i128;
    left.clamp(0, i128::from(i64::MAX)) as i64
}

/// When a lock with `left_ms` to go ends, in this process's clock: to the nearest second,
/// which undoes [`time_left_ms`]'s rounding whatever the milliseconds the two statements
/// were apart.
fn expires_here(left_ms: i64) -> SystemTime {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis()) as i128;
    let end_ms = now + i128::from(left_ms);
    let seconds = (end_ms + 500).div_euclid(1000).max(0);
    UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(u64::MAX))
}

fn column_error(e: tokio_postgres::Error) -> SubsystemError {
    db_error(&e)
}

/// A row of [`COLUMNS`] as a lock.
fn record(row: &Row) -> SubsystemResult<LockRecord> {
    let root: String = row.try_get(1).map_err(column_error)?;
    let timeout: Option<i64> = row.try_get(6).map_err(column_error)?;
    let left_ms: Option<i64> = row.try_get(7).map_err(column_error)?;
    Ok(LockRecord {
        token: row.try_get(0).map_err(column_error)?,
        root: paths::parse(&root)?,
        scope: if row.try_get(2).map_err(column_error)? {
            LockScope::Exclusive
        } else {
            LockScope::Shared
        },
        deep: row.try_get(3).map_err(column_error)?,
        owner: row.try_get(4).map_err(column_error)?,
        principal: row.try_get(5).map_err(column_error)?,
        timeout: match timeout {
            Some(s) => Timeout::Seconds(u64::try_from(s).unwrap_or(0)),
            None => Timeout::Infinite,
        },
        expires: left_ms.map(expires_here),
    })
}

/// The statements of one change inside the batch's transaction, and what undoes it.
async fn change(
    tx: &Transaction<'_>,
    change: &LockChange,
    undo: &mut Vec<LockChange>,
) -> SubsystemResult<()> {
    let token = match change {
        LockChange::Put(lock) => &lock.token,
        LockChange::Remove { token } => token,
    };
    // The row as it was, expired or not: the undo puts back exactly that.
    let statement = tx
        .prepare_cached(&format!("{} FOR UPDATE", select("token = $1")))
        .await
        .map_err(column_error)?;
    let old = match tx
        .query_opt(&statement, &[token])
        .await
        .map_err(column_error)?
    {
        Some(row) => Some(record(&row)?),
        None => None,
    };
    match change {
        LockChange::Put(lock) => {
            let columns = Columns::of(lock);
            let statement = tx.prepare_cached(PUT).await.map_err(column_error)?;
            tx.execute(&statement, &columns.params())
                .await
                .map_err(column_error)?;
            undo.push(match old {
                Some(old) => LockChange::Put(old),
                None => LockChange::Remove {
                    token: lock.token.clone(),
                },
            });
        }
        LockChange::Remove { token } => {
            let statement = tx
                .prepare_cached("DELETE FROM davd_locks WHERE token = $1")
                .await
                .map_err(column_error)?;
            tx.execute(&statement, &[token])
                .await
                .map_err(column_error)?;
            if let Some(old) = old {
                undo.push(LockChange::Put(old));
            }
        }
    }
    Ok(())
}

#[async_trait]
impl LockManager for PgLocks {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn survives_restart(&self) -> bool {
        true
    }

    async fn insert(&self, lock: LockRecord) -> SubsystemResult<()> {
        self.put(&lock).await
    }

    async fn update(&self, lock: LockRecord) -> SubsystemResult<()> {
        self.put(&lock).await
    }

    async fn remove(&self, token: &str) -> SubsystemResult<Option<LockRecord>> {
        let sql = format!("DELETE FROM davd_locks WHERE token = $1 RETURNING {COLUMNS}");
        Ok(self.records(&sql, &[&token]).await?.pop())
    }

    async fn get(&self, token: &str) -> SubsystemResult<Option<LockRecord>> {
        let sql = select(&format!("token = $1 AND {LIVE}"));
        Ok(self.records(&sql, &[&token]).await?.pop())
    }

    async fn covering(&self, path: &DavPath) -> SubsystemResult<Vec<LockRecord>> {
        let chain: Vec<String> = path
            .ancestors_and_self()
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect();
        let sql = select(&format!(
            "root = ANY($1) AND (deep OR root = $2) AND {LIVE}"
        ));
        self.records(&sql, &[&chain, &path.as_str()]).await
    }

    async fn below(&self, path: &DavPath) -> SubsystemResult<Vec<LockRecord>> {
        let (from, to) = paths::roots_below(path);
        let sql = select(&format!(
            "root >= $1 AND root < $2 AND root <> $3 AND {LIVE}"
        ));
        self.records(&sql, &[&from, &to, &path.as_str()]).await
    }

    async fn held_by(&self, principal: Option<&str>) -> SubsystemResult<usize> {
        let sql = format!(
            "SELECT count(*) FROM davd_locks WHERE principal IS NOT DISTINCT FROM $1 AND {LIVE}"
        );
        let rows = self.cluster.query(&sql, &[&principal]).await?;
        let count: i64 = match rows.first() {
            Some(row) => row.try_get(0).map_err(column_error)?,
            None => 0,
        };
        Ok(usize::try_from(count).unwrap_or(0))
    }

    async fn sweep(&self) -> SubsystemResult<usize> {
        let rows = self
            .cluster
            .query(
                "DELETE FROM davd_locks WHERE expires_at <= now() RETURNING token",
                &[],
            )
            .await?;
        Ok(rows.len())
    }

    /// One transaction, with the marker in it.
    async fn apply(
        &self,
        changes: &[LockChange],
        marker: Marker<'_>,
    ) -> SubsystemResult<Vec<LockChange>> {
        let applied = self
            .cluster
            .within(OPERATION_TIMEOUT, async {
                let mut session = self.cluster.session().await?;
                let client = session.client();
                let tx = client.transaction().await.map_err(column_error)?;
                let mut undo = Vec::new();
                for one in changes {
                    change(&tx, one, &mut undo).await?;
                }
                markers::write(&tx, STORE, self.cluster.instance(), marker)
                    .await
                    .map_err(column_error)?;
                tx.commit().await.map_err(|e| commit_error(&e))?;
                session.done();
                undo.reverse();
                Ok(undo)
            })
            .await;
        applied.map_err(|e| {
            if matches!(marker, Marker::Record(_)) && e.status == StatusCode::SERVICE_UNAVAILABLE {
                SubsystemError::outcome_unknown(e.message)
            } else {
                e
            }
        })
    }

    async fn has_marker(&self, marker: &str) -> SubsystemResult<bool> {
        markers::has(&self.cluster, STORE, marker).await
    }

    async fn forget_markers(&self, forget: &[String]) -> SubsystemResult<()> {
        markers::forget(&self.cluster, STORE, forget).await
    }

    async fn markers(&self) -> SubsystemResult<Vec<String>> {
        markers::mine(&self.cluster, STORE).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_left_round_trip_to_the_second() {
        let end = UNIX_EPOCH
            + Duration::from_secs(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
                    + 3600,
            );
        // Read back a few hundred milliseconds later, or earlier: the same second.
        for drift in [-400i64, 0, 400] {
            assert_eq!(expires_here(time_left_ms(end) + drift), end);
        }
        // A time within a second is rounded up, never down.
        let inside = end + Duration::from_millis(1);
        assert_eq!(
            expires_here(time_left_ms(inside)),
            end + Duration::from_secs(1)
        );
        // What has passed has nothing left.
        assert_eq!(time_left_ms(UNIX_EPOCH), 0);
    }
}
