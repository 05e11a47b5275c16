//! Making a subtree durable: `fsync` of every file and directory in it, and of its parent.
//!
//! A rename or a new file is in the kernel as soon as the call returns, so it survives a crash
//! of the process; only a power cut can lose it before the data and the directory entries
//! are synced. A MOVE between two stores syncs the copy before it removes the source
//! (docs/adr/0017-crash-safety.md), whatever `--fsync` says.

use std::io;
use std::path::Path;

use cap_std::fs::{Dir, OpenOptions};

/// Syncs `rel` (a file or a directory tree) and the directory holding it. Blocking.
pub(super) fn subtree(dir: &Dir, rel: &Path) -> io::Result<()> {
    sync_tree(dir, rel)?;
    sync_one(dir, rel.parent().unwrap_or(Path::new(".")))
}

fn sync_tree(dir: &Dir, rel: &Path) -> io::Result<()> {
    let meta = dir.symlink_metadata(rel)?;
    if meta.is_dir() {
        for entry in dir.read_dir(rel)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            // Symbolic links and special files carry no data of ours.
            if kind.is_dir() || kind.is_file() {
                sync_tree(dir, &rel.join(entry.file_name()))?;
            }
        }
    } else if !meta.is_file() {
        return Ok(());
    }
    sync_one(dir, rel)
}

/// Syncs the directories holding `paths`, so that a rename or a new entry in them survives a
/// power cut (what `--fsync` asks for). Blocking.
pub(super) fn entries(dir: &Dir, paths: &[&Path]) -> io::Result<()> {
    let mut done: Vec<&Path> = Vec::new();
    for path in paths {
        let parent = path.parent().unwrap_or(Path::new("."));
        if !done.contains(&parent) {
            sync_one(dir, parent)?;
            done.push(parent);
        }
    }
    Ok(())
}

fn sync_one(dir: &Dir, rel: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.read(true);
    dir.open_with(rel, &options)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_with_files_and_directories_syncs() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        std::fs::write(tmp.path().join("a/b/f"), b"x").unwrap();
        std::fs::write(tmp.path().join("a/g"), b"y").unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
        subtree(&dir, Path::new("./a")).unwrap();
        subtree(&dir, Path::new("./a/g")).unwrap();
        assert!(subtree(&dir, Path::new("./missing")).is_err());
    }
}
