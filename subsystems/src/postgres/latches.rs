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
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Object;
use sha2::{Digest, Sha256};
use tracing::warn;

use davd_registry::{DavPath, HeldLatches, LatchClaim, SharedLatches, SubsystemResult};

use super::client::{Cluster, db_error};

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

/// The statements that open the latch transaction and take `keys` in order: `BEGIN`, the
/// statement timeout lifted (a separate statement: a statement's own timeout is armed
/// before it runs), and one `SELECT` whose columns set the lock wait and then take the keys,
/// left to right (PostgreSQL evaluates a target list in order). The keys are numbers this
/// process computed, written as literals: one round trip, and three statements for the
/// server to parse and plan instead of three plus one per key.
fn acquire_sql(keys: &[(i64, bool)]) -> String {
    let mut sql = format!(
        "BEGIN; SET LOCAL statement_timeout = 0; SELECT set_config('lock_timeout', '{}', true)",
        LATCH_WAIT.as_millis()
    );
    for (key, exclusive) in keys {
        let function = if *exclusive {
            "pg_advisory_xact_lock"
        } else {
            "pg_advisory_xact_lock_shared"
        };
        let _ = write!(sql, ", {function}({key})");
    }
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
    /// dropped.
    async fn hold(
        &self,
        connection: Object,
        keys: &[(i64, bool)],
    ) -> SubsystemResult<Box<dyn HeldLatches>> {
        let mut held = Held {
            connection: Some(connection),
            cluster: self.cluster.clone(),
        };
        let sql = acquire_sql(keys);
        let taken = match &held.connection {
            Some(connection) => connection.batch_execute(&sql).await,
            None => unreachable!("just set"),
        };
        if let Err(e) = taken {
            // The transaction may be open on it: the connection is closed, not reused.
            held.abandon();
            return Err(db_error(&e));
        }
        Ok(Box::new(held))
    }
}

#[async_trait]
impl SharedLatches for PgLatches {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn acquire(&self, claims: &[LatchClaim]) -> SubsystemResult<Box<dyn HeldLatches>> {
        let connection = self.cluster.latch_connection().await?;
        self.hold(connection, &keys(self.cluster.schema(), claims))
            .await
    }

    async fn acquire_named(&self, name: &str) -> SubsystemResult<Box<dyn HeldLatches>> {
        // A pool of its own: see client.rs.
        let connection = self.cluster.named_connection().await?;
        let key = advisory_key(self.cluster.schema(), "named", name);
        self.hold(connection, &[(key, true)]).await
    }
}

/// Latches held: an open transaction on a connection of the latch pool.
struct Held {
    connection: Option<Object>,
    cluster: Cluster,
}

impl Held {
    fn abandon(&mut self) {
        if let Some(connection) = self.connection.take() {
            drop(Object::take(connection));
        }
    }
}

impl HeldLatches for Held {}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        // Ending the transaction releases every key. The connection goes back to the pool
        // only once that is done; if it cannot be done, the connection closes, which releases
        // them too.
        self.cluster.runtime().spawn(async move {
            if let Err(e) = connection.batch_execute("ROLLBACK").await {
                warn!(error = %e, "could not release latches; closing their connection");
                drop(Object::take(connection));
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
        let shared = sql.find("pg_advisory_xact_lock_shared(-5)").unwrap();
        let exclusive = sql.find("pg_advisory_xact_lock(7)").unwrap();
        assert!(sql.starts_with("BEGIN;") && shared < exclusive, "{sql}");
    }
}
