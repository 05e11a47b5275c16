//! Per-path latches: how concurrent writers are kept from interleaving without a global lock.
//!
//! A request that changes state claims the paths it touches, each either alone (`shallow`) or
//! with everything below it (`deep`). Two claims conflict when they name the same path, or one
//! is deep and contains the other. All of a request's claims are granted at once or not at
//! all, so two requests can never deadlock holding half of what they need. Reads take no
//! latch: every write becomes visible atomically (a rename), so a reader sees the old state or
//! the new one.
//!
//! Waiters are served in arrival order: a request that conflicts with one already waiting
//! queues behind it, so a stream of small writes cannot starve a DELETE of their folder. A
//! release wakes only the waiters it lets through, not every waiter to look again: with
//! connections spread over several threads, each needless wake-up is a trip through the
//! kernel.
//!
//! A request may hand over the part of it that runs holding its latches (its turn,
//! [`LatchTable::run`]): when it has to wait, the turn then runs on the thread of the request
//! that lets the latches go, right after it (`chain`), instead of that request waking this
//! one's thread and the latch standing idle until the kernel schedules it. PUT does.
//!
//! This table is the process's own. When several processes serve one namespace (a cluster),
//! [`crate::Executive::latch`] also takes the same claims from the registry's shared latch
//! service once they are granted here, and the guard holds both: the local latch first, so
//! that of the requests of one process only one at a time waits for another process, and the
//! shared one in one fixed order, so that no two requests ever wait for each other.

mod chain;
#[cfg(test)]
mod chain_tests;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use davd_protocol::DavPath;
use davd_registry::{HeldLatches, LatchClaim, SubsystemError};

#[derive(Debug, Clone)]
pub struct Claim {
    pub path: DavPath,
    pub deep: bool,
}

impl Claim {
    /// The claim as the shared latch service takes it.
    pub fn shared(&self) -> LatchClaim {
        LatchClaim {
            path: self.path.clone(),
            deep: self.deep,
        }
    }

    pub fn shallow(path: &DavPath) -> Self {
        Claim {
            path: path.clone(),
            deep: false,
        }
    }

    pub fn deep(path: &DavPath) -> Self {
        Claim {
            path: path.clone(),
            deep: true,
        }
    }

    fn conflicts_with(&self, other: &Claim) -> bool {
        self.path == other.path
            || (self.deep && other.path.is_within(&self.path))
            || (other.deep && self.path.is_within(&other.path))
    }
}

fn any_conflict(a: &[Claim], b: &[Claim]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.conflicts_with(y)))
}

/// A request waiting for its claims, and what to do when they are its.
struct Waiter {
    id: u64,
    claims: Vec<Claim>,
    turn: Turn,
}

/// What granting a waiter means.
enum Turn {
    /// Wake the request, which goes on in its own task ([`LatchTable::acquire`]).
    Wake(oneshot::Sender<()>),
    /// Start the rest of the request, which it handed over when it began to wait
    /// ([`LatchTable::run`]), where the grant is made (`chain`).
    Run(chain::Granted),
}

#[derive(Default)]
struct Table {
    next_id: u64,
    held: Vec<(u64, Claim)>,
    waiting: VecDeque<Waiter>,
}

impl Table {
    /// Whether `claims` must wait: they conflict with a held latch or an earlier waiter.
    fn blocks(&self, claims: &[Claim]) -> bool {
        self.conflicts_with_held(claims)
            || self.waiting.iter().any(|w| any_conflict(&w.claims, claims))
    }

    fn conflicts_with_held(&self, claims: &[Claim]) -> bool {
        claims
            .iter()
            .any(|c| self.held.iter().any(|(_, h)| c.conflicts_with(h)))
    }

    fn hold(&mut self, id: u64, claims: Vec<Claim>) {
        self.held.extend(claims.into_iter().map(|c| (id, c)));
    }

    /// Grants, in arrival order, every waiter that conflicts neither with a held latch nor
    /// with an earlier waiter that must go on waiting. Returns the handed-over turns to
    /// start, which the caller does once it has let the table go.
    #[must_use]
    fn grant_waiting(&mut self) -> Vec<chain::Granted> {
        let mut turns = Vec::new();
        let mut still_waiting = VecDeque::new();
        while let Some(waiter) = self.waiting.pop_front() {
            let blocked = self.conflicts_with_held(&waiter.claims)
                || still_waiting
                    .iter()
                    .any(|w: &Waiter| any_conflict(&w.claims, &waiter.claims));
            if blocked {
                still_waiting.push_back(waiter);
            } else {
                self.hold(waiter.id, waiter.claims);
                match waiter.turn {
                    // The receiver lives as long as the waiter's guard, which removes the
                    // entry before it goes; a failed send cannot happen and would not matter.
                    Turn::Wake(grant) => {
                        let _ = grant.send(());
                    }
                    Turn::Run(turn) => turns.push(turn),
                }
            }
        }
        self.waiting = still_waiting;
        turns
    }
}

