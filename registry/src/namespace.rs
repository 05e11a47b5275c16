//! The namespace manager contract: where resources live and how their bytes move.

use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use futures_core::Stream;

use davd_protocol::headers::ByteRange;
use davd_protocol::{Body, ByteStream, DavPath};

use crate::error::{SubsystemError, SubsystemResult};
use crate::resource::{Member, ResourceMeta};

fn read_only() -> SubsystemError {
    SubsystemError::forbidden("this part of the server is read-only")
}

/// Members of a collection, delivered in batches so that a huge collection can be streamed.
pub type MemberStream = Pin<Box<dyn Stream<Item = SubsystemResult<Vec<Member>>> + Send>>;

/// How a write treats the existing content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace the whole content atomically: a reader sees the old bytes or the new ones,
    /// never a mix, and the old content is kept aside until the queue commits.
    Replace,
    /// Write the body at `offset` into the existing content (resumable upload). Not reversible.
    Segment { offset: u64, total: Option<u64> },
}

/// A removed resource (or subtree) kept aside so that the removal can be undone until commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detached {
    /// Where it was.
    pub path: DavPath,
    /// The manager's own handle for it (a trash file name, a key...).
    pub handle: String,
}

/// Content received into a staging area and not yet visible at its path.
///
/// Staging lets the executive stream a request body while holding no latch, and then publish
/// it in a short critical section (docs/adr/0012-staged-uploads.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// Where it will be published.
    pub path: DavPath,
    /// The manager's own handle for it (a staging file, a content id...).
    pub handle: String,
    /// Bytes received.
    pub len: u64,
    /// The metadata the content will have once published, when the manager knows it already.
    pub meta: Option<ResourceMeta>,
    /// Keep the replaced content for undo (the default). The last command of a queue is never
    /// undone, so when publishing is last the executive clears this and the manager may skip
    /// the backup.
    pub keep_previous: bool,
    /// The handle to keep the replaced content under, when the executive chose it (a
    /// journaled queue writes it down first, so that recovery can put the old content back
    /// after a crash, as with [`NamespaceManager::detach`]'s tag). `None`: the manager names
    /// it.
    pub backup_tag: Option<String>,
    /// The content itself, for managers that rely on the default staging (which keeps it in
    /// memory and publishes it with [`NamespaceManager::write`]).
    pub buffered: Option<bytes::Bytes>,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReceipt {
    /// The resource did not exist before.
    pub created: bool,
    /// The replaced content, kept for undo; `None` for new resources and segment writes.
    pub previous: Option<Detached>,
    /// Metadata after the write.
    pub meta: ResourceMeta,
    /// What the manager still holds of the content the write replaced without keeping it
    /// (no undo wanted): dropped by the request after its latches are released.
    pub replaced: Option<Replaced>,
}

/// The content a write replaced, held by its manager until the request drops this. The fs
/// store holds the old file open: the kernel frees an unlinked file's pages and blocks (the
/// larger part of a `rename` over it, docs/performance.md) when the last reference goes, and
/// that is then after the path's latch, not inside the publish every writer of the path
/// queues for.
#[derive(Clone)]
pub struct Replaced(
    #[allow(dead_code, reason = "never read: holding it is its whole job")]
    std::sync::Arc<dyn Send + Sync>,
);

impl Replaced {
    /// Holds `what` until the last clone of this is dropped.
    pub fn new(what: impl Send + Sync + 'static) -> Replaced {
        Replaced(std::sync::Arc::new(what))
    }
}

impl std::fmt::Debug for Replaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Replaced(..)")
    }
}

/// The same hold (a clone of it), not merely content that looks alike.
impl PartialEq for Replaced {
    fn eq(&self, other: &Replaced) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Replaced {}

/// An opened resource: metadata taken from the same handle the content will be read from, so
/// the entity tag always describes the bytes that are sent.
pub struct Opened {
    pub meta: ResourceMeta,
    pub content: Box<dyn OpenedContent>,
}

/// The content of an [`Opened`] resource.
#[async_trait]
pub trait OpenedContent: Send {
    /// Reads all of it, or one range already checked against `meta.len`.
    async fn read(self: Box<Self>, range: Option<ByteRange>) -> SubsystemResult<Body>;
}

/// What [`NamespaceManager::listing_version`] returns: opaque, compared only for equality,
/// and only with versions of the same path from the same namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingVersion(pub Vec<u64>);

/// Maps paths within one URL scope to stored resources.
///
/// Paths given to a namespace manager are relative to its scope: the manager mounted at `/db`
/// sees `/db/a` as `/a`. A manager never reaches outside its own store, whatever the path.
#[async_trait]
pub trait NamespaceManager: Send + Sync {
    /// A short name for logs: `fs`, `memory`, `sled`...
    fn kind(&self) -> &'static str;

