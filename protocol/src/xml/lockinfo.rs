use super::{
    XmlError, XmlLimits, check_fragment, child_elements, element_name, is_dav, parse_document,
    serialize_element,
};

/// Exclusive or shared (RFC 4918 §6.1). Only write locks exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockScope {
    Exclusive,
    Shared,
}

impl LockScope {
    pub fn as_str(self) -> &'static str {
        match self {
            LockScope::Exclusive => "exclusive",
            LockScope::Shared => "shared",
        }
    }
}

/// A LOCK request body (RFC 4918 §14.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    pub scope: LockScope,
    /// The `owner` element as a self-contained fragment, kept verbatim for lock discovery.
    pub owner: Option<String>,
}

/// Parses `lockinfo`. Only `write` locks exist; anything else is refused.
pub fn parse_lockinfo(text: &str, limits: &XmlLimits) -> Result<LockInfo, XmlError> {
    let doc = parse_document(text, limits)?;
    let root = doc.root_element();
    if !is_dav(root, "lockinfo") {
        return Err(XmlError::Unexpected(format!(
            "the root element is {:?}, not {{DAV:}}lockinfo",
            element_name(root)
        )));
    }
    let mut scope = None;
    let mut write = false;
    let mut owner = None;
    for child in child_elements(root) {
        if is_dav(child, "lockscope") {
            for s in child_elements(child) {
                scope = if is_dav(s, "exclusive") {
                    Some(LockScope::Exclusive)
                } else if is_dav(s, "shared") {
                    Some(LockScope::Shared)
                } else {
                    return Err(XmlError::Unexpected(format!(
                        "unknown lock scope {:?}",
                        element_name(s)
                    )));
                };
            }
        } else if is_dav(child, "locktype") {
            for t in child_elements(child) {
                if !is_dav(t, "write") {
                    return Err(XmlError::Unexpected(format!(
                        "unknown lock type {:?}: only write locks exist",
                        element_name(t)
                    )));
                }
                write = true;
            }
        } else if is_dav(child, "owner") {
            let fragment = serialize_element(child);
            check_fragment(&fragment, limits)?;
            owner = Some(fragment);
        }
    }
    let scope = scope.ok_or_else(|| XmlError::Unexpected("lockinfo lacks a lockscope".into()))?;
    if !write {
        return Err(XmlError::Unexpected("lockinfo lacks locktype write".into()));
    }
    Ok(LockInfo { scope, owner })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_office_style_lockinfo() {
        let body = r#"<?xml version="1.0" encoding="utf-8" ?>
            <D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>
            <D:locktype><D:write/></D:locktype>
            <D:owner><D:href>mailto:user@example.com</D:href></D:owner></D:lockinfo>"#;
        let info = parse_lockinfo(body, &XmlLimits::default()).unwrap();
        assert_eq!(info.scope, LockScope::Exclusive);
        assert_eq!(
            info.owner.as_deref(),
            Some(r#"<D:owner xmlns:D="DAV:"><D:href>mailto:user@example.com</D:href></D:owner>"#)
        );
    }

    /// As for PROPPATCH values: an owner whose stored fragment would declare 1,100 namespaces
    /// on one element (costly each time lock discovery is parsed) is refused.
    #[test]
    fn owners_whose_fragment_would_be_costly_are_refused() {
        let children: String = (0..1100)
            .map(|i| format!(r#"<x:c xmlns:x="urn:{i}"/>"#))
            .collect();
        let body = format!(
            r#"<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>{children}</D:owner></D:lockinfo>"#
        );
        // `matches!`: on failure the value would print a megabyte of declarations.
        assert!(matches!(
            parse_lockinfo(&body, &XmlLimits::default()),
            Err(XmlError::TooManyNamespaces)
        ));
    }

    #[test]
    fn refuses_incomplete_lockinfo() {
        let limits = XmlLimits::default();
        assert!(
            parse_lockinfo(
                r#"<lockinfo xmlns="DAV:"><locktype><write/></locktype></lockinfo>"#,
                &limits
            )
            .is_err()
        );
        assert!(
            parse_lockinfo(
                r#"<lockinfo xmlns="DAV:"><lockscope><shared/></lockscope></lockinfo>"#,
                &limits
            )
            .is_err()
        );
        assert!(parse_lockinfo(r#"<lockinfo xmlns="DAV:"><lockscope><shared/></lockscope><locktype><read/></locktype></lockinfo>"#, &limits).is_err());
    }
}

/// Property tests: any body is refused or parsed without a panic, and the owner of a generated
/// `lockinfo` is stored as a fragment that parses again and means what the request said.
#[cfg(test)]
mod proptests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::testing::same_meaning;
    use crate::xml::testgen::{Element, edits, element, mutate};

    fn body(shared: bool, owner: &Option<Vec<Element>>) -> String {
        let scope = BTreeMap::from([("D", "DAV:")]);
        let scope_name = if shared { "shared" } else { "exclusive" };
        let mut xml = format!(
            r#"<D:lockinfo xmlns:D="DAV:" xml:lang="en"><D:lockscope><D:{scope_name}/></D:lockscope><D:locktype><D:write/></D:locktype>"#
        );
        if let Some(children) = owner {
            xml.push_str("<D:owner>");
            for child in children {
                child.render(&scope, &mut xml);
            }
            xml.push_str("</D:owner>");
        }
        xml.push_str("</D:lockinfo>");
        xml
    }

    fn owner() -> impl Strategy<Value = Option<Vec<Element>>> {
        proptest::option::of(proptest::collection::vec(element(), 0..3))
    }

    proptest! {
        #[test]
        fn owners_are_self_contained(shared in any::<bool>(), owner in owner()) {
            let xml = body(shared, &owner);
            let info = parse_lockinfo(&xml, &XmlLimits::default())
                .map_err(|e| TestCaseError::fail(format!("{xml:?}: {e}")))?;
            prop_assert_eq!(info.scope, if shared { LockScope::Shared } else { LockScope::Exclusive });
            prop_assert_eq!(info.owner.is_some(), owner.is_some());
            if let Some(stored) = &info.owner {
                let doc = roxmltree::Document::parse(&xml).unwrap();
                let original = doc.descendants().find(|n| is_dav(*n, "owner")).unwrap();
                let fragment = parse_document(stored, &XmlLimits::default())
                    .map_err(|e| TestCaseError::fail(format!("{stored:?}: {e}")))?;
                same_meaning(original, fragment.root_element())
                    .map_err(|e| TestCaseError::fail(format!("{stored:?}: {e}")))?;
            }
        }

        #[test]
        fn never_panics(text in "\\PC{0,80}") {
            let _ = parse_lockinfo(&text, &XmlLimits::default());
        }

        #[test]
        fn edited_bodies_never_panic(shared in any::<bool>(), owner in owner(), edits in edits()) {
            let _ = parse_lockinfo(&mutate(&body(shared, &owner), &edits), &XmlLimits::default());
        }
    }
}
