//! `DavPath::parse_url_path`: never panics, only yields paths whose segments are safe, and a
//! parsed path's href parses back to the same path (the href is what davd sends in every
//! multistatus `href`, `Location` and lock root).
#![no_main]

use davd_fuzz::text;
use davd_protocol::DavPath;
use libfuzzer_sys::fuzz_target;

fn check(raw: &str) {
    let Ok((path, trailing_slash)) = DavPath::parse_url_path(raw) else {
        return;
    };
    let decoded = path.as_str();
    assert!(decoded.starts_with('/'));
    assert!(
        path.is_root() || !decoded.ends_with('/'),
        "{raw:?} -> {path:?}"
    );
    for segment in path.segments() {
        assert!(!segment.is_empty() && segment != "." && segment != "..");
        assert!(!segment.contains(['/', '\\', '\0']), "{raw:?} -> {path:?}");
    }

    let href = path.to_href(trailing_slash);
    // Safe to write into XML and a Location header without further escaping.
    assert!(
        href.bytes()
            .all(|b| b.is_ascii_graphic() && !b"&<>\"+#?".contains(&b)),
        "{href:?}"
    );
    let (again, again_slash) = DavPath::parse_url_path(&href)
        .unwrap_or_else(|e| panic!("{raw:?} parsed, its href {href:?} did not: {e}"));
    assert_eq!(again, path, "{raw:?} -> {href:?}");
    if !path.is_root() {
        assert_eq!(again_slash, trailing_slash);
    }

    // The family relations agree with each other.
    let ancestors = path.ancestors_and_self();
    assert_eq!(ancestors.len(), path.depth() + 1);
    assert_eq!(ancestors.last(), Some(&path));
    if let (Some(parent), Some(name)) = (path.parent(), path.name()) {
        assert_eq!(parent.join(name).as_ref(), Ok(&path));
        assert!(path.is_strictly_within(&parent));
        assert_eq!(path.rebase(&parent, &parent).as_ref(), Some(&path));
    }
}

fuzz_target!(|data: &[u8]| {
    let raw = text(data);
    check(&raw);
    // Most random inputs do not start with '/'; try them as a path as well.
    if !raw.starts_with('/') {
        check(&format!("/{raw}"));
    }
});
