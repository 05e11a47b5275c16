//! A unit: statements that stand or fall together, for changes of whole trees.
//!
//! Outside a carried transaction a unit is a transaction of its own on a query connection.
//! When the request carries the latches' transaction of this cluster (`davd_registry::
//! carrying`) and the unit is asked to ride it, the unit is a `SAVEPOINT` in that
//! transaction: its changes count only if the latches' commit does, so an instance that lost
//! its latch (its connection died, or it stalled past the database's patience) changes
//! nothing; and a statement that fails rolls back only its unit, not the request's earlier
//! changes, so that the request can still undo what it did and answer the unit's error.
//!
//! Either way the unit's statements may run for `TREE_TIMEOUT`; in a carried transaction the
//! usual [`STATEMENT_TIMEOUT`] is given back when the unit ends.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use davd_registry::SubsystemResult;

use super::client::{Cluster, STATEMENT_TIMEOUT, Session, db_error, tree_timeout};
use super::latches::{Carried, LatchConnection};

/// The savepoint's name: units never nest (a unit runs no other unit), so one name does.
const SAVEPOINT: &str = "davd_unit";

/// Where a unit's statements go.
pub(crate) enum Ride {
    /// The request's carried transaction when it has one, else a transaction of its own.
    Carried,
    /// Always a transaction of its own (reads and writes that must not wait for the
    /// latches' commit).
    Alone,
}

/// An open unit ([`Cluster::unit`]). End it with [`Unit::finish`]; dropped unfinished (its
/// operation timed out or was abandoned), its connection is closed, or in a carried
/// transaction the transaction is marked broken, so that the latches' commit fails rather
/// than keep half of it.
pub(crate) struct Unit {
    way: Way,
    finished: bool,
}

enum Way {
    /// Boxed: a session is large, and a unit is moved around.
    Own(Box<Session>),
    Carried(Arc<Carried>, Arc<LatchConnection>),
    /// Committed, and its session handed back.
    Gone,
}

impl Cluster {
    /// Begins a unit. Call it, its statements and [`Unit::finish`] within one
    /// [`Cluster::within`] of at least `TREE_TIMEOUT`.
    pub(crate) async fn unit(&self, ride: Ride) -> SubsystemResult<Unit> {
        let carried = match ride {
            Ride::Carried => self.carried(),
            Ride::Alone => None,
        };
        let Some((carried, connection)) = carried else {
            let mut session = self.session().await?;
            session
                .client()
                .batch_execute(&format!("BEGIN; {}", tree_timeout()))
                .await
                .map_err(|e| db_error(&e))?;
            return Ok(Unit {
                way: Way::Own(Box::new(session)),
                finished: false,
            });
        };
        // Nothing of the request's may run before its latches are granted, and the writes
        // it sent without waiting are answered first (in order on the connection).
        carried.granted().await?;
        let mut unit = Unit {
            way: Way::Carried(carried.clone(), connection),
            finished: false,
        };
        for write in carried.take_sent() {
            write.await?;
        }
        let begin = format!("SAVEPOINT {SAVEPOINT}; {}", tree_timeout());
        unit.connection_batch(&begin).await?;
        Ok(unit)
    }
}

impl Unit {
    /// Whether the unit rides the request's carried transaction.
    #[cfg(test)]
    pub(crate) fn carried(&self) -> bool {
        matches!(self.way, Way::Carried(..))
    }

    /// Runs one statement of the unit (prepared once per connection); its rows.
    pub(crate) async fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> SubsystemResult<Vec<Row>> {
        let result = match &mut self.way {
            Way::Own(session) => {
                let client = session.client();
                match client.prepare_cached(sql).await {
                    Ok(statement) => client.query(&statement, params).await,
                    Err(e) => Err(e),
                }
            }
            Way::Carried(_, connection) => {
                let client = connection.client();
                match client.prepare_cached(sql).await {
                    Ok(statement) => client.query(&statement, params).await,
                    Err(e) => Err(e),
                }
            }
            Way::Gone => unreachable!("a finished unit runs no statement"),
        };
        result.map_err(|e| db_error(&e))
    }

