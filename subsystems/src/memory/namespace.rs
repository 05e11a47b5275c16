use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream;

use davd_registry::{
    Body, ByteRange, ByteStream, DavPath, Detached, Member, MemberStream, NamespaceManager, Opened,
    OpenedContent, ResourceMeta, StatusCode, SubsystemError, SubsystemResult, WriteMode,
    WriteReceipt,
};

use super::{read, write};

#[derive(Clone)]
pub(super) struct Node {
    /// `None` for a collection.
    content: Option<Bytes>,
    created: SystemTime,
    modified: SystemTime,
    version: u64,
}

impl Node {
    /// An empty collection created at `now`.
    pub(super) fn collection(now: SystemTime) -> Node {
        Node {
            content: None,
            created: now,
            modified: now,
            version: 0,
        }
    }

    pub(super) fn is_collection(&self) -> bool {
        self.content.is_none()
    }

    fn meta(&self) -> ResourceMeta {
        ResourceMeta {
            collection: self.content.is_none(),
            len: self.content.as_ref().map_or(0, |c| c.len() as u64),
            modified: self.modified,
            created: Some(self.created),
            etag: format!("m{:x}", self.version),
            content_type: None,
        }
    }
}

/// Keys are decoded paths; a subtree is a contiguous key range (`/a` then `/a/...`).
pub(super) type Tree = BTreeMap<String, Node>;

/// Detached subtrees by handle: each node under the key it had.
pub(super) type Detachments = BTreeMap<String, Vec<(String, Node)>>;

/// A namespace held entirely in memory.
pub struct MemoryNamespace {
    pub(super) tree: RwLock<Tree>,
    /// Detached subtrees by handle, until commit purges them, undo restores them or the
    /// history keeps them.
    pub(super) trash: Arc<RwLock<Detachments>>,
    versions: AtomicU64,
    /// Its history area, once asked for.
    history: std::sync::OnceLock<Arc<super::history::MemoryHistory>>,
}

impl Default for MemoryNamespace {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryNamespace {
    pub fn new() -> Self {
        let now = SystemTime::now();
        let mut tree = Tree::new();
        tree.insert(
            "/".to_owned(),
            Node {
                content: None,
                created: now,
                modified: now,
                version: 0,
            },
        );
        MemoryNamespace {
            tree: RwLock::new(tree),
            trash: Arc::new(RwLock::new(BTreeMap::new())),
            versions: AtomicU64::new(1),
            history: std::sync::OnceLock::new(),
        }
    }

    fn next_version(&self) -> u64 {
        self.versions.fetch_add(1, Ordering::Relaxed)
    }
}

/// Keys of `path` and everything below it. The keys below `/a` are one range (`/a/...`), but
/// not contiguous with `/a` itself: `/a b` and `/a.txt` sort between them.
pub(super) fn subtree_keys(tree: &Tree, path: &DavPath) -> Vec<String> {
    let key = path.as_str();
    if path.is_root() {
        return tree.keys().cloned().collect();
    }
    let below = format!("{key}/");
    let own = tree.get_key_value(key).map(|(k, _)| k.clone());
    own.into_iter()
        .chain(
            tree.range(below.clone()..)
                .take_while(|(k, _)| k.starts_with(&below))
                .map(|(k, _)| k.clone()),
        )
        .collect()
}

fn parent_is_collection(tree: &Tree, path: &DavPath) -> bool {
    path.parent()
        .and_then(|p| tree.get(p.as_str()))
        .is_some_and(|n| n.content.is_none())
}

struct MemoryContent(Bytes);

#[async_trait]
impl OpenedContent for MemoryContent {
    async fn read(self: Box<Self>, range: Option<ByteRange>) -> SubsystemResult<Body> {
        Ok(Body::Full(match range {
            None => self.0,
            Some(r) if (r.end as usize) < self.0.len() => {
                self.0.slice(r.start as usize..=r.end as usize)
            }
            Some(_) => {
                return Err(SubsystemError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range outside the content",
                ));
            }
        }))
    }
}

