//! Kind `sled`: everything in the state database, `{ kind = "sled" }`.
//!
//! One database per server, opened by the first mount that needs it. Properties and locks are
//! one store each, shared by every mount that names them, so that a MOVE between two such
//! scopes moves properties in one atomic batch. Each sled namespace has trees of its own,
//! named after its scope.

use std::sync::Arc;

use async_trait::async_trait;

use davd_registry::{DavPath, LockManager, NamespaceManager, PropertyManager, SubsystemResult};

use super::{Close, ConfigProblem, Configured, Kind, KindConfig, OpenContext, OpenError, Opener};
use crate::sled_store::{
    SledLocks, SledNamespace, SledProperties, StateDb, StateOptions, open_state,
};

pub const KIND: Kind = Kind::new("sled")
    .namespace(namespace)
    .properties(properties)
    .locks(locks);

/// The state database, opened once (and checked: a damaged one stops startup); flushed when
/// the server stops.
fn database(cx: &OpenContext) -> Result<Arc<StateDb>, OpenError> {
    cx.shared("sled: the state database", || {
        let options = StateOptions {
            reserve: cx.reserve(),
            // Enough for sled to open on a full disk; never more than a quarter of the
            // reserve, so a small test disk is not filled by it.
            ballast: (cx.reserve() / 4).min(8 * 1024 * 1024),
        };
        let db = open_state(cx.state_dir(), &options).map_err(OpenError::new)?;
        cx.on_close(Arc::new(FlushOnClose(db.clone())));
        Ok(db)
    })
}

fn state_error(cx: &OpenContext, e: ::sled::Error) -> OpenError {
    OpenError::new(format!(
        "cannot open the state database in {}: {e}",
        cx.state_dir().join("db").display()
    ))
}

fn namespace(config: &KindConfig<'_>) -> Result<Opener<dyn NamespaceManager>, ConfigProblem> {
    config.no_keys()?;
    Ok(Arc::new(open_namespace))
}

fn open_namespace(
    cx: &OpenContext,
    scope: &DavPath,
) -> Result<Arc<dyn NamespaceManager>, OpenError> {
    let db = database(cx)?;
    let namespace = SledNamespace::open(&db, scope.as_str()).map_err(|e| state_error(cx, e))?;
    Ok(Arc::new(namespace))
}

fn properties(config: &KindConfig<'_>) -> Result<Opener<dyn PropertyManager>, ConfigProblem> {
    config.no_keys()?;
    Ok(Arc::new(open_properties))
}

fn open_properties(
    cx: &OpenContext,
    _scope: &DavPath,
) -> Result<Arc<dyn PropertyManager>, OpenError> {
    let db = database(cx)?;
    let store = cx.shared("sled: properties", || {
        SledProperties::open(&db).map_err(|e| state_error(cx, e))
    })?;
    Ok(store)
}

fn locks(config: &KindConfig<'_>) -> Result<Opener<dyn LockManager>, ConfigProblem> {
    config.no_keys()?;
    Ok(Arc::new(open_locks))
}

fn open_locks(cx: &OpenContext, _scope: &DavPath) -> Result<Arc<dyn LockManager>, OpenError> {
    let db = database(cx)?;
    let store = cx.shared("sled: locks", || {
        SledLocks::open(&db).map_err(|e| state_error(cx, e))
    })?;
    Ok(store)
}

/// The root's default property store.
pub(super) fn default_properties() -> Configured<dyn PropertyManager> {
    Configured::new(KIND.name, Arc::new(open_properties))
}

/// The root's default lock table.
pub(super) fn default_locks() -> Configured<dyn LockManager> {
    Configured::new(KIND.name, Arc::new(open_locks))
}

struct FlushOnClose(StateDb);

#[async_trait]
impl Close for FlushOnClose {
    fn what(&self) -> String {
        "the state database".to_owned()
    }

    async fn close(&self) -> SubsystemResult<()> {
        self.0.flush().await
    }
}
