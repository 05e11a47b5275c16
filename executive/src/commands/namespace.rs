//! Commands over a namespace manager.

use std::sync::Arc;

use async_trait::async_trait;

use davd_protocol::{ByteStream, DavPath};
use davd_registry::{Detached, NamespaceManager, WriteMode, WriteReceipt};

use crate::error::{DavError, DavResult};
use crate::queue::{Command, Effects};

/// Streams a body into a resource. Undo: restore the replaced content, or remove a resource
/// the write created. Commit: forget the replaced content.
pub struct WriteContent {
    namespace: Arc<dyn NamespaceManager>,
    /// Path relative to the namespace's scope.
    path: DavPath,
    body: Option<ByteStream>,
    mode: WriteMode,
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
            body: Some(body),
            mode,
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
        let body = self
            .body
            .take()
            .ok_or_else(|| DavError::internal("the body was already consumed"))?;
        // A name stored in NFD by another program is written under that spelling (no twin).
        self.path = self.namespace.stored_spelling(&self.path).await?;
        let receipt = self.namespace.write(&self.path, body, self.mode).await?;
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
