//! The `If` header of RFC 4918 §10.4, parsed into lists of conditions.
//!
//! ```text
//! If           = 1*No-tag-list | 1*Tagged-list
//! Tagged-list  = Resource-Tag 1*List
//! List         = "(" 1*Condition ")"
//! Condition    = ["Not"] (State-token | "[" entity-tag "]")
//! ```
//! Parsing is purely syntactic; what the conditions mean (which lock tokens exist, what the
//! current entity tag is) is decided by the executive when it evaluates the header.

use super::lock_token::looks_like_uri;
use super::{EntityTag, HeaderError, ResourceTag};

/// One condition inside a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfCondition {
    /// `<token>`: the resource is locked with this state token. The text between the angle
    /// brackets is kept as sent, even if it is not a valid URI: such a token matches nothing.
    StateToken { not: bool, token: String },
    /// `[etag]`: the resource currently has this entity tag.
    ETag { not: bool, tag: EntityTag },
}

/// A parenthesised list of conditions, all of which must hold, optionally tagged with the
/// resource it applies to (the raw URI or path from `<...>`; `None` means the request URI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfList {
    pub resource: Option<String>,
    pub conditions: Vec<IfCondition>,
}

/// The whole header: the lists are OR-ed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IfHeader {
    pub lists: Vec<IfList>,
}

impl IfHeader {
    /// Every state token the client mentions without `Not`, in order. RFC 4918 counts a lock
    /// token as submitted when it appears in the If header.
    pub fn submitted_tokens(&self) -> impl Iterator<Item = &str> {
        self.lists.iter().flat_map(|list| {
            list.conditions.iter().filter_map(|c| match c {
                IfCondition::StateToken { not: false, token } => Some(token.as_str()),
                _ => None,
            })
        })
    }

    /// True if some state token is not a URI (`(<not-a-uri>)`): it can name no lock, so the
    /// executive answers 423 rather than 412 on a locked resource.
    pub fn mentions_malformed_tokens(&self) -> bool {
        self.lists.iter().any(|list| {
            list.conditions.iter().any(
                |c| matches!(c, IfCondition::StateToken { token, .. } if !looks_like_uri(token)),
            )
        })
    }

    /// True if any list is tagged with a resource.
    pub fn is_tagged(&self) -> bool {
        self.lists.iter().any(|l| l.resource.is_some())
    }

    /// True if some condition is a ResourceTag (`<rt:GUID@version>`, MS-WDVME 2.2.4).
    pub fn mentions_resource_tags(&self) -> bool {
        self.lists.iter().any(|list| {
            list.conditions.iter().any(|c| {
                matches!(c, IfCondition::StateToken { token, .. } if ResourceTag::is_candidate(token))
            })
        })
    }

    /// The Microsoft form `(<rt:…>)` or `(Not <rt:…>)`: exactly one untagged list with exactly
    /// one condition, a ResourceTag (MS-WDVME 3.1.5.5). Returns `(not, tag)`.
    pub fn microsoft_form(&self) -> Option<(bool, ResourceTag)> {
        let [list] = self.lists.as_slice() else {
            return None;
        };
        let (None, [IfCondition::StateToken { not, token }]) =
            (&list.resource, list.conditions.as_slice())
        else {
            return None;
        };
        ResourceTag::parse(token).ok().map(|tag| (*not, tag))
    }
}

/// Parses the If header. Any syntax error is a 400.
///
/// The header is bounded like every other header, by the size of the request head
/// (`max_header_bytes`), not by a count of conditions: a client that holds a thousand locks
/// inside a collection must be able to submit them all to delete it. Parsing is one pass over
/// the text, and what it returns is no larger than the text.
pub fn parse_if(value: &str) -> Result<IfHeader, HeaderError> {
    let err = |reason: &str| HeaderError::new("If", reason.to_owned());
    let mut rest = value.trim_start();
    let mut lists = Vec::new();
    let mut current_tag: Option<String> = None;
    let mut tagged: Option<bool> = None;

    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<') {
            // A Resource-Tag starts a tagged section.
            let end = after
                .find('>')
                .ok_or_else(|| err("resource tag without '>'"))?;
            let tag = after[..end].trim();
            if tag.is_empty() {
                return Err(err("empty resource tag"));
            }
            if tagged == Some(false) {
                return Err(err("tagged and untagged lists cannot be mixed"));
            }
            tagged = Some(true);
            current_tag = Some(tag.to_owned());
            rest = after[end + 1..].trim_start();
            if !rest.starts_with('(') {
                return Err(err("a resource tag must be followed by a list"));
            }
            continue;
        }
        let Some(after) = rest.strip_prefix('(') else {
            return Err(err("expected '(' or '<'"));
        };
        if tagged.is_none() {
            tagged = Some(false);
        }
        let (conditions, after) = parse_list(after)?;
        lists.push(IfList {
            resource: current_tag.clone(),
            conditions,
        });
        rest = after.trim_start();
    }
    if lists.is_empty() {
        return Err(err("no condition lists"));
    }
    Ok(IfHeader { lists })
}

