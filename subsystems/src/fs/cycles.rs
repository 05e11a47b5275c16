//! Symbolic-link cycles: a directory that is also one of its own ancestors.
//!
//! A symbolic link inside the root may point back up the tree (`a/loop -> ..`, made by another
//! local user). Every path through it is valid and finite, so a request for `/a/loop/loop/` is
//! served; only a walk that descends without end (`Depth: infinity`) must not go in. Whether a
//! directory is one of its ancestors is decided by identity, device and inode, which also
//! catches bind mounts and cycles through several links.

use std::io;
use std::path::Path;

use cap_std::fs::{Dir, MetadataExt};

/// True if the directory at `rel` (relative to the root, symlinks followed) has the device
/// and inode of one of the directories above it. Blocking: one `stat` per segment of `rel`.
pub(super) fn revisits_ancestor(dir: &Dir, rel: &Path) -> io::Result<bool> {
    // The root has no ancestors (`.` would otherwise be compared with itself).
    if rel.components().all(|c| c == std::path::Component::CurDir) {
        return Ok(false);
    }
    let meta = match dir.metadata(rel) {
        Ok(meta) if meta.is_dir() => meta,
        Ok(_) => return Ok(false),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let identity = (meta.dev(), meta.ino());
    for ancestor in rel.ancestors().skip(1) {
        let ancestor = match ancestor.as_os_str().is_empty() {
            true => Path::new("."),
            false => ancestor,
        };
        let above = dir.metadata(ancestor)?;
        if (above.dev(), above.ino()) == identity {
            return Ok(true);
        }
        if ancestor == Path::new(".") {
            break;
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;

    #[test]
    fn links_back_up_the_tree_are_cycles_and_others_are_not() {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let root = tmp.path();
        std::fs::create_dir_all(root.join("a/b/c")).expect("directories");
        std::fs::create_dir_all(root.join("elsewhere")).expect("a directory");
        let link = |target: &str, at: &str| {
            std::os::unix::fs::symlink(target, root.join(at)).expect("a symbolic link")
        };
        link("..", "a/up");
        link("../..", "a/b/c/top");
        link("../../elsewhere", "a/b/side");
        link(".", "self");
        std::fs::write(root.join("a/file"), "x").expect("a file");
        let dir = Dir::open_ambient_dir(root, ambient_authority()).expect("the root");
        let cycle = |rel: &str| revisits_ancestor(&dir, Path::new(rel)).expect("stat");
        assert!(cycle("./a/up"), "a link to the parent");
        assert!(cycle("./a/b/c/top"), "a link two levels up");
        assert!(cycle("./self"), "a link to the root itself");
        assert!(cycle("./a/up/a/up"), "reached through the cycle, still one");
        assert!(!cycle("./a/b/side"), "a link elsewhere in the tree");
        assert!(!cycle("./a/b"));
        assert!(!cycle("./a/file"));
        assert!(!cycle("./missing"));
        assert!(!cycle("."));
    }
}
