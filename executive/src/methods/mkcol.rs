//! MKCOL: create a collection.
//!
//! Checks: no body (415), nothing at the URL (405), parent exists (409), conditional headers,
//! lock tokens for the parent's membership (423), write hooks.
//! Queue: [CreateCollection, (SetModified: the client's `X-OC-Mtime`, answered
//! `X-OC-Mtime: accepted`), RecordDocument (a new document id), CommitState]. Creating the
//! collection is the one storage step; its document record is best effort, like a PUT's
//! (docs/adr/0007-document-ids.md), so the queue needs no journal. Answer: 201 Created. A URL
//! without a trailing slash works too.
//!
//! On a cluster, as a PUT does, it carries the latches' transaction: the collection's row (on
//! an `s3` mount) and its document record ride it, and it commits before the answer, so an
//! instance that lost its latch creates nothing and answers 503.

use http::StatusCode;

use davd_protocol::Response;
use davd_protocol::headers::OC_MTIME;

use davd_registry::ChangeKind;

use crate::commands::commit::CommitState;
use crate::commands::modified::SetModified;
use crate::commands::namespace::CreateCollection;
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::latch::Claim;
use crate::ms::docid::{self, RecordDocument};
use crate::policy::locks::{Protected, require_tokens};
use crate::policy::{check_conditions, hooks};
use crate::queue::CommandQueue;

pub fn mkcol(ctx: &Ctx) -> impl Future<Output = DavResult<Response>> {
    davd_registry::carrying(carried_mkcol(ctx))
}

async fn carried_mkcol(ctx: &Ctx) -> DavResult<Response> {
    let path = ctx.path().clone();
    if ctx.request.body.present {
        return Err(DavError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "MKCOL with a request body is not supported",
        ));
    }
    let latch = ctx.exec.latch(vec![Claim::shallow(&path)]).await?;
    let meta = ctx.stat(&path).await?;
    if meta.is_some() {
        return Err(DavError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "something already exists at this URL",
        ));
    }
    ctx.require_parent_collection(&path).await?;
    check_conditions(ctx, &path, None, false).await?;
    let mut protected = vec![Protected::Resource(path.clone())];
    if let Some(parent) = path.parent() {
        protected.push(Protected::Membership(parent));
    }
    require_tokens(ctx, &protected).await?;
    hooks::before_membership_change(ctx, &path).await?;

    let subsystems = ctx.resolve(&path);
    let mut queue = CommandQueue::new();
    queue.changes(&subsystems.properties, &path, ChangeKind::Tree);
    queue.push(CreateCollection::new(
        subsystems.namespace.clone(),
        subsystems.relative(&path),
    ));
    if let Some(modified) = ctx.request.client_mtime {
        queue.push(SetModified::new(&subsystems, &path, modified));
    }
    queue.push(RecordDocument::new(
        &subsystems,
        &path,
        docid::fresh(ctx),
        false,
    ));
    queue.push(CommitState::without_flush());
    let effects = queue.run().await.map_err(|f| f.into_error())?;
    // Acknowledged only once committed; a failed commit kept nothing of it and is a 503.
    latch.commit().await?;
    crate::sync::record(effects.changes).await;
    let mut response = Response::new(StatusCode::CREATED);
    if effects.modified_set {
        response.set_header(OC_MTIME, "accepted");
    }
    Ok(response)
}
