//! DELETE: remove a resource and everything below it.
//!
//! Checks: exists (404), not the root or a mount point (403), every member writable by the user
//! (403, `policy::access`), conditional headers (412), lock
//! tokens for the whole tree and the parent's membership (423), write hooks.
//! Queue (journaled): [Detach, RemoveTreeProperties, RemoveLocks, CommitState]: the tree is
//! moved aside, not destroyed, then its properties and locks go in one commit; the queue's
//! commit purges the tree. A crash before the commit brings the tree back with its properties
//! and locks, one after it finishes the removal (docs/adr/0017-crash-safety.md). All or
//! nothing, so no 207 is ever written: a member that cannot be deleted (locked by someone else, read-only)
//! fails the whole request with its status, a 423 naming the member in `lock-token-submitted`
//! (RFC 4918 §9.6.1 allows a 4xx for a complete failure; docs/adr/0015).
//!
//! On a cluster it carries the latches' transaction: the tree's rows on an `s3` mount ride
//! it, and the queue commits it at its commit point (`queue.rs`), so an instance that lost
//! its latch removes nothing and answers 503.

use http::StatusCode;

use crate::sync;
use davd_protocol::Response;
use davd_registry::WriteKind;

use crate::commands::commit::CommitState;
use crate::commands::locks::RemoveLocks;
use crate::commands::namespace::{Detach, Removing};
use crate::commands::properties::RemoveTreeProperties;
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::latch::Claim;
use crate::policy::access;
use crate::policy::locks::{Protected, locks_rooted_in, require_tokens};
use crate::policy::{check_conditions, hooks};
use crate::queue::CommandQueue;

pub fn delete(ctx: &Ctx) -> impl Future<Output = DavResult<Response>> {
    davd_registry::carrying(carried_delete(ctx))
}

async fn carried_delete(ctx: &Ctx) -> DavResult<Response> {
    let path = ctx.path().clone();
    if path.is_root() {
        return Err(DavError::forbidden("the root collection cannot be deleted"));
    }
    if ctx.registry().is_mount_point(&path) || !ctx.registry().mounts_below(&path).is_empty() {
        return Err(DavError::forbidden(
            "a mount point (or a collection containing one) cannot be deleted",
        ));
    }
    let latch = ctx.exec.latch(vec![Claim::deep(&path)]).await?;
    let meta = ctx.stat(&path).await?.ok_or_else(DavError::not_found)?;
    access::require_members(ctx).await?;
    check_conditions(ctx, &path, Some(&meta), false).await?;
    let mut protected = vec![Protected::Tree(path.clone())];
    if let Some(parent) = path.parent() {
        protected.push(Protected::Membership(parent));
    }
    require_tokens(ctx, &protected).await?;
    hooks::before_write(ctx, &path, meta.collection, WriteKind::Remove).await?;
    hooks::before_membership_change(ctx, &path).await?;

    let subsystems = ctx.resolve(&path);
    let locks = locks_rooted_in(ctx, &path).await?;
    let mut queue = CommandQueue::journaled(ctx.exec.clone(), "DELETE", &path, latch);
    queue.changes(&subsystems.properties, &path, sync::kind(meta.collection));
    queue.push(Detach::new(&subsystems, &path).keeping_history(&subsystems, Removing::Deleted));
    queue.push(RemoveTreeProperties::new(
        subsystems.properties.clone(),
        path.clone(),
    ));
    queue.push(RemoveLocks::new(locks));
    queue.push(CommitState::durable());
    queue.run().await.map_err(|f| f.into_error())?;
    Ok(Response::new(StatusCode::NO_CONTENT))
}
