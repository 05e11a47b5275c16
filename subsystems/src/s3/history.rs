//! The s3 namespace's history area (issue 22, docs/history.md). Its shelves are key spaces of
//! the namespace's own rows in `davd_s3_tree`, as sled's are of its node tree: a version's or
//! a trash entry's row has the same `store` as the live rows, and its `dir` begins with
//! [`VERSIONS`] (`v`) or [`TRASH`] (`h`) where a live `dir` begins with `/` (or is empty, for
//! the root). Every live subtree is a range of `dir` between `/` and `0`, so no live query
//! ever meets a history row; each shelf is served by an [`S3Namespace`] whose `space` puts its
//! letter before every `dir` it asks for.
//!
//! **No bytes are copied.** Keeping a version or a removed tree is one unit that moves the rows
//! the write or the DELETE detached (`davd_s3_detached`, under the request's tag) to the
//! shelf's keys; the rows name the same blobs. Because they stay in the same table under the
//! same store, everything that asks whether a blob is still named (the collector's `DUE`, the
//! orphan scan's `UNNAMED`, `RELEASE`, a publish's and a purge's checks) counts them without a
//! change: a blob a version names is never collected. Pruning removes rows and records their
//! blobs as unreferenced in the same unit when nothing else names them, as a DELETE does, so
//! the collector removes them after the grace period.
//!
//! **Crash safety.** Filing rides the request's latches' transaction when it carries one, and
//! is otherwise a transaction of its own: either the rows are on the shelf or they are still
//! detached under the request's tag, which the journal names, and recovery files them then
//! (`executive/src/recovery.rs`).
//!
//! **Several instances.** The shelves are shared as the tree is. Filing and pruning take
//! transaction-scoped advisory locks on the shelf's collections, outermost first: filing
//! shares those above what it files and holds the one it files into alone (so that two
//! instances never pick the same free name); pruning removes a collection it left empty only
//! while it holds it alone, having looked again under the lock, so that a collection another
//! instance is filing into is never removed from under its new member. Two sweeps that
//! remove the same entry at once find it gone in turn, and release its blobs once.

use std::sync::Arc;

use async_trait::async_trait;

use davd_registry::{
    DavPath, Detached, HistoryArea, Kept, NamespaceManager, Shelf, SubsystemError, SubsystemResult,
};

use super::{S3Namespace, tree};
use crate::history_names::{collections_above, free_name};
use crate::history_view::HistoryView;
use crate::postgres::{OPERATION_TIMEOUT, Ride, TREE_TIMEOUT, Unit, advisory_key, paths};

/// The first byte of a version's `dir`.
pub(super) const VERSIONS: &str = "v";
/// The first byte of a trash entry's `dir`.
pub(super) const TRASH: &str = "h";

/// Takes the advisory lock `$1`, shared, until the transaction ends.
const SHARE: &str = "SELECT pg_advisory_xact_lock_shared($1)";
/// Takes the advisory lock `$1`, alone, until the transaction ends.
const EXCLUDE: &str = "SELECT pg_advisory_xact_lock($1)";

/// A collection at `$2`, `$3` with the entity tag `$4`, unless something is there.
const MAKE_COLLECTION: &str = "INSERT INTO davd_s3_tree (store, dir, name, blob, len, etag, \
                               created, modified) VALUES ($1, $2, $3, NULL, 0, $4, now(), \
                               now()) ON CONFLICT DO NOTHING";

/// Whether the row at `$2`, `$3` is a collection (no row: not there).
const IS_COLLECTION: &str =
    "SELECT blob IS NULL FROM davd_s3_tree WHERE store = $1 AND dir = $2 AND name = $3";

/// The members of the collection whose members' `dir` is `$2`: names, and whether each is a
/// collection.
const MEMBERS: &str = "SELECT name, blob IS NULL FROM davd_s3_tree WHERE store = $1 AND dir = $2";

/// Moves the rows detached under the tag `$2` to the shelf: the one at `$3`, `$4` (where it
/// was detached from) to `$5`, `$6`, those below it (their `dir` from the character `$8` on)
/// below `$7`. One row per resource moved, true for the filed resource itself when it is a
/// collection.
const FILE: &str = "\
WITH moved AS (DELETE FROM davd_s3_detached WHERE store = $1 AND tag = $2 \
               RETURNING dir, name, blob, len, etag, created, modified) \
INSERT INTO davd_s3_tree (store, dir, name, blob, len, etag, created, modified) \
SELECT $1, \
       CASE WHEN dir = $3 AND name = $4 THEN $5::text ELSE $7::text || substr(dir, $8) END, \
       CASE WHEN dir = $3 AND name = $4 THEN $6::text ELSE name END, \
       blob, len, etag, created, modified FROM moved \
RETURNING dir = $5 AND name = $6 AND blob IS NULL";

