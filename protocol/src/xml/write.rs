//! Response bodies: the streamed `multistatus`, `error` bodies with RFC 4918 precondition
//! elements, and the LOCK response.
//!
//! Every document declares `xmlns:D="DAV:"` on its root and uses the `D:` prefix (Windows'
//! mini-redirector mishandles `DAV:` as the default namespace). Property elements in other
//! namespaces declare their own prefix unless the root already declared one for that namespace.

use std::borrow::Cow;
use std::fmt::Write as _;

use bytes::Bytes;
use http::StatusCode;

use crate::headers::{Depth, Timeout};
use crate::name::{DAV_NS, PropName};
use crate::path::DavPath;

use super::LockScope;
use super::fragment::{escape_attr, escape_text};

/// The value of one property in a response.
///
/// Text and server XML are `Cow<'static, str>` so that the many constant values of a listing
/// (`1`/`0` flags, `<D:collection/>`, MIME types) are not copied for every member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    /// `<D:name/>`
    Empty,
    /// Character data, escaped on output.
    Text(Cow<'static, str>),
    /// Trusted inner XML produced by the server itself. It may use `D:` and any prefix the
    /// multistatus root declares.
    Xml(Cow<'static, str>),
    /// A complete, self-contained element that replaces the property element: how dead
    /// properties are stored and returned.
    Fragment(String),
}

/// One `propstat`: the properties that share a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropStat {
    pub status: StatusCode,
    /// Name and value; `None` writes an empty element (used for 404s, propname and PROPPATCH).
    pub props: Vec<(PropName, Option<PropValue>)>,
    pub error: Option<Condition>,
    pub description: Option<String>,
}

/// RFC 4918 §16 precondition and postcondition codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Hrefs of the lock roots whose token was missing.
    LockTokenSubmitted(Vec<String>),
    /// Hrefs of the roots of the conflicting locks.
    NoConflictingLock(Vec<String>),
    LockTokenMatchesRequestUri,
    CannotModifyProtectedProperty,
    PropfindFiniteDepth,
    PreservedLiveProperties,
    /// Any other condition, by its local name in `DAV:`.
    Other(&'static str),
}

impl Condition {
    fn write(&self, out: &mut String) {
        let (name, hrefs): (&str, &[String]) = match self {
            Condition::LockTokenSubmitted(h) => ("lock-token-submitted", h),
            Condition::NoConflictingLock(h) => ("no-conflicting-lock", h),
            Condition::LockTokenMatchesRequestUri => ("lock-token-matches-request-uri", &[]),
            Condition::CannotModifyProtectedProperty => ("cannot-modify-protected-property", &[]),
            Condition::PropfindFiniteDepth => ("propfind-finite-depth", &[]),
            Condition::PreservedLiveProperties => ("preserved-live-properties", &[]),
            Condition::Other(name) => (name, &[]),
        };
        if hrefs.is_empty() {
            let _ = write!(out, "<D:{name}/>");
        } else {
            let _ = write!(out, "<D:{name}>");
            for href in hrefs {
                out.push_str("<D:href>");
                escape_text(href, out);
                out.push_str("</D:href>");
            }
            let _ = write!(out, "</D:{name}>");
        }
    }
}