fn parse_list(mut rest: &str) -> Result<(Vec<IfCondition>, &str), HeaderError> {
    let err = |reason: &str| HeaderError::new("If", reason.to_owned());
    let mut conditions = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(')') {
            if conditions.is_empty() {
                return Err(err("empty list"));
            }
            return Ok((conditions, after));
        }
        let mut not = false;
        // `get` rather than `[..3]`: the first three bytes may end inside a multi-byte character.
        if let Some(after) = rest
            .get(..3)
            .filter(|word| word.eq_ignore_ascii_case("not"))
            .map(|_| &rest[3..])
            && after.starts_with(|c: char| c.is_whitespace() || c == '<' || c == '[')
        {
            not = true;
            rest = after.trim_start();
        }
        if let Some(after) = rest.strip_prefix('<') {
            let end = after
                .find('>')
                .ok_or_else(|| err("state token without '>'"))?;
            let token = after[..end].trim();
            if token.is_empty() {
                return Err(err("empty state token"));
            }
            // An `rt:` token claims to be a ResourceTag; a malformed one is a 400 (MS-WDVME
            // 3.1.5.5 gives it a meaning, unlike an unknown lock token, which merely matches
            // nothing).
            if ResourceTag::is_candidate(token) {
                ResourceTag::parse(token)?;
            }
            conditions.push(IfCondition::StateToken {
                not,
                token: token.to_owned(),
            });
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let (tag, after) =
                EntityTag::parse_prefix(after).ok_or_else(|| err("malformed entity tag"))?;
            let after = after
                .trim_start()
                .strip_prefix(']')
                .ok_or_else(|| err("entity tag without ']'"))?;
            conditions.push(IfCondition::ETag { not, tag });
            rest = after;
        } else if rest.is_empty() {
            return Err(err("unterminated list"));
        } else {
            return Err(err("expected a state token or an entity tag"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(not: bool, t: &str) -> IfCondition {
        IfCondition::StateToken {
            not,
            token: t.into(),
        }
    }

    #[test]
    fn untagged_lists() {
        let h = parse_if("(<urn:uuid:1> [\"e1\"]) (Not <DAV:no-lock>)").unwrap();
        assert_eq!(h.lists.len(), 2);
        assert_eq!(h.lists[0].resource, None);
        assert_eq!(
            h.lists[0].conditions,
            vec![
                token(false, "urn:uuid:1"),
                IfCondition::ETag {
                    not: false,
                    tag: EntityTag::strong("e1")
                }
            ]
        );
        assert_eq!(h.lists[1].conditions, vec![token(true, "DAV:no-lock")]);
        assert_eq!(h.submitted_tokens().collect::<Vec<_>>(), vec!["urn:uuid:1"]);
    }

    #[test]
    fn tagged_lists() {
        let h = parse_if("<http://h/a> (<urn:uuid:1>) ([W/\"x\"]) </b> (Not[\"y\"])").unwrap();
        assert_eq!(h.lists.len(), 3);
        assert_eq!(h.lists[0].resource.as_deref(), Some("http://h/a"));
        assert_eq!(h.lists[1].resource.as_deref(), Some("http://h/a"));
        assert_eq!(h.lists[2].resource.as_deref(), Some("/b"));
        assert!(h.is_tagged());
    }

    #[test]
    fn corrupt_tokens_parse_but_keep_their_text() {
        let h = parse_if("(<urn:uuid:1x>) (Not <DAV:no-lock>)").unwrap();
        assert_eq!(h.lists[0].conditions, vec![token(false, "urn:uuid:1x")]);
        assert!(!h.mentions_malformed_tokens(), "still a URI");
        let h = parse_if("(<not-a-uri>)").unwrap();
        assert_eq!(h.lists[0].conditions, vec![token(false, "not-a-uri")]);
        assert!(h.mentions_malformed_tokens());
        assert!(
            parse_if("(Not <nocolon>) ([\"e\"])")
                .unwrap()
                .mentions_malformed_tokens()
        );
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "",
            "()",
            "(<a>",
            "(<a)",
            "<http://h/a>",
            "(<a>) <http://h/b> (<c>)",
            "([\"x\")",
            "(foo)",
            "(Not)",
            "x",
        ] {
            assert!(parse_if(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn resource_tags() {
        let tag = "rt:93DAE904-C4AE-4B5F-A7F6-BDF4FAACEF5F@00000000002";
        let h = parse_if(&format!("(<{tag}>)")).unwrap();
        let (not, parsed) = h.microsoft_form().unwrap();
        assert!(!not);
        assert_eq!(parsed.to_string(), tag);
        assert!(h.mentions_resource_tags());
        let h = parse_if(&format!("(Not <{tag}>)")).unwrap();
        assert!(h.microsoft_form().unwrap().0);
        // Not the Microsoft form: two conditions, two lists, a tagged list.
        assert!(
            parse_if(&format!("(<{tag}> <urn:uuid:1>)"))
                .unwrap()
                .microsoft_form()
                .is_none()
        );
        assert!(
            parse_if(&format!("(<{tag}>) (<urn:uuid:1>)"))
                .unwrap()
                .microsoft_form()
                .is_none()
        );
        assert!(
            parse_if(&format!("</a> (<{tag}>)"))
                .unwrap()
                .microsoft_form()
                .is_none()
        );
        assert!(
            parse_if("(<urn:uuid:1>)")
                .unwrap()
                .microsoft_form()
                .is_none()
        );
        assert!(!parse_if("(<urn:uuid:1>)").unwrap().mentions_resource_tags());
        assert!(parse_if("(<rt:not-a-guid@00000000001>)").is_err());
    }

    /// Issue 16: no count limit. A thousand tagged lists, one lock token each (what the owner
    /// of a thousand locks in a collection sends to delete it), parse in full.
    #[test]
    fn a_thousand_lists_parse() {
        let header: String = (0..1000)
            .map(|i| format!("</c/m-{i:04}> (<urn:uuid:00000000-0000-0000-0000-{i:012}>) "))
            .collect();
        let parsed = parse_if(&header).unwrap();
        assert_eq!(parsed.lists.len(), 1000);
        assert_eq!(parsed.submitted_tokens().count(), 1000);
        assert_eq!(
            parsed.lists[999].resource.as_deref(),
            Some("/c/m-0999"),
            "each list keeps its own tag"
        );
        let untagged = format!("({})", "<a:b> ".repeat(5000));
        assert_eq!(parse_if(&untagged).unwrap().lists[0].conditions.len(), 5000);
    }

    /// Found while writing the fuzz targets: the `Not` check sliced the first three bytes of a condition, which
    /// panicked when they ended inside a multi-byte character.
    #[test]
    fn non_ascii_condition_is_an_error_not_a_panic() {
        assert!(parse_if("(\u{e9}\u{e9})").is_err());
        assert!(parse_if("(a\u{e9}>)").is_err());
        assert!(parse_if("(N\u{f6}t <a:b>)").is_err());
    }
}

/// Property tests: no input makes the parser panic, and every header it can return survives
/// render -> parse unchanged.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::testing::render_if;

    /// Text between angle brackets as the parser keeps it: no '>', no blank at either end.
    fn bracketed() -> impl Strategy<Value = String> {
        "[!-=?-~\u{e9}]([ !-=?-~\u{e9}]{0,20}[!-=?-~\u{e9}])?"
    }

    fn condition() -> impl Strategy<Value = IfCondition> {
        prop_oneof![
            // An `rt:` token is a ResourceTag claim the parser checks, so only well-formed
            // ones round-trip (a malformed one is a 400, tested on its own above).
            (any::<bool>(), bracketed())
                .prop_filter("an rt: token must be a ResourceTag", |(_, token)| {
                    !ResourceTag::is_candidate(token) || ResourceTag::parse(token).is_ok()
                })
                .prop_map(|(not, token)| IfCondition::StateToken { not, token }),
            (any::<bool>(), any::<bool>(), "[!#-~\u{e9}]{0,12}").prop_map(|(not, weak, tag)| {
                IfCondition::ETag {
                    not,
                    tag: EntityTag { weak, tag },
                }
            }),
        ]
    }

    fn header() -> impl Strategy<Value = IfHeader> {
        // Tagged and untagged lists cannot be mixed: either every list has a resource or none.
        let list = |tagged: bool| {
            let resource = if tagged {
                bracketed().prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            };
            (resource, proptest::collection::vec(condition(), 1..5)).prop_map(
                |(resource, conditions)| IfList {
                    resource,
                    conditions,
                },
            )
        };
        any::<bool>()
            .prop_flat_map(move |tagged| proptest::collection::vec(list(tagged), 1..5))
            .prop_map(|lists| IfHeader { lists })
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(value in "\\PC{0,60}") {
            let _ = parse_if(&value);
        }

        #[test]
        fn never_panics_on_if_like_text(value in "[()<>\\[\\]\" NotW/a:\u{e9}\u{1f600}]{0,60}") {
            let _ = parse_if(&value);
        }

        #[test]
        fn render_parse_round_trip(header in header()) {
            let rendered = render_if(&header);
            prop_assert_eq!(parse_if(&rendered), Ok(header), "{}", rendered);
        }

        #[test]
        fn what_parses_renders_to_the_same(value in "[()<>\\[\\]\" NotW/a:]{0,60}") {
            if let Ok(header) = parse_if(&value) {
                prop_assert_eq!(parse_if(&render_if(&header)), Ok(header));
            }
        }
    }
}
