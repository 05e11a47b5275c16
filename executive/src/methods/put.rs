//! PUT: store a body at a URL.
//!
//! Checks: not a collection (405), parent exists (409), conditional headers (412), lock tokens
//! for the resource and, when it is new, for the parent's membership (423), write hooks.
//! Queue: [WriteContent]. The body is streamed to a staging file and renamed over the old
//! content, so readers see old or new, never a mix; undo restores the old content. With
//! `Content-Range` the segment is written in place (resumable upload; not undoable).
//! Answer: 201 Created or 204 No Content, with the new ETag.

use http::StatusCode;
use http::header::ETAG;

use davd_protocol::headers::ContentRange;
use davd_protocol::{ByteStream, Response};
use davd_registry::{WriteKind, WriteMode};

use crate::commands::namespace::WriteContent;
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::latch::Claim;
use crate::policy::locks::{Protected, require_tokens};
use crate::policy::{check_conditions, hooks};
use crate::queue::CommandQueue;

pub async fn put(
    ctx: &Ctx,
    body: ByteStream,
    content_range: Option<ContentRange>,
) -> DavResult<Response> {
    let path = ctx.path().clone();
    if path.is_root() || ctx.registry().is_mount_point(&path) {
        return Err(DavError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "this URL is a collection",
        ));
    }
    let mode = match content_range {
        None => WriteMode::Replace,
        Some(range) => {
            if ctx.request.body.length.is_some_and(|l| l != range.len()) {
                return Err(DavError::bad_request(
                    "Content-Length does not match the Content-Range",
                ));
            }
            WriteMode::Segment {
                offset: range.first,
                total: range.total,
            }
        }
    };
    let _latch = ctx.exec.latches.acquire(vec![Claim::shallow(&path)]).await;
    let meta = ctx.stat(&path).await?;
    if meta.as_ref().is_some_and(|m| m.collection) {
        return Err(DavError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "cannot PUT onto a collection",
        ));
    }
    ctx.require_parent_collection(&path).await?;
    check_conditions(ctx, &path, meta.as_ref(), false).await?;
    let mut protected = vec![Protected::Resource(path.clone())];
    if meta.is_none()
        && let Some(parent) = path.parent()
    {
        protected.push(Protected::Membership(parent));
    }
    require_tokens(ctx, &protected).await?;
    hooks::before_write(ctx, &path, false, WriteKind::Content).await?;
    if meta.is_none() {
        hooks::before_membership_change(ctx, &path).await?;
    }

    let subsystems = ctx.resolve(&path);
    let mut queue = CommandQueue::new();
    queue.push(WriteContent::new(
        subsystems.namespace.clone(),
        subsystems.relative(&path),
        body,
        mode,
    ));
    let effects = queue.run().await.map_err(|f| f.into_error())?;

    let mut response = Response::new(if effects.created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    });
    if let Some(meta) = &effects.meta {
        response.set_header(ETAG, format!("\"{}\"", meta.etag));
    }
    Ok(response)
}
