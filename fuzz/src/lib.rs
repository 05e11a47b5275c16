//! Helpers shared by the fuzz targets: renderers that turn parsed values back into header
//! text (so a target can check that parse -> render -> parse is the identity), and a structural
//! comparison of XML elements (so a target can check that a serialised fragment means what the
//! received element meant).
//!
//! The renderers live here rather than in `davd-protocol` because the server never needs to
//! write an `If` header; the protocol crate has its own copy under `#[cfg(test)]` for proptest.

use davd_protocol::headers::{EntityTag, EtagMatch, IfCondition, IfHeader};
use davd_protocol::{DavPath, Method, Request, RequestHead};
use http::{HeaderMap, StatusCode};
use roxmltree::Node;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Turns a fuzzer's bytes into text the way a server would see them if they were valid UTF-8,
/// and otherwise lossily, so that non-UTF-8 inputs still exercise the parser.
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// `W/"tag"` or `"tag"`.
pub fn render_etag(tag: &EntityTag) -> String {
    tag.to_header()
}

/// The wire form of an `If` header: each list with its resource tag, conditions separated by
/// one space.
pub fn render_if(header: &IfHeader) -> String {
    let mut out = String::new();
    for list in &header.lists {
        if let Some(resource) = &list.resource {
            out.push('<');
            out.push_str(resource);
            out.push_str("> ");
        }
        out.push('(');
        for (i, condition) in list.conditions.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let (not, body) = match condition {
                IfCondition::StateToken { not, token } => (*not, format!("<{token}>")),
                IfCondition::ETag { not, tag } => (*not, format!("[{}]", render_etag(tag))),
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

/// `*` or the tags separated by `, `.
pub fn render_etag_list(list: &EtagMatch) -> String {
    match list {
        EtagMatch::Any => "*".to_owned(),
        EtagMatch::Tags(tags) => tags.iter().map(render_etag).collect::<Vec<_>>().join(", "),
    }
}

/// What an element child is, for comparison: adjacent text nodes (which roxmltree keeps apart
/// when a comment or processing instruction separated them, and which serialisation merges)
/// are joined, and empty text is dropped.
#[derive(Debug, PartialEq)]
pub enum Item<'a, 'input> {
    Element(Node<'a, 'input>),
    Text(String),
}

fn items<'a, 'input>(node: Node<'a, 'input>) -> Vec<Item<'a, 'input>> {
    let mut out: Vec<Item<'a, 'input>> = Vec::new();
    for child in node.children() {
        if child.is_element() {
            out.push(Item::Element(child));
        } else if child.is_text() {
            let text = child.text().unwrap_or("");
            if text.is_empty() {
                continue;
            }
            if let Some(Item::Text(previous)) = out.last_mut() {
                previous.push_str(text);
            } else {
                out.push(Item::Text(text.to_owned()));
            }
        }
    }
    out
}

/// The attributes of an element as sorted (namespace, local name, value) triples, leaving out
/// `xml:lang` when `skip_lang` (the outermost element, whose language is compared separately).
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

/// Panics with a description if `copy` (the reparsed fragment's root) does not mean what
/// `original` meant: the same expanded names, attributes, text and children, recursively, and
/// at the outermost level the same language in force.
pub fn assert_same_meaning(original: Node<'_, '_>, copy: Node<'_, '_>) {
    assert_eq!(
        effective_lang(original),
        effective_lang(copy),
        "xml:lang in force differs"
    );
    compare(original, copy, true);
}

fn compare(original: Node<'_, '_>, copy: Node<'_, '_>, outermost: bool) {
    // roxmltree reports `xmlns=""` as the namespace `Some("")` and an undeclared default as
    // `None`; both mean "no namespace".
    let name = |n: Node<'_, '_>| {
        let tag = n.tag_name();
        (
            tag.namespace().unwrap_or("").to_owned(),
            tag.name().to_owned(),
        )
    };
    assert_eq!(name(original), name(copy), "element names differ");
    assert_eq!(
        attributes(original, outermost),
        attributes(copy, outermost),
        "attributes of {:?} differ",
        original.tag_name()
    );
    let (a, b) = (items(original), items(copy));
    assert_eq!(
        a.len(),
        b.len(),
        "children of {:?} differ: {a:?} / {b:?}",
        original.tag_name()
    );
    for (x, y) in a.iter().zip(&b) {
        match (x, y) {
            (Item::Element(x), Item::Element(y)) => compare(*x, *y, false),
            (Item::Text(x), Item::Text(y)) => assert_eq!(x, y, "text differs"),
            _ => panic!("child kinds differ: {x:?} / {y:?}"),
        }
    }
}

/// Small limits, so that the fuzzers reach the node and depth refusals with short inputs.
pub const TIGHT_LIMITS: davd_protocol::xml::XmlLimits = davd_protocol::xml::XmlLimits {
    max_bytes: 4096,
    max_nodes: 64,
    max_depth: 6,
};

/// Runs `Request::parse` on one request head and checks what it returns: a refusal carries
/// one of the statuses the protocol layer may produce; an accepted request names the method
/// and path that were sent, and its paths' hrefs parse again.
pub fn check_request(
    method: &str,
    path: &str,
    headers: &HeaderMap,
    tls: bool,
    body_may_exist: bool,
) {
    let result = Request::parse(RequestHead {
        method,
        path,
        headers,
        default_port: if tls { 443 } else { 80 },
        body_may_exist,
    });
    let request = match result {
        Ok(request) => request,
        Err(error) => {
            let status = error.status();
            assert!(
                [
                    StatusCode::BAD_REQUEST,
                    StatusCode::NOT_IMPLEMENTED,
                    StatusCode::BAD_GATEWAY,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    StatusCode::PAYLOAD_TOO_LARGE,
                ]
                .contains(&status),
                "{error:?}"
            );
            let _ = error.to_string();
            return;
        }
    };
    assert_eq!(request.method.name(), method);
    assert_eq!(
        DavPath::parse_url_path(path).map(|(p, _)| p).as_ref(),
        Ok(&request.path)
    );
    let href = request.path.to_href(request.trailing_slash);
    assert_eq!(
        DavPath::parse_url_path(&href).map(|(p, _)| p),
        Ok(request.path.clone())
    );
    if let Method::Copy { destination, .. } | Method::Move { destination, .. } = &request.method {
        let dest_href = destination.path.to_href(destination.trailing_slash);
        assert!(DavPath::parse_url_path(&dest_href).is_ok());
    }
    if request.body.length.is_some_and(|n| n > 0) {
        assert!(request.body.present);
    }
}
