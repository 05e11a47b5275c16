//! The staging directory: uploads being received, backups of replaced content, copies in
//! progress and detached (deleted or overwritten, not yet committed) resources.
//!
//! It sits inside the root so that publishing is one `rename` on one file system, never
//! appears in listings and cannot be named by a URL. Everything in it is addressed by a
//! *handle*, one plain file name: `put-…`, `prev-…`, `copy-…` for what the manager names
//! itself, and the executive's tag for a detached resource, so that after a crash the journal
//! can find what a request left here (docs/adr/0017-crash-safety.md). Nothing here is removed
//! when the store opens; [`empty`] runs once recovery is done.

use std::io;
use std::path::PathBuf;

use cap_std::fs::Dir;
use uuid::Uuid;

use davd_registry::{SubsystemError, SubsystemResult};

/// The hidden directory, directly below the root.
pub const STAGING: &str = ".davd-staging";

/// A fresh handle for something the manager stages itself (`kind` is `put`, `prev`, `copy`).
pub(super) fn fresh(kind: &str) -> String {
    format!("{kind}-{}", Uuid::new_v4().simple())
}

/// Where `handle` lives, relative to the root. Handles also come back from the journal, so
/// anything but one plain name is refused rather than joined onto a path.
pub(super) fn path_of(handle: &str) -> SubsystemResult<PathBuf> {
    let plain = !handle.is_empty()
        && handle != "."
        && handle != ".."
        && !handle.contains(['/', '\\', '\0']);
    if !plain {
        return Err(SubsystemError::internal(format!(
            "not a staging handle: {handle:?}"
        )));
    }
    Ok(PathBuf::from(STAGING).join(handle))
}

/// Creates the staging directory if it is missing.
pub(super) fn ensure(dir: &Dir) -> io::Result<()> {
    match dir.create_dir(STAGING) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs `op`, which creates something in the staging directory. If it fails because the
/// directory is gone (someone removed it while davd ran), the directory is made again and
/// `op` runs once more: a missing staging directory must not turn every write into a 404.
pub(super) fn with_staging<T>(dir: &Dir, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match op() {
        Err(e) if e.kind() == io::ErrorKind::NotFound && dir.metadata(STAGING).is_err() => {
            ensure(dir)?;
            op()
        }
        other => other,
    }
}

/// True if something is kept under `handle`.
pub(super) fn holds(dir: &Dir, handle: &str) -> SubsystemResult<bool> {
    match dir.symlink_metadata(path_of(handle)?) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Removes everything staged: what interrupted requests left, once recovery has restored or
/// purged what it needed. The directory itself stays: on a full disk, making it again could
/// fail.
pub(super) fn empty(dir: &Dir) -> io::Result<()> {
    ensure(dir)?;
    for entry in dir.read_dir(STAGING)? {
        let entry = entry?;
        let path = PathBuf::from(STAGING).join(entry.file_name());
        let removed = match entry.file_type()?.is_dir() {
            true => dir.remove_dir_all(&path),
            false => dir.remove_file(&path),
        };
        match removed {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_plain_names() {
        assert_eq!(
            path_of("put-1").unwrap(),
            PathBuf::from(".davd-staging/put-1")
        );
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "a\0"] {
            assert!(path_of(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_removed_staging_directory_is_made_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
        ensure(&dir).unwrap();
        dir.remove_dir(STAGING).unwrap();
        let path = path_of("put-x").unwrap();
        with_staging(&dir, || dir.create(&path)).unwrap();
        assert!(holds(&dir, "put-x").unwrap());
        assert!(!holds(&dir, "put-y").unwrap());
    }
}
