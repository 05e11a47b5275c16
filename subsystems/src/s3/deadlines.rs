//! How long davd waits for the object store: a store that accepts connections and never
//! answers must cost a request a 503 within seconds, yet a long download to a slow client
//! or a large part on a busy link must not be cut.
//!
//! The client connects with a short timeout and has no whole-request timeout (blobs.rs);
//! what bounds the waits is here, around each call:
//!
//! - a request without a body worth counting (GET's and DELETE's answer head, starting,
//!   completing or aborting a multipart upload) must be answered within [`ANSWER`];
//! - a request with a body (a single PUT, a part) within [`ANSWER`] plus the time its bytes,
//!   and the bytes of the mount's other uploads going up beside it, take at [`SLOWEST_RATE`];
//! - a download, once its head came, may wait [`STALL`] for each next piece of the body; only
//!   the time spent waiting for the store counts, not the time the client takes to read.
//!
//! reqwest's own `read_timeout` cannot do this: it runs from the start of a request until
//! its answer head (so it would cut a large part sent slowly) and between reads of a body
//! (so it would cut a download to a client that reads slowly).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, Stream};
use tokio::time::{Instant, Sleep};

use davd_registry::{SubsystemError, SubsystemResult};

use super::blobs::store_error;

/// How long the store may take to answer a request whose body is negligible: the 503 a
/// client gets when the store is silent comes after about this long.
pub const ANSWER: Duration = Duration::from_secs(2);

/// The slowest a store may take bytes, in bytes per second, before davd gives up on it. Far
/// below any store on a working network, so that only a silent store reaches it.
pub const SLOWEST_RATE: u64 = 1024 * 1024;

/// How long a download waits for the store's next bytes before it is cut.
pub const STALL: Duration = Duration::from_secs(10);

/// How long a request carrying `len` bytes may take while `beside` bytes of other uploads
/// share the way to the store.
pub fn for_body(len: u64, beside: u64) -> Duration {
    ANSWER + Duration::from_secs_f64(len.saturating_add(beside) as f64 / SLOWEST_RATE as f64)
}

/// How long completing a multipart upload of `parts` parts may take: stores join the parts
/// then, and may take a while for many (AWS allows minutes for its largest uploads).
pub fn for_completion(parts: usize) -> Duration {
    ANSWER + Duration::from_millis(50).saturating_mul(u32::try_from(parts).unwrap_or(u32::MAX))
}

/// `call`'s result, or a 503 naming `what` when the store has not answered within `limit`.
///
/// A combinator, not an `async fn`, which would hold `call` twice (its argument and the
/// timeout it awaits) and so double the future of every store operation.
pub fn within<T>(
    limit: Duration,
    what: &str,
    call: impl Future<Output = object_store::Result<T>>,
) -> impl Future<Output = SubsystemResult<T>> {
    tokio::time::timeout(limit, call).map(move |outcome| match outcome {
        Ok(result) => result.map_err(|e| store_error(&e)),
        Err(_) => Err(silent(what, limit)),
    })
}

/// The 503 of a store that did not answer.
pub fn silent(what: &str, limit: Duration) -> SubsystemError {
    SubsystemError::unavailable(format!(
        "the object store did not answer {what} within {:.1} s",
        limit.as_secs_f64()
    ))
}

/// The error a download ends with when the store stopped sending: a 503 where it can still
/// be answered (a partial PUT composing from the old content), not the client's fault.
#[derive(Debug)]
pub struct StoreSilent(pub String);

impl std::fmt::Display for StoreSilent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreSilent {}

/// A download that fails once the store has kept it waiting for [`STALL`].
pub struct Stalling<S> {
    inner: S,
    limit: Duration,
    /// One timer for the whole download, set again whenever a wait begins.
    timer: Pin<Box<Sleep>>,
    /// Whether the timer runs: from a poll that found nothing until the next piece arrives.
    waiting: bool,
    done: bool,
}

