//! COPY and MOVE.
//!
//! Shared checks: source exists (404); source and destination differ and do not contain each
//! other (403); no mount point is overwritten or moved (403); the destination's parent exists
//! (409); the user may read every member copied and write every member moved, replaced or
//! created (403, `policy::access`); an existing destination with `Overwrite: F` is 412; conditional headers apply to the
//! source; lock tokens are needed for the destination (and, for MOVE, the source tree and its
//! parent's membership) (423); write hooks.
//!
//! COPY queue: [replace destination?, CopyTree, CommitState]. Members that fail are
//! reported in a 207; the rest is copied (RFC 4918 §9.8.8). Every copy gets a new document id
//! (`crate::ms::docid`); a MOVE keeps the one it has, pinning a derived id first
//! ([RecordDocument] before the move) so that it survives the change of path.
//!
//! MOVE queue within one namespace: [replace destination?, Rename, MoveTreeProperties,
//! RemoveLocks (of the source), CommitState], all or nothing. Between namespaces (two
//! scopes): [replace destination?, CopyTree (strict), SyncTree (the copy is made durable
//! against a power cut, whatever `--fsync` says), Detach source, RemoveTreeProperties,
//! RemoveLocks, CommitState], so a failure at any step leaves both sides as they were. A member
//! that cannot move (locked by someone else, in the source or an overwritten destination) fails
//! the whole MOVE with its status, never a 207 (docs/adr/0015).
//!
//! Both queues are journaled: the namespace steps come first (nothing is destroyed, only moved
//! aside under a tag), then one commit of every property and lock change, then the purge. A
//! crash before the commit undoes the steps, one after it finishes them: every resource ends
//! wholly at its source or wholly at its destination, with its own properties and locks
//! (docs/adr/0017-crash-safety.md).
//!
//! On a cluster both carry the latches' transaction: the rows an `s3` mount changes ride it,
//! and the queue commits it at its commit point (`queue.rs`), so an instance that lost its
//! latch moves or copies nothing and answers 503.
//!
//! "Replace destination" is [Detach, RemoveTreeProperties, RemoveLocks below it]. Locks rooted
//! at the destination itself stay: Office saves by MOVEing a temporary file over the document it
//! holds locked, and expects its lock to survive.

use std::sync::Arc;

use http::StatusCode;
use http::header::LOCATION;

use davd_protocol::headers::{Depth, Destination};
use davd_protocol::xml::MultistatusWriter;
use davd_protocol::{Body, DavPath, Response};
use davd_registry::{ChangeKind, ResourceMeta, WriteKind};

use crate::commands::commit::CommitState;
use crate::commands::copy::{CopyItem, CopyTree};
use crate::commands::locks::RemoveLocks;
use crate::commands::namespace::{Detach, Removing, Rename, SyncTree};
use crate::commands::properties::{MoveTreeProperties, PutProperties, RemoveTreeProperties};
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::latch::Claim;
use crate::ms::docid::{self, RecordDocument};
use crate::policy::access;
use crate::policy::locks::{Protected, locks_rooted_in, require_tokens};
use crate::policy::{check_conditions, hooks};
use crate::queue::{CommandQueue, Effects};
use crate::sync;
use crate::walk::descendants;

/// What both methods establish before planning.
struct Checked {
    source: DavPath,
    destination: DavPath,
    source_meta: ResourceMeta,
    destination_exists: bool,
    /// The destination holds a collection, which the request replaces.
    destination_collection: bool,
}

impl Checked {
    /// How the destination's change is logged (`crate::sync`): a collection copied there, or
    /// one replaced there, is a tree.
    fn destination_change(&self) -> ChangeKind {
        sync::kind(self.source_meta.collection || self.destination_collection)
    }
}

