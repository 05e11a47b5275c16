//! Small helpers to turn blocking producers into streams.

use futures_util::stream::{self, Stream};
use tokio::sync::mpsc;

/// A stream over everything sent into `rx`.
pub fn receiver_stream<T: Send + 'static>(rx: mpsc::Receiver<T>) -> impl Stream<Item = T> + Send {
    stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
