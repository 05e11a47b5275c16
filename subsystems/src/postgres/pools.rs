//! How the cluster's connection pools are made, and where their connections are driven: on
//! the runtime of the thread that uses them where it has one of its own ([`ThreadPools`]),
//! else on the runtime that opened the cluster.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio_postgres::{NoTls, Socket};
use tracing::warn;

use davd_registry::{SubsystemError, SubsystemResult};

use super::client::CONNECT_TIMEOUT;

/// Spawns each connection's task on `runtime` (deadpool's own spawns on whichever runtime
/// asks for the connection).
struct ConnectOn(Handle);

impl deadpool_postgres::Connect for ConnectOn {
    fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> std::pin::Pin<
        Box<
            dyn Future<
                    Output = Result<
                        (tokio_postgres::Client, tokio::task::JoinHandle<()>),
                        tokio_postgres::Error,
                    >,
                > + Send
                + '_,
        >,
    > {
        let config = config.clone();
        let runtime = self.0.clone();
        Box::pin(async move {
            let (client, connection) = config.connect(NoTls).await?;
            let task = runtime.spawn(drive(connection));
            Ok((client, task))
        })
    }
}

/// Makes the pools, each driving its connections on a runtime of its choice.
pub(super) struct PoolFactory {
    pub(super) config: tokio_postgres::Config,
}

impl PoolFactory {
    pub(super) fn build(
        &self,
        runtime: &Handle,
        size: usize,
        wait: Duration,
    ) -> SubsystemResult<Pool> {
        let manager = Manager::from_connect(
            self.config.clone(),
            ConnectOn(runtime.clone()),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(wait))
            .create_timeout(Some(CONNECT_TIMEOUT * 2))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| SubsystemError::internal(format!("cannot build a pool: {e}")))
    }
}

/// The pools of one kind: one per thread with a runtime of its own (the server's connection
/// threads), each driving its connections on that thread's runtime, made when the thread
/// first asks, so that a statement costs its thread a write and a read on the socket and no
/// other thread a wake-up; and a shared one, driven on the runtime that opened the cluster,
/// for that thread, for threads of a work-stealing runtime (whose tasks move between
/// threads) and for threads without a runtime.
pub(super) struct ThreadPools {
    factory: PoolFactory,
    shared: Pool,
    /// The thread that opened the cluster.
    opener: ThreadId,
    /// How many connections each thread's pool opens at most.
    size: usize,
    wait: Duration,
    pools: Mutex<HashMap<ThreadId, Pool>>,
}

impl ThreadPools {
    /// Pools of `connections` (shared on `runtime`, the current thread's, and split over the
    /// threads that ask, [`local_size`]) whose requests wait up to `wait` for one.
    pub(super) fn open(
        factory: PoolFactory,
        runtime: &Handle,
        connections: usize,
        wait: Duration,
    ) -> SubsystemResult<ThreadPools> {
        Ok(ThreadPools {
            shared: factory.build(runtime, connections, wait)?,
            factory,
            opener: std::thread::current().id(),
            size: local_size(connections),
            wait,
            pools: Mutex::new(HashMap::new()),
        })
    }

    /// The asking thread's pool, or the shared one (also once it is closed, with the server:
    /// no new pool for a thread that asks only then).
    pub(super) fn for_this_thread(&self) -> SubsystemResult<Pool> {
        let thread = std::thread::current().id();
        let runtime = match Handle::try_current() {
            Ok(runtime)
                if runtime.runtime_flavor() == RuntimeFlavor::CurrentThread
                    && thread != self.opener
                    && !self.shared.is_closed() =>
            {
                runtime
            }
            _ => return Ok(self.shared.clone()),
        };
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pool) = pools.get(&thread) {
            return Ok(pool.clone());
        }
        let pool = self.factory.build(&runtime, self.size, self.wait)?;
        pools.insert(thread, pool.clone());
        Ok(pool)
    }

    /// How many threads have a pool of their own.
    #[cfg(test)]
    pub(super) fn threads(&self) -> usize {
        self.pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Stops handing out connections, the shared pool's and every thread's.
    pub(super) fn close(&self) {
        self.shared.close();
        for pool in self
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            pool.close();
        }
    }
}

/// The size of one thread's pool of a kind: `connections` of that kind shared by as many
/// threads as the server starts by default (two per core), and at least two, so that a
/// thread's requests seldom wait for one another. With more connection threads than the
/// default, the instance may open more than `connections` in all (docs/scaling.md).
fn local_size(connections: usize) -> usize {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    connections.div_ceil(threads).max(2)
}

async fn drive(connection: tokio_postgres::Connection<Socket, tokio_postgres::tls::NoTlsStream>) {
    if let Err(e) = connection.await {
        warn!(error = %e, "a connection to the cluster database ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(1);

    /// Pools that would connect to nowhere: none of these tests connects.
    fn factory() -> PoolFactory {
        PoolFactory {
            config: "host=127.0.0.1 port=1 user=nobody".parse().unwrap(),
        }
    }

    fn current_thread_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// The size tells the pools apart: the shared one holds all 7, a thread's its share.
    fn is_shared(pool: &Pool) -> bool {
        pool.status().max_size == 7
    }

    /// Pools opened on the test's thread, shared ones driven on the runtime returned.
    fn opened_here() -> (tokio::runtime::Runtime, ThreadPools) {
        let opener_runtime = current_thread_runtime();
        let pools = ThreadPools::open(factory(), opener_runtime.handle(), 7, WAIT).unwrap();
        assert!(local_size(7) < 7);
        (opener_runtime, pools)
    }

    #[test]
    fn each_thread_with_a_runtime_of_its_own_gets_a_pool_of_its_own() {
        let (_opener_runtime, pools) = opened_here();

        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    current_thread_runtime().block_on(async {
                        let first = pools.for_this_thread().unwrap();
                        assert_eq!(first.status().max_size, local_size(7));
                        let again = pools.for_this_thread().unwrap();
                        assert!(!is_shared(&again));
                    });
                });
            }
        });
        assert_eq!(pools.threads(), 2, "one pool per thread, made once");
    }

    #[test]
    fn threads_whose_tasks_may_move_share_the_shared_pool() {
        let (opener_runtime, pools) = opened_here();

        // The thread that opened the cluster, inside its runtime.
        opener_runtime.block_on(async {
            assert!(is_shared(&pools.for_this_thread().unwrap()));
        });
        // A thread without a runtime.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                assert!(is_shared(&pools.for_this_thread().unwrap()));
            });
        });
        // A worker of a work-stealing runtime.
        let stealing = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let pools = stealing.block_on(async move {
            tokio::spawn(async move {
                assert!(is_shared(&pools.for_this_thread().unwrap()));
                pools
            })
            .await
            .unwrap()
        });
        assert_eq!(pools.threads(), 0);

        // Once the pools are closed (with the server), no thread makes a pool of its own.
        pools.close();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                current_thread_runtime().block_on(async {
                    assert!(pools.for_this_thread().unwrap().is_closed());
                });
            });
        });
        assert_eq!(pools.threads(), 0);
    }
}
