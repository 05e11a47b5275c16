//! Copying a tree, possibly between two namespace managers.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::{StreamExt, stream};

use davd_protocol::{Body, ByteStream, DavPath};
use davd_registry::{
    NamespaceManager, PropChange, PropertyManager, PropsByPath, WriteMode, document_prop_name,
};

use crate::error::{DavError, DavResult};
use crate::failpoint;
use crate::intent::Step;
use crate::queue::{Command, Effects};

/// One resource to copy.
pub struct CopyItem {
    pub source: DavPath,
    pub destination: DavPath,
    pub collection: bool,
    pub source_namespace: Arc<dyn NamespaceManager>,
    pub source_relative: DavPath,
    pub destination_namespace: Arc<dyn NamespaceManager>,
    pub destination_relative: DavPath,
}

impl CopyItem {
    async fn copy(&self) -> DavResult<()> {
        if self.collection {
            return Ok(self
                .destination_namespace
                .create_collection(&self.destination_relative)
                .await?);
        }
        if Arc::ptr_eq(&self.source_namespace, &self.destination_namespace) {
            return Ok(self
                .source_namespace
                .copy_file(&self.source_relative, &self.destination_relative)
                .await?);
        }
        // Between two stores: stream the content across.
        let opened = self.source_namespace.open(&self.source_relative).await?;
        let body: ByteStream = match opened.content.read(None).await? {
            Body::Empty => stream::empty().boxed(),
            Body::Full(bytes) => stream::once(async move { Ok(bytes) }).boxed(),
            Body::Stream(s) => s,
        };
        self.destination_namespace
            .write(&self.destination_relative, body, WriteMode::Replace)
            .await?;
        Ok(())
    }

    /// A new document record for the copy, with the entity tag its content has now (so the
    /// version stays 1 until the content changes). A store that cannot say leaves it empty.
    async fn new_document(&self, principal: &Option<String>) -> davd_registry::StoredProp {
        let etag = match self.collection {
            true => String::new(),
            false => match self
                .destination_namespace
                .stat(&self.destination_relative)
                .await
            {
                Ok(Some(meta)) => meta.etag,
                _ => String::new(),
            },
        };
        crate::ms::docid::new_document(etag, principal.clone()).to_prop()
    }
}

/// Copies a resource and (for Depth infinity) its members, then declares their dead
/// properties for the destination's store (applied at the queue's commit point).
///
/// Failure policy, as RFC 4918 §9.8.8 asks for COPY: if the request's own resource cannot be
/// copied the command fails (and the queue rolls back); if a member fails, its own members are
/// skipped, the failure is reported in [`Effects::member_failures`] for a 207, and the rest is
/// copied. With `strict` (used by MOVE between scopes, which deletes the source afterwards) any
/// failure fails the whole command, and so does a member that finds the disk full (507) or
/// its store gone (503). Undo removes everything the copy created; so does
/// recovery after a crash (its journal step is `Create` of the destination, which nothing
/// occupies: an overwritten destination was detached first).
pub struct CopyTree {
    items: Vec<CopyItem>,
    source_properties: Arc<dyn PropertyManager>,
    destination_properties: Arc<dyn PropertyManager>,
    /// Copy the properties of members too (Depth infinity).
    deep: bool,
    strict: bool,
    /// Properties not carried over (they identify the original resource).
    excluded: Vec<davd_protocol::PropName>,
    /// Give every copy a new document record, made by this principal (COPY; a MOVE keeps the
    /// records it carries).
    new_documents: Option<Option<String>>,
    created_root: bool,
}

impl CopyTree {
    pub fn new(
        items: Vec<CopyItem>,
        source_properties: Arc<dyn PropertyManager>,
        destination_properties: Arc<dyn PropertyManager>,
        deep: bool,
        strict: bool,
    ) -> Self {
        CopyTree {
            items,
            source_properties,
            destination_properties,
            deep,
            strict,
            excluded: Vec::new(),
            new_documents: None,
            created_root: false,
        }
    }

    /// Leaves the originals' document records behind and records a new document (a new id,
    /// version 1) for every resource copied: RFC 4918 makes a COPY a new resource.
    pub fn with_new_documents(mut self, principal: Option<String>) -> Self {
        self.excluded.push(document_prop_name());
        self.new_documents = Some(principal);
        self
    }

