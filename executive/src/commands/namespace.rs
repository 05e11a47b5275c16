//! Commands over a namespace manager. Each one that changes the namespace flushes it before
//! it returns (`NamespaceManager::flush`), so that what the queue did, or undid, survives a
//! crash of the process before the response leaves or the journal record goes.

use std::sync::Arc;

use async_trait::async_trait;

use davd_protocol::{ByteStream, DavPath};
use davd_registry::{
    Detached, History, NamespaceManager, Shelf, Staged, Subsystems, WriteMode, WriteReceipt,
};

use crate::error::{DavError, DavResult};
use crate::history::{self, Removal};
use crate::intent::Step;
use crate::queue::{Command, Effects};

/// Where the new content comes from.
enum Source {
    /// A body still to be streamed in.
    Body(ByteStream, WriteMode),
    /// Content received earlier, outside the request's latch (see `methods/put.rs`).
    Staged(Staged),
}

/// Writes content into a resource: streams a body, or publishes staged content. Undo: restore
/// the replaced content, or remove a resource the write created. Commit: forget the replaced
/// content. Abandon (never executed): discard the staged content.
pub struct WriteContent {
    namespace: Arc<dyn NamespaceManager>,
    /// Path relative to the namespace's scope.
    path: DavPath,
    source: Option<Source>,
    receipt: Option<WriteReceipt>,
    /// The journal step, in a journaled queue.
    step: Option<Step>,
    /// Where the replaced content goes at commit, if the mount keeps history.
    history: Option<History>,
    /// The version made of the old content before the write, where the area keeps the
    /// current content ([`history::keep_current`]).
    kept_before: Option<davd_registry::Kept>,
}

impl WriteContent {
    pub fn new(
        namespace: Arc<dyn NamespaceManager>,
        path: DavPath,
        body: ByteStream,
        mode: WriteMode,
    ) -> Self {
        WriteContent {
            namespace,
            path,
            source: Some(Source::Body(body, mode)),
            receipt: None,
            step: None,
            history: None,
            kept_before: None,
        }
    }

    /// Keeps the replaced content as a version of the path when the mount keeps history
    /// (`crate::history`).
    pub fn keeping_history(mut self, history: Option<History>) -> Self {
        self.history = history;
        self
    }

    /// For a journaled queue: the write goes to the request path `path`, where a resource
    /// `existed` or not (under the request's latch). A new resource is written down as
    /// created, for recovery to remove; a replaced one's old content is kept under a tag the
    /// journal writes down, for recovery to put back.
    pub fn journaled(mut self, path: &DavPath, existed: bool) -> Self {
        self.step = match (&mut self.source, existed) {
            (_, false) => Some(Step::Create { path: path.clone() }),
            (Some(Source::Staged(staged)), true) => {
                let tag = uuid::Uuid::new_v4().to_string();
                staged.backup_tag = Some(tag.clone());
                Some(Step::Detach {
                    path: path.clone(),
                    tag,
                })
            }
            _ => None,
        };
        self
    }

    /// Publishes content staged with `NamespaceManager::stage`.
    pub fn staged(namespace: Arc<dyn NamespaceManager>, staged: Staged) -> Self {
        WriteContent {
            namespace,
            path: staged.path.clone(),
            source: Some(Source::Staged(staged)),
            receipt: None,
            step: None,
            history: None,
            kept_before: None,
        }
    }
}

impl WriteContent {
    /// Writes or publishes the content at `respelled` (the path as stored).
    async fn write(
        &mut self,
        respelled: davd_registry::SubsystemResult<DavPath>,
    ) -> DavResult<WriteReceipt> {
        let receipt = match (self.source.take(), respelled) {
            (Some(Source::Body(body, mode)), Ok(path)) => {
                self.path = path;
                self.namespace.write(&self.path, body, mode).await?
            }
            (Some(Source::Staged(mut staged)), Ok(path)) => {
                self.path = path;
                staged.path = self.path.clone();
                self.namespace.publish(staged).await?
            }
            (Some(Source::Staged(staged)), Err(e)) => {
                let _ = self.namespace.discard(staged).await;
                return Err(e.into());
            }
            (Some(Source::Body(..)), Err(e)) => return Err(e.into()),
            (None, _) => return Err(DavError::internal("the content was already written")),
        };
        Ok(receipt)
    }

    /// Removes the version made before a write that did not happen (or was undone): it
    /// would duplicate the content that stays.
    async fn forget_kept_before(&mut self) {
        if let (Some(kept), Some(before)) = (&self.history, self.kept_before.take()) {
            let _ = kept.area.remove(Shelf::Versions, &before.at).await;
        }
    }
}

