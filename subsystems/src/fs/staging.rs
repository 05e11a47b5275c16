//! The staging directory: uploads being received, backups of replaced content, copies in
//! progress and detached (deleted or overwritten, not yet committed) resources.
//!
//! It sits inside the root so that publishing is one `rename` on one file system, never
//! appears in listings and cannot be named by a URL. Everything in it is addressed by a
//! *handle*, one plain file name: `put-…`, `prev-…`, `copy-…` for what the manager names
//! itself, and the executive's tag for a detached resource, so that after a crash the journal
//! can find what a request left here (docs/adr/0017-crash-safety.md). Nothing here is removed
//! when the store opens; [`empty`] runs once recovery is done.
//!
//! Uploads (`put-…`) are spread over sixteen directories below it, `.put-0` to `.put-f`, by
//! the last digit of their handle. Creating a file takes its directory's lock, so with every
//! upload in one directory concurrent PUTs on different threads queued for it in the kernel
//! (docs/performance.md, "Uploads staged in sixteen directories"). Those directories are made
//! when first needed and go with everything else when the staging directory is emptied.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::fs::{Dir, File};
use uuid::Uuid;

use davd_registry::digits::push_hex;
use davd_registry::{SubsystemError, SubsystemResult};

use super::landing;

/// The hidden directory, directly below the root.
pub const STAGING: &str = ".davd-staging";

/// A fresh handle for something the manager stages itself (`kind` is `put`, `prev`, `copy`):
/// the kind, a random number drawn once per process and a counter, in hex. Unique within the
/// process by the counter, and against what an earlier run left (still named in its journal)
/// by the random part. A random UUID per handle cost every PUT a `getrandom` system call.
/// The counter's last digit picks an upload's directory ([`upload_shard`]), so consecutive
/// uploads go to different ones.
pub(super) fn fresh(kind: &str) -> String {
    static RUN: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let run = *RUN.get_or_init(|| Uuid::new_v4().as_u64_pair().0);
    handle(kind, run, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The handle `count` of the process whose random part is `run`.
fn handle(kind: &str, run: u64, count: u64) -> String {
    let mut handle = String::with_capacity(kind.len() + 1 + 32);
    handle.push_str(kind);
    handle.push('-');
    push_hex(&mut handle, u128::from(run) << 64 | u128::from(count), 32);
    handle
}

/// Where this process keeps what it stages, relative to the root: [`STAGING`] itself, or,
/// when several processes serve the same root (a cluster), a directory of its own below it,
/// named after the instance. Each process adds, restores and discards only its own: a process
/// that starts must not remove what another has in flight.
#[derive(Debug, Clone)]
pub(super) struct Staging {
    dir: PathBuf,
    /// The instance's directory below [`STAGING`], if any.
    instance: Option<String>,
}

impl Staging {
    /// The staging directory of the process `instance` (`None`: the only one serving the root).
    pub(super) fn new(instance: Option<&str>) -> io::Result<Self> {
        let mut dir = PathBuf::from(STAGING);
        if let Some(name) = instance {
            if !is_plain(name) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("not a usable instance name for a staging directory: {name:?}"),
                ));
            }
            dir.push(name);
        }
        Ok(Staging {
            dir,
            instance: instance.map(str::to_owned),
        })
    }

    /// Where `handle` lives, relative to the root. Handles also come back from the journal,
    /// so anything but one plain name is refused rather than joined onto a path.
    pub(super) fn path_of(&self, handle: &str) -> SubsystemResult<PathBuf> {
        if !is_plain(handle) {
            return Err(SubsystemError::internal(format!(
                "not a staging handle: {handle:?}"
            )));
        }
        // Built in one allocation: each `Path::join` copied the path and grew it again.
        let shard = upload_shard(handle);
        let len = self.dir.as_os_str().len() + shard.map_or(0, |s| s.len() + 1) + 1 + handle.len();
        let mut path = PathBuf::with_capacity(len);
        path.push(&self.dir);
        if let Some(shard) = shard {
            path.push(shard);
        }
        path.push(handle);
        Ok(path)
    }

    /// Creates the staging directory if it is missing; an instance's says whose it is.
    pub(super) fn ensure(&self, dir: &Dir) -> io::Result<()> {
        create_missing(dir, std::path::Path::new(STAGING))?;
        if let Some(instance) = &self.instance {
            create_missing(dir, &self.dir)?;
            let mark = self.dir.join(INSTANCE_MARK);
            if dir.metadata(&mark).is_err() {
                dir.write(&mark, format!("{instance}\n"))?;
            }
        }
        Ok(())
    }

    /// Runs `op`, which creates `staged` (a path from [`Staging::path_of`]). If it fails because
    /// the directory it goes in is missing (an upload directory not yet made, or the staging
    /// directory removed while davd ran), the directories are made and `op` runs once more: a
    /// missing staging directory must not turn every write into a 404.
    pub(super) fn with_staging<T>(
        &self,
        dir: &Dir,
        staged: &Path,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> io::Result<T> {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let Some(parent) = staged.parent().filter(|p| dir.metadata(p).is_err()) else {
                    return Err(e);
                };
                self.ensure(dir)?;
                create_missing(dir, parent)?;
                op()
            }
            other => other,
        }
    }

    /// Creates the staged file `staged` (from [`Staging::path_of`]), making its directory if it
    /// is missing.
    pub(super) fn create(&self, dir: &Dir, staged: &Path) -> io::Result<File> {
        self.with_staging(dir, staged, || landing::create_staged(dir, staged))
    }

    /// True if something is kept under `handle`.
    pub(super) fn holds(&self, dir: &Dir, handle: &str) -> SubsystemResult<bool> {
        match dir.symlink_metadata(self.path_of(handle)?) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes everything this process staged: what its interrupted requests left, once
    /// recovery has restored or purged what it needed. The directory itself stays (on a full
    /// disk, making it again could fail), and so do other instances' directories and what
    /// they hold.
    pub(super) fn empty(&self, dir: &Dir) -> io::Result<()> {
        self.ensure(dir)?;
        for entry in dir.read_dir(&self.dir)? {
            let entry = entry?;
            if self.instance.is_some() && entry.file_name() == INSTANCE_MARK {
                continue;
            }
            let path = self.dir.join(entry.file_name());
            let file_type = entry.file_type()?;
            // Below the shared directory, a directory is another instance's, not a leftover.
            if self.instance.is_none() && file_type.is_dir() && is_instance_dir(dir, &path) {
                continue;
            }
            let removed = match file_type.is_dir() {
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
}

/// What the staging directory `staging` (`ROOT/.davd-staging`, or an instance's below it)
/// holds, by name, the upload directories looked into (`.put-3/put-…`): what tests check
/// after a request to see that nothing was left behind. Empty upload directories are not
/// counted.
pub fn staged_leftovers(staging: &Path) -> io::Result<Vec<String>> {
    let mut left = Vec::new();
    for entry in std::fs::read_dir(staging)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".put-") && entry.file_type()?.is_dir() {
            for inner in std::fs::read_dir(entry.path())? {
                left.push(format!("{name}/{}", inner?.file_name().to_string_lossy()));
            }
        } else {
            left.push(name);
        }
    }
    left.sort();
    Ok(left)
}

/// The directory below the staging directory an upload's handle (`put-` and a uuid's hex
/// digits) goes in; `None` for every other handle, which stays at the top.
fn upload_shard(handle: &str) -> Option<&'static str> {
    const SHARDS: [&str; 16] = [
        ".put-0", ".put-1", ".put-2", ".put-3", ".put-4", ".put-5", ".put-6", ".put-7", ".put-8",
        ".put-9", ".put-a", ".put-b", ".put-c", ".put-d", ".put-e", ".put-f",
    ];
    if !handle.starts_with("put-") {
        return None;
    }
    let last = char::from(*handle.as_bytes().last()?).to_digit(16)?;
    SHARDS.get(usize::try_from(last).ok()?).copied()
}