    /// False for a namespace that starts empty at every start (memory): recovery then removes
    /// whatever properties and locks a store that does survive still keeps at its paths, so
    /// that new resources there do not inherit them (docs/durability.md).
    fn survives_restart(&self) -> bool {
        true
    }

    /// Metadata, or `None` if nothing is mapped at `path`.
    async fn stat(&self, path: &DavPath) -> SubsystemResult<Option<ResourceMeta>>;

    /// The members of the collection at `path`, with their metadata.
    async fn list(&self, path: &DavPath) -> SubsystemResult<MemberStream>;

    /// Opens a non-collection resource for reading.
    async fn open(&self, path: &DavPath) -> SubsystemResult<Opened>;

    /// A version of the listing of the collection at `path`: two calls return equal versions
    /// only if nothing the listing shows changed between them (no member added, removed or
    /// renamed, no member's metadata changed, the collection itself still the same one). The
    /// executive renders a listing again only when its version moved (docs/performance.md,
    /// "The listing cache"). `None`, the default, means "cannot tell": every listing is
    /// rendered anew. A namespace that other writers share without telling it (a network
    /// file system) must answer `None`.
    async fn listing_version(&self, _path: &DavPath) -> SubsystemResult<Option<ListingVersion>> {
        Ok(None)
    }

    /// The path under which the resource at `path` is stored, for stores that may hold a name
    /// in another Unicode normalisation form than the NFC the protocol layer delivers (a file
    /// system that other programs write to). The executive asks before writing, so that a
    /// write replaces the stored resource instead of creating a twin spelt differently.
    /// Default: `path` itself.
    async fn stored_spelling(&self, path: &DavPath) -> SubsystemResult<DavPath> {
        Ok(path.clone())
    }

    /// True if the collection at `path` is one of its own ancestors, reached again through a
    /// symbolic link (or a bind mount) that points back up the tree: a walk that descended
    /// into it would never end. The executive asks before a `Depth: infinity` walk descends
    /// into a collection and refuses what would loop (508 Loop Detected). Default: a store
    /// without links has no cycles.
    async fn revisits_ancestor(&self, _path: &DavPath) -> SubsystemResult<bool> {
        Ok(false)
    }

    /// Streams `body` into the resource at `path` (whose parent collection must exist).
    ///
    /// This and the other changing methods default to 403 so that a read-only namespace needs
    /// to implement only `stat`, `list` and `open`.
    async fn write(
        &self,
        _path: &DavPath,
        _body: ByteStream,
        _mode: WriteMode,
    ) -> SubsystemResult<WriteReceipt> {
        Err(read_only())
    }

    /// Receives `body` into a staging area for `path`; nothing is visible yet. The parent need
    /// not exist: [`NamespaceManager::publish`] checks.
    ///
    /// The default keeps the body in memory and publishes it with `write`; a manager whose
    /// resources can be large should stage to its own storage instead (all of davd's do).
    async fn stage(&self, path: &DavPath, mut body: ByteStream) -> SubsystemResult<Staged> {
        use futures_util::StreamExt;
        let mut buffer = bytes::BytesMut::new();
        while let Some(chunk) = body.next().await {
            buffer.extend_from_slice(&chunk?);
        }
        Ok(Staged {
            path: path.clone(),
            handle: String::new(),
            len: buffer.len() as u64,
            meta: None,
            keep_previous: true,
            backup_tag: None,
            buffered: Some(buffer.freeze()),
        })
    }

    /// Makes staged content the content of its path, replacing what was there atomically and
    /// keeping the old content in the receipt for undo. 409 if the parent is not a collection,
    /// 405 if the path is one.
    async fn publish(&self, staged: Staged) -> SubsystemResult<WriteReceipt> {
        let bytes = staged.buffered.unwrap_or_default();
        let body: ByteStream = Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
        self.write(&staged.path, body, WriteMode::Replace).await
    }

    /// Forgets staged content that will not be published.
    async fn discard(&self, _staged: Staged) -> SubsystemResult<()> {
        Ok(())
    }

    /// Creates an empty collection. Fails with 405 if something exists, 409 without a parent.
    async fn create_collection(&self, _path: &DavPath) -> SubsystemResult<()> {
        Err(read_only())
    }

