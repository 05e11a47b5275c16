//! An upload: the body is read into parts of [`PART_SIZE`], each filled under a permit of the
//! mount's [`UploadBudget`](super::budget::UploadBudget) and sent in a task of its own that
//! gives the permit back once the store has the part. A body that ends inside its first part
//! goes up in one PUT; a longer one as a multipart upload, at most [`PARTS_IN_FLIGHT`] of its
//! parts going up at once. So the mount holds at most its budget of parts in memory, however
//! many uploads run (docs/performance.md, "Uploads to an s3 mount").

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};
use tokio::task::JoinSet;

use davd_registry::{ByteStream, SubsystemError, SubsystemResult};

use super::blobs::{Blobs, PART_SIZE, PARTS_IN_FLIGHT, body_error};
use super::budget::PartPermit;
use super::deadlines::{self, ANSWER};
use super::failpoint;

impl Blobs {
    /// Writes `body` as the blob `blob`; its length. A failed upload is aborted.
    pub async fn upload(&self, blob: &str, body: ByteStream) -> SubsystemResult<u64> {
        let location = self.location(blob);
        let mut reader = PartReader {
            body,
            carry: None,
            received: 0,
            ended: false,
        };
        let mut permit = self.budget.part().await?;
        reader.fill(&mut permit.buffer).await?;
        let first = permit.take();
        if reader.ended {
            let limit = deadlines::for_body(first.len() as u64, self.beside());
            let payload = PutPayload::from_bytes(first.clone());
            deadlines::within(limit, "a PUT", self.store.put(&location, payload)).await?;
            permit.give_back(first);
            return Ok(reader.received);
        }
        let upload = deadlines::within(
            ANSWER,
            "the start of a multipart upload",
            self.store.put_multipart(&location),
        )
        .await?;
        let mut parts = Parts {
            upload,
            in_flight: JoinSet::new(),
            sent: 0,
        };
        let result: SubsystemResult<()> = async {
            parts.send(self, first, permit).await?;
            while !reader.ended {
                // The next part waits for the budget before a byte of it is read.
                let mut permit = self.budget.part().await?;
                reader.fill(&mut permit.buffer).await?;
                if !permit.buffer.is_empty() {
                    let part = permit.take();
                    parts.send(self, part, permit).await?;
                    if parts.sent == 2 {
                        // Two parts handed to the store, the rest of the body not yet read.
                        failpoint::boundary("multipart");
                    }
                }
            }
            while let Some(done) = parts.in_flight.join_next().await {
                joined(done)?;
            }
            let limit = deadlines::for_completion(parts.sent);
            deadlines::within(
                limit,
                "the end of a multipart upload",
                parts.upload.complete(),
            )
            .await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(reader.received),
            Err(e) => {
                parts.in_flight.abort_all();
                // Best effort: a store keeps the parts of an upload never aborted until its
                // lifecycle rule for incomplete uploads removes them (docs/scaling.md).
                let _ = deadlines::within(
                    ANSWER,
                    "the abort of a multipart upload",
                    parts.upload.abort(),
                )
                .await;
                Err(e)
            }
        }
    }

    /// Bytes of the mount's other part buffers besides one of the caller's: what shares the
    /// way to the store with it.
    fn beside(&self) -> u64 {
        self.budget.bytes_in_use().saturating_sub(PART_SIZE as u64)
    }
}

/// A multipart upload's parts on their way.
struct Parts {
    upload: Box<dyn MultipartUpload>,
    in_flight: JoinSet<SubsystemResult<()>>,
    sent: usize,
}

impl Parts {
    /// Starts sending `part` in a task of its own, which keeps `permit` until the store has it.
    async fn send(
        &mut self,
        blobs: &Blobs,
        part: Bytes,
        mut permit: PartPermit,
    ) -> SubsystemResult<()> {
        // A part that failed stops the upload now, not once the whole body has been read.
        while let Some(done) = self.in_flight.try_join_next() {
            joined(done)?;
        }
        // More parts of one upload at once would take the budget from other uploads without
        // sending this one faster.
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            if let Some(done) = self.in_flight.join_next().await {
                joined(done)?;
            }
        }
        let limit = deadlines::for_body(part.len() as u64, blobs.beside());
        // The part's number is taken here, in order; the request goes out in the task.
        let request = self.upload.put_part(PutPayload::from_bytes(part.clone()));
        self.in_flight.spawn(async move {
            // The request, and its hold on the part, ends within the call.
            let sent = deadlines::within(limit, "a part of an upload", request).await;
            permit.give_back(part);
            drop(permit);
            sent
        });
        self.sent += 1;
        Ok(())
    }
}

/// A part task's outcome; one that panicked or was cancelled is a failed upload.
fn joined(done: Result<SubsystemResult<()>, tokio::task::JoinError>) -> SubsystemResult<()> {
    done.map_err(|e| SubsystemError::internal(format!("sending a part: {e}")))?
}

/// Reads a body a part at a time.
struct PartReader {
    body: ByteStream,
    /// What of the last chunk read belongs to the next part.
    carry: Option<Bytes>,
    received: u64,
    /// Whether the body has ended: the last part read is the last part.
    ended: bool,
}

