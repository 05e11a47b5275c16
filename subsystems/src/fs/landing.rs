//! Creating a staged file and renaming it into place with the kernel resolving the paths.
//!
//! cap-std's `rename` opens both parents, renames and closes them again: five system calls
//! for a PUT's one `rename`, and three more for asking whether the name was taken (open,
//! stat, close). The kernel can keep a path beneath the root
//! itself: `openat2` with `RESOLVE_BENEATH` follows links only while they stay beneath the
//! directory it starts from and refuses (`EXDEV`) one that would leave it. So a write opens
//! the target's parent that way (a root entry's parent is the root's own descriptor, nothing
//! to open), looks the name up in it without following it, and renames the staged file into
//! it. Where `openat2` is refused (Linux before 5.6, a seccomp filter), where the name is a
//! link, or where the kernel refuses a link, cap-std does it as before and decides.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use cap_std::fs::{Dir, File};
use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, ResolveFlags, StatxFlags, openat, openat2, renameat, statx,
};
use rustix::io::Errno;

/// Whether an error from `openat2` means the call itself is unavailable, not the path.
fn unavailable(e: Errno) -> bool {
    e == Errno::NOSYS || e == Errno::PERM || e == Errno::INVAL
}

/// Creates the staged file `staged`, a path below the staging directory.
pub(super) fn create_staged(dir: &Dir, staged: &Path) -> io::Result<File> {
    create_by_kernel(dir, staged).unwrap_or_else(|| dir.create(staged))
}

/// Creates `staged` (below the staging directory, which is davd's own and holds no links),
/// refusing any link on the way and a name already taken. `None`: `openat2` is unavailable.
fn create_by_kernel(dir: &Dir, staged: &Path) -> Option<io::Result<File>> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    match openat2(dir, staged, flags, Mode::from_bits_truncate(0o666), resolve) {
        Ok(fd) => Some(Ok(File::from_std(std::fs::File::from(fd)))),
        Err(e) if unavailable(e) => None,
        // A link on the way (an administrator's, to a staging directory elsewhere in the
        // root): cap-std follows it as long as it stays inside.
        Err(Errno::LOOP | Errno::XDEV) => None,
        Err(e) => Some(Err(e.into())),
    }
}

/// What is at the target's name now, as `lstat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Occupant {
    Nothing,
    File,
    Collection,
    /// A link or something davd does not serve: cap-std decides what a write onto it means.
    Other,
}

/// The directory a write lands in, and the name it takes there.
pub(super) struct Landing<'a> {
    root: &'a Dir,
    /// The parent when it is not the root itself.
    parent: Option<OwnedFd>,
    name: &'a OsStr,
}

/// The target's parent is missing, or is not a directory.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct NoParent;

