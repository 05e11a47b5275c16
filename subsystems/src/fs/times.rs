//! Modification times a client asks for (`X-OC-Mtime`, `Win32LastModifiedTime`), set on the
//! file or directory itself, so that other programs reading the tree (a backup, rsync) see
//! them too. The entity tag is derived from the time (`meta.rs`), so it changes with it.

use std::path::Path;
use std::time::SystemTime;

use cap_std::fs::Dir;

use davd_registry::{SubsystemError, SubsystemResult};

use super::meta::resource_meta;
use super::resolve::not_found_is_none;
use super::special::{is_resource, read_without_waiting};

/// Sets the modification time of `rel` and returns the one it had. Through an open handle
/// (`futimens`), so that a name swapped for a symlink meanwhile is still resolved inside the
/// root. Blocking.
pub(super) fn set_modified(
    dir: &Dir,
    rel: &Path,
    modified: SystemTime,
) -> SubsystemResult<SystemTime> {
    let meta = not_found_is_none(dir.metadata(rel))?
        .filter(is_resource)
        .ok_or_else(SubsystemError::not_found)?;
    let previous = resource_meta(&meta).modified;
    // Read-only, which opens a directory too (`open_dir` would give an `O_PATH` handle, on
    // which the time cannot be set).
    let file = dir.open_with(rel, &read_without_waiting())?;
    if !is_resource(&file.metadata()?) {
        return Err(SubsystemError::not_found());
    }
    file.into_std().set_modified(modified)?;
    Ok(previous)
}
