//! Evaluation of the RFC 4918 `If` header (§10.4).
//!
//! Each list is evaluated against its resource: the tagged one, or the request URI for an
//! untagged list. A state-token condition holds when that token belongs to a lock that covers
//! the resource; an entity-tag condition when the resource's current entity tag is the one
//! given. A list holds when all its conditions hold; the header holds when any list does.
//! When it does not, the request fails with 412 Precondition Failed. A resource the requester
//! may not read is taken not to exist, so a tagged list learns nothing about it.
//!
//! ResourceTags (MS-WDVME 3.1.5.5): a state token `<rt:GUID@version>` is a state token of the
//! resource it names, holding when it equals the resource's current tag; it is never a lock
//! token (`require_tokens` keeps looking at locks only). The exact Microsoft form, one untagged
//! list with one ResourceTag, gets Microsoft's semantics on GET, HEAD, POST and PUT instead of
//! RFC 4918's (see [`microsoft_form`]); every other header is evaluated as above.

use std::collections::HashMap;

use davd_protocol::headers::{IfCondition, IfHeader, ResourceTag};
use davd_protocol::{DavPath, Method, headers::EntityTag};

use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::policy::access;

/// What is known about one resource named by the header.
struct ResourceState {
    etag: Option<EntityTag>,
    tokens: Vec<String>,
    /// The current ResourceTag (only looked up when the header mentions one).
    tag: Option<ResourceTag>,
}

/// Resolves a resource tag (an absolute URI or a path) to a path on this server. A tag that
/// cannot name one of our resources yields `None`, and its lists are false.
fn tag_path(tag: &str) -> Option<DavPath> {
    let path = match tag.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/').unwrap_or(rest.len())..],
        None => tag,
    };
    let path = if path.is_empty() { "/" } else { path };
    DavPath::parse_url_path(path).ok().map(|(p, _)| p)
}

async fn state_of(ctx: &Ctx, path: &DavPath, with_tag: bool) -> DavResult<ResourceState> {
    // A resource the requester may not read is evaluated as if it did not exist: the outcome
    // must say nothing about it.
    if !access::may_read(ctx, path) {
        return Ok(ResourceState {
            etag: None,
            tokens: Vec::new(),
            tag: None,
        });
    }
    let meta = ctx.stat(path).await?;
    let tag = match (&meta, with_tag) {
        (Some(meta), true) => Some(
            crate::ms::docid::identity(ctx, path, meta)
                .await?
                .resource_tag(),
        ),
        _ => None,
    };
    let tokens = ctx
        .resolve(path)
        .locks_covering(path)
        .await?
        .into_iter()
        .map(|l| l.token)
        .collect();
    Ok(ResourceState {
        etag: meta.map(|m| EntityTag::strong(m.etag)),
        tokens,
        tag,
    })
}

fn condition_holds(condition: &IfCondition, state: &ResourceState) -> bool {
    match condition {
        IfCondition::StateToken { not, token } if ResourceTag::is_candidate(token) => {
            // The protocol layer refused malformed ResourceTags, so this parses.
            let holds = ResourceTag::parse(token).is_ok_and(|t| Some(t) == state.tag);
            holds != *not
        }
        IfCondition::StateToken { not, token } => state.tokens.iter().any(|t| t == token) != *not,
        IfCondition::ETag { not, tag } => {
            let matches = state
                .etag
                .as_ref()
                .is_some_and(|current| current.weak_eq(tag) && !tag.weak);
            matches != *not
        }
    }
}

/// MS-WDVME 3.1.5.5 for `If: (<rt:…>)` and `If: (Not <rt:…>)`:
///
/// | method          | Not | tag vs current            | result     |
/// |-----------------|-----|---------------------------|------------|
/// | GET, HEAD, POST | no  | any                       | ignored    |
/// | GET, HEAD, POST | yes | equal                     | proceed    |
/// | GET, HEAD, POST | yes | different, or no resource | 412        |
/// | PUT             | no  | equal                     | proceed (like If-Match) |
/// | PUT             | no  | different, or no resource | 412        |
/// | PUT             | yes | any                       | 412 ("will fail this PUT request") |
///
/// `None` for other methods: they get RFC 4918 evaluation.
fn microsoft_form(method: &Method, not: bool, matches: bool) -> Option<DavResult<()>> {
    let stale = || {
        Err(DavError::precondition_failed(
            "the ResourceTag in the If header is not the resource's current one",
        ))
    };
    Some(match method {
        Method::Get { .. } | Method::Post if not && !matches => stale(),
        Method::Get { .. } | Method::Post => Ok(()),
        Method::Put { .. } if not => Err(DavError::precondition_failed(
            "a PUT with If: (Not <ResourceTag>) fails (MS-WDVME 3.1.5.5)",
        )),
        Method::Put { .. } if matches => Ok(()),
        Method::Put { .. } => stale(),
        _ => return None,
    })
}

