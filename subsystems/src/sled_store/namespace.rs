//! A namespace kept entirely in sled: resources and collections as nodes, content in small
//! chunks (`chunks.rs`) that are streamed in and out, never held whole in memory.
//!
//! Trees per mount (named after the scope, so several sled namespaces can share a database):
//!
//! - `<name>`: `n` + resource key -> node (JSON); `t` + handle NUL + resource key -> a detached
//!   node kept for undo; `v` and `h` + resource key -> the nodes of the history's shelves,
//!   versions and trash (`history.rs`), each served as a namespace of its own. Resource keys
//!   are the `keys` module's layout, so listing a collection and moving a subtree are range
//!   scans, and every multi-node change is one atomic batch.
//! - `<name>/data`: content id (8 bytes) + chunk number (8 bytes) -> chunk bytes.
//!
//! A replaced content stays under its old id until the queue commits, so undo is a pointer swap.
//!
//! Changes are in memory until [`NamespaceManager::flush`], which the executive calls before it
//! answers: an acknowledged write then survives a crash of the process (and, sled syncing
//! what it flushes, a power cut), whatever `--fsync` says. A tree copied member by member is
//! flushed once, not once per member. What crashed requests left (detached nodes, staged or
//! orphaned chunks) stays until [`NamespaceManager::discard_leftovers`], after the executive's
//! recovery.

use std::time::SystemTime;

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream;

use davd_registry::{
    ByteStream, DavPath, Detached, Member, MemberStream, NamespaceManager, Opened, ResourceMeta,
    Staged, StatusCode, SubsystemError, SubsystemResult, WriteMode, WriteReceipt,
};

use super::chunks;
use super::keys::{children_prefix, dir_prefix, resource_prefix, split_key};
use super::node::{Node, decode, encode, stamp, time};
use super::{StateDb, db_error};
use crate::blocking::blocking;

/// A namespace stored in a sled database. Cloning it is cheap (the handles are shared); the
/// clones are what tree-wide work takes to the blocking pool.
#[derive(Clone)]
pub struct SledNamespace {
    state: StateDb,
    db: sled::Db,
    pub(super) nodes: sled::Tree,
    pub(super) data: sled::Tree,
    /// The first byte of this namespace's node keys: [`LIVE`], or a history shelf's.
    pub(super) shelf: u8,
}

/// The node keys of the live tree.
pub(super) const LIVE: u8 = b'n';
/// Every first byte of a node key: the live tree's and the history shelves'. A content id is
/// in use while a node under any of them names it.
const NODE_SPACES: [u8; 3] = [LIVE, super::history::VERSIONS, super::history::TRASH];

/// The key of `path`'s node under `shelf`.
pub(super) fn node_key_on(shelf: u8, path: &DavPath) -> Vec<u8> {
    let mut key = vec![shelf];
    key.extend_from_slice(resource_prefix(path).as_bytes());
    key
}

fn exists_error() -> SubsystemError {
    SubsystemError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "something already exists at this URL",
    )
}

impl SledNamespace {
    /// Opens (creating if missing) the namespace called `name` in the state database.
    pub fn open(state: &StateDb, name: &str) -> Result<Self, sled::Error> {
        let db = &state.db;
        let this = SledNamespace {
            state: state.clone(),
            db: db.clone(),
            nodes: db.open_tree(format!("ns:{name}"))?,
            data: db.open_tree(format!("ns:{name}/data"))?,
            shelf: LIVE,
        };
        this.ensure_root()?;
        Ok(this)
    }

    /// The same store seen through one of its history shelves (`history.rs`).
    pub(super) fn on_shelf(&self, shelf: u8) -> Result<SledNamespace, sled::Error> {
        let this = SledNamespace {
            shelf,
            ..self.clone()
        };
        this.ensure_root()?;
        Ok(this)
    }

    /// The key of `path`'s node in this namespace.
    pub(super) fn key(&self, path: &DavPath) -> Vec<u8> {
        node_key_on(self.shelf, path)
    }

