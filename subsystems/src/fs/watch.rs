//! Listing versions from inotify ([`NamespaceManager::listing_version`] for the fs namespace).
//!
//! The executive keeps rendered listings and serves one again while its version is unchanged
//! (docs/performance.md, "The listing cache"). On a local file system, everything a listing
//! shows that can change raises an inotify event on the directory's watch before the system
//! call that changed it returns: a member created, removed or renamed, written or truncated,
//! its times, mode or owner changed, by davd or by any other process. So a collection's
//! version is the number of events seen on its watch, with the same number for each of its
//! subdirectories: a subdirectory's modification time moves when its own members change,
//! which only its own watch reports.
//!
//! What inotify cannot see makes a listing unversioned (rendered every time): a symbolic link
//! among the members (its target may be anywhere), a file with a second name (it can be
//! written through a name in another directory), a subdirectory that is a mount point, very
//! large directories, and file systems that other machines write (NFS, SMB, FUSE and the
//! like, as the root or mounted inside it).
//!
//! [`NamespaceManager::listing_version`]: davd_registry::NamespaceManager::listing_version

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Mutex;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, statat};
use rustix::io::Errno;

use davd_registry::ListingVersion;

/// Watches kept at once; past it every watch is dropped and counting starts again (all
/// versions change). The kernel's own limit (`max_user_watches`) is usually far higher.
const MOST_WATCHES: usize = 4096;
/// Entries of one directory looked at to decide whether its listing can be versioned: a
/// larger listing is far beyond what the executive keeps anyway.
const MOST_ENTRIES: usize = 10_000;
/// Subdirectories watched for one directory.
const MOST_SUBDIRECTORIES: usize = 256;

/// The events that mean a listing may show something else.
fn watched_events() -> WatchFlags {
    WatchFlags::ATTRIB
        | WatchFlags::CLOSE_WRITE
        | WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::DELETE_SELF
        | WatchFlags::MODIFY
        | WatchFlags::MOVE_SELF
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::ONLYDIR
}

/// The fs namespace's watches. One lock: a listing asks once, and holds it for a read of
/// the event queue (one system call when nothing happened).
pub(super) struct Watcher {
    state: Mutex<Slot>,
}

/// The inotify instance is opened by the first listing that asks (a server that is never
/// asked for a listing, or whose cache is off, holds no descriptor for it).
enum Slot {
    Unopened,
    Open(State),
    /// Nothing is watched: a network file system, or inotify unavailable.
    Unavailable,
}

struct State {
    inotify: OwnedFd,
    /// Raised whenever counts were lost (the queue overflowed, the watches were reset), so
    /// that no version from before equals one from after.
    epoch: u64,
    watched: HashMap<i32, Watched>,
}

#[derive(Default)]
struct Watched {
    events: u64,
    /// What the directory held when it was last looked at, valid while `events` is `at`.
    summary: Option<Summary>,
}

struct Summary {
    at: u64,
    /// The watches of its subdirectories; `None`: its listing cannot be versioned.
    subdirectories: Option<Vec<i32>>,
}

impl Watcher {
    /// Watches nothing when `root` is on a file system that other machines write.
    pub(super) fn new(root: &impl AsFd) -> Watcher {
        let local = rustix::fs::fstatfs(root).is_ok_and(|s| !shared_file_system(s.f_type));
        let slot = if local {
            Slot::Unopened
        } else {
            Slot::Unavailable
        };
        Watcher {
            state: Mutex::new(slot),
        }
    }

    /// The version of the listing of `dir` (opened by the caller); `at_root` leaves the
    /// staging directory out, as the listing does.
    pub(super) fn version(&self, dir: &impl AsFd, at_root: bool) -> Option<ListingVersion> {
        let mut slot = self.state.lock().ok()?;
        if matches!(*slot, Slot::Unopened) {
            *slot = match inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC) {
                Ok(inotify) => Slot::Open(State {
                    inotify,
                    epoch: 0,
                    watched: HashMap::new(),
                }),
                Err(_) => Slot::Unavailable,
            };
        }
        let Slot::Open(state) = &mut *slot else {
            return None;
        };
        state.drain();
        if state.watched.len() > MOST_WATCHES {
            state.reset()?;
        }
        let watch = state.watch(dir)?;
        let events = state.watched.entry(watch).or_default().events;
        let current = state.watched.get(&watch).and_then(|w| w.summary.as_ref());
        if current.is_none_or(|s| s.at != events) {
            // Events that arrive while looking are counted at the next drain, and make this
            // summary stale then.
            let subdirectories = state.subdirectories(dir, at_root);
            let summary = Summary {
                at: events,
                subdirectories,
            };
            state.watched.entry(watch).or_default().summary = Some(summary);
        }
        let summary = state.watched.get(&watch)?.summary.as_ref()?;
        let subdirectories = summary.subdirectories.as_ref()?;
        let mut version = Vec::with_capacity(3 + 2 * subdirectories.len());
        version.extend([state.epoch, u64::from(watch.unsigned_abs()), events]);
        for sub in subdirectories {
            let events = state.watched.get(sub).map_or(u64::MAX, |w| w.events);
            version.extend([u64::from(sub.unsigned_abs()), events]);
        }
        Some(ListingVersion(version))
    }
}

