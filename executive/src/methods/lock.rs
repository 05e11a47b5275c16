//! LOCK: take or refresh a write lock.
//!
//! New lock checks: a well-formed `lockinfo` (400), for a deep lock write permission on every
//! member (403, `policy::access`), the If header (412), the parent exists when
//! the URL is unmapped (409), no conflicting lock on the resource, on a deep lock's members, or
//! from a deep lock above (423 `no-conflicting-lock` naming the conflicting roots), and the
//! per-user lock limit (429, so that one client cannot fill the lock table).
//! Queue: [WriteContent and RecordDocument (an empty resource with a new document id, only for
//! an unmapped URL: RFC 4918 §7.3), InsertLock, CommitState]. The lock is flushed to disk
//! before the response. Creating the resource makes it two storage steps, so that queue is
//! journaled: a crash before the lock is in removes the empty resource again. Answer: 200, or 201 when the resource was created, with `Lock-Token` and the
//! `lockdiscovery` body.
//!
//! Refresh (no body): the If header must name a lock that covers the resource, taken by this
//! principal (412 otherwise). Queue: [RefreshLock, CommitState]. The token stays the same.
//!
//! The response body is the new `lockdiscovery`; user agents listed in `omit_lockroot_for`
//! (old Office) get it without `lockroot`, as in PROPFIND (`Quirks::omit_lockroot`).
//!
//! The latch is held while conflicts are checked and the lock inserted, so of fifty clients
//! asking for one exclusive lock at once exactly one gets it.

use futures_util::{StreamExt, stream};
use http::StatusCode;
use http::header::HeaderName;

use davd_protocol::headers::{Depth, Timeout};
use davd_protocol::xml::{Condition, lock_response_body, parse_lockinfo};
use davd_protocol::{Body, ByteStream, Response};
use davd_registry::{ChangeKind, LockRecord, WriteMode};

use crate::commands::commit::CommitState;
use crate::commands::locks::{InsertLock, RefreshLock};
use crate::commands::namespace::WriteContent;
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::latch::Claim;
use crate::ms::docid::{self, RecordDocument};
use crate::policy::locks::{
    Protected, check_lock_limit, conflicting_locks, expiry, granted_timeout, holds, require_tokens,
};
use crate::policy::{access, check_conditions};
use crate::queue::CommandQueue;

fn lock_response(
    ctx: &Ctx,
    status: StatusCode,
    lock: &LockRecord,
    with_token_header: bool,
) -> Response {
    let body = lock_response_body(&lock.view(&ctx.client, lock.timeout));
    let mut response = Response::xml(status, Body::Full(body));
    if with_token_header {
        response.set_header(
            HeaderName::from_static("lock-token"),
            format!("<{}>", lock.token),
        );
    }
    response
}

pub async fn lock(
    ctx: &Ctx,
    body: ByteStream,
    depth: Depth,
    timeout: Option<Timeout>,
) -> DavResult<Response> {
    let bytes = ctx.read_xml_body(body).await?;
    let text =
        davd_protocol::xml::body_text(&bytes).map_err(|e| DavError::bad_request(e.to_string()))?;
    if text.trim().is_empty() {
        return refresh(ctx, timeout).await;
    }
    let info = parse_lockinfo(text, &ctx.exec.config.xml_limits)
        .map_err(|e| DavError::bad_request(e.to_string()))?;
    let path = ctx.path().clone();
    let deep = depth == Depth::Infinity;
    let claim = if deep {
        Claim::deep(&path)
    } else {
        Claim::shallow(&path)
    };
    let latch = ctx.exec.latch(vec![claim]).await?;

    let meta = ctx.stat(&path).await?;
    // A deep lock locks every member: the user must be allowed to change each of them.
    access::require_members(ctx).await?;
    check_conditions(ctx, &path, meta.as_ref(), false).await?;
    if meta.is_none() {
        ctx.require_parent_collection(&path).await?;
        if let Some(parent) = path.parent() {
            require_tokens(ctx, &[Protected::Membership(parent)]).await?;
        }
    }
    let conflicts = conflicting_locks(ctx, &path, deep, info.scope).await?;
    if !conflicts.is_empty() {
        let mut roots: Vec<String> = conflicts
            .iter()
            .map(|l| access::disclosed_href(ctx, &l.root))
            .collect();
        roots.dedup();
        return Err(DavError::with_condition(
            StatusCode::LOCKED,
            Condition::NoConflictingLock(roots),
            "a conflicting lock is held",
        ));
    }
    // Kept until the lock is committed: the count and the insert are one decision.
    let _limit = check_lock_limit(ctx).await?;
    let manager = ctx.registry().lock_manager(&path).clone();
    let granted = granted_timeout(ctx, timeout);
    let record = LockRecord {
        token: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        root: path.clone(),
        scope: info.scope,
        deep,
        owner: info.owner,
        principal: ctx.client.principal.clone(),
        timeout: granted,
        expires: expiry(granted),
    };

    let mut queue = match meta {
        None => CommandQueue::journaled(ctx.exec.clone(), "LOCK", &path, latch),
        Some(_) => CommandQueue::new(),
    };
    if meta.is_none() {
        let subsystems = ctx.resolve(&path);
        queue.changes(&subsystems.properties, &path, ChangeKind::Resource);
        queue.push(
            WriteContent::new(
                subsystems.namespace.clone(),
                subsystems.relative(&path),
                stream::empty().boxed(),
                WriteMode::Replace,
            )
            .journaled(&path, false),
        );
        queue.push(RecordDocument::new(
            &subsystems,
            &path,
            docid::fresh(ctx),
            true,
        ));
    }
    queue.push(InsertLock::new(manager, record.clone()));
    queue.push(CommitState::durable());
    queue.run().await.map_err(|f| f.into_error())?;
    let status = if meta.is_none() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(lock_response(ctx, status, &record, true))
}

async fn refresh(ctx: &Ctx, timeout: Option<Timeout>) -> DavResult<Response> {
    let path = ctx.path().clone();
    let submitted = ctx.submitted_tokens();
    if submitted.is_empty() {
        return Err(DavError::bad_request(
            "a LOCK without a body refreshes a lock and needs its token in an If header",
        ));
    }
    let _latch = ctx.exec.latch(vec![Claim::shallow(&path)]).await?;
    let subsystems = ctx.resolve(&path);
    for manager in &subsystems.locks {
        for lock in manager.covering(&path).await? {
            if holds(ctx, &lock, &submitted) {
                let granted = granted_timeout(ctx, timeout);
                let refreshed = LockRecord {
                    timeout: granted,
                    expires: expiry(granted),
                    ..lock.clone()
                };
                let mut queue = CommandQueue::new();
                queue.push(RefreshLock::new(manager.clone(), refreshed.clone()));
                queue.push(CommitState::durable());
                queue.run().await.map_err(|f| f.into_error())?;
                return Ok(lock_response(ctx, StatusCode::OK, &refreshed, false));
            }
        }
    }
    Err(DavError::precondition_failed(
        "the If header names no lock that covers this resource",
    ))
}
