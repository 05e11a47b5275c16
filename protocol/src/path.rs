//! Resource paths: what a request URL names, decoded once at the edge.
//!
//! A [`DavPath`] is the decoded, validated form of the path part of a URL. Every layer below the
//! protocol works with it and never sees percent-encoding again; [`DavPath::to_href`] is the one
//! place where it is encoded back for a response.

use std::fmt;
use std::sync::Arc;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use unicode_normalization::{UnicodeNormalization, is_nfc};

/// Why a URL path was refused. Each maps to 400 Bad Request with this text as the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path must start with '/'")]
    NotAbsolute,
    #[error("the path contains a '..' segment")]
    DotDot,
    #[error("the path contains an encoded '/' (%2F) inside a segment")]
    EncodedSlash,
    #[error("the path contains a NUL byte")]
    Nul,
    #[error("the path is not valid UTF-8 once percent-decoded")]
    InvalidUtf8,
    #[error("the path has a malformed percent-escape")]
    BadEscape,
    #[error("the path is too long")]
    TooLong,
}

/// Longest path we accept, in decoded bytes. Far above what file systems allow (4096 on Linux).
pub const MAX_PATH_BYTES: usize = 8192;

/// A decoded absolute path such as `/docs/report.docx`.
///
/// Stored as one string, segments separated by `/`, without a trailing slash (the root is `/`),
/// shared rather than copied: a request's path is handed to the latch, the queue's commands,
/// the state batch and the change log, and a PUT cloned it some twenty times (callgrind: an
/// allocation, a copy and a free each, about 4 % of a PUT's user-space instructions).
/// Segments never contain `/` or NUL, and are never `.` or `..`, so joining and splitting are
/// unambiguous. A backslash is an ordinary character of a name (`back\slash.txt`), as on Linux
/// and for Apache: a storage whose host reads it as a separator refuses such names itself
/// (the fs namespace off Unix, `subsystems/src/fs/mod.rs`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DavPath {
    decoded: Arc<str>,
}

impl DavPath {
    /// The root path `/`.
    pub fn root() -> Self {
        DavPath::from_decoded("/".to_owned())
    }

    /// The path held in `decoded`, already checked by the caller.
    fn from_decoded(decoded: String) -> Self {
        DavPath {
            decoded: Arc::from(decoded),
        }
    }

    /// Parses the (still percent-encoded) path of a request URL.
    ///
    /// Returns the path and whether the URL ended in `/` (which some methods care about, for
    /// example MKCOL and the href of a collection). Empty segments (`//`) and `.` are dropped;
    /// `..`, an encoded `/`, NUL and invalid UTF-8 are refused; `%5C` is a backslash in a name.
    ///
    /// Every segment is normalised to Unicode NFC: macOS sends names decomposed (NFD, `e` +
    /// U+0301), Windows and Linux composed (NFC, U+00E9), and both spellings must name one
    /// resource (docs/clients.md, "Unicode names").
    pub fn parse_url_path(raw: &str) -> Result<(DavPath, bool), PathError> {
        if !raw.starts_with('/') {
            return Err(PathError::NotAbsolute);
        }
        if raw.len() > MAX_PATH_BYTES * 3 {
            return Err(PathError::TooLong);
        }
        let trailing_slash = raw.len() > 1 && raw.ends_with('/');
        let mut decoded = String::with_capacity(raw.len());
        // ASCII without escapes decodes to itself and is already NFC: its segments are
        // taken as they are, without a String of their own each.
        let plain = raw.is_ascii() && !raw.contains('%');
        for raw_segment in raw.split('/') {
            if raw_segment.is_empty() {
                continue;
            }
            if plain {
                if raw_segment != "." {
                    validate_segment(raw_segment)?;
                    decoded.push('/');
                    decoded.push_str(raw_segment);
                }
                continue;
            }
            let segment = nfc(decode_segment(raw_segment)?);
            if segment == "." {
                continue;
            }
            validate_segment(&segment)?;
            decoded.push('/');
            decoded.push_str(&segment);
        }
        if decoded.is_empty() {
            decoded.push('/');
        }
        if decoded.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        Ok((DavPath::from_decoded(decoded), trailing_slash))
    }

