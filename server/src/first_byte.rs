//! Dropping connections that never send a byte.
//!
//! hyper's header-read timeout starts only once hyper reads a request head, but the automatic
//! HTTP/1-or-HTTP/2 detection first waits for the connection's opening bytes, with no limit. A
//! client that connects and stays silent would hold a connection slot forever. This wrapper
//! notes when the first byte arrives, so the listener can close connections that send none in
//! time.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct FirstByte<T> {
    inner: T,
    seen: Arc<AtomicBool>,
}

impl<T> FirstByte<T> {
    /// Wraps `inner`; the returned flag turns true when the first byte has been read.
    pub fn new(inner: T) -> (Self, Arc<AtomicBool>) {
        let seen = Arc::new(AtomicBool::new(false));
        (
            FirstByte {
                inner,
                seen: seen.clone(),
            },
            seen,
        )
    }
}

/// Resolves once `limit` has passed without a first byte; never resolves otherwise.
pub async fn silent_for(seen: Arc<AtomicBool>, limit: Duration) {
    tokio::time::sleep(limit).await;
    if seen.load(Ordering::Relaxed) {
        std::future::pending::<()>().await;
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FirstByte<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.seen.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FirstByte<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}
