//! Key layout shared by the sled stores.
//!
//! A resource `/a/b` is keyed as `"/a/" NUL "b" NUL`: its parent directory with a trailing
//! slash, then its own name. That makes both questions the executive asks one range scan each:
//!
//! - the direct members of `/a`: every key starting with `"/a/" NUL`;
//! - everything strictly below `/a`: every key starting with `"/a/"`.
//!
//! The root is `NUL NUL`. Segments never contain NUL or `/`, and XML names and namespace URIs
//! never contain NUL, so NUL is a safe separator.

use davd_registry::{DavPath, PropName};

/// `"/a/b/"` for `/a/b`, `"/"` for the root.
pub fn dir_prefix(path: &DavPath) -> String {
    if path.is_root() {
        "/".to_owned()
    } else {
        format!("{}/", path.as_str())
    }
}

/// The key prefix of one resource: `parent-dir NUL name NUL`.
pub fn resource_prefix(path: &DavPath) -> String {
    let mut key = String::with_capacity(path.as_str().len() + 3);
    push_resource_prefix(&mut key, path);
    key
}

/// Appends [`resource_prefix`] to `key`, cut from the path's own text: every GET reads one
/// property by such a key (the document record), and going through the parent's path and
/// `format!` made a third of that read's cost.
fn push_resource_prefix(key: &mut String, path: &DavPath) {
    let full = path.as_str();
    match (path.name(), full.rfind('/')) {
        // The parent's directory prefix is the path up to and with its last `/`.
        (Some(name), Some(cut)) => {
            key.push_str(&full[..=cut]);
            key.push('\0');
            key.push_str(name);
            key.push('\0');
        }
        _ => key.push_str("\0\0"),
    }
}

/// The key prefix of the direct members of `path`.
pub fn children_prefix(path: &DavPath) -> String {
    format!("{}\0", dir_prefix(path))
}

/// The key of property `name` of `path`.
pub fn prop_key(path: &DavPath, name: &PropName) -> String {
    let mut key =
        String::with_capacity(path.as_str().len() + 4 + name.namespace.len() + name.local.len());
    push_resource_prefix(&mut key, path);
    key.push_str(&name.namespace);
    key.push('\0');
    key.push_str(&name.local);
    key
}

/// Splits a key into the resource path and the rest after the resource prefix.
pub fn split_key(key: &[u8]) -> Option<(DavPath, &str)> {
    let key = std::str::from_utf8(key).ok()?;
    let mut parts = key.splitn(3, '\0');
    let parent = parts.next()?;
    let name = parts.next()?;
    let rest = parts.next()?;
    let path = if parent.is_empty() {
        DavPath::root()
    } else {
        DavPath::from_segments(parent.split('/').filter(|s| !s.is_empty()).chain([name])).ok()?
    };
    Some((path, rest))
}

/// Parses a property key back into path and name.
pub fn parse_prop_key(key: &[u8]) -> Option<(DavPath, PropName)> {
    let (path, rest) = split_key(key)?;
    let (namespace, local) = rest.split_once('\0')?;
    Some((path, PropName::copied(namespace, local)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    #[test]
    fn layout() {
        assert_eq!(resource_prefix(&p("/a/b")), "/a/\0b\0");
        assert_eq!(resource_prefix(&p("/a")), "/\0a\0");
        assert_eq!(resource_prefix(&DavPath::root()), "\0\0");
        assert_eq!(children_prefix(&p("/a")), "/a/\0");
        assert_eq!(children_prefix(&DavPath::root()), "/\0");
        assert!(resource_prefix(&p("/a/b")).starts_with(&children_prefix(&p("/a"))));
        assert!(resource_prefix(&p("/a/b/c")).starts_with(&dir_prefix(&p("/a"))));
        assert!(!resource_prefix(&p("/ab/c")).starts_with(&dir_prefix(&p("/a"))));
        assert!(!resource_prefix(&p("/a/b/c")).starts_with(&children_prefix(&p("/a"))));
    }

    #[test]
    fn keys_are_the_parent_prefix_and_the_name() {
        // The layout as first written, through the parent's path: the keys built from the
        // path's own text must stay byte for byte the same, or stored properties are lost.
        fn by_parent(path: &DavPath) -> String {
            match (path.parent(), path.name()) {
                (Some(parent), Some(name)) => format!("{}\0{name}\0", dir_prefix(&parent)),
                _ => "\0\0".to_owned(),
            }
        }
        for path in [
            DavPath::root(),
            p("/a"),
            p("/a/b"),
            p("/a%20b/c%5Cd/e"),
            p("/%C3%A9/x.txt"),
        ] {
            assert_eq!(resource_prefix(&path), by_parent(&path), "{path:?}");
            let name = PropName::new("urn:davd:internal:", "document");
            let key = format!("{}urn:davd:internal:\0document", by_parent(&path));
            assert_eq!(prop_key(&path, &name), key);
        }
    }

    #[test]
    fn round_trip() {
        for (path, name) in [
            (p("/a b/c"), PropName::new("http://x/", "y")),
            (DavPath::root(), PropName::new("", "z")),
            (p("/é"), PropName::dav("displayname")),
        ] {
            let key = prop_key(&path, &name);
            assert_eq!(parse_prop_key(key.as_bytes()), Some((path, name)));
        }
    }
}