#[async_trait]
impl Command for WriteContent {
    fn describe(&self) -> String {
        format!("write content of {}", self.path)
    }

    fn step(&self) -> Option<Step> {
        self.step.clone()
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        // A name stored in NFD by another program is written under that spelling (no twin).
        let respelled = self.namespace.stored_spelling(&self.path).await;
        // The old content becomes a version first, where that needs no journal; a segment
        // write changes the file in place and keeps none.
        let replaces = matches!(
            self.source,
            Some(Source::Staged(_) | Source::Body(_, WriteMode::Replace))
        );
        if let (Some(kept), true, Ok(path)) = (&self.history, replaces, &respelled)
            && kept.area.keeps_current()
        {
            self.kept_before = history::keep_current(kept, path).await?;
        }
        let mut receipt = match self.write(respelled).await {
            Ok(receipt) => receipt,
            Err(e) => {
                self.forget_kept_before().await;
                return Err(e);
            }
        };
        // Pruning is housekeeping: the write has happened (and, as a queue's last step, has
        // nothing kept to undo it with), so a failure to prune is logged, not answered.
        if let (Some(kept), Some(before)) = (&self.history, &self.kept_before)
            && let Err(e) = history::pruned(kept, &self.path, before).await
        {
            tracing::warn!(path = %self.path, error = %e, "could not prune old versions");
        }
        effects.created |= receipt.created;
        effects.meta = Some(receipt.meta.clone());
        effects.replaced.extend(receipt.replaced.take());
        self.receipt = Some(receipt);
        Ok(self.namespace.flush().await?)
    }

    async fn undo(&mut self) -> DavResult<()> {
        self.forget_kept_before().await;
        match self.receipt.take() {
            Some(WriteReceipt {
                previous: Some(previous),
                ..
            }) => {
                self.namespace.restore(previous).await?;
            }
            Some(WriteReceipt { created: true, .. }) => {
                let tag = uuid::Uuid::new_v4().to_string();
                let new = self.namespace.detach(&self.path, &tag).await?;
                self.namespace.purge(new).await?;
            }
            _ => {}
        }
        Ok(self.namespace.flush().await?)
    }

    async fn commit(&mut self) -> DavResult<()> {
        if let Some(previous) = self.receipt.as_mut().and_then(|r| r.previous.take()) {
            match &self.history {
                // Its version was made before the write.
                Some(_) if self.kept_before.is_some() => self.namespace.purge(previous).await?,
                Some(kept) => {
                    let replaced = Removal::Replaced { collection: false };
                    history::keep(
                        kept,
                        self.namespace.as_ref(),
                        previous,
                        &self.path,
                        replaced,
                    )
                    .await?;
                }
                None => self.namespace.purge(previous).await?,
            }
        }
        Ok(())
    }

    fn final_step(&mut self) {
        // The replaced content is needed after all when it becomes a version at commit.
        if self
            .history
            .as_ref()
            .is_some_and(|kept| !kept.area.keeps_current())
        {
            return;
        }
        if let Some(Source::Staged(staged)) = &mut self.source {
            staged.keep_previous = false;
        }
    }

    async fn abandon(&mut self) {
        if let Some(Source::Staged(staged)) = self.source.take() {
            let _ = self.namespace.discard(staged).await;
        }
    }
}

/// Creates an empty collection. Undo: removes it.
pub struct CreateCollection {
    namespace: Arc<dyn NamespaceManager>,
    path: DavPath,
}

impl CreateCollection {
    pub fn new(namespace: Arc<dyn NamespaceManager>, path: DavPath) -> Self {
        CreateCollection { namespace, path }
    }
}

#[async_trait]
impl Command for CreateCollection {
    fn describe(&self) -> String {
        format!("create collection {}", self.path)
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        self.namespace.create_collection(&self.path).await?;
        effects.created = true;
        Ok(self.namespace.flush().await?)
    }

    async fn undo(&mut self) -> DavResult<()> {
        let tag = uuid::Uuid::new_v4().to_string();
        let detached = self.namespace.detach(&self.path, &tag).await?;
        self.namespace.purge(detached).await?;
        Ok(self.namespace.flush().await?)
    }
}

/// Removes a resource and its subtree from the namespace, reversibly: it is kept aside under
/// a fresh tag, which the journal writes down first. Undo: puts it back. Commit: purges it
/// for good.
pub struct Detach {
    namespace: Arc<dyn NamespaceManager>,
    /// The request path (for the journal) and the path within the namespace.
    path: DavPath,
    relative: DavPath,
    tag: String,
    detached: Option<Detached>,
    /// Where the removed resource goes at commit, if the mount keeps history, and why it was
    /// removed.
    history: Option<(History, Removing)>,
    /// Whether the removed resource was a collection (known once executed, with history).
    collection: bool,
}

