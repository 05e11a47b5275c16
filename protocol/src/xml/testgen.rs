//! Test-only generators of XML elements for the property tests of the body parsers and of
//! `serialize_element`, and a comparison of two elements by meaning (expanded names,
//! attributes, text) rather than spelling.
//!
//! Generated elements mix what clients really send: default and prefixed namespaces, the same
//! prefix rebound to another namespace further down, `xmlns=""`, namespaced attributes,
//! `xml:lang`, text that needs escaping, CDATA and comments between text.

use std::collections::BTreeMap;

use proptest::prelude::*;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// How an element declares (or does not declare) a namespace.
#[derive(Debug, Clone)]
pub enum Decl {
    None,
    Default(&'static str),
    Prefixed(&'static str, &'static str),
}

#[derive(Debug, Clone)]
pub enum Child {
    Element(Element),
    Text(String),
    CData(String),
    Comment,
}

#[derive(Debug, Clone)]
pub struct Element {
    pub decl: Decl,
    /// The prefix of the element's name; declared on the fly if not in scope.
    pub prefix: Option<&'static str>,
    pub local: String,
    /// (prefix or `xml`, local name, value).
    pub attributes: Vec<(Option<&'static str>, String, String)>,
    pub children: Vec<Child>,
}

const PREFIXES: &[&str] = &["D", "a", "b", "ns0", "ns1", "xmlfoo"];
const URIS: &[&str] = &["DAV:", "http://ex/", "urn:x", "u", "http://ex/\u{e9}&\"<"];

fn local_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9._-]{0,6}|\u{e9}l\u{e8}ve"
}

fn text() -> impl Strategy<Value = String> {
    "[ -~\u{e9}\u{10000}\t\n\r]{0,12}"
}

fn decl() -> impl Strategy<Value = Decl> {
    prop_oneof![
        3 => Just(Decl::None),
        1 => prop::sample::select(URIS).prop_map(Decl::Default),
        1 => Just(Decl::Default("")),
        2 => (prop::sample::select(PREFIXES), prop::sample::select(URIS))
            .prop_map(|(p, u)| Decl::Prefixed(p, u)),
    ]
}

fn attribute() -> impl Strategy<Value = (Option<&'static str>, String, String)> {
    let prefix = prop_oneof![
        3 => Just(None),
        1 => Just(Some("xml")),
        2 => prop::sample::select(PREFIXES).prop_map(Some),
    ];
    (prefix, local_name(), text()).prop_map(|(prefix, local, value)| {
        // The only attributes of the xml namespace with a meaning here.
        if prefix == Some("xml") {
            let local = if local.len() % 2 == 0 {
                "lang"
            } else {
                "space"
            };
            (prefix, local.to_owned(), value)
        } else {
            (prefix, local, value)
        }
    })
}

fn leaf() -> impl Strategy<Value = Element> {
    (
        decl(),
        prop::option::of(prop::sample::select(PREFIXES)),
        local_name(),
        prop::collection::vec(attribute(), 0..3),
    )
        .prop_map(|(decl, prefix, local, attributes)| Element {
            decl,
            prefix,
            local,
            attributes,
            children: vec![],
        })
}

/// An element tree at most four levels deep and a few children wide.
pub fn element() -> impl Strategy<Value = Element> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        (
            leaf(),
            prop::collection::vec(
                prop_oneof![
                    3 => inner.prop_map(Child::Element),
                    2 => text().prop_map(Child::Text),
                    1 => "[a-z<&>\\]]{0,6}".prop_map(Child::CData),
                    1 => Just(Child::Comment),
                ],
                0..4,
            ),
        )
            .prop_map(|(mut element, children)| {
                element.children = children;
                element
            })
    })
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => escape_attr_char(c, out),
        }
    }
}

/// Attribute values keep `>` as it is (it is legal there), so that scanners which look for the
/// end of a tag are tested on it.
fn escape_attr(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            _ => escape_attr_char(c, out),
        }
    }
}