async fn check(
    ctx: &Ctx,
    destination: &Destination,
    overwrite: bool,
    moving: bool,
) -> DavResult<Checked> {
    let source = ctx.path().clone();
    let target = destination.path.clone();
    if source == target {
        return Err(DavError::forbidden(
            "the source and the destination are the same",
        ));
    }
    if target.is_within(&source) || source.is_within(&target) {
        return Err(DavError::forbidden(
            "the source and the destination contain one another",
        ));
    }
    let registry = ctx.registry();
    if registry.is_mount_point(&target) || !registry.mounts_below(&target).is_empty() {
        return Err(DavError::forbidden("a mount point cannot be overwritten"));
    }
    if moving
        && (source.is_root()
            || registry.is_mount_point(&source)
            || !registry.mounts_below(&source).is_empty())
    {
        return Err(DavError::forbidden("a mount point cannot be moved"));
    }
    let source_meta = ctx.stat(&source).await?.ok_or_else(DavError::not_found)?;
    ctx.require_parent_collection(&target).await?;
    let destination_meta = ctx.stat(&target).await?;
    if destination_meta.is_some() && !overwrite {
        return Err(DavError::precondition_failed(
            "the destination exists and Overwrite is F",
        ));
    }
    access::require_members(ctx).await?;
    check_conditions(ctx, &source, Some(&source_meta), false).await?;

    let mut protected = Vec::new();
    if moving {
        protected.push(Protected::Tree(source.clone()));
        if let Some(parent) = source.parent() {
            protected.push(Protected::Membership(parent));
        }
    }
    protected.push(if destination_meta.is_some() {
        Protected::Tree(target.clone())
    } else {
        Protected::Resource(target.clone())
    });
    if let Some(parent) = target.parent() {
        protected.push(Protected::Membership(parent));
    }
    require_tokens(ctx, &protected).await?;

    if moving {
        hooks::before_write(ctx, &source, source_meta.collection, WriteKind::Remove).await?;
        hooks::before_membership_change(ctx, &source).await?;
    }
    if destination_meta.is_some() {
        hooks::before_write(ctx, &target, true, WriteKind::Content).await?;
    }
    hooks::before_membership_change(ctx, &target).await?;

    Ok(Checked {
        source,
        destination: target,
        source_meta,
        destination_exists: destination_meta.is_some(),
        destination_collection: destination_meta.as_ref().is_some_and(|m| m.collection),
    })
}

/// Commands that clear an existing destination (all undoable).
async fn replace_destination(
    ctx: &Ctx,
    queue: &mut CommandQueue,
    destination: &DavPath,
) -> DavResult<()> {
    let subsystems = ctx.resolve(destination);
    queue.push(
        Detach::new(&subsystems, destination).keeping_history(&subsystems, Removing::Replaced),
    );
    queue.push(RemoveTreeProperties::new(
        subsystems.properties.clone(),
        destination.clone(),
    ));
    let below: Vec<_> = locks_rooted_in(ctx, destination)
        .await?
        .into_iter()
        .filter(|(_, lock)| lock.root != *destination)
        .collect();
    queue.push(RemoveLocks::new(below));
    Ok(())
}

/// The resources a copy of `source` (to `destination`) consists of, parents first.
async fn copy_items(ctx: &Ctx, checked: &Checked, deep: bool) -> DavResult<Vec<CopyItem>> {
    let item = |source: &DavPath, collection: bool| -> DavResult<CopyItem> {
        let destination = source
            .rebase(&checked.source, &checked.destination)
            .ok_or_else(|| DavError::internal("a member outside the copied tree"))?;
        let from = ctx.resolve(source);
        let to = ctx.resolve(&destination);
        Ok(CopyItem {
            source_relative: from.relative(source),
            source_namespace: from.namespace,
            destination_relative: to.relative(&destination),
            destination_namespace: to.namespace,
            source: source.clone(),
            destination,
            collection,
        })
    };
    let mut items = vec![item(&checked.source, checked.source_meta.collection)?];
    if deep && checked.source_meta.collection {
        for member in descendants(ctx, &checked.source).await? {
            items.push(item(&member.path, member.meta.collection)?);
        }
    }
    Ok(items)
}

fn created_or_replaced(ctx: &Ctx, checked: &Checked, effects: &Effects) -> Response {
    if !effects.member_failures.is_empty() {
        // Statuses only: no property, so no prefix besides `D`.
        let mut writer = MultistatusWriter::new(&[]);
        for (path, error) in &effects.member_failures {
            writer.status_response(
                &path.to_href(false),
                error.status,
                error.condition.as_ref(),
                Some(&error.message),
            );
        }
        return Response::xml(StatusCode::MULTI_STATUS, Body::Full(writer.finish()));
    }
    if checked.destination_exists {
        Response::new(StatusCode::NO_CONTENT)
    } else {
        let _ = ctx;
        Response::new(StatusCode::CREATED).with_header(
            LOCATION,
            checked.destination.to_href(checked.source_meta.collection),
        )
    }
}

pub fn copy(
    ctx: &Ctx,
    destination: Destination,
    depth: Depth,
    overwrite: bool,
) -> impl Future<Output = DavResult<Response>> {
    davd_registry::carrying(carried_copy(ctx, destination, depth, overwrite))
}

