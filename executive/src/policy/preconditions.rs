//! RFC 7232 conditional requests: If-Match, If-None-Match, If-Modified-Since and
//! If-Unmodified-Since, evaluated in the order of RFC 7232 §6.

use std::time::{SystemTime, UNIX_EPOCH};

use davd_protocol::Conditions;
use davd_protocol::headers::{EntityTag, EtagMatch};
use davd_registry::ResourceMeta;

use crate::error::{DavError, DavResult};

/// What the conditions allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    /// 304 Not Modified (only for GET and HEAD).
    NotModified,
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn current_tag(meta: &ResourceMeta) -> EntityTag {
    EntityTag::strong(meta.etag.clone())
}

/// Evaluates the RFC 7232 conditions against the resource (`None` if it does not exist).
/// `safe` is true for GET and HEAD, where a failed If-None-Match means 304 rather than 412.
pub fn evaluate(
    conditions: &Conditions,
    meta: Option<&ResourceMeta>,
    safe: bool,
) -> DavResult<Verdict> {
    let failed = |header: &str| DavError::precondition_failed(format!("{header} does not match"));
    if let Some(if_match) = &conditions.if_match {
        let ok = match (if_match, meta) {
            (_, None) => false,
            (EtagMatch::Any, Some(_)) => true,
            (EtagMatch::Tags(tags), Some(m)) => {
                let current = current_tag(m);
                tags.iter().any(|t| t.strong_eq(&current))
            }
        };
        if !ok {
            return Err(failed("If-Match"));
        }
    } else if let (Some(since), Some(m)) = (conditions.if_unmodified_since, meta)
        && seconds(m.modified) > seconds(since)
    {
        return Err(failed("If-Unmodified-Since"));
    }
    if let Some(if_none_match) = &conditions.if_none_match {
        let matched = match (if_none_match, meta) {
            (_, None) => false,
            (EtagMatch::Any, Some(_)) => true,
            (EtagMatch::Tags(tags), Some(m)) => {
                let current = current_tag(m);
                tags.iter().any(|t| t.weak_eq(&current))
            }
        };
        if matched {
            return if safe {
                Ok(Verdict::NotModified)
            } else {
                Err(failed("If-None-Match"))
            };
        }
    } else if let (true, Some(since), Some(m)) = (safe, conditions.if_modified_since, meta)
        && seconds(m.modified) <= seconds(since)
    {
        return Ok(Verdict::NotModified);
    }
    Ok(Verdict::Proceed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn meta(etag: &str, modified_secs: u64) -> ResourceMeta {
        ResourceMeta {
            collection: false,
            len: 1,
            modified: UNIX_EPOCH + Duration::from_secs(modified_secs),
            created: None,
            etag: etag.into(),
            content_type: None,
        }
    }

    fn tags(t: &[&str]) -> Option<EtagMatch> {
        Some(EtagMatch::Tags(
            t.iter().map(|t| EntityTag::strong(*t)).collect(),
        ))
    }

    #[test]
    fn if_match() {
        let m = meta("a", 100);
        let c = Conditions {
            if_match: tags(&["a"]),
            ..Default::default()
        };
        assert_eq!(evaluate(&c, Some(&m), false).unwrap(), Verdict::Proceed);
        let c = Conditions {
            if_match: tags(&["b"]),
            ..Default::default()
        };
        assert_eq!(
            evaluate(&c, Some(&m), false).unwrap_err().status.as_u16(),
            412
        );
        let c = Conditions {
            if_match: Some(EtagMatch::Any),
            ..Default::default()
        };
        assert_eq!(evaluate(&c, None, false).unwrap_err().status.as_u16(), 412);
    }

    #[test]
    fn if_none_match() {
        let m = meta("a", 100);
        let c = Conditions {
            if_none_match: tags(&["a"]),
            ..Default::default()
        };
        assert_eq!(evaluate(&c, Some(&m), true).unwrap(), Verdict::NotModified);
        assert_eq!(
            evaluate(&c, Some(&m), false).unwrap_err().status.as_u16(),
            412
        );
        let c = Conditions {
            if_none_match: Some(EtagMatch::Any),
            ..Default::default()
        };
        assert_eq!(evaluate(&c, None, false).unwrap(), Verdict::Proceed);
    }

    #[test]
    fn dates() {
        let m = meta("a", 100);
        let at = |s| Some(UNIX_EPOCH + Duration::from_secs(s));
        let c = Conditions {
            if_modified_since: at(100),
            ..Default::default()
        };
        assert_eq!(evaluate(&c, Some(&m), true).unwrap(), Verdict::NotModified);
        let c = Conditions {
            if_modified_since: at(99),
            ..Default::default()
        };
        assert_eq!(evaluate(&c, Some(&m), true).unwrap(), Verdict::Proceed);
        let c = Conditions {
            if_unmodified_since: at(99),
            ..Default::default()
        };
        assert!(evaluate(&c, Some(&m), false).is_err());
    }
}
