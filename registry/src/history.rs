//! The history contract (issue 22): where a store keeps the content that writes replace and
//! deletions remove, so that users can find and restore it.
//!
//! A store that can keep history opens a [`HistoryArea`] with
//! [`NamespaceManager::history_area`](crate::NamespaceManager::history_area). The executive
//! decides what goes there and when it is pruned (the mount's [`Retention`]); the area only
//! files content away, removes it, and offers read-only views that the registry mounts at their
//! own URL scopes like any other namespace.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use davd_protocol::DavPath;

use crate::error::SubsystemResult;
use crate::namespace::{Detached, NamespaceManager};

/// How long, and how many, versions a mount keeps (`history = { keep = "30d", max_versions =
/// 50 }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Versions and trash entries older than this are pruned.
    pub keep: Duration,
    /// Most versions kept of one path; the oldest go first.
    pub max_versions: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep: Duration::from_secs(30 * 24 * 3600),
            max_versions: 50,
        }
    }
}

/// The two parts of a history area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shelf {
    /// Earlier versions, filed under the path they were replaced at:
    /// `/docs/report.docx/2026-12-04T10-15-03Z.docx`.
    Versions,
    /// Removed resources and trees, filed under the time and path they were removed from:
    /// `/2026-12-04T10-15-03Z/docs/report.docx`.
    Trash,
}

/// A store's history area.
#[async_trait]
pub trait HistoryArea: Send + Sync {
    /// Files a detached resource (the replaced content of a write, a removed tree) at `at` on
    /// `shelf`, creating the collections above it, and returns where it went: `at`, or, if
    /// something is there already, `at` with a counter added to its name (`~2`). It is no
    /// longer detached afterwards: [`NamespaceManager::purge`] of it finds nothing.
    async fn keep(&self, shelf: Shelf, detached: Detached, at: &DavPath) -> SubsystemResult<Kept>;

    /// Files what is at `live` now (a file of this area's namespace, as that namespace names
    /// it) as a version at `at`, before a write replaces it, without copying its bytes (the fs
    /// kind makes a second name for it): a crash between this and the replacement leaves the
    /// old state intact with, at worst, a version equal to it, so the write needs no journal.
    /// `Ok(None)` if no file is at `live`. Only for areas whose [`HistoryArea::keeps_current`]
    /// is true; the default refuses.
    async fn keep_current(&self, _live: &DavPath, _at: &DavPath) -> SubsystemResult<Option<Kept>> {
        Err(crate::SubsystemError::new(
            http::StatusCode::NOT_IMPLEMENTED,
            "this store keeps versions only of content a write has set aside",
        ))
    }

    /// True if [`HistoryArea::keep_current`] works here. Otherwise a write's replaced content
    /// is kept at commit, under the request's journal.
    fn keeps_current(&self) -> bool {
        false
    }

    /// Removes `at` on `shelf`, with its subtree, for good (pruning). Succeeds if nothing is
    /// there.
    async fn remove(&self, shelf: Shelf, at: &DavPath) -> SubsystemResult<()>;

    /// A read-only namespace over `shelf`, for the registry to mount where clients browse it.
    fn view(&self, shelf: Shelf) -> Arc<dyn NamespaceManager>;
}

/// Where [`HistoryArea::keep`] filed a resource, and what is beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub at: DavPath,
    /// Every member of the collection it went into, its own included, with whether each is a
    /// collection: what pruning by count needs, read while the name was chosen, so that no
    /// second listing is made.
    pub siblings: Vec<(String, bool)>,
}

/// Where a history shelf is browsed: the view's scope, and the live scope whose history it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryMount {
    pub view: DavPath,
    pub shelf: Shelf,
    pub live: DavPath,
}

/// The history in force for a scope: its store's area and the mount's retention.
#[derive(Clone)]
pub struct History {
    pub area: Arc<dyn HistoryArea>,
    pub retention: Retention,
}
