//! A namespace kept entirely in sled: resources and collections as nodes, content in 64 KiB
//! chunks that are streamed in and out, never held whole in memory.
//!
//! Trees per mount (named after the scope, so several sled namespaces can share a database):
//!
//! - `<name>`: `n` + resource key -> node (JSON); `t` + handle NUL + resource key -> a detached
//!   node kept for undo. Resource keys are the `keys` module's layout, so listing a collection
//!   and moving a subtree are range scans, and every multi-node change is one atomic batch.
//! - `<name>/data`: content id (8 bytes) + chunk number (8 bytes) -> chunk bytes.
//!
//! A replaced content stays under its old id until the queue commits, so undo is a pointer swap.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream;
use serde::{Deserialize, Serialize};

use davd_registry::{
    Body, ByteRange, ByteStream, DavPath, Detached, Member, MemberStream, NamespaceManager, Opened,
    OpenedContent, ResourceMeta, Staged, StatusCode, SubsystemError, SubsystemResult, WriteMode,
    WriteReceipt,
};

use super::db_error;
use super::keys::{children_prefix, dir_prefix, resource_prefix, split_key};

/// The size of the chunks new content is stored in. sled 0.34 keeps larger values as blobs
/// that stay resident: with 64 KiB chunks a 512 MiB upload and download peaked at 600 MiB
/// resident, with 4 KiB at 90 MiB (`server/tests/memory.rs`).
const CHUNK: u32 = 4 * 1024;

/// The chunk size of content stored before it was recorded per node.
fn legacy_chunk() -> u32 {
    64 * 1024
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Node {
    collection: bool,
    len: u64,
    /// Seconds and nanoseconds since the epoch.
    created: (u64, u32),
    modified: (u64, u32),
    /// Grows on every change: the entity tag.
    version: u64,
    /// Where the content's chunks live (files only).
    content: Option<u64>,
    /// The size of those chunks.
    #[serde(default = "legacy_chunk")]
    chunk: u32,
}

fn stamp(t: SystemTime) -> (u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs(), d.subsec_nanos())
}

fn time((secs, nanos): (u64, u32)) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

impl Node {
    fn meta(&self) -> ResourceMeta {
        ResourceMeta {
            collection: self.collection,
            len: self.len,
            modified: time(self.modified),
            created: Some(time(self.created)),
            etag: format!("s{:x}-{:x}", self.version, self.len),
            content_type: None,
        }
    }
}

/// A namespace stored in a sled database.
pub struct SledNamespace {
    db: sled::Db,
    nodes: sled::Tree,
    data: sled::Tree,
    /// Flush after every change (the `fsync` setting).
    durable: bool,
}

fn node_key(path: &DavPath) -> Vec<u8> {
    let mut key = b"n".to_vec();
    key.extend_from_slice(resource_prefix(path).as_bytes());
    key
}

fn chunk_key(content: u64, index: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&content.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

fn decode(bytes: &[u8]) -> SubsystemResult<Node> {
    serde_json::from_slice(bytes)
        .map_err(|e| SubsystemError::internal(format!("corrupt node: {e}")))
}

fn encode(node: &Node) -> SubsystemResult<Vec<u8>> {
    serde_json::to_vec(node).map_err(|e| SubsystemError::internal(e.to_string()))
}

fn exists_error() -> SubsystemError {
    SubsystemError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "something already exists at this URL",
    )
}

impl SledNamespace {
    /// Opens (creating if missing) the namespace called `name` in `db`, and finishes what a
    /// crash may have left: detached nodes are purged, unreferenced chunks deleted.
    pub fn open(db: &sled::Db, name: &str, durable: bool) -> Result<Self, sled::Error> {
        let this = SledNamespace {
            db: db.clone(),
            nodes: db.open_tree(format!("ns:{name}"))?,
            data: db.open_tree(format!("ns:{name}/data"))?,
            durable,
        };
        let root = node_key(&DavPath::root());
        if this.nodes.get(&root)?.is_none() {
            let now = stamp(SystemTime::now());
            let node = Node {
                collection: true,
                len: 0,
                created: now,
                modified: now,
                version: 1,
                content: None,
                chunk: CHUNK,
            };
            if let Ok(bytes) = encode(&node) {
                this.nodes.insert(root, bytes)?;
            }
        }
        this.recover()?;
        Ok(this)
    }

