use std::time::SystemTime;

use cap_std::fs::{Metadata, MetadataExt};

use davd_registry::ResourceMeta;
use davd_registry::digits::push_hex;

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
    describe(meta.is_dir(), meta.len(), meta.ino(), modified, created)
}

/// The resource metadata of a file or directory (`collection`) from the fields it is made of,
/// wherever they were read ([`resource_meta`], or `direct` straight from `statx`).
pub(super) fn describe(
    collection: bool,
    len: u64,
    ino: u64,
    modified: SystemTime,
    created: Option<SystemTime>,
) -> ResourceMeta {
    let len = if collection { 0 } else { len };
    let nanos = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    ResourceMeta {
        collection,
        len,
        modified,
        created,
        etag: etag(ino, len, nanos),
        content_type: None,
    }
}

/// `{inode:x}-{len:x}-{nanos:x}`, written without `format!`: a listing makes one per member.
fn etag(ino: u64, len: u64, nanos: u128) -> String {
    let mut tag = String::with_capacity(48);
    push_hex(&mut tag, u128::from(ino), 0);
    tag.push('-');
    push_hex(&mut tag, u128::from(len), 0);
    tag.push('-');
    push_hex(&mut tag, nanos, 0);
    tag
}

#[cfg(test)]
mod tests {
    use super::etag;

    #[test]
    fn etag_is_lower_hex_like_format() {
        for (ino, len, nanos) in [
            (0, 0, 0),
            (0x98de54, 0, 0x18eb010e397a4491),
            (u64::MAX, 1, u128::MAX),
            // Either side of the 64-bit fast path.
            (1, 2, u128::from(u64::MAX)),
            (1, 2, u128::from(u64::MAX) + 1),
        ] {
            assert_eq!(etag(ino, len, nanos), format!("{ino:x}-{len:x}-{nanos:x}"));
        }
    }
}
