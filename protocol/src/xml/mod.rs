//! XML request bodies (read with roxmltree under explicit limits) and response bodies (appended
//! to a buffer by purpose-made writers, docs/adr/0010-multistatus-writer.md).

mod fragment;
mod lockinfo;
mod propfind;
mod proppatch;
mod report;
#[cfg(test)]
pub(crate) mod testgen;
mod write;

pub use fragment::{escape_attr, escape_text, fragment_text, serialize_element};
pub use lockinfo::{LockInfo, LockScope, parse_lockinfo};
pub use propfind::{PropfindBody, parse_propfind};
pub use proppatch::{PatchInstruction, parse_propertyupdate};
pub use report::{ReportBody, SyncCollection, SyncLevel, parse_report};
pub use write::{
    ActiveLockView, Condition, MultistatusWriter, PropStat, PropValue, error_body,
    lock_response_body, render_activelock,
};

use roxmltree::{Document, Node, ParsingOptions};

use crate::name::PropName;

/// Limits applied to every XML request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Bodies larger than this are refused with 413 before parsing.
    pub max_bytes: usize,
    /// Most nodes (elements, text, attributes count towards roxmltree's node limit).
    pub max_nodes: u32,
    /// Deepest element nesting.
    pub max_depth: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_bytes: 1024 * 1024,
            max_nodes: 50_000,
            max_depth: 64,
        }
    }
}

/// Why an XML body was refused: always 400 Bad Request with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the XML body is not UTF-8")]
    NotUtf8,
    #[error("the XML body is not well-formed: {0}")]
    Malformed(String),
    #[error("XML bodies may not contain a DTD")]
    Dtd,
    #[error("the XML body has more than {0} nodes")]
    TooManyNodes(u32),
    #[error("the XML body nests deeper than {0} elements")]
    TooDeep(usize),
    #[error("the XML body declares too many namespaces in too many places")]
    TooManyNamespaces,
    #[error("unexpected XML: {0}")]
    Unexpected(String),
}

/// Decodes the body as UTF-8 (a byte-order mark is skipped).
pub fn body_text(bytes: &[u8]) -> Result<&str, XmlError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)
}

/// Parses a document with DTDs forbidden and the node, depth and namespace limits applied.
pub fn parse_document<'a>(text: &'a str, limits: &XmlLimits) -> Result<Document<'a>, XmlError> {
    prescan(text, limits)?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits.max_nodes,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => XmlError::Dtd,
        roxmltree::Error::NodesLimitReached => XmlError::TooManyNodes(limits.max_nodes),
        other => XmlError::Malformed(other.to_string()),
    })?;
    // Ancestors of the current element, to measure nesting in one pass.
    let mut open: Vec<roxmltree::NodeId> = Vec::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        let parent = node.parent_element().map(|p| p.id());
        while open.last().is_some_and(|top| Some(*top) != parent) {
            open.pop();
        }
        open.push(node.id());
        // `xmlns:p=""` is not allowed in Namespaces in XML 1.0; roxmltree lets it through.
        if node
            .namespaces()
            .any(|ns| ns.name().is_some() && ns.uri().is_empty())
        {
            return Err(XmlError::Malformed(
                "a namespace prefix is bound to the empty name".into(),
            ));
        }
        if open.len() > limits.max_depth {
            return Err(XmlError::TooDeep(limits.max_depth));
        }
    }
    Ok(doc)
}

/// Most work roxmltree may spend on namespaces, in comparisons: about a millisecond. An element
/// that declares `d` namespaces below `s` in scope costs roxmltree about `(s + d)^2` (it copies
/// the parent's namespaces and checks each against the new ones), and nothing bounds `s` or the
/// number of such elements but the body size: a 63 KB body took 23 s. Real clients declare a
/// handful of namespaces, on the root or on each property element, and stay far below this.
const MAX_NAMESPACE_WORK: u64 = 1 << 20;

