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

use std::any::Any;
use std::future::Future;
use std::sync::{Arc, Mutex};

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
#[async_trait]
pub trait HeldLatches: Send + Sync {
    /// Waits until the latches are granted. [`SharedLatches::acquire`] returns only once they
    /// are, except to a request that is [`carrying`]: there the request for them may go out
    /// ahead of the request's first statements (which the database runs after it), and the
    /// caller must await this before it changes anything outside the transaction.
    async fn granted(&self) -> SubsystemResult<()> {
        Ok(())
    }

    /// Releases the latches after making durable what statements of the request wrote in
    /// their transaction while [`carrying`] (nothing else does: dropping discards it). The
    /// caller awaits it before it answers; an error means those writes are not there.
    async fn commit(self: Box<Self>) -> SubsystemResult<()> {
        Ok(())
    }
}

/// A transaction a [`SharedLatches`] service holds latches in, offered to the stores that
/// share its database (see [`carrying`]). What it is, only that service and those stores know.
pub type CarriedTransaction = Arc<dyn Any + Send + Sync>;

/// The place a request keeps the transaction its latches were taken in, while [`carrying`].
#[derive(Clone, Default)]
struct Carrier(Arc<Mutex<Option<CarriedTransaction>>>);

tokio::task_local! {
    static CARRIER: Carrier;
}

/// Runs `request` so that, once it holds shared latches, the statements its stores send to
/// the latch service's database ride the latches' own transaction instead of connections of
/// their own: one connection and fewer round trips for a short write (a PUT: the lock check,
/// the document record read and written, then one commit). Their writes then count only
/// once the caller awaits [`HeldLatches::commit`]; a request whose writes must stand on
/// their own (a journaled batch with its markers) calls [`stop_carrying`] first.
///
/// A plain function, not an `async fn`: an `async fn` keeps its argument and the future it
/// awaits side by side, so every write method's future would be twice the size of its body,
/// and every request copies its method's whole future to the heap.
pub fn carrying<F: Future>(request: F) -> impl Future<Output = F::Output> {
    CARRIER.scope(Carrier::default(), request)
}

/// Called by a [`SharedLatches`] service that has just taken latches: if the request is
/// [`carrying`], its stores' statements use `transaction` from now on. Whether it was taken.
pub fn offer_transaction(transaction: CarriedTransaction) -> bool {
    CARRIER
        .try_with(|carrier| {
            let mut slot = carrier.0.lock().unwrap_or_else(|p| p.into_inner());
            match *slot {
                Some(_) => false,
                None => {
                    *slot = Some(transaction);
                    true
                }
            }
        })
        .unwrap_or(false)
}

/// The transaction the request's statements ride, if it is [`carrying`] one.
pub fn carried_transaction() -> Option<CarriedTransaction> {
    CARRIER
        .try_with(|carrier| carrier.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
        .ok()
        .flatten()
}

/// From now on the request's statements use connections of their own again.
pub fn stop_carrying() {
    let _ = CARRIER.try_with(|carrier| {
        carrier.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    });
}

/// Per-path write latches shared by every process serving one namespace.
#[async_trait]
pub trait SharedLatches: Send + Sync {
    /// A short name for logs: `postgres`...
    fn kind(&self) -> &'static str;

    /// Waits until no other process holds a conflicting claim, then holds all of `claims` at
    /// once until the returned value is dropped. The caller already holds the same claims in
    /// its own process, so what it waits for is always another process's request. A request
    /// that is [`carrying`] may get the value before the claims are granted: see
    /// [`HeldLatches::granted`].
    async fn acquire(&self, claims: &[LatchClaim]) -> SubsystemResult<Box<dyn HeldLatches>>;

    /// Waits until no other process holds the latch named `name`, then holds it until the
    /// returned value is dropped: for a decision that no path covers, such as how many locks
    /// one user holds over every path (`max_locks_per_user`). Callers take it only while
    /// they hold their path latches and take no path latch while they hold it, so it cannot
    /// close a cycle of waits with them.
    async fn acquire_named(&self, name: &str) -> SubsystemResult<Box<dyn HeldLatches>>;
}
