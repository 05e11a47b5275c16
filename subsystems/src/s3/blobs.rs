//! The bytes: immutable S3 objects named by a fresh UUID under the mount's prefix, written
//! whole before the tree points at them and never changed afterwards, so a reader that found
//! a blob in the tree reads exactly the bytes the row describes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload,
    RetryConfig,
};

use davd_registry::{
    Body, ByteRange, ByteStream, OpenedContent, StatusCode, SubsystemError, SubsystemResult,
};

use super::budget::UploadBudget;
use super::deadlines::{self, ANSWER, STALL, Stalling, StoreSilent};
use super::settings::S3Settings;

/// A body up to this size goes up in one PUT; a larger one as a multipart upload of parts of
/// this size (S3 wants at least 5 MiB for every part but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts of one upload in flight at once. With the part being filled, an upload holds at most
/// `(PARTS_IN_FLIGHT + 1) * PART_SIZE` bytes in memory (24 MiB), and all uploads of a mount
/// together at most their budget (`upload.rs`, `budget.rs`).
pub const PARTS_IN_FLIGHT: usize = 2;

/// How long a connection to the store may take to open: an unreachable store fails fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The blobs of one `s3` mount.
#[derive(Clone)]
pub struct Blobs {
    pub(super) store: Arc<AmazonS3>,
    prefix: String,
    bucket: String,
    /// The part buffers the mount's uploads share.
    pub(super) budget: UploadBudget,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blobs(s3://{}/{})", self.bucket, self.prefix)
    }
}

impl Blobs {
    /// The client for `settings` (no request is made yet).
    pub fn new(settings: &S3Settings) -> SubsystemResult<Blobs> {
        // object_store's HTTP client uses rustls with the process's default provider: ring,
        // davd's one (a second provider would make rustls refuse to choose).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.credentials.access_key_id)
            .with_secret_access_key(&settings.credentials.secret_access_key)
            // Whole-request timeouts would cut long downloads to slow clients short; a store
            // that refuses is noticed when connecting, and retried only briefly, and one that
            // accepts and never answers by the bounds around each call (`deadlines.rs`).
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(CONNECT_TIMEOUT)
                    .with_timeout_disabled()
                    .with_allow_http(true),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_millis(500),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: Duration::from_secs(2),
            });
        if let Some(token) = &settings.credentials.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(true);
        }
        let store = builder
            .build()
            .map_err(|e| SubsystemError::internal(format!("the S3 client: {e}")))?;
        Ok(Blobs {
            store: Arc::new(store),
            prefix: settings.prefix.clone(),
            bucket: settings.bucket.clone(),
            budget: UploadBudget::new(settings.upload_parts),
        })
    }

    /// The part buffers the mount's uploads share.
    pub fn budget(&self) -> &UploadBudget {
        &self.budget
    }

    pub(super) fn location(&self, blob: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(blob)
        } else {
            Path::from(format!("{}/{blob}", self.prefix))
        }
    }

    /// The bytes of `blob`, all of them or one range already checked against its length.
    pub async fn read(&self, blob: &str, range: Option<ByteRange>) -> SubsystemResult<ByteStream> {
        let options = GetOptions {
            range: range.map(|r| GetRange::Bounded(r.start..r.end + 1)),
            ..GetOptions::default()
        };
        let location = self.location(blob);
        let result =
            deadlines::within(ANSWER, "a GET", self.store.get_opts(&location, options)).await?;
        // Streamed as the store sends it: never a whole object in memory.
        let stream = result
            .into_stream()
            .map_err(|e| std::io::Error::other(store_error(&e).message));
        Ok(Box::pin(Stalling::new(stream, STALL)))
    }

    /// Every object under the prefix, as S3 lists them (a page of up to 1000 at a time,
    /// fetched as the stream is read): the blob's name and when S3 last wrote it, for each
    /// key that is a blob of this mount; keys that are not (see [`Blobs::blob_of`]) are left
    /// out.
    pub fn list(&self) -> BoxStream<'static, SubsystemResult<(String, SystemTime)>> {
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        let own = self.clone();
        self.store
            .list(prefix.as_ref())
            .filter_map(move |meta| {
                let found = match meta {
                    Ok(meta) => own
                        .blob_of(&meta.location)
                        .map(|blob| Ok((blob, SystemTime::from(meta.last_modified)))),
                    Err(e) => Some(Err(store_error(&e))),
                };
                std::future::ready(found)
            })
            .boxed()
    }

    /// The blob a key holds if it is one of this mount's: directly under the prefix (no
    /// further `/`: a key below it belongs to a mount whose prefix is longer, such as `a/b`
    /// beside `a`, or beside a mount at the top of the bucket) and named by a UUID, as every
    /// blob is (`S3Namespace::stage`). Anything else in the bucket is not ours to remove.
    pub fn blob_of(&self, location: &Path) -> Option<String> {
        let mut rest: Vec<_> = if self.prefix.is_empty() {
            location.parts().collect()
        } else {
            location
                .prefix_match(&Path::from(self.prefix.as_str()))?
                .collect()
        };
        let name = rest.pop()?;
        let name = name.as_ref();
        (rest.is_empty() && uuid::Uuid::parse_str(name).is_ok()).then(|| name.to_owned())
    }

    /// The store's own time now: the time it gives a small object written for the purpose
    /// (and removed again). The orphan scan compares objects' times with this rather than
    /// with the database's clock or ours, so that a clock that is off does not make a young
    /// object look old (`orphans.rs`).
    pub async fn clock(&self) -> SubsystemResult<SystemTime> {
        // Not a UUID, so no scan ever takes it for a blob; a name of its own, so that two
        // instances probing at once do not remove each other's.
        let location = self.location(&format!(".davd-clock-{}", uuid::Uuid::new_v4().simple()));
        self.store
            .put(&location, PutPayload::from_static(b"when"))
            .await
            .map_err(|e| store_error(&e))?;
        let meta = self
            .store
            .head(&location)
            .await
            .map_err(|e| store_error(&e))?;
        let _ = self.store.delete(&location).await;
        Ok(SystemTime::from(meta.last_modified))
    }

    /// Writes `bytes` as the object `key` under the prefix, whatever its name: for tests
    /// that leave an object nothing names.
    #[cfg(any(test, feature = "testing"))]
    pub async fn put_raw(&self, key: &str, bytes: &'static [u8]) -> SubsystemResult<()> {
        self.store
            .put(&self.location(key), PutPayload::from_static(bytes))
            .await
            .map(|_| ())
            .map_err(|e| store_error(&e))
    }

    /// Whether the object `key` under the prefix exists.
    #[cfg(any(test, feature = "testing"))]
    pub async fn exists_raw(&self, key: &str) -> SubsystemResult<bool> {
        match self.store.head(&self.location(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_error(&e)),
        }
    }

    /// Removes `blob`; nothing to do if it is gone already.
    pub async fn delete(&self, blob: &str) -> SubsystemResult<()> {
        let location = self.location(blob);
        match tokio::time::timeout(ANSWER, self.store.delete(&location)).await {
            Ok(Ok(()) | Err(object_store::Error::NotFound { .. })) => Ok(()),
            Ok(Err(e)) => Err(store_error(&e)),
            Err(_) => Err(deadlines::silent("a DELETE", ANSWER)),
        }
    }
}