    /// Builds a path from already-decoded segments, validating each.
    pub fn from_segments<'a>(
        segments: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, PathError> {
        let mut path = DavPath::root();
        for segment in segments {
            path = path.join(segment)?;
        }
        Ok(path)
    }

    /// The decoded path, e.g. `/a b/c`. The root is `/`.
    pub fn as_str(&self) -> &str {
        &self.decoded
    }

    pub fn is_root(&self) -> bool {
        &*self.decoded == "/"
    }

    /// The decoded segments, outermost first. The root has none.
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &str> + '_ {
        self.decoded.split('/').filter(|s| !s.is_empty())
    }

    /// How many segments deep the path is (the root is 0).
    pub fn depth(&self) -> usize {
        self.segments().count()
    }

    /// The last segment, or `None` for the root.
    pub fn name(&self) -> Option<&str> {
        if self.is_root() {
            return None;
        }
        // By bytes: `rsplit('/')` set up a searcher for every call, about 480 instructions
        // per GET (callgrind). A '/' is one byte in UTF-8, so the cut is a char boundary.
        let cut = self.decoded.bytes().rposition(|b| b == b'/')?;
        self.decoded.get(cut + 1..)
    }

    /// The parent path, or `None` for the root.
    pub fn parent(&self) -> Option<DavPath> {
        if self.is_root() {
            return None;
        }
        let cut = self.decoded.rfind('/').unwrap_or(0);
        Some(if cut == 0 {
            DavPath::root()
        } else {
            DavPath::from_decoded(self.decoded[..cut].to_owned())
        })
    }

    /// This path with one more segment, validated like a URL segment.
    pub fn join(&self, segment: &str) -> Result<DavPath, PathError> {
        if segment.is_empty() || segment == "." {
            return Ok(self.clone());
        }
        validate_segment(segment)?;
        let mut decoded = String::with_capacity(self.decoded.len() + segment.len() + 1);
        if !self.is_root() {
            decoded.push_str(&self.decoded);
        }
        decoded.push('/');
        decoded.push_str(segment);
        Ok(DavPath::from_decoded(decoded))
    }

    /// This path with one more segment that a client supplied outside the URL (a file name in
    /// an upload form): normalised to NFC like every URL segment, then validated.
    pub fn join_name(&self, name: &str) -> Result<DavPath, PathError> {
        self.join(&nfc(name.to_owned()))
    }

    /// True if `self` is `ancestor` or lies below it, on segment boundaries:
    /// `/docs/a` is within `/docs` but `/docsx` is not.
    pub fn is_within(&self, ancestor: &DavPath) -> bool {
        if ancestor.is_root() {
            return true;
        }
        match self.decoded.strip_prefix(&*ancestor.decoded) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// True if `self` lies strictly below `ancestor`.
    pub fn is_strictly_within(&self, ancestor: &DavPath) -> bool {
        self != ancestor && self.is_within(ancestor)
    }

    /// The part of `self` below `ancestor`, as a path of its own (`/docs/a/b` below `/docs` is
    /// `/a/b`). `None` if `self` is not within `ancestor`.
    pub fn relative_to(&self, ancestor: &DavPath) -> Option<DavPath> {
        if !self.is_within(ancestor) {
            return None;
        }
        if ancestor.is_root() {
            return Some(self.clone());
        }
        let rest = &self.decoded[ancestor.decoded.len()..];
        Some(if rest.is_empty() {
            DavPath::root()
        } else {
            DavPath::from_decoded(rest.to_owned())
        })
    }

    /// `self` (a path within `from`) rebased onto `to`: `/a/x/y` from `/a` to `/b` is `/b/x/y`.
    pub fn rebase(&self, from: &DavPath, to: &DavPath) -> Option<DavPath> {
        let rest = self.relative_to(from)?;
        if rest.is_root() {
            return Some(to.clone());
        }
        Some(if to.is_root() {
            rest
        } else {
            DavPath::from_decoded(format!("{}{}", to.decoded, rest.decoded))
        })
    }

    /// All ancestors from the root down to (and including) `self`.
    pub fn ancestors_and_self(&self) -> Vec<DavPath> {
        let mut out = vec![DavPath::root()];
        let mut current = DavPath::root();
        for segment in self.segments() {
            current = DavPath::from_decoded(if current.is_root() {
                format!("/{segment}")
            } else {
                format!("{}/{segment}", current.decoded)
            });
            out.push(current.clone());
        }
        out
    }

    /// The percent-encoded form for an `href` or `Location`: collections end with `/`.
    pub fn to_href(&self, collection: bool) -> String {
        let mut href = String::with_capacity(self.decoded.len() + 8);
        for segment in self.segments() {
            href.push('/');
            href.extend(utf8_percent_encode(segment, HREF_SEGMENT));
        }
        if href.is_empty() || collection {
            href.push('/');
        }
        href
    }
}