/// `<D:error>` body for an error response carrying a condition.
pub fn error_body(condition: &Condition) -> Bytes {
    let mut out = String::from(r#"<?xml version="1.0" encoding="utf-8"?><D:error xmlns:D="DAV:">"#);
    condition.write(&mut out);
    out.push_str("</D:error>");
    Bytes::from(out)
}

/// Writes a `multistatus` document piece by piece so a large one can be streamed: call
/// [`MultistatusWriter::take`] after each batch of responses to get the bytes written so far.
///
/// The writer appends to one buffer with purpose-made escaping rather than going through a
/// general XML event writer: a PROPFIND of a large collection spends most of its time here, and
/// this shape is fixed (docs/adr/0010-multistatus-writer.md has the measurements). Everything
/// it writes is either escaped text, a name from a parsed XML document (valid by
/// construction), one of our own constants, or a stored fragment that was serialised as
/// well-formed XML.
pub struct MultistatusWriter {
    buf: String,
    /// Prefixes declared on the root, besides `D`.
    root_prefixes: Vec<(&'static str, &'static str)>,
}

/// Room for a batch of a listing's responses, taken as one piece ([`MultistatusWriter::take`]).
const LISTING_BUFFER: usize = 16 * 1024;

/// Room for the answer about one resource (a Depth 0 PROPFIND, a PROPPATCH): a few hundred
/// bytes, and the buffer grows when it needs to. Not the listing's 16 KiB: glibc serves a
/// block that large from the top of its heap, and giving it back on every request made it
/// consolidate its free lists every time (about 1.5K instructions of a Depth 0 PROPFIND).
/// 1 KiB stays within glibc's per-thread cache.
const ONE_RESOURCE_BUFFER: usize = 1024;

impl MultistatusWriter {
    /// Starts the document. `extra_prefixes` are (prefix, namespace) pairs declared on the root
    /// in addition to `D` = `DAV:`.
    pub fn new(extra_prefixes: &[(&'static str, &'static str)]) -> Self {
        Self::with_capacity(extra_prefixes, LISTING_BUFFER)
    }

    /// [`MultistatusWriter::new`] for an answer about one resource, finished in one piece.
    pub fn for_one_resource(extra_prefixes: &[(&'static str, &'static str)]) -> Self {
        Self::with_capacity(extra_prefixes, ONE_RESOURCE_BUFFER)
    }

    fn with_capacity(extra_prefixes: &[(&'static str, &'static str)], capacity: usize) -> Self {
        let mut buf = String::with_capacity(capacity);
        buf.push_str(r#"<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:""#);
        for (prefix, ns) in extra_prefixes {
            let _ = write!(buf, " xmlns:{prefix}=\"");
            escape_attr(ns, &mut buf);
            buf.push('"');
        }
        buf.push('>');
        MultistatusWriter {
            buf,
            root_prefixes: extra_prefixes.to_vec(),
        }
    }

    fn text_element(&mut self, name: &str, text: &str) {
        let _ = write!(self.buf, "<{name}>");
        escape_text(text, &mut self.buf);
        let _ = write!(self.buf, "</{name}>");
    }

    /// A `response` with one `propstat` per status.
    pub fn prop_response(&mut self, href: &str, propstats: &[PropStat]) {
        self.open_response(href);
        for propstat in propstats {
            self.open_propstat();
            for (name, value) in &propstat.props {
                self.property(name, value.as_ref());
            }
            self.close_propstat(
                propstat.status,
                propstat.error.as_ref(),
                propstat.description.as_deref(),
            );
        }
        self.close_response();
    }

    /// Opens a `response` whose `propstat`s are written piece by piece
    /// ([`MultistatusWriter::open_propstat`], [`MultistatusWriter::prop`],
    /// [`MultistatusWriter::close_propstat`], then [`MultistatusWriter::close_response`]): for a
    /// resource whose properties are written as they are read instead of gathered first.
    pub fn open_response(&mut self, href: &str) {
        self.buf.push_str("<D:response>");
        self.text_element("D:href", href);
    }

    /// Opens a `propstat` and its `prop`.
    pub fn open_propstat(&mut self) {
        self.buf.push_str("<D:propstat><D:prop>");
    }

    /// One property inside an open `propstat` (`None`: the name alone).
    pub fn prop(&mut self, name: &PropName, value: Option<&PropValue>) {
        self.property(name, value);
    }

    /// Closes the open `propstat` with its status.
    pub fn close_propstat(
        &mut self,
        status: StatusCode,
        error: Option<&Condition>,
        description: Option<&str>,
    ) {
        self.buf.push_str("</D:prop>");
        self.status(status);
        if let Some(condition) = error {
            self.condition(condition);
        }
        if let Some(description) = description {
            self.text_element("D:responsedescription", description);
        }
        self.buf.push_str("</D:propstat>");
    }

    /// Closes the open `response`.
    pub fn close_response(&mut self) {
        self.buf.push_str("</D:response>");
    }

    /// Bytes written and not yet taken.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// A `response` that carries a status for a whole resource.
    pub fn status_response(
        &mut self,
        href: &str,
        status: StatusCode,
        error: Option<&Condition>,
        description: Option<&str>,
    ) {
        self.buf.push_str("<D:response>");
        self.text_element("D:href", href);
        self.status(status);
        if let Some(condition) = error {
            self.condition(condition);
        }
        if let Some(description) = description {
            self.text_element("D:responsedescription", description);
        }
        self.buf.push_str("</D:response>");
    }

    fn status(&mut self, status: StatusCode) {
        let _ = write!(
            self.buf,
            "<D:status>HTTP/1.1 {} {}</D:status>",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Unknown")
        );
    }

    fn condition(&mut self, condition: &Condition) {
        self.buf.push_str("<D:error>");
        condition.write(&mut self.buf);
        self.buf.push_str("</D:error>");
    }

    fn property(&mut self, name: &PropName, value: Option<&PropValue>) {
        if let Some(PropValue::Fragment(fragment)) = value {
            self.buf.push_str(fragment);
            return;
        }
        let prefix = if name.namespace == DAV_NS {
            Some("D")
        } else {
            self.root_prefixes
                .iter()
                .find(|(_, ns)| *ns == name.namespace)
                .map(|(prefix, _)| *prefix)
        };
        let buf = &mut self.buf;
        buf.push('<');
        match prefix {
            Some(prefix) => {
                buf.push_str(prefix);
                buf.push(':');
                buf.push_str(&name.local);
            }
            None if name.namespace.is_empty() => buf.push_str(&name.local),
            None => {
                buf.push_str("ns0:");
                buf.push_str(&name.local);
                buf.push_str(" xmlns:ns0=\"");
                escape_attr(&name.namespace, buf);
                buf.push('"');
            }
        }
        let inner = match value {
            None | Some(PropValue::Empty) | Some(PropValue::Fragment(_)) => {
                buf.push_str("/>");
                return;
            }
            Some(PropValue::Text(text)) if text.is_empty() => {
                buf.push_str("/>");
                return;
            }
            Some(PropValue::Text(text)) => {
                buf.push('>');
                escape_text(text, buf);
                None
            }
            Some(PropValue::Xml(xml)) => Some(xml),
        };
        if let Some(xml) = inner {
            buf.push('>');
            buf.push_str(xml);
        }
        buf.push_str("</");
        match prefix {
            Some(prefix) => {
                buf.push_str(prefix);
                buf.push(':');
            }
            None if name.namespace.is_empty() => {}
            None => buf.push_str("ns0:"),
        }
        buf.push_str(&name.local);
        buf.push('>');
    }

    /// The bytes written since the last call.
    pub fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::replace(
            &mut self.buf,
            String::with_capacity(LISTING_BUFFER),
        ))
    }

    /// The `sync-token` a `sync-collection` report ends with (RFC 6578 §6.2), after its
    /// responses.
    pub fn sync_token(&mut self, token: &str) {
        self.text_element("D:sync-token", token);
    }

    /// Closes the document and returns the remaining bytes.
    pub fn finish(mut self) -> Bytes {
        self.buf.push_str("</D:multistatus>");
        Bytes::from(self.buf)
    }
}

