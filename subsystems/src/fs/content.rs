//! Reading file content: small files in one go, large ones streamed with big buffers.

use std::io::{Read, Seek, SeekFrom};

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

pub struct LargeContent(pub std::fs::File);

#[async_trait]
impl OpenedContent for LargeContent {
    async fn read(self: Box<Self>, range: Option<ByteRange>) -> SubsystemResult<Body> {
        let (start, len) = match range {
            None => (0, u64::MAX),
            Some(r) => (r.start, r.len()),
        };
        Ok(Body::Stream(chunks(self.0, start, len).boxed()))
    }
}

/// The file from `start`, at most `len` bytes, in chunks of [`CHUNK`]. Each chunk is read
/// straight into the buffer that goes to the socket, in one trip to the blocking pool:
/// `tokio::fs::File` would read into its own buffer and copy, and make a trip per 256 KiB.
/// Those trips (two thread wake-ups each) were a third of a large GET's CPU time.
fn chunks(
    file: std::fs::File,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::try_unfold(
        (Some(file), start, len),
        move |(file, at, left)| async move {
            let Some(mut file) = file.filter(|_| left > 0) else {
                return Ok(None);
            };
            let want = left.min(CHUNK as u64);
            let first = at == start;
            let (file, chunk) = tokio::task::spawn_blocking(move || {
                if first && at > 0 {
                    file.seek(SeekFrom::Start(at))?;
                }
                let mut chunk = CHUNKS.buffer(CHUNK);
                (&mut file).take(want).read_to_end(&mut chunk)?;
                Ok::<_, std::io::Error>((file, chunk))
            })
            .await
            .map_err(std::io::Error::other)??;
            if chunk.is_empty() {
                return Ok(None); // the file ended early (it was truncated meanwhile)
            }
            let read = chunk.len() as u64;
            Ok(Some((
                CHUNKS.lend(chunk),
                (Some(file), at + read, left - read),
            )))
        },
    )
}

/// Reads a small file completely, from the position a fresh open leaves (its start).
pub fn read_small(file: &mut std::fs::File, len: u64) -> std::io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}