/// One linear pass over the text before roxmltree sees it: refuses nesting deeper than
/// `limits.max_depth` and namespace declarations whose resolution would cost more than
/// [`MAX_NAMESPACE_WORK`]. It only needs to be exact for well-formed XML: on anything else it
/// estimates, and roxmltree rejects the document anyway.
fn prescan(text: &str, limits: &XmlLimits) -> Result<(), XmlError> {
    let bytes = text.as_bytes();
    let find = |from: usize, needle: &[u8]| -> Option<usize> {
        bytes
            .get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| from + p)
    };
    // Declarations made by each open element, and their sum: an upper bound of the namespaces
    // in scope (redeclared prefixes are counted twice, which only makes the bound safer).
    let mut open: Vec<u64> = Vec::new();
    let mut in_scope: u64 = 0;
    let mut work: u64 = 0;
    let mut i = 0;
    while let Some(lt) = find(i, b"<") {
        let rest = &bytes[lt + 1..];
        let skip_past = |end: &[u8]| find(lt + 1, end).map(|e| e + end.len());
        let next = if rest.starts_with(b"!--") {
            skip_past(b"-->")
        } else if rest.starts_with(b"![CDATA[") {
            skip_past(b"]]>")
        } else if rest.starts_with(b"?") {
            skip_past(b"?>")
        } else if rest.starts_with(b"!") {
            // A DTD: roxmltree refuses it without building anything.
            return Ok(());
        } else if rest.starts_with(b"/") {
            if let Some(declared) = open.pop() {
                in_scope -= declared;
            }
            skip_past(b">")
        } else {
            let (end, declared, self_closing) = scan_start_tag(bytes, lt + 1);
            if declared > 0 {
                let n = in_scope + declared;
                work = work.saturating_add(n.saturating_mul(n));
                if work > MAX_NAMESPACE_WORK {
                    return Err(XmlError::TooManyNamespaces);
                }
            }
            if !self_closing {
                open.push(declared);
                in_scope += declared;
                if open.len() > limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
            }
            end
        };
        match next {
            Some(next) => i = next,
            None => break,
        }
    }
    Ok(())
}

/// Scans a start tag from just after its `<`: returns where the scan should go on (after the
/// closing `>`, or `None` at the end of the text), how many namespace declarations (`xmlns` or
/// `xmlns:p` attributes) it holds, and whether it closes itself (`/>`). Quoted attribute values
/// may contain `>`.
fn scan_start_tag(bytes: &[u8], from: usize) -> (Option<usize>, u64, bool) {
    let mut declared = 0;
    let mut quote: Option<u8> = None;
    let mut previous = b'<';
    for (offset, &b) in bytes.get(from..).unwrap_or_default().iter().enumerate() {
        let at = from + offset;
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'>' => return (Some(at + 1), declared, previous == b'/'),
                b'x' if previous.is_ascii_whitespace() => {
                    let name = bytes.get(at..at + 6).unwrap_or_default();
                    if name.starts_with(b"xmlns")
                        && matches!(
                            name.get(5),
                            Some(b':' | b'=') | Some(b' ' | b'\t' | b'\r' | b'\n')
                        )
                    {
                        declared += 1;
                    }
                }
                _ => {}
            },
        }
        previous = b;
    }
    (None, declared, false)
}

/// Checks a fragment about to be stored (a PROPPATCH value, a lock owner) against the scan of
/// [`parse_document`]. Serialisation declares every namespace on the fragment's outermost
/// element, which can make the fragment far costlier to parse than the request it came from
/// (1,000 children each declaring one namespace become one element declaring 1,000), and
/// handlers parse stored fragments again.
pub(crate) fn check_fragment(fragment: &str, limits: &XmlLimits) -> Result<(), XmlError> {
    prescan(fragment, limits)
}

/// The namespace and local name of an element.
pub(crate) fn element_name(node: Node<'_, '_>) -> PropName {
    let tag = node.tag_name();
    PropName::copied(tag.namespace().unwrap_or(""), tag.name())
}

/// True if `node` is the element `DAV:local`.
pub(crate) fn is_dav(node: Node<'_, '_>, local: &str) -> bool {
    node.is_element()
        && node.tag_name().namespace() == Some(crate::name::DAV_NS)
        && node.tag_name().name() == local
}

