//! Computing the properties of one resource for a PROPFIND: live handlers first, then the
//! dead-property store (the 1997 paper's Live Property Delegation). Dead properties larger
//! than [`PAGE_BYTES`] together are not gathered here: they are written page by page
//! (`crate::dead_pages`).

use http::StatusCode;

use davd_protocol::xml::{PropStat, PropValue, PropfindBody};
use davd_protocol::{DavPath, PropName};
use davd_registry::{
    ClientInfo, LivePropertyHandler, LockRecord, PropContext, ResourceMeta, StoredProp,
    SubsystemError, SubsystemResult, Subsystems, is_internal,
};

/// The most bytes of one resource's dead properties a response reads at once when they do not
/// come with a listing's range scan. A resource with more is written page by page.
pub const PAGE_BYTES: usize = 256 * 1024;

/// The properties of one resource for a PROPFIND.
#[derive(Debug)]
pub struct ResourceProps {
    /// One `propstat` per status.
    pub stats: Vec<PropStat>,
    /// Dead properties too large to hold at once, left out of `stats`: they are read and
    /// written page by page (`crate::dead_pages`).
    pub large: Option<LargeDead>,
}

/// The dead properties a [`ResourceProps`] leaves to be written page by page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LargeDead {
    /// allprop or propname: every dead property (names only for propname), and the names an
    /// allprop's `include` asks for (404 unless found).
    All {
        names_only: bool,
        include: Vec<PropName>,
    },
    /// The named dead properties: 200 with their value, or 404.
    Named(Vec<PropName>),
}

/// The properties of one resource, grouped by status.
///
/// `dead` holds the resource's dead properties if the caller fetched them already (one range
/// scan for all members of a collection); otherwise they are read here, and only when needed,
/// up to [`PAGE_BYTES`]: past that they are left to be written page by page
/// ([`ResourceProps::large`]). A live property is computed only if the request needs it. A
/// dead-property store that cannot be read (a cluster's database that is down) fails the
/// whole resource: answering without its dead properties would show a client a resource that
/// has none, and a document id derived from its path instead of its own.
pub async fn propstats(
    path: &DavPath,
    meta: &ResourceMeta,
    subsystems: &Subsystems,
    client: &ClientInfo,
    request: &PropfindBody,
    dead: Option<Vec<StoredProp>>,
    known_locks: Option<&[LockRecord]>,
) -> SubsystemResult<ResourceProps> {
    let reach = AllpropReach::WithExtensions;
    propstats_reaching(
        path,
        meta,
        subsystems,
        client,
        request,
        reach,
        dead,
        known_locks,
    )
    .await
}

/// Which live properties an `allprop` returns besides the dead ones.
///
/// RFC 4918 §9.1 asks allprop for the dead properties and the live ones the RFC defines;
/// handlers also own extensions (`LivePropertyHandler::is_extension`: Microsoft's
/// `D:iscollection`, `Repl:*`, `Office:*`). The one client known to read them without naming
/// them is Office, in the Depth 0 allprop of the document it opens (and in the allprop
/// document of the prefix-encoded GET); Explorer names what it wants in its listings. So a
/// single resource's allprop has them, and a listing's (Depth 1 or infinity) returns them
/// only when named (`prop`, or allprop's `include`): they are a quarter of a listing's bytes
/// and need each member's document record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllpropReach {
    /// The RFC 4918 live properties and the extensions (a single resource).
    WithExtensions,
    /// The RFC 4918 live properties only (the members of a listing).
    Rfc4918,
}

impl AllpropReach {
    /// True if an allprop returns `name` of `handler` without being asked by name.
    pub fn returns(self, handler: &dyn LivePropertyHandler, name: &PropName) -> bool {
        handler.in_allprop(name)
            && (self == AllpropReach::WithExtensions || !handler.is_extension(name))
    }

    /// The reach of an allprop PROPFIND at `depth`.
    pub fn at(depth: davd_protocol::headers::Depth) -> AllpropReach {
        match depth {
            davd_protocol::headers::Depth::Zero => AllpropReach::WithExtensions,
            _ => AllpropReach::Rfc4918,
        }
    }
}

