//! Setting a resource's modification time to the one its client asked for: ownCloud's
//! `X-OC-Mtime` on PUT and MKCOL, Windows' `Win32LastModifiedTime` in a PROPPATCH. One command
//! for both, so that both end in the same stored time (`NamespaceManager::set_modified`).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use http::StatusCode;

use davd_protocol::DavPath;
use davd_registry::{NamespaceManager, Subsystems};

use crate::error::DavResult;
use crate::queue::{Command, Effects};

/// Gives the resource the client's modification time, and puts the new metadata (its entity
/// tag changed with the time) into the effects, for the answer's `ETag` and for a
/// `RecordDocument` after it. A store that keeps no times of its own (501) leaves the time
/// alone: the request still succeeds, without saying the time was accepted. Undo: the
/// previous time.
pub struct SetModified {
    namespace: Arc<dyn NamespaceManager>,
    /// Path relative to the namespace's scope.
    path: DavPath,
    modified: SystemTime,
    previous: Option<SystemTime>,
}

impl SetModified {
    /// For `path` (a full request path) in the namespace of `subsystems`.
    pub fn new(subsystems: &Subsystems, path: &DavPath, modified: SystemTime) -> Self {
        SetModified {
            namespace: subsystems.namespace.clone(),
            path: subsystems.relative(path),
            modified,
            previous: None,
        }
    }
}

#[async_trait]
impl Command for SetModified {
    fn describe(&self) -> String {
        format!("set the modification time of {}", self.path)
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        // A name stored in NFD by another program is the one the write before went to.
        let path = self.namespace.stored_spelling(&self.path).await?;
        self.path = path;
        match self.namespace.set_modified(&self.path, self.modified).await {
            Ok(previous) => self.previous = Some(previous),
            Err(e) if e.status == StatusCode::NOT_IMPLEMENTED => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        effects.modified_set = true;
        if let Some(meta) = self.namespace.stat(&self.path).await? {
            effects.meta = Some(meta);
        }
        Ok(self.namespace.flush().await?)
    }

    async fn undo(&mut self) -> DavResult<()> {
        if let Some(previous) = self.previous.take() {
            self.namespace.set_modified(&self.path, previous).await?;
            self.namespace.flush().await?;
        }
        Ok(())
    }
}