    fn ensure_root(&self) -> Result<(), sled::Error> {
        let root = self.key(&DavPath::root());
        if self.nodes.get(&root)?.is_none()
            && let Ok(bytes) = encode(&Node::collection(stamp(SystemTime::now()), 1))
        {
            self.nodes.insert(root, bytes)?;
        }
        Ok(())
    }

    /// Purges detached nodes and deletes chunks no node refers to (`discard_leftovers`).
    fn recover(&self) -> Result<(), sled::Error> {
        let mut batch = sled::Batch::default();
        for item in self.nodes.scan_prefix(b"t") {
            batch.remove(item?.0);
        }
        self.nodes.apply_batch(batch)?;
        let mut live = std::collections::HashSet::new();
        for space in NODE_SPACES {
            for item in self.nodes.scan_prefix([space]) {
                if let Ok(node) = decode(&item?.1) {
                    live.extend(node.content);
                }
            }
        }
        for item in self.data.iter() {
            let (key, _) = item?;
            let id = u64::from_be_bytes(key[..8].try_into().unwrap_or([0; 8]));
            if !live.contains(&id) {
                self.data.remove(key)?;
            }
        }
        Ok(())
    }

    pub(super) fn node(&self, path: &DavPath) -> SubsystemResult<Option<Node>> {
        self.nodes
            .get(self.key(path))
            .map_err(db_error)?
            .map(|b| decode(&b))
            .transpose()
    }

    fn require_parent_collection(&self, path: &DavPath) -> SubsystemResult<()> {
        match path.parent().map(|p| self.node(&p)).transpose()?.flatten() {
            Some(parent) if parent.collection => Ok(()),
            _ => Err(SubsystemError::conflict(
                "the parent collection does not exist",
            )),
        }
    }

    /// Node keys of `path` and everything below it, with their nodes.
    pub(super) fn subtree(&self, path: &DavPath) -> SubsystemResult<Vec<(DavPath, Vec<u8>)>> {
        let mut out = Vec::new();
        let shelf = char::from(self.shelf);
        let own = format!("{shelf}{}", resource_prefix(path));
        let below = format!("{shelf}{}", dir_prefix(path));
        for prefix in [own, below] {
            for item in self.nodes.scan_prefix(prefix.as_bytes()) {
                let (key, value) = item.map_err(db_error)?;
                if let Some((p, _)) = split_key(&key[1..]) {
                    out.push((p, value.to_vec()));
                }
            }
        }
        if path.is_root() {
            out.retain(|(p, _)| !p.is_root());
        }
        Ok(out)
    }

    pub(super) fn next_version(&self) -> SubsystemResult<u64> {
        self.db.generate_id().map_err(db_error).map(|id| id + 2)
    }

    /// Runs `work` on the blocking pool. A listing, or a change to a tree or to a file's
    /// content, touches one record per member or chunk; on a connection thread (ADR 0016) it
    /// would hold up the thread's other connections while it runs.
    pub(super) async fn off_thread<T, F>(&self, work: F) -> SubsystemResult<T>
    where
        F: FnOnce(&SledNamespace) -> SubsystemResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        blocking(move || work(&this)).await
    }

    /// The node at `path` if a file may be written there: the parent must be a collection and
    /// the path must not be one.
    fn check_writable(&self, path: &DavPath) -> SubsystemResult<Option<Node>> {
        if path.is_root() {
            return Err(SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "the root is a collection",
            ));
        }
        self.require_parent_collection(path)?;
        let existing = self.node(path)?;
        if existing.as_ref().is_some_and(|n| n.collection) {
            return Err(SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "cannot PUT onto a collection",
            ));
        }
        Ok(existing)
    }

    /// Points the node at `path` to `content` in one atomic batch; the replaced node is kept
    /// aside (for undo) under `backup`, if given.
    fn install(
        &self,
        path: &DavPath,
        existing: Option<Node>,
        content: u64,
        chunk: u32,
        len: u64,
        backup: Option<String>,
    ) -> SubsystemResult<WriteReceipt> {
        let now = stamp(SystemTime::now());
        let node = Node {
            collection: false,
            len,
            created: existing.as_ref().map_or(now, |n| n.created),
            modified: now,
            version: self.next_version()?,
            content: Some(content),
            chunk,
        };
        let mut batch = sled::Batch::default();
        batch.insert(self.key(path), encode(&node)?);
        let previous = match (&existing, backup) {
            (Some(old), Some(handle)) => {
                batch.insert(
                    format!("t{handle}\0{}", resource_prefix(path)).as_bytes(),
                    encode(old)?,
                );
                Some(Detached {
                    path: path.clone(),
                    handle,
                })
            }
            _ => None,
        };
        self.nodes.apply_batch(batch).map_err(db_error)?;
        Ok(WriteReceipt {
            created: existing.is_none(),
            previous,
            meta: node.meta(),
            replaced: None,
        })
    }
}