/// [`propstats`], with allprop's live properties as far as `reach`.
#[allow(clippy::too_many_arguments)] // one more than `propstats`, which most callers use
pub async fn propstats_reaching(
    path: &DavPath,
    meta: &ResourceMeta,
    subsystems: &Subsystems,
    client: &ClientInfo,
    request: &PropfindBody,
    reach: AllpropReach,
    dead: Option<Vec<StoredProp>>,
    known_locks: Option<&[LockRecord]>,
) -> SubsystemResult<ResourceProps> {
    // Read the dead properties first when they will be needed anyway, so that handlers reading
    // one of them (the document record, Win32 attributes) find it without another lookup.
    let needs_dead = match request {
        PropfindBody::Prop(names) => names
            .iter()
            .any(|n| !is_internal(n) && subsystems.handler_for(n).is_none()),
        _ => true,
    };
    // `lockdiscovery` will ask the lock managers; on a cluster's database that is a round
    // trip of its own, so it is read alongside the dead properties, not after them.
    let wants_locks = known_locks.is_none()
        && !client.quirks.hide_activelocks
        && match request {
            PropfindBody::Prop(names) => names.iter().any(|n| *n == PropName::dav("lockdiscovery")),
            PropfindBody::AllProp { .. } => true,
            _ => false,
        };
    let mut too_large = false;
    let mut prefetched_locks: Option<Vec<LockRecord>> = None;
    let dead = match dead {
        Some(dead) => Some(dead),
        None if needs_dead => {
            let read_page = subsystems.properties.get_page(path, None, PAGE_BYTES);
            let page = if wants_locks {
                let (page, locks) = tokio::join!(read_page, subsystems.locks_covering(path));
                // A lock table that cannot be read is the handler's to report, as before.
                prefetched_locks = locks.ok();
                page?
            } else {
                read_page.await?
            };
            too_large = page.more;
            // Handlers find nothing prefetched then, and ask for the one they need.
            (!too_large).then_some(page.props)
        }
        None => None,
    };
    let mut large_named: Vec<PropName> = Vec::new();
    let dead_props: &[StoredProp] = dead.as_deref().unwrap_or(&[]);
    let cx = PropContext {
        path,
        meta,
        subsystems,
        client,
        known_locks: known_locks.or(prefetched_locks.as_deref()),
        dead: dead.as_deref(),
        document: Default::default(),
        identify: crate::ms::docid::identity_of,
    };
    let mut found: Vec<(PropName, Option<PropValue>)> = Vec::with_capacity(16 + dead_props.len());
    let mut missing: Vec<(PropName, Option<PropValue>)> = Vec::new();
    let mut failed: Vec<(SubsystemError, PropName)> = Vec::new();
    let mut large: Option<LargeDead> = None;

    match request {
        PropfindBody::Prop(names) => {
            for name in names {
                // davd's own bookkeeping is not a property clients can see.
                if is_internal(name) {
                    missing.push((name.clone(), None));
                } else if let Some(handler) = subsystems.handler_for(name) {
                    match value_of(handler.as_ref(), &cx, name).await {
                        Ok(Some(value)) => found.push((name.clone(), Some(value))),
                        Ok(None) => missing.push((name.clone(), None)),
                        Err(e) => failed.push((e, name.clone())),
                    }
                } else if too_large {
                    large_named.push(name.clone());
                } else {
                    match dead_props.iter().find(|p| p.name == *name) {
                        Some(p) => {
                            found.push((name.clone(), Some(PropValue::Fragment(p.xml.clone()))))
                        }
                        None => missing.push((name.clone(), None)),
                    }
                }
            }
        }
        other => {
            let (names_only, include): (bool, &[PropName]) = match other {
                PropfindBody::AllProp { include } => (false, include),
                _ => (true, &[]),
            };
            // A name claimed by two handlers belongs to the first (the nearer scope).
            let overlap = subsystems.live.names_overlap();
            let mut seen: Vec<&PropName> = Vec::new();
            for handler in &subsystems.live {
                for name in handler.names() {
                    if overlap {
                        if seen.contains(&name) {
                            continue;
                        }
                        seen.push(name);
                    }
                    if !(names_only
                        || reach.returns(handler.as_ref(), name)
                        || include.contains(name))
                    {
                        continue;
                    }
                    match value_of(handler.as_ref(), &cx, name).await {
                        Ok(Some(value)) => {
                            found.push((name.clone(), (!names_only).then_some(value)))
                        }
                        Ok(None) if include.contains(name) => missing.push((name.clone(), None)),
                        Ok(None) => {}
                        Err(e) => failed.push((e, name.clone())),
                    }
                }
            }
            for prop in dead_props {
                if is_internal(&prop.name) || subsystems.handler_for(&prop.name).is_some() {
                    continue;
                }
                let value = (!names_only).then(|| PropValue::Fragment(prop.xml.clone()));
                found.push((prop.name.clone(), value));
            }
            for name in include {
                // Dead ones of a large resource are looked for as its pages are written.
                let left_to_pages = too_large && subsystems.handler_for(name).is_none();
                if !left_to_pages
                    && !found.iter().any(|(n, _)| n == name)
                    && !missing.iter().any(|(n, _)| n == name)
                {
                    missing.push((name.clone(), None));
                }
            }
            if too_large {
                large = Some(LargeDead::All {
                    names_only,
                    include: include
                        .iter()
                        .filter(|n| !is_internal(n) && subsystems.handler_for(n).is_none())
                        .cloned()
                        .collect(),
                });
            }
        }
    }
    if too_large && matches!(request, PropfindBody::Prop(_)) {
        large = Some(LargeDead::Named(large_named));
    }

    let mut stats = Vec::new();
    if !found.is_empty() {
        stats.push(PropStat {
            status: StatusCode::OK,
            props: found,
            error: None,
            description: None,
        });
    }
    if !missing.is_empty() {
        stats.push(PropStat {
            status: StatusCode::NOT_FOUND,
            props: missing,
            error: None,
            description: None,
        });
    }
    // RFC 4918 §9.1: one propstat per status, so failures sharing a status share one (and a
    // handler failing with 404 joins the properties that do not exist). The handlers' messages
    // go into its responsedescription, each once.
    for (error, name) in failed {
        let stat = match stats.iter_mut().position(|s| s.status == error.status) {
            Some(index) => &mut stats[index],
            None => {
                stats.push(PropStat {
                    status: error.status,
                    props: Vec::new(),
                    error: None,
                    description: None,
                });
                let last = stats.len() - 1;
                &mut stats[last]
            }
        };
        stat.props.push((name, None));
        let message = error.message.as_ref();
        match &mut stat.description {
            None => stat.description = Some(message.to_owned()),
            Some(text) if !text.split("; ").any(|m| m == message) => {
                text.push_str("; ");
                text.push_str(message);
            }
            Some(_) => {}
        }
    }
    Ok(ResourceProps { stats, large })
}