impl<'a> Landing<'a> {
    /// The landing for `rel` (`./a/b`, from [`super::resolve::relative`]). `None`: `openat2` is
    /// unavailable or refused (a link that leaves the root, say), and cap-std is to decide.
    pub(super) fn open(root: &'a Dir, rel: &'a Path) -> Option<Result<Landing<'a>, NoParent>> {
        let name = rel.file_name()?;
        let parent = match rel.parent() {
            None => return None,
            Some(parent) if parent == Path::new(".") || parent == Path::new("") => None,
            Some(parent) => {
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
                let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
                match openat2(root, parent, flags, Mode::empty(), resolve) {
                    Ok(fd) => Some(fd),
                    Err(Errno::NOENT | Errno::NOTDIR) => return Some(Err(NoParent)),
                    Err(_) => return None,
                }
            }
        };
        Some(Ok(Landing { root, parent, name }))
    }

    fn parent(&self) -> BorrowedFd<'_> {
        match &self.parent {
            Some(fd) => fd.as_fd(),
            None => self.root.as_fd(),
        }
    }

    /// What the name holds, and for a file, the file itself held open (`O_PATH`: no access
    /// to its content, only a reference) with its size, so that a rename over it leaves
    /// freeing it to whoever drops the descriptor (`davd_registry::Replaced`).
    pub(super) fn occupant_held(&self) -> io::Result<(Occupant, Option<(OwnedFd, u64)>)> {
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let held = match openat(self.parent(), self.name, flags, Mode::empty()) {
            Ok(held) => held,
            Err(Errno::NOENT) => return Ok((Occupant::Nothing, None)),
            Err(e) => return Err(e.into()),
        };
        let found = statx(
            &held,
            "",
            AtFlags::EMPTY_PATH,
            StatxFlags::TYPE | StatxFlags::SIZE,
        )?;
        Ok(match FileType::from_raw_mode(u32::from(found.stx_mode)) {
            FileType::RegularFile => (Occupant::File, Some((held, found.stx_size))),
            FileType::Directory => (Occupant::Collection, None),
            _ => (Occupant::Other, None),
        })
    }

    /// Renames the staged file `staged` (below the staging directory, from the root) onto
    /// the name, replacing a file there. The staged path is looked up from the root without
    /// `RESOLVE_BENEATH`, which `renameat` does not take: it names davd's own directory, and
    /// a link put in its place by someone who can write the root could only bring a file of
    /// theirs in, never send one out.
    pub(super) fn rename_from(&self, staged: &Path) -> io::Result<()> {
        renameat(self.root, staged, self.parent(), self.name).map_err(Into::into)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use cap_std::ambient_authority;

    use super::*;

    fn root() -> (tempfile::TempDir, Dir) {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(temp.path().join("stage")).unwrap();
        std::fs::create_dir(temp.path().join("sub")).unwrap();
        std::fs::write(temp.path().join("sub/old.txt"), b"old").unwrap();
        let dir = Dir::open_ambient_dir(temp.path(), ambient_authority()).unwrap();
        (temp, dir)
    }

    fn staged(dir: &Dir, name: &str, text: &[u8]) -> std::path::PathBuf {
        let path = Path::new("stage").join(name);
        let mut file = create_by_kernel(dir, &path).unwrap().unwrap();
        std::io::Write::write_all(&mut file, text).unwrap();
        path
    }

    /// Stages `text` as `handle`, lands it at `target` and returns what occupied the name,
    /// with the replaced file if it was one.
    fn land(
        dir: &Dir,
        handle: &str,
        text: &[u8],
        target: &str,
    ) -> (Occupant, Option<(OwnedFd, u64)>) {
        let staged = staged(dir, handle, text);
        let landing = Landing::open(dir, Path::new(target)).unwrap().unwrap();
        let occupant = landing.occupant_held().unwrap();
        landing.rename_from(&staged).unwrap();
        occupant
    }

    #[test]
    fn a_staged_file_lands_in_the_root_and_in_a_collection() {
        let (temp, dir) = root();
        let (at_root, held) = land(&dir, "put-1", b"new at the root", "./top.txt");
        assert_eq!(at_root, Occupant::Nothing);
        assert!(held.is_none());
        assert_eq!(
            std::fs::read(temp.path().join("top.txt")).unwrap(),
            b"new at the root"
        );

        let (below, _) = land(&dir, "put-2", b"replaced", "./sub/old.txt");
        assert_eq!(below, Occupant::File);
        assert_eq!(
            std::fs::read(temp.path().join("sub/old.txt")).unwrap(),
            b"replaced"
        );
        let landing = Landing::open(&dir, Path::new("./sub")).unwrap().unwrap();
        assert_eq!(landing.occupant_held().unwrap().0, Occupant::Collection);
    }

    #[test]
    fn the_replaced_file_is_held_until_dropped() {
        let (temp, dir) = root();
        let (occupant, held) = land(&dir, "put-3", b"the new text", "./sub/old.txt");
        assert_eq!(occupant, Occupant::File);
        // The old file has no name left but is not freed: the descriptor still reaches it.
        let (held, len) = held.unwrap();
        assert_eq!(len, 3);
        let old = statx(
            &held,
            "",
            AtFlags::EMPTY_PATH,
            StatxFlags::NLINK | StatxFlags::SIZE,
        )
        .unwrap();
        assert_eq!((old.stx_nlink, old.stx_size), (0, 3));
        assert_eq!(
            std::fs::read(temp.path().join("sub/old.txt")).unwrap(),
            b"the new text"
        );
        // Nothing else is held: not a collection, not a link.
        std::os::unix::fs::symlink("old.txt", temp.path().join("sub/link")).unwrap();
        for name in ["./sub", "./sub/link"] {
            let landing = Landing::open(&dir, Path::new(name)).unwrap().unwrap();
            assert!(landing.occupant_held().unwrap().1.is_none(), "{name}");
        }
    }

    #[test]
    fn a_missing_parent_is_reported_as_such() {
        let (_temp, dir) = root();
        assert!(matches!(
            Landing::open(&dir, Path::new("./none/x.txt")),
            Some(Err(NoParent))
        ));
        assert!(matches!(
            Landing::open(&dir, Path::new("./sub/old.txt/x.txt")),
            Some(Err(NoParent))
        ));
    }

    #[test]
    fn a_parent_link_that_leaves_the_root_is_left_to_cap_std() {
        let (temp, dir) = root();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), temp.path().join("out")).unwrap();
        std::os::unix::fs::symlink("sub", temp.path().join("inside")).unwrap();
        assert!(Landing::open(&dir, Path::new("./out/x.txt")).is_none());
        // A link that stays beneath the root is followed, as cap-std follows it.
        let landing = Landing::open(&dir, Path::new("./inside/old.txt"))
            .unwrap()
            .unwrap();
        assert_eq!(landing.occupant_held().unwrap().0, Occupant::File);
        // The name itself is looked at, not followed.
        let landing = Landing::open(&dir, Path::new("./inside")).unwrap().unwrap();
        assert_eq!(landing.occupant_held().unwrap().0, Occupant::Other);
    }

    #[test]
    fn a_staged_file_is_never_created_outside_the_root_or_over_another() {
        let (temp, dir) = root();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), temp.path().join("linked")).unwrap();
        assert!(create_by_kernel(&dir, Path::new("linked/put-1")).is_none());
        assert!(create_staged(&dir, Path::new("linked/put-1")).is_err());
        assert!(!outside.path().join("put-1").exists());
        // A link that stays inside the root is followed, by cap-std.
        std::os::unix::fs::symlink("stage", temp.path().join("inner")).unwrap();
        create_staged(&dir, Path::new("inner/put-3")).unwrap();
        assert!(temp.path().join("stage/put-3").exists());
        staged(&dir, "put-2", b"first");
        let again = create_by_kernel(&dir, Path::new("stage/put-2")).unwrap();
        assert_eq!(again.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
    }
}
