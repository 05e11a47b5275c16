//! Connections to the cluster's database: two pools, the timeouts that turn an unreachable
//! database into a 503 within about two seconds, and what each failure means for a client.
//!
//! Queries, path latches and named latches have pools of their own. A request that holds a
//! latch (an open transaction with advisory locks) still needs connections for its queries;
//! were they drawn from one pool, as many requests as the pool holds could each keep a latch
//! and wait for a query connection that never comes. For the same reason a request takes a
//! named latch (`max_locks_per_user`) while it holds its path latches from a third pool: its
//! holders need query connections only, so whoever waits for one of its connections waits
//! for a request that can finish.
//!
//! Query and latch connections are driven on the thread whose requests use them: each thread
//! with a runtime of its own (the server's connection threads) has a pool of each of its own,
//! whose connections' tasks run on that runtime ([`ThreadPools`]). A statement then costs its
//! thread a write and a read on the socket; with the connections driven elsewhere it also
//! woke that other thread and was woken back, twice a context switch and a trip through the
//! kernel (measured: 23 % more Depth 0 allprops of a file with dead properties, 10 to 23 %
//! more PUTs, docs/performance.md). Threads of a work-stealing runtime, whose tasks move between
//! threads, share one pool of each kind driven on the runtime that opened the cluster, as do
//! the named latches (few and short).
//!
//! Timeouts, so that no request hangs on a database that stopped answering: a connection
//! attempt gives up after [`CONNECT_TIMEOUT`]; the server cancels a statement after
//! [`STATEMENT_TIMEOUT`]; TCP keepalives and `TCP_USER_TIMEOUT` notice a peer that vanished
//! without closing the connection; and every operation runs within [`OPERATION_TIMEOUT`] on
//! the client side as well. A connection whose operation did not finish cleanly is never
//! handed out again: it may be in the middle of a transaction.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Object, Pool, PoolError};
use futures_util::FutureExt;
use tokio::runtime::Handle;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use davd_registry::{StatusCode, SubsystemError, SubsystemResult};

use super::latches::{Carried, LATCH_WAIT, LatchConnection, SentWrite};
use super::pools::{PoolFactory, ThreadPools};
use super::settings::{ClusterSettings, describe};
use super::unit::Ride;

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the server lets one statement run (bulk changes of a tree get
/// [`TREE_TIMEOUT`]).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an operation (a few statements) may take, seen from davd.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(2500);
/// How long a request waits for a free query connection.
pub const POOL_WAIT: Duration = Duration::from_millis(1500);
/// How long a request waits for a free latch connection: latches may be waited for while
/// other instances finish long requests.
const LATCH_POOL_WAIT: Duration = Duration::from_secs(60);
/// Connections each instance holds named latches on (a user's lock count while a LOCK is
/// decided and committed): such decisions are short and few.
pub const NAMED_CONNECTIONS: usize = 4;
/// Statements that change or read a whole tree (a MOVE of ten thousand resources) may run
/// this long.
pub const TREE_TIMEOUT: Duration = Duration::from_secs(120);

/// The cluster's database, shared by the property store, the lock table and the latches of
/// one server.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    /// Query connections.
    queries: ThreadPools,
    /// Connections that hold path latches (and carry a PUT's statements).
    latches: ThreadPools,
    /// Connections that hold named latches: few and short, one pool driven on the runtime
    /// that opened the cluster.
    named: Pool,
    instance: String,
    schema: Option<String>,
    /// `host:port/database`, for messages.
    describe: String,
    /// The runtime the shared pools' connections are driven on (the one that opened the
    /// cluster): not a connection thread's, whose runtime ends with it, and whose requests
    /// would otherwise wait for that thread to look at the socket.
    runtime: Handle,
}

/// The options every new query connection starts with: the per-statement timeout, and
/// `search_path` when the tables live in a schema of their own.
fn session_options(settings: &ClusterSettings) -> String {
    with_schema(
        settings,
        format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis()),
    )
}

