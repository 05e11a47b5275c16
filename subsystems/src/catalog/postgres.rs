//! Kind `postgres`: properties and locks in the cluster's PostgreSQL database,
//! `{ kind = "postgres" }`, with the database named once in the top-level `[cluster]` table.
//!
//! ```toml
//! [cluster]
//! database = "postgres://davd@db.internal/davd"   # or the environment's DAVD_DATABASE_URL
//! instance = "a"                                  # default: host name and --listen port
//!
//! [[mount]]
//! scope = "/"
//! namespace = { kind = "fs", root = "/srv/shared/dav" }
//! properties = { kind = "postgres" }
//! locks = { kind = "postgres" }
//! ```
//!
//! When the file has `[cluster]`, the server connects at startup, before any store opens
//! (brings the schema up to date, names this instance so that stores sharing a directory with
//! the other instances keep their working files apart, and offers the cluster-wide write
//! latches to the executive), whether or not a mount names the kind. All mounts share one
//! pair of pools, one property store and one lock table, so a MOVE between two scopes is one
//! transaction. See docs/scaling.md.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::info;

use davd_registry::{DavPath, LockManager, PropertyManager, SubsystemResult};

use super::{
    Close, ConfigProblem, Kind, KindConfig, OpenContext, OpenError, Opener, StartFuture,
    TableConfig,
};
use crate::postgres::{
    Cluster, ClusterSettings, ClusterTable, DATABASE_VARIABLE, PgLatches, PgLocks, PgProperties,
};

/// The top-level table the kind reads.
pub const TABLE: &str = "cluster";

pub const KIND: Kind = Kind::new("postgres")
    .properties(properties)
    .locks(locks)
    .reads_tables(&[TABLE])
    .checks_tables(check)
    .starts(start);

/// Reads `[cluster]` at its lines.
fn read(table: &TableConfig<'_>) -> Result<ClusterSettings, ConfigProblem> {
    let written: ClusterTable = table.parse()?;
    written
        .check(std::env::var(DATABASE_VARIABLE).ok())
        .map_err(|message| table.problem(message))
}

fn check(table: &TableConfig<'_>) -> Result<(), ConfigProblem> {
    read(table).map(|_| ())
}

/// A mount naming the kind needs `[cluster]`; the mistake is reported at the mount's line.
fn require_cluster(config: &KindConfig<'_>) -> Result<(), ConfigProblem> {
    config.no_keys()?;
    cluster_table(config)
}

/// Checks that the file has a good `[cluster]` table, for a kind that keeps its state in the
/// cluster's database (this one, and `s3`'s tree).
pub(super) fn cluster_table(config: &KindConfig<'_>) -> Result<(), ConfigProblem> {
    let cluster = config.top_level(TABLE).ok_or_else(|| {
        config.problem(
            "needs a [cluster] table naming the database (database = \"postgres://...\", \
             see docs/scaling.md)",
        )
    })?;
    read(&cluster).map(|_| ())
}

fn properties(config: &KindConfig<'_>) -> Result<Opener<dyn PropertyManager>, ConfigProblem> {
    require_cluster(config)?;
    Ok(Arc::new(OpenProperties))
}

fn locks(config: &KindConfig<'_>) -> Result<Opener<dyn LockManager>, ConfigProblem> {
    require_cluster(config)?;
    Ok(Arc::new(OpenLocks))
}

fn start(cx: &OpenContext) -> StartFuture<'_> {
    Box::pin(async move { cluster(cx).await.map(|_| ()) })
}

/// The cluster's database, opened once per server: connected, migrated, this instance named
/// and the shared latches offered.
pub(super) async fn cluster(cx: &OpenContext) -> Result<Arc<Cluster>, OpenError> {
    cx.shared_async("postgres: the cluster database", || async {
        let table = cx
            .table(TABLE)
            .ok_or_else(|| OpenError::new("the postgres kind needs a [cluster] table"))?;
        let settings = ClusterSettings::from_toml(table)
            .map_err(|message| OpenError::new(format!("[cluster]: {message}")))?;
        let instance = settings
            .instance_name(cx.listen())
            .map_err(|message| OpenError::new(format!("[cluster]: {message}")))?;
        cx.set_instance(&instance)?;
        let cluster = Cluster::open(&settings, &instance).await.map_err(|e| {
            OpenError::new(format!(
                "[cluster]: cannot use the database {}: {}",
                crate::postgres::describe(&settings.database),
                e.message
            ))
        })?;
        cx.offer_shared_latches(Arc::new(PgLatches::new(cluster.clone())))?;
        cx.on_close(Arc::new(CloseCluster(cluster.clone())));
        info!(
            instance = %instance,
            database = %cluster.describe(),
            schema = cluster.schema().unwrap_or("(default)"),
            "serving as one instance of a cluster"
        );
        Ok(cluster)
    })
    .await
}

struct OpenProperties;

#[async_trait]
impl super::Open<dyn PropertyManager> for OpenProperties {
    async fn open(
        &self,
        cx: &OpenContext,
        _scope: &DavPath,
    ) -> Result<Arc<dyn PropertyManager>, OpenError> {
        let cluster = cluster(cx).await?;
        let store = cx.shared("postgres: properties", || {
            Ok(PgProperties::new(cluster.as_ref().clone()))
        })?;
        Ok(store)
    }
}

struct OpenLocks;

#[async_trait]
impl super::Open<dyn LockManager> for OpenLocks {
    async fn open(
        &self,
        cx: &OpenContext,
        _scope: &DavPath,
    ) -> Result<Arc<dyn LockManager>, OpenError> {
        let cluster = cluster(cx).await?;
        let store = cx.shared("postgres: locks", || {
            Ok(PgLocks::new(cluster.as_ref().clone()))
        })?;
        Ok(store)
    }
}

struct CloseCluster(Cluster);

#[async_trait]
impl Close for CloseCluster {
    fn what(&self) -> String {
        format!("the cluster database {}", self.0.describe())
    }

    async fn close(&self) -> SubsystemResult<()> {
        self.0.close();
        Ok(())
    }
}
