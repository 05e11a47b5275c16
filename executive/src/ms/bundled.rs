//! Bundled locks (MS-WDV 2.2.4, 3.2.5.2): `X-MSDAVEXTLockTimeout` and `Lock-Token` on GET,
//! HEAD, POST and PUT lock, refresh or unlock the resource in the same request.
//!
//! | method         | Lock-Token | timeout | davd                                                  |
//! |----------------|------------|---------|-------------------------------------------------------|
//! | GET/HEAD/POST  | Y          | N       | ignored                                               |
//! | any of the four| Y          | Y (> 0) | refresh that lock (412 unknown, 423 someone else's)   |
//! | any of the four| Y          | 0       | unlock it (same failures)                             |
//! | any of the four| N          | Y (> 0) | take an exclusive depth-0 lock (423 if locked)        |
//! | any of the four| N          | 0       | 400: nothing to unlock                                |
//! | PUT            | Y          | N       | the token counts as submitted (412 / 423 as above)    |
//! | any            | N          | N       | no lock processing                                    |
//!
//! `X-MSDAVEXTLockTimeout` on any other method is refused by the protocol layer (400).
//! A lock operation is one command in the request's CommandQueue, after the content
//! operation, so a PUT and its lock succeed or fail together.
//!
//! Answers (ADR 0005, decisions D1/D2 of the checklist): `Lock-Token` (bare, like MS-WDV 4.5)
//! whenever the request named or created a lock that still exists afterwards, and
//! `X-MSDAVEXTLockTimeout` with the time granted after a create or refresh; neither after an
//! unlock or on a request without lock headers.

use std::sync::Arc;

use http::StatusCode;

use davd_protocol::headers::Timeout;
use davd_protocol::headers::ms::names::{LOCK_TOKEN, X_MSDAVEXT_LOCK_TIMEOUT};
use davd_protocol::xml::{Condition, LockScope, escape_text};
use davd_protocol::{DavPath, Method, Response};
use davd_registry::{LockManager, LockRecord};

use crate::commands::locks::{InsertLock, RefreshLock, RemoveLocks};
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::latch::NamedGuard;
use crate::policy::access;
use crate::policy::locks::{check_lock_limit, expiry, granted_timeout, holds};
use crate::queue::CommandQueue;

/// Office refreshes at the interval granted but never sooner than 180 s: a shorter lock would
/// expire before the refresh (sabre.io's Office notes).
pub const MIN_BUNDLED_SECONDS: u64 = 180;

/// What the lock headers of a request ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    None,
    Create(Timeout),
    Refresh {
        token: String,
        timeout: Timeout,
    },
    Unlock {
        token: String,
    },
    /// PUT with `Lock-Token` alone: write under that lock.
    Assert {
        token: String,
    },
}

impl Form {
    /// Reads the table above off the request; 400 for `Second-0` without a token.
    pub fn of(ctx: &Ctx) -> DavResult<Form> {
        let ms = &ctx.request.ms;
        let put = matches!(ctx.request.method, Method::Put { .. });
        Ok(match (ms.lock_token.clone(), ms.lock_timeout) {
            (None, None) => Form::None,
            (Some(_), None) if !put => Form::None,
            (Some(token), None) => Form::Assert { token },
            (None, Some(Timeout::Seconds(0))) => {
                return Err(DavError::bad_request(
                    "X-MSDAVEXTLockTimeout: Second-0 asks for an unlock, which needs a Lock-Token",
                ));
            }
            (None, Some(timeout)) => Form::Create(timeout),
            (Some(token), Some(Timeout::Seconds(0))) => Form::Unlock { token },
            (Some(token), Some(timeout)) => Form::Refresh { token, timeout },
        })
    }

    pub fn is_none(&self) -> bool {
        *self == Form::None
    }
}

/// What the lock part of a request will do and answer.
#[derive(Default)]
pub struct Planned {
    create: Option<(Arc<dyn LockManager>, LockRecord)>,
    refresh: Option<(Arc<dyn LockManager>, LockRecord, LockRecord)>,
    unlock: Option<(Arc<dyn LockManager>, LockRecord)>,
    /// The `Lock-Token` to answer with.
    token: Option<String>,
    /// The `X-MSDAVEXTLockTimeout` to answer with.
    granted: Option<Timeout>,
    /// The requester's lock-count latch, for a lock created: kept by the queue until the
    /// lock is committed (`check_lock_limit`).
    limit: Option<NamedGuard>,
}

impl Planned {
    /// True if the plan adds no lock command.
    pub fn is_empty(&self) -> bool {
        self.create.is_none() && self.refresh.is_none() && self.unlock.is_none()
    }

    /// Appends the lock command (if any) to `queue`.
    pub fn push_into(self, queue: &mut CommandQueue) -> Answer {
        if let Some(limit) = self.limit {
            queue.hold(limit);
        }
        if let Some((manager, lock)) = self.create {
            queue.push(InsertLock::new(manager, lock));
        }
        if let Some((manager, _old, new)) = self.refresh {
            queue.push(RefreshLock::new(manager, new));
        }
        if let Some((manager, lock)) = self.unlock {
            queue.push(RemoveLocks::new(vec![(manager, lock)]));
        }
        Answer {
            token: self.token,
            granted: self.granted,
        }
    }
}

/// The lock headers of the response, once the queue has run.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    token: Option<String>,
    granted: Option<Timeout>,
}