/// A handler's value for `name`, without a boxed future when the handler can answer at once.
async fn value_of(
    handler: &dyn LivePropertyHandler,
    cx: &PropContext<'_>,
    name: &PropName,
) -> SubsystemResult<Option<PropValue>> {
    match handler.get_now(cx, name) {
        Some(value) => value,
        None => handler.get(cx, name).await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use async_trait::async_trait;
    use davd_registry::{LivePropertyHandler, PropContext, SubsystemError, SubsystemResult};
    use davd_subsystems::memory::{MemoryLocks, MemoryNamespace, MemoryProperties};

    use super::*;

    /// Owns `urn:t` `a`, `b` and `c`: `a` and `b` fail with 403, `c` with 500.
    struct Failing(Vec<PropName>);

    #[async_trait]
    impl LivePropertyHandler for Failing {
        fn names(&self) -> &[PropName] {
            &self.0
        }
        async fn get(
            &self,
            _cx: &PropContext<'_>,
            name: &PropName,
        ) -> SubsystemResult<Option<PropValue>> {
            Err(match name.local.as_ref() {
                "c" => SubsystemError::internal("broken"),
                _ => SubsystemError::forbidden("not for you"),
            })
        }
    }

    fn name(local: &'static str) -> PropName {
        PropName::new("urn:t", local)
    }

    async fn stats_for(request: PropfindBody) -> Vec<(u16, Vec<String>)> {
        descriptions_for(request)
            .await
            .into_iter()
            .map(|(status, names, _)| (status, names))
            .collect()
    }

    async fn descriptions_for(request: PropfindBody) -> Vec<(u16, Vec<String>, Option<String>)> {
        let live: Vec<Arc<dyn LivePropertyHandler>> =
            vec![Arc::new(Failing(vec![name("a"), name("b"), name("c")]))];
        let subsystems = Subsystems {
            namespace: Arc::new(MemoryNamespace::new()),
            scope: DavPath::root(),
            properties: Arc::new(MemoryProperties::new()),
            locks: vec![Arc::new(MemoryLocks::new())],
            live: live.into(),
            history: None,
        };
        let meta = ResourceMeta {
            collection: false,
            len: 0,
            modified: SystemTime::UNIX_EPOCH,
            created: None,
            etag: "e".into(),
            content_type: None,
        };
        let path = DavPath::root().join("doc").expect("a valid segment");
        let client = ClientInfo::default();
        propstats(&path, &meta, &subsystems, &client, &request, None, None)
            .await
            .expect("the test's stores answer")
            .stats
            .into_iter()
            .map(|s| {
                let names = s.props.into_iter().map(|(n, _)| n.local.into()).collect();
                (s.status.as_u16(), names, s.description)
            })
            .collect()
    }

    /// RFC 4918 §9.1: one `propstat` per status, however many properties share it.
    #[tokio::test]
    async fn failures_sharing_a_status_share_one_propstat() {
        let named = PropfindBody::Prop(vec![name("a"), name("x"), name("b"), name("c")]);
        assert_eq!(
            stats_for(named).await,
            [
                (404, vec!["x".to_owned()]),
                (403, vec!["a".to_owned(), "b".to_owned()]),
                (500, vec!["c".to_owned()]),
            ]
        );
        let allprop = PropfindBody::AllProp { include: vec![] };
        assert_eq!(
            stats_for(allprop).await,
            [
                (403, vec!["a".to_owned(), "b".to_owned()]),
                (500, vec!["c".to_owned()]),
            ]
        );
    }

    /// A handler's message reaches the client in the propstat's responsedescription, once
    /// however many properties failed with it.
    #[tokio::test]
    async fn handler_messages_reach_the_client_once() {
        let named = PropfindBody::Prop(vec![name("a"), name("b"), name("c")]);
        let described: Vec<Option<String>> = descriptions_for(named)
            .await
            .into_iter()
            .map(|(_, _, description)| description)
            .collect();
        assert_eq!(
            described,
            [Some("not for you".to_owned()), Some("broken".to_owned())]
        );
    }
}
