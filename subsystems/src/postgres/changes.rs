//! The change log of the cluster's database, in the table `davd_changes`: one log for every
//! instance and every mount on the database, its epoch in the one row of `davd_sync`.
//!
//! The order is the pitfall. Seqs from a sequence are taken in one order and committed in
//! another: an instance could read 10 while 9 is still being committed elsewhere, hand out a
//! token at 10, and that client would never hear of 9. So an append takes `max(seq) + 1`
//! onwards and inserts with `ON CONFLICT (seq) DO NOTHING`: when another append holds one of
//! those seqs, uncommitted, the insert waits for it to commit and then inserts nothing there.
//! Seq n can therefore only commit after n - 1 has committed, and a reader that has seen n
//! has seen everything before it. An append that did not get all its seqs tries again with
//! the new maximum: what went in the first time is then in twice, which a report reads as
//! one path named twice, harmless (it answers each path as it is now).
//!
//! An append is one statement in a transaction of its own, never the latches' transaction a
//! request carries (that one lasts as long as its request, and every other append would wait
//! behind it). It costs a change one round trip. Appends of one instance go out **one at a
//! time, grouped**: whoever finds none in flight appends everything that queued meanwhile, so
//! that sixteen PUTs at once make a few statements rather than sixteen, and the appends of
//! one instance never race each other for seqs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use tokio::sync::oneshot;
use tokio_postgres::Row;
use tracing::warn;

use davd_registry::{
    Change, ChangeKind, ChangeLog, DavPath, KEPT_CHANGES, LoggedChange, Since, SubsystemError,
    SubsystemResult, SyncPoint,
};

use super::client::{Cluster, OPERATION_TIMEOUT, db_error};
use super::paths;
use crate::changes::{Bounds, answer, prune_point, stored_path};

/// Appends the paths `$1` and kinds `$2` after the current maximum, in order, each where no
/// other append holds its seq; the seqs it got.
const APPEND: &str = "INSERT INTO davd_changes (seq, path, kind) \
                      SELECT m.top + t.ord, t.path, t.kind \
                      FROM (SELECT coalesce(max(seq), 0) AS top FROM davd_changes) m, \
                      unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(path, kind, ord) \
                      ORDER BY t.ord \
                      ON CONFLICT (seq) DO NOTHING RETURNING seq";
/// How many times an append tries before it gives up with a 503: each try that fails does so
/// because another append committed first, so this many in a row means a storm of them.
const APPEND_TRIES: usize = 50;
const MAKE_EPOCH: &str =
    "INSERT INTO davd_sync (id, epoch) VALUES (1, $1) ON CONFLICT (id) DO NOTHING";
const CURRENT: &str = "SELECT epoch, (SELECT coalesce(max(seq), 0) FROM davd_changes) \
                       FROM davd_sync WHERE id = 1";
/// The log's bounds and, when the token `$1`/`$2` is one of its own, up to `$7` entries
/// after it that concern the path `$3`: the path itself, what is below it (the range `$4` to
/// `$5`), and tree entries at its ancestors (`$6`). One statement, so one snapshot: the
/// bounds are those of the entries read.
const SINCE: &str = "WITH head AS (SELECT epoch, pruned_to, \
                     (SELECT coalesce(max(seq), 0) FROM davd_changes) AS top \
                     FROM davd_sync WHERE id = 1) \
                     SELECT h.epoch, h.pruned_to, h.top, c.seq, c.path, c.kind \
                     FROM head h LEFT JOIN LATERAL (\
                     SELECT seq, path, kind FROM davd_changes \
                     WHERE h.epoch = $1 AND $2 >= h.pruned_to AND $2 <= h.top AND seq > $2 \
                     AND (path = $3 OR (path >= $4 AND path < $5) \
                     OR (kind = 't' AND path = ANY($6))) \
                     ORDER BY seq LIMIT $7) c ON true \
                     ORDER BY c.seq";
/// Says entries up to `$1` may be gone, then removes them: one transaction, so a reader sees
/// both or neither.
const PRUNE_MARK: &str = "UPDATE davd_sync SET pruned_to = $1 WHERE id = 1 AND pruned_to < $1";
const PRUNE: &str = "DELETE FROM davd_changes WHERE seq <= $1";

