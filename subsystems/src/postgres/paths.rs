//! How paths are stored: a resource's properties under its parent's path (`dir`, ending in
//! `/`) and its name, so that the members of a collection are the rows of one `dir`, and a
//! subtree is one range of `dir` in byte order (columns `COLLATE "C"`), never a `LIKE`.
//!
//! | path   | dir    | name |
//! |--------|--------|------|
//! | `/`    | ``     | ``   |
//! | `/a`   | `/`    | `a`  |
//! | `/a/b` | `/a/`  | `b`  |
//!
//! Everything strictly below `/a` has a `dir` starting with `/a/`: the range from `/a/` up
//! to `/a0` (`0` is the byte after `/`). Segments never contain `/` or NUL.

use davd_registry::{DavPath, SubsystemError, SubsystemResult};

/// Where a resource's own rows are: its parent's `dir` and its name.
pub fn split(path: &DavPath) -> (String, String) {
    match path.name() {
        None => (String::new(), String::new()),
        Some(name) => {
            let full = path.as_str();
            let dir = &full[..full.len() - name.len()];
            (dir.to_owned(), name.to_owned())
        }
    }
}

/// The `dir` of the members of `path`: `/a/` for `/a`, `/` for the root.
pub fn children(path: &DavPath) -> String {
    if path.is_root() {
        "/".to_owned()
    } else {
        format!("{}/", path.as_str())
    }
}

/// The range of `dir` (from, to) that holds everything strictly below `path`.
pub fn below(path: &DavPath) -> (String, String) {
    let from = children(path);
    let mut to = from.clone();
    to.pop();
    to.push('0');
    (from, to)
}

/// The range of lock roots strictly below `path` (lock roots are whole paths, `/a/b`): the
/// paths from `/a/` up to `/a0`, less the root itself for `/`.
pub fn roots_below(path: &DavPath) -> (String, String) {
    below(path)
}

/// The path of a row: its `dir` and name.
pub fn join(dir: &str, name: &str) -> SubsystemResult<DavPath> {
    if dir.is_empty() && name.is_empty() {
        return Ok(DavPath::root());
    }
    parse(&format!("{dir}{name}"))
}

/// A stored path (`/a/b`) back as a [`DavPath`].
pub fn parse(stored: &str) -> SubsystemResult<DavPath> {
    DavPath::from_segments(stored.split('/').filter(|s| !s.is_empty())).map_err(|e| {
        SubsystemError::internal(format!(
            "the cluster database holds a path that is not one: {stored:?} ({e})"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DavPath {
        DavPath::from_segments(s.split('/').filter(|s| !s.is_empty())).unwrap()
    }

    #[test]
    fn rows_of_a_path() {
        assert_eq!(split(&p("/")), (String::new(), String::new()));
        assert_eq!(split(&p("/a")), ("/".to_owned(), "a".to_owned()));
        assert_eq!(split(&p("/a b/c")), ("/a b/".to_owned(), "c".to_owned()));
        for path in ["/", "/a", "/a b/c", "/é/ü"] {
            let (dir, name) = split(&p(path));
            assert_eq!(join(&dir, &name).unwrap(), p(path));
        }
        assert_eq!(children(&p("/")), "/");
        assert_eq!(children(&p("/a")), "/a/");
    }

    /// The range holds the subtree and nothing else, whatever sorts near it.
    #[test]
    fn a_subtree_is_a_range() {
        let (from, to) = below(&p("/a"));
        let inside = |dir: &str| dir >= from.as_str() && dir < to.as_str();
        for dir in ["/a/", "/a/b/", "/a/b c/", "/a/\u{10FFFF}/"] {
            assert!(inside(dir), "{dir}");
        }
        for dir in ["/", "/a", "/a b/", "/a.b/", "/a0/", "/ab/", "/b/", ""] {
            assert!(!inside(dir), "{dir}");
        }
        let (from, to) = below(&p("/"));
        assert_eq!((from.as_str(), to.as_str()), ("/", "0"));
        assert!("" < from.as_str(), "the root's own rows are not below it");
    }
}