/// What the protocol needs to know to render one `activelock`.
#[derive(Debug, Clone)]
pub struct ActiveLockView<'a> {
    pub scope: LockScope,
    pub depth: Depth,
    /// The `owner` element as received, or `None`.
    pub owner: Option<&'a str>,
    /// Time left, as sent in `timeout`.
    pub timeout: Timeout,
    pub token: &'a str,
    /// The lock root; `None` leaves `lockroot` out (for clients that choke on it).
    pub root: Option<&'a DavPath>,
}

/// One `D:activelock` element as trusted inner XML.
pub fn render_activelock(lock: &ActiveLockView<'_>) -> String {
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:{}/></D:lockscope><D:depth>{}</D:depth>",
        lock.scope.as_str(),
        match lock.depth {
            Depth::Zero => "0",
            Depth::One => "1",
            Depth::Infinity => "infinity",
        }
    );
    if let Some(owner) = lock.owner {
        out.push_str(owner);
    }
    out.push_str("<D:timeout>");
    out.push_str(&lock.timeout.to_header());
    out.push_str("</D:timeout><D:locktoken><D:href>");
    escape_text(lock.token, &mut out);
    out.push_str("</D:href></D:locktoken>");
    if let Some(root) = lock.root {
        out.push_str("<D:lockroot><D:href>");
        escape_text(&root.to_href(false), &mut out);
        out.push_str("</D:href></D:lockroot>");
    }
    out.push_str("</D:activelock>");
    out
}

