//! A future polled only when it asked to be.
//!
//! A connection is driven together with the watcher that says when it must close
//! ([`crate::connections::drive`]). Polled side by side, the watcher was polled every time the
//! connection was, twice or more per request, for a change that comes once per connection:
//! its `Notify` and idle timer cost a GET about 0.2 µs of user time, a fifth of what davd adds
//! to a bare hyper server (docs/performance.md). [`WhenWoken`] gives the inner future a waker
//! of its own and polls it only after that waker fired, as `FuturesUnordered` does for its
//! members.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// `inner`, polled on its first poll and then only after it woke its waker.
pub struct WhenWoken<F> {
    inner: Pin<Box<F>>,
    signal: Arc<Signal>,
    waker: Waker,
}

/// The inner future's waker: notes that it fired and wakes whoever polls the [`WhenWoken`].
struct Signal {
    woken: AtomicBool,
    outer: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.outer.wake();
    }
}

impl<F: Future> WhenWoken<F> {
    pub fn new(inner: F) -> Self {
        let signal = Arc::new(Signal {
            woken: AtomicBool::new(true),
            outer: AtomicWaker::new(),
        });
        WhenWoken {
            inner: Box::pin(inner),
            waker: Waker::from(signal.clone()),
            signal,
        }
    }
}

impl<F: Future> Future for WhenWoken<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        // Registered before the flag is read: a wake-up between the two still reaches the
        // caller's task.
        this.signal.outer.register(cx.waker());
        if !this.signal.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        this.inner
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts its polls; ready once `ready` is set, waking through the waker it last saw.
    struct Counted {
        polls: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
        waker: Arc<std::sync::Mutex<Option<Waker>>>,
    }

    impl Future for Counted {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.ready.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[test]
    fn the_inner_future_is_polled_only_after_its_wakeup() {
        let polls = Arc::new(AtomicUsize::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let inner_waker = Arc::new(std::sync::Mutex::new(None::<Waker>));
        let mut watched = Box::pin(WhenWoken::new(Counted {
            polls: polls.clone(),
            ready: ready.clone(),
            waker: inner_waker.clone(),
        }));
        let outer_wakes = Arc::new(OuterCount(AtomicUsize::new(0)));
        let outer = Waker::from(outer_wakes.clone());
        let mut cx = Context::from_waker(&outer);

        assert!(watched.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 1, "the first poll reaches it");
        for _ in 0..5 {
            assert!(watched.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::SeqCst), 1, "unwoken, it is left alone");

        ready.store(true, Ordering::SeqCst);
        let waker = inner_waker
            .lock()
            .unwrap()
            .take()
            .expect("it kept its waker");
        waker.wake();
        assert_eq!(
            outer_wakes.0.load(Ordering::SeqCst),
            1,
            "its wake-up reaches the caller"
        );
        assert!(watched.as_mut().poll(&mut cx).is_ready());
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    struct OuterCount(AtomicUsize);

    impl Wake for OuterCount {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}
