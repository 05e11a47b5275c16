//! Keeping a disk from filling up to the last byte.
//!
//! A store that finds its disk full mid-write fails that write (507), and cleans up after it.
//! sled does worse: once one of its writes fails for lack of space, every later operation
//! fails too, until the database is opened again. So every durable store here refuses a write
//! with 507 *before* it starts when the free space on its disk has fallen below a reserve,
//! and a large upload checks again as it grows. The reserve keeps room for the state
//! database's own small writes (a PROPPATCH, a LOCK) even when uploads share its disk, and
//! once space is freed the next write simply succeeds: nothing needs a restart.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use davd_registry::{SubsystemError, SubsystemResult};
use rustix::fs::{Mode, OFlags};

/// The default reserve: writes stop while less than this is free on a store's disk.
pub const DEFAULT_RESERVE: u64 = 32 * 1024 * 1024;

/// How often (in bytes written) a growing upload looks at the free space again.
const RECHECK_EVERY: u64 = 1024 * 1024;

/// Refuses writes while the free space on the file system holding `path` is below `reserve`.
#[derive(Debug, Clone)]
pub struct SpaceGuard {
    path: PathBuf,
    reserve: u64,
    /// `path` opened once (`O_PATH`), so that each check asks its file system with
    /// `fstatvfs` instead of resolving the path again: every PUT checks twice (the content's
    /// disk and the state database's). `None` where it could not be opened (the check then
    /// goes by path).
    opened: Option<Arc<OwnedFd>>,
}

impl SpaceGuard {
    pub fn new(path: &Path, reserve: u64) -> Self {
        let opened = (reserve > 0)
            .then(|| rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).ok())
            .flatten()
            .map(Arc::new);
        SpaceGuard {
            path: path.to_path_buf(),
            reserve,
            opened,
        }
    }

    /// A guard that never refuses (a reserve of 0).
    pub fn none(path: &Path) -> Self {
        Self::new(path, 0)
    }

    pub fn reserve(&self) -> u64 {
        self.reserve
    }

    /// Bytes available to davd on the file system, if the system can tell.
    pub fn available(&self) -> Option<u64> {
        match &self.opened {
            Some(opened) => rustix::fs::fstatvfs(opened.as_ref())
                .ok()
                .map(|stat| stat.f_bavail.saturating_mul(stat.f_frsize)),
            None => fs4::available_space(&self.path).ok(),
        }
    }

    /// 507 if fewer than `reserve + more` bytes are free. One `statvfs`: cheap next to the
    /// write it guards. A system that cannot tell the free space is never refused here.
    pub fn check(&self, more: u64) -> SubsystemResult<()> {
        if self.reserve == 0 {
            return Ok(());
        }
        match self.available() {
            Some(free) if free < self.reserve.saturating_add(more) => Err(full(&self.path, free)),
            _ => Ok(()),
        }
    }

    /// The growth of an upload of which `written` bytes were already written since the guard
    /// last looked.
    pub fn growth(&self, written: u64) -> Growth<'_> {
        Growth {
            guard: self,
            unchecked: written,
        }
    }
}

/// An upload growing on a guarded disk: looks at the free space again each time another
/// [`RECHECK_EVERY`] bytes have been written, so that it stops at the reserve instead of
/// filling the disk.
pub struct Growth<'g> {
    guard: &'g SpaceGuard,
    unchecked: u64,
}

impl Growth<'_> {
    /// Counts `len` more bytes; 507 if they make a check due and the disk is below its reserve.
    pub fn add(&mut self, len: u64) -> SubsystemResult<()> {
        self.unchecked = self.unchecked.saturating_add(len);
        if self.unchecked >= RECHECK_EVERY {
            self.guard.check(0)?;
            self.unchecked = 0;
        }
        Ok(())
    }
}

/// The 507 for a disk below its reserve.
pub fn full(path: &Path, free: u64) -> SubsystemError {
    SubsystemError::insufficient_storage(format!(
        "not enough free space to store this: {} holds {} KiB free, below the reserve davd keeps",
        path.display(),
        free / 1024
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_larger_than_any_disk_refuses_with_507() {
        let dir = tempfile::tempdir().unwrap();
        let guard = SpaceGuard::new(dir.path(), u64::MAX / 2);
        let e = guard.check(0).unwrap_err();
        assert_eq!(e.status.as_u16(), 507);
        assert!(SpaceGuard::none(dir.path()).check(u64::MAX / 4).is_ok());
    }

    #[test]
    fn a_growing_upload_looks_again_each_time_enough_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let guard = SpaceGuard::new(dir.path(), u64::MAX / 2);
        let mut growth = guard.growth(RECHECK_EVERY - 10);
        growth.add(9).unwrap();
        let e = growth.add(1).unwrap_err();
        assert_eq!(e.status.as_u16(), 507);
        // Counted from zero again after each look.
        let mut growth = guard.growth(0);
        growth.add(RECHECK_EVERY - 1).unwrap();
        assert!(growth.add(RECHECK_EVERY).is_err());
        assert!(SpaceGuard::new(dir.path(), 1).check(0).is_ok());
    }

    /// The guard asks through the directory it opened: what it reads is the file system's
    /// free space, as a lookup by path reads it, and it keeps reading it when the path is
    /// gone (the file system is still there).
    #[test]
    fn the_opened_directory_reads_what_the_path_reads() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("state");
        std::fs::create_dir(&inner).unwrap();
        let guard = SpaceGuard::new(&inner, 1);
        assert!(guard.opened.is_some());
        let by_path = fs4::available_space(&inner).unwrap();
        let opened = guard.available().unwrap();
        // Other processes write meanwhile: the same file system within 64 MiB.
        assert!(opened.abs_diff(by_path) < 64 << 20, "{opened} vs {by_path}");
        std::fs::remove_dir(&inner).unwrap();
        assert!(fs4::available_space(&inner).is_err());
        assert!(guard.available().is_some());
        assert!(SpaceGuard::new(&inner, 1).opened.is_none());
        assert!(SpaceGuard::new(&inner, 1).check(0).is_ok());
    }
}
