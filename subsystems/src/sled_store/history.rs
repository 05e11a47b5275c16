//! The sled namespace's history area (issue 22). Its shelves are key spaces of the
//! namespace's own node tree, [`VERSIONS`] (`v`) and [`TRASH`] (`h`) beside the live `n`, each
//! served as a namespace of its own ([`SledNamespace::on_shelf`]). Keeping a version is one
//! atomic batch that moves the detached node records from their `t` keys to shelf keys; the
//! content chunks stay where they are, under their ids, and chunk collection counts every key
//! space (`NODE_SPACES`).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

use davd_registry::{
    DavPath, Detached, HistoryArea, Kept, NamespaceManager, Shelf, SubsystemError, SubsystemResult,
};

use super::chunks;
use super::db_error;
use super::keys::{children_prefix, split_key};
use super::namespace::SledNamespace;
use super::node::{Node, decode, encode, stamp};
use crate::history_names::{collections_above, free_name};
use crate::history_view::HistoryView;

/// The first byte of a version's node key.
pub(super) const VERSIONS: u8 = b'v';
/// The first byte of a trash entry's node key.
pub(super) const TRASH: u8 = b'h';

pub(super) struct SledHistory {
    versions: SledNamespace,
    trash: SledNamespace,
}

impl SledHistory {
    pub(super) fn open(live: &SledNamespace) -> Result<SledHistory, sled::Error> {
        Ok(SledHistory {
            versions: live.on_shelf(VERSIONS)?,
            trash: live.on_shelf(TRASH)?,
        })
    }

    fn shelf(&self, shelf: Shelf) -> &SledNamespace {
        match shelf {
            Shelf::Versions => &self.versions,
            Shelf::Trash => &self.trash,
        }
    }
}

fn internal(message: &str) -> SubsystemError {
    SubsystemError::internal(message.to_owned())
}

/// The members of `collection` on `shelf`: names, and whether each is a collection.
fn members(shelf: &SledNamespace, collection: &DavPath) -> SubsystemResult<Vec<(String, bool)>> {
    let prefix = format!("{}{}", char::from(shelf.shelf), children_prefix(collection));
    let mut found = Vec::new();
    for item in shelf.nodes.scan_prefix(prefix.as_bytes()) {
        let (key, value) = item.map_err(db_error)?;
        if let Some(name) = split_key(&key[1..]).and_then(|(p, _)| p.name().map(str::to_owned)) {
            found.push((name, decode(&value)?.collection));
        }
    }
    Ok(found)
}

/// Files the nodes detached under `detached.handle` at `at` on `shelf`, in one batch with the
/// collections above it that are missing. Returns where it went.
fn file(shelf: &SledNamespace, detached: &Detached, at: &DavPath) -> SubsystemResult<Kept> {
    let (Some(parent), Some(name)) = (at.parent(), at.name()) else {
        return Err(internal("the history's root cannot be kept"));
    };
    let mut batch = sled::Batch::default();
    let now = stamp(SystemTime::now());
    for collection in collections_above(at) {
        match shelf.node(&collection)? {
            Some(node) if node.collection => {}
            Some(_) => {
                return Err(SubsystemError::conflict(format!(
                    "{collection} is a file on the history shelf"
                )));
            }
            None => {
                let node = Node::collection(now, shelf.next_version()?);
                batch.insert(shelf.key(&collection), encode(&node)?);
            }
        }
    }
    let mut siblings = members(shelf, &parent)?;
    let free = free_name(name, siblings.iter().map(|(n, _)| n.as_str()));
    let kept = parent
        .join(&free)
        .map_err(|e| SubsystemError::internal(e.to_string()))?;
    let detached_prefix = format!("t{}\0", detached.handle);
    let mut found = false;
    let mut collection = false;
    for item in shelf.nodes.scan_prefix(detached_prefix.as_bytes()) {
        let (key, value) = item.map_err(db_error)?;
        let (path, _) = split_key(&key[detached_prefix.len()..])
            .ok_or_else(|| internal("corrupt detached key"))?;
        if path == detached.path {
            collection = decode(&value)?.collection;
        }
        let moved = path
            .rebase(&detached.path, &kept)
            .ok_or_else(|| internal("a detached node outside its tree"))?;
        batch.remove(key);
        batch.insert(shelf.key(&moved), value);
        found = true;
    }
    if !found {
        return Err(SubsystemError::not_found());
    }
    shelf.nodes.apply_batch(batch).map_err(db_error)?;
    siblings.push((free, collection));
    Ok(Kept { at: kept, siblings })
}

/// Removes `at` and its subtree from `shelf` with their content, then the collections above it
/// that are left empty.
fn remove(shelf: &SledNamespace, at: &DavPath) -> SubsystemResult<()> {
    let mut batch = sled::Batch::default();
    let mut contents = Vec::new();
    for (path, value) in shelf.subtree(at)? {
        if let Ok(node) = decode(&value) {
            contents.extend(node.content);
        }
        batch.remove(shelf.key(&path));
    }
    shelf.nodes.apply_batch(batch).map_err(db_error)?;
    for content in contents {
        chunks::delete_content(&shelf.data, content)?;
    }
    let mut parent = at.parent();
    while let Some(collection) = parent.filter(|p| !p.is_root()) {
        if !members(shelf, &collection)?.is_empty() {
            break;
        }
        shelf
            .nodes
            .remove(shelf.key(&collection))
            .map_err(db_error)?;
        parent = collection.parent();
    }
    Ok(())
}

#[async_trait]
impl HistoryArea for SledHistory {
    async fn keep(&self, shelf: Shelf, detached: Detached, at: &DavPath) -> SubsystemResult<Kept> {
        let at = at.clone();
        let target = self.shelf(shelf);
        let kept = target
            .off_thread(move |shelf| file(shelf, &detached, &at))
            .await?;
        // Durable before the request's journal record goes, which would otherwise leave the
        // detached nodes for the next start to discard.
        target.flush().await?;
        Ok(kept)
    }

    async fn remove(&self, shelf: Shelf, at: &DavPath) -> SubsystemResult<()> {
        let at = at.clone();
        self.shelf(shelf)
            .off_thread(move |shelf| remove(shelf, &at))
            .await
    }

    fn view(&self, shelf: Shelf) -> Arc<dyn NamespaceManager> {
        let namespace: Arc<dyn NamespaceManager> = Arc::new(self.shelf(shelf).clone());
        Arc::new(match shelf {
            Shelf::Versions => HistoryView::read_only(namespace),
            Shelf::Trash => HistoryView::removable(namespace),
        })
    }
}
