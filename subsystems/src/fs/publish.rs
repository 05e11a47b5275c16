//! Publishing staged content: the new file takes the path's place with one `rename`, so a
//! reader sees the old bytes or the new, never a mix.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use cap_std::fs::Dir;

use davd_registry::{
    Detached, Replaced, ResourceMeta, Staged, SubsystemError, SubsystemResult, WriteReceipt,
};

use super::landing::{Landing, Occupant};
use super::resolve::not_found_is_none;
use super::staging::{self, Staging};
use super::{is_dir, onto_collection, sync};

fn no_parent() -> SubsystemError {
    SubsystemError::conflict("the parent collection does not exist")
}

/// Puts the staged file at `rel`. Unless the caller said nothing will undo it
/// (`keep_previous` false), the old content is first hard-linked into the staging directory
/// (under the executive's backup tag when it gave one), which also tells whether there was
/// any. What the kernel refuses says what is wrong: no parent (409), a collection at the path
/// (405). With `fsync`, the directory entry is synced too, so the new name survives a power
/// cut (the file's data was synced when it was staged). Blocking.
pub(super) fn publish(
    dir: &Dir,
    staging: &Staging,
    rel: &Path,
    staged: Staged,
    fsync: bool,
    inline: bool,
) -> SubsystemResult<WriteReceipt> {
    let temp = staging.path_of(&staged.handle)?;
    let meta = staged
        .meta
        .clone()
        .ok_or_else(|| SubsystemError::internal("staged without metadata"))?;
    let published = (|| {
        if !staged.keep_previous
            && let Some(done) = publish_by_kernel(dir, rel, &temp, fsync, inline, &meta)
        {
            return done;
        }
        let previous = match staged.keep_previous {
            false => {
                // Nothing will undo this: no backup, just learn whether it is new.
                match not_found_is_none(dir.metadata(rel)) {
                    Ok(Some(m)) if m.is_dir() => return Err(onto_collection()),
                    Ok(found) => found.map(|_| None),
                    Err(e) if e.kind() == io::ErrorKind::NotADirectory => return Err(no_parent()),
                    Err(e) => return Err(e.into()),
                }
            }
            true => keep_previous(dir, staging, rel, &staged)?.map(Some),
        };
        if let Err(e) = dir.rename(&temp, dir, rel) {
            if let Some(Some(prev)) = &previous {
                let _ = dir.remove_file(staging.path_of(&prev.handle)?);
            }
            return Err(match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => no_parent(),
                io::ErrorKind::IsADirectory | io::ErrorKind::DirectoryNotEmpty => onto_collection(),
                _ if is_dir(dir, rel) => onto_collection(),
                _ => e.into(),
            });
        }
        if fsync {
            sync::entries(dir, &[rel])?;
        }
        Ok(WriteReceipt {
            created: previous.is_none(),
            previous: previous.flatten(),
            meta,
            replaced: None,
        })
    })();
    if published.is_err() {
        let _ = dir.remove_file(&temp);
    }
    published
}

/// The common case, a write that nothing will undo, with the kernel resolving the paths
/// ([`super::landing`]): two system calls for a root entry, four below it, where cap-std
/// makes eight. `None`: cap-std is to
/// decide (no `openat2`, a link on the way or at the name).
fn publish_by_kernel(
    dir: &Dir,
    rel: &Path,
    temp: &Path,
    fsync: bool,
    inline: bool,
    meta: &ResourceMeta,
) -> Option<SubsystemResult<WriteReceipt>> {
    let Ok(landing) = Landing::open(dir, rel)? else {
        return Some(Err(no_parent()));
    };
    // The file replaced is held open, so that the kernel frees it when the request is done,
    // not inside the rename, under the latch (`davd_registry::Replaced`).
    let (created, replaced) = match landing.occupant_held() {
        Ok((Occupant::Nothing, _)) => (true, None),
        Ok((Occupant::File, held)) => (
            false,
            held.map(|(fd, len)| Replaced::new(ReplacedFile::new(fd, len, inline))),
        ),
        Ok((Occupant::Collection, _)) => return Some(Err(onto_collection())),
        Ok((Occupant::Other, _)) => return None,
        Err(e) => return Some(Err(e.into())),
    };
    let renamed = landing.rename_from(temp).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => no_parent(),
        io::ErrorKind::IsADirectory | io::ErrorKind::DirectoryNotEmpty => onto_collection(),
        _ => e.into(),
    });
    Some(renamed.and_then(|()| {
        if fsync {
            sync::entries(dir, &[rel])?;
        }
        Ok(WriteReceipt {
            created,
            previous: None,
            meta: meta.clone(),
            replaced,
        })
    }))
}