/// Evaluates `header` for a request on `request_path`; 412 when no list holds.
pub async fn evaluate(ctx: &Ctx, header: &IfHeader, request_path: &DavPath) -> DavResult<()> {
    let with_tags = header.mentions_resource_tags();
    if let Some((not, tag)) = header.microsoft_form() {
        let state = state_of(ctx, request_path, true).await?;
        if let Some(verdict) = microsoft_form(&ctx.request.method, not, state.tag == Some(tag)) {
            return verdict;
        }
    }
    let mut states: HashMap<DavPath, ResourceState> = HashMap::new();
    for list in &header.lists {
        let path = match &list.resource {
            None => Some(request_path.clone()),
            Some(tag) => tag_path(tag),
        };
        let Some(path) = path else { continue };
        if !states.contains_key(&path) {
            let state = state_of(ctx, &path, with_tags).await?;
            states.insert(path.clone(), state);
        }
        let Some(state) = states.get(&path) else {
            continue;
        };
        if list.conditions.iter().all(|c| condition_holds(c, state)) {
            return Ok(());
        }
    }
    Err(DavError::precondition_failed(
        "no list of conditions in the If header holds",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_paths() {
        assert_eq!(tag_path("http://h:8/a%20b").unwrap().as_str(), "/a b");
        assert_eq!(tag_path("http://h").unwrap().as_str(), "/");
        assert_eq!(tag_path("/x/").unwrap().as_str(), "/x");
        assert!(tag_path("http://h/../x").is_none());
    }

    #[test]
    fn conditions() {
        let state = ResourceState {
            etag: Some(EntityTag::strong("e")),
            tokens: vec!["urn:uuid:1".into()],
            tag: ResourceTag::parse("rt:93DAE904-C4AE-4B5F-A7F6-BDF4FAACEF5F@00000000002").ok(),
        };
        let token = |not, t: &str| IfCondition::StateToken {
            not,
            token: t.into(),
        };
        assert!(condition_holds(&token(false, "urn:uuid:1"), &state));
        assert!(!condition_holds(&token(false, "urn:uuid:1x"), &state));
        assert!(condition_holds(&token(true, "DAV:no-lock"), &state));
        assert!(!condition_holds(&token(false, "DAV:no-lock"), &state));
        let etag = |not, t: &str| IfCondition::ETag {
            not,
            tag: EntityTag::strong(t),
        };
        assert!(condition_holds(&etag(false, "e"), &state));
        assert!(!condition_holds(&etag(false, "f"), &state));
        assert!(condition_holds(&etag(true, "f"), &state));
        let current = "rt:93dae904-c4ae-4b5f-a7f6-bdf4faacef5f@00000000002";
        let stale = "rt:93DAE904-C4AE-4B5F-A7F6-BDF4FAACEF5F@00000000001";
        assert!(condition_holds(&token(false, current), &state));
        assert!(!condition_holds(&token(false, stale), &state));
        assert!(condition_holds(&token(true, stale), &state));
        // A ResourceTag is not a lock token, and a lock token is not a ResourceTag.
        assert!(!condition_holds(&token(false, "urn:uuid:1x"), &state));
    }

    #[test]
    fn the_microsoft_table() {
        let get = Method::Get {
            head: false,
            range: None,
        };
        let put = Method::Put {
            content_range: None,
        };
        let ok = |r: Option<DavResult<()>>| r.map(|r| r.is_ok());
        assert_eq!(ok(microsoft_form(&get, false, false)), Some(true));
        assert_eq!(ok(microsoft_form(&get, true, true)), Some(true));
        assert_eq!(ok(microsoft_form(&get, true, false)), Some(false));
        assert_eq!(ok(microsoft_form(&Method::Post, true, false)), Some(false));
        assert_eq!(ok(microsoft_form(&put, false, true)), Some(true));
        assert_eq!(ok(microsoft_form(&put, false, false)), Some(false));
        assert_eq!(ok(microsoft_form(&put, true, true)), Some(false));
        assert_eq!(ok(microsoft_form(&Method::Delete, false, false)), None);
    }
}
