//! Evaluation of the RFC 4918 `If` header (§10.4).
//!
//! Each list is evaluated against its resource: the tagged one, or the request URI for an
//! untagged list. A state-token condition holds when that token belongs to a lock that covers
//! the resource; an entity-tag condition when the resource's current entity tag is the one
//! given. A list holds when all its conditions hold; the header holds when any list does.
//! When it does not, the request fails with 412 Precondition Failed.

use std::collections::HashMap;

use davd_protocol::headers::{IfCondition, IfHeader};
use davd_protocol::{DavPath, headers::EntityTag};

use crate::context::Ctx;
use crate::error::{DavError, DavResult};

/// What is known about one resource named by the header.
struct ResourceState {
    etag: Option<EntityTag>,
    tokens: Vec<String>,
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

async fn state_of(ctx: &Ctx, path: &DavPath) -> DavResult<ResourceState> {
    let etag = ctx.stat(path).await?.map(|m| EntityTag::strong(m.etag));
    let tokens = ctx
        .resolve(path)
        .locks_covering(path)
        .await?
        .into_iter()
        .map(|l| l.token)
        .collect();
    Ok(ResourceState { etag, tokens })
}

fn condition_holds(condition: &IfCondition, state: &ResourceState) -> bool {
    match condition {
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

/// Evaluates `header` for a request on `request_path`; 412 when no list holds.
pub async fn evaluate(ctx: &Ctx, header: &IfHeader, request_path: &DavPath) -> DavResult<()> {
    let mut states: HashMap<DavPath, ResourceState> = HashMap::new();
    for list in &header.lists {
        let path = match &list.resource {
            None => Some(request_path.clone()),
            Some(tag) => tag_path(tag),
        };
        let Some(path) = path else { continue };
        if !states.contains_key(&path) {
            let state = state_of(ctx, &path).await?;
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
    }
}