    /// Ends the unit with `outcome`: commits it (or releases its savepoint) when `outcome`
    /// is a success, rolls it back (to its savepoint) when not, and answers `outcome`, or
    /// the error that kept the unit from committing.
    pub(crate) async fn finish<T>(mut self, outcome: SubsystemResult<T>) -> SubsystemResult<T> {
        let end = match (&self.way, outcome.is_ok()) {
            (Way::Carried(..), true) => format!("RELEASE SAVEPOINT {SAVEPOINT}; {}", usual()),
            (Way::Carried(..), false) => {
                format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}; {}", usual())
            }
            (_, true) => "COMMIT".to_owned(),
            (_, false) => "ROLLBACK".to_owned(),
        };
        let ended = self.connection_batch(&end).await;
        // Only now is the connection, or the carried transaction, in a known state.
        self.finished = ended.is_ok();
        if self.finished
            && let Way::Own(session) = std::mem::replace(&mut self.way, Way::Gone)
        {
            (*session).done();
        }
        let value = outcome?;
        ended?;
        Ok(value)
    }

    async fn connection_batch(&mut self, sql: &str) -> SubsystemResult<()> {
        let result = match &mut self.way {
            Way::Own(session) => session.client().batch_execute(sql).await,
            Way::Carried(_, connection) => connection.client().batch_execute(sql).await,
            Way::Gone => return Ok(()),
        };
        result.map_err(|e| db_error(&e))
    }
}

/// The statement that gives a carried transaction its usual statement timeout back.
fn usual() -> String {
    format!(
        "SET LOCAL statement_timeout = {}",
        STATEMENT_TIMEOUT.as_millis()
    )
}

impl Drop for Unit {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // An unfinished own unit's session closes its connection as it drops (`Session`).
        if let Way::Carried(carried, _) = &self.way {
            carried.broken.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use davd_registry::{DavPath, LatchClaim, SharedLatches};

    use super::*;
    use crate::conformance::cluster::{SchemaGuard, fresh_schema, test_database};
    use crate::postgres::{ClusterTable, PgLatches};

    /// A unit's statements may run for the tree timeout; in a carried transaction the
    /// statements after it get the usual timeout back, and what the unit wrote commits with
    /// the latches.
    #[tokio::test]
    async fn a_unit_has_the_tree_timeout_and_gives_the_usual_one_back() {
        let Some(url) = test_database() else { return };
        let schema = fresh_schema();
        let table: ClusterTable =
            toml::from_str(&format!("database = \"{url}\"\nschema = \"{schema}\"\n")).unwrap();
        let cluster = Cluster::open(&table.check(None).unwrap(), "a")
            .await
            .unwrap();
        let _guard = SchemaGuard { url, schema };
        let show = async |unit: &mut Unit| -> String {
            unit.query("SHOW statement_timeout", &[]).await.unwrap()[0].get(0)
        };
        let mut own = cluster.unit(Ride::Carried).await.unwrap();
        assert!(!own.carried(), "nothing carried: a transaction of its own");
        assert_eq!(show(&mut own).await, "2min");
        own.finish(Ok(())).await.unwrap();

        let latches = PgLatches::new(cluster.clone());
        let claim = [LatchClaim {
            path: DavPath::root(),
            deep: false,
        }];
        davd_registry::carrying(async {
            let held = latches.acquire(&claim).await.unwrap();
            let mut unit = cluster.unit(Ride::Carried).await.unwrap();
            assert!(unit.carried());
            assert_eq!(show(&mut unit).await, "2min");
            unit.finish(Ok(())).await.unwrap();
            let after = cluster.query("SHOW statement_timeout", &[]).await.unwrap();
            assert_eq!(after[0].get::<_, String>(0), "2s");
            let alone = cluster.unit(Ride::Alone).await.unwrap();
            assert!(!alone.carried());
            alone.finish(Ok(())).await.unwrap();
            held.commit().await.unwrap();
        })
        .await;
    }
}
