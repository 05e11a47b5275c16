//! Access control: which user may read or write where, by the rules registered per scope.
//!
//! Authentication (who the user is) happens in the server layer; this module only decides.
//! Without a rule: when authentication is on, every authenticated user may read and write and
//! anonymous requests may not; when it is off, everyone may.

use http::StatusCode;

use davd_protocol::{DavPath, Method};
use davd_registry::{AccessRule, Grantee};

use crate::context::Ctx;
use crate::error::{DavError, DavResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
}

fn rule_at<'a>(ctx: &'a Ctx, path: &DavPath, fallback: &'a AccessRule) -> &'a AccessRule {
    ctx.registry().access(path).unwrap_or(fallback)
}

fn default_rule(ctx: &Ctx) -> AccessRule {
    if ctx.exec.config.authentication {
        AccessRule {
            read: vec![Grantee::Authenticated],
            write: vec![Grantee::Authenticated],
        }
    } else {
        AccessRule::open()
    }
}

/// True if the request's user may read `path`.
pub fn may_read(ctx: &Ctx, path: &DavPath) -> bool {
    let fallback = default_rule(ctx);
    rule_at(ctx, path, &fallback).may_read(ctx.client.principal.as_deref())
}

/// Refuses with 401 (no credentials: the server adds the challenge) or 403 (logged in but not
/// allowed).
pub fn require(ctx: &Ctx, path: &DavPath, need: Need) -> DavResult<()> {
    let fallback = default_rule(ctx);
    let rule = rule_at(ctx, path, &fallback);
    let principal = ctx.client.principal.as_deref();
    let allowed = match need {
        Need::Read => rule.may_read(principal),
        Need::Write => rule.may_write(principal),
    };
    if allowed {
        return Ok(());
    }
    Err(match principal {
        None => DavError::new(StatusCode::UNAUTHORIZED, "authentication required"),
        Some(user) => DavError::forbidden(format!(
            "{user} may not {} {path}",
            if need == Need::Read { "read" } else { "change" }
        )),
    })
}

/// What each method needs, checked before the method runs. OPTIONS needs nothing: clients
/// probe with it before they log in (Office opens documents read-only otherwise).
pub fn check_request(ctx: &Ctx) -> DavResult<()> {
    let path = ctx.path();
    match &ctx.request.method {
        Method::Options => Ok(()),
        Method::Get { .. } | Method::Propfind { .. } | Method::Getlib => {
            require(ctx, path, Need::Read)
        }
        Method::Copy { destination, .. } => {
            require(ctx, path, Need::Read)?;
            require(ctx, &destination.path, Need::Write)
        }
        Method::Move { destination, .. } => {
            require(ctx, path, Need::Write)?;
            require(ctx, &destination.path, Need::Write)
        }
        Method::Post
        | Method::Put { .. }
        | Method::Delete
        | Method::Mkcol
        | Method::Proppatch
        | Method::Lock { .. }
        | Method::Unlock { .. } => require(ctx, path, Need::Write),
    }
}
