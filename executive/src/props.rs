//! Computing the properties of one resource for a PROPFIND: live handlers first, then the
//! dead-property store (the 1997 paper's Live Property Delegation).

use http::StatusCode;

use davd_protocol::xml::{PropStat, PropValue, PropfindBody};
use davd_protocol::{DavPath, PropName};
use davd_registry::{
    ClientInfo, LockRecord, PropContext, ResourceMeta, StoredProp, Subsystems, is_internal,
};

/// The properties of one resource, grouped by status.
///
/// `dead` holds the resource's dead properties if the caller fetched them already (one range
/// scan for all members of a collection); otherwise they are read here, and only when needed.
/// A live property is computed only if the request needs it.
pub async fn propstats(
    path: &DavPath,
    meta: &ResourceMeta,
    subsystems: &Subsystems,
    client: &ClientInfo,
    request: &PropfindBody,
    dead: Option<Vec<StoredProp>>,
    known_locks: Option<&[LockRecord]>,
) -> Vec<PropStat> {
    // Read the dead properties first when they will be needed anyway, so that handlers reading
    // one of them (the document record, Win32 attributes) find it without another lookup.
    let needs_dead = match request {
        PropfindBody::Prop(names) => names
            .iter()
            .any(|n| !is_internal(n) && subsystems.handler_for(n).is_none()),
        _ => true,
    };
    let dead = match dead {
        Some(dead) => Some(dead),
        None if needs_dead => Some(
            subsystems
                .properties
                .get_all(path)
                .await
                .unwrap_or_default(),
        ),
        None => None,
    };
    let dead_props: &[StoredProp] = dead.as_deref().unwrap_or(&[]);
    let cx = PropContext {
        path,
        meta,
        subsystems,
        client,
        known_locks,
        dead: dead.as_deref(),
        document: Default::default(),
    };
    let mut found: Vec<(PropName, Option<PropValue>)> = Vec::with_capacity(16 + dead_props.len());
    let mut missing: Vec<(PropName, Option<PropValue>)> = Vec::new();
    let mut failed: Vec<(StatusCode, PropName)> = Vec::new();

    match request {
        PropfindBody::Prop(names) => {
            for name in names {
                // davd's own bookkeeping is not a property clients can see.
                if is_internal(name) {
                    missing.push((name.clone(), None));
                } else if let Some(handler) = subsystems.handler_for(name) {
                    match handler.get(&cx, name).await {
                        Ok(Some(value)) => found.push((name.clone(), Some(value))),
                        Ok(None) => missing.push((name.clone(), None)),
                        Err(e) => failed.push((e.status, name.clone())),
                    }
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
            let overlap = subsystems.live_names_overlap;
            let mut seen: Vec<&PropName> = Vec::new();
            for handler in &subsystems.live {
                for name in handler.names() {
                    if overlap {
                        if seen.contains(&name) {
                            continue;
                        }
                        seen.push(name);
                    }
                    if !(names_only || handler.in_allprop(name) || include.contains(name)) {
                        continue;
                    }
                    match handler.get(&cx, name).await {
                        Ok(Some(value)) => {
                            found.push((name.clone(), (!names_only).then_some(value)))
                        }
                        Ok(None) if include.contains(name) => missing.push((name.clone(), None)),
                        Ok(None) => {}
                        Err(e) => failed.push((e.status, name.clone())),
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
                if !found.iter().any(|(n, _)| n == name) && !missing.iter().any(|(n, _)| n == name)
                {
                    missing.push((name.clone(), None));
                }
            }
        }
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
    for (status, name) in failed {
        stats.push(PropStat {
            status,
            props: vec![(name, None)],
            error: None,
            description: None,
        });
    }
    stats
}
