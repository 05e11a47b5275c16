//! Segment writes (a PUT with `Content-Range`): blobs never change, so a segment makes a new
//! blob of the old content with the body laid over it, composed while it streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;

use davd_registry::{ByteRange, ByteStream, SubsystemError, SubsystemResult};

use super::{PART_SIZE, S3Namespace};

impl S3Namespace {
    /// The bytes of the segment write: the old content with `body` laid over it at `offset`
    /// and cut at `total`, composed while it streams into a new blob.
    pub(super) async fn compose(
        &self,
        old: Option<(u64, String)>,
        body: ByteStream,
        offset: u64,
        total: Option<u64>,
    ) -> SubsystemResult<ByteStream> {
        let (old_len, old_blob) = match old {
            Some((len, blob)) => (len, Some(blob)),
            None => (0, None),
        };
        let kept_head = old_len.min(offset);
        let head: ByteStream = match (&old_blob, kept_head) {
            (Some(blob), 1..) => {
                self.blobs
                    .read(
                        blob,
                        Some(ByteRange {
                            start: 0,
                            end: kept_head - 1,
                        }),
                    )
                    .await?
            }
            _ => Box::pin(futures_util::stream::empty()),
        };
        let gap = gap_bytes(offset - kept_head)?;
        // The gap's zeros come from one static block: the bytes in memory are the part
        // buffers of the upload, which the mount's budget counts (`budget.rs`).
        let zeros: ByteStream = Box::pin(futures_util::stream::iter(
            (0..gap)
                .step_by(ZEROS.len())
                .map(move |start| Ok(Bytes::from_static(&ZEROS[..(gap - start).min(ZEROS.len())]))),
        ));
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let counted: ByteStream = Box::pin(body.inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }));
        // What of the old content follows the body is known only once the body has ended.
        let blobs = self.blobs.clone();
        let tail = futures_util::stream::once(async move {
            let end = offset + received.load(Ordering::Relaxed);
            let stop = total.map_or(old_len, |t| old_len.min(t.max(end)));
            match old_blob {
                Some(blob) if stop > end => {
                    blobs
                        .read(
                            &blob,
                            Some(ByteRange {
                                start: end,
                                end: stop - 1,
                            }),
                        )
                        .await
                }
                _ => Ok(Box::pin(futures_util::stream::empty()) as ByteStream),
            }
        })
        .map(|opened| match opened {
            Ok(stream) => stream,
            Err(e) => Box::pin(futures_util::stream::once(async move {
                Err(std::io::Error::other(e.message))
            })) as ByteStream,
        })
        .flatten();
        Ok(Box::pin(head.chain(zeros).chain(counted).chain(tail)))
    }
}

/// Zeros for the gap between the old content's end and a segment that starts past it.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// The gap of zeros before a segment: refused past a part's size, as a client's mistake
/// rather than a way to make the server write gigabytes of zeros.
fn gap_bytes(gap: u64) -> SubsystemResult<usize> {
    usize::try_from(gap)
        .ok()
        .filter(|g| *g <= PART_SIZE)
        .ok_or_else(|| {
            SubsystemError::from(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a segment may start at most 8 MiB past the end of the content",
            ))
        })
}
