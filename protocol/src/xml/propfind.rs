use crate::name::PropName;

use super::{XmlError, XmlLimits, child_elements, element_name, is_dav, parse_document};

/// What a PROPFIND asks for (RFC 4918 §9.1, §14.20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropfindBody {
    /// `allprop`, plus any properties named in `include`. Also what an empty body means.
    AllProp { include: Vec<PropName> },
    /// `propname`: names only.
    PropName,
    /// `prop`: these properties.
    Prop(Vec<PropName>),
}

/// Parses a PROPFIND body; an empty (or blank) body means allprop.
pub fn parse_propfind(text: &str, limits: &XmlLimits) -> Result<PropfindBody, XmlError> {
    if text.trim().is_empty() {
        return Ok(PropfindBody::AllProp { include: vec![] });
    }
    let doc = parse_document(text, limits)?;
    let root = doc.root_element();
    if !is_dav(root, "propfind") {
        return Err(XmlError::Unexpected(format!(
            "the root element is {:?}, not {{DAV:}}propfind",
            element_name(root)
        )));
    }
    let mut body: Option<PropfindBody> = None;
    let mut include = Vec::new();
    for child in child_elements(root) {
        let next = if is_dav(child, "allprop") {
            PropfindBody::AllProp { include: vec![] }
        } else if is_dav(child, "propname") {
            PropfindBody::PropName
        } else if is_dav(child, "prop") {
            PropfindBody::Prop(child_elements(child).map(element_name).collect())
        } else if is_dav(child, "include") {
            include.extend(child_elements(child).map(element_name));
            continue;
        } else {
            // RFC 4918 §17: unknown elements are ignored.
            continue;
        };
        if body.is_some() {
            return Err(XmlError::Unexpected(
                "propfind holds more than one of allprop, propname and prop".into(),
            ));
        }
        body = Some(next);
    }
    match body {
        Some(PropfindBody::AllProp { .. }) => Ok(PropfindBody::AllProp { include }),
        Some(_) if !include.is_empty() => Err(XmlError::Unexpected(
            "include is only allowed with allprop".into(),
        )),
        Some(other) => Ok(other),
        None => Err(XmlError::Unexpected(
            "propfind must hold allprop, propname or prop".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PropfindBody, XmlError> {
        parse_propfind(text, &XmlLimits::default())
    }

    #[test]
    fn the_three_forms() {
        assert_eq!(
            parse("").unwrap(),
            PropfindBody::AllProp { include: vec![] }
        );
        assert_eq!(
            parse(r#"<propfind xmlns="DAV:"><foobar/><allprop/></propfind>"#).unwrap(),
            PropfindBody::AllProp { include: vec![] }
        );
        assert_eq!(
            parse(r#"<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#).unwrap(),
            PropfindBody::PropName
        );
        assert_eq!(
            parse(r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><x:a xmlns:x="u"/></D:prop></D:propfind>"#)
                .unwrap(),
            PropfindBody::Prop(vec![PropName::dav("getetag"), PropName::new("u", "a")])
        );
        assert_eq!(
            parse(
                r#"<propfind xmlns="DAV:"><allprop/><include><x xmlns="u"/></include></propfind>"#
            )
            .unwrap(),
            PropfindBody::AllProp {
                include: vec![PropName::new("u", "x")]
            }
        );
    }

    #[test]
    fn bad_bodies() {
        assert!(parse("<foo>").is_err());
        assert!(parse(r#"<D:propfind xmlns:D="DAV:"><D:prop><bar:foo xmlns:bar=""/></D:prop></D:propfind>"#).is_err());
        assert!(parse(r#"<propfind/>"#).is_err());
        assert!(parse(r#"<propfind xmlns="DAV:"/>"#).is_err());
        assert!(parse(r#"<propfind xmlns="DAV:"><allprop/><propname/></propfind>"#).is_err());
    }
}

/// Property tests: any body is refused or parsed without a panic, and a generated `prop` list
/// comes back as the expanded names of its elements, in order.
#[cfg(test)]
pub(super) mod proptests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::testing::expanded;
    use crate::xml::testgen::{Element, edits, element, mutate};

    /// A PROPFIND body whose `prop` holds `props`.
    pub(in crate::xml) fn body(props: &[Element]) -> String {
        let scope = BTreeMap::from([("D", "DAV:")]);
        let mut xml = String::from(r#"<D:propfind xmlns:D="DAV:"><D:prop>"#);
        for p in props {
            p.render(&scope, &mut xml);
        }
        xml.push_str("</D:prop></D:propfind>");
        xml
    }

    proptest! {
        #[test]
        fn prop_names_in_order(props in proptest::collection::vec(element(), 0..5)) {
            let xml = body(&props);
            let parsed = parse_propfind(&xml, &XmlLimits::default())
                .map_err(|e| TestCaseError::fail(format!("{xml:?}: {e}")))?;
            let doc = roxmltree::Document::parse(&xml).unwrap();
            let prop = doc.descendants().find(|n| is_dav(*n, "prop")).unwrap();
            let names = child_elements(prop)
                .map(|n| {
                    let (namespace, local) = expanded(n);
                    PropName::new(namespace, local)
                })
                .collect();
            prop_assert_eq!(parsed, PropfindBody::Prop(names));
        }

        #[test]
        fn never_panics(text in "\\PC{0,80}") {
            let _ = parse_propfind(&text, &XmlLimits::default());
        }

        #[test]
        fn edited_bodies_never_panic(props in proptest::collection::vec(element(), 0..3), edits in edits()) {
            let _ = parse_propfind(&mutate(&body(&props), &edits), &XmlLimits::default());
        }
    }
}
