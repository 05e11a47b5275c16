use std::time::SystemTime;

use cap_std::fs::{Metadata, MetadataExt};

use davd_registry::ResourceMeta;

/// Resource metadata from file metadata.
///
/// The entity tag combines inode, length and modification time in nanoseconds: an atomic
/// replace (a rename of a new file) always changes the inode, and an in-place segment write
/// changes the time. Nothing is hashed.
pub fn resource_meta(meta: &Metadata) -> ResourceMeta {
    let modified = meta
        .modified()
        .map(|t| t.into_std())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let created = meta.created().ok().map(|t| t.into_std());
    let collection = meta.is_dir();
    let len = if collection { 0 } else { meta.len() };
    let nanos = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    ResourceMeta {
        collection,
        len,
        modified,
        created,
        etag: format!("{:x}-{:x}-{:x}", meta.ino(), len, nanos),
        content_type: None,
    }
}