impl PartReader {
    /// Reads the next part into `part` (empty, with room for [`PART_SIZE`]): that many bytes
    /// of the body, or what is left of it. The chunks are copied, so that a part holds its
    /// bytes and nothing more however the client cut the body (a million one-byte chunks
    /// would otherwise each keep a piece of the server's read buffers alive). Looks one chunk
    /// ahead, so that `ended` is known as soon as the part is: a body of exactly one part goes
    /// up in one PUT, and no part is empty.
    async fn fill(&mut self, part: &mut BytesMut) -> SubsystemResult<()> {
        while part.len() < PART_SIZE {
            let Some(mut chunk) = self.next().await? else {
                return Ok(());
            };
            let room = PART_SIZE - part.len();
            if chunk.len() > room {
                self.carry = Some(chunk.split_off(room));
            }
            part.extend_from_slice(&chunk);
        }
        if self.carry.is_none() {
            self.carry = self.next().await?;
        }
        Ok(())
    }

    /// The next chunk of the body (the carried one first); `None` once it has ended.
    async fn next(&mut self) -> SubsystemResult<Option<Bytes>> {
        if let Some(chunk) = self.carry.take() {
            return Ok(Some(chunk));
        }
        loop {
            match self.body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(body_error)?;
                    self.received += chunk.len() as u64;
                    if !chunk.is_empty() {
                        return Ok(Some(chunk));
                    }
                }
                None => {
                    self.ended = true;
                    return Ok(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures_util::StreamExt;

    use super::*;
    use crate::conformance::s3::test_store;
    use crate::s3::S3Table;

    /// The blobs of a fresh prefix of the test store, with a budget of `mib`.
    fn blobs(mib: u64) -> Option<Blobs> {
        let store = test_store()?;
        let table: S3Table = toml::from_str(&format!(
            "bucket = \"{}\"\nendpoint = \"{}\"\nregion = \"{}\"\nprefix = \"test-{}\"\n\
             upload_buffer_mib = {mib}",
            store.bucket,
            store.endpoint,
            store.region,
            uuid::Uuid::new_v4().simple()
        ))
        .unwrap();
        let settings = table.check(None, |name| std::env::var(name).ok()).unwrap();
        Some(Blobs::new(&settings).unwrap())
    }

    /// `len` bytes of a pattern, in chunks of 100 KiB (not a divisor of a part).
    fn body(len: usize, seed: u8) -> ByteStream {
        let chunk = 100 * 1024;
        Box::pin(futures_util::stream::iter((0..len).step_by(chunk).map(
            move |start| {
                let bytes = (start..(start + chunk).min(len))
                    .map(|i| (i % 251) as u8 ^ seed)
                    .collect::<Vec<u8>>();
                Ok(Bytes::from(bytes))
            },
        )))
    }

    async fn read_all(blobs: &Blobs, blob: &str) -> Vec<u8> {
        let mut stream = blobs.read(blob, None).await.unwrap();
        let mut all = Vec::new();
        while let Some(chunk) = stream.next().await {
            all.extend_from_slice(&chunk.unwrap());
        }
        all
    }

    /// A budget of one part: uploads of several parts each, at once, take turns and all
    /// finish whole (every holder of the part can go on: a filled part only needs sending),
    /// and the part is free again at the end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn uploads_past_the_budget_take_turns_and_all_finish() {
        let Some(blobs) = blobs(8) else {
            return;
        };
        assert_eq!(blobs.budget().free_parts(), 1);
        let sizes = [2 * PART_SIZE + 100, PART_SIZE + 1, PART_SIZE, 10];
        let uploads = sizes.iter().enumerate().map(|(i, &len)| {
            let blobs = blobs.clone();
            async move {
                let name = format!("blob-{i}");
                let sent = blobs.upload(&name, body(len, i as u8)).await.unwrap();
                (name, len, sent)
            }
        });
        for (name, len, sent) in futures_util::future::join_all(uploads).await {
            assert_eq!(sent, len as u64);
            let seed = name.trim_start_matches("blob-").parse::<u8>().unwrap();
            let back = read_all(&blobs, &name).await;
            assert_eq!(back.len(), len, "{name}");
            assert!(
                back.iter()
                    .enumerate()
                    .all(|(i, b)| *b == (i % 251) as u8 ^ seed),
                "{name} reads back whole"
            );
            blobs.delete(&name).await.unwrap();
        }
        assert_eq!(blobs.budget().free_parts(), 1, "the part is given back");
    }

    /// While the budget is used up, an upload does not read a byte of its body: the wait is
    /// passed on to the client instead of into memory.
    #[tokio::test]
    async fn an_upload_reads_nothing_until_a_part_is_free() {
        let Some(blobs) = blobs(8) else {
            return;
        };
        let held = blobs.budget().part().await.unwrap();
        let pulled = Arc::new(AtomicBool::new(false));
        let flag = pulled.clone();
        let watched: ByteStream = Box::pin(body(1000, 0).inspect(move |_| {
            flag.store(true, Ordering::SeqCst);
        }));
        let mut upload = Box::pin(blobs.upload("waiting", watched));
        assert!(futures_util::poll!(upload.as_mut()).is_pending());
        assert!(
            !pulled.load(Ordering::SeqCst),
            "no byte read without a part"
        );
        drop(held);
        assert_eq!(upload.await.unwrap(), 1000);
        assert!(pulled.load(Ordering::SeqCst));
        blobs.delete("waiting").await.unwrap();
    }
}