/// Hard-links the content at `rel` into the staging directory; `None` if there is none.
fn keep_previous(
    dir: &Dir,
    staging: &Staging,
    rel: &Path,
    staged: &Staged,
) -> SubsystemResult<Option<Detached>> {
    let backup = match &staged.backup_tag {
        Some(tag) => tag.clone(),
        None => staging::fresh("prev"),
    };
    let backup_path = staging.path_of(&backup)?;
    match staging.with_staging(dir, &backup_path, || dir.hard_link(rel, dir, &backup_path)) {
        Ok(()) => Ok(Some(Detached {
            path: staged.path.clone(),
            handle: backup,
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // A directory cannot be hard-linked.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && is_dir(dir, rel) => {
            Err(onto_collection())
        }
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Err(no_parent()),
        Err(e) => Err(e.into()),
    }
}

/// The file a publish replaced, held open until the request drops it. Freeing a file costs the
/// kernel in proportion to its size (its pages, its blocks): a large one, or any one when
/// file-system work is kept off the connection threads (`fs_inline_io = false`), is closed on
/// the blocking pool instead of on the thread that drops it.
struct ReplacedFile {
    fd: Option<OwnedFd>,
    elsewhere: bool,
}

/// From this size a replaced file is freed on the blocking pool (a few hundred microseconds
/// of the kernel's time and up; a 4 KiB one takes about 20).
const FREED_ELSEWHERE_FROM: u64 = 1024 * 1024;

impl ReplacedFile {
    fn new(fd: OwnedFd, len: u64, inline: bool) -> ReplacedFile {
        ReplacedFile {
            fd: Some(fd),
            elsewhere: freed_elsewhere(len, inline),
        }
    }
}

fn freed_elsewhere(len: u64, inline: bool) -> bool {
    !inline || len >= FREED_ELSEWHERE_FROM
}

impl Drop for ReplacedFile {
    fn drop(&mut self) {
        if let (Some(fd), true) = (self.fd.take(), self.elsewhere)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn_blocking(move || drop(fd));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn large_replaced_files_are_freed_off_the_connection_thread() {
        assert!(!freed_elsewhere(4096, true));
        assert!(freed_elsewhere(FREED_ELSEWHERE_FROM, true));
        assert!(freed_elsewhere(4096, false));
    }

    #[test]
    fn a_large_replaced_file_is_closed_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old");
        std::fs::write(&path, b"old").unwrap();
        let open = |fd: &OwnedFd| format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd));
        let still_open =
            |entry: &str| std::fs::read_link(entry).ok().as_deref() == Some(path.as_path());
        // A pool of one thread, kept busy until the test lets it go: what is sent there
        // waits, what is closed on the spot does not.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let (release, busy) = std::sync::mpsc::channel::<()>();
        let (large, small) = (
            OwnedFd::from(std::fs::File::open(&path).unwrap()),
            OwnedFd::from(std::fs::File::open(&path).unwrap()),
        );
        let (large_entry, small_entry) = (open(&large), open(&small));
        {
            let _inside = runtime.enter();
            runtime.spawn_blocking(move || busy.recv());
            drop(ReplacedFile::new(small, 4096, true));
            drop(ReplacedFile::new(large, FREED_ELSEWHERE_FROM, true));
        }
        assert!(
            !still_open(&small_entry),
            "a small file is closed where it is dropped"
        );
        assert!(
            still_open(&large_entry),
            "a large one waits for the blocking pool"
        );
        release.send(()).unwrap();
        // Dropping a runtime waits for its blocking tasks.
        drop(runtime);
        assert!(!still_open(&large_entry));
    }
}