/// Whether the collection whose members' `dir` is `$2` has any.
const ANY_MEMBER: &str = "SELECT 1 FROM davd_s3_tree WHERE store = $1 AND dir = $2 LIMIT 1";

/// Removes the collection at `$2`, `$3` if it has no members (their `dir` is `$4`); a row if
/// it did.
const REMOVE_EMPTY: &str = "DELETE FROM davd_s3_tree WHERE store = $1 AND dir = $2 \
                            AND name = $3 AND blob IS NULL AND NOT EXISTS (SELECT 1 FROM \
                            davd_s3_tree m WHERE m.store = $1 AND m.dir = $4) RETURNING 1";

impl S3Namespace {
    /// Where the rows of `path` are in this namespace's key space: its parent's `dir` and its
    /// name (`postgres/paths.rs`, with the space before the `dir`).
    pub(super) fn split(&self, path: &DavPath) -> (String, String) {
        let (dir, name) = paths::split(path);
        (format!("{}{dir}", self.space), name)
    }

    /// The `dir` of the members of `path` in this namespace's key space.
    pub(super) fn children(&self, path: &DavPath) -> String {
        format!("{}{}", self.space, paths::children(path))
    }

    /// The range of `dir` that holds everything strictly below `path` in this key space.
    pub(super) fn below(&self, path: &DavPath) -> (String, String) {
        let (from, to) = paths::below(path);
        (
            format!("{}{from}", self.space),
            format!("{}{to}", self.space),
        )
    }

    /// Makes this key space's root collection if no instance has yet.
    pub(super) async fn make_root(&self) -> SubsystemResult<()> {
        self.cluster
            .query(
                tree::MAKE_ROOT,
                &[&self.store, &tree::fresh_etag(), &self.space],
            )
            .await?;
        Ok(())
    }

    /// The same store, served from the key space `space`.
    fn on_shelf(&self, space: &'static str) -> S3Namespace {
        S3Namespace {
            cluster: self.cluster.clone(),
            blobs: self.blobs.clone(),
            store: self.store.clone(),
            grace: self.grace,
            space,
        }
    }

    /// The advisory lock of the collection `path` of this shelf, shared by every instance.
    fn lock_of(&self, path: &DavPath) -> i64 {
        let key = format!("{}\0{}{}", self.store, self.space, path.as_str());
        advisory_key(self.cluster.schema(), "s3-history", &key)
    }

    /// Runs `work` as one unit (riding the request's latches' transaction when it carries
    /// one), within the time a change of a whole tree may take.
    async fn in_unit<T>(
        &self,
        work: impl AsyncFnOnce(&mut Unit) -> SubsystemResult<T>,
    ) -> SubsystemResult<T> {
        self.cluster
            .within(TREE_TIMEOUT + OPERATION_TIMEOUT, async {
                let mut unit = self.cluster.unit(Ride::Carried).await?;
                let outcome = work(&mut unit).await;
                unit.finish(outcome).await
            })
            .await
    }

    /// Files the rows detached under `detached.handle` at `at` on this shelf (see
    /// [`HistoryArea::keep`]), with the collections above it that are missing.
    async fn file(
        &self,
        unit: &mut Unit,
        detached: &Detached,
        at: &DavPath,
    ) -> SubsystemResult<Kept> {
        let (Some(parent), Some(name)) = (at.parent(), at.name()) else {
            return Err(SubsystemError::internal(
                "the history's root cannot be kept",
            ));
        };
        let store = &self.store;
        let above = collections_above(at);
        for collection in &above {
            let key = self.lock_of(collection);
            let lock = if *collection == parent {
                EXCLUDE
            } else {
                SHARE
            };
            unit.query(lock, &[&key]).await?;
            let (dir, name) = self.split(collection);
            let etag = tree::fresh_etag();
            unit.query(MAKE_COLLECTION, &[store, &dir, &name, &etag])
                .await?;
            // A statement of its own, after the insert: it sees a collection another
            // instance made meanwhile, which the insert waited for.
            let rows = unit.query(IS_COLLECTION, &[store, &dir, &name]).await?;
            let is_collection = rows.first().map(|row| row.try_get::<_, bool>(0));
            if !matches!(is_collection, Some(Ok(true))) {
                return Err(SubsystemError::conflict(format!(
                    "{collection} is a file on the history shelf"
                )));
            }
        }
        if above.is_empty() {
            // Filed into the shelf's root: alone there, for the free name.
            unit.query(EXCLUDE, &[&self.lock_of(&DavPath::root())])
                .await?;
        }
        let mut siblings = Vec::new();
        for row in unit
            .query(MEMBERS, &[store, &self.children(&parent)])
            .await?
        {
            let member = (row.try_get::<_, String>(0), row.try_get::<_, bool>(1));
            let (Ok(name), Ok(collection)) = member else {
                return Err(SubsystemError::internal("an unreadable row of the history"));
            };
            siblings.push((name, collection));
        }
        let free = free_name(name, siblings.iter().map(|(n, _)| n.as_str()));
        let kept = parent
            .join(&free)
            .map_err(|e| SubsystemError::internal(e.to_string()))?;
        // The detached rows keep the live key space's places (empty `space`).
        let (from_dir, from_name) = paths::split(&detached.path);
        let from_below = paths::children(&detached.path);
        let after = from_below.chars().count() as i32 + 1;
        let (to_dir, to_name) = self.split(&kept);
        let to_below = self.children(&kept);
        let moved = unit
            .query(
                FILE,
                &[
                    store,
                    &detached.handle,
                    &from_dir,
                    &from_name,
                    &to_dir,
                    &to_name,
                    &to_below,
                    &after,
                ],
            )
            .await?;
        if moved.is_empty() {
            return Err(SubsystemError::not_found());
        }
        let collection = moved
            .iter()
            .any(|row| row.try_get::<_, Option<bool>>(0).ok().flatten() == Some(true));
        siblings.push((free, collection));
        Ok(Kept { at: kept, siblings })
    }