pub struct PgChangeLog {
    cluster: Cluster,
    /// Set once the row of `davd_sync` is known to exist.
    has_epoch: AtomicBool,
    /// Changes waiting for this instance's next append.
    queue: Mutex<Vec<Queued>>,
    /// Held by the one append of this instance in flight.
    turn: tokio::sync::Mutex<()>,
}

/// A request's changes waiting to be appended, and where it hears the outcome.
struct Queued {
    changes: Vec<Change>,
    done: oneshot::Sender<SubsystemResult<()>>,
}

/// The queue; a panic elsewhere while it was held left it valid (pushes and takes whole).
fn queued(queue: &Mutex<Vec<Queued>>) -> MutexGuard<'_, Vec<Queued>> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PgChangeLog {
    pub fn new(cluster: Cluster) -> Self {
        PgChangeLog {
            cluster,
            has_epoch: AtomicBool::new(false),
            queue: Mutex::new(Vec::new()),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Makes the log's epoch if no instance has yet; whoever comes first sets it.
    async fn ensure_epoch(&self) -> SubsystemResult<()> {
        if self.has_epoch.load(Ordering::Acquire) {
            return Ok(());
        }
        let epoch = uuid::Uuid::new_v4().simple().to_string();
        self.cluster.query_alone(MAKE_EPOCH, &[&epoch]).await?;
        self.has_epoch.store(true, Ordering::Release);
        Ok(())
    }

    /// One try at appending: the last seq taken, or `None` when another instance's append
    /// took some of the seqs first (what did go in stays: see the module's comment).
    async fn append(&self, paths: &[&str], kinds: &[&str]) -> SubsystemResult<Option<u64>> {
        let rows = self.cluster.query_alone(APPEND, &[&paths, &kinds]).await?;
        if rows.len() < paths.len() {
            return Ok(None);
        }
        let mut top = 0;
        for row in &rows {
            top = top.max(seq(row, 0)?);
        }
        Ok(Some(top))
    }

    /// Appends `changes` and everything else that queued meanwhile, in one statement (retried
    /// while another instance takes the seqs first), and prunes when the log passed a
    /// multiple of its pruning step.
    async fn append_all(&self, changes: &[Change]) -> SubsystemResult<()> {
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        let kinds: Vec<String> = changes
            .iter()
            .map(|c| c.kind.letter().to_string())
            .collect();
        let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
        for _ in 0..APPEND_TRIES {
            if let Some(last) = self.append(&paths, &kinds).await? {
                let first = last + 1 - paths.len() as u64;
                if let Some(cut) = prune_point(first, last, KEPT_CHANGES) {
                    self.prune(cut).await;
                }
                return Ok(());
            }
        }
        Err(SubsystemError::unavailable(
            "the change log is too busy: other instances' appends kept coming first; try again",
        ))
    }

    /// Removes the entries up to and including `cut`. Failing, it is only warned about: the
    /// append it follows is in, and the entries go with a later prune.
    async fn prune(&self, cut: u64) {
        let cut = i64::try_from(cut).unwrap_or(i64::MAX);
        let pruned = self
            .cluster
            .within(OPERATION_TIMEOUT, async {
                let mut session = self.cluster.session().await?;
                let client = session.client();
                let tx = client.transaction().await.map_err(|e| db_error(&e))?;
                for sql in [PRUNE_MARK, PRUNE] {
                    let statement = tx.prepare_cached(sql).await.map_err(|e| db_error(&e))?;
                    tx.execute(&statement, &[&cut])
                        .await
                        .map_err(|e| db_error(&e))?;
                }
                tx.commit().await.map_err(|e| db_error(&e))?;
                session.done();
                Ok(())
            })
            .await;
        if let Err(e) = pruned {
            warn!(error = %e, "pruning the change log failed");
        }
    }
}

/// A seq column, which the table keeps positive.
fn seq(row: &Row, index: usize) -> SubsystemResult<u64> {
    let seq: i64 = row.try_get(index).map_err(|e| db_error(&e))?;
    u64::try_from(seq).map_err(|_| SubsystemError::internal("the change log holds a negative seq"))
}

fn text(row: &Row, index: usize) -> SubsystemResult<String> {
    row.try_get(index).map_err(|e| db_error(&e))
}

/// A row of [`SINCE`] past its bounds, as an entry.
fn entry(row: &Row) -> SubsystemResult<LoggedChange> {
    let kind = text(row, 5)?;
    let kind = kind
        .chars()
        .next()
        .and_then(ChangeKind::from_letter)
        .ok_or_else(|| SubsystemError::internal("the change log holds an unknown kind"))?;
    Ok(LoggedChange {
        seq: seq(row, 3)?,
        change: Change {
            path: stored_path(&text(row, 4)?)?,
            kind,
        },
    })
}

#[async_trait]
impl ChangeLog for PgChangeLog {
    async fn record(&self, changes: &[Change]) -> SubsystemResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        self.ensure_epoch().await?;
        let (done, mut answer) = oneshot::channel();
        queued(&self.queue).push(Queued {
            changes: changes.to_vec(),
            done,
        });
        // Ours is appended by whoever takes the turn next, us or an append in flight that
        // takes it with its group: wait for either. A request whose entries went with another's
        // group is woken by its answer and never queues for the turn, so the groups' requests
        // do not hand the turn on one by one, each a wake-up of another connection thread,
        // before the next append can start (measured: docs/performance.md).
        let _turn = tokio::select! {
            biased;
            answered = &mut answer => match answered {
                Ok(result) => return result,
                // Taken by an append that was abandoned part way (its request's task was
                // dropped): append ours alone, in turn.
                Err(_) => {
                    let _turn = self.turn.lock().await;
                    return self.append_all(changes).await;
                }
            },
            turn = self.turn.lock() => turn,
        };
        // The append before ours may have taken ours with it.
        match answer.try_recv() {
            Ok(result) => return result,
            // Taken by an append that was abandoned part way (its request's task was
            // dropped): append ours alone.
            Err(oneshot::error::TryRecvError::Closed) => return self.append_all(changes).await,
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        let group = std::mem::take(&mut *queued(&self.queue));
        let all: Vec<Change> = group.iter().flat_map(|q| q.changes.clone()).collect();
        let result = self.append_all(&all).await;
        for waiting in group {
            let _ = waiting.done.send(result.clone());
        }
        result
    }

    async fn current(&self) -> SubsystemResult<SyncPoint> {
        self.ensure_epoch().await?;
        let rows = self.cluster.query_alone(CURRENT, &[]).await?;
        let row = rows
            .first()
            .ok_or_else(|| SubsystemError::internal("the change log has no epoch"))?;
        Ok(SyncPoint {
            epoch: text(row, 0)?,
            seq: seq(row, 1)?,
        })
    }

    async fn since(&self, from: &SyncPoint, below: &DavPath, max: usize) -> SubsystemResult<Since> {
        let Ok(after) = i64::try_from(from.seq) else {
            return Ok(Since::Unknown);
        };
        self.ensure_epoch().await?;
        let (lower, upper) = paths::below(below);
        let ancestors: Vec<String> = below
            .ancestors_and_self()
            .into_iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        // One more than asked for says whether more follow.
        let limit = i64::try_from(max).unwrap_or(i64::MAX).saturating_add(1);
        let rows = self
            .cluster
            .query_alone(
                SINCE,
                &[
                    &from.epoch,
                    &after,
                    &below.as_str(),
                    &lower,
                    &upper,
                    &ancestors,
                    &limit,
                ],
            )
            .await?;
        let head = rows
            .first()
            .ok_or_else(|| SubsystemError::internal("the change log has no epoch"))?;
        let epoch = text(head, 0)?;
        let bounds = Bounds {
            pruned_to: seq(head, 1)?,
            end: seq(head, 2)?,
        };
        if !bounds.answers(&epoch, from) {
            return Ok(Since::Unknown);
        }
        // Without entries the one row has none (the lateral join found nothing).
        let entries = rows
            .iter()
            .filter_map(|row| match row.try_get::<_, Option<i64>>(3) {
                Ok(None) => None,
                Ok(Some(_)) => Some(entry(row)),
                Err(e) => Some(Err(db_error(&e))),
            });
        answer(&epoch, from.seq, bounds.end, entries, max)
    }
}

#[cfg(test)]
#[path = "changes_tests.rs"]
mod tests;