impl<S> Stalling<S> {
    pub fn new(inner: S, limit: Duration) -> Stalling<S> {
        Stalling {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            waiting: false,
            done: false,
        }
    }
}

impl<S> Stream for Stalling<S>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(item) => {
                this.waiting = false;
                this.done = item.is_none();
                Poll::Ready(item)
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let deadline = Instant::now() + this.limit;
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.done = true;
                        let message = silent("with the rest of the content", this.limit).message;
                        Poll::Ready(Some(Err(std::io::Error::other(StoreSilent(
                            message.into_owned(),
                        )))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use davd_registry::StatusCode;
    use futures_util::StreamExt;

    #[test]
    fn a_body_gets_its_time_at_the_slowest_rate() {
        assert_eq!(for_body(0, 0), ANSWER);
        assert_eq!(for_body(SLOWEST_RATE, 0), ANSWER + Duration::from_secs(1));
        assert_eq!(
            for_body(SLOWEST_RATE, 3 * SLOWEST_RATE),
            ANSWER + Duration::from_secs(4)
        );
        assert_eq!(for_completion(0), ANSWER);
        assert!(for_completion(usize::MAX) > Duration::from_secs(3600));
    }

    /// Only waiting for the store counts: a consumer that sleeps between reads is not cut,
    /// a store that goes silent is.
    #[tokio::test]
    async fn a_download_is_cut_only_when_the_store_keeps_it_waiting() {
        // Real time, short: the outcome does not depend on how long anything takes.
        const LIMIT: Duration = Duration::from_millis(100);
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
        let from_store = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
        let mut download = Stalling::new(from_store, LIMIT);
        tx.send(Ok(Bytes::from_static(b"a"))).await.unwrap();
        assert_eq!(download.next().await.unwrap().unwrap(), "a");
        // The client reads slowly: the store's bytes wait, which is no stall.
        tx.send(Ok(Bytes::from_static(b"b"))).await.unwrap();
        tokio::time::sleep(LIMIT * 3).await;
        assert_eq!(download.next().await.unwrap().unwrap(), "b");
        // The store goes silent.
        let started = Instant::now();
        let cut = download.next().await.unwrap().unwrap_err();
        assert!(cut.get_ref().unwrap().is::<StoreSilent>());
        assert!(started.elapsed() >= LIMIT);
        assert!(download.next().await.is_none(), "nothing after the error");
        drop(tx);
    }

    /// A store that accepts connections and never answers (a listener that never reads):
    /// a small upload, one past a part (which starts a multipart upload), a read and a
    /// delete each fail with a 503 instead of waiting for ever. Needs no real store.
    #[tokio::test]
    async fn a_silent_store_costs_each_call_a_503_not_a_hang() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", silent.local_addr().unwrap());
        let table: crate::s3::S3Table =
            toml::from_str(&format!("bucket = \"b\"\nendpoint = \"{endpoint}\"")).unwrap();
        let settings = table
            .check(None, |name| Some(format!("test-{name}")))
            .unwrap();
        let blobs = crate::s3::Blobs::new(&settings).unwrap();
        // A bound against hanging only, far above what the bounds here add up to.
        let ceiling = Duration::from_secs(30);
        let small: davd_registry::ByteStream =
            Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(b"x"))]));
        let large: davd_registry::ByteStream = Box::pin(futures_util::stream::iter(
            (0..9).map(|_| Ok(Bytes::from(vec![7u8; 1024 * 1024]))),
        ));
        for (what, body) in [("small", small), ("past a part", large)] {
            let started = std::time::Instant::now();
            let error = blobs.upload("blob", body).await.unwrap_err();
            assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
            assert!(started.elapsed() < ceiling, "{what}");
        }
        assert_eq!(blobs.budget().free_parts(), 16, "every part given back");
        let started = std::time::Instant::now();
        let error = blobs.read("blob", None).await.err().unwrap();
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        let error = blobs.delete("blob").await.unwrap_err();
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(started.elapsed() < ceiling);
        drop(silent);
    }
}