/// One plain file name: no separator, not `.` or `..`, no NUL. Looked at byte by byte: a set
/// of `char`s as the pattern decoded every character first, about 480 instructions for a
/// staged name (twice per PUT).
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.bytes().any(|b| matches!(b, b'/' | b'\\' | b'\0'))
}

/// An instance's staging directory is recognised by the marker file it keeps, so that the
/// staging directory of a single process (which holds detached trees as directories too)
/// never mistakes a leftover for one.
fn is_instance_dir(dir: &Dir, path: &std::path::Path) -> bool {
    dir.metadata(path.join(INSTANCE_MARK)).is_ok()
}

/// The file an instance's staging directory holds to say what it is.
const INSTANCE_MARK: &str = ".instance";

fn create_missing(dir: &Dir, path: &std::path::Path) -> io::Result<()> {
    match dir.create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, Dir) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
        (tmp, dir)
    }

    #[test]
    fn handles_are_plain_names() {
        let single = Staging::new(None).unwrap();
        assert_eq!(
            single.path_of("put-1").unwrap(),
            PathBuf::from(".davd-staging/.put-1/put-1")
        );
        assert_eq!(
            single.path_of("put-0a1b2c3d4e5f").unwrap(),
            PathBuf::from(".davd-staging/.put-f/put-0a1b2c3d4e5f")
        );
        let instance = Staging::new(Some("b-8080")).unwrap();
        assert_eq!(
            instance.path_of("put-1").unwrap(),
            PathBuf::from(".davd-staging/b-8080/.put-1/put-1")
        );
        // Everything else stays at the top: backups, copies, the executive's tags, and a
        // handle that does not end in a hex digit.
        for handle in [
            "prev-1",
            "copy-1",
            "0e8b6c1c-4c4e-4b1e-9b53-3c2b1d6f0a7e",
            "put-x",
        ] {
            assert_eq!(
                single.path_of(handle).unwrap(),
                PathBuf::from(".davd-staging").join(handle)
            );
        }
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "a\0"] {
            assert!(single.path_of(bad).is_err(), "{bad:?}");
            assert!(Staging::new(Some(bad)).is_err(), "{bad:?}");
        }
    }

    /// Handles never repeat, share the process's random part, are plain names, and sixteen
    /// uploads in a row use all sixteen upload directories.
    #[test]
    fn fresh_handles_are_unique_and_spread_over_the_upload_directories() {
        let handles: Vec<String> = (0..64).map(|_| fresh("put")).collect();
        let distinct: std::collections::HashSet<&String> = handles.iter().collect();
        assert_eq!(distinct.len(), handles.len());
        let run = &handles[0]["put-".len().."put-".len() + 16];
        for handle in &handles {
            assert!(is_plain(handle), "{handle}");
            assert_eq!(handle.len(), "put-".len() + 32, "{handle}");
            assert!(
                handle.starts_with("put-") && handle.contains(run),
                "{handle}"
            );
        }
        // Sixteen in a row (as one process draws them), one in each directory.
        let shards: std::collections::HashSet<_> = (0..16)
            .map(|count| upload_shard(&handle("put", u64::MAX, 1000 + count)).unwrap())
            .collect();
        assert_eq!(shards.len(), 16);
        assert_eq!(
            handle("put", 0xab, 0x1f),
            format!("put-{:016x}{:016x}", 0xab, 0x1f)
        );
        assert_eq!(upload_shard(&fresh("prev")), None);
    }

    #[test]
    fn a_removed_staging_directory_is_made_again() {
        let (_tmp, dir) = root();
        for staging in [
            Staging::new(None).unwrap(),
            Staging::new(Some("a")).unwrap(),
        ] {
            staging.ensure(&dir).unwrap();
            dir.remove_dir_all(STAGING).unwrap();
            for handle in ["put-x", "put-1"] {
                let path = staging.path_of(handle).unwrap();
                staging
                    .with_staging(&dir, &path, || dir.create(&path))
                    .unwrap();
                assert!(staging.holds(&dir, handle).unwrap());
            }
            assert!(!staging.holds(&dir, "put-y").unwrap());
            // A missing source is not mistaken for a missing directory.
            let backup = staging.path_of("prev-1").unwrap();
            let linked =
                staging.with_staging(&dir, &backup, || dir.hard_link("missing", &dir, &backup));
            assert_eq!(linked.unwrap_err().kind(), io::ErrorKind::NotFound);
        }
    }

    #[test]
    fn leftovers_are_listed_through_the_upload_directories() {
        let (tmp, dir) = root();
        let staging = Staging::new(None).unwrap();
        staging.ensure(&dir).unwrap();
        for handle in ["put-1", "put-2"] {
            let upload = staging.path_of(handle).unwrap();
            staging
                .with_staging(&dir, &upload, || dir.write(&upload, "x"))
                .unwrap();
        }
        dir.remove_file(staging.path_of("put-2").unwrap()).unwrap();
        dir.create_dir(staging.path_of("tag-1").unwrap()).unwrap();
        assert_eq!(
            staged_leftovers(&tmp.path().join(STAGING)).unwrap(),
            [".put-1/put-1", "tag-1"],
            "the emptied .put-2 is not counted"
        );
    }

    /// Instances on one root empty their own staging directories only: what another has in
    /// flight (an upload, the backup its undo needs) stays.
    #[test]
    fn each_instance_empties_only_its_own() {
        let (_tmp, dir) = root();
        let (a, b) = (
            Staging::new(Some("a")).unwrap(),
            Staging::new(Some("b")).unwrap(),
        );
        for staging in [&a, &b] {
            staging.ensure(&dir).unwrap();
            let upload = staging.path_of("put-1").unwrap();
            staging
                .with_staging(&dir, &upload, || dir.write(&upload, "x"))
                .unwrap();
            dir.create_dir(staging.path_of("tag-1").unwrap()).unwrap();
        }
        a.empty(&dir).unwrap();
        assert!(!a.holds(&dir, "put-1").unwrap() && !a.holds(&dir, "tag-1").unwrap());
        assert!(b.holds(&dir, "put-1").unwrap() && b.holds(&dir, "tag-1").unwrap());
        // A single process on the root leaves the instances' directories alone too, and its
        // own detached trees (directories without the mark) go.
        let single = Staging::new(None).unwrap();
        dir.create_dir(single.path_of("tag-2").unwrap()).unwrap();
        single.empty(&dir).unwrap();
        assert!(!single.holds(&dir, "tag-2").unwrap());
        assert!(b.holds(&dir, "put-1").unwrap());
        // The instance's own directory stays usable after emptying.
        a.ensure(&dir).unwrap();
        let upload = a.path_of("put-2").unwrap();
        a.with_staging(&dir, &upload, || dir.write(&upload, "y"))
            .unwrap();
        assert!(a.holds(&dir, "put-2").unwrap());
    }
}