/// The table of latches held by requests in flight.
#[derive(Default, Clone)]
pub struct LatchTable {
    table: Arc<Mutex<Table>>,
}

/// Held latches; dropping it releases them. It exists from the moment a request starts
/// waiting, so a request abandoned while it waits (its client went away) withdraws its place
/// in the queue, or releases what it was granted but never saw.
pub struct LatchGuard {
    id: u64,
    table: Arc<Mutex<Table>>,
    /// The same claims held across the cluster, if this process is one of several.
    shared: Option<Box<dyn HeldLatches>>,
}

impl LatchGuard {
    /// Holds `shared` with the local latches, released with them (first).
    pub fn with_shared(mut self, shared: Box<dyn HeldLatches>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Releases the latches, first making durable what the request's statements wrote in the
    /// cluster latches' transaction while it was carrying it (`davd_registry::carrying`).
    /// Awaited before the answer: a change is acknowledged only once it is committed.
    ///
    /// The local latches are released first: everything this process did under them is done,
    /// and the next request for the path then waits for the commit in the database (behind
    /// the same claims there) instead of here, so the commit's round trip overlaps its
    /// start (measured: PUTs to one path in a cluster serialise on this latch).
    pub async fn commit(mut self) -> Result<(), SubsystemError> {
        let shared = self.shared.take();
        drop(self);
        match shared {
            Some(shared) => shared.commit().await,
            None => Ok(()),
        }
    }

    /// Like [`LatchGuard::commit`] for the cluster's latches only, keeping this process's:
    /// a journaled queue commits the latches' transaction at its commit point, so that what
    /// its namespace steps wrote there counts exactly when its batches do, and keeps its
    /// local latches while it cleans up.
    pub async fn commit_shared(&mut self) -> Result<(), SubsystemError> {
        match self.shared.take() {
            Some(shared) => shared.commit().await,
            None => Ok(()),
        }
    }
}

/// Latches held in this process whose cluster-wide part may not be granted yet
/// ([`crate::Executive::latch_pending`]): nothing but reads may happen before
/// [`PendingLatch::granted`].
pub struct PendingLatch(LatchGuard);

impl PendingLatch {
    pub fn new(guard: LatchGuard) -> Self {
        PendingLatch(guard)
    }

    /// The latches, once the cluster's are granted too.
    pub async fn granted(self) -> Result<LatchGuard, SubsystemError> {
        if let Some(shared) = &self.0.shared {
            shared.granted().await?;
        }
        Ok(self.0)
    }
}

impl Drop for LatchGuard {
    fn drop(&mut self) {
        // The cluster's latches go first: a local waiter granted below then finds them free,
        // or held only by another process.
        drop(self.shared.take());
        let granted = {
            let mut table = lock(&self.table);
            table.held.retain(|(id, _)| *id != self.id);
            table.waiting.retain(|w| w.id != self.id);
            table.grant_waiting()
        };
        chain::start(granted);
    }
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    // The table is consistent between statements, so a panic elsewhere cannot leave it half
    // changed: a poisoned lock is still good.
    table.lock().unwrap_or_else(|p| p.into_inner())
}

impl LatchTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// A guard under a new id, holding nothing yet: whatever is granted or queued under its
    /// id is released or withdrawn when it is dropped.
    fn new_guard(&self, table: &mut Table) -> LatchGuard {
        table.next_id += 1;
        LatchGuard {
            id: table.next_id,
            table: self.table.clone(),
            shared: None,
        }
    }

    /// Waits until `claims` conflict neither with a held latch nor with an earlier waiter,
    /// then holds them all.
    pub async fn acquire(&self, claims: Vec<Claim>) -> LatchGuard {
        let granted = {
            let mut table = lock(&self.table);
            let guard = self.new_guard(&mut table);
            let id = guard.id;
            if !table.blocks(&claims) {
                table.hold(id, claims);
                return guard;
            }
            let (grant, granted) = oneshot::channel();
            let turn = Turn::Wake(grant);
            table.waiting.push_back(Waiter { id, claims, turn });
            (guard, granted)
        };
        let (guard, granted) = granted;
        let waiting_since = std::time::Instant::now();
        let _ = granted.await;
        crate::metrics::latch_waited(waiting_since.elapsed());
        guard
    }