    fn root(&self) -> DavResult<&CopyItem> {
        self.items
            .first()
            .ok_or_else(|| DavError::internal("nothing to copy"))
    }

    /// Flushes every namespace the copy wrote to, once (not once per member).
    async fn flush_destinations(&self) -> DavResult<()> {
        let mut flushed: Vec<&Arc<dyn NamespaceManager>> = Vec::new();
        for item in &self.items {
            if !flushed
                .iter()
                .any(|n| Arc::ptr_eq(n, &item.destination_namespace))
            {
                item.destination_namespace.flush().await?;
                flushed.push(&item.destination_namespace);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Command for CopyTree {
    fn describe(&self) -> String {
        match self.items.first() {
            Some(root) => format!("copy {} to {}", root.source, root.destination),
            None => "copy nothing".into(),
        }
    }

    fn step(&self) -> Option<Step> {
        self.items.first().map(|root| Step::Create {
            path: root.destination.clone(),
        })
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        let mut failed: Vec<DavPath> = Vec::new();
        let mut copied: Vec<(DavPath, DavPath)> = Vec::new();
        let mut documents: PropsByPath = Vec::new();
        let half = self.items.len() / 2;
        for (index, item) in self.items.iter().enumerate() {
            if let Some(label) = effects.label {
                if index == 1 {
                    failpoint::boundary(label, "copied-1");
                }
                if index == half && half > 1 {
                    failpoint::boundary(label, "copied-half");
                }
            }
            if failed.iter().any(|f| item.source.is_within(f)) {
                continue;
            }
            match item.copy().await {
                Ok(()) => {
                    if index == 0 {
                        self.created_root = true;
                    }
                    copied.push((item.source.clone(), item.destination.clone()));
                    if let Some(principal) = &self.new_documents {
                        documents
                            .push((item.destination.clone(), item.new_document(principal).await));
                    }
                }
                Err(e) if index == 0 => return Err(e),
                // A full disk fails every member after this one too, and what was copied
                // would only hold the room others need: the whole copy fails (507) and is
                // removed rather than answered 207 with a partial tree left behind. A store
                // that went away (503: an object store or a database unreachable) is the
                // same: every later member would fail, and the client is told to send the
                // request again, which it could not do over a partial tree without
                // Overwrite.
                Err(e)
                    if self.strict
                        || e.status == http::StatusCode::INSUFFICIENT_STORAGE
                        || e.status == http::StatusCode::SERVICE_UNAVAILABLE =>
                {
                    self.undo().await?;
                    return Err(e);
                }
                Err(e) => {
                    failed.push(item.source.clone());
                    effects.member_failures.push((item.destination.clone(), e));
                }
            }
        }
        let root = self.root()?;
        let (source_root, destination_root) = (root.source.clone(), root.destination.clone());
        let props = if self.deep {
            self.source_properties.get_tree(&source_root).await?
        } else {
            self.source_properties
                .get_all(&source_root)
                .await?
                .into_iter()
                .map(|p| (source_root.clone(), p))
                .collect()
        };
        let copied: std::collections::HashSet<&DavPath> = copied.iter().map(|(s, _)| s).collect();
        let mut rebased: PropsByPath = props
            .into_iter()
            .filter(|(_, p)| !self.excluded.contains(&p.name))
            .filter(|(path, _)| copied.contains(path))
            .filter_map(|(path, p)| path.rebase(&source_root, &destination_root).map(|d| (d, p)))
            .collect();
        rebased.extend(documents);
        for (path, prop) in rebased {
            effects.state.props(
                &self.destination_properties,
                &destination_root,
                PropChange::Set { path, prop },
            );
        }
        self.flush_destinations().await?;
        effects.created = true;
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        if !self.created_root {
            return Ok(());
        }
        let root = self.root()?;
        let tag = uuid::Uuid::new_v4().to_string();
        let detached = root
            .destination_namespace
            .detach(&root.destination_relative, &tag)
            .await?;
        root.destination_namespace.purge(detached).await?;
        self.flush_destinations().await?;
        self.created_root = false;
        Ok(())
    }
}
