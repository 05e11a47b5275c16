//! Reading file content: small files in one go, large ones streamed with big buffers.

use std::io::{IoSliceMut, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;

use davd_registry::{Body, ByteRange, OpenedContent, SubsystemResult};

use super::chunk_pool::CHUNKS;

/// Files up to this size are read whole in the same blocking call that opened them: one
/// trip to the blocking pool for open + fstat + read.
pub const SMALL_FILE: u64 = 64 * 1024;

/// Chunk size for streaming large files: 16 downloads at once hold a few MiB, and a 64 MiB
/// file is 128 trips to the blocking pool.
const CHUNK: usize = 512 * 1024;

pub struct SmallContent(pub Bytes);

#[async_trait]
impl OpenedContent for SmallContent {
    async fn read(self: Box<Self>, range: Option<ByteRange>) -> SubsystemResult<Body> {
        Ok(Body::Full(match range {
            None => self.0,
            // The executive resolved the range against this very buffer's length; the check
            // only guards against a contract violation turning into a panic.
            Some(r) if (r.end as usize) < self.0.len() => {
                self.0.slice(r.start as usize..=r.end as usize)
            }
            Some(_) => {
                return Err(davd_registry::SubsystemError::new(
                    http_range_not_satisfiable(),
                    "range outside the content",
                ));
            }
        }))
    }
}

fn http_range_not_satisfiable() -> davd_registry::StatusCode {
    davd_registry::StatusCode::RANGE_NOT_SATISFIABLE
}

/// A large file to stream. With `inline` (`fs_inline_io`), each chunk the page cache already
/// holds is read on the request's own thread, and only a chunk that would wait for the disk
/// goes to the blocking pool.
pub struct LargeContent {
    pub file: std::fs::File,
    pub inline: bool,
}

#[async_trait]
impl OpenedContent for LargeContent {
    async fn read(self: Box<Self>, range: Option<ByteRange>) -> SubsystemResult<Body> {
        let (start, len) = match range {
            None => (0, u64::MAX),
            Some(r) => (r.start, r.len()),
        };
        let file = Arc::new(self.file);
        Ok(Body::Stream(chunks(file, self.inline, start, len).boxed()))
    }
}

/// The file from `start`, at most `len` bytes, in chunks of at most [`CHUNK`], each read
/// straight into the buffer that goes to the socket (`tokio::fs::File` would read into its
/// own buffer and copy, and make a trip per 256 KiB).
///
/// A chunk in the page cache is read inline (`preadv2` with `RWF_NOWAIT`, which returns what
/// is cached and never waits for the disk): a trip to the blocking pool costs two thread
/// wake-ups per chunk, a tenth of a 64 MiB download's CPU time (docs/performance.md). What
/// the cache does not hold yet is read on the blocking pool, so a connection thread never
/// waits for a disk.
fn chunks(
    file: Arc<std::fs::File>,
    inline: bool,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::try_unfold((start, len), move |(at, left)| {
        let file = file.clone();
        async move {
            if left == 0 {
                return Ok(None);
            }
            let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
            let mut chunk = CHUNKS.buffer(CHUNK);
            let cached = match inline {
                true => read_cached(&file, at, &mut chunk[..want])?,
                false => None,
            };
            let (chunk, read) = match cached {
                Some(read) => (chunk, read),
                None => tokio::task::spawn_blocking(move || {
                    let read = read_at_most(&file, at, &mut chunk[..want])?;
                    Ok::<_, std::io::Error>((chunk, read))
                })
                .await
                .map_err(std::io::Error::other)??,
            };
            if read == 0 {
                return Ok(None); // the file ended early (it was truncated meanwhile)
            }
            Ok(Some((
                CHUNKS.lend(chunk, read),
                (at + read as u64, left - read as u64),
            )))
        }
    })
}

/// What the page cache holds of `buf.len()` bytes at `at`, without waiting for the disk:
/// `None` when the first byte is not cached (or the kernel or file system cannot tell, in
/// which case the blocking pool reads it as before).
fn read_cached(file: &std::fs::File, at: u64, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    use rustix::io::{Errno, ReadWriteFlags, preadv2};
    match preadv2(
        file,
        &mut [IoSliceMut::new(buf)],
        at,
        ReadWriteFlags::NOWAIT,
    ) {
        // A short count is what was cached; the next chunk starts where it ends. Zero is
        // the end of the file, or nothing cached on a kernel that says so with zero: the
        // blocking read tells the two apart.
        Ok(0) => Ok(None),
        Ok(read) => Ok(Some(read)),
        // Not cached, interrupted, or a kernel or file system without RWF_NOWAIT.
        Err(Errno::AGAIN | Errno::INTR | Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads at `at` until `buf` is full or the file ends; the count read.
fn read_at_most(file: &std::fs::File, at: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        match file.read_at(&mut buf[read..], at + read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}

/// Reads a small file completely, from the position a fresh open leaves (its start).
pub fn read_small(file: &mut std::fs::File, len: u64) -> std::io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use futures_util::TryStreamExt;

    use super::*;

    /// A file of three and a half chunks, each byte telling where it is.
    fn numbered_file() -> (tempfile::NamedTempFile, Vec<u8>) {
        let content: Vec<u8> = (0..CHUNK * 7 / 2).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
        file.write_all(&content).expect("written");
        file.flush().expect("flushed");
        (file, content)
    }

    async fn streamed(file: &std::fs::File, inline: bool, start: u64, len: u64) -> Vec<u8> {
        let file = Arc::new(file.try_clone().expect("a second handle"));
        let parts: Vec<Bytes> = chunks(file, inline, start, len)
            .try_collect()
            .await
            .expect("streamed");
        parts.concat()
    }

    #[tokio::test]
    async fn cached_and_pooled_reads_stream_the_same_bytes() {
        let (file, content) = numbered_file();
        for inline in [true, false] {
            assert!(streamed(file.as_file(), inline, 0, u64::MAX).await == content);
            let (start, len) = (CHUNK as u64 - 7, CHUNK as u64 + 100);
            let range = &content[start as usize..(start + len) as usize];
            assert!(streamed(file.as_file(), inline, start, len).await == range);
        }
    }

    /// Pages the cache does not hold are read on the blocking pool: dropped from the cache
    /// first (a clean file's pages go at once), the file still streams whole.
    #[tokio::test]
    async fn what_the_cache_does_not_hold_is_still_read() {
        let (file, content) = numbered_file();
        file.as_file()
            .sync_all()
            .expect("synced, so its pages are clean");
        rustix::fs::fadvise(file.as_file(), 0, None, rustix::fs::Advice::DontNeed)
            .expect("fadvise");
        assert!(streamed(file.as_file(), true, 0, u64::MAX).await == content);
    }

    /// A file cut short while it streams ends the stream where the file ends.
    #[tokio::test]
    async fn a_file_shorter_than_announced_ends_the_stream() {
        let (file, content) = numbered_file();
        file.as_file()
            .set_len(CHUNK as u64 + 10)
            .expect("truncated");
        let got = streamed(file.as_file(), true, 0, content.len() as u64).await;
        assert!(got == content[..CHUNK + 10]);
    }
}