#[async_trait]
impl NamespaceManager for SledNamespace {
    fn kind(&self) -> &'static str {
        "sled"
    }

    async fn stat(&self, path: &DavPath) -> SubsystemResult<Option<ResourceMeta>> {
        Ok(self.node(path)?.map(|n| n.meta()))
    }

    async fn list(&self, path: &DavPath) -> SubsystemResult<MemberStream> {
        let prefix = format!("{}{}", char::from(self.shelf), children_prefix(path));
        let members = self
            .off_thread(move |ns| {
                let mut members = Vec::new();
                for item in ns.nodes.scan_prefix(prefix.as_bytes()) {
                    let (key, value) = item.map_err(db_error)?;
                    if let (Some((p, _)), Ok(node)) = (split_key(&key[1..]), decode(&value))
                        && let Some(name) = p.name()
                    {
                        members.push(Member {
                            name: name.to_owned(),
                            meta: node.meta(),
                        });
                    }
                }
                Ok(members)
            })
            .await?;
        Ok(stream::iter([Ok(members)]).boxed())
    }

    async fn open(&self, path: &DavPath) -> SubsystemResult<Opened> {
        let node = self.node(path)?.ok_or_else(SubsystemError::not_found)?;
        if node.collection {
            return Err(SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "a collection has no content",
            ));
        }
        Ok(Opened {
            meta: node.meta(),
            content: Box::new(chunks::SledContent {
                data: self.data.clone(),
                content: node.content,
                chunk: node.chunk,
                len: node.len,
            }),
        })
    }

    async fn stage(&self, path: &DavPath, body: ByteStream) -> SubsystemResult<Staged> {
        if path.is_root() {
            return Err(SubsystemError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "the root is a collection",
            ));
        }
        let content = self.db.generate_id().map_err(db_error)?;
        match chunks::store_chunks(
            &self.data,
            body,
            content,
            0,
            chunks::CHUNK,
            &self.state.guard,
        )
        .await
        {
            Ok(len) => Ok(Staged {
                path: path.clone(),
                handle: content.to_string(),
                len,
                meta: None,
                keep_previous: true,
                backup_tag: None,
                buffered: None,
            }),
            Err(e) => {
                let _ = chunks::delete_content(&self.data, content);
                Err(e)
            }
        }
    }

    async fn publish(&self, staged: Staged) -> SubsystemResult<WriteReceipt> {
        let content: u64 = staged
            .handle
            .parse()
            .map_err(|_| SubsystemError::internal("not a staged content id"))?;
        let result = self.check_writable(&staged.path).and_then(|existing| {
            let backup = match (staged.keep_previous, &staged.backup_tag) {
                (false, _) => None,
                (true, Some(tag)) => Some(tag.clone()),
                (true, None) => Some(format!("prev-{}", self.db.generate_id().map_err(db_error)?)),
            };
            self.install(
                &staged.path,
                existing,
                content,
                chunks::CHUNK,
                staged.len,
                backup,
            )
        });
        if result.is_err() {
            let _ = chunks::delete_content(&self.data, content);
        }
        result
    }

    async fn discard(&self, staged: Staged) -> SubsystemResult<()> {
        let Ok(content) = staged.handle.parse() else {
            return Ok(());
        };
        self.off_thread(move |ns| chunks::delete_content(&ns.data, content))
            .await
    }

    async fn write(
        &self,
        path: &DavPath,
        body: ByteStream,
        mode: WriteMode,
    ) -> SubsystemResult<WriteReceipt> {
        let WriteMode::Segment { offset, total } = mode else {
            let staged = self.stage(path, body).await?;
            return self.publish(staged).await;
        };
        let existing = self.check_writable(path)?;
        // Segments are written in place (not undoable, like the file system).
        // Segments go into the chunks the content already has, whatever their size.
        let (content, chunk) = match existing
            .as_ref()
            .and_then(|n| n.content.map(|c| (c, n.chunk)))
        {
            Some(found) => found,
            None => (self.db.generate_id().map_err(db_error)?, chunks::CHUNK),
        };
        let written =
            chunks::store_chunks(&self.data, body, content, offset, chunk, &self.state.guard)
                .await?;
        let old_len = existing.as_ref().map_or(0, |n| n.len);
        let mut len = old_len.max(offset + written);
        if let Some(total) = total {
            len = len.min(total.max(offset + written));
        }
        self.install(path, existing, content, chunk, len, None)
    }

    async fn create_collection(&self, path: &DavPath) -> SubsystemResult<()> {
        self.state.room_for(0)?;
        if self.node(path)?.is_some() {
            return Err(exists_error());
        }
        self.require_parent_collection(path)?;
        let node = Node::collection(stamp(SystemTime::now()), self.next_version()?);
        self.nodes
            .insert(self.key(path), encode(&node)?)
            .map_err(db_error)?;
        Ok(())
    }

    async fn set_modified(
        &self,
        path: &DavPath,
        modified: SystemTime,
    ) -> SubsystemResult<SystemTime> {
        self.state.room_for(0)?;
        let mut node = self.node(path)?.ok_or_else(SubsystemError::not_found)?;
        let previous = time(node.modified);
        node.modified = stamp(modified);
        node.version = self.next_version()?;
        self.nodes
            .insert(self.key(path), encode(&node)?)
            .map_err(db_error)?;
        Ok(previous)
    }

    async fn detach(&self, path: &DavPath, tag: &str) -> SubsystemResult<Detached> {
        self.state.room_for(0)?;
        if path.is_root() {
            return Err(SubsystemError::forbidden("the root cannot be removed"));
        }
        if tag.contains('\0') {
            return Err(SubsystemError::internal("a detach tag cannot contain NUL"));
        }
        let tree = path.clone();
        let handle = tag.to_owned();
        self.off_thread(move |ns| {
            let subtree = ns.subtree(&tree)?;
            if subtree.is_empty() {
                return Err(SubsystemError::not_found());
            }
            let mut batch = sled::Batch::default();
            for (p, value) in subtree {
                batch.remove(ns.key(&p));
                batch.insert(
                    format!("t{handle}\0{}", resource_prefix(&p)).as_bytes(),
                    value,
                );
            }
            ns.nodes.apply_batch(batch).map_err(db_error)?;
            Ok(Detached { path: tree, handle })
        })
        .await
    }

    async fn restore(&self, detached: Detached) -> SubsystemResult<()> {
        self.state.room_for(0)?;
        self.off_thread(move |ns| {
            let mut batch = sled::Batch::default();
            // Whatever is at the path now (a PUT being undone) goes first; its content is
            // dropped.
            let mut dropped = Vec::new();
            for (p, value) in ns.subtree(&detached.path)? {
                batch.remove(ns.key(&p));
                if let Ok(node) = decode(&value) {
                    dropped.extend(node.content);
                }
            }
            let prefix = format!("t{}\0", detached.handle);
            if ns.nodes.scan_prefix(prefix.as_bytes()).next().is_none() {
                return Err(SubsystemError::not_found());
            }
            for item in ns.nodes.scan_prefix(prefix.as_bytes()) {
                let (key, value) = item.map_err(db_error)?;
                if let Ok(node) = decode(&value) {
                    dropped.retain(|c| Some(*c) != node.content);
                }
                batch.remove(key.clone());
                let mut restored = vec![ns.shelf];
                restored.extend_from_slice(&key[prefix.len()..]);
                batch.insert(restored, value);
            }
            ns.nodes.apply_batch(batch).map_err(db_error)?;
            for content in dropped {
                chunks::delete_content(&ns.data, content)?;
            }
            Ok(())
        })
        .await
    }

    async fn is_detached(&self, handle: &str) -> SubsystemResult<bool> {
        let prefix = format!("t{handle}\0");
        Ok(self.nodes.scan_prefix(prefix.as_bytes()).next().is_some())
    }

    async fn purge(&self, detached: Detached) -> SubsystemResult<()> {
        // Even a removal writes to the log: not below the reserve (the leftover is collected
        // at the next start).
        self.state.room_for(0)?;
        self.off_thread(move |ns| {
            let prefix = format!("t{}\0", detached.handle);
            let mut batch = sled::Batch::default();
            let mut contents = Vec::new();
            for item in ns.nodes.scan_prefix(prefix.as_bytes()) {
                let (key, value) = item.map_err(db_error)?;
                if let Ok(node) = decode(&value) {
                    contents.extend(node.content);
                }
                batch.remove(key);
            }
            ns.nodes.apply_batch(batch).map_err(db_error)?;
            // A replaced file's old content may still be the live one if undo already ran.
            let live: Vec<u64> = ns
                .node(&detached.path)?
                .and_then(|n| n.content)
                .into_iter()
                .collect();
            for content in contents.into_iter().filter(|c| !live.contains(c)) {
                chunks::delete_content(&ns.data, content)?;
            }
            Ok(())
        })
        .await
    }

    async fn copy_file(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        self.state.room_for(0)?;
        let (from, to) = (from.clone(), to.clone());
        self.off_thread(move |ns| {
            let source = ns.node(&from)?.ok_or_else(SubsystemError::not_found)?;
            if ns.node(&to)?.is_some() {
                return Err(exists_error());
            }
            ns.require_parent_collection(&to)?;
            let content = match source.content {
                Some(old) => {
                    let new = ns.db.generate_id().map_err(db_error)?;
                    chunks::copy_content(&ns.data, old, new)?;
                    Some(new)
                }
                None => None,
            };
            let now = stamp(SystemTime::now());
            let node = Node {
                created: now,
                modified: now,
                version: ns.next_version()?,
                content,
                ..source
            };
            ns.nodes
                .insert(ns.key(&to), encode(&node)?)
                .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn rename(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        self.state.room_for(0)?;
        let (from, to) = (from.clone(), to.clone());
        self.off_thread(move |ns| {
            if ns.node(&to)?.is_some() {
                return Err(exists_error());
            }
            ns.require_parent_collection(&to)?;
            let subtree = ns.subtree(&from)?;
            if subtree.is_empty() {
                return Err(SubsystemError::not_found());
            }
            let mut batch = sled::Batch::default();
            for (p, _) in &subtree {
                batch.remove(ns.key(p));
            }
            for (p, value) in subtree {
                let new = p
                    .rebase(&from, &to)
                    .ok_or_else(|| SubsystemError::internal("rename outside the subtree"))?;
                batch.insert(ns.key(&new), value);
            }
            ns.nodes.apply_batch(batch).map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn flush(&self) -> SubsystemResult<()> {
        self.state.flush().await
    }

    /// sled syncs what it flushes: the flush that makes a change survive a crash of the
    /// process makes it survive a power cut too.
    async fn sync(&self, _path: &DavPath) -> SubsystemResult<()> {
        self.state.flush().await
    }

    /// The shelves are key spaces of this namespace's own tree (`history.rs`).
    async fn history_area(
        &self,
    ) -> SubsystemResult<std::sync::Arc<dyn davd_registry::HistoryArea>> {
        let area = super::history::SledHistory::open(self).map_err(db_error)?;
        Ok(std::sync::Arc::new(area))
    }

    async fn discard_leftovers(&self) -> SubsystemResult<()> {
        self.state.room_for(0)?;
        self.off_thread(|ns| ns.recover().map_err(db_error)).await?;
        self.state.flush().await
    }
}

#[cfg(test)]
#[path = "namespace_tests.rs"]
mod tests;
