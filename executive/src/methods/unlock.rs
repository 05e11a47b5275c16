//! UNLOCK: release a lock.
//!
//! Checks: the request URI names a resource, else 404 (a lock is only ever on a resource: a
//! LOCK of an unmapped URL creates one, a DELETE removes its locks; a deep lock's scope takes
//! in no URL that names nothing); a lock with this token covers the request URI (which may be any resource in the
//! lock's scope), else 409 `lock-token-matches-request-uri`; with authentication, only the
//! principal who took the lock may release it (403).
//! Queue: [RemoveLocks]. Answer: 204. The resource itself is not touched, so its ETag and
//! Last-Modified do not change (Office relies on that).

use http::StatusCode;

use davd_protocol::Response;
use davd_protocol::xml::Condition;

use crate::commands::commit::CommitState;
use crate::commands::locks::RemoveLocks;
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::latch::Claim;
use crate::queue::CommandQueue;

pub async fn unlock(ctx: &Ctx, token: &str) -> DavResult<Response> {
    let path = ctx.path().clone();
    let _latch = ctx.exec.latch(vec![Claim::shallow(&path)]).await?;
    if ctx.stat(&path).await?.is_none() {
        return Err(DavError::not_found());
    }
    let subsystems = ctx.resolve(&path);
    for manager in &subsystems.locks {
        if let Some(lock) = manager.get(token).await? {
            if !lock.covers(&path) {
                break;
            }
            if let (Some(owner), me) = (&lock.principal, &ctx.client.principal)
                && me.as_ref() != Some(owner)
            {
                return Err(DavError::forbidden("the lock belongs to another user"));
            }
            let mut queue = CommandQueue::new();
            queue.push(RemoveLocks::new(vec![(manager.clone(), lock)]));
            queue.push(CommitState::durable());
            queue.run().await.map_err(|f| f.into_error())?;
            return Ok(Response::new(StatusCode::NO_CONTENT));
        }
    }
    Err(DavError::with_condition(
        StatusCode::CONFLICT,
        Condition::LockTokenMatchesRequestUri,
        "no lock with this token covers the request URI",
    ))
}
