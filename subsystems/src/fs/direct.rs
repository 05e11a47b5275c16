//! Opening and stating a resource named by one segment straight from the root's descriptor.
//!
//! cap-std resolves every path by hand, a component at a time, so that nothing escapes the
//! root. For a GET of `/report.docx` that bookkeeping was about 1,800 instructions, more than
//! the rest of opening the file, and as much again for the stat of a PROPFIND. A single name
//! looked up relative to the root's descriptor without following links cannot leave the root:
//! it holds no `/`, it is neither `.` nor `..`, and a symbolic link is refused (`ELOOP`) or
//! reported as a link instead of followed. So such names go straight to `openat` and `statx`,
//! and everything else (longer paths, links, which must be followed only inside the root, and
//! names that are missing, which may be another spelling) still goes through cap-std.

use std::io;
use std::path::Path;

use std::time::{Duration, SystemTime};

use cap_std::fs::{Dir, File};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, StatxFlags, StatxTimestamp, openat, statx};
use rustix::io::Errno;

use davd_registry::{DavPath, ResourceMeta};

use super::meta::describe;

/// Whether `path` names an entry of the root itself, one segment that is neither `.` nor
/// `..`: what [`open_for_reading`] may open.
pub(super) fn names_a_root_entry(path: &DavPath) -> bool {
    // A DavPath's segments are never `.` or `..` and hold no '/', so one segment is a path
    // whose only '/' is its first byte.
    !path.is_root() && path.as_str().bytes().rposition(|b| b == b'/') == Some(0)
}

/// Opens `rel` (`./name`, from [`super::resolve::relative`] for a path that [`names_a_root_entry`])
/// for reading without waiting, as [`super::special::read_without_waiting`] does, unless it
/// is a symbolic link. `None`: a link, to be opened through cap-std.
pub(super) fn open_for_reading(dir: &Dir, rel: &Path) -> Option<io::Result<File>> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    match openat(dir, rel, flags | OFlags::NOFOLLOW, Mode::empty()) {
        Ok(fd) => Some(Ok(File::from_std(std::fs::File::from(fd)))),
        // cap-std follows a link, as long as it stays inside the root.
        Err(Errno::LOOP) => None,
        Err(e) => Some(Err(e.into())),
    }
}

/// What a [`stat`] found.
pub(super) enum Found {
    /// A file or a directory.
    Resource(ResourceMeta),
    /// Something davd does not serve (a pipe, a socket, a device).
    Other,
}

/// The metadata of `rel` (as for [`open_for_reading`]), read with one `statx`, as cap-std's
/// `Dir::metadata` would report it. `None`: a link or a missing name, left to cap-std.
pub(super) fn stat(dir: &Dir, rel: &Path) -> Option<io::Result<Found>> {
    let wanted = StatxFlags::TYPE
        | StatxFlags::INO
        | StatxFlags::SIZE
        | StatxFlags::MTIME
        | StatxFlags::BTIME;
    let found = match statx(dir, rel, AtFlags::SYMLINK_NOFOLLOW, wanted) {
        Ok(found) => found,
        Err(Errno::NOENT) => return None,
        Err(e) => return Some(Err(e.into())),
    };
    let collection = match FileType::from_raw_mode(u32::from(found.stx_mode)) {
        FileType::RegularFile => false,
        FileType::Directory => true,
        FileType::Symlink => return None,
        _ => return Some(Ok(Found::Other)),
    };
    let modified = time(&found.stx_mtime).unwrap_or(SystemTime::UNIX_EPOCH);
    let created = if found.stx_mask & StatxFlags::BTIME.bits() != 0 {
        time(&found.stx_btime)
    } else {
        None
    };
    Some(Ok(Found::Resource(describe(
        collection,
        found.stx_size,
        found.stx_ino,
        modified,
        created,
    ))))
}

fn time(stamp: &StatxTimestamp) -> Option<SystemTime> {
    let nanos = Duration::from_nanos(u64::from(stamp.tv_nsec));
    if stamp.tv_sec >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(stamp.tv_sec.unsigned_abs()) + nanos)
    } else {
        SystemTime::UNIX_EPOCH
            .checked_sub(Duration::from_secs(stamp.tv_sec.unsigned_abs()))?
            .checked_add(nanos)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Read;

    use cap_std::ambient_authority;

    use super::*;

    fn root() -> (tempfile::TempDir, Dir) {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("a.txt"), b"inside").unwrap();
        std::fs::create_dir(temp.path().join("sub")).unwrap();
        std::fs::write(temp.path().join("sub/b.txt"), b"deeper").unwrap();
        let dir = Dir::open_ambient_dir(temp.path(), ambient_authority()).unwrap();
        (temp, dir)
    }

    fn path(text: &str) -> DavPath {
        DavPath::parse_url_path(text).unwrap().0
    }

    /// What the fs namespace does: the fast path where it applies, cap-std otherwise.
    fn open(dir: &Dir, text: &str) -> Option<io::Result<File>> {
        let path = path(text);
        if !names_a_root_entry(&path) {
            return None;
        }
        open_for_reading(dir, &super::super::resolve::relative(&path).unwrap())
    }

    #[test]
    fn a_single_name_is_opened_directly() {
        let (_temp, dir) = root();
        let mut file = open(&dir, "/a.txt").unwrap().unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "inside");
        let missing = open(&dir, "/none.txt").unwrap();
        assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn longer_paths_and_the_root_are_left_to_cap_std() {
        assert!(!names_a_root_entry(&path("/sub/b.txt")));
        assert!(!names_a_root_entry(&path("/")));
        assert!(names_a_root_entry(&path("/a.txt")));
    }

    #[test]
    fn a_symbolic_link_is_left_to_cap_std_even_one_that_leaves_the_root() {
        let (temp, dir) = root();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"outside").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), temp.path().join("out")).unwrap();
        std::os::unix::fs::symlink("a.txt", temp.path().join("in")).unwrap();
        assert!(open(&dir, "/out").is_none());
        assert!(open(&dir, "/in").is_none());
        // And cap-std, which those go to, refuses the one that leaves the root.
        assert!(dir.open("out").is_err());
        assert!(dir.open("in").is_ok());
        assert!(stat(&dir, Path::new("./out")).is_none());
        assert!(stat(&dir, Path::new("./in")).is_none());
    }

    #[test]
    fn a_stat_reports_what_cap_std_reports() {
        let (temp, dir) = root();
        for name in ["a.txt", "sub"] {
            let rel = Path::new(".").join(name);
            let Some(Ok(Found::Resource(direct))) = stat(&dir, &rel) else {
                panic!("{name} is a resource");
            };
            let through_cap_std = super::super::meta::resource_meta(&dir.metadata(&rel).unwrap());
            assert_eq!(direct, through_cap_std, "{name}");
        }
        assert!(
            stat(&dir, Path::new("./none")).is_none(),
            "missing: cap-std decides"
        );
        let fifo = temp.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert!(matches!(
            stat(&dir, Path::new("./fifo")),
            Some(Ok(Found::Other))
        ));
    }
}