    /// Removes `at` and its subtree from this shelf, recording the blobs nothing else names
    /// for the collector; then the collections above it left empty (see the module's notes
    /// on locks).
    async fn prune(&self, unit: &mut Unit, at: &DavPath) -> SubsystemResult<()> {
        let store = &self.store;
        let (dir, name) = self.split(at);
        let (from, to) = self.below(at);
        let gone = unit
            .query(tree::REMOVE_TREE, &[store, &dir, &name, &from, &to])
            .await?;
        let blobs = super::transaction::blobs_named(&gone)?;
        if !blobs.is_empty() {
            unit.query(tree::RELEASE, &[store, &blobs]).await?;
        }
        let Some(parent) = at.parent().filter(|p| !p.is_root()) else {
            return Ok(());
        };
        if !unit
            .query(ANY_MEMBER, &[store, &self.children(&parent)])
            .await?
            .is_empty()
        {
            return Ok(());
        }
        // Left empty: held alone, outermost first as filing takes them, then looked at again.
        let mut chain = collections_above(at);
        for collection in &chain {
            unit.query(EXCLUDE, &[&self.lock_of(collection)]).await?;
        }
        while let Some(collection) = chain.pop() {
            let (dir, name) = self.split(&collection);
            let members = self.children(&collection);
            let removed = unit
                .query(REMOVE_EMPTY, &[store, &dir, &name, &members])
                .await?;
            if removed.is_empty() {
                break;
            }
        }
        Ok(())
    }
}

/// The s3 namespace's history: a namespace over each shelf's key space.
pub(super) struct S3History {
    versions: Arc<S3Namespace>,
    trash: Arc<S3Namespace>,
}

impl S3History {
    /// Opens the shelves of `live`'s store, making their roots if no instance has yet.
    pub(super) async fn open(live: &S3Namespace) -> SubsystemResult<S3History> {
        let versions = live.on_shelf(VERSIONS);
        let trash = live.on_shelf(TRASH);
        versions.make_root().await?;
        trash.make_root().await?;
        Ok(S3History {
            versions: Arc::new(versions),
            trash: Arc::new(trash),
        })
    }

    fn shelf(&self, shelf: Shelf) -> &Arc<S3Namespace> {
        match shelf {
            Shelf::Versions => &self.versions,
            Shelf::Trash => &self.trash,
        }
    }
}

#[async_trait]
impl HistoryArea for S3History {
    async fn keep(&self, shelf: Shelf, detached: Detached, at: &DavPath) -> SubsystemResult<Kept> {
        let target = self.shelf(shelf);
        target
            .in_unit(async |unit| target.file(unit, &detached, at).await)
            .await
    }

    async fn remove(&self, shelf: Shelf, at: &DavPath) -> SubsystemResult<()> {
        let target = self.shelf(shelf);
        target
            .in_unit(async |unit| target.prune(unit, at).await)
            .await
    }

    fn view(&self, shelf: Shelf) -> Arc<dyn NamespaceManager> {
        let namespace: Arc<dyn NamespaceManager> = self.shelf(shelf).clone();
        Arc::new(match shelf {
            Shelf::Versions => HistoryView::read_only(namespace),
            Shelf::Trash => HistoryView::removable(namespace),
        })
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
