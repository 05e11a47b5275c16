//! The fs namespace's history area (issue 22): a hidden directory beside the staging
//! directory, `.davd-history/versions` and `.davd-history/trash`, on the root's own file
//! system so that keeping costs no copy: a version is a second name (a hard link) made for
//! the live file just before a write renames new content over it, a removed tree is one
//! `rename` of what the executive detached anyway.
//! Like the staging directory it never appears in listings and cannot be named by a URL; the
//! registry serves each shelf through a read-only fs namespace of its own.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use cap_std::fs::Dir;

use davd_registry::{
    DavPath, Detached, HistoryArea, Kept, NamespaceManager, Shelf, SubsystemError, SubsystemResult,
};

use super::staging::Staging;
use super::{FsNamespace, FsOptions, remove_any, sync};
use crate::blocking::blocking;
use crate::history_names::free_name;
use crate::history_view::HistoryView;

/// The hidden directory, directly below the root.
pub const HISTORY: &str = ".davd-history";

fn shelf_dir(shelf: Shelf) -> PathBuf {
    Path::new(HISTORY).join(match shelf {
        Shelf::Versions => "versions",
        Shelf::Trash => "trash",
    })
}

/// The history area of one fs root.
pub(super) struct FsHistory {
    dir: Arc<Dir>,
    staging: Staging,
    fsync: bool,
    versions: Arc<dyn NamespaceManager>,
    trash: Arc<dyn NamespaceManager>,
}

impl FsHistory {
    /// Creates the shelves below `root` if they are missing and opens their views.
    pub(super) fn open(
        dir: Arc<Dir>,
        root: &Path,
        staging: Staging,
        options: &FsOptions,
    ) -> io::Result<FsHistory> {
        let view = |shelf| -> io::Result<Arc<dyn NamespaceManager>> {
            let path = shelf_dir(shelf);
            dir.create_dir_all(&path)?;
            // The root's options, the instance's name among them: on a root shared by a
            // cluster, each instance's trash view stages (and discards at startup) only its own.
            let options = options.clone();
            Ok(match shelf {
                Shelf::Versions => Arc::new(HistoryView::read_only(Arc::new(
                    FsNamespace::open_view(&root.join(&path), options)?,
                ))),
                // Its entries can be removed (emptied, or moved back), which stages them
                // aside in a staging directory of its own first.
                Shelf::Trash => Arc::new(HistoryView::removable(Arc::new(FsNamespace::open(
                    &root.join(&path),
                    options,
                )?))),
            })
        };
        Ok(FsHistory {
            versions: view(Shelf::Versions)?,
            trash: view(Shelf::Trash)?,
            dir,
            staging,
            fsync: options.fsync,
        })
    }
}

/// `at` on `shelf`, relative to the root. `at` comes from the executive, built from a path
/// the fs namespace accepted, but is checked again: one plain relative path, nothing else.
fn located(shelf: Shelf, at: &DavPath) -> SubsystemResult<PathBuf> {
    let mut path = shelf_dir(shelf);
    for segment in at.segments() {
        if segment == ".." || segment == "." || segment.contains('/') {
            return Err(SubsystemError::internal(format!(
                "not a history path: {at}"
            )));
        }
        path.push(segment);
    }
    Ok(path)
}

/// The name `name` gets in `parent` ([`free_name`]: numbered past the numbers in use even
/// when `name` itself is free, as after the oldest version was pruned), and what is already
/// there (names, and whether each is a directory).
fn name_in(dir: &Dir, parent: &Path, name: &str) -> io::Result<(String, Vec<(String, bool)>)> {
    let mut siblings = Vec::new();
    for entry in dir.read_dir(parent)? {
        let entry = entry?;
        if let Ok(sibling) = entry.file_name().into_string() {
            let directory = entry.file_type().is_ok_and(|t| t.is_dir());
            siblings.push((sibling, directory));
        }
    }
    let free = free_name(name, siblings.iter().map(|(n, _)| n.as_str()));
    Ok((free, siblings))
}

/// Where something filed at `at` (whose place below the root is `target`) goes: the
/// directories above it made, its name numbered if taken. Returns its place below the root,
/// and what [`HistoryArea::keep`] reports: its path on the shelf and what is beside it (itself
/// counted as a file).
fn place(dir: &Dir, at: &DavPath, target: &Path) -> SubsystemResult<(PathBuf, Kept)> {
    let (Some(parent), Some(name)) = (at.parent(), at.name()) else {
        return Err(SubsystemError::internal(
            "the history's root cannot be kept",
        ));
    };
    let parent_dir = target.parent().unwrap_or(Path::new(HISTORY));
    dir.create_dir_all(parent_dir)?;
    // Kept within the same second as others of the same name: numbered.
    let (free, siblings) = name_in(dir, parent_dir, name)?;
    let kept = parent
        .join(&free)
        .map_err(|e| SubsystemError::internal(e.to_string()))?;
    let path = parent_dir.join(&free);
    let mut kept = Kept { at: kept, siblings };
    kept.siblings.push((free, false));
    Ok((path, kept))
}

#[async_trait]
impl HistoryArea for FsHistory {
    async fn keep(&self, shelf: Shelf, detached: Detached, at: &DavPath) -> SubsystemResult<Kept> {
        let aside = self.staging.path_of(&detached.handle)?;
        let target = located(shelf, at)?;
        let dir = self.dir.clone();
        let fsync = self.fsync;
        let at = at.clone();
        blocking(move || {
            let (path, mut kept) = place(&dir, &at, &target)?;
            let directory = dir.symlink_metadata(&aside)?.is_dir();
            dir.rename(&aside, &dir, &path)?;
            if fsync {
                sync::entries(&dir, &[&aside, &path])?;
            }
            if let Some(own) = kept.siblings.last_mut() {
                own.1 = directory;
            }
            Ok(kept)
        })
        .await
    }

    /// A second name (a hard link) for the live file, on the same file system: no bytes are
    /// copied, and the publish that follows renames the new content over the live name only.
    async fn keep_current(&self, live: &DavPath, at: &DavPath) -> SubsystemResult<Option<Kept>> {
        let source = super::resolve::relative_or_reserved(live)?;
        let target = located(Shelf::Versions, at)?;
        let dir = self.dir.clone();
        let fsync = self.fsync;
        let at = at.clone();
        blocking(move || {
            match dir.symlink_metadata(&source) {
                Ok(meta) if meta.is_file() => {}
                // Nothing there (a new file), or not a plain file: nothing to keep.
                Ok(_) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            }
            let (path, kept) = place(&dir, &at, &target)?;
            dir.hard_link(&source, &dir, &path)?;
            if fsync {
                sync::entries(&dir, &[&path])?;
            }
            Ok(Some(kept))
        })
        .await
    }

    fn keeps_current(&self) -> bool {
        true
    }

    async fn remove(&self, shelf: Shelf, at: &DavPath) -> SubsystemResult<()> {
        let target = located(shelf, at)?;
        let top = shelf_dir(shelf);
        let dir = self.dir.clone();
        blocking(move || {
            remove_any(&dir, &target)?;
            // Collections left empty by the removal go too, up to the shelf itself.
            let mut parent = target.parent();
            while let Some(p) = parent {
                if p == top || !p.starts_with(&top) || dir.remove_dir(p).is_err() {
                    break;
                }
                parent = p.parent();
            }
            Ok(())
        })
        .await
    }

    fn view(&self, shelf: Shelf) -> Arc<dyn NamespaceManager> {
        match shelf {
            Shelf::Versions => self.versions.clone(),
            Shelf::Trash => self.trash.clone(),
        }
    }
}