/// The element children of `node` (text and comments skipped).
pub(crate) fn child_elements<'a, 'input>(
    node: Node<'a, 'input>,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(|n| n.is_element())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_dtds_and_entities() {
        let limits = XmlLimits::default();
        let billion = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><a>&lol;</a>"#;
        assert_eq!(parse_document(billion, &limits).unwrap_err(), XmlError::Dtd);
    }

    #[test]
    fn refuses_deep_nesting() {
        let limits = XmlLimits::default();
        let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
        assert!(parse_document(&deep, &limits).is_err());
        let ok = format!("{}{}", "<a>".repeat(10), "</a>".repeat(10));
        assert!(parse_document(&ok, &limits).is_ok());
    }

    #[test]
    fn refuses_too_many_nodes() {
        let limits = XmlLimits {
            max_nodes: 100,
            ..XmlLimits::default()
        };
        let wide = format!("<a>{}</a>", "<b/>".repeat(200));
        assert_eq!(
            parse_document(&wide, &limits).unwrap_err(),
            XmlError::TooManyNodes(100)
        );
    }

    /// Found while reviewing the XML limits for the fuzz targets: roxmltree copies the parent's
    /// namespaces into every element that declares one and checks each for a duplicate, so its
    /// time grows with the square of the namespaces in scope for every such element. A 31 KB
    /// body (a root declaring 1,000 prefixes, 1,000 children declaring one each) took 4 s,
    /// 63 KB took 23 s, within every other limit. Such bodies are now refused by a scan before
    /// roxmltree runs.
    #[test]
    fn namespace_heavy_bodies_are_refused_before_parsing() {
        let mut wide = String::from("<a");
        for i in 0..300 {
            wide.push_str(&format!(" xmlns:p{i}=\"u\""));
        }
        wide.push('>');
        wide.push_str(&"<b xmlns:z=\"u\"/>".repeat(300));
        wide.push_str("</a>");
        assert_eq!(
            parse_document(&wide, &XmlLimits::default()).unwrap_err(),
            XmlError::TooManyNamespaces
        );
    }

    /// Nesting is now measured before roxmltree runs (it took 36 s over a 90 KB body of 4,000
    /// nested elements each declaring a namespace before the depth limit was applied): a body
    /// too deep is refused as such even when it breaks down further on.
    #[test]
    fn depth_is_measured_before_parsing() {
        let deep = format!("{}<<<", "<a xmlns:p=\"u\">".repeat(100));
        assert_eq!(
            parse_document(&deep, &XmlLimits::default()).unwrap_err(),
            XmlError::TooDeep(64)
        );
    }

    /// What real clients send stays well inside the budget: a PROPFIND naming 2,000 properties,
    /// each declaring its own namespace, and markup-like text in values, comments, CDATA and
    /// processing instructions, which the scan must not count as elements.
    #[test]
    fn ordinary_bodies_pass_the_scan() {
        let limits = XmlLimits::default();
        let mut many = String::from(r#"<D:propfind xmlns:D="DAV:"><D:prop>"#);
        for i in 0..2000 {
            many.push_str(&format!(r#"<p{i} xmlns="urn:x{i}"/>"#));
        }
        many.push_str("</D:prop></D:propfind>");
        assert!(parse_document(&many, &limits).is_ok());

        let nested = "<a>".repeat(64) + &"</a>".repeat(64);
        let tricky = format!(
            r#"<?xml version="1.0"?><!-- <a><a> --><r k='>' j=">"><?pi <a>?><![CDATA[<a><a>]]>{nested}</r>"#
        );
        let tight = XmlLimits {
            max_depth: 65,
            ..limits
        };
        assert!(parse_document(&tricky, &tight).is_ok());
        assert_eq!(
            parse_document(
                &tricky,
                &XmlLimits {
                    max_depth: 64,
                    ..limits
                }
            )
            .unwrap_err(),
            XmlError::TooDeep(64)
        );
    }

    #[test]
    fn utf8_only() {
        assert!(body_text(b"\xEF\xBB\xBF<a/>").is_ok());
        assert_eq!(body_text(b"<a>\xff</a>").unwrap_err(), XmlError::NotUtf8);
    }
}

/// Property tests of the scan that runs before roxmltree: on well-formed documents it measures
/// exactly the depth roxmltree sees, whatever comments, CDATA, processing instructions and
/// quoted `>` they hold, so it refuses nothing that is within the limits.
#[cfg(test)]
mod proptests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::xml::testgen::element;

    proptest! {
        #[test]
        fn the_scan_measures_depth_exactly(inner in element(), pi in any::<bool>()) {
            let mut xml = String::new();
            if pi {
                xml.push_str(r#"<?xml version="1.0"?><!-- <x> --><?pi <a>?>"#);
            }
            inner.render(&BTreeMap::new(), &mut xml);
            let doc = Document::parse(&xml).map_err(|e| TestCaseError::fail(format!("{xml:?}: {e}")))?;
            let depth = doc
                .descendants()
                .filter(|n| n.is_element())
                .map(|n| n.ancestors().filter(|a| a.is_element()).count())
                .max()
                .unwrap_or(0);
            let exact = XmlLimits { max_depth: depth, ..XmlLimits::default() };
            prop_assert!(parse_document(&xml, &exact).is_ok());
            let less = XmlLimits { max_depth: depth - 1, ..XmlLimits::default() };
            prop_assert_eq!(parse_document(&xml, &less).unwrap_err(), XmlError::TooDeep(depth - 1));
        }

        #[test]
        fn the_scan_never_panics(text in "\\PC{0,60}|[<>!?/'\"= xmlns:\\[\\]CDAT-]{0,60}") {
            let _ = prescan(&text, &XmlLimits::default());
        }
    }
}