impl fmt::Debug for DavPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DavPath({:?})", self.decoded)
    }
}

impl fmt::Display for DavPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.decoded)
    }
}

/// What stays literal in an href segment: RFC 3986 unreserved characters plus the sub-delims and
/// `:`/`@` that are legal in a path segment, minus `&` (so hrefs need no XML escaping) and `+`
/// (which some clients decode as a space). Everything else, including `%`, `#`, `?`, space and
/// all non-ASCII, is percent-encoded with upper-case hex.
const HREF_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// `segment` in Unicode Normalization Form C; ASCII (and text already in NFC) as it is.
fn nfc(segment: String) -> String {
    if segment.is_ascii() || is_nfc(&segment) {
        segment
    } else {
        segment.nfc().collect()
    }
}

fn decode_segment(raw: &str) -> Result<String, PathError> {
    if !raw.contains('%') {
        return Ok(raw.to_owned());
    }
    check_escapes(raw)?;
    let bytes: Vec<u8> = percent_decode_str(raw).collect();
    if bytes.contains(&b'/') {
        return Err(PathError::EncodedSlash);
    }
    String::from_utf8(bytes).map_err(|_| PathError::InvalidUtf8)
}

/// `percent_decode` passes a lone `%` through; we refuse it so that `%zz` cannot be read two ways.
fn check_escapes(raw: &str) -> Result<(), PathError> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if !ok {
                return Err(PathError::BadEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn validate_segment(segment: &str) -> Result<(), PathError> {
    if segment == ".." {
        return Err(PathError::DotDot);
    }
    if segment.contains('/') {
        return Err(PathError::EncodedSlash);
    }
    if segment.contains('\0') {
        return Err(PathError::Nul);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &str) -> DavPath {
        DavPath::parse_url_path(raw).unwrap().0
    }

    #[test]
    fn decodes_and_normalises() {
        assert_eq!(p("/").as_str(), "/");
        assert_eq!(p("/a//b/./c/").as_str(), "/a/b/c");
        assert_eq!(p("/a%20b/%C3%A9").as_str(), "/a b/é");
        assert!(DavPath::parse_url_path("/a/").unwrap().1);
        assert!(!DavPath::parse_url_path("/a").unwrap().1);
        assert!(!DavPath::parse_url_path("/").unwrap().1);
    }

    /// Plain ASCII is taken without decoding; the same path with a letter escaped goes
    /// through the decoder, and both must give the same answer.
    #[test]
    fn plain_paths_parse_as_their_escaped_spelling() {
        for raw in [
            "/",
            "/file-4k.bin",
            "/a//b/./c/",
            "/./x",
            "/a/.",
            "/a/../b",
            "/..",
            "/~user/a+b=c;d@e:f!g$h&i'j(k)l*m,n",
            "/dir/sub/",
            "/a\\b",
        ] {
            let Some(letter) = raw.find(|c: char| c.is_ascii_alphabetic()) else {
                continue;
            };
            let escaped = format!(
                "{}%{:02X}{}",
                &raw[..letter],
                raw.as_bytes()[letter],
                &raw[letter + 1..]
            );
            assert_eq!(
                DavPath::parse_url_path(raw),
                DavPath::parse_url_path(&escaped),
                "{raw} / {escaped}"
            );
        }
    }

    #[test]
    fn segments_are_normalised_to_nfc() {
        // Finder's "Café" (e + combining acute) and Windows' (é) are one path.
        assert_eq!(p("/Cafe%CC%81/x").as_str(), "/Caf\u{e9}/x");
        assert_eq!(p("/Caf%C3%A9/x"), p("/Cafe%CC%81/x"));
        assert_eq!(p("/Cafe\u{301}").to_href(false), "/Caf%C3%A9");
        // Hangul, and a sequence of two combining marks in non-canonical order.
        assert_eq!(p("/%E1%84%92%E1%85%A1%E1%86%AB").as_str(), "/\u{d55c}");
        assert_eq!(p("/a%CC%A3%CC%87").as_str(), p("/a%CC%87%CC%A3").as_str());
        // NFC only, not compatibility forms: the ligature stays.
        assert_eq!(p("/%EF%AC%81le").as_str(), "/\u{fb01}le");
        // Names from elsewhere than the URL: join_name normalises, join keeps what it is given.
        assert_eq!(p("/d").join_name("Cafe\u{301}").unwrap(), p("/d/Caf%C3%A9"));
        assert_eq!(
            p("/d").join("Cafe\u{301}").unwrap().as_str(),
            "/d/Cafe\u{301}"
        );
    }

    #[test]
    fn refuses_traversal_and_bad_bytes() {
        let bad = |raw: &str| DavPath::parse_url_path(raw).unwrap_err();
        assert_eq!(bad("/a/../b"), PathError::DotDot);
        assert_eq!(bad("/a/%2e%2e/b"), PathError::DotDot);
        assert_eq!(bad("/a%2fb"), PathError::EncodedSlash);
        assert_eq!(bad("/a%00"), PathError::Nul);
        assert_eq!(bad("/%c0%ae%c0%ae/etc"), PathError::InvalidUtf8);
        assert_eq!(bad("/%zz"), PathError::BadEscape);
        assert_eq!(bad("/a%2"), PathError::BadEscape);
        assert_eq!(bad("a/b"), PathError::NotAbsolute);
    }

    #[test]
    fn a_backslash_is_part_of_a_name() {
        // rclone, Apache and Linux store `back\slash.txt`; nothing about it is a separator.
        let path = p("/dir/back%5Cslash.txt");
        assert_eq!(path.as_str(), "/dir/back\\slash.txt");
        assert_eq!(path.depth(), 2);
        assert_eq!(path.name(), Some("back\\slash.txt"));
        assert_eq!(path.to_href(false), "/dir/back%5Cslash.txt");
        // Not a way up either: `..\..` is one odd name, not two steps.
        assert_eq!(
            p("/a%5c..%5cb").segments().collect::<Vec<_>>(),
            ["a\\..\\b"]
        );
        assert_eq!(p("/..%5c").name(), Some("..\\"));
        assert_eq!(DavPath::root().join("x\\y").unwrap().depth(), 1);
    }

    #[test]
    fn hrefs_round_trip() {
        for raw in [
            "/",
            "/a",
            "/a%20b/c",
            "/%25/%2B/%23/%3F",
            "/%E6%97%A5%E6%9C%AC",
        ] {
            let path = p(raw);
            let href = path.to_href(false);
            assert_eq!(p(&href), path, "{raw} -> {href}");
        }
        assert_eq!(p("/a b/c+d").to_href(true), "/a%20b/c%2Bd/");
        assert_eq!(DavPath::root().to_href(true), "/");
        assert_eq!(DavPath::root().to_href(false), "/");
    }

    #[test]
    fn family_relations() {
        let docs = p("/docs");
        assert!(p("/docs/a").is_within(&docs));
        assert!(p("/docs").is_within(&docs));
        assert!(!p("/docsx").is_within(&docs));
        assert!(p("/anything").is_within(&DavPath::root()));
        assert_eq!(p("/docs/a/b").relative_to(&docs).unwrap(), p("/a/b"));
        assert_eq!(p("/docs").relative_to(&docs).unwrap(), DavPath::root());
        assert_eq!(p("/a/x/y").rebase(&p("/a"), &p("/b")).unwrap(), p("/b/x/y"));
        assert_eq!(p("/a").rebase(&p("/a"), &p("/b/c")).unwrap(), p("/b/c"));
        assert_eq!(p("/a/b").parent().unwrap(), p("/a"));
        assert_eq!(p("/a").parent().unwrap(), DavPath::root());
        assert_eq!(DavPath::root().parent(), None);
        assert_eq!(p("/a/b").name(), Some("b"));
        assert_eq!(
            p("/a/b").ancestors_and_self(),
            vec![DavPath::root(), p("/a"), p("/a/b")]
        );
    }
}

/// Property tests: no input makes the parser panic; what it accepts has only safe segments;
/// the href of a parsed or built path parses back to the same path.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Raw URL paths made of what trips parsers: slashes, dots, escapes (valid, truncated,
    /// encoded slash, NUL, backslash, overlong UTF-8), reserved and non-ASCII characters.
    fn raw_path() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("/".to_owned()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            "%[0-9a-fA-FgG]{0,2}",
            Just("%2F".to_owned()),
            Just("%2e".to_owned()),
            Just("%C3%A9".to_owned()),
            Just("%c0%ae".to_owned()),
            "[a-z0-9 +~!$&'()*,;=:@?#\\[\\]\u{e9}\u{65e5}\\\\]{1,4}",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|pieces| format!("/{}", pieces.concat()))
    }

    /// A decoded segment: any characters but `/` and NUL (a backslash included), and not `.`
    /// or `..`.
    /// Generated in NFC, the form every parsed segment takes (ADR 0014), so that a round trip
    /// can be compared as it is.
    fn segment() -> impl Strategy<Value = String> {
        "[^/\\x00]{1,8}"
            .prop_map(|s| s.nfc().collect::<String>())
            .prop_filter("dot segments", |s| s != "." && s != "..")
    }

    fn check_round_trip(path: &DavPath, collection: bool) -> Result<(), TestCaseError> {
        let href = path.to_href(collection);
        prop_assert!(
            href.bytes()
                .all(|b| b.is_ascii_graphic() && !b"&<>\"+#?".contains(&b)),
            "{}",
            href
        );
        let (again, slash) = DavPath::parse_url_path(&href)
            .map_err(|e| TestCaseError::fail(format!("{href:?}: {e}")))?;
        prop_assert_eq!(&again, path);
        if !path.is_root() {
            prop_assert_eq!(slash, collection);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics(raw in "\\PC{0,40}") {
            let _ = DavPath::parse_url_path(&raw);
        }

        #[test]
        fn parsed_paths_are_safe_and_round_trip(raw in raw_path()) {
            if let Ok((path, slash)) = DavPath::parse_url_path(&raw) {
                for segment in path.segments() {
                    prop_assert!(segment != "." && segment != "..");
                    prop_assert!(!segment.contains(['/', '\0']));
                }
                check_round_trip(&path, slash)?;
            }
        }

        #[test]
        fn built_paths_round_trip(segments in proptest::collection::vec(segment(), 0..6), collection in any::<bool>()) {
            let path = DavPath::from_segments(segments.iter().map(String::as_str))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(path.segments().collect::<Vec<_>>(), segments.iter().map(String::as_str).collect::<Vec<_>>());
            check_round_trip(&path, collection)?;
        }

        #[test]
        fn family_relations_agree(segments in proptest::collection::vec(segment(), 1..6)) {
            let path = DavPath::from_segments(segments.iter().map(String::as_str)).unwrap();
            let parent = path.parent().unwrap();
            prop_assert_eq!(parent.join(path.name().unwrap()), Ok(path.clone()));
            prop_assert!(path.is_strictly_within(&parent));
            prop_assert_eq!(path.relative_to(&parent).unwrap().depth(), 1);
            let ancestors = path.ancestors_and_self();
            prop_assert_eq!(ancestors.len(), segments.len() + 1);
            prop_assert!(ancestors.iter().all(|a| path.is_within(a)));
        }
    }
}
