//! Test support shared by the property tests in this crate and the fuzz targets in `fuzz/`
//! (which turn on the `testing` feature): header values rendered back to their wire form, so
//! that parse -> render -> parse can be checked, and a comparison of two XML elements by
//! meaning, so that a re-serialised fragment can be checked against what was received.

use roxmltree::Node;

use crate::headers::{EntityTag, EtagMatch, IfCondition, IfHeader};

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// The headers `Request::parse` reads, so that generated requests mostly reach a parser rather
/// than be ignored. A header the parser learns to read belongs here too (docs/extending.md,
/// "Adding a header").
pub const REQUEST_HEADERS: &[&str] = &[
    "depth",
    "destination",
    "overwrite",
    "if",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "timeout",
    "lock-token",
    "range",
    "content-range",
    "content-length",
    "content-type",
    "transfer-encoding",
    "host",
    "accept",
    "user-agent",
    "translate",
    "x-msdavext",
    "x-msdavextlocktimeout",
    "ms-doclib",
    "origin",
    "sec-fetch-site",
];

/// The wire form of a parsed `If` header: each list with its resource tag, conditions
/// separated by one space (the server never writes an If header, so only tests need this).
pub fn render_if(header: &IfHeader) -> String {
    let mut out = String::new();
    for list in &header.lists {
        if let Some(resource) = &list.resource {
            out.push_str(&format!("<{resource}> "));
        }
        out.push('(');
        for (i, condition) in list.conditions.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let (not, body) = match condition {
                IfCondition::StateToken { not, token } => (*not, format!("<{token}>")),
                IfCondition::ETag { not, tag } => (*not, format!("[{}]", tag.to_header())),
            };
            if not {
                out.push_str("Not ");
            }
            out.push_str(&body);
        }
        out.push_str(") ");
    }
    out
}

/// The wire form of an `If-Match` / `If-None-Match` value.
pub fn render_etag_list(list: &EtagMatch) -> String {
    match list {
        EtagMatch::Any => "*".to_owned(),
        EtagMatch::Tags(tags) => tags
            .iter()
            .map(EntityTag::to_header)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A child as compared: adjacent text nodes joined (comments split them in the source, and
/// serialisation drops the comments), empty text dropped.
#[derive(Debug)]
enum Item<'a, 'input> {
    Element(Node<'a, 'input>),
    Text(String),
}

fn items<'a, 'input>(node: Node<'a, 'input>) -> Vec<Item<'a, 'input>> {
    let mut out: Vec<Item<'a, 'input>> = Vec::new();
    for child in node.children() {
        if child.is_element() {
            out.push(Item::Element(child));
        } else if let Some(text) = child.text().filter(|t| !t.is_empty() && child.is_text()) {
            if let Some(Item::Text(previous)) = out.last_mut() {
                previous.push_str(text);
            } else {
                out.push(Item::Text(text.to_owned()));
            }
        }
    }
    out
}

/// Expanded name: `xmlns=""` (namespace `Some("")`) and no namespace (`None`) are the same.
pub fn expanded(node: Node<'_, '_>) -> (String, String) {
    let tag = node.tag_name();
    (
        tag.namespace().unwrap_or("").to_owned(),
        tag.name().to_owned(),
    )
}

fn attributes(node: Node<'_, '_>, skip_lang: bool) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = node
        .attributes()
        .filter(|a| !(skip_lang && a.namespace() == Some(XML_NS) && a.name() == "lang"))
        .map(|a| {
            (
                a.namespace().unwrap_or("").to_owned(),
                a.name().to_owned(),
                a.value().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The `xml:lang` in force on an element: its own or its nearest ancestor's.
pub fn effective_lang<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    node.ancestors().find_map(|a| a.attribute((XML_NS, "lang")))
}

/// `Err` with a description unless `copy` means what `original` means: the same expanded
/// names, attributes, text and children, and at the top the same `xml:lang` in force.
pub fn same_meaning(original: Node<'_, '_>, copy: Node<'_, '_>) -> Result<(), String> {
    if effective_lang(original) != effective_lang(copy) {
        return Err(format!(
            "xml:lang {:?} became {:?}",
            effective_lang(original),
            effective_lang(copy)
        ));
    }
    compare(original, copy, true)
}

fn compare(original: Node<'_, '_>, copy: Node<'_, '_>, outermost: bool) -> Result<(), String> {
    if expanded(original) != expanded(copy) {
        return Err(format!(
            "{:?} became {:?}",
            expanded(original),
            expanded(copy)
        ));
    }
    let (a, b) = (attributes(original, outermost), attributes(copy, outermost));
    if a != b {
        return Err(format!("attributes {a:?} became {b:?}"));
    }
    let (a, b) = (items(original), items(copy));
    if a.len() != b.len() {
        return Err(format!("children {a:?} became {b:?}"));
    }
    for (x, y) in a.iter().zip(&b) {
        match (x, y) {
            (Item::Element(x), Item::Element(y)) => compare(*x, *y, false)?,
            (Item::Text(x), Item::Text(y)) if x == y => {}
            _ => return Err(format!("child {x:?} became {y:?}")),
        }
    }
    Ok(())
}
