//! RFC 7232 validators: entity tags and the If-Match / If-None-Match lists, and HTTP dates.

use std::time::SystemTime;

use super::HeaderError;

/// An entity tag, kept with its quotes as it goes on the wire: `"abc"` or `W/"abc"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityTag {
    pub weak: bool,
    /// The opaque part without quotes.
    pub tag: String,
}

impl EntityTag {
    pub fn strong(tag: impl Into<String>) -> Self {
        EntityTag {
            weak: false,
            tag: tag.into(),
        }
    }

    /// Parses one entity tag at the start of `s`, returning it and the rest of the input.
    pub fn parse_prefix(s: &str) -> Option<(EntityTag, &str)> {
        let s = s.trim_start();
        let (weak, s) = match s.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let s = s.strip_prefix('"')?;
        let end = s.find('"')?;
        let tag = &s[..end];
        if tag.bytes().any(|b| b < 0x21 || b == 0x7f) {
            return None;
        }
        Some((
            EntityTag {
                weak,
                tag: tag.to_owned(),
            },
            &s[end + 1..],
        ))
    }

    /// The wire form, quotes included.
    pub fn to_header(&self) -> String {
        if self.weak {
            format!("W/\"{}\"", self.tag)
        } else {
            format!("\"{}\"", self.tag)
        }
    }

    /// Strong comparison (RFC 7232 §2.3.2): both strong and identical.
    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.tag == other.tag
    }

    /// Weak comparison: identical opaque parts, weakness ignored.
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.tag == other.tag
    }
}

/// The value of If-Match or If-None-Match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagMatch {
    Any,
    Tags(Vec<EntityTag>),
}

/// Parses `*` or a comma-separated list of entity tags.
pub fn parse_etag_list(header: &'static str, value: &str) -> Result<EtagMatch, HeaderError> {
    let value = value.trim();
    if value == "*" {
        return Ok(EtagMatch::Any);
    }
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        let (tag, after) = EntityTag::parse_prefix(rest).ok_or_else(|| {
            HeaderError::new(header, format!("malformed entity tag in '{value}'"))
        })?;
        tags.push(tag);
        let after = after.trim_start();
        if after.is_empty() {
            break;
        }
        rest = after
            .strip_prefix(',')
            .ok_or_else(|| HeaderError::new(header, "entity tags must be separated by ','"))?;
        if rest.trim().is_empty() {
            break;
        }
    }
    Ok(EtagMatch::Tags(tags))
}

/// Parses an HTTP-date (RFC 7231 §7.1.1.1, all three historic formats). RFC 7232 says an
/// invalid date makes the condition be ignored, so callers treat `None` as "no header".
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(value.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_lists() {
        assert_eq!(parse_etag_list("If-Match", "*").unwrap(), EtagMatch::Any);
        assert_eq!(
            parse_etag_list("If-Match", "\"a\", W/\"b\"").unwrap(),
            EtagMatch::Tags(vec![
                EntityTag::strong("a"),
                EntityTag {
                    weak: true,
                    tag: "b".into()
                }
            ])
        );
        assert!(parse_etag_list("If-Match", "a").is_err());
        assert!(parse_etag_list("If-Match", "\"a\" \"b\"").is_err());
        assert!(parse_etag_list("If-Match", "\"a").is_err());
    }

    #[test]
    fn comparisons() {
        let a = EntityTag::strong("x");
        let wa = EntityTag {
            weak: true,
            tag: "x".into(),
        };
        assert!(a.strong_eq(&a));
        assert!(!a.strong_eq(&wa));
        assert!(a.weak_eq(&wa));
        assert_eq!(wa.to_header(), "W/\"x\"");
    }

    #[test]
    fn dates() {
        assert!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").is_some());
        assert!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT").is_some());
        assert!(parse_http_date("yesterday").is_none());
    }
}

#[cfg(test)]
mod proptests {
    use std::time::{Duration, UNIX_EPOCH};

    use proptest::prelude::*;

    use super::*;
    use crate::testing::render_etag_list;

    fn tag() -> impl Strategy<Value = EntityTag> {
        (any::<bool>(), "[!#-~\u{e9}]{0,12}").prop_map(|(weak, tag)| EntityTag { weak, tag })
    }

    proptest! {
        #[test]
        fn never_panics(value in "\\PC{0,40}") {
            let _ = parse_etag_list("If-Match", &value);
            let _ = EntityTag::parse_prefix(&value);
            let _ = parse_http_date(&value);
        }

        #[test]
        fn etag_lists_round_trip(tags in proptest::collection::vec(tag(), 1..6)) {
            let list = EtagMatch::Tags(tags);
            prop_assert_eq!(parse_etag_list("If-None-Match", &render_etag_list(&list)), Ok(list));
        }

        #[test]
        fn what_parses_renders_to_the_same(value in "[\"W/, *a\u{e9}]{0,30}") {
            if let Ok(list) = parse_etag_list("If-Match", &value) {
                prop_assert_eq!(parse_etag_list("If-Match", &render_etag_list(&list)), Ok(list));
            }
        }

        /// Any second from 1970 to 9999 survives formatting and parsing.
        #[test]
        fn http_dates_round_trip(seconds in 0u64..253_402_300_799) {
            let time = UNIX_EPOCH + Duration::from_secs(seconds);
            prop_assert_eq!(parse_http_date(&httpdate::fmt_http_date(time)), Some(time));
        }
    }
}
