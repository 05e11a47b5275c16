//! Write latches held across the instances: transaction-scoped advisory locks.
//!
//! A request's claims become advisory-lock keys: for a claim on `P`, an exclusive lock on
//! P's *node* key and a shared lock on the *tree* key of every ancestor of `P`; a deep claim
//! also takes P's own tree key exclusively. So two claims conflict exactly when the
//! executive's local latches say they do: on the same path (both hold its node key
//! exclusively), or when one is deep and contains the other (its tree key, exclusive, against
//! the other's shared hold of it). All keys of a request are taken in one transaction, in
//! ascending order, exclusive where any claim wants it exclusive: every instance takes keys in
//! the same order, so no two requests wait for each other.
//!
//! The locks end with the transaction: when the request drops its latches (a `ROLLBACK`), or
//! when the connection closes because the instance died (PostgreSQL notices at once for a
//! backend idle in its transaction). A *named* latch (`acquire_named`, for a decision no path
//! covers: how many locks one user holds) is one more key of its own kind, taken the same way.
//! Keys are eight bytes of a SHA-256 of the path, the kind
//! of key and the schema, the same in every process (never Rust's seeded hasher); two paths
//! that happen to share a key only wait for each other needlessly.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Object;
use sha2::{Digest, Sha256};
use tracing::warn;

use davd_registry::{
    DavPath, HeldLatches, LatchClaim, SharedLatches, SubsystemError, SubsystemResult,
    offer_transaction, stop_carrying,
};

use super::client::{Cluster, OPERATION_TIMEOUT, STATEMENT_TIMEOUT, commit_error, db_error};

/// How long a request waits for a latch another instance holds before it gets a 503.
pub const LATCH_WAIT: Duration = Duration::from_secs(60);