/// The body of a successful LOCK: `<D:prop><D:lockdiscovery>` with the granted lock.
pub fn lock_response_body(lock: &ActiveLockView<'_>) -> Bytes {
    let mut out = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><D:prop xmlns:D="DAV:"><D:lockdiscovery>"#,
    );
    out.push_str(&render_activelock(lock));
    out.push_str("</D:lockdiscovery></D:prop>");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> String {
        let text = std::str::from_utf8(bytes).unwrap().to_owned();
        roxmltree::Document::parse(&text).expect("well-formed");
        text
    }

    /// A response written piece by piece, flushed in between, is the one `prop_response`
    /// writes whole.
    #[test]
    fn a_response_written_piece_by_piece_is_the_same() {
        let stats = [
            PropStat {
                status: StatusCode::OK,
                props: vec![
                    (
                        PropName::dav("getetag"),
                        Some(PropValue::Text("\"e\"".into())),
                    ),
                    (
                        PropName::new("urn:z", "big"),
                        Some(PropValue::Fragment(
                            r#"<z:big xmlns:z="urn:z">v</z:big>"#.into(),
                        )),
                    ),
                    (PropName::new("urn:z", "name-only"), None),
                ],
                error: None,
                description: None,
            },
            PropStat {
                status: StatusCode::FORBIDDEN,
                props: vec![(PropName::new("urn:z", "no"), None)],
                error: Some(Condition::CannotModifyProtectedProperty),
                description: Some("why".into()),
            },
        ];
        let mut whole = MultistatusWriter::new(&[]);
        whole.prop_response("/r", &stats);
        let mut pieces = MultistatusWriter::new(&[]);
        let mut streamed = pieces.take().to_vec();
        pieces.open_response("/r");
        for stat in &stats {
            pieces.open_propstat();
            for (name, value) in &stat.props {
                pieces.prop(name, value.as_ref());
                assert!(pieces.buffered() > 0);
                streamed.extend_from_slice(&pieces.take());
                assert_eq!(pieces.buffered(), 0);
            }
            pieces.close_propstat(
                stat.status,
                stat.error.as_ref(),
                stat.description.as_deref(),
            );
        }
        pieces.close_response();
        streamed.extend_from_slice(&pieces.finish());
        assert_eq!(streamed, whole.finish().to_vec());
    }

    #[test]
    fn multistatus_is_well_formed_and_prefixed() {
        let mut w = MultistatusWriter::new(&[("Z", "urn:schemas-microsoft-com:")]);
        let mut all = w.take().to_vec();
        w.prop_response(
            "/a%20b",
            &[
                PropStat {
                    status: StatusCode::OK,
                    props: vec![
                        (
                            PropName::dav("resourcetype"),
                            Some(PropValue::Xml("<D:collection/>".into())),
                        ),
                        (
                            PropName::dav("displayname"),
                            Some(PropValue::Text("a < b".into())),
                        ),
                        (
                            PropName::new("urn:schemas-microsoft-com:", "Win32FileAttributes"),
                            Some(PropValue::Text("00000020".into())),
                        ),
                        (
                            PropName::new("http://x/", "dead"),
                            Some(PropValue::Fragment(
                                r#"<x:dead xmlns:x="http://x/">v</x:dead>"#.into(),
                            )),
                        ),
                        (PropName::new("", "nons"), Some(PropValue::Text("n".into()))),
                    ],
                    error: None,
                    description: None,
                },
                PropStat {
                    status: StatusCode::NOT_FOUND,
                    props: vec![(PropName::new("http://y/", "missing"), None)],
                    error: None,
                    description: None,
                },
            ],
        );
        all.extend_from_slice(&w.take());
        w.status_response(
            "/locked",
            StatusCode::LOCKED,
            Some(&Condition::LockTokenSubmitted(vec!["/".into()])),
            None,
        );
        all.extend_from_slice(&w.finish());
        let text = parse(&all);
        assert!(
            text.contains(r#"<D:multistatus xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:">"#),
            "{text}"
        );
        assert!(
            text.contains("<D:resourcetype><D:collection/></D:resourcetype>"),
            "{text}"
        );
        assert!(
            text.contains("<D:displayname>a &lt; b</D:displayname>"),
            "{text}"
        );
        assert!(
            text.contains("<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>"),
            "{text}"
        );
        assert!(
            text.contains(r#"<ns0:missing xmlns:ns0="http://y/"/>"#),
            "{text}"
        );
        assert!(
            text.contains("<D:status>HTTP/1.1 404 Not Found</D:status>"),
            "{text}"
        );
        assert!(text.contains("<D:error><D:lock-token-submitted><D:href>/</D:href></D:lock-token-submitted></D:error>"), "{text}");
        assert!(!text.contains("xmlns=\"DAV:\""));
    }

    /// Found while testing the writer: characters XML 1.0 does not allow (C0 controls other
    /// than tab, newline and carriage return; U+FFFE, U+FFFF) were written as they were, and
    /// one of them made the whole multistatus unparseable. They reach the writer from decoded
    /// paths (`/a%01b` is a valid name on most file systems) inside error descriptions.
    #[test]
    fn characters_xml_forbids_never_reach_the_output() {
        let mut w = MultistatusWriter::new(&[]);
        let mut all = w.take().to_vec();
        w.prop_response(
            "/a%01b",
            &[PropStat {
                status: StatusCode::OK,
                props: vec![(
                    PropName::dav("displayname"),
                    Some(PropValue::Text("a\u{1}b\u{fffe}c\u{ffff}\td".into())),
                )],
                error: None,
                description: Some("x\u{0}y".into()),
            }],
        );
        w.status_response(
            "/a%01b",
            StatusCode::FORBIDDEN,
            Some(&Condition::LockTokenSubmitted(vec!["/a\u{1b}b".into()])),
            Some("user may not read /a\u{1}b"),
        );
        all.extend_from_slice(&w.finish());
        let text = parse(&all);
        assert!(text.contains("a\u{fffd}b\u{fffd}c\u{fffd}\td"), "{text}");
        assert!(text.contains("x\u{fffd}y"), "{text}");
        parse(&error_body(&Condition::NoConflictingLock(vec![
            "/\u{8}".into(),
        ])));

        let mut escaped = String::from("<a b=\"");
        crate::xml::escape_attr("\u{1}\t", &mut escaped);
        escaped.push_str("\">");
        escape_text("\u{1f}\u{ffff}", &mut escaped);
        escaped.push_str("</a>");
        parse(escaped.as_bytes());
    }

    #[test]
    fn lock_body() {
        let body = lock_response_body(&ActiveLockView {
            scope: LockScope::Exclusive,
            depth: Depth::Infinity,
            owner: Some(r#"<D:owner xmlns:D="DAV:">me &amp; you</D:owner>"#),
            timeout: Timeout::Seconds(3600),
            token: "urn:uuid:x",
            root: Some(&DavPath::parse_url_path("/a").unwrap().0),
        });
        let text = parse(&body);
        assert!(text.contains("<D:timeout>Second-3600</D:timeout>"));
        assert!(text.contains("<D:lockroot><D:href>/a</D:href></D:lockroot>"));
        let e = error_body(&Condition::PropfindFiniteDepth);
        assert!(parse(&e).contains("<D:propfind-finite-depth/>"));
    }
}

/// Property tests: whatever text the executive hands the writer (decoded paths in
/// descriptions, property values, condition hrefs), the document stays well-formed and the
/// text comes back as written, except for characters XML forbids.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn multistatus_is_always_well_formed(
            href in "\\PC{0,12}",
            value in "\\PC{0,20}|[\\x00-\\x1f\u{fffe}\u{ffff}a]{0,10}",
            description in proptest::option::of("\\PC{0,20}|[\\x00-\\x1fa]{0,10}"),
            condition_href in "\\PC{0,12}|[\\x00-\\x1fa]{0,10}",
        ) {
            let mut w = MultistatusWriter::new(&[("Z", "urn:schemas-microsoft-com:")]);
            let mut all = w.take().to_vec();
            w.prop_response(
                &href,
                &[PropStat {
                    status: StatusCode::OK,
                    props: vec![(PropName::dav("displayname"), Some(PropValue::Text(value.clone().into())))],
                    error: None,
                    description: description.clone(),
                }],
            );
            w.status_response(
                &href,
                StatusCode::LOCKED,
                Some(&Condition::LockTokenSubmitted(vec![condition_href])),
                description.as_deref(),
            );
            all.extend_from_slice(&w.finish());
            let text = String::from_utf8(all).unwrap();
            let doc = roxmltree::Document::parse(&text)
                .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
            let shown: String = doc
                .descendants()
                .find(|n| n.tag_name().name() == "displayname")
                .unwrap()
                .children()
                .filter_map(|n| n.text())
                .collect();
            // Carriage returns are written as `&#13;`, so they survive XML's line-end
            // normalisation (§2.11) and read back as sent.
            let expected = crate::xml::fragment::xml_chars(&value);
            prop_assert_eq!(shown, expected);
        }
    }
}
