//! Refusing request targets that carry a `#fragment`.
//!
//! A fragment is never part of an HTTP request target (RFC 9112 §3.2), but some clients send
//! one, and the `http` crate drops it silently while parsing: `DELETE /frag/#ment` would then
//! delete `/frag/`, which is not what the client named (litmus `delete_fragment` calls that
//! unsafe). hyper offers no hook to see the raw target, so this wrapper watches the bytes of an
//! HTTP/1 connection for request lines that contain `#`, and the handler refuses the request
//! they belong to with 400.
//!
//! Only lines that contain `#` are examined, found with `memchr`, so ordinary traffic costs a
//! vectorised scan of each read.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest line remembered across reads; request lines are far shorter.
const MAX_LINE: usize = 16 * 1024;

/// Targets with fragments seen on one connection, in order.
#[derive(Clone, Default, Debug)]
pub struct FragmentLog(Arc<Mutex<VecDeque<(String, String)>>>);

impl FragmentLog {
    fn push(&self, method: String, path: String) {
        if let Ok(mut log) = self.0.lock() {
            log.push_back((method, path));
        }
    }

    /// True if the request `method path` was sent with a fragment. Entries for earlier
    /// requests (or look-alike lines inside bodies) are discarded on the way.
    pub fn had_fragment(&self, method: &str, path: &str) -> bool {
        let Ok(mut log) = self.0.lock() else {
            return false;
        };
        while let Some((m, p)) = log.pop_front() {
            if m == method && p == path {
                return true;
            }
        }
        false
    }
}

/// Wraps a connection's I/O and records request lines with fragments.
pub struct FragmentWatch<T> {
    inner: T,
    log: FragmentLog,
    /// Bytes since the last newline (the line in progress), unless it grew too long.
    line: Vec<u8>,
    overflowed: bool,
}

impl<T> FragmentWatch<T> {
    pub fn new(inner: T, log: FragmentLog) -> Self {
        FragmentWatch {
            inner,
            log,
            line: Vec::new(),
            overflowed: false,
        }
    }

    fn observe(&mut self, data: &[u8]) {
        // Nearly every read holds no '#'. Then no line it ends can be interesting but the one
        // already in progress, and only the text after its last newline needs keeping: four
        // scans of the read, where walking it line by line took two per line.
        if memchr::memchr(b'#', data).is_none() {
            if let (Some(first), Some(last)) =
                (memchr::memchr(b'\n', data), memchr::memrchr(b'\n', data))
            {
                self.finish_line(&data[..first]);
                self.extend_line(&data[last + 1..]);
            } else {
                self.extend_line(data);
            }
            return;
        }
        let mut rest = data;
        loop {
            match memchr::memchr(b'\n', rest) {
                Some(end) => {
                    let (head, tail) = rest.split_at(end);
                    self.finish_line(head);
                    rest = &tail[1..];
                }
                None => {
                    self.extend_line(rest);
                    return;
                }
            }
        }
    }

    fn extend_line(&mut self, part: &[u8]) {
        if self.overflowed {
            return;
        }
        // Only lines that contain '#' matter; until one shows up, remember little.
        if self.line.len() + part.len() > MAX_LINE {
            self.overflowed = true;
            self.line.clear();
        } else {
            self.line.extend_from_slice(part);
        }
    }

    fn finish_line(&mut self, head: &[u8]) {
        let interesting = !self.overflowed
            && (memchr::memchr(b'#', head).is_some() || memchr::memchr(b'#', &self.line).is_some());
        if interesting {
            self.extend_line(head);
            if !self.overflowed
                && let Some((method, path)) = parse_request_line(&self.line)
            {
                self.log.push(method, path);
            }
        }
        self.line.clear();
        self.overflowed = false;
    }
}

/// `METHOD SP target SP HTTP/1.x` where the target has a '#': returns the method and the
/// target's path (before any '?' or '#').
fn parse_request_line(line: &[u8]) -> Option<(String, String)> {
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    if parts.next().is_some()
        || !version.starts_with("HTTP/1.")
        || method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
        || !target.contains('#')
    {
        return None;
    }
    let without_scheme = match target.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/').unwrap_or(rest.len())..],
        None => target,
    };
    let path = without_scheme.split(['#', '?']).next().unwrap_or("");
    Some((
        method.to_owned(),
        if path.is_empty() {
            "/".into()
        } else {
            path.to_owned()
        },
    ))
}

impl<T: AsyncRead + Unpin> AsyncRead for FragmentWatch<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.observe(&buf.filled()[before..]);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FragmentWatch<T> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fragments_in_request_lines_only() {
        let log = FragmentLog::default();
        let mut watch = FragmentWatch::new((), log.clone());
        watch.observe(b"DELETE /litmus/frag/#ment HTTP/1.1\r\nHost: x\r\n\r\n");
        watch.observe(b"PUT /a HTTP/1.1\r\nContent-Length: 9\r\n\r\nnot # req");
        watch.observe(b"\r\nGET /split");
        watch.observe(b"#x?y HTTP/1.1\r\n\r\n");
        assert!(log.had_fragment("DELETE", "/litmus/frag/"));
        assert!(log.had_fragment("GET", "/split"));
        assert!(!log.had_fragment("GET", "/split"));
        assert!(!log.had_fragment("PUT", "/a"));
    }

    #[test]
    fn a_fragment_is_found_whichever_read_brings_the_hash() {
        let request =
            b"GET /x HTTP/1.1\r\nHost: h\r\n\r\nDELETE /frag/#ment HTTP/1.1\r\nHost: h\r\n\r\n";
        // Every split into two reads, so that the first has no '#' and ends anywhere: inside
        // earlier lines, at a newline, inside the request line before its '#'.
        for at in 0..=request.len() {
            let log = FragmentLog::default();
            let mut watch = FragmentWatch::new((), log.clone());
            watch.observe(&request[..at]);
            watch.observe(&request[at..]);
            assert!(log.had_fragment("DELETE", "/frag/"), "split at {at}");
            assert!(!log.had_fragment("GET", "/x"), "split at {at}");
        }
        // And one byte at a time.
        let log = FragmentLog::default();
        let mut watch = FragmentWatch::new((), log.clone());
        for byte in request {
            watch.observe(std::slice::from_ref(byte));
        }
        assert!(log.had_fragment("DELETE", "/frag/"));
    }

    #[test]
    fn lines_without_a_hash_are_not_kept() {
        let mut watch = FragmentWatch::new((), FragmentLog::default());
        watch.observe(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HT");
        assert_eq!(watch.line, b"GET /b HT", "only the line in progress");
        watch.observe(b"TP/1.1\r\n\r\n");
        assert!(watch.line.is_empty());
    }

    #[test]
    fn request_line_shapes() {
        assert_eq!(
            parse_request_line(b"DELETE /frag/#ment HTTP/1.1\r"),
            Some(("DELETE".into(), "/frag/".into()))
        );
        assert_eq!(
            parse_request_line(b"GET http://h:1/a#b HTTP/1.0"),
            Some(("GET".into(), "/a".into()))
        );
        assert_eq!(parse_request_line(b"GET /a HTTP/1.1"), None);
        assert_eq!(parse_request_line(b"some # text"), None);
    }
}