/// The advisory-lock key for `kind` and `path` in `schema`: the first eight bytes of a
/// SHA-256, big-endian.
pub fn advisory_key(schema: Option<&str>, kind: &str, path: &str) -> i64 {
    let mut hash = Sha256::new();
    for part in ["davd", schema.unwrap_or(""), kind, path] {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The keys for `claims`, ascending, each with whether it is taken exclusively.
pub fn keys(schema: Option<&str>, claims: &[LatchClaim]) -> Vec<(i64, bool)> {
    let mut keys: BTreeMap<i64, bool> = BTreeMap::new();
    let mut want = |key: i64, exclusive: bool| {
        let entry = keys.entry(key).or_insert(exclusive);
        *entry |= exclusive;
    };
    for claim in claims {
        want(advisory_key(schema, "node", claim.path.as_str()), true);
        if claim.deep {
            want(advisory_key(schema, "tree", claim.path.as_str()), true);
        }
        if let Some(parent) = claim.path.parent() {
            for ancestor in parent.ancestors_and_self() {
                want(advisory_key(schema, "tree", ancestor.as_str()), false);
            }
        }
    }
    keys.into_iter().collect()
}

/// The statements that open the latch transaction and take `keys` in order: `BEGIN`, and one
/// `SELECT` whose columns take the keys, left to right (PostgreSQL evaluates a target list in
/// order), and last give the transaction's later statements the usual timeout. The wait for
/// the keys (`lock_timeout` = [`LATCH_WAIT`]) and the absence of a timeout for this statement
/// are the latch connection's session defaults (`client.rs`), so they cost no statement here.
/// The keys are numbers this process computed, written as literals: one round trip, and two
/// statements for the server to parse and plan instead of two plus one per key.
fn acquire_sql(keys: &[(i64, bool)]) -> String {
    let mut sql = String::from("BEGIN; SELECT ");
    for (key, exclusive) in keys {
        let function = if *exclusive {
            "pg_advisory_xact_lock"
        } else {
            "pg_advisory_xact_lock_shared"
        };
        let _ = write!(sql, "{function}({key}), ");
    }
    // Statements that ride the transaction afterwards (a carrying request's, the commit or
    // rollback) get the usual limit back; this statement, begun without one, is not affected.
    let _ = write!(
        sql,
        "set_config('statement_timeout', '{}', true)",
        STATEMENT_TIMEOUT.as_millis()
    );
    sql
}

/// The cluster's latches, for the executive (`SharedLatches`).
pub struct PgLatches {
    cluster: Cluster,
}

impl PgLatches {
    pub fn new(cluster: Cluster) -> Self {
        PgLatches { cluster }
    }
}

impl PgLatches {
    /// Takes `keys` in one transaction on `connection`, held until the value returned is
    /// dropped or committed. Path latches (`offer`) offer their transaction to a request that
    /// is carrying one (`davd_registry::carrying`); then this returns as soon as the request
    /// for the keys is sent, so that the request's first statements go out behind it without
    /// waiting a round trip, and [`HeldLatches::granted`] says when the keys are taken.
    async fn hold(
        &self,
        connection: Object,
        keys: &[(i64, bool)],
        offer: bool,
    ) -> SubsystemResult<Box<dyn HeldLatches>> {
        let connection = Arc::new(LatchConnection(Some(connection)));
        let sql = acquire_sql(keys);
        // Were this future (or the grant below) dropped while it waits, the connection (open
        // transaction, keys perhaps taken) closes with the last reference: `LatchConnection`
        // is not reused unless its transaction ended cleanly.
        // PostgreSQL gives up on the keys after LATCH_WAIT (its lock_timeout); a database
        // that stops answering altogether is given up on a little later.
        let mut grant: Grant = Box::pin({
            let (connection, cluster) = (connection.clone(), self.cluster.clone());
            async move {
                cluster
                    .within(LATCH_WAIT + OPERATION_TIMEOUT, async {
                        connection
                            .client()
                            .batch_execute(&sql)
                            .await
                            .map_err(|e| db_error(&e))
                    })
                    .await
            }
        });
        let carried = match offer {
            true => {
                let carried = Arc::new(Carried {
                    cluster: self.cluster.id(),
                    connection: Arc::downgrade(&connection),
                    broken: AtomicBool::new(false),
                    grant: tokio::sync::Mutex::new(GrantState::Waiting(None)),
                    sent: std::sync::Mutex::new(Vec::new()),
                });
                offer_transaction(carried.clone()).then_some(carried)
            }
            false => None,
        };
        match &carried {
            Some(carried) => {
                // Polled once, the request for the keys is sent (tokio-postgres sends a
                // request when its future is first polled, and runs requests in that order).
                let first = std::future::poll_fn(|cx| Poll::Ready(grant.as_mut().poll(cx))).await;
                let state = match first {
                    Poll::Ready(result) => GrantState::Done(result),
                    Poll::Pending => GrantState::Waiting(Some(grant)),
                };
                *carried.grant.lock().await = state;
            }
            None => grant.await?,
        }
        Ok(Box::new(Held {
            connection: Some(connection),
            carried,
            cluster: self.cluster.clone(),
        }))
    }
}

/// The answer to the request that takes a carrying request's keys.
type Grant = Pin<Box<dyn Future<Output = SubsystemResult<()>> + Send>>;

/// Whether a carrying request's keys are taken.
pub(super) enum GrantState {
    /// Sent, answer not yet read (`None` once abandoned).
    Waiting(Option<Grant>),
    Done(SubsystemResult<()>),
}

#[async_trait]
impl SharedLatches for PgLatches {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn acquire(&self, claims: &[LatchClaim]) -> SubsystemResult<Box<dyn HeldLatches>> {
        let connection = self.cluster.latch_connection().await?;
        self.hold(connection, &keys(self.cluster.schema(), claims), true)
            .await
    }

    async fn acquire_named(&self, name: &str) -> SubsystemResult<Box<dyn HeldLatches>> {
        // A pool of its own: see client.rs.
        let connection = self.cluster.named_connection().await?;
        let key = advisory_key(self.cluster.schema(), "named", name);
        self.hold(connection, &[(key, true)], false).await
    }
}

/// A latch connection while its transaction is open. Unless it is handed back with
/// [`LatchConnection::into_pool`] after the transaction ended, dropping it closes the
/// connection (which ends the transaction and frees its keys): a connection is never reused
/// with a transaction open on it.
pub(super) struct LatchConnection(Option<Object>);

impl LatchConnection {
    pub(super) fn client(&self) -> &Object {
        match &self.0 {
            Some(object) => object,
            None => unreachable!("emptied only when consumed or dropped"),
        }
    }

    fn into_pool(mut self) {
        drop(self.0.take());
    }
}

impl Drop for LatchConnection {
    fn drop(&mut self) {
        if let Some(object) = self.0.take() {
            drop(Object::take(object));
        }
    }
}

/// The latches' transaction as a carrying request's statements find it (`Cluster::query`).
pub(super) struct Carried {
    /// Which cluster's connection it is: only that cluster's stores may use it.
    pub(super) cluster: usize,
    /// Gone once the latches are released.
    pub(super) connection: Weak<LatchConnection>,
    /// A statement failed or was abandoned in the transaction, so PostgreSQL has aborted it
    /// (or its state is unknown): committing it must fail, not quietly roll back.
    pub(super) broken: AtomicBool,
    /// Whether the keys are taken.
    pub(super) grant: tokio::sync::Mutex<GrantState>,
    /// Writes sent on the connection whose answers the commit reads (`Cluster::send_carried`).
    pub(super) sent: std::sync::Mutex<Vec<SentWrite>>,
}

/// The answer to a write sent in a carried transaction, not yet read.
pub(super) type SentWrite = Pin<Box<dyn Future<Output = SubsystemResult<()>> + Send>>;

impl Carried {
    /// Waits until the keys are taken; the error that kept them from being taken, if one did.
    pub(super) async fn granted(&self) -> SubsystemResult<()> {
        let mut state = self.grant.lock().await;
        if let GrantState::Waiting(waiting) = &mut *state {
            let result = match waiting.take() {
                Some(grant) => grant.await,
                None => Err(SubsystemError::unavailable("the latches were given up")),
            };
            *state = GrantState::Done(result);
        }
        match &*state {
            GrantState::Done(result) => result.clone(),
            GrantState::Waiting(_) => unreachable!("settled above"),
        }
    }

    /// Drops the pending answers, and with them their hold on the connection.
    fn abandon_grant(&self) {
        if let Ok(mut state) = self.grant.try_lock()
            && let GrantState::Waiting(waiting) = &mut *state
        {
            waiting.take();
        }
        drop(self.take_sent());
    }

    pub(super) fn take_sent(&self) -> Vec<SentWrite> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Latches held: an open transaction on a connection of the latch pool.
struct Held {
    connection: Option<Arc<LatchConnection>>,
    carried: Option<Arc<Carried>>,
    cluster: Cluster,
}

impl Held {
    /// The connection, once no statement of the request is using it.
    fn take_connection(&mut self) -> Option<LatchConnection> {
        if let Some(carried) = self.carried.take() {
            carried.abandon_grant();
            stop_carrying();
        }
        // Only a statement still running holds another reference: none does once the
        // request stops awaiting, unless one was abandoned, and then its connection closes
        // when it lets go.
        Arc::try_unwrap(self.connection.take()?).ok()
    }
}

#[async_trait]
impl HeldLatches for Held {
    async fn granted(&self) -> SubsystemResult<()> {
        match &self.carried {
            Some(carried) => carried.granted().await,
            None => Ok(()),
        }
    }

    async fn commit(mut self: Box<Self>) -> SubsystemResult<()> {
        self.granted().await?;
        let broken = || {
            self.carried
                .as_ref()
                .is_some_and(|carried| carried.broken.load(Ordering::Acquire))
        };
        let failed = || {
            SubsystemError::unavailable(
                "a statement of this change failed in the cluster database; \
                 nothing of it was kept there",
            )
        };
        if broken() {
            drop(self.take_connection());
            return Err(failed());
        }
        // Writes sent without waiting are answered before the COMMIT sent behind them: the
        // commit costs one round trip for all of them.
        let sent = self
            .carried
            .as_ref()
            .map(|carried| carried.take_sent())
            .unwrap_or_default();
        let committed = match &self.connection {
            Some(connection) => {
                let connection = connection.clone();
                self.cluster
                    .within(OPERATION_TIMEOUT, async move {
                        let mut commit =
                            std::pin::pin!(connection.client().batch_execute("COMMIT"));
                        let first =
                            std::future::poll_fn(|cx| Poll::Ready(commit.as_mut().poll(cx))).await;
                        let mut writes = Ok(());
                        for write in sent {
                            if let Err(e) = write.await {
                                writes = Err(e);
                            }
                        }
                        let commit = match first {
                            Poll::Ready(result) => result,
                            Poll::Pending => commit.await,
                        };
                        // A failed write aborted the transaction, whose COMMIT then answers
                        // as a rollback does, without an error.
                        if let Err(e) = writes {
                            return Err(SubsystemError::unavailable(format!(
                                "a statement of this change failed in the cluster database \
                                 ({}); nothing of it was kept there",
                                e.message
                            )));
                        }
                        commit.map_err(|e| commit_error(&e))
                    })
                    .await
            }
            None => Err(failed()),
        };
        let connection = self.take_connection();
        committed?;
        if let Some(connection) = connection {
            connection.into_pool();
        }
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(connection) = self.take_connection() else {
            return;
        };
        // Ending the transaction releases every key. The connection goes back to the pool
        // only once that is done; if it cannot be done (or the runtime asked to do it is
        // shutting down and drops the task), the connection closes, which releases them too.
        self.cluster.runtime().spawn(async move {
            match connection.client().batch_execute("ROLLBACK").await {
                Ok(()) => connection.into_pool(),
                Err(e) => warn!(error = %e, "could not release latches; closing their connection"),
            }
        });
    }
}

/// Keys of `path` as the tests of other crates compute them (the cluster tests look for a
/// latch in `pg_locks`): the node key of `path`.
pub fn node_key(schema: Option<&str>, path: &DavPath) -> i64 {
    advisory_key(schema, "node", path.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DavPath {
        DavPath::from_segments(s.split('/').filter(|s| !s.is_empty())).unwrap()
    }

    fn claim(path: &str, deep: bool) -> LatchClaim {
        LatchClaim {
            path: p(path),
            deep,
        }
    }

    /// Two key sets conflict when one holds a key exclusively that the other holds at all.
    fn conflict(a: &[LatchClaim], b: &[LatchClaim]) -> bool {
        let (a, b) = (keys(None, a), keys(None, b));
        a.iter()
            .any(|(ka, xa)| b.iter().any(|(kb, xb)| ka == kb && (*xa || *xb)))
    }

    /// The same answers as the executive's local latches (`Claim::conflicts_with`).
    #[test]
    fn keys_conflict_exactly_when_claims_do() {
        let cases = [
            ("/a", false, "/a", false, true),
            ("/a", false, "/a/b", false, false),
            ("/a", true, "/a/b", false, true),
            ("/a/b", false, "/a", true, true),
            ("/a", true, "/ab", true, false),
            ("/a", true, "/a", false, true),
            ("/a", true, "/a/b/c", true, true),
            ("/a/b", true, "/a", false, false),
            ("/a", false, "/b", false, false),
            ("/", true, "/x", false, true),
            ("/", false, "/x", false, false),
        ];
        for (a, deep_a, b, deep_b, expected) in cases {
            assert_eq!(
                conflict(&[claim(a, deep_a)], &[claim(b, deep_b)]),
                expected,
                "{a} (deep {deep_a}) against {b} (deep {deep_b})"
            );
        }
    }

    #[test]
    fn keys_are_sorted_stable_and_exclusive_where_any_claim_wants() {
        let claims = [claim("/a/b", false), claim("/a", true)];
        let keys = keys(None, &claims);
        assert!(keys.windows(2).all(|w| w[0].0 < w[1].0));
        // tree(/a) is wanted shared by /a/b and exclusively by the deep claim on /a.
        let tree_a = advisory_key(None, "tree", "/a");
        assert_eq!(
            keys.iter().find(|(k, _)| *k == tree_a),
            Some(&(tree_a, true))
        );
        // The same in every process, and apart per schema.
        assert_eq!(advisory_key(None, "node", "/a"), 7_635_270_765_545_341_825);
        assert_ne!(
            advisory_key(Some("one"), "node", "/a"),
            advisory_key(Some("two"), "node", "/a")
        );
    }

    #[test]
    fn the_statement_takes_every_key_in_order() {
        let sql = acquire_sql(&[(-5, false), (7, true)]);
        assert_eq!(
            sql,
            "BEGIN; SELECT pg_advisory_xact_lock_shared(-5), pg_advisory_xact_lock(7), \
             set_config('statement_timeout', '2000', true)"
        );
    }
}
