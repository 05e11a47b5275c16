//! The schema, created and brought up to date at startup by numbered migrations.
//!
//! Every instance runs [`migrate`] when it starts, perhaps at the same moment as the others:
//! the whole of it is one transaction that first takes a transaction-scoped advisory lock, so
//! one instance migrates while the others wait and then find nothing left to do. DDL is
//! transactional in PostgreSQL: a migration that fails leaves the schema as it was.
//!
//! Migrations are never edited once released; a change of the schema is a new one at the end
//! of [`MIGRATIONS`]. A database migrated by a newer davd (a higher version than this one
//! knows) is refused, rather than used with a schema this davd does not understand.

use tracing::info;

use davd_registry::{SubsystemError, SubsystemResult};

use super::client::{Cluster, db_error};
use super::latches::advisory_key;

/// One step of the schema: its number (from 1, without gaps), what it does, its SQL.
pub struct Migration {
    pub version: i32,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. Paths and names are `COLLATE "C"`: byte order, which the range
/// scans of subtrees rely on (`paths.rs`), whatever the database's default collation.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "dead properties, locks and batch markers",
        sql: r#"
CREATE TABLE davd_props (
    dir   text COLLATE "C" NOT NULL,
    name  text COLLATE "C" NOT NULL,
    ns    text COLLATE "C" NOT NULL,
    local text COLLATE "C" NOT NULL,
    xml   text NOT NULL,
    PRIMARY KEY (dir, name, ns, local)
);
CREATE TABLE davd_locks (
    token      text COLLATE "C" PRIMARY KEY,
    root       text COLLATE "C" NOT NULL,
    exclusive  boolean NOT NULL,
    deep       boolean NOT NULL,
    owner_xml  text,
    principal  text,
    timeout_s  bigint,
    expires_at timestamptz
);
CREATE INDEX davd_locks_root ON davd_locks (root);
CREATE INDEX davd_locks_principal ON davd_locks (principal);
CREATE TABLE davd_markers (
    store    text COLLATE "C" NOT NULL,
    marker   text COLLATE "C" NOT NULL,
    instance text COLLATE "C" NOT NULL,
    made_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store, marker)
);
CREATE INDEX davd_markers_instance ON davd_markers (store, instance);
"#,
    },
    Migration {
        version: 2,
        description: "the s3 namespace kind's tree, detached trees and unreferenced blobs",
        // `store` names one s3 namespace (bucket and prefix), so several share the tables.
        // `blob` is NULL for a collection. Detached rows keep their old place and belong to
        // the instance that detached them (its startup discards only its own). A blob in
        // davd_s3_unreferenced is staged and not yet published, or no longer referenced:
        // the collector removes it from S3 after a grace period (s3/mod.rs).
        sql: r#"
CREATE TABLE davd_s3_tree (
    store    text COLLATE "C" NOT NULL,
    dir      text COLLATE "C" NOT NULL,
    name     text COLLATE "C" NOT NULL,
    blob     text COLLATE "C",
    len      bigint NOT NULL,
    etag     text NOT NULL,
    created  timestamptz NOT NULL,
    modified timestamptz NOT NULL,
    PRIMARY KEY (store, dir, name)
);
CREATE INDEX davd_s3_tree_blob ON davd_s3_tree (store, blob) WHERE blob IS NOT NULL;
CREATE TABLE davd_s3_detached (
    store    text COLLATE "C" NOT NULL,
    tag      text COLLATE "C" NOT NULL,
    instance text COLLATE "C" NOT NULL,
    dir      text COLLATE "C" NOT NULL,
    name     text COLLATE "C" NOT NULL,
    blob     text COLLATE "C",
    len      bigint NOT NULL,
    etag     text NOT NULL,
    created  timestamptz NOT NULL,
    modified timestamptz NOT NULL,
    PRIMARY KEY (store, tag, dir, name)
);
CREATE INDEX davd_s3_detached_blob ON davd_s3_detached (store, blob) WHERE blob IS NOT NULL;
CREATE INDEX davd_s3_detached_instance ON davd_s3_detached (store, instance);
CREATE TABLE davd_s3_unreferenced (
    store text COLLATE "C" NOT NULL,
    blob  text COLLATE "C" NOT NULL,
    since timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store, blob)
);
"#,
    },
    Migration {
        version: 3,
        description: "the change log of sync-collection reports",
        // `seq` is not a sequence: each append takes max(seq) + 1 and keeps it only if no
        // other append holds it (`changes.rs`), so that an entry becomes visible only after
        // every entry before it. The one row of davd_sync (id 1) is made on first use, with
        // an epoch davd generates; `pruned_to` is the last seq pruning may have removed.
        sql: r#"
CREATE TABLE davd_changes (
    seq     bigint PRIMARY KEY,
    path    text COLLATE "C" NOT NULL,
    kind    text NOT NULL CHECK (kind IN ('r', 't')),
    made_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE davd_sync (
    id        integer PRIMARY KEY,
    epoch     text NOT NULL,
    pruned_to bigint NOT NULL DEFAULT 0
);
"#,
    },
];

/// The version this davd brings the schema to.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Creates or migrates the schema, as one transaction serialised between instances.
pub async fn migrate(cluster: &Cluster) -> SubsystemResult<()> {
    let key = advisory_key(cluster.schema(), "migrations", "");
    let mut session = cluster.session().await?;
    let client = session.client();
    let encoding = client
        .query_one("SHOW server_encoding", &[])
        .await
        .map_err(|e| db_error(&e))?
        .try_get::<_, String>(0)
        .map_err(|e| db_error(&e))?;
    if encoding != "UTF8" {
        return Err(SubsystemError::internal(format!(
            "the cluster database {} has the encoding {encoding}; davd needs UTF8 \
             (CREATE DATABASE ... ENCODING 'UTF8')",
            cluster.describe()
        )));
    }
    let tx = client.transaction().await.map_err(|e| db_error(&e))?;
    // Migrations of a big table may take a while: not the per-statement limit of requests.
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = 0; SET LOCAL client_min_messages = warning; \
         SELECT pg_advisory_xact_lock({key})"
    ))
    .await
    .map_err(|e| db_error(&e))?;
    if let Some(schema) = cluster.schema() {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .map_err(|e| db_error(&e))?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS davd_schema (
            version     integer PRIMARY KEY,
            description text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(|e| db_error(&e))?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM davd_schema", &[])
        .await
        .map_err(|e| db_error(&e))?
        .try_get(0)
        .map_err(|e| db_error(&e))?;
    if current > latest() {
        return Err(SubsystemError::internal(format!(
            "the cluster database {} has schema version {current}, made by a newer davd; \
             this one knows up to version {}. Upgrade this instance",
            cluster.describe(),
            latest()
        )));
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(migration.sql)
            .await
            .map_err(|e| db_error(&e))?;
        tx.execute(
            "INSERT INTO davd_schema (version, description) VALUES ($1, $2)",
            &[&migration.version, &migration.description],
        )
        .await
        .map_err(|e| db_error(&e))?;
        info!(
            version = migration.version,
            description = migration.description,
            "migrated the cluster database"
        );
    }
    tx.commit().await.map_err(|e| db_error(&e))?;
    session.done();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_from_one_without_gaps() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1);
        }
        assert_eq!(latest() as usize, MIGRATIONS.len());
    }
}