/// A body that could not be read: the same answer every store gives (408 for a stalled
/// client, 400 for one that hung up, the executive's own status for a body it cut off).
pub(super) fn body_error(e: std::io::Error) -> SubsystemError {
    // A body composed from stored content (a partial PUT) fails when the store stops sending:
    // that is the store's doing, not the client's.
    if let Some(silent) = e.get_ref().and_then(|e| e.downcast_ref::<StoreSilent>()) {
        return SubsystemError::unavailable(silent.0.clone());
    }
    SubsystemError::from(e)
}

/// What a failure of the store means for a client: a blob the tree names but the store does
/// not have is a bug (500); everything else may pass (503, the client may retry).
/// The client's answer for a failed call to the store. The store's own message names the
/// endpoint, the bucket, the prefix and the blob: it goes to the log, not to the client.
pub(super) fn store_error(e: &object_store::Error) -> SubsystemError {
    match e {
        object_store::Error::NotFound { path, .. } => {
            tracing::error!(blob = %path, "the object store has no blob the tree names");
            SubsystemError::internal("the object store has lost this resource's content")
        }
        other => {
            tracing::warn!(error = %other, "a call to the object store failed");
            SubsystemError::unavailable("the object store did not answer; try again")
        }
    }
}

/// The content of an opened resource: its blob, read when asked.
pub(super) struct BlobContent {
    pub(super) blobs: Blobs,
    pub(super) blob: String,
    pub(super) len: u64,
}

#[async_trait::async_trait]
impl OpenedContent for BlobContent {
    async fn read(self: Box<Self>, range: Option<ByteRange>) -> SubsystemResult<Body> {
        if self.len == 0 {
            return Ok(Body::Empty);
        }
        if range.is_some_and(|r| r.end >= self.len || r.start > r.end) {
            return Err(SubsystemError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range outside the content",
            ));
        }
        Ok(Body::Stream(self.blobs.read(&self.blob, range).await?))
    }
}
