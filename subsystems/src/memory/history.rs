//! The memory namespace's history area (issue 22): two more memory namespaces, one per shelf.
//! Keeping a version moves the detached nodes out of the live namespace's detachments into a
//! shelf, under the path the executive chose; nothing is copied. Like everything in memory it
//! is gone when the process stops.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use async_trait::async_trait;

use davd_registry::{
    DavPath, Detached, HistoryArea, Kept, NamespaceManager, Shelf, SubsystemError, SubsystemResult,
};

use super::namespace::{Detachments, MemoryNamespace, Node, Tree, subtree_keys};
use super::write;
use crate::history_names::{collections_above, free_name};
use crate::history_view::HistoryView;

pub(super) struct MemoryHistory {
    /// The live namespace's detached subtrees, which keeping takes from.
    live: Arc<RwLock<Detachments>>,
    versions: Arc<MemoryNamespace>,
    trash: Arc<MemoryNamespace>,
}

impl MemoryHistory {
    pub(super) fn new(live: Arc<RwLock<Detachments>>) -> MemoryHistory {
        MemoryHistory {
            live,
            versions: Arc::new(MemoryNamespace::new()),
            trash: Arc::new(MemoryNamespace::new()),
        }
    }

    fn shelf(&self, shelf: Shelf) -> &Arc<MemoryNamespace> {
        match shelf {
            Shelf::Versions => &self.versions,
            Shelf::Trash => &self.trash,
        }
    }
}

/// The members of `parent` in `tree`: names, and whether each is a collection.
fn members<'t>(tree: &'t Tree, parent: &DavPath) -> impl Iterator<Item = (&'t str, bool)> {
    let prefix = if parent.is_root() {
        "/".to_owned()
    } else {
        format!("{}/", parent.as_str())
    };
    let start = prefix.len();
    tree.range(prefix.clone()..)
        .take_while(move |(k, _)| k.starts_with(&prefix))
        .map(move |(k, node)| (&k[start..], node.is_collection()))
        .filter(|(rest, _)| !rest.is_empty() && !rest.contains('/'))
}

#[async_trait]
impl HistoryArea for MemoryHistory {
    async fn keep(&self, shelf: Shelf, detached: Detached, at: &DavPath) -> SubsystemResult<Kept> {
        let (Some(parent), Some(name)) = (at.parent(), at.name()) else {
            return Err(SubsystemError::internal(
                "the history's root cannot be kept",
            ));
        };
        let entries = write(&self.live)
            .remove(&detached.handle)
            .ok_or_else(SubsystemError::not_found)?;
        let mut tree = write(&self.shelf(shelf).tree);
        // The collections above it, as needed.
        let now = SystemTime::now();
        for collection in collections_above(at) {
            let node = tree
                .entry(collection.as_str().to_owned())
                .or_insert_with(|| Node::collection(now));
            if !node.is_collection() {
                return Err(SubsystemError::conflict(format!(
                    "{collection} is a file on the history shelf"
                )));
            }
        }
        let mut siblings: Vec<(String, bool)> = members(&tree, &parent)
            .map(|(name, collection)| (name.to_owned(), collection))
            .collect();
        let free = free_name(name, siblings.iter().map(|(n, _)| n.as_str()));
        let kept = parent
            .join(&free)
            .map_err(|e| SubsystemError::internal(e.to_string()))?;
        let from = detached.path.as_str();
        let collection = entries
            .iter()
            .find(|(key, _)| key == from)
            .is_some_and(|(_, node)| node.is_collection());
        for (key, node) in entries {
            let rest = key.strip_prefix(from).unwrap_or_default();
            tree.insert(format!("{}{rest}", kept.as_str()), node);
        }
        siblings.push((free, collection));
        Ok(Kept { at: kept, siblings })
    }

    async fn remove(&self, shelf: Shelf, at: &DavPath) -> SubsystemResult<()> {
        let mut tree = write(&self.shelf(shelf).tree);
        for key in subtree_keys(&tree, at) {
            tree.remove(&key);
        }
        // Collections left empty go too, up to the shelf itself.
        let mut parent = at.parent();
        while let Some(collection) = parent.filter(|p| !p.is_root()) {
            if members(&tree, &collection).next().is_some() {
                break;
            }
            tree.remove(collection.as_str());
            parent = collection.parent();
        }
        Ok(())
    }

    fn view(&self, shelf: Shelf) -> Arc<dyn NamespaceManager> {
        let namespace: Arc<dyn NamespaceManager> = self.shelf(shelf).clone();
        Arc::new(match shelf {
            Shelf::Versions => HistoryView::read_only(namespace),
            Shelf::Trash => HistoryView::removable(namespace),
        })
    }
}
