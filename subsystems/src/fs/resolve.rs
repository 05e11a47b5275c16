//! Where a URL path lands in the root: the relative path it names, the reserved directories
//! no URL may name, the other spellings a name may be stored under ([`spelling`]), and the
//! shortcut that opens or stats a root entry straight from the root's descriptor
//! ([`direct`]).

use std::io;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

use davd_registry::{DavPath, ResourceMeta, StatusCode, SubsystemError, SubsystemResult};

#[cfg(target_os = "linux")]
use super::direct;
use super::spelling;
use super::{HISTORY, STAGING};

/// The directories below the root that the server keeps for itself: never listed, never
/// named by a URL.
pub(super) fn is_reserved(name: &str) -> bool {
    name == STAGING || name == HISTORY
}

/// The path inside the root, or `None` for a path this tree cannot hold: the reserved staging
/// and history directories, or a name with a backslash where the host reads one as a
/// separator.
pub(super) fn relative(path: &DavPath) -> Option<PathBuf> {
    let mut segments = path.segments().peekable();
    if segments.peek().is_some_and(|first| is_reserved(first)) || backslash_is_separator(path) {
        return None;
    }
    if cfg!(unix) && !path.is_root() {
        // The path's own text after `.`: what pushing each segment onto `.` gives on Unix
        // (segments hold no `/`), in one allocation instead of one push per segment, which
        // was a sixth of opening a file for a GET.
        let mut rel = String::with_capacity(1 + path.as_str().len());
        rel.push('.');
        rel.push_str(path.as_str());
        return Some(PathBuf::from(rel));
    }
    let mut rel = PathBuf::from(".");
    for segment in segments {
        rel.push(segment);
    }
    Some(rel)
}

/// [`spelling::locate`], or why the path cannot be held here ([`unaddressable`]). Blocking.
pub(super) fn locate_or_reserved(dir: &Dir, path: &DavPath) -> SubsystemResult<PathBuf> {
    spelling::locate(dir, path).ok_or_else(|| unaddressable(path))
}

/// `path` when it could be stored under another spelling (it is not ASCII), for a fallback
/// lookup; `None`, and no copy, for the usual ASCII path.
pub(super) fn respellable(path: &DavPath) -> Option<DavPath> {
    (!path.as_str().is_ascii()).then(|| path.clone())
}

/// Whether `path` may be opened or stated straight from the root's descriptor ([`direct`]).
#[cfg(target_os = "linux")]
pub(super) fn directly_openable(path: &DavPath) -> bool {
    direct::names_a_root_entry(path)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn directly_openable(_: &DavPath) -> bool {
    false
}

/// `rel` opened for reading straight from the root's descriptor; `None`: through cap-std.
#[cfg(target_os = "linux")]
pub(super) fn open_directly(dir: &Dir, rel: &Path) -> Option<io::Result<cap_std::fs::File>> {
    direct::open_for_reading(dir, rel)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn open_directly(_: &Dir, _: &Path) -> Option<io::Result<cap_std::fs::File>> {
    None
}

/// `rel`'s metadata read straight from the root's descriptor (`Ok(None)`: not a file or a
/// directory); `None`: through cap-std.
#[cfg(target_os = "linux")]
pub(super) fn stat_directly(dir: &Dir, rel: &Path) -> Option<io::Result<Option<ResourceMeta>>> {
    Some(direct::stat(dir, rel)?.map(|found| match found {
        direct::Found::Resource(meta) => Some(meta),
        direct::Found::Other => None,
    }))
}

#[cfg(not(target_os = "linux"))]
pub(super) fn stat_directly(_: &Dir, _: &Path) -> Option<io::Result<Option<ResourceMeta>>> {
    None
}

/// Metadata of `rel`, the path as given; if it is missing, of the on-disk spelling of
/// `respellable` ([`spelling::locate`]). Blocking.
pub(super) fn metadata_any_spelling(
    dir: &Dir,
    rel: &Path,
    respellable: Option<&DavPath>,
) -> io::Result<Option<cap_std::fs::Metadata>> {
    match (not_found_is_none(dir.metadata(rel))?, respellable) {
        (None, Some(path)) => match spelling::locate(dir, path) {
            Some(found) if found != rel => not_found_is_none(dir.metadata(found)),
            _ => Ok(None),
        },
        (found, _) => Ok(found),
    }
}

/// True where the host's paths read `\\` as a separator (Windows): there `a\\b` would name
/// `b` inside `a`, one resource under two URLs that the access rules and locks see as two, so
/// such names are refused ([`unaddressable`]). On Unix hosts a backslash is an ordinary
/// character of a file name and is stored as it is (docs/clients.md, "Backslashes in names").
fn backslash_is_separator(path: &DavPath) -> bool {
    HOST_SPLITS_ON_BACKSLASH && path.as_str().contains('\\')
}

const HOST_SPLITS_ON_BACKSLASH: bool = !cfg!(unix);

/// Why [`relative`] refused `path`.
fn unaddressable(path: &DavPath) -> SubsystemError {
    if backslash_is_separator(path) {
        SubsystemError::new(
            StatusCode::BAD_REQUEST,
            "this server's file system reads a backslash as a separator; \
             a name containing one cannot be stored here",
        )
    } else {
        SubsystemError::forbidden(format!(
            "'{STAGING}' and '{HISTORY}' are reserved by the server"
        ))
    }
}

pub(super) fn relative_or_reserved(path: &DavPath) -> SubsystemResult<PathBuf> {
    relative(path).ok_or_else(|| unaddressable(path))
}

pub(super) fn not_found_is_none<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
