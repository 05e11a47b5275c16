//! Batch markers: a key written in the same atomic batch as a request's changes, so that
//! recovery can ask whether the batch went in (docs/adr/0017-crash-safety.md).
//!
//! Markers live in the store's own tree under a prefix no other key can start with: property
//! and index keys start with `/` or NUL, lock tokens with a URI scheme.

use davd_registry::SubsystemResult;

use super::db_error;

const PREFIX: &[u8] = b"\x01marker\0";

pub(super) fn key(marker: &str) -> Vec<u8> {
    let mut key = PREFIX.to_vec();
    key.extend_from_slice(marker.as_bytes());
    key
}

pub(super) fn has(tree: &sled::Tree, marker: &str) -> SubsystemResult<bool> {
    tree.contains_key(key(marker)).map_err(db_error)
}

pub(super) fn forget(tree: &sled::Tree, markers: &[String]) -> SubsystemResult<()> {
    let mut batch = sled::Batch::default();
    for marker in markers {
        batch.remove(key(marker));
    }
    tree.apply_batch(batch).map_err(db_error)
}

pub(super) fn all(tree: &sled::Tree) -> SubsystemResult<Vec<String>> {
    let mut out = Vec::new();
    for item in tree.scan_prefix(PREFIX) {
        let (key, _) = item.map_err(db_error)?;
        out.push(String::from_utf8_lossy(&key[PREFIX.len()..]).into_owned());
    }
    Ok(out)
}