/// Why a [`Detach`] removes a resource, for the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removing {
    /// A DELETE: to the trash.
    Deleted,
    /// A COPY or MOVE onto it: a file becomes a version, a collection goes to the trash.
    Replaced,
}

impl Detach {
    pub fn new(subsystems: &Subsystems, path: &DavPath) -> Self {
        Detach {
            namespace: subsystems.namespace.clone(),
            path: path.clone(),
            relative: subsystems.relative(path),
            tag: uuid::Uuid::new_v4().to_string(),
            detached: None,
            history: None,
            collection: false,
        }
    }

    /// Keeps the removed resource in the mount's history, if it keeps one; `Detach::new`
    /// alone purges it (a MOVE's source, which lives on at its destination).
    pub fn keeping_history(mut self, subsystems: &Subsystems, why: Removing) -> Self {
        self.history = subsystems.history.clone().map(|h| (h, why));
        self
    }
}

#[async_trait]
impl Command for Detach {
    fn describe(&self) -> String {
        format!("detach {}", self.path)
    }

    fn step(&self) -> Option<Step> {
        Some(Step::Detach {
            path: self.path.clone(),
            tag: self.tag.clone(),
        })
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        if self.history.is_some() {
            self.collection = self
                .namespace
                .stat(&self.relative)
                .await?
                .is_some_and(|m| m.collection);
        }
        self.detached = Some(self.namespace.detach(&self.relative, &self.tag).await?);
        Ok(self.namespace.flush().await?)
    }

    async fn undo(&mut self) -> DavResult<()> {
        if let Some(detached) = self.detached.take() {
            self.namespace.restore(detached).await?;
            self.namespace.flush().await?;
        }
        Ok(())
    }

    async fn commit(&mut self) -> DavResult<()> {
        let Some(detached) = self.detached.take() else {
            return Ok(());
        };
        match &self.history {
            Some((kept, why)) => {
                let removal = match why {
                    Removing::Deleted => Removal::Deleted,
                    Removing::Replaced => Removal::Replaced {
                        collection: self.collection,
                    },
                };
                let namespace = self.namespace.as_ref();
                history::keep(kept, namespace, detached, &self.relative, removal).await?;
            }
            None => self.namespace.purge(detached).await?,
        }
        Ok(())
    }
}

/// Moves a subtree within one namespace (a native rename). Undo: moves it back.
pub struct Rename {
    namespace: Arc<dyn NamespaceManager>,
    /// Request paths (for the journal) and paths within the namespace.
    from: DavPath,
    to: DavPath,
    from_relative: DavPath,
    to_relative: DavPath,
}

impl Rename {
    /// `subsystems` serve both paths (one namespace).
    pub fn new(subsystems: &Subsystems, from: &DavPath, to: &DavPath) -> Self {
        Rename {
            namespace: subsystems.namespace.clone(),
            from: from.clone(),
            to: to.clone(),
            from_relative: subsystems.relative(from),
            to_relative: subsystems.relative(to),
        }
    }
}

#[async_trait]
impl Command for Rename {
    fn describe(&self) -> String {
        format!("rename {} to {}", self.from, self.to)
    }

    fn step(&self) -> Option<Step> {
        Some(Step::Rename {
            from: self.from.clone(),
            to: self.to.clone(),
        })
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        self.namespace
            .rename(&self.from_relative, &self.to_relative)
            .await?;
        Ok(self.namespace.flush().await?)
    }

    async fn undo(&mut self) -> DavResult<()> {
        self.namespace
            .rename(&self.to_relative, &self.from_relative)
            .await?;
        Ok(self.namespace.flush().await?)
    }
}

/// Makes a subtree durable against a power cut (`NamespaceManager::sync`): a MOVE between two
/// stores runs it on the copy before the source is detached, whatever `--fsync` says, so the
/// source never goes before its copy is safe. Nothing to undo.
pub struct SyncTree {
    namespace: Arc<dyn NamespaceManager>,
    path: DavPath,
    relative: DavPath,
}

impl SyncTree {
    pub fn new(subsystems: &Subsystems, path: &DavPath) -> Self {
        SyncTree {
            namespace: subsystems.namespace.clone(),
            path: path.clone(),
            relative: subsystems.relative(path),
        }
    }
}

#[async_trait]
impl Command for SyncTree {
    fn describe(&self) -> String {
        format!("sync {} to disk", self.path)
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        Ok(self.namespace.sync(&self.relative).await?)
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}
