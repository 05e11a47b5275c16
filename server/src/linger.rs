//! Lingering close. davd often answers before it has read a request's body: a PUT refused for
//! want of room (507), a lock it does not hold (423), credentials it rejects (401). The client
//! is still sending then. Closing the connection with the client's bytes unread makes the
//! kernel reset it, and the reset can reach the client before it has read the answer: it sees
//! "broken pipe" or "connection reset" instead of the 507 or the 401, and cannot tell a full
//! disk from a crash. Apache and nginx read and discard the rest of the body for a while
//! before they close ("lingering close"); so does davd.
//!
//! The body is lent to the executive rather than given: what it leaves unread is taken back
//! once the response is ready and drained by a task of its own while hyper sends the response,
//! within [`LINGER_TIME`] and the body's idle timeout. A body drained to its end leaves the
//! connection open for the client's next request.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::Version;
use http::header::EXPECT;
use http_body::Body;
use hyper::body::Incoming;

/// The longest a body is drained after its response, as nginx's `lingering_time`.
pub const LINGER_TIME: Duration = Duration::from_secs(30);

/// A request body lent to the executive.
pub struct Lent {
    slot: Arc<Mutex<Option<Incoming>>>,
}

impl Lent {
    /// Lends `body`, returning the stream of its data the executive reads.
    pub fn new(body: Incoming) -> (Lent, LentStream) {
        let slot = Arc::new(Mutex::new(Some(body)));
        (Lent { slot: slot.clone() }, LentStream { slot })
    }

    /// What is left of the body, if the executive did not read it to its end. The stream
    /// ends with an error if anything polls it after this.
    pub fn unread(self) -> Option<Incoming> {
        let body = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        (!body.is_end_stream()).then_some(body)
    }
}

/// The data of a lent body, as the executive reads it.
pub struct LentStream {
    slot: Arc<Mutex<Option<Incoming>>>,
}

impl Stream for LentStream {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(body) = slot.as_mut() else {
            return Poll::Ready(Some(Err(io::Error::other(
                "the request body was taken back after the response",
            ))));
        };
        poll_data(Pin::new(body), cx).map(|data| data.map(|d| d.map_err(io::Error::other)))
    }
}

/// The next data frame of `body`, skipping trailers.
fn poll_data(
    mut body: Pin<&mut Incoming>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Bytes, hyper::Error>>> {
    loop {
        match body.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => return Poll::Ready(Some(Ok(data))),
                Err(_trailers) => continue,
            },
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        }
    }
}

/// Whether the rest of a request's body is worth draining. Not on HTTP/2, where a stream is
/// reset on its own without touching the connection; not when the client asked for
/// `100-continue`, because such a client waits for the answer before it sends the body (and
/// reading it would send the `100 Continue` after the final response).
pub fn wanted(version: Version, headers: &http::HeaderMap) -> bool {
    version != Version::HTTP_2 && !headers.contains_key(EXPECT)
}

/// Reads and discards the rest of `body` on a task of its own, for at most [`LINGER_TIME`]
/// and only while data keeps coming within `idle`. Dropping it then lets hyper close the
/// connection; a body read to its end lets hyper keep it.
pub fn drain(body: Incoming, idle: Duration) {
    tokio::spawn(async move {
        let until = tokio::time::Instant::now() + LINGER_TIME;
        let mut body = std::pin::pin!(body);
        loop {
            let next = std::future::poll_fn(|cx| poll_data(body.as_mut(), cx));
            let deadline = until.min(tokio::time::Instant::now() + idle);
            match tokio::time::timeout_at(deadline, next).await {
                Ok(Some(Ok(_))) => {}
                Ok(None | Some(Err(_))) | Err(_) => return,
            }
        }
    });
}
