//! Buffers for streaming large files, kept for reuse.
//!
//! A fresh 512 KiB allocation is fresh pages: glibc maps blocks that size, and the kernel
//! zero-fills every page on first touch. Sixteen concurrent 64 MiB downloads took 7,800 page
//! faults per download that way, more kernel time than the copies themselves. A buffer that
//! went out with a response comes back here when hyper drops it, still mapped.

use std::sync::Mutex;

use bytes::Bytes;

/// The pool the fs namespace streams from: at most 8 MiB of idle 512 KiB buffers.
pub(super) static CHUNKS: Pool = Pool::new(16);

pub(super) struct Pool {
    idle: Mutex<Vec<Vec<u8>>>,
    kept: usize,
}

impl Pool {
    const fn new(kept: usize) -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            kept,
        }
    }

    /// A buffer of `size` bytes to read into: zeros when new (fresh pages, which the kernel
    /// zero-fills anyway), an earlier chunk's bytes when reused. Only what [`Pool::lend`] is
    /// told was read is ever shown, so reuse needs no clearing; and a buffer that is already
    /// initialized can be read into without `unsafe`.
    pub(super) fn buffer(&self, size: usize) -> Vec<u8> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(buf) if buf.len() >= size => buf,
            _ => vec![0; size],
        }
    }

    /// The first `len` bytes of `buf` as `Bytes` that give the buffer back to the pool when
    /// the last reference is dropped.
    pub(super) fn lend(&'static self, buf: Vec<u8>, len: usize) -> Bytes {
        let len = len.min(buf.len());
        Bytes::from_owner(Returned {
            buf,
            len,
            pool: self,
        })
    }
}

struct Returned {
    buf: Vec<u8>,
    /// How much of `buf` was read into, and is shown.
    len: usize,
    pool: &'static Pool,
}

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if let Ok(mut idle) = self.pool.idle.lock()
            && idle.len() < self.pool.kept
        {
            idle.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_when_its_bytes_are_dropped() {
        static POOL: Pool = Pool::new(1);
        let mut buf = POOL.buffer(1 << 16);
        assert_eq!(buf.len(), 1 << 16);
        buf[..5].copy_from_slice(b"chunk");
        let address = buf.as_ptr();
        let bytes = POOL.lend(buf, 5);
        assert_eq!(&bytes[..], b"chunk", "only what was read is shown");
        let shared = bytes.slice(1..3);
        drop(bytes);
        assert_eq!(&shared[..], b"hu", "still in use: not given back yet");
        let meanwhile = POOL.buffer(1 << 16);
        assert_ne!(meanwhile.as_ptr(), address);
        drop(shared);
        let again = POOL.buffer(1 << 16);
        assert_eq!(again.as_ptr(), address, "the same memory, reused");
        assert_eq!(again.len(), 1 << 16, "whole, ready to be read into");
    }

    #[test]
    fn only_so_many_are_kept() {
        static POOL: Pool = Pool::new(1);
        let a = POOL.lend(POOL.buffer(64), 64);
        let b = POOL.lend(POOL.buffer(64), 64);
        drop(a);
        drop(b);
        assert_eq!(POOL.idle.lock().map(|idle| idle.len()).unwrap_or(0), 1);
    }
}
