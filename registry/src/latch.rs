//! The shared latch contract: per-path write latches that hold across every process serving
//! one namespace (a cluster of davd instances, docs/scaling.md).
//!
//! The executive keeps its own latch table for the requests of this process
//! (`executive/src/latch.rs`). When several processes serve the same storage, a request that
//! has its local latches also asks the registry's [`SharedLatches`], if there is one, for the
//! same claims, all at once; the service holds them until the returned [`HeldLatches`] is
//! dropped. Because every process asks for its claims after its local latches and the
//! service takes each request's claims in one fixed order, two requests never deadlock.
//!
//! A service that cannot take the latches because what it relies on is down (its database)
//! answers 503 ([`SubsystemError::unavailable`]), which the client sees with `Retry-After`.
//!
//! [`SubsystemError::unavailable`]: crate::SubsystemError::unavailable

use async_trait::async_trait;

use davd_protocol::DavPath;

use crate::error::SubsystemResult;

/// One path a request latches: alone, or with everything below it (`deep`). Two claims
/// conflict when they name the same path, or when one is deep and contains the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatchClaim {
    pub path: DavPath,
    pub deep: bool,
}

/// Latches held by a [`SharedLatches`] service for one request; dropping it releases them.
/// If the process dies, the service must release them by itself, at once (a database does
/// when the connection that holds them closes).
pub trait HeldLatches: Send + Sync {}

/// Per-path write latches shared by every process serving one namespace.
#[async_trait]
pub trait SharedLatches: Send + Sync {
    /// A short name for logs: `postgres`...
    fn kind(&self) -> &'static str;

    /// Waits until no other process holds a conflicting claim, then holds all of `claims` at
    /// once until the returned value is dropped. The caller already holds the same claims in
    /// its own process, so what it waits for is always another process's request.
    async fn acquire(&self, claims: &[LatchClaim]) -> SubsystemResult<Box<dyn HeldLatches>>;

    /// Waits until no other process holds the latch named `name`, then holds it until the
    /// returned value is dropped: for a decision that no path covers, such as how many locks
    /// one user holds over every path (`max_locks_per_user`). Callers take it only while
    /// they hold their path latches and take no path latch while they hold it, so it cannot
    /// close a cycle of waits with them.
    async fn acquire_named(&self, name: &str) -> SubsystemResult<Box<dyn HeldLatches>>;
}