impl Answer {
    /// Fills in the requester's own lock token when the request's lock headers gave none
    /// (MS-WDV 2.2.4.2; see [`owner_token`]).
    pub async fn with_owner_token(mut self, ctx: &Ctx, path: &DavPath) -> Answer {
        if self.token.is_none() {
            self.token = owner_token(ctx, path).await;
        }
        self
    }

    pub fn add_headers(&self, response: &mut Response) {
        if let Some(token) = &self.token {
            response.set_header(LOCK_TOKEN, token);
        }
        if let Some(granted) = self.granted {
            response.set_header(X_MSDAVEXT_LOCK_TIMEOUT, granted.to_header());
        }
    }
}

fn locked(ctx: &Ctx, message: &'static str, roots: &[LockRecord]) -> DavError {
    let mut hrefs: Vec<String> = roots
        .iter()
        .map(|l| access::disclosed_href(ctx, &l.root))
        .collect();
    hrefs.dedup();
    DavError::with_condition(
        StatusCode::LOCKED,
        Condition::NoConflictingLock(hrefs),
        message,
    )
}

/// The timeout granted for a bundled lock: the usual cap, and at least 180 s (unless the
/// configured maximum is lower).
fn granted(ctx: &Ctx, requested: Timeout) -> Timeout {
    match granted_timeout(ctx, Some(requested)) {
        Timeout::Seconds(s) => {
            Timeout::Seconds(s.max(MIN_BUNDLED_SECONDS.min(ctx.exec.config.max_lock_timeout)))
        }
        infinite => infinite,
    }
}

/// The `Lock-Token` that MS-WDV 2.2.4.2 puts on GET, HEAD, POST and PUT answers when the request
/// carried no lock headers: the token of a lock on `path` that the authenticated requester
/// took. Without authentication every client is the same anonymous user, so a token would go
/// to everyone and a second client could take it for its own; none is sent (docs/microsoft.md).
pub async fn owner_token(ctx: &Ctx, path: &DavPath) -> Option<String> {
    let principal = ctx.client.principal.as_deref()?;
    let covering = ctx.resolve(path).locks_covering(path).await.ok()?;
    covering
        .into_iter()
        .filter(|lock| lock.principal.as_deref() == Some(principal))
        // The lock nearest the resource: its own before one inherited from a collection.
        .max_by_key(|lock| lock.root.depth())
        .map(|lock| lock.token)
}

/// Decides the lock part of a request on `path`, which must be latched by the caller. Checks
/// only; nothing changes until the queue runs.
pub async fn plan(ctx: &Ctx, path: &DavPath, form: &Form) -> DavResult<Planned> {
    // Most requests carry no lock headers: they need no look at the lock table (a database
    // round trip in a cluster, on every PUT).
    if form.is_none() {
        return Ok(Planned::default());
    }
    let covering = ctx.resolve(path).locks_covering(path).await?;
    let token = match form {
        Form::None => return Ok(Planned::default()),
        Form::Create(requested) => {
            if !covering.is_empty() {
                return Err(locked(ctx, "the resource is already locked", &covering));
            }
            let limit = check_lock_limit(ctx).await?;
            let timeout = granted(ctx, *requested);
            let lock = LockRecord {
                token: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
                root: path.clone(),
                scope: LockScope::Exclusive,
                deep: false,
                owner: ctx.client.principal.as_ref().map(|p| {
                    let mut owner = String::from("<D:owner xmlns:D=\"DAV:\">");
                    escape_text(p, &mut owner);
                    owner.push_str("</D:owner>");
                    owner
                }),
                principal: ctx.client.principal.clone(),
                timeout,
                expires: expiry(timeout),
            };
            let manager = ctx.registry().lock_manager(path).clone();
            return Ok(Planned {
                token: Some(lock.token.clone()),
                granted: Some(timeout),
                create: Some((manager, lock)),
                limit: Some(limit),
                ..Planned::default()
            });
        }
        Form::Refresh { token, .. } | Form::Unlock { token } | Form::Assert { token } => token,
    };
    let Some(lock) = covering.iter().find(|l| l.token == *token) else {
        return Err(if covering.is_empty() {
            DavError::precondition_failed("the Lock-Token names no lock on this resource")
        } else {
            locked(ctx, "the resource is locked by another lock", &covering)
        });
    };
    if !holds(ctx, lock, &[token.as_str()]) {
        return Err(locked(
            ctx,
            "the resource is locked by another user",
            &covering,
        ));
    }
    let manager = manager_of(ctx, path, token).await?;
    Ok(match form {
        Form::Refresh { timeout, .. } => {
            let timeout = granted(ctx, *timeout);
            let refreshed = LockRecord {
                timeout,
                expires: expiry(timeout),
                ..lock.clone()
            };
            Planned {
                token: Some(lock.token.clone()),
                granted: Some(timeout),
                refresh: Some((manager, lock.clone(), refreshed)),
                ..Planned::default()
            }
        }
        Form::Unlock { .. } => Planned {
            unlock: Some((manager, lock.clone())),
            ..Planned::default()
        },
        _ => Planned {
            token: Some(lock.token.clone()),
            ..Planned::default()
        },
    })
}

/// The lock manager holding `token` among those in force at `path`.
async fn manager_of(ctx: &Ctx, path: &DavPath, token: &str) -> DavResult<Arc<dyn LockManager>> {
    for manager in ctx.resolve(path).locks {
        if manager.get(token).await?.is_some() {
            return Ok(manager);
        }
    }
    Err(DavError::precondition_failed(
        "the lock ended while the request was checked",
    ))
}