async fn carried_copy(
    ctx: &Ctx,
    destination: Destination,
    depth: Depth,
    overwrite: bool,
) -> DavResult<Response> {
    let claims = vec![Claim::deep(ctx.path()), Claim::deep(&destination.path)];
    let latch = ctx.exec.latch(claims).await?;
    let checked = check(ctx, &destination, overwrite, false).await?;
    let deep = depth == Depth::Infinity;

    let mut queue = CommandQueue::journaled(ctx.exec.clone(), "COPY", &checked.source, latch);
    if checked.destination_exists {
        replace_destination(ctx, &mut queue, &checked.destination).await?;
    }
    let source = ctx.resolve(&checked.source);
    let target = ctx.resolve(&checked.destination);
    queue.changes(
        &target.properties,
        &checked.destination,
        checked.destination_change(),
    );
    queue.push(
        CopyTree::new(
            copy_items(ctx, &checked, deep).await?,
            source.properties.clone(),
            target.properties.clone(),
            deep,
            false,
        )
        .with_new_documents(ctx.client.principal.clone()),
    );
    queue.push(CommitState::durable());
    let effects = queue.run().await.map_err(|f| f.into_error())?;
    Ok(created_or_replaced(ctx, &checked, &effects))
}

pub fn move_(
    ctx: &Ctx,
    destination: Destination,
    overwrite: bool,
) -> impl Future<Output = DavResult<Response>> {
    davd_registry::carrying(carried_move(ctx, destination, overwrite))
}

async fn carried_move(ctx: &Ctx, destination: Destination, overwrite: bool) -> DavResult<Response> {
    let claims = vec![Claim::deep(ctx.path()), Claim::deep(&destination.path)];
    let latch = ctx.exec.latch(claims).await?;
    let checked = check(ctx, &destination, overwrite, true).await?;

    let mut queue = CommandQueue::journaled(ctx.exec.clone(), "MOVE", &checked.source, latch);
    if checked.destination_exists {
        replace_destination(ctx, &mut queue, &checked.destination).await?;
    }
    let source = ctx.resolve(&checked.source);
    let target = ctx.resolve(&checked.destination);
    queue.changes(
        &source.properties,
        &checked.source,
        sync::kind(checked.source_meta.collection),
    );
    queue.changes(
        &target.properties,
        &checked.destination,
        checked.destination_change(),
    );
    let source_locks = locks_rooted_in(ctx, &checked.source).await?;
    // A resource davd never recorded has an id derived from its path; pin it before it moves,
    // so the id travels with the resource (MS-WDVME: a move keeps the repl-uid).
    let identity = docid::identity(ctx, &checked.source, &checked.source_meta).await?;
    let pinned = (!identity.recorded).then(|| {
        let etag = match checked.source_meta.collection {
            true => String::new(),
            false => checked.source_meta.etag.clone(),
        };
        docid::pinned(&identity, etag)
    });
    let one_namespace = Arc::ptr_eq(&source.namespace, &target.namespace);
    let one_property_store = Arc::ptr_eq(&source.properties, &target.properties);
    if let Some(record) = &pinned
        && one_namespace
        && one_property_store
    {
        queue.push(RecordDocument::new(
            &source,
            &checked.source,
            record.clone(),
            false,
        ));
    }
    if one_namespace {
        queue.push(Rename::new(&source, &checked.source, &checked.destination));
        if one_property_store {
            queue.push(MoveTreeProperties::new(
                source.properties.clone(),
                checked.source.clone(),
                checked.destination.clone(),
            ));
        } else {
            // One namespace, two property managers: carry the properties across.
            let mut rebased: Vec<_> = source
                .properties
                .get_tree(&checked.source)
                .await?
                .into_iter()
                .filter_map(|(path, prop)| {
                    path.rebase(&checked.source, &checked.destination)
                        .map(|to| (to, prop))
                })
                .collect();
            if let Some(record) = &pinned {
                rebased.push((checked.destination.clone(), record.to_prop()));
            }
            queue.push(PutProperties::new(target.properties.clone(), rebased));
            queue.push(RemoveTreeProperties::new(
                source.properties.clone(),
                checked.source.clone(),
            ));
        }
    } else {
        queue.push(CopyTree::new(
            copy_items(ctx, &checked, true).await?,
            source.properties.clone(),
            target.properties.clone(),
            true,
            true,
        ));
        if let Some(record) = &pinned {
            queue.push(PutProperties::new(
                target.properties.clone(),
                vec![(checked.destination.clone(), record.to_prop())],
            ));
        }
        // The copy is made durable before the source goes, whatever `--fsync` says: a power
        // cut must not find the source gone and its copy not yet on disk.
        queue.push(SyncTree::new(&target, &checked.destination));
        queue.push(Detach::new(&source, &checked.source));
        queue.push(RemoveTreeProperties::new(
            source.properties.clone(),
            checked.source.clone(),
        ));
    }
    queue.push(RemoveLocks::new(source_locks));
    queue.push(CommitState::durable());
    let effects = queue.run().await.map_err(|f| f.into_error())?;
    Ok(created_or_replaced(ctx, &checked, &effects))
}
