//! Running synchronous store work on tokio's blocking pool.

use davd_registry::{SubsystemError, SubsystemResult};

/// Runs `f` on the blocking pool. Work that touches one file or record per member of a tree
/// goes there: on a connection thread (ADR 0016) it would hold up the thread's other
/// connections for as long as it runs.
pub(crate) async fn blocking<T, F>(f: F) -> SubsystemResult<T>
where
    F: FnOnce() -> SubsystemResult<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SubsystemError::internal(format!("blocking task failed: {e}")))?
}