    /// Runs `turn` holding `claims`, as [`LatchTable::acquire`] and then the turn would; but
    /// when the claims are not free at once, the turn is handed over to the request that
    /// lets them go and runs on its thread (`chain`), while the caller waits for the result.
    /// Turns queued on one path then follow each other on one thread. `None` when the turn
    /// was dropped before it ended: it panicked, or its runtime shut down under it.
    pub async fn run<F, Fut>(&self, claims: Vec<Claim>, turn: F) -> Option<Fut::Output>
    where
        F: FnOnce(LatchGuard) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let Ok(home) = Handle::try_current() else {
            // Polled off a tokio runtime: nowhere to start a turn but here.
            return Some(Box::pin(turn(self.acquire(claims).await)).await);
        };
        let handed_over = {
            let mut table = lock(&self.table);
            let guard = self.new_guard(&mut table);
            let id = guard.id;
            if table.blocks(&claims) {
                let (done, result) = oneshot::channel();
                let waiting_since = std::time::Instant::now();
                let job = chain::job(
                    async move {
                        crate::metrics::latch_waited(waiting_since.elapsed());
                        turn(guard).await
                    },
                    done,
                );
                let turn = Turn::Run(chain::Granted { job, home });
                table.waiting.push_back(Waiter { id, claims, turn });
                Err(result)
            } else {
                table.hold(id, claims);
                Ok((turn, guard))
            }
        };
        match handed_over {
            // Boxed: the turn may be large, and inline it would make every caller's future
            // (and each copy of it) that much larger.
            Ok((turn, guard)) => Some(Box::pin(turn(guard)).await),
            Err(result) => result.await.ok(),
        }
    }

    /// Number of latches held (for tests and diagnostics).
    pub fn held(&self) -> usize {
        lock(&self.table).held.len()
    }

    /// Number of requests waiting (for tests and diagnostics).
    pub fn waiting(&self) -> usize {
        lock(&self.table).waiting.len()
    }
}

/// Latches by name, for a decision no path covers: how many locks one user holds over every
/// path (`policy::locks::check_lock_limit`). A fixed set of mutexes picked by the name's hash:
/// two names that share one only wait for each other needlessly, and the table never grows
/// with the number of users.
#[derive(Clone)]
pub struct NamedLatches {
    stripes: Arc<[Arc<tokio::sync::Mutex<()>>]>,
}

const NAMED_STRIPES: usize = 64;

impl Default for NamedLatches {
    fn default() -> Self {
        NamedLatches {
            stripes: (0..NAMED_STRIPES)
                .map(|_| Arc::new(tokio::sync::Mutex::new(())))
                .collect(),
        }
    }
}