    fn recover(&self) -> Result<(), sled::Error> {
        let mut batch = sled::Batch::default();
        for item in self.nodes.scan_prefix(b"t") {
            batch.remove(item?.0);
        }
        self.nodes.apply_batch(batch)?;
        let mut live = std::collections::HashSet::new();
        for item in self.nodes.scan_prefix(b"n") {
            if let Ok(node) = decode(&item?.1) {
                live.extend(node.content);
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

    fn node(&self, path: &DavPath) -> SubsystemResult<Option<Node>> {
        self.nodes
            .get(node_key(path))
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
    fn subtree(&self, path: &DavPath) -> SubsystemResult<Vec<(DavPath, Vec<u8>)>> {
        let mut out = Vec::new();
        let own = format!("n{}", resource_prefix(path));
        let below = format!("n{}", dir_prefix(path));
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

    fn next_version(&self) -> SubsystemResult<u64> {
        self.db.generate_id().map_err(db_error).map(|id| id + 2)
    }

    async fn sync(&self) -> SubsystemResult<()> {
        if self.durable {
            self.db.flush_async().await.map_err(db_error)?;
        }
        Ok(())
    }

    fn delete_content(&self, content: u64) -> SubsystemResult<()> {
        let mut batch = sled::Batch::default();
        for item in self.data.scan_prefix(content.to_be_bytes()) {
            batch.remove(item.map_err(db_error)?.0);
        }
        self.data.apply_batch(batch).map_err(db_error)
    }

    /// Streams `body` into chunks of a new content id, starting at chunk `first` of `base`
    /// (copied) for segment writes. Returns the id and the length written.
    async fn store_chunks(
        &self,
        mut body: ByteStream,
        content: u64,
        offset: u64,
        chunk_size: u32,
    ) -> SubsystemResult<u64> {
        let chunk_size = u64::from(chunk_size.max(1));
        let mut position = offset;
        let mut pending = BytesMut::new();
        let flush_chunk = |position: u64, bytes: &[u8]| -> SubsystemResult<()> {
            // A segment may start or end inside a chunk: merge with what is there.
            let index = position / chunk_size;
            let within = (position % chunk_size) as usize;
            let key = chunk_key(content, index);
            let mut chunk = self
                .data
                .get(key)
                .map_err(db_error)?
                .map(|c| c.to_vec())
                .unwrap_or_default();
            if chunk.len() < within + bytes.len() {
                chunk.resize(within + bytes.len(), 0);
            }
            chunk[within..within + bytes.len()].copy_from_slice(bytes);
            self.data.insert(key, chunk).map_err(db_error)?;
            Ok(())
        };
        while let Some(piece) = body.next().await {
            pending.extend_from_slice(&piece?);
            loop {
                let room = (chunk_size - position % chunk_size) as usize;
                if pending.len() < room {
                    break;
                }
                let part = pending.split_to(room);
                flush_chunk(position, &part)?;
                position += part.len() as u64;
            }
        }
        if !pending.is_empty() {
            flush_chunk(position, &pending)?;
            position += pending.len() as u64;
        }
        Ok(position - offset)
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
    /// aside (for undo) when `keep_previous`.
    fn install(
        &self,
        path: &DavPath,
        existing: Option<Node>,
        content: u64,
        chunk: u32,
        len: u64,
        keep_previous: bool,
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
        let previous = existing.as_ref().filter(|_| keep_previous);
        let mut batch = sled::Batch::default();
        batch.insert(node_key(path), encode(&node)?);
        let handle = format!("prev-{}", self.db.generate_id().map_err(db_error)?);
        if let Some(old) = previous {
            batch.insert(
                format!("t{handle}\0{}", resource_prefix(path)).as_bytes(),
                encode(old)?,
            );
        }
        self.nodes.apply_batch(batch).map_err(db_error)?;
        Ok(WriteReceipt {
            created: existing.is_none(),
            previous: previous.map(|_| Detached {
                path: path.clone(),
                handle,
            }),
            meta: node.meta(),
        })
    }

    fn copy_content(&self, from: u64, to: u64) -> SubsystemResult<()> {
        for item in self.data.scan_prefix(from.to_be_bytes()) {
            let (key, value) = item.map_err(db_error)?;
            let index = u64::from_be_bytes(key[8..16].try_into().unwrap_or([0; 8]));
            self.data
                .insert(chunk_key(to, index), value)
                .map_err(db_error)?;
        }
        Ok(())
    }
}

/// Reads chunks lazily, so a download never holds more than one chunk.
struct SledContent {
    data: sled::Tree,
    content: Option<u64>,
    chunk: u32,
    len: u64,
}

#[async_trait]
impl OpenedContent for SledContent {
    async fn read(self: Box<Self>, range: Option<ByteRange>) -> SubsystemResult<Body> {
        let Some(content) = self.content else {
            return Ok(Body::Empty);
        };
        let (start, end) = match range {
            Some(r) => (r.start, r.end + 1),
            None => (0, self.len),
        };
        if start >= end {
            return Ok(Body::Empty);
        }
        let data = self.data;
        let chunk_size = u64::from(self.chunk.max(1));
        let chunks = stream::unfold(start, move |position| {
            let data = data.clone();
            async move {
                if position >= end {
                    return None;
                }
                let index = position / chunk_size;
                let within = (position % chunk_size) as usize;
                let chunk = match data.get(chunk_key(content, index)) {
                    Ok(Some(c)) => c,
                    // A hole (a segment write past the end) reads as zeros.
                    Ok(None) => sled::IVec::from(vec![0u8; chunk_size as usize]),
                    Err(e) => return Some((Err(std::io::Error::other(e.to_string())), end)),
                };
                let take = ((end - position) as usize).min(chunk_size as usize - within);
                let mut bytes = vec![0u8; take];
                if within < chunk.len() {
                    let n = (chunk.len() - within).min(take);
                    bytes[..n].copy_from_slice(&chunk[within..within + n]);
                }
                Some((Ok(Bytes::from(bytes)), position + take as u64))
            }
        });
        Ok(Body::Stream(chunks.boxed()))
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
        let prefix = format!("n{}", children_prefix(path));
        let mut members = Vec::new();
        for item in self.nodes.scan_prefix(prefix.as_bytes()) {
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
            content: Box::new(SledContent {
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
        match self.store_chunks(body, content, 0, CHUNK).await {
            Ok(len) => Ok(Staged {
                path: path.clone(),
                handle: content.to_string(),
                len,
                meta: None,
                keep_previous: true,
                buffered: None,
            }),
            Err(e) => {
                let _ = self.delete_content(content);
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
            self.install(&staged.path, existing, content, CHUNK, staged.len, true)
        });
        if result.is_err() {
            let _ = self.delete_content(content);
        }
        let receipt = result?;
        self.sync().await?;
        Ok(receipt)
    }

    async fn discard(&self, staged: Staged) -> SubsystemResult<()> {
        if let Ok(content) = staged.handle.parse() {
            self.delete_content(content)?;
        }
        Ok(())
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
            None => (self.db.generate_id().map_err(db_error)?, CHUNK),
        };
        let written = self.store_chunks(body, content, offset, chunk).await?;
        let old_len = existing.as_ref().map_or(0, |n| n.len);
        let mut len = old_len.max(offset + written);
        if let Some(total) = total {
            len = len.min(total.max(offset + written));
        }
        let receipt = self.install(path, existing, content, chunk, len, false)?;
        self.sync().await?;
        Ok(receipt)
    }

    async fn create_collection(&self, path: &DavPath) -> SubsystemResult<()> {
        if self.node(path)?.is_some() {
            return Err(exists_error());
        }
        self.require_parent_collection(path)?;
        let now = stamp(SystemTime::now());
        let node = Node {
            collection: true,
            len: 0,
            created: now,
            modified: now,
            version: self.next_version()?,
            content: None,
            chunk: CHUNK,
        };
        self.nodes
            .insert(node_key(path), encode(&node)?)
            .map_err(db_error)?;
        self.sync().await
    }

    async fn detach(&self, path: &DavPath) -> SubsystemResult<Detached> {
        if path.is_root() {
            return Err(SubsystemError::forbidden("the root cannot be removed"));
        }
        let subtree = self.subtree(path)?;
        if subtree.is_empty() {
            return Err(SubsystemError::not_found());
        }
        let handle = format!("trash-{}", self.db.generate_id().map_err(db_error)?);
        let mut batch = sled::Batch::default();
        for (p, value) in subtree {
            batch.remove(node_key(&p));
            batch.insert(
                format!("t{handle}\0{}", resource_prefix(&p)).as_bytes(),
                value,
            );
        }
        self.nodes.apply_batch(batch).map_err(db_error)?;
        self.sync().await?;
        Ok(Detached {
            path: path.clone(),
            handle,
        })
    }

    async fn restore(&self, detached: Detached) -> SubsystemResult<()> {
        let mut batch = sled::Batch::default();
        // Whatever is at the path now (a PUT being undone) goes first; its content is dropped.
        let mut dropped = Vec::new();
        for (p, value) in self.subtree(&detached.path)? {
            batch.remove(node_key(&p));
            if let Ok(node) = decode(&value) {
                dropped.extend(node.content);
            }
        }
        let prefix = format!("t{}\0", detached.handle);
        for item in self.nodes.scan_prefix(prefix.as_bytes()) {
            let (key, value) = item.map_err(db_error)?;
            if let Ok(node) = decode(&value) {
                dropped.retain(|c| Some(*c) != node.content);
            }
            batch.remove(key.clone());
            let mut restored = b"n".to_vec();
            restored.extend_from_slice(&key[prefix.len()..]);
            batch.insert(restored, value);
        }
        self.nodes.apply_batch(batch).map_err(db_error)?;
        for content in dropped {
            self.delete_content(content)?;
        }
        self.sync().await
    }

    async fn purge(&self, detached: Detached) -> SubsystemResult<()> {
        let prefix = format!("t{}\0", detached.handle);
        let mut batch = sled::Batch::default();
        let mut contents = Vec::new();
        for item in self.nodes.scan_prefix(prefix.as_bytes()) {
            let (key, value) = item.map_err(db_error)?;
            if let Ok(node) = decode(&value) {
                contents.extend(node.content);
            }
            batch.remove(key);
        }
        self.nodes.apply_batch(batch).map_err(db_error)?;
        // A replaced file's old content may still be the live one if undo already ran.
        let live: Vec<u64> = self
            .node(&detached.path)?
            .and_then(|n| n.content)
            .into_iter()
            .collect();
        for content in contents.into_iter().filter(|c| !live.contains(c)) {
            self.delete_content(content)?;
        }
        Ok(())
    }

    async fn copy_file(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        let source = self.node(from)?.ok_or_else(SubsystemError::not_found)?;
        if self.node(to)?.is_some() {
            return Err(exists_error());
        }
        self.require_parent_collection(to)?;
        let content = match source.content {
            Some(old) => {
                let new = self.db.generate_id().map_err(db_error)?;
                self.copy_content(old, new)?;
                Some(new)
            }
            None => None,
        };
        let now = stamp(SystemTime::now());
        let node = Node {
            created: now,
            modified: now,
            version: self.next_version()?,
            content,
            ..source
        };
        self.nodes
            .insert(node_key(to), encode(&node)?)
            .map_err(db_error)?;
        self.sync().await
    }

    async fn rename(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        if self.node(to)?.is_some() {
            return Err(exists_error());
        }
        self.require_parent_collection(to)?;
        let subtree = self.subtree(from)?;
        if subtree.is_empty() {
            return Err(SubsystemError::not_found());
        }
        let mut batch = sled::Batch::default();
        for (p, _) in &subtree {
            batch.remove(node_key(p));
        }
        for (p, value) in subtree {
            let new = p
                .rebase(from, to)
                .ok_or_else(|| SubsystemError::internal("rename outside the subtree"))?;
            batch.insert(node_key(&new), value);
        }
        self.nodes.apply_batch(batch).map_err(db_error)?;
        self.sync().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    fn body(data: Vec<u8>) -> ByteStream {
        // Deliver in uneven pieces to exercise chunk boundaries.
        let pieces: Vec<std::io::Result<Bytes>> = data
            .chunks(10_007)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        stream::iter(pieces).boxed()
    }

    async fn read(ns: &SledNamespace, path: &str, range: Option<ByteRange>) -> Vec<u8> {
        match ns
            .open(&p(path))
            .await
            .unwrap()
            .content
            .read(range)
            .await
            .unwrap()
        {
            Body::Empty => vec![],
            Body::Full(b) => b.to_vec(),
            Body::Stream(mut s) => {
                let mut out = vec![];
                while let Some(c) = s.next().await {
                    out.extend_from_slice(&c.unwrap());
                }
                out
            }
        }
    }

    fn open() -> (SledNamespace, sled::Db) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        (SledNamespace::open(&db, "/t", false).unwrap(), db)
    }

    #[tokio::test]
    async fn content_round_trips_across_chunks_and_ranges() {
        let (ns, _db) = open();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let receipt = ns
            .write(&p("/f"), body(data.clone()), WriteMode::Replace)
            .await
            .unwrap();
        assert!(receipt.created);
        assert_eq!(receipt.meta.len, 300_000);
        assert_eq!(read(&ns, "/f", None).await, data);
        let r = ByteRange {
            start: 65_530,
            end: 131_080,
        };
        assert_eq!(read(&ns, "/f", Some(r)).await, &data[65_530..=131_080]);
    }

    /// Content written before the chunk size was recorded (64 KiB chunks, a node without
    /// `chunk`) still reads back, and a segment written into it lands in those chunks.
    #[tokio::test]
    async fn content_in_legacy_64k_chunks_still_reads_and_takes_segments() {
        let (ns, _db) = open();
        let data: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
        let content = 7u64;
        for (index, piece) in data.chunks(64 * 1024).enumerate() {
            ns.data
                .insert(chunk_key(content, index as u64), piece)
                .unwrap();
        }
        let legacy = format!(
            r#"{{"collection":false,"len":{},"created":[1,0],"modified":[1,0],"version":1,"content":{content}}}"#,
            data.len()
        );
        ns.nodes
            .insert(node_key(&p("/old")), legacy.as_bytes())
            .unwrap();
        assert_eq!(read(&ns, "/old", None).await, data);
        let r = ByteRange {
            start: 65_530,
            end: 131_080,
        };
        assert_eq!(read(&ns, "/old", Some(r)).await, &data[65_530..=131_080]);

        ns.write(
            &p("/old"),
            body(vec![b'x'; 10]),
            WriteMode::Segment {
                offset: 65_530,
                total: None,
            },
        )
        .await
        .unwrap();
        let mut expected = data.clone();
        expected[65_530..65_540].fill(b'x');
        assert_eq!(read(&ns, "/old", None).await, expected);
    }

    #[tokio::test]
    async fn replace_undo_and_commit() {
        let (ns, _db) = open();
        ns.write(&p("/f"), body(b"old".to_vec()), WriteMode::Replace)
            .await
            .unwrap();
        let receipt = ns
            .write(&p("/f"), body(b"new".to_vec()), WriteMode::Replace)
            .await
            .unwrap();
        assert_eq!(read(&ns, "/f", None).await, b"new");
        ns.restore(receipt.previous.unwrap()).await.unwrap();
        assert_eq!(read(&ns, "/f", None).await, b"old");
        let receipt = ns
            .write(&p("/f"), body(b"newer".to_vec()), WriteMode::Replace)
            .await
            .unwrap();
        ns.purge(receipt.previous.unwrap()).await.unwrap();
        assert_eq!(read(&ns, "/f", None).await, b"newer");
        assert_eq!(ns.data.len(), 1, "old chunks are gone");
    }

    #[tokio::test]
    async fn collections_listing_detach_rename() {
        let (ns, _db) = open();
        ns.create_collection(&p("/c")).await.unwrap();
        assert!(ns.create_collection(&p("/c")).await.is_err());
        assert!(ns.create_collection(&p("/x/y")).await.is_err());
        ns.create_collection(&p("/c/d")).await.unwrap();
        ns.write(&p("/c/d/f"), body(b"x".to_vec()), WriteMode::Replace)
            .await
            .unwrap();
        ns.write(&p("/c/g"), body(b"y".to_vec()), WriteMode::Replace)
            .await
            .unwrap();
        let mut listed = ns.list(&p("/c")).await.unwrap();
        let names: Vec<String> = listed
            .next()
            .await
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, vec!["d", "g"]);
        ns.rename(&p("/c"), &p("/e")).await.unwrap();
        assert_eq!(read(&ns, "/e/d/f", None).await, b"x");
        assert!(ns.stat(&p("/c")).await.unwrap().is_none());
        let detached = ns.detach(&p("/e")).await.unwrap();
        assert!(ns.stat(&p("/e/g")).await.unwrap().is_none());
        ns.restore(detached.clone()).await.unwrap();
        assert_eq!(read(&ns, "/e/g", None).await, b"y");
        let detached = ns.detach(&p("/e")).await.unwrap();
        ns.purge(detached).await.unwrap();
        assert_eq!(ns.data.len(), 0);
    }

    #[tokio::test]
    async fn segments_and_copies() {
        let (ns, _db) = open();
        ns.write(
            &p("/s"),
            body(b"world".to_vec()),
            WriteMode::Segment {
                offset: 5,
                total: Some(10),
            },
        )
        .await
        .unwrap();
        ns.write(
            &p("/s"),
            body(b"hello".to_vec()),
            WriteMode::Segment {
                offset: 0,
                total: Some(10),
            },
        )
        .await
        .unwrap();
        assert_eq!(read(&ns, "/s", None).await, b"helloworld");
        ns.copy_file(&p("/s"), &p("/t")).await.unwrap();
        ns.write(&p("/s"), body(b"changed".to_vec()), WriteMode::Replace)
            .await
            .unwrap();
        assert_eq!(
            read(&ns, "/t", None).await,
            b"helloworld",
            "a copy has its own content"
        );
    }

    #[tokio::test]
    async fn survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let ns = SledNamespace::open(&db, "/", true).unwrap();
            ns.create_collection(&p("/c")).await.unwrap();
            ns.write(&p("/c/f"), body(b"kept".to_vec()), WriteMode::Replace)
                .await
                .unwrap();
            // An upload in flight when the process died leaves a detached node behind.
            ns.detach(&p("/c/f")).await.unwrap();
            ns.restore(ns.detach(&p("/c")).await.unwrap())
                .await
                .unwrap();
        }
        let db = sled::open(dir.path()).unwrap();
        let ns = SledNamespace::open(&db, "/", true).unwrap();
        assert!(ns.stat(&p("/c")).await.unwrap().unwrap().collection);
        assert!(
            ns.stat(&p("/c/f")).await.unwrap().is_none(),
            "detached at the crash, purged on open"
        );
        assert_eq!(ns.data.len(), 0, "its chunks were collected");
    }
}
