//! The namespace through which a history shelf is browsed (issue 22, docs/history.md). It
//! passes on what reads need. Nothing can be written through it;
//! a trash view also lets resources be removed (a DELETE empties that entry, a MOVE restores
//! it), which a versions view refuses. Every other change answers the contract's default,
//! 403 "this part of the server is read-only", whatever the store below could do.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;

use davd_registry::{
    DavPath, Detached, ListingVersion, MemberStream, NamespaceManager, Opened, ResourceMeta,
    SubsystemError, SubsystemResult,
};

/// A shelf's namespace, as it is served.
pub struct HistoryView {
    inner: Arc<dyn NamespaceManager>,
    /// Resources may be removed (the trash), not only read (the versions).
    removable: bool,
}

impl HistoryView {
    /// A view that only reads.
    pub fn read_only(inner: Arc<dyn NamespaceManager>) -> Self {
        HistoryView {
            inner,
            removable: false,
        }
    }

    /// A view that reads and lets resources be removed.
    pub fn removable(inner: Arc<dyn NamespaceManager>) -> Self {
        HistoryView {
            inner,
            removable: true,
        }
    }

    fn removal(&self) -> SubsystemResult<()> {
        if self.removable {
            Ok(())
        } else {
            Err(SubsystemError::forbidden(
                "versions are read-only: restore one with a COPY onto the live path",
            ))
        }
    }
}

#[async_trait]
impl NamespaceManager for HistoryView {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn survives_restart(&self) -> bool {
        self.inner.survives_restart()
    }

    async fn stat(&self, path: &DavPath) -> SubsystemResult<Option<ResourceMeta>> {
        self.inner.stat(path).await
    }

    async fn list(&self, path: &DavPath) -> SubsystemResult<MemberStream> {
        self.inner.list(path).await
    }

    async fn open(&self, path: &DavPath) -> SubsystemResult<Opened> {
        self.inner.open(path).await
    }

    async fn listing_version(&self, path: &DavPath) -> SubsystemResult<Option<ListingVersion>> {
        self.inner.listing_version(path).await
    }

    async fn stored_spelling(&self, path: &DavPath) -> SubsystemResult<DavPath> {
        self.inner.stored_spelling(path).await
    }

    async fn revisits_ancestor(&self, path: &DavPath) -> SubsystemResult<bool> {
        self.inner.revisits_ancestor(path).await
    }

    /// Used: what the shelf holds below `path` (the space history takes, which is what its
    /// users ask about), summed over a walk of it; available: the store's.
    async fn quota(&self, path: &DavPath) -> SubsystemResult<Option<(u64, u64)>> {
        let available = self.inner.quota(path).await?.map_or(0, |(_, free)| free);
        match self.inner.stat(path).await? {
            Some(meta) if !meta.collection => return Ok(Some((meta.len, available))),
            None => return Ok(None),
            Some(_) => {}
        }
        let mut used = 0u64;
        let mut pending = vec![path.clone()];
        while let Some(collection) = pending.pop() {
            let mut batches = match self.inner.list(&collection).await {
                Ok(batches) => batches,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            while let Some(batch) = batches.next().await {
                for member in batch? {
                    if member.meta.collection {
                        if let Ok(below) = collection.join(&member.name) {
                            pending.push(below);
                        }
                    } else {
                        used = used.saturating_add(member.meta.len);
                    }
                }
            }
        }
        Ok(Some((used, available)))
    }

    async fn detach(&self, path: &DavPath, tag: &str) -> SubsystemResult<Detached> {
        self.removal()?;
        self.inner.detach(path, tag).await
    }

    async fn restore(&self, detached: Detached) -> SubsystemResult<()> {
        self.removal()?;
        self.inner.restore(detached).await
    }

    async fn is_detached(&self, handle: &str) -> SubsystemResult<bool> {
        self.inner.is_detached(handle).await
    }

    async fn purge(&self, detached: Detached) -> SubsystemResult<()> {
        self.removal()?;
        self.inner.purge(detached).await
    }

    async fn flush(&self) -> SubsystemResult<()> {
        self.inner.flush().await
    }

    async fn sync(&self, path: &DavPath) -> SubsystemResult<()> {
        self.inner.sync(path).await
    }

    async fn discard_leftovers(&self) -> SubsystemResult<()> {
        if self.removable {
            self.inner.discard_leftovers().await
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::memory::MemoryNamespace;
    use bytes::Bytes;
    use davd_registry::{StatusCode, WriteMode};
    use futures_util::stream;

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    async fn with_files(names: &[&str]) -> Arc<dyn NamespaceManager> {
        let inner = MemoryNamespace::new();
        for name in names {
            let body = Box::pin(stream::once(async { Ok(Bytes::from_static(b"kept")) }));
            let path = p(&format!("/{name}"));
            inner.write(&path, body, WriteMode::Replace).await.unwrap();
        }
        Arc::new(inner)
    }

    async fn names(view: &dyn NamespaceManager) -> Vec<String> {
        let mut out = Vec::new();
        let mut batches = view.list(&DavPath::root()).await.unwrap();
        while let Some(batch) = batches.next().await {
            out.extend(batch.unwrap().into_iter().map(|m| m.name));
        }
        out
    }

    #[tokio::test]
    async fn versions_are_read_and_never_changed() {
        let stamps = ["2026-12-04T10-15-03Z.docx", "2026-12-05T09-00-00Z.docx"];
        let view = HistoryView::read_only(with_files(&stamps).await);
        let mut listed = names(&view).await;
        listed.sort();
        assert_eq!(listed, stamps);
        assert_eq!(
            view.stat(&p("/2026-12-04T10-15-03Z.docx"))
                .await
                .unwrap()
                .unwrap()
                .len,
            4
        );
        let body = Box::pin(stream::once(async { Ok(Bytes::from_static(b"new")) }));
        let refused = view.write(&p("/a"), body, WriteMode::Replace).await;
        assert_eq!(refused.unwrap_err().status, StatusCode::FORBIDDEN);
        let refused = view.detach(&p("/2026-12-04T10-15-03Z.docx"), "tag").await;
        assert_eq!(refused.unwrap_err().status, StatusCode::FORBIDDEN);
        assert!(view.create_collection(&p("/c")).await.is_err());
        assert_eq!(names(&view).await.len(), 2);
    }

    #[tokio::test]
    async fn the_space_used_is_what_the_shelf_holds() {
        let view = HistoryView::read_only(with_files(&["a", "b"]).await);
        let (used, _) = view.quota(&DavPath::root()).await.unwrap().unwrap();
        assert_eq!(used, 8);
        let (used, _) = view.quota(&p("/a")).await.unwrap().unwrap();
        assert_eq!(used, 4, "a file holds itself");
    }

    #[tokio::test]
    async fn the_trash_lets_entries_go_and_takes_nothing_new() {
        let view = HistoryView::removable(with_files(&["old"]).await);
        let detached = view.detach(&p("/old"), "tag").await.unwrap();
        view.purge(detached).await.unwrap();
        assert!(view.stat(&p("/old")).await.unwrap().is_none());
        let body = Box::pin(stream::once(async { Ok(Bytes::from_static(b"new")) }));
        let refused = view.write(&p("/new"), body, WriteMode::Replace).await;
        assert_eq!(refused.unwrap_err().status, StatusCode::FORBIDDEN);
    }
}
