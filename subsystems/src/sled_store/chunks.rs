//! Content of the sled namespace: chunks under `content id (8 bytes) + chunk number (8 bytes)`
//! in the namespace's data tree, written from a stream and read back as one.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream;

use davd_registry::{Body, ByteRange, ByteStream, OpenedContent, SubsystemResult};

use super::db_error;
use crate::space::SpaceGuard;

/// The size of the chunks new content is stored in. sled 0.34 keeps larger values as blobs
/// that stay resident: with 64 KiB chunks a 512 MiB upload and download peaked at 600 MiB
/// resident, with 4 KiB at 90 MiB (`server/tests/memory.rs`).
pub(super) const CHUNK: u32 = 4 * 1024;

/// The chunk size of content stored before it was recorded per node.
pub(super) fn legacy_chunk() -> u32 {
    64 * 1024
}

pub(super) fn chunk_key(content: u64, index: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&content.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

pub(super) fn delete_content(data: &sled::Tree, content: u64) -> SubsystemResult<()> {
    let mut batch = sled::Batch::default();
    for item in data.scan_prefix(content.to_be_bytes()) {
        batch.remove(item.map_err(db_error)?.0);
    }
    data.apply_batch(batch).map_err(db_error)
}

/// Streams `body` into the chunks of `content` from byte `offset` on (a segment may start or
/// end inside a chunk, which is then merged). Returns the length written. Stops with 507 when
/// the disk falls below its reserve (`crate::space`), looked at again every few MiB.
pub(super) async fn store_chunks(
    data: &sled::Tree,
    mut body: ByteStream,
    content: u64,
    offset: u64,
    chunk_size: u32,
    guard: &SpaceGuard,
) -> SubsystemResult<u64> {
    guard.check(0)?;
    let mut growth = guard.growth(0);
    let chunk_size = u64::from(chunk_size.max(1));
    let mut position = offset;
    let mut pending = BytesMut::new();
    let flush_chunk = |position: u64, bytes: &[u8]| -> SubsystemResult<()> {
        // A segment may start or end inside a chunk: merge with what is there.
        let index = position / chunk_size;
        let within = (position % chunk_size) as usize;
        let key = chunk_key(content, index);
        let mut chunk = data
            .get(key)
            .map_err(db_error)?
            .map(|c| c.to_vec())
            .unwrap_or_default();
        if chunk.len() < within + bytes.len() {
            chunk.resize(within + bytes.len(), 0);
        }
        chunk[within..within + bytes.len()].copy_from_slice(bytes);
        data.insert(key, chunk).map_err(db_error)?;
        Ok(())
    };
    while let Some(piece) = body.next().await {
        let piece = piece?;
        growth.add(piece.len() as u64)?;
        pending.extend_from_slice(&piece);
        loop {
            let room = (chunk_size - position % chunk_size) as usize;
            if pending.len() < room {
                break;
            }
            let part = pending.split_to(room);
            flush_chunk(position, &part)?;
            position += part.len() as u64;
        }
    }
    if !pending.is_empty() {
        flush_chunk(position, &pending)?;
        position += pending.len() as u64;
    }
    Ok(position - offset)
}

pub(super) fn copy_content(data: &sled::Tree, from: u64, to: u64) -> SubsystemResult<()> {
    for item in data.scan_prefix(from.to_be_bytes()) {
        let (key, value) = item.map_err(db_error)?;
        let index = u64::from_be_bytes(key[8..16].try_into().unwrap_or([0; 8]));
        data.insert(chunk_key(to, index), value).map_err(db_error)?;
    }
    Ok(())
}

/// Reads chunks lazily, so a download never holds more than one chunk.
pub(super) struct SledContent {
    pub(super) data: sled::Tree,
    pub(super) content: Option<u64>,
    pub(super) chunk: u32,
    pub(super) len: u64,
}

#[async_trait]
impl OpenedContent for SledContent {
    async fn read(self: Box<Self>, range: Option<ByteRange>) -> SubsystemResult<Body> {
        let Some(content) = self.content else {
            return Ok(Body::Empty);
        };
        let (start, end) = match range {
            Some(r) => (r.start, r.end + 1),
            None => (0, self.len),
        };
        if start >= end {
            return Ok(Body::Empty);
        }
        let data = self.data;
        let chunk_size = u64::from(self.chunk.max(1));
        let chunks = stream::unfold(start, move |position| {
            let data = data.clone();
            async move {
                if position >= end {
                    return None;
                }
                let index = position / chunk_size;
                let within = (position % chunk_size) as usize;
                let chunk = match data.get(chunk_key(content, index)) {
                    Ok(Some(c)) => c,
                    // A hole (a segment write past the end) reads as zeros.
                    Ok(None) => sled::IVec::from(vec![0u8; chunk_size as usize]),
                    Err(e) => return Some((Err(std::io::Error::other(e.to_string())), end)),
                };
                let take = ((end - position) as usize).min(chunk_size as usize - within);
                let mut bytes = vec![0u8; take];
                if within < chunk.len() {
                    let n = (chunk.len() - within).min(take);
                    bytes[..n].copy_from_slice(&chunk[within..within + n]);
                }
                Some((Ok(Bytes::from(bytes)), position + take as u64))
            }
        });
        Ok(Body::Stream(chunks.boxed()))
    }
}
