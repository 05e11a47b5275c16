//! Lock policy (RFC 4918 §6-7): who may change a locked resource, and which locks conflict.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::try_join_all;
use http::StatusCode;

use davd_protocol::headers::Timeout;
use davd_protocol::xml::{Condition, LockScope};
use davd_protocol::{DavPath, PropName};
use davd_registry::{LockManager, LockRecord};

use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::latch::NamedGuard;
use crate::policy::access;

/// Something a request is about to change, as far as locks care.
#[derive(Debug, Clone)]
pub enum Protected {
    /// The resource's content or properties (PUT, POST, PROPPATCH).
    Resource(DavPath),
    /// The resource and everything below it (DELETE, MOVE away, an overwritten destination).
    Tree(DavPath),
    /// The member list of a collection (a member is created or removed). RFC 4918 §7.4: even a
    /// depth-0 lock on a collection protects its membership.
    Membership(DavPath),
}

/// Every unexpired lock that applies to `protected`.
pub async fn locks_on(ctx: &Ctx, protected: &Protected) -> DavResult<Vec<LockRecord>> {
    Ok(match protected {
        Protected::Resource(path) | Protected::Membership(path) => {
            ctx.resolve(path).locks_covering(path).await?
        }
        Protected::Tree(path) => {
            let mut locks = ctx.resolve(path).locks_covering(path).await?;
            let mut seen: HashSet<String> = locks.iter().map(|l| l.token.clone()).collect();
            for manager in ctx.registry().lock_managers_below(path) {
                for lock in manager.below(path).await? {
                    if seen.insert(lock.token.clone()) {
                        locks.push(lock);
                    }
                }
            }
            locks
        }
    })
}

/// Locks whose root is `path` or below it, with the manager holding each: they go when their
/// resource goes.
pub async fn locks_rooted_in(
    ctx: &Ctx,
    path: &DavPath,
) -> DavResult<Vec<(Arc<dyn LockManager>, LockRecord)>> {
    let mut out = Vec::new();
    for manager in ctx.registry().lock_managers_below(path) {
        let mut locks = manager.below(path).await?;
        locks.extend(
            manager
                .covering(path)
                .await?
                .into_iter()
                .filter(|l| l.root == *path),
        );
        for lock in locks {
            out.push((manager.clone(), lock));
        }
    }
    Ok(out)
}

/// True if the request may act under `lock`: it submitted the token and, when authentication
/// is on, it comes from the principal who took the lock.
pub fn holds(ctx: &Ctx, lock: &LockRecord, submitted: &[&str]) -> bool {
    submitted.contains(&lock.token.as_str()) && may_use(ctx, lock)
}

