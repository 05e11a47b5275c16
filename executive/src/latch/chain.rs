//! Handed-over turns: the part of a request that runs holding its latches, started by the
//! request that lets them go rather than by the waiting request's own thread.
//!
//! Waking a waiting request on another connection thread leaves the latch idle until the
//! kernel schedules that thread: about 80 µs per grant with the connection threads busy,
//! longer than a PUT's whole critical section (docs/performance.md, "A PUT's rename without
//! the disk in it"). A request that hands its turn over instead ([`super::LatchTable::run`])
//! has it run on the thread that grants it, in a [`Chain`]: a turn that lets latches go while
//! the chain runs it grants the next turn into the same chain, which runs it right after,
//! without a thread switch or a trip through the runtime's queue. The waiting request only
//! receives the result.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A handed-over turn, with the guard of its latches inside: dropping it unrun releases them.
pub(super) type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A turn granted and not yet started, with the runtime of the request it belongs to (where
/// it starts when it was granted off any runtime).
pub(super) struct Granted {
    pub(super) job: Job,
    pub(super) home: Handle,
}

/// Wraps `turn` as a job whose result goes to `done`. A panic in the turn ends the turn (its
/// request sees its result dropped and answers 500) but not the chain it runs in.
pub(super) fn job<Fut>(turn: Fut, done: oneshot::Sender<Fut::Output>) -> Job
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    Box::pin(AssertUnwindSafe(turn).catch_unwind().map(move |result| {
        if let Ok(output) = result {
            // The request may have gone (its task dropped at shutdown): nothing to tell.
            let _ = done.send(output);
        }
    }))
}

/// Starts granted turns: into the chain running on this thread if a turn of that chain
/// granted them, else each in a chain of its own on this thread's runtime.
pub(super) fn start(granted: Vec<Granted>) {
    if granted.is_empty() {
        return;
    }
    let unclaimed = GRANTED_IN_CHAIN.with(|slot| match slot.borrow_mut().as_mut() {
        Some(chain) => {
            chain.extend(granted.into_iter().map(|g| g.job));
            None
        }
        None => Some(granted),
    });
    for Granted { job, home } in unclaimed.into_iter().flatten() {
        spawn(VecDeque::from([job]), Some(&home));
    }
}

/// Starts `turns` as a chain of their own on this thread's runtime, or off any runtime on
/// `home`. With neither they are dropped, which releases their latches and tells their
/// requests that their turn was lost.
fn spawn(turns: VecDeque<Job>, home: Option<&Handle>) {
    let chain = Chain::of(turns);
    match (Handle::try_current(), home) {
        (Ok(here), _) => drop(here.spawn(chain)),
        (Err(_), Some(home)) => drop(home.spawn(chain)),
        (Err(_), None) => drop(chain),
    }
}

thread_local! {
    /// The turns granted while a [`Chain`] on this thread polls one of its turns.
    static GRANTED_IN_CHAIN: RefCell<Option<Vec<Job>>> = const { RefCell::new(None) };
}

/// How many turns a chain runs in one go before the other tasks of its thread (the
/// connections it serves) get their turn: 16 PUTs are under a millisecond.
const TURNS_PER_POLL: usize = 16;

/// Turns run one after another in one task.
struct Chain {
    turns: VecDeque<Job>,
    /// Set when the chain has let the thread's other tasks go first, until they have.
    yielded: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Chain {
    fn of(turns: VecDeque<Job>) -> Self {
        Chain {
            turns,
            yielded: None,
        }
    }
}

impl Future for Chain {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(yielded) = self.yielded.as_mut() {
            if yielded.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.yielded = None;
        }
        let mut ran = 0;
        while let Some(turn) = self.turns.front_mut() {
            let collecting = Collecting::begin();
            let polled = turn.as_mut().poll(cx);
            let granted = collecting.end();
            self.turns.extend(granted);
            if polled.is_pending() {
                // A turn that waits (for the blocking pool, for the network) must not hold up
                // the turns granted behind it: they go on in a chain of their own.
                if self.turns.len() > 1 {
                    spawn(self.turns.split_off(1), None);
                }
                return Poll::Pending;
            }
            self.turns.pop_front();
            ran += 1;
            if ran == TURNS_PER_POLL && !self.turns.is_empty() {
                // tokio's yield, not a wake of our own: it also lets the runtime look for I/O
                // first, which it otherwise does only every 61 tasks polled. Under a steady
                // stream of PUTs a chain never runs dry, and a wake of its own kept the
                // thread's connections from being read for tens of milliseconds.
                let mut yielded = Box::pin(tokio::task::yield_now());
                if yielded.as_mut().poll(cx).is_pending() {
                    self.yielded = Some(yielded);
                    return Poll::Pending;
                }
                ran = 0;
            }
        }
        Poll::Ready(())
    }
}

/// Collects the turns granted on this thread while it lives. Whatever way it ends, what was
/// collected before it began is put back, so that no later grant lands in a chain that no
/// longer polls.
struct Collecting {
    outer: Option<Option<Vec<Job>>>,
}

impl Collecting {
    fn begin() -> Self {
        let outer = GRANTED_IN_CHAIN.with(|slot| slot.replace(Some(Vec::new())));
        Collecting { outer: Some(outer) }
    }

    fn end(mut self) -> Vec<Job> {
        let outer = self.outer.take().flatten();
        GRANTED_IN_CHAIN
            .with(|slot| slot.replace(outer))
            .unwrap_or_default()
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        let Some(outer) = self.outer.take() else {
            return;
        };
        // Unwinding out of a poll: the turns granted in it start chains of their own.
        let granted = GRANTED_IN_CHAIN.with(|slot| slot.replace(outer));
        for job in granted.into_iter().flatten() {
            spawn(VecDeque::from([job]), None);
        }
    }
}
