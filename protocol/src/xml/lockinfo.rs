use super::{
    XmlError, XmlLimits, child_elements, element_name, is_dav, parse_document, serialize_element,
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
            owner = Some(serialize_element(child));
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
