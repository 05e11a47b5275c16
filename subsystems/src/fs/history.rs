//! The fs namespace's history area (issue 22): a hidden directory beside the staging
//! directory, `.davd-history/versions` and `.davd-history/trash`, on the root's own file
//! system so that keeping a version is one `rename` of what the executive detached anyway.
//! Like the staging directory it never appears in listings and cannot be named by a URL; the
//! registry serves each shelf through a read-only fs namespace of its own.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use cap_std::fs::Dir;

use davd_registry::{
    DavPath, Detached, HistoryArea, NamespaceManager, Shelf, SubsystemError, SubsystemResult,
};

use super::staging::Staging;
use super::{FsNamespace, FsOptions, remove_any, sync};
use crate::blocking::blocking;
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
            let options = FsOptions {
                instance: None,
                ..options.clone()
            };
            Ok(match shelf {
                Shelf::Versions => Arc::new(HistoryView::read_only(FsNamespace::open_view(
                    &root.join(&path),
                    options,
                )?)),
                // Its entries can be removed (emptied, or moved back), which stages them
                // aside in a staging directory of its own first.
                Shelf::Trash => Arc::new(HistoryView::removable(FsNamespace::open(
                    &root.join(&path),
                    options,
                )?)),
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

/// The highest `n` of `name` (1) and its [`numbered`] forms in `parent`, if any is there.
fn highest_number(dir: &Dir, parent: &Path, name: &str) -> io::Result<Option<u32>> {
    let mut highest = dir.symlink_metadata(parent.join(name)).is_ok().then_some(1);
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, Some(ext)),
        _ => (name, None),
    };
    for entry in dir.read_dir(parent)? {
        let entry = entry?;
        let Ok(other) = entry.file_name().into_string() else {
            continue;
        };
        let Some(rest) = other.strip_prefix(stem).and_then(|r| r.strip_prefix('~')) else {
            continue;
        };
        let number = match ext {
            Some(ext) => rest.strip_suffix(ext).and_then(|r| r.strip_suffix('.')),
            None => Some(rest),
        };
        if let Some(n) = number.and_then(|n| n.parse::<u32>().ok()) {
            highest = Some(highest.map_or(n, |h: u32| h.max(n)));
        }
    }
    Ok(highest)
}

/// `name` with `~n` before its extension: `a.docx` -> `a~2.docx`.
fn numbered(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}~{n}.{ext}"),
        _ => format!("{name}~{n}"),
    }
}

#[async_trait]
impl HistoryArea for FsHistory {
    async fn keep(
        &self,
        shelf: Shelf,
        detached: Detached,
        at: &DavPath,
    ) -> SubsystemResult<DavPath> {
        let aside = self.staging.path_of(&detached.handle)?;
        let target = located(shelf, at)?;
        let dir = self.dir.clone();
        let fsync = self.fsync;
        let at = at.clone();
        blocking(move || {
            let (Some(parent), Some(name)) = (at.parent(), at.name()) else {
                return Err(SubsystemError::internal(
                    "the history's root cannot be kept",
                ));
            };
            let parent_dir = target.parent().unwrap_or(Path::new(HISTORY));
            dir.create_dir_all(parent_dir)?;
            // Kept within the same second as others of the same name: the next counter, past
            // every one in use (not the first free one: pruning frees the oldest, and a
            // reused number would sort among them).
            let (kept, path) = match highest_number(&dir, parent_dir, name)? {
                None => (at.clone(), target.clone()),
                Some(n) => {
                    let name = numbered(name, n + 1);
                    let kept = parent
                        .join(&name)
                        .map_err(|e| SubsystemError::internal(e.to_string()))?;
                    (kept, parent_dir.join(name))
                }
            };
            dir.rename(&aside, &dir, &path)?;
            if fsync {
                sync::entries(&dir, &[&aside, &path])?;
            }
            Ok(kept)
        })
        .await
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

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn a_counter_goes_before_the_extension() {
        assert_eq!(
            numbered("2026-12-04T10-15-03Z.docx", 2),
            "2026-12-04T10-15-03Z~2.docx"
        );
        assert_eq!(numbered("notes", 3), "notes~3");
        assert_eq!(numbered(".hidden", 2), ".hidden~2");
    }
}