/// The options a latch connection starts with. Its first statement of every transaction is
/// the one that takes the keys, which may wait up to [`LATCH_WAIT`] (PostgreSQL's
/// `lock_timeout`) and so runs without a statement timeout; that statement gives the rest
/// of its transaction [`STATEMENT_TIMEOUT`] back (`latches.rs`). As session defaults they
/// cost no statement per latch: setting them in each transaction was one more statement for
/// every PUT (`SET LOCAL statement_timeout = 0`, a statement's own timer being armed before
/// it runs) and one more function call.
fn latch_session_options(settings: &ClusterSettings) -> String {
    with_schema(
        settings,
        format!(
            "-c statement_timeout=0 -c lock_timeout={}",
            LATCH_WAIT.as_millis()
        ),
    )
}

/// `options` with the schema's `search_path`, after the options of the connection string.
fn with_schema(settings: &ClusterSettings, mut options: String) -> String {
    if let Some(schema) = &settings.schema {
        options.push_str(&format!(" -c search_path={schema}"));
    }
    match settings.database.get_options() {
        Some(theirs) if !theirs.is_empty() => format!("{theirs} {options}"),
        _ => options,
    }
}

impl Cluster {
    /// Opens the pools (connecting lazily) for `instance`. Must be called within a tokio
    /// runtime that lives as long as the server: the connections are driven there.
    pub fn new(settings: &ClusterSettings, instance: &str) -> SubsystemResult<Cluster> {
        let runtime = Handle::try_current().map_err(|_| {
            SubsystemError::internal("the cluster database must be opened inside a runtime")
        })?;
        let mut config = settings.database.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config
            .application_name(format!("davd {instance}"))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(1))
            .keepalives_interval(Duration::from_secs(1))
            .keepalives_retries(1)
            .tcp_user_timeout(Duration::from_secs(2));
        let mut latch_config = config.clone();
        latch_config.options(latch_session_options(settings));
        config.options(session_options(settings));
        let pools = PoolFactory { config };
        let latch_pools = PoolFactory {
            config: latch_config,
        };
        Ok(Cluster {
            inner: Arc::new(Inner {
                named: latch_pools.build(&runtime, NAMED_CONNECTIONS, LATCH_POOL_WAIT)?,
                queries: ThreadPools::open(pools, &runtime, settings.connections, POOL_WAIT)?,
                latches: ThreadPools::open(
                    latch_pools,
                    &runtime,
                    settings.latch_connections,
                    LATCH_POOL_WAIT,
                )?,
                instance: instance.to_owned(),
                schema: settings.schema.clone(),
                describe: describe(&settings.database),
                runtime,
            }),
        })
    }

    /// This process's name among the instances.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// The schema davd's tables are in, if not the default one.
    pub fn schema(&self) -> Option<&str> {
        self.inner.schema.as_deref()
    }

    /// `host:port/database`, without the password.
    pub fn describe(&self) -> &str {
        &self.inner.describe
    }

    pub(super) fn runtime(&self) -> &Handle {
        &self.inner.runtime
    }

    /// Tells this cluster apart from another one in the same process (their latches'
    /// transactions are not interchangeable).
    pub(super) fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// The latches' transaction of this cluster that the current request is carrying, with
    /// its connection, if it carries one that is still open.
    pub(super) fn carried(&self) -> Option<(Arc<Carried>, Arc<LatchConnection>)> {
        let carried = davd_registry::carried_transaction()?
            .downcast::<Carried>()
            .ok()?;
        if carried.cluster != self.id() {
            return None;
        }
        let connection = carried.connection.upgrade()?;
        Some((carried, connection))
    }

    /// Whether the current request carries this cluster's latches' transaction: what it
    /// wrote there is invisible to a transaction of its own until the latches commit.
    pub(crate) fn carries(&self) -> bool {
        self.carried().is_some()
    }

    /// A connection for queries, as a [`Session`]: from the pool of the asking thread when it
    /// has a runtime of its own, so that the connection is driven where it is used.
    pub(crate) async fn session(&self) -> SubsystemResult<Session> {
        let pool = self.inner.queries.for_this_thread()?;
        Ok(Session {
            client: Some(pool.get().await.map_err(pool_error)?),
        })
    }

    /// A connection to hold path latches on, from the asking thread's pool when it has a
    /// runtime of its own, like the query connections: a PUT's statements ride its latch, and
    /// a connection driven on another thread cost each of them two wake-ups of threads and
    /// two context switches (measured: 10 to 23 % more PUTs, docs/performance.md). A turn that runs
    /// on the thread releasing the path's latch (ADR 0025) uses that thread's pool.
    pub(super) async fn latch_connection(&self) -> SubsystemResult<Object> {
        self.inner
            .latches
            .for_this_thread()?
            .get()
            .await
            .map_err(pool_error)
    }

    /// How many threads have latch connections of their own.
    #[cfg(test)]
    pub(super) fn threads_with_latch_connections(&self) -> usize {
        self.inner.latches.threads()
    }

    /// A connection to hold a named latch on.
    pub(super) async fn named_connection(&self) -> SubsystemResult<Object> {
        self.inner.named.get().await.map_err(pool_error)
    }

    /// Runs `operation` within `limit`: past it, 503 (and the connection it used, dropped
    /// with the operation's future unfinished, is never reused).
    ///
    /// A combinator, not an `async fn`: an `async fn` keeps its argument and the timeout it
    /// awaits side by side, which doubled every statement's future (and the boxed future of
    /// every property and lock operation that awaits one).
    pub(crate) fn within<T>(
        &self,
        limit: Duration,
        operation: impl Future<Output = SubsystemResult<T>>,
    ) -> impl Future<Output = SubsystemResult<T>> {
        tokio::time::timeout(limit, operation).map(move |outcome| match outcome {
            Ok(result) => result,
            Err(_) => Err(SubsystemError::unavailable(format!(
                "the cluster database ({}) did not answer within {} ms",
                self.inner.describe,
                limit.as_millis()
            ))),
        })
    }

    /// Runs one statement (atomic on its own) within [`OPERATION_TIMEOUT`], prepared once per
    /// connection; its rows.
    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> SubsystemResult<Vec<Row>> {
        if let Some((carried, connection)) = self.carried() {
            // Writes sent earlier are answered first; reading their answers keeps the
            // connection from waiting for a reader before it can deliver this one's.
            for write in carried.take_sent() {
                if let Err(e) = write.await {
                    carried.broken.store(true, Ordering::Release);
                    return Err(e);
                }
            }
            let statement = async {
                let client = connection.client();
                let statement = client.prepare_cached(sql).await.map_err(|e| db_error(&e))?;
                client
                    .query(&statement, params)
                    .await
                    .map_err(|e| db_error(&e))
            };
            let mut statement = std::pin::pin!(statement);
            // Polled once, the statement is sent behind the request for the latches' keys,
            // which may wait up to LATCH_WAIT for another instance to let go: the
            // statement's own time starts only once the keys are taken.
            let first = std::future::poll_fn(|cx| Poll::Ready(statement.as_mut().poll(cx))).await;
            let rows = match first {
                Poll::Ready(rows) => rows,
                Poll::Pending => match carried.granted().await {
                    Ok(()) => self.within(OPERATION_TIMEOUT, statement).await,
                    Err(e) => Err(e),
                },
            };
            if rows.is_err() {
                // PostgreSQL has aborted the transaction (or, after a timeout, its state is
                // unknown): the latches' commit must fail rather than quietly roll back.
                carried.broken.store(true, Ordering::Release);
                // A statement sent behind a request for keys that failed fails too; the
                // client is told why the keys were not taken.
                carried.granted().await?;
            }
            return rows;
        }
        self.query_alone(sql, params).await
    }

    /// Like [`Cluster::query`], on a connection of its own even when the request carries the
    /// latches' transaction: for a record that must stay whether or not that transaction
    /// commits (the s3 kind's note of a blob being uploaded).
    pub(crate) async fn query_alone(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> SubsystemResult<Vec<Row>> {
        self.within(OPERATION_TIMEOUT, async {
            let mut session = self.session().await?;
            let client = session.client();
            let statement = client.prepare_cached(sql).await.map_err(|e| db_error(&e))?;
            let rows = client
                .query(&statement, params)
                .await
                .map_err(|e| db_error(&e))?;
            session.done();
            Ok(rows)
        })
        .await
    }

    /// Sends a write of text values in the latches' transaction the request carries, without
    /// waiting for its answer: the commit reads it, in the same round trip as its own
    /// (`HeldLatches::commit`). `false`, and nothing sent, when the request carries no
    /// transaction of this cluster; the caller then runs the write as usual.
    ///
    /// Only for a write whose result nothing reads before the commit: its failure surfaces
    /// there, as a failed commit (503), and the transaction's rollback is its undo.
    pub(super) async fn send_carried(
        &self,
        sql: &'static str,
        params: Vec<String>,
    ) -> SubsystemResult<bool> {
        let Some((carried, connection)) = self.carried() else {
            return Ok(false);
        };
        let mut write: SentWrite = Box::pin(async move {
            let client = connection.client();
            let statement = client.prepare_cached(sql).await.map_err(|e| db_error(&e))?;
            let params: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            client
                .execute(&statement, &params)
                .await
                .map(drop)
                .map_err(|e| db_error(&e))
        });
        // Polled once, it is sent (behind the request's earlier statements, in order).
        match std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => {
                carried.broken.store(true, Ordering::Release);
                return Err(e);
            }
            Poll::Pending => carried
                .sent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(write),
        }
        Ok(true)
    }

    /// Like [`Cluster::query`], for a statement over a whole tree, which may take up to
    /// [`TREE_TIMEOUT`]; in a transaction of its own even when the request carries the
    /// latches' (see `unit.rs`).
    pub(crate) async fn query_tree(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> SubsystemResult<Vec<Row>> {
        self.within(TREE_TIMEOUT + OPERATION_TIMEOUT, async {
            let mut unit = self.unit(Ride::Alone).await?;
            let rows = unit.query(sql, params).await;
            unit.finish(rows).await
        })
        .await
    }

    /// Stops handing out connections; those in use close as they come back.
    pub fn close(&self) {
        self.inner.queries.close();
        self.inner.latches.close();
        self.inner.named.close();
    }
}

