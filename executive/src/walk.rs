//! Listing collections across scopes: a mounted scope appears as a member of its parent.

use std::pin::Pin;

use futures_util::stream::{self, Stream, StreamExt};
use http::StatusCode;

use davd_protocol::DavPath;
use davd_registry::ResourceMeta;

use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::policy::access;

/// One member of a collection.
#[derive(Debug, Clone)]
pub struct Listed {
    pub path: DavPath,
    pub meta: ResourceMeta,
}

pub type ListedStream = Pin<Box<dyn Stream<Item = DavResult<Vec<Listed>>> + Send>>;

/// The members of the collection at `path`, in batches. Scopes mounted directly inside it are
/// listed as collections (and hide a same-named member of the parent's own store).
pub async fn members(ctx: &Ctx, path: &DavPath) -> DavResult<ListedStream> {
    let mounts = ctx.registry().child_mounts(path);
    let mut mounted = Vec::with_capacity(mounts.len());
    for (_, scope) in &mounts {
        if let Some(meta) = ctx.stat(scope).await? {
            mounted.push(Listed {
                path: scope.clone(),
                meta,
            });
        }
    }
    // Members in scopes the user may not read are left out, not just refused.
    let hidden: Vec<String> = ctx
        .registry()
        .child_rules(path)
        .into_iter()
        .filter_map(|(name, _)| {
            let member = path.join(&name).ok()?;
            (!access::may_read(ctx, &member)).then_some(name)
        })
        .collect();
    mounted.retain(|m| {
        m.path
            .name()
            .is_none_or(|n| !hidden.contains(&n.to_owned()))
    });
    let mut mount_names: Vec<String> = mounts.into_iter().map(|(name, _)| name).collect();
    mount_names.extend(hidden);
    let (scope, namespace) = ctx.registry().namespace(path);
    let relative = path.relative_to(scope).unwrap_or_else(DavPath::root);
    let own = namespace.list(&relative).await?;
    let parent = path.clone();
    let own = own.map(move |batch| {
        let batch = batch.map_err(DavError::from)?;
        Ok(batch
            .into_iter()
            .filter(|m| !mount_names.contains(&m.name))
            .filter_map(|m| {
                parent
                    .join(&m.name)
                    .ok()
                    .map(|path| Listed { path, meta: m.meta })
            })
            .collect())
    });
    let first = if mounted.is_empty() {
        None
    } else {
        Some(Ok(mounted))
    };
    Ok(stream::iter(first).chain(own).boxed())
}

/// True if the collection at `path` is one of its own ancestors (a symbolic link back up the
/// tree): a walk must not descend into it, or it would never end.
pub async fn revisits_ancestor(ctx: &Ctx, path: &DavPath) -> DavResult<bool> {
    let subsystems = ctx.resolve(path);
    Ok(subsystems
        .namespace
        .revisits_ancestor(&subsystems.relative(path))
        .await?)
}

/// The refusal of a request whose `Depth: infinity` walk would loop through `path` (RFC 5842
/// §7.2: 508 Loop Detected).
pub fn loop_detected(path: &DavPath) -> DavError {
    DavError::new(
        StatusCode::LOOP_DETECTED,
        format!(
            "{} leads back to a collection above it (a symbolic link cycle); a Depth: infinity walk would never end",
            path.to_href(true)
        ),
    )
}

/// Every resource below `path`, depth-first, parents before their members. A member that
/// leads back to a collection above it fails the walk with 508.
pub async fn descendants(ctx: &Ctx, path: &DavPath) -> DavResult<Vec<Listed>> {
    let mut out = Vec::new();
    let mut pending = vec![path.clone()];
    while let Some(collection) = pending.pop() {
        let mut batches = members(ctx, &collection).await?;
        let mut children = Vec::new();
        while let Some(batch) = batches.next().await {
            children.extend(batch?);
        }
        children.sort_by(|a, b| a.path.cmp(&b.path));
        for child in children.into_iter().rev() {
            if child.meta.collection {
                if revisits_ancestor(ctx, &child.path).await? {
                    return Err(loop_detected(&child.path));
                }
                pending.push(child.path.clone());
            }
            out.push(child);
        }
    }
    // Parents were pushed before their members were listed, so a parent always precedes its
    // members; sort for a stable, readable order that keeps that property.
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
