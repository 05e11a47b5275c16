//! Commands over a namespace manager.

use std::sync::Arc;

use async_trait::async_trait;

use davd_protocol::{ByteStream, DavPath};
use davd_registry::{Detached, NamespaceManager, Staged, WriteMode, WriteReceipt};

use crate::error::{DavError, DavResult};
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
        }
    }

    /// Publishes content staged with `NamespaceManager::stage`.
    pub fn staged(namespace: Arc<dyn NamespaceManager>, staged: Staged) -> Self {
        WriteContent {
            namespace,
            path: staged.path.clone(),
            source: Some(Source::Staged(staged)),
            receipt: None,
        }
    }
}

#[async_trait]
impl Command for WriteContent {
    fn describe(&self) -> String {
        format!("write content of {}", self.path)
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        // A name stored in NFD by another program is written under that spelling (no twin).
        let respelled = self.namespace.stored_spelling(&self.path).await;
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
        effects.created |= receipt.created;
        effects.meta = Some(receipt.meta.clone());
        self.receipt = Some(receipt);
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        match self.receipt.take() {
            Some(WriteReceipt {
                previous: Some(previous),
                ..
            }) => {
                self.namespace.restore(previous).await?;
            }
            Some(WriteReceipt { created: true, .. }) => {
                let new = self.namespace.detach(&self.path).await?;
                self.namespace.purge(new).await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn commit(&mut self) -> DavResult<()> {
        if let Some(previous) = self.receipt.as_mut().and_then(|r| r.previous.take()) {
            self.namespace.purge(previous).await?;
        }
        Ok(())
    }

    fn final_step(&mut self) {
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
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        let detached = self.namespace.detach(&self.path).await?;
        Ok(self.namespace.purge(detached).await?)
    }
}

/// Removes a resource and its subtree from the namespace, reversibly. Undo: puts it back.
/// Commit: purges it for good.
pub struct Detach {
    namespace: Arc<dyn NamespaceManager>,
    path: DavPath,
    detached: Option<Detached>,
}

impl Detach {
    pub fn new(namespace: Arc<dyn NamespaceManager>, path: DavPath) -> Self {
        Detach {
            namespace,
            path,
            detached: None,
        }
    }
}

#[async_trait]
impl Command for Detach {
    fn describe(&self) -> String {
        format!("detach {}", self.path)
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        self.detached = Some(self.namespace.detach(&self.path).await?);
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        if let Some(detached) = self.detached.take() {
            self.namespace.restore(detached).await?;
        }
        Ok(())
    }

    async fn commit(&mut self) -> DavResult<()> {
        if let Some(detached) = self.detached.take() {
            self.namespace.purge(detached).await?;
        }
        Ok(())
    }
}

/// Moves a subtree within one namespace (a native rename). Undo: moves it back.
pub struct Rename {
    namespace: Arc<dyn NamespaceManager>,
    from: DavPath,
    to: DavPath,
}

impl Rename {
    pub fn new(namespace: Arc<dyn NamespaceManager>, from: DavPath, to: DavPath) -> Self {
        Rename {
            namespace,
            from,
            to,
        }
    }
}

#[async_trait]
impl Command for Rename {
    fn describe(&self) -> String {
        format!("rename {} to {}", self.from, self.to)
    }

    async fn execute(&mut self, _: &mut Effects) -> DavResult<()> {
        Ok(self.namespace.rename(&self.from, &self.to).await?)
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(self.namespace.rename(&self.to, &self.from).await?)
    }
}
