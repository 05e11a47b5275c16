use crate::name::PropName;

use super::{
    XmlError, XmlLimits, check_fragment, child_elements, element_name, is_dav, parse_document,
    serialize_element,
};

/// One instruction of a PROPPATCH, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchInstruction {
    /// Set `name` to `value`: the whole property element as a self-contained XML fragment.
    Set {
        name: PropName,
        value: String,
    },
    Remove {
        name: PropName,
    },
}

impl PatchInstruction {
    pub fn name(&self) -> &PropName {
        match self {
            PatchInstruction::Set { name, .. } | PatchInstruction::Remove { name } => name,
        }
    }
}

/// Parses a `propertyupdate` body (RFC 4918 §9.2, §14.19).
pub fn parse_propertyupdate(
    text: &str,
    limits: &XmlLimits,
) -> Result<Vec<PatchInstruction>, XmlError> {
    let doc = parse_document(text, limits)?;
    let root = doc.root_element();
    if !is_dav(root, "propertyupdate") {
        return Err(XmlError::Unexpected(format!(
            "the root element is {:?}, not {{DAV:}}propertyupdate",
            element_name(root)
        )));
    }
    let mut instructions = Vec::new();
    for action in child_elements(root) {
        let set = if is_dav(action, "set") {
            true
        } else if is_dav(action, "remove") {
            false
        } else {
            continue;
        };
        for prop in child_elements(action).filter(|n| is_dav(*n, "prop")) {
            for property in child_elements(prop) {
                let name = element_name(property);
                instructions.push(if set {
                    let value = serialize_element(property);
                    check_fragment(&value, limits)?;
                    PatchInstruction::Set { name, value }
                } else {
                    PatchInstruction::Remove { name }
                });
            }
        }
    }
    if instructions.is_empty() {
        return Err(XmlError::Unexpected(
            "propertyupdate holds no property to set or remove".into(),
        ));
    }
    Ok(instructions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_order_is_kept() {
        let body = r#"<propertyupdate xmlns='DAV:'>
            <remove><prop><r xmlns='u'/></prop></remove>
            <set><prop><r xmlns='u'>x</r><s xmlns='u'/></prop></set>
            <set><prop><r xmlns='u'>y</r></prop></set>
        </propertyupdate>"#;
        let got = parse_propertyupdate(body, &XmlLimits::default()).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|i| match i {
                PatchInstruction::Set { name, value } => format!("set {name:?} {value}"),
                PatchInstruction::Remove { name } => format!("remove {name:?}"),
            })
            .collect();
        assert_eq!(
            names,
            vec![
                "remove {u}r",
                r#"set {u}r <ns0:r xmlns:ns0="u">x</ns0:r>"#,
                r#"set {u}s <ns0:s xmlns:ns0="u"/>"#,
                r#"set {u}r <ns0:r xmlns:ns0="u">y</ns0:r>"#,
            ]
        );
    }

    /// serialize_element declares every namespace a value uses on its outermost element. A
    /// value whose 1,100 children each declare their own namespace is cheap to parse as sent,
    /// but stored it would be an element declaring 1,100 namespaces, which costs roxmltree a
    /// million comparisons each time a handler reads it. Such values are refused up front, so
    /// every stored fragment passes our own limits.
    #[test]
    fn values_whose_fragment_would_be_costly_are_refused() {
        let children: String = (0..1100)
            .map(|i| format!(r#"<x:c xmlns:x="urn:{i}"/>"#))
            .collect();
        let body = format!(
            r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><v xmlns="urn:v">{children}</v></D:prop></D:set></D:propertyupdate>"#
        );
        // `matches!`: on failure the value would print a megabyte of declarations.
        assert!(matches!(
            parse_propertyupdate(&body, &XmlLimits::default()),
            Err(XmlError::TooManyNamespaces)
        ));
    }

    #[test]
    fn refuses_other_roots_and_empty_updates() {
        let limits = XmlLimits::default();
        assert!(parse_propertyupdate(r#"<propfind xmlns="DAV:"/>"#, &limits).is_err());
        assert!(parse_propertyupdate(r#"<propertyupdate xmlns="DAV:"/>"#, &limits).is_err());
        assert!(parse_propertyupdate("<propertyupdate", &limits).is_err());
    }
}

/// Property tests: any body is refused or parsed without a panic; of a generated
/// `propertyupdate`, every property comes back in document order, and every `Set` value is a
/// fragment that parses again under our own limits and means what the request's element meant.
#[cfg(test)]
mod proptests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::testing::{expanded, same_meaning};
    use crate::xml::fragment_text;
    use crate::xml::testgen::{Element, edits, element, mutate};

    /// `<D:propertyupdate>` with one `set` or `remove` per group, each group's elements inside
    /// its `prop`.
    fn body(groups: &[(bool, Vec<Element>)], lang: bool) -> String {
        let scope = BTreeMap::from([("D", "DAV:")]);
        let mut xml = String::from(
            r#"<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:""#,
        );
        if lang {
            xml.push_str(r#" xml:lang="de""#);
        }
        xml.push('>');
        for (set, elements) in groups {
            let action = if *set { "set" } else { "remove" };
            xml.push_str(&format!("<D:{action}><D:prop>"));
            for e in elements {
                e.render(&scope, &mut xml);
            }
            xml.push_str(&format!("</D:prop></D:{action}>"));
        }
        xml.push_str("</D:propertyupdate>");
        xml
    }

    fn groups() -> impl Strategy<Value = Vec<(bool, Vec<Element>)>> {
        proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(element(), 1..3)),
            1..3,
        )
    }

    proptest! {
        #[test]
        fn set_values_are_self_contained(groups in groups(), lang in any::<bool>()) {
            let xml = body(&groups, lang);
            let limits = XmlLimits::default();
            let instructions = parse_propertyupdate(&xml, &limits)
                .map_err(|e| TestCaseError::fail(format!("{xml:?}: {e}")))?;
            let doc = roxmltree::Document::parse(&xml).unwrap();
            let originals: Vec<_> = doc
                .descendants()
                .filter(|n| n.parent_element().is_some_and(|p| is_dav(p, "prop")))
                .filter(|n| n.is_element())
                .collect();
            prop_assert_eq!(instructions.len(), originals.len());
            for (instruction, original) in instructions.iter().zip(originals) {
                let (namespace, local) = expanded(original);
                prop_assert_eq!(instruction.name(), &PropName::new(namespace, local));
                let PatchInstruction::Set { value, .. } = instruction else {
                    continue;
                };
                let fragment = parse_document(value, &limits)
                    .map_err(|e| TestCaseError::fail(format!("{value:?}: {e}")))?;
                same_meaning(original, fragment.root_element())
                    .map_err(|e| TestCaseError::fail(format!("{value:?}: {e}")))?;
                prop_assert!(fragment_text(value).is_some());
            }
        }

        #[test]
        fn never_panics(text in "\\PC{0,80}") {
            let _ = parse_propertyupdate(&text, &XmlLimits::default());
        }

        #[test]
        fn edited_bodies_never_panic(groups in groups(), edits in edits()) {
            let xml = mutate(&body(&groups, false), &edits);
            if let Ok(instructions) = parse_propertyupdate(&xml, &XmlLimits::default()) {
                for instruction in instructions {
                    if let PatchInstruction::Set { value, .. } = instruction {
                        prop_assert!(roxmltree::Document::parse(&value).is_ok(), "{}", value);
                    }
                }
            }
        }
    }
}
