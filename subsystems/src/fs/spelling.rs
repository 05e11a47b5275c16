//! Unicode spellings of names on disk.
//!
//! The protocol layer hands every path over in NFC (`é` as U+00E9), whatever the client sent:
//! macOS sends names decomposed (NFD, `e` + U+0301), Windows and Linux composed. davd itself
//! creates names in NFC. But other programs (an rsync or a copy from a Mac, an SMB share
//! written by Finder) leave NFD names in the served directory, and a Linux file system treats
//! the two spellings as different names. So a lookup that misses under the NFC spelling tries
//! the NFD one, segment by segment; a listing shows every name in NFC and leaves out an NFD
//! name whose NFC twin exists (the one lookups find). Names in neither form (partly
//! decomposed) are listed but cannot be reached; only macOS produces non-NFC names, and it
//! produces NFD. ASCII names, the overwhelming majority, never cost an extra system call.

use std::io;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use unicode_normalization::{UnicodeNormalization, is_nfc};

use davd_registry::DavPath;

use super::resolve::relative;

fn exists(dir: &Dir, rel: &Path) -> bool {
    dir.symlink_metadata(rel).is_ok()
}

/// Where `path` (NFC, relative to the root) is on disk: the path as given when it is ASCII or
/// exists; otherwise, segment by segment, the NFD spelling of each segment that exists only
/// under that one. The segments from the first one missing under both spellings on are kept
/// as given, so a new resource is created in NFC inside the existing (perhaps NFD) parents.
/// `None` for the reserved staging directory. Blocking: a `stat` per non-ASCII segment, and
/// only when the path as given does not exist.
pub(super) fn locate(dir: &Dir, path: &DavPath) -> Option<PathBuf> {
    let rel = relative(path)?;
    if path.as_str().is_ascii() || exists(dir, &rel) {
        return Some(rel);
    }
    let mut out = PathBuf::from(".");
    let mut segments = path.segments();
    while let Some(segment) = segments.next() {
        let given = out.join(segment);
        if segment.is_ascii() || exists(dir, &given) {
            out = given;
            continue;
        }
        let nfd: String = segment.nfd().collect();
        let decomposed = out.join(&nfd);
        if nfd != segment && exists(dir, &decomposed) {
            out = decomposed;
            continue;
        }
        out = given;
        out.extend(segments);
        break;
    }
    Some(out)
}

/// [`locate`] as a path of the namespace (for [`davd_registry::NamespaceManager::stored_spelling`]).
pub(super) fn stored_path(dir: &Dir, path: &DavPath) -> io::Result<DavPath> {
    match locate(dir, path) {
        Some(rel) => dav_path(&rel),
        None => Ok(path.clone()),
    }
}

/// The namespace path of `rel`, a path inside the root as [`locate`] returns it.
pub(super) fn dav_path(rel: &Path) -> io::Result<DavPath> {
    let segments: Vec<&str> = rel
        .iter()
        .filter(|s| *s != ".")
        .map(|s| s.to_str().unwrap_or_default())
        .collect();
    DavPath::from_segments(segments).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// How a listing shows the entry `name` of the directory `rel`: in NFC, or not at all when it
/// is a non-NFC twin of a name that exists in NFC (lookups find that one).
pub(super) fn listed_name(dir: &Dir, rel: &Path, name: String) -> Option<String> {
    if name.is_ascii() || is_nfc(&name) {
        return Some(name);
    }
    let composed: String = name.nfc().collect();
    if exists(dir, &rel.join(&composed)) {
        None
    } else {
        Some(composed)
    }
}