    /// Removes the resource (with its whole subtree) from the namespace, keeping it aside
    /// under the handle `tag`: the returned [`Detached::handle`] is `tag` itself.
    ///
    /// `tag` is unique (the executive passes a fresh UUID) and chosen by the caller so that
    /// after a crash the executive's journal, which wrote the tag down before calling, can
    /// find the detached resource again to restore or purge it
    /// (docs/adr/0017-crash-safety.md). A detached resource must survive a crash of the
    /// process until [`NamespaceManager::discard_leftovers`] runs.
    async fn detach(&self, _path: &DavPath, _tag: &str) -> SubsystemResult<Detached> {
        Err(read_only())
    }

    /// Puts a detached resource back where it was, replacing whatever is there now. 404, with
    /// nothing changed, if no resource is detached under that handle (recovery replays
    /// restores whose effect it cannot know).
    async fn restore(&self, _detached: Detached) -> SubsystemResult<()> {
        Err(read_only())
    }

    /// True if a resource is detached under `handle` (not yet restored or purged). Recovery
    /// asks to tell whether a detach it planned happened before the crash; a manager that
    /// implements `detach` must answer it.
    async fn is_detached(&self, _handle: &str) -> SubsystemResult<bool> {
        Ok(false)
    }

    /// Forgets a detached resource for good. Succeeds if there is nothing under the handle.
    async fn purge(&self, _detached: Detached) -> SubsystemResult<()> {
        Err(read_only())
    }

    /// Returns once every change made so far would survive a crash of the process. The
    /// executive calls it after each command that changed the namespace, before it answers.
    /// Stores whose changes are in the operating system as soon as they are made (a file
    /// system: a rename is done when the call returns) need nothing here; a database that
    /// buffers writes flushes them.
    async fn flush(&self) -> SubsystemResult<()> {
        Ok(())
    }

    /// Durability barrier: returns once the resource at `path`, its whole subtree and its
    /// membership in its parent would survive a power cut (a file system syncs every file
    /// and directory; a database flushes). A MOVE between two stores calls this on the copy
    /// before it removes the source. The default, for stores with nothing to sync, does
    /// nothing.
    async fn sync(&self, _path: &DavPath) -> SubsystemResult<()> {
        Ok(())
    }

    /// Removes what interrupted requests left behind: staged uploads, backups of replaced
    /// content, detached resources. Called once at startup, after the executive has finished
    /// or undone every interrupted request, so nothing it removes is still needed. Opening a
    /// store must not remove any of it.
    async fn discard_leftovers(&self) -> SubsystemResult<()> {
        Ok(())
    }

    /// Copies one non-collection resource to `to`, which must not exist.
    async fn copy_file(&self, _from: &DavPath, _to: &DavPath) -> SubsystemResult<()> {
        Err(read_only())
    }

    /// Moves a resource with its subtree to `to`, which must not exist. Atomic where the store
    /// allows (a rename on a file system).
    async fn rename(&self, _from: &DavPath, _to: &DavPath) -> SubsystemResult<()> {
        Err(read_only())
    }

    /// Gives the resource at `path` (a file or a collection) the modification time a client
    /// asked for (ownCloud's `X-OC-Mtime`, Windows' `Win32LastModifiedTime`) and returns the
    /// time it had before, which an undo sets back. The entity tag changes with it, as after
    /// any change a client must see. 404 if nothing is there; a store that keeps no times of
    /// its own answers 501 (the default), and the executive then leaves the time alone.
    async fn set_modified(
        &self,
        _path: &DavPath,
        _modified: SystemTime,
    ) -> SubsystemResult<SystemTime> {
        Err(SubsystemError::new(
            http::StatusCode::NOT_IMPLEMENTED,
            "this store cannot set modification times",
        ))
    }

    /// Bytes used and available below `path`, if the store can tell (RFC 4331).
    async fn quota(&self, _path: &DavPath) -> SubsystemResult<Option<(u64, u64)>> {
        Ok(None)
    }

    /// Opens (creating if needed) the area where this store keeps earlier versions and
    /// removed resources (issue 22, docs/history.md). Called once, at startup, for a mount
    /// that keeps history. The default refuses: such a store cannot keep history, and a mount
    /// that asks for it does not start.
    async fn history_area(&self) -> SubsystemResult<std::sync::Arc<dyn crate::HistoryArea>> {
        Err(SubsystemError::new(
            http::StatusCode::NOT_IMPLEMENTED,
            format!("a {} namespace cannot keep history", self.kind()),
        ))
    }
}