impl State {
    /// Counts every event waiting in the queue against its watch.
    fn drain(&mut self) {
        let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.inotify, &mut buffer);
        let mut lost = false;
        loop {
            match reader.next() {
                Ok(event) if event.events().contains(ReadFlags::QUEUE_OVERFLOW) => lost = true,
                Ok(event) => {
                    let wd = event.wd();
                    if event.events().contains(ReadFlags::IGNORED) {
                        // The directory is gone (or the watch was dropped): forget it; a
                        // version that named it never matches again.
                        self.watched.remove(&wd);
                    } else if let Some(watched) = self.watched.get_mut(&wd) {
                        watched.events += 1;
                    }
                }
                Err(Errno::AGAIN) => break,
                Err(Errno::INTR) => {}
                Err(_) => {
                    lost = true;
                    break;
                }
            }
        }
        if lost {
            self.epoch += 1;
            for watched in self.watched.values_mut() {
                watched.events += 1;
                watched.summary = None;
            }
        }
    }

    /// Drops every watch by starting a new inotify instance.
    fn reset(&mut self) -> Option<()> {
        self.inotify = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).ok()?;
        self.watched.clear();
        self.epoch += 1;
        Some(())
    }

    /// The watch on the directory open as `dir` (the same one if it is watched already).
    /// Through `/proc/self/fd`, so that the directory watched is exactly the one the caller
    /// resolved inside the root, never another reached by resolving a path again.
    fn watch(&self, dir: &impl AsFd) -> Option<i32> {
        let path = format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd());
        inotify::add_watch(&self.inotify, path, watched_events()).ok()
    }

    /// The watches of `dir`'s subdirectories, set up now; `None` if its listing cannot be
    /// versioned (a symbolic link, a file with a second name, too many entries).
    fn subdirectories(&mut self, dir: &impl AsFd, at_root: bool) -> Option<Vec<i32>> {
        // A network file system mounted inside the root: its other writers raise no event.
        if shared_file_system(rustix::fs::fstatfs(dir).ok()?.f_type) {
            return None;
        }
        let device = rustix::fs::fstat(dir).ok()?.st_dev;
        let mut found = Vec::new();
        let listing = rustix::fs::openat(
            dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let entries = rustix::fs::Dir::read_from(&listing).ok()?;
        let mut seen = 0usize;
        for entry in entries {
            let entry = entry.ok()?;
            let name = entry.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            if at_root && name.to_str().is_ok_and(super::resolve::is_reserved) {
                continue;
            }
            seen += 1;
            if seen > MOST_ENTRIES {
                return None;
            }
            let kind = match entry.file_type() {
                FileType::Unknown => FileType::from_raw_mode(
                    statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?.st_mode,
                ),
                kind => kind,
            };
            match kind {
                FileType::Symlink => return None,
                FileType::Directory => {
                    if found.len() == MOST_SUBDIRECTORIES {
                        return None;
                    }
                    let sub = rustix::fs::openat(
                        dir,
                        name,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .ok()?;
                    // A mount point: what is mounted there is another file system, perhaps
                    // one that other machines write; its listing is its own question.
                    if rustix::fs::fstat(&sub).ok()?.st_dev != device {
                        return None;
                    }
                    let watch = self.watch(&sub)?;
                    self.watched.entry(watch).or_default();
                    found.push(watch);
                }
                FileType::RegularFile
                    if statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?.st_nlink > 1 =>
                {
                    return None;
                }
                // Not listed (pipes, sockets, devices); their own changes only cost a render.
                _ => {}
            }
        }
        Some(found)
    }
}

/// File systems that other machines (or a user-space server) change without this kernel
/// seeing it, by `statfs` magic number.
fn shared_file_system(kind: impl TryInto<i64>) -> bool {
    const SHARED: [i64; 14] = [
        0x6969,      // NFS
        0x517B,      // SMB
        0xFF53_4D42, // CIFS
        0xFE53_4D42, // SMB2
        0x6573_5546, // FUSE
        0x00C3_6400, // Ceph
        0x0102_1997, // 9P
        0x5346_414F, // AFS
        0x7375_7245, // Coda
        0x564C,      // NCP
        0x7461_636F, // OCFS2
        0x0116_1970, // GFS2
        0x0BD0_0BD0, // Lustre
        0x4750_4653, // GPFS
    ];
    kind.try_into().is_ok_and(|kind| SHARED.contains(&kind))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::fs;

    use super::*;

    fn open(path: &std::path::Path) -> OwnedFd {
        rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn the_version_holds_until_something_listed_changes() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("sub")).unwrap();
        fs::write(root.path().join("f"), "f").unwrap();
        let watcher = Watcher::new(&open(root.path()));
        let dir = open(root.path());
        let first = watcher.version(&dir, false).unwrap();
        assert_eq!(watcher.version(&dir, false).unwrap(), first);

        fs::write(root.path().join("f"), "changed").unwrap();
        let second = watcher.version(&dir, false).unwrap();
        assert_ne!(second, first);
        // Inside a subdirectory: its own watch counts it.
        fs::write(root.path().join("sub/g"), "g").unwrap();
        let third = watcher.version(&dir, false).unwrap();
        assert_ne!(third, second);
        assert_eq!(watcher.version(&dir, false).unwrap(), third);
    }

    #[test]
    fn links_and_second_names_leave_a_listing_unversioned() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("f"), "f").unwrap();
        let watcher = Watcher::new(&open(root.path()));
        let dir = open(root.path());
        assert!(watcher.version(&dir, false).is_some());
        std::os::unix::fs::symlink("f", root.path().join("link")).unwrap();
        assert_eq!(watcher.version(&dir, false), None);
        fs::remove_file(root.path().join("link")).unwrap();
        assert!(watcher.version(&dir, false).is_some());
        fs::hard_link(root.path().join("f"), root.path().join("twin")).unwrap();
        assert_eq!(watcher.version(&dir, false), None);
    }

    #[test]
    fn network_file_systems_are_not_watched() {
        assert!(shared_file_system(0x6969_i64));
        assert!(shared_file_system(0xFF53_4D42_i64));
        assert!(!shared_file_system(0xEF53_i64), "ext4 is local");
    }
}