#[async_trait]
impl NamespaceManager for MemoryNamespace {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn survives_restart(&self) -> bool {
        false
    }

    async fn stat(&self, path: &DavPath) -> SubsystemResult<Option<ResourceMeta>> {
        Ok(read(&self.tree).get(path.as_str()).map(Node::meta))
    }

    async fn list(&self, path: &DavPath) -> SubsystemResult<MemberStream> {
        let tree = read(&self.tree);
        let prefix = if path.is_root() {
            "/".to_owned()
        } else {
            format!("{}/", path.as_str())
        };
        let members: Vec<Member> = tree
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| k.len() > prefix.len() && !k[prefix.len()..].contains('/'))
            .map(|(k, node)| Member {
                name: k[prefix.len()..].to_owned(),
                meta: node.meta(),
            })
            .collect();
        Ok(stream::iter([Ok(members)]).boxed())
    }

    async fn open(&self, path: &DavPath) -> SubsystemResult<Opened> {
        let tree = read(&self.tree);
        let node = tree
            .get(path.as_str())
            .ok_or_else(SubsystemError::not_found)?;
        let content = node.content.clone().ok_or_else(|| {
            SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "a collection has no content",
            )
        })?;
        Ok(Opened {
            meta: node.meta(),
            content: Box::new(MemoryContent(content)),
        })
    }

    async fn write(
        &self,
        path: &DavPath,
        mut body: ByteStream,
        mode: WriteMode,
    ) -> SubsystemResult<WriteReceipt> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk?);
        }
        let mut tree = write(&self.tree);
        let existing = tree.get(path.as_str()).cloned();
        // A collection first: the root is one, and has no parent.
        if existing.as_ref().is_some_and(|n| n.content.is_none()) {
            return Err(SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "cannot PUT onto a collection",
            ));
        }
        if !parent_is_collection(&tree, path) {
            return Err(SubsystemError::conflict(
                "the parent collection does not exist",
            ));
        }
        let now = SystemTime::now();
        let content = match mode {
            WriteMode::Replace => buf.freeze(),
            WriteMode::Segment { offset, total } => {
                let mut whole = existing
                    .as_ref()
                    .and_then(|n| n.content.as_ref())
                    .map(|c| c.to_vec())
                    .unwrap_or_default();
                let offset = usize::try_from(offset).map_err(|_| {
                    SubsystemError::new(StatusCode::INSUFFICIENT_STORAGE, "offset too large")
                })?;
                let end = offset + buf.len();
                if whole.len() < end {
                    whole.resize(end, 0);
                }
                whole[offset..end].copy_from_slice(&buf);
                if let Some(total) = total.and_then(|t| usize::try_from(t).ok()) {
                    whole.truncate(total.max(end));
                }
                Bytes::from(whole)
            }
        };
        let node = Node {
            content: Some(content),
            created: existing.as_ref().map_or(now, |n| n.created),
            modified: now,
            version: self.next_version(),
        };
        let meta = node.meta();
        tree.insert(path.as_str().to_owned(), node);
        let created = existing.is_none();
        let previous = match (mode, existing) {
            (WriteMode::Replace, Some(old)) => {
                let handle = format!("prev-{}", self.next_version());
                write(&self.trash).insert(handle.clone(), vec![(path.as_str().to_owned(), old)]);
                Some(Detached {
                    path: path.clone(),
                    handle,
                })
            }
            _ => None,
        };
        Ok(WriteReceipt {
            created,
            previous,
            meta,
            replaced: None,
        })
    }

    async fn create_collection(&self, path: &DavPath) -> SubsystemResult<()> {
        let mut tree = write(&self.tree);
        if tree.contains_key(path.as_str()) {
            return Err(SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "something already exists at this URL",
            ));
        }
        if !parent_is_collection(&tree, path) {
            return Err(SubsystemError::conflict(
                "the parent collection does not exist",
            ));
        }
        let now = SystemTime::now();
        tree.insert(
            path.as_str().to_owned(),
            Node {
                content: None,
                created: now,
                modified: now,
                version: self.next_version(),
            },
        );
        Ok(())
    }

    async fn set_modified(
        &self,
        path: &DavPath,
        modified: SystemTime,
    ) -> SubsystemResult<SystemTime> {
        let mut tree = write(&self.tree);
        let node = tree
            .get_mut(path.as_str())
            .ok_or_else(SubsystemError::not_found)?;
        node.version = self.next_version();
        Ok(std::mem::replace(&mut node.modified, modified))
    }

    async fn detach(&self, path: &DavPath, tag: &str) -> SubsystemResult<Detached> {
        if path.is_root() {
            return Err(SubsystemError::forbidden("the root cannot be removed"));
        }
        let mut tree = write(&self.tree);
        let keys = subtree_keys(&tree, path);
        if keys.is_empty() {
            return Err(SubsystemError::not_found());
        }
        let removed: Vec<(String, Node)> = keys
            .into_iter()
            .filter_map(|k| tree.remove(&k).map(|n| (k, n)))
            .collect();
        let handle = tag.to_owned();
        write(&self.trash).insert(handle.clone(), removed);
        Ok(Detached {
            path: path.clone(),
            handle,
        })
    }

    async fn restore(&self, detached: Detached) -> SubsystemResult<()> {
        let entries = write(&self.trash)
            .remove(&detached.handle)
            .ok_or_else(SubsystemError::not_found)?;
        let mut tree = write(&self.tree);
        for key in subtree_keys(&tree, &detached.path) {
            tree.remove(&key);
        }
        tree.extend(entries);
        Ok(())
    }

    async fn is_detached(&self, handle: &str) -> SubsystemResult<bool> {
        Ok(read(&self.trash).contains_key(handle))
    }

    async fn purge(&self, detached: Detached) -> SubsystemResult<()> {
        write(&self.trash).remove(&detached.handle);
        Ok(())
    }

    /// The area is two more memory namespaces, one per shelf: keeping moves a detached
    /// subtree's nodes into one of them, and the views read them.
    async fn history_area(&self) -> SubsystemResult<Arc<dyn davd_registry::HistoryArea>> {
        let area = self
            .history
            .get_or_init(|| Arc::new(super::history::MemoryHistory::new(self.trash.clone())));
        Ok(area.clone())
    }

    /// Nothing survives a restart here, but a request that never committed or undid (its task
    /// gone) left its detached trees and replaced contents in the trash: they go now.
    async fn discard_leftovers(&self) -> SubsystemResult<()> {
        write(&self.trash).clear();
        Ok(())
    }

    async fn copy_file(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        let mut tree = write(&self.tree);
        let source = tree
            .get(from.as_str())
            .cloned()
            .ok_or_else(SubsystemError::not_found)?;
        if !parent_is_collection(&tree, to) {
            return Err(SubsystemError::conflict(
                "the parent collection does not exist",
            ));
        }
        let now = SystemTime::now();
        tree.insert(
            to.as_str().to_owned(),
            Node {
                content: source.content,
                created: now,
                modified: now,
                version: self.next_version(),
            },
        );
        Ok(())
    }

    async fn rename(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        let mut tree = write(&self.tree);
        if !parent_is_collection(&tree, to) {
            return Err(SubsystemError::conflict(
                "the parent collection does not exist",
            ));
        }
        let keys = subtree_keys(&tree, from);
        if keys.is_empty() {
            return Err(SubsystemError::not_found());
        }
        for key in keys {
            if let Some(node) = tree.remove(&key) {
                let old = DavPath::from_segments(key.split('/').filter(|s| !s.is_empty()))
                    .map_err(|e| SubsystemError::internal(e.to_string()))?;
                let new = old
                    .rebase(from, to)
                    .ok_or_else(|| SubsystemError::internal("rename outside the subtree"))?;
                tree.insert(new.as_str().to_owned(), node);
            }
        }
        Ok(())
    }
}
