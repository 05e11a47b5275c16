//! The cluster's database: dead properties, locks, document ids and write latches shared by
//! every davd instance serving one namespace, in PostgreSQL (docs/scaling.md,
//! docs/adr/0018-postgres-client.md).
//!
//! | piece | file | what it keeps |
//! |-------|------|---------------|
//! | [`Cluster`] | `client.rs` | the connection pools, timeouts, what a failure means for a client |
//! | migrations | `migrations.rs` | the schema, numbered steps, safe when instances start together |
//! | [`PgProperties`] | `properties.rs` | dead properties (and document records) |
//! | [`PgLocks`] | `locks.rs` | locks, expired on the database's clock |
//! | [`PgLatches`] | `latches.rs` | per-path write latches across instances (advisory locks) |
//! | units | `unit.rs` | statements that stand or fall together, in the latches' transaction if carried |
//! | markers | `markers.rs` | the crash-safety markers of batches, per instance |
//! | [`PgChangeLog`] | `changes.rs` | the change log of sync-collection reports, one per database |
//!
//! The SQL stays portable to PostgreSQL-compatible distributed databases: transaction-scoped
//! advisory locks only, no `LISTEN`/`NOTIFY`, paths `COLLATE "C"` read by range, never `LIKE`.

mod changes;
mod client;
mod latches;
mod locks;
mod markers;
mod migrations;
pub(crate) mod paths;
mod pools;
mod properties;
mod settings;
mod unit;

pub use changes::PgChangeLog;
pub use client::{CONNECT_TIMEOUT, Cluster, OPERATION_TIMEOUT, STATEMENT_TIMEOUT};
// For the s3 namespace kind, whose tree lives in the same database.
pub(crate) use client::{TREE_TIMEOUT, db_error};
pub use latches::{LATCH_WAIT, PgLatches, advisory_key, node_key};
pub use locks::PgLocks;
pub use migrations::{MIGRATIONS, latest, migrate};
pub use properties::PgProperties;
pub use settings::{
    ClusterSettings, ClusterTable, DATABASE_VARIABLE, DEFAULT_CONNECTIONS,
    DEFAULT_LATCH_CONNECTIONS, describe,
};
pub(crate) use unit::{Ride, Unit};

use davd_registry::SubsystemResult;

impl Cluster {
    /// Opens the pools for `instance` and brings the schema up to date: what a server does
    /// once at startup.
    pub async fn open(settings: &ClusterSettings, instance: &str) -> SubsystemResult<Cluster> {
        let cluster = Cluster::new(settings, instance)?;
        migrate(&cluster).await?;
        Ok(cluster)
    }
}

#[cfg(test)]
mod tests;