/// The escapes text and attribute values share (quotes are escaped in text too: harmless).
fn escape_attr_char(c: char, out: &mut String) {
    match c {
        '"' => out.push_str("&quot;"),
        '\t' => out.push_str("&#9;"),
        '\n' => out.push_str("&#10;"),
        '\r' => out.push_str("&#13;"),
        c => out.push(c),
    }
}

impl Element {
    /// Well-formed XML for this element, given the prefixes in scope (prefix -> URI; the
    /// default namespace need not be tracked: any is fine).
    pub fn render(&self, scope: &BTreeMap<&'static str, &'static str>, out: &mut String) {
        let mut scope = scope.clone();
        let mut declarations = String::new();
        match self.decl {
            Decl::None => {}
            Decl::Default(uri) => {
                declarations.push_str(" xmlns=\"");
                escape(uri, &mut declarations);
                declarations.push('"');
            }
            Decl::Prefixed(prefix, uri) => {
                scope.insert(prefix, uri);
                declarations.push_str(&format!(" xmlns:{prefix}=\""));
                escape(uri, &mut declarations);
                declarations.push('"');
            }
        }
        let mut ensure = |prefix: &'static str, scope: &mut BTreeMap<_, _>| {
            if prefix != "xml" && !scope.contains_key(prefix) {
                scope.insert(prefix, "urn:auto");
                declarations.push_str(&format!(" xmlns:{prefix}=\"urn:auto\""));
            }
        };
        if let Some(prefix) = self.prefix {
            ensure(prefix, &mut scope);
        }
        // Two attributes may not share an expanded name; keep the first of each.
        let mut seen = Vec::new();
        let mut attributes = String::new();
        for (prefix, local, value) in &self.attributes {
            let uri = match prefix {
                None => "",
                Some("xml") => XML_NS,
                Some(p) => {
                    ensure(p, &mut scope);
                    scope[p]
                }
            };
            if seen.contains(&(uri, local)) {
                continue;
            }
            seen.push((uri, local));
            match prefix {
                Some(p) => attributes.push_str(&format!(" {p}:{local}=\"")),
                None => attributes.push_str(&format!(" {local}=\"")),
            }
            escape_attr(value, &mut attributes);
            attributes.push('"');
        }
        let name = match self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        };
        out.push('<');
        out.push_str(&name);
        out.push_str(&declarations);
        out.push_str(&attributes);
        out.push('>');
        for child in &self.children {
            match child {
                Child::Element(e) => e.render(&scope, out),
                Child::Text(t) => escape(t, out),
                Child::CData(t) => {
                    out.push_str("<![CDATA[");
                    out.push_str(&t.replace("]]>", "]]]]><![CDATA[>"));
                    out.push_str("]]>");
                }
                Child::Comment => out.push_str("<!-- c -->"),
            }
        }
        out.push_str("</");
        out.push_str(&name);
        out.push('>');
    }
}

/// A few single-character edits (insert or delete at a position) of `text`: near-valid input
/// reaches much deeper into a parser than random characters do.
pub fn mutate(text: &str, edits: &[(usize, Option<char>)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (position, edit) in edits {
        let at = position % (chars.len() + 1);
        match edit {
            Some(c) => chars.insert(at, *c),
            None if at < chars.len() => {
                chars.remove(at);
            }
            None => {}
        }
    }
    chars.into_iter().collect()
}

/// Edits for [`mutate`], biased towards XML's own punctuation.
pub fn edits() -> impl Strategy<Value = Vec<(usize, Option<char>)>> {
    let c = prop_oneof![
        3 => prop::sample::select(vec!['<', '>', '/', '"', '=', ':', '&', ';', '!', '?', ' ', 'x']),
        1 => any::<char>(),
    ];
    prop::collection::vec((any::<usize>(), prop::option::of(c)), 0..4)
}