/// A query connection for one operation. Unless the operation marks it [`Session::done`],
/// the connection is closed instead of going back to the pool: an operation that failed or
/// was abandoned part way may have left a transaction open on it.
pub(crate) struct Session {
    client: Option<Object>,
}

impl Session {
    pub(crate) fn client(&mut self) -> &mut ClientWrapper {
        match &mut self.client {
            Some(client) => client,
            // `done` consumes the session: a session in use always has its client.
            None => unreachable!("a finished session is not used"),
        }
    }

    /// The operation finished cleanly: the connection may serve the next one.
    pub(crate) fn done(mut self) {
        drop(self.client.take());
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

/// The statement that lets the rest of a transaction run up to [`TREE_TIMEOUT`].
pub(crate) fn tree_timeout() -> String {
    format!("SET LOCAL statement_timeout = {}", TREE_TIMEOUT.as_millis())
}

fn pool_error(e: PoolError) -> SubsystemError {
    match e {
        PoolError::Backend(e) => db_error(&e),
        PoolError::Timeout(_) => SubsystemError::unavailable(
            "no connection to the cluster database came free in time; try again",
        ),
        other => {
            SubsystemError::unavailable(format!("the cluster database is unavailable: {other}"))
        }
    }
}

/// What a database failure means for the client: 503 for anything that may pass (the server
/// is down, restarting, overloaded, cancelled the statement), 507 for a full disk, 500 for
/// the rest (a bug).
pub(crate) fn db_error(e: &tokio_postgres::Error) -> SubsystemError {
    let Some(db) = e.as_db_error() else {
        // No answer from the server: the connection could not be made, or broke.
        return SubsystemError::unavailable(format!("the cluster database cannot be reached: {e}"));
    };
    let code = db.code();
    if *code == SqlState::DISK_FULL {
        return SubsystemError::insufficient_storage("the cluster database's disk is full");
    }
    if *code == SqlState::LOCK_NOT_AVAILABLE {
        return SubsystemError::unavailable(
            "another instance has held this resource too long; try again",
        );
    }
    let transient = code.code().starts_with("08") // connection exception
        || code.code().starts_with("53") // insufficient resources
        || code.code().starts_with("57") // operator intervention: shutdown, cancel, timeout
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION;
    if transient {
        SubsystemError::unavailable(format!("the cluster database: {}", db.message()))
    } else {
        SubsystemError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the cluster database refused a statement: {}", db.message()),
        )
    }
}

/// Like [`db_error`], for a failure while committing a batch that carries a marker: when
/// the connection broke, the commit may or may not have happened, and recovery must ask.
pub(super) fn commit_error(e: &tokio_postgres::Error) -> SubsystemError {
    let error = db_error(e);
    if e.as_db_error().is_none() {
        SubsystemError::outcome_unknown(error.message)
    } else {
        error
    }
}
