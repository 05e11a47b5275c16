//! XML request bodies (read with roxmltree under explicit limits) and response bodies (written
//! with the `xml` crate's event writer).

mod fragment;
mod lockinfo;
mod propfind;
mod proppatch;
#[cfg(test)]
pub(crate) mod testgen;
mod write;

pub use fragment::{escape_attr, escape_text, fragment_text, serialize_element};
pub use lockinfo::{LockInfo, LockScope, parse_lockinfo};
pub use propfind::{PropfindBody, parse_propfind};
pub use proppatch::{PatchInstruction, parse_propertyupdate};
pub use write::{
    ActiveLockView, Condition, MultistatusWriter, PropStat, PropValue, error_body,
    lock_response_body, render_activelock,
};

use roxmltree::{Document, Node, ParsingOptions};

use crate::name::PropName;

/// Limits applied to every XML request body.
#[derive(Debug, Clone, Copy)]
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
    #[error("unexpected XML: {0}")]
    Unexpected(String),
}

/// Decodes the body as UTF-8 (a byte-order mark is skipped).
pub fn body_text(bytes: &[u8]) -> Result<&str, XmlError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)
}

/// Parses a document with DTDs forbidden and the node and depth limits applied.
pub fn parse_document<'a>(text: &'a str, limits: &XmlLimits) -> Result<Document<'a>, XmlError> {
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

/// The namespace and local name of an element.
pub(crate) fn element_name(node: Node<'_, '_>) -> PropName {
    let tag = node.tag_name();
    PropName::new(tag.namespace().unwrap_or(""), tag.name())
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

    #[test]
    fn utf8_only() {
        assert!(body_text(b"\xEF\xBB\xBF<a/>").is_ok());
        assert_eq!(body_text(b"<a>\xff</a>").unwrap_err(), XmlError::NotUtf8);
    }
}
