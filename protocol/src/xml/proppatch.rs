use crate::name::PropName;

use super::{
    XmlError, XmlLimits, child_elements, element_name, is_dav, parse_document, serialize_element,
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
                    PatchInstruction::Set {
                        name,
                        value: serialize_element(property),
                    }
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

    #[test]
    fn refuses_other_roots_and_empty_updates() {
        let limits = XmlLimits::default();
        assert!(parse_propertyupdate(r#"<propfind xmlns="DAV:"/>"#, &limits).is_err());
        assert!(parse_propertyupdate(r#"<propertyupdate xmlns="DAV:"/>"#, &limits).is_err());
        assert!(parse_propertyupdate("<propertyupdate", &limits).is_err());
    }
}
