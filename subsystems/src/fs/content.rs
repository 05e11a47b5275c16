//! Reading file content: small files in one go, large ones streamed with big buffers.

use std::io::{Read, SeekFrom};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use davd_registry::{Body, ByteRange, OpenedContent, SubsystemResult};

/// Files up to this size are read whole in the same blocking call that opened them: one
/// trip to the blocking pool for open + fstat + read.
pub const SMALL_FILE: u64 = 64 * 1024;

/// Chunk size for streaming large files.
const CHUNK: usize = 256 * 1024;

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
        let mut file = tokio::fs::File::from_std(self.0);
        file.set_max_buf_size(CHUNK);
        let stream = match range {
            None => ReaderStream::with_capacity(file, CHUNK).boxed(),
            Some(r) => {
                file.seek(SeekFrom::Start(r.start)).await?;
                ReaderStream::with_capacity(file.take(r.len()), CHUNK).boxed()
            }
        };
        Ok(Body::Stream(stream))
    }
}

/// Reads a small file completely, from the position a fresh open leaves (its start).
pub fn read_small(file: &mut std::fs::File, len: u64) -> std::io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}