/// True if the request's principal may act under `lock` once it has its token.
fn may_use(ctx: &Ctx, lock: &LockRecord) -> bool {
    match (&lock.principal, &ctx.client.principal) {
        (Some(owner), Some(me)) => owner == me,
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// True if the request comes from the principal who took `lock` (the anonymous user, when
/// authentication is off, owns every lock it took).
pub fn owns(ctx: &Ctx, lock: &LockRecord) -> bool {
    lock.principal.is_none() || lock.principal == ctx.client.principal
}

/// RFC 4918 §7.4/§7.5: a request that changes a locked resource must submit the lock token.
/// Otherwise: 423 Locked with `lock-token-submitted` naming each lock root (or, for one the
/// user may not read, the nearest collection they may: `access::disclosed_href`).
pub async fn require_tokens(ctx: &Ctx, protected: &[Protected]) -> DavResult<()> {
    require(ctx, protected, |lock, submitted| {
        submitted && may_use(ctx, lock)
    })
    .await
}

/// The namespace of the Win32 properties (MS-WDVME 2.2.10.6-9).
const WIN32_NAMESPACE: &str = "urn:schemas-microsoft-com:";

/// True for `Z:Win32*` names: `Win32CreationTime`, `Win32LastAccessTime`,
/// `Win32LastModifiedTime`, `Win32FileAttributes`.
pub fn is_win32_property(name: &PropName) -> bool {
    name.namespace == WIN32_NAMESPACE && name.local.starts_with("Win32")
}

/// The lock rule for a PROPPATCH of `path`. Office, through the Windows mini-redirector, sets
/// the Win32 properties of a document it holds locked right after saving it, without sending
/// the lock token, and a 423 there makes the save fail. So a PROPPATCH that touches **only**
/// Win32 properties needs no token: it is enough that it comes from the lock's owner (with
/// authentication on, the principal who took the lock; without it, anyone, as every lock is
/// the anonymous user's). Any other PROPPATCH needs the token as RFC 4918 says.
pub async fn require_tokens_for_properties(
    ctx: &Ctx,
    path: &DavPath,
    names: &[PropName],
) -> DavResult<()> {
    let protected = [Protected::Resource(path.clone())];
    if !names.is_empty() && names.iter().all(is_win32_property) {
        require(ctx, &protected, |lock, submitted| {
            (submitted && may_use(ctx, lock)) || owns(ctx, lock)
        })
        .await
    } else {
        require_tokens(ctx, &protected).await
    }
}

/// 423 with `lock-token-submitted` naming each lock root on `protected` that `allowed` refuses;
/// `allowed` is told whether the lock's token was submitted. Linear in the locks and the
/// tokens: a DELETE may carry a thousand tokens for a thousand locks.
async fn require(
    ctx: &Ctx,
    protected: &[Protected],
    allowed: impl Fn(&LockRecord, bool) -> bool,
) -> DavResult<()> {
    let submitted: HashSet<&str> = ctx.submitted_tokens().into_iter().collect();
    let mut missing: Vec<String> = Vec::new();
    let mut named: HashSet<String> = HashSet::new();
    // The lookups are independent (a PUT of a new file asks about the file and its parent's
    // membership, a MOVE its source and destination): sent together, so that a cluster's
    // database answers them in one round trip. Callers protect a handful of items.
    let lookups = try_join_all(protected.iter().map(|item| locks_on(ctx, item))).await?;
    for locks in lookups {
        for lock in locks {
            if !allowed(&lock, submitted.contains(lock.token.as_str())) {
                let href = access::disclosed_href(ctx, &lock.root);
                if named.insert(href.clone()) {
                    missing.push(href);
                }
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DavError::with_condition(
            StatusCode::LOCKED,
            Condition::LockTokenSubmitted(missing),
            "the resource is locked and no valid lock token was submitted",
        ))
    }
}

/// Existing locks that a new lock of `scope` on `path` (deep or not) would conflict with:
/// an exclusive lock conflicts with every other lock, shared locks only with exclusive ones.
pub async fn conflicting_locks(
    ctx: &Ctx,
    path: &DavPath,
    deep: bool,
    scope: LockScope,
) -> DavResult<Vec<LockRecord>> {
    let protected = if deep {
        Protected::Tree(path.clone())
    } else {
        Protected::Resource(path.clone())
    };
    Ok(locks_on(ctx, &protected)
        .await?
        .into_iter()
        .filter(|existing| scope == LockScope::Exclusive || existing.scope == LockScope::Exclusive)
        .collect())
}

/// The timeout granted for a requested one: the configured default when none is asked for,
/// capped at the configured maximum (`Infinite` too).
pub fn granted_timeout(ctx: &Ctx, requested: Option<Timeout>) -> Timeout {
    let config = &ctx.exec.config;
    let seconds = match requested {
        None => config.default_lock_timeout,
        Some(Timeout::Infinite) => config.max_lock_timeout,
        Some(Timeout::Seconds(s)) => s.clamp(1, config.max_lock_timeout),
    };
    Timeout::Seconds(seconds)
}

/// When a lock granted now for `timeout` ends.
pub fn expiry(timeout: Timeout) -> Option<SystemTime> {
    match timeout {
        Timeout::Seconds(s) => SystemTime::now().checked_add(Duration::from_secs(s)),
        Timeout::Infinite => None,
    }
}

/// How many locks the requester holds across every lock manager; 429 at the configured limit,
/// so that one client cannot fill the lock table.
///
/// Counting and then inserting is one decision: the returned guard, a latch named after the
/// requester (in a cluster held across every instance), must be kept until the new lock is
/// committed. Without it two LOCKs of one user on different paths, here or on two instances,
/// could both count one below the limit and both be granted.
#[must_use = "the limit holds only while the guard is kept until the lock is committed"]
pub async fn check_lock_limit(ctx: &Ctx) -> DavResult<NamedGuard> {
    let limit = ctx.exec.config.max_locks_per_principal;
    let name = match ctx.client.principal.as_deref() {
        Some(principal) => format!("locks held by {principal}"),
        None => "locks held anonymously".to_owned(),
    };
    let guard = ctx.exec.latch_named(&name).await?;
    let mut held = 0;
    for manager in ctx.registry().lock_managers_below(&DavPath::root()) {
        held += manager.held_by(ctx.client.principal.as_deref()).await?;
    }
    if held >= limit {
        return Err(DavError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("this user already holds {held} locks, the most allowed ({limit})"),
        ));
    }
    Ok(guard)
}