/// A named latch held; dropping it releases it (the cluster's first, as for [`LatchGuard`]).
pub struct NamedGuard {
    shared: Option<Box<dyn HeldLatches>>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

impl NamedGuard {
    /// Holds `shared` with the local latch, released before it.
    pub fn with_shared(mut self, shared: Box<dyn HeldLatches>) -> Self {
        self.shared = Some(shared);
        self
    }
}

impl Drop for NamedGuard {
    fn drop(&mut self) {
        drop(self.shared.take());
    }
}

impl NamedLatches {
    /// Waits until no other request of this process holds `name`, then holds it.
    pub async fn acquire(&self, name: &str) -> NamedGuard {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut hasher);
        let stripe = (hasher.finish() % NAMED_STRIPES as u64) as usize;
        NamedGuard {
            shared: None,
            _local: self.stripes[stripe].clone().lock_owned().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    #[test]
    fn conflict_rules() {
        assert!(Claim::shallow(&p("/a")).conflicts_with(&Claim::shallow(&p("/a"))));
        assert!(!Claim::shallow(&p("/a")).conflicts_with(&Claim::shallow(&p("/a/b"))));
        assert!(Claim::deep(&p("/a")).conflicts_with(&Claim::shallow(&p("/a/b"))));
        assert!(Claim::shallow(&p("/a/b")).conflicts_with(&Claim::deep(&p("/a"))));
        assert!(!Claim::deep(&p("/a")).conflicts_with(&Claim::deep(&p("/ab"))));
    }

    #[tokio::test]
    async fn second_writer_waits_for_the_first() {
        let table = LatchTable::new();
        let first = table.acquire(vec![Claim::deep(&p("/a"))]).await;
        let t2 = table.clone();
        let waiter = tokio::spawn(async move {
            let _g = t2.acquire(vec![Claim::shallow(&p("/a/b"))]).await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        // An unrelated path is not held up.
        let other = table.acquire(vec![Claim::shallow(&p("/c"))]).await;
        drop(other);
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(table.held(), 0);
    }

    /// Polls `future` once; true if it finished.
    async fn ready_now<F: std::future::Future + Unpin>(future: &mut F) -> bool {
        tokio::select! {
            biased;
            _ = future => true,
            () = std::future::ready(()) => false,
        }
    }

    /// Asks for `claim`, checks that it has to wait, and returns the waiting request.
    async fn must_wait(
        table: &LatchTable,
        claim: Claim,
    ) -> std::pin::Pin<Box<impl std::future::Future<Output = LatchGuard> + '_>> {
        let mut request = Box::pin(table.acquire(vec![claim]));
        assert!(!ready_now(&mut request).await, "granted at once");
        request
    }

    #[tokio::test]
    async fn waiters_are_granted_in_arrival_order() {
        let table = LatchTable::new();
        let first = table.acquire(vec![Claim::shallow(&p("/a"))]).await;
        let second = must_wait(&table, Claim::shallow(&p("/a"))).await;
        let mut third = must_wait(&table, Claim::shallow(&p("/a"))).await;
        assert_eq!(table.waiting(), 2);
        drop(first);
        // Only the first in line is let through; the other is not woken to look again.
        assert_eq!(table.waiting(), 1);
        assert!(!ready_now(&mut third).await);
        let second = second.await;
        drop(second);
        let third = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .unwrap();
        assert_eq!(table.held(), 1);
        drop(third);
        assert_eq!((table.held(), table.waiting()), (0, 0));
    }

    #[tokio::test]
    async fn a_newcomer_queues_behind_a_conflicting_waiter() {
        let table = LatchTable::new();
        let writer = table.acquire(vec![Claim::shallow(&p("/a/b"))]).await;
        // A DELETE of /a waits for the write below it...
        let delete = must_wait(&table, Claim::deep(&p("/a"))).await;
        // ...and a later write elsewhere in /a, free as far as held latches go, waits behind
        // it instead of overtaking it.
        let mut later = must_wait(&table, Claim::shallow(&p("/a/c"))).await;
        // Unrelated paths still go straight through.
        drop(table.acquire(vec![Claim::shallow(&p("/z"))]).await);
        drop(writer);
        let delete = delete.await;
        assert!(!ready_now(&mut later).await);
        drop(delete);
        drop(later.await);
        assert_eq!((table.held(), table.waiting()), (0, 0));
    }

    #[tokio::test]
    async fn an_abandoned_waiter_leaves_the_queue() {
        let table = LatchTable::new();
        let first = table.acquire(vec![Claim::shallow(&p("/a"))]).await;
        let abandoned = must_wait(&table, Claim::shallow(&p("/a"))).await;
        drop(abandoned);
        assert_eq!(table.waiting(), 0);
        drop(first);
        assert_eq!(table.held(), 0);
        drop(table.acquire(vec![Claim::shallow(&p("/a"))]).await);
    }

    #[tokio::test]
    async fn a_grant_never_collected_is_released() {
        let table = LatchTable::new();
        let first = table.acquire(vec![Claim::shallow(&p("/a"))]).await;
        let granted_then_dropped = must_wait(&table, Claim::shallow(&p("/a"))).await;
        let next = must_wait(&table, Claim::shallow(&p("/a"))).await;
        drop(first);
        assert_eq!(
            table.held(),
            1,
            "granted to the waiter, which has not run yet"
        );
        drop(granted_then_dropped);
        let next = tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .unwrap();
        assert_eq!((table.held(), table.waiting()), (1, 0));
        drop(next);
        assert_eq!(table.held(), 0);
    }

    #[tokio::test]
    async fn a_named_latch_is_held_by_one_request_at_a_time() {
        let named = NamedLatches::default();
        let first = named.acquire("alice").await;
        let mut second = Box::pin(named.acquire("alice"));
        assert!(!ready_now(&mut second).await, "granted while held");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("released, so granted");
    }
}
