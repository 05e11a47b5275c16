//! REPORT bodies (RFC 3253 §3.6). davd knows one report, RFC 6578's `sync-collection`; any
//! other is named so that the executive can refuse it with `DAV:supported-report`.

use crate::name::{DAV_NS, PropName};

use super::{
    PropfindBody, XmlError, XmlLimits, child_elements, element_name, is_dav, parse_document,
};

/// What a REPORT asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportBody {
    SyncCollection(SyncCollection),
    /// A report davd does not implement, by its root element.
    Other(PropName),
}

/// How far below the collection a sync looks (RFC 6578 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncLevel {
    /// The collection's internal members only.
    One,
    /// Every member at any depth.
    Infinite,
}

/// RFC 6578 §6.1: `<!ELEMENT sync-collection (sync-token, sync-level, limit?, prop)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncCollection {
    /// The token of the previous sync; `None` (an empty element) for the first.
    pub token: Option<String>,
    pub level: SyncLevel,
    /// `limit/nresults`: the most responses the client wants in one answer.
    pub limit: Option<u32>,
    /// The properties each changed member is reported with (`prop` is required, but
    /// `allprop` is accepted from clients written to earlier drafts).
    pub props: PropfindBody,
}

/// Parses a REPORT body. An empty body is an error: a report is named by its body.
pub fn parse_report(text: &str, limits: &XmlLimits) -> Result<ReportBody, XmlError> {
    if text.trim().is_empty() {
        return Err(XmlError::Unexpected(
            "a REPORT needs a body naming the report".into(),
        ));
    }
    let doc = parse_document(text, limits)?;
    let root = doc.root_element();
    if !is_dav(root, "sync-collection") {
        return Ok(ReportBody::Other(element_name(root)));
    }
    let mut token = None;
    let mut level = None;
    let mut limit = None;
    let mut props = None;
    for child in child_elements(root) {
        if is_dav(child, "sync-token") {
            let text = child.text().unwrap_or("").trim();
            token = (!text.is_empty()).then(|| text.to_owned());
        } else if is_dav(child, "sync-level") {
            level = Some(match child.text().unwrap_or("").trim() {
                "1" => SyncLevel::One,
                "infinite" | "infinity" => SyncLevel::Infinite,
                other => {
                    return Err(XmlError::Unexpected(format!(
                        "sync-level must be 1 or infinite, not {other:?}"
                    )));
                }
            });
        } else if is_dav(child, "limit") {
            limit = Some(parse_limit(child)?);
        } else if is_dav(child, "prop") {
            props = Some(PropfindBody::Prop(
                child_elements(child).map(element_name).collect(),
            ));
        } else if is_dav(child, "allprop") {
            props = Some(PropfindBody::AllProp { include: vec![] });
        }
        // RFC 4918 §17: anything else is ignored.
    }
    let level = level.ok_or_else(|| {
        XmlError::Unexpected("sync-collection needs a sync-level (1 or infinite)".into())
    })?;
    Ok(ReportBody::SyncCollection(SyncCollection {
        token,
        level,
        limit,
        // Without `prop` a client still learns what changed; the entity tag is what it
        // compares.
        props: props
            .unwrap_or_else(|| PropfindBody::Prop(vec![PropName::copied(DAV_NS, "getetag")])),
    }))
}

fn parse_limit(limit: roxmltree::Node<'_, '_>) -> Result<u32, XmlError> {
    let nresults = child_elements(limit)
        .find(|n| is_dav(*n, "nresults"))
        .ok_or_else(|| XmlError::Unexpected("limit must hold nresults".into()))?;
    let text = nresults.text().unwrap_or("").trim();
    match text.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(XmlError::Unexpected(format!(
            "nresults must be a whole number above 0, not {text:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ReportBody, XmlError> {
        parse_report(text, &XmlLimits::default())
    }

    fn sync(text: &str) -> SyncCollection {
        match parse(text).unwrap() {
            ReportBody::SyncCollection(s) => s,
            other => panic!("not a sync-collection: {other:?}"),
        }
    }

    #[test]
    fn the_rfc_example_with_a_token_and_a_limit() {
        let s = sync(
            r#"<?xml version="1.0" encoding="utf-8" ?>
            <D:sync-collection xmlns:D="DAV:">
              <D:sync-token>http://example.com/ns/sync/1234</D:sync-token>
              <D:sync-level>infinite</D:sync-level>
              <D:limit><D:nresults>100</D:nresults></D:limit>
              <D:prop><D:getetag/></D:prop>
            </D:sync-collection>"#,
        );
        assert_eq!(s.token.as_deref(), Some("http://example.com/ns/sync/1234"));
        assert_eq!(s.level, SyncLevel::Infinite);
        assert_eq!(s.limit, Some(100));
        assert_eq!(
            s.props,
            PropfindBody::Prop(vec![PropName::copied(DAV_NS, "getetag")])
        );
    }

    #[test]
    fn an_empty_token_is_the_first_sync() {
        let s = sync(
            r#"<sync-collection xmlns="DAV:"><sync-token/><sync-level>1</sync-level>
               <prop><getetag/><displayname/></prop></sync-collection>"#,
        );
        assert_eq!(s.token, None);
        assert_eq!(s.level, SyncLevel::One);
        assert_eq!(s.limit, None);
    }

    #[test]
    fn bad_levels_and_limits_are_refused_with_a_reason() {
        for (body, says) in [
            (
                r#"<sync-collection xmlns="DAV:"><sync-token/><prop/></sync-collection>"#,
                "needs a sync-level",
            ),
            (
                r#"<sync-collection xmlns="DAV:"><sync-level>2</sync-level></sync-collection>"#,
                "sync-level must be 1 or infinite",
            ),
            (
                r#"<sync-collection xmlns="DAV:"><sync-level>1</sync-level>
                   <limit><nresults>0</nresults></limit></sync-collection>"#,
                "nresults must be a whole number above 0",
            ),
            (
                r#"<sync-collection xmlns="DAV:"><sync-level>1</sync-level>
                   <limit/></sync-collection>"#,
                "limit must hold nresults",
            ),
            ("", "needs a body"),
        ] {
            let error = parse(body).unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
        }
    }

    #[test]
    fn another_report_is_named() {
        assert_eq!(
            parse(r#"<expand-property xmlns="DAV:"/>"#).unwrap(),
            ReportBody::Other(PropName::copied(DAV_NS, "expand-property"))
        );
    }
}
