//! Access control: which user may read or write where, by the rules registered per scope.
//!
//! Authentication (who the user is) happens in the server layer; this module only decides.
//! Without a rule: when authentication is on, every authenticated user may read and write and
//! anonymous requests may not; when it is off, everyone may.
//!
//! There is one decision, [`allows`]: may the request's principal read, or write, the resource
//! at a path, by the rule in force there. Everything else asks it:
//!
//! - [`requirements`] is the access model, one row per method: what it needs on which
//!   resources (docs/security.md prints the same table). [`check_request`] checks the
//!   resources themselves before the method runs, so nothing is read, stated or locked for a
//!   request that may not be made;
//! - [`require_members`] checks, under the method's latch, every member a tree operation
//!   touches: a DELETE or MOVE writes every member of its tree, a deep LOCK every member its
//!   tree holds or will hold, a deep COPY reads every member of its source, and a COPY (of any
//!   depth) or MOVE writes every member it creates or replaces at its destination. One
//!   member refused refuses the whole request (403 naming the first such member, or not
//!   naming it when the user may not even read it);
//! - a form upload checks each file it stores ([`require`]);
//! - listings, OPTIONS, the If header and 423 bodies ask [`may_read`] so as to reveal nothing
//!   about resources the user may not read ([`disclosed_href`]); `lockdiscovery` asks the same
//!   through the client's [`readable`].

use std::sync::Arc;

use http::StatusCode;

use davd_protocol::headers::Depth;
use davd_protocol::{DavPath, Method, Request};
use davd_registry::{ANONYMOUS, AccessRule, Readable, Registry};

use crate::Executive;
use crate::context::Ctx;
use crate::error::{DavError, DavResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
}

impl Need {
    fn verb(self) -> &'static str {
        match self {
            Need::Read => "read",
            Need::Write => "change",
        }
    }
}

/// How much below a path a requirement reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent<'a> {
    /// The resource alone.
    Resource,
    /// The resource and every member below it (DELETE, MOVE's source, a deep COPY's source,
    /// the destination a Depth 0 COPY replaces).
    Tree,
    /// The resource, every member below it and every member that appears there later: a deep
    /// LOCK covers members created after it is taken, so every scope below counts, whether or
    /// not anything exists there yet. Otherwise a deep lock taken on a parent before a
    /// protected scope was created would cover the scope, and keep its own writers out of it.
    Reach,
    /// The tree written at the path from the members of `source` (a deep COPY or a MOVE): the
    /// members it replaces and the members it creates.
    TreeFrom(&'a DavPath),
}

/// One row of the access model: `need` on `path`, as far as `extent` reaches. The paths are
/// the request's own, borrowed: every request is checked, and a copy of each was an
/// allocation per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement<'a> {
    pub path: &'a DavPath,
    pub need: Need,
    pub extent: Extent<'a>,
}

/// What `request` needs, on which resources: at most two rows (a COPY or MOVE names two
/// resources), in a fixed array rather than a `Vec` for the same reason. OPTIONS needs
/// nothing: clients probe with it before they log in (Office opens documents read-only
/// otherwise), and it answers the same for every resource the user may not read. A lock is a
/// write: LOCK, and a Microsoft bundled lock on GET or HEAD (`X-MSDAVEXTLockTimeout`, MS-WDV
/// 2.2.4), need write permission.
pub fn requirements(request: &Request) -> impl Iterator<Item = Requirement<'_>> {
    let on = |path, need, extent| Some(Requirement { path, need, extent });
    let one = |row| [row, None];
    let path = &request.path;
    let rows = match &request.method {
        Method::Options => [None, None],
        Method::Get { .. } if request.ms.lock_timeout.is_some() => {
            one(on(path, Need::Write, Extent::Resource))
        }
        Method::Get { .. } | Method::Propfind { .. } | Method::Getlib | Method::Report => {
            one(on(path, Need::Read, Extent::Resource))
        }
        Method::Copy {
            destination, depth, ..
        } => {
            let deep = *depth == Depth::Infinity;
            [
                on(
                    path,
                    Need::Read,
                    if deep { Extent::Tree } else { Extent::Resource },
                ),
                // Whatever the depth, an existing destination is replaced as a whole (its
                // members removed), so every member it holds is written.
                on(
                    &destination.path,
                    Need::Write,
                    if deep {
                        Extent::TreeFrom(path)
                    } else {
                        Extent::Tree
                    },
                ),
            ]
        }
        Method::Move { destination, .. } => [
            on(path, Need::Write, Extent::Tree),
            on(&destination.path, Need::Write, Extent::TreeFrom(path)),
        ],
        Method::Delete => one(on(path, Need::Write, Extent::Tree)),
        Method::Lock {
            depth: Depth::Infinity,
            ..
        } => one(on(path, Need::Write, Extent::Reach)),
        Method::Post
        | Method::Put { .. }
        | Method::Mkcol
        | Method::Proppatch
        | Method::Lock { .. }
        | Method::Unlock { .. } => one(on(path, Need::Write, Extent::Resource)),
    };
    rows.into_iter().flatten()
}

/// The rule where no scope has one, decided without building it (every request of a server
/// without rules asks): when authentication is on, `*` may read and write; when it is off,
/// `anonymous` may, that is everyone. The same for reading and writing, so `need` does not
/// matter (the test below holds this to the rules those grantees make).
fn default_admits(authentication: bool, principal: Option<&str>) -> bool {
    !authentication || principal.is_some()
}

fn admits(rule: &AccessRule, principal: Option<&str>, need: Need) -> bool {
    match need {
        Need::Read => rule.may_read(principal),
        Need::Write => rule.may_write(principal),
    }
}

/// The decision: true if the request's principal may `need` the resource at `path`.
pub fn allows(ctx: &Ctx, path: &DavPath, need: Need) -> bool {
    decide(
        ctx.registry(),
        ctx.exec.config.authentication,
        ctx.client.principal.as_deref(),
        path,
        need,
    )
}

fn decide(
    registry: &Registry,
    authentication: bool,
    principal: Option<&str>,
    path: &DavPath,
    need: Need,
) -> bool {
    match registry.access(path) {
        Some(rule) => admits(rule, principal, need),
        None => default_admits(authentication, principal),
    }
}

/// What `principal` may read, for the [`ClientInfo`](davd_registry::ClientInfo) that
/// live-property handlers see (a lock root in `lockdiscovery`). Without rules the decision is
/// the same everywhere, and a request that got as far as a handler may read: everything.
pub fn readable(exec: &Arc<Executive>, principal: Option<&str>) -> Readable {
    if !exec.registry.has_access_rules() {
        return Readable::default();
    }
    let registry = exec.registry.clone();
    let authentication = exec.config.authentication;
    let principal = principal.map(str::to_owned);
    Readable::by(move |path| {
        decide(
            &registry,
            authentication,
            principal.as_deref(),
            path,
            Need::Read,
        )
    })
}

/// True if the request's principal may read `path`.
pub fn may_read(ctx: &Ctx, path: &DavPath) -> bool {
    allows(ctx, path, Need::Read)
}

/// 401 without credentials (the server adds the challenge), 403 with them, and 403 when
/// authentication is off: no credentials would help (a read-only scope, such as the history's
/// views).
fn refusal(ctx: &Ctx, message: impl FnOnce(&str) -> String) -> DavError {
    match ctx.client.principal.as_deref() {
        None if ctx.exec.config.authentication => {
            DavError::new(StatusCode::UNAUTHORIZED, "authentication required")
        }
        None => DavError::forbidden(message(ANONYMOUS)),
        Some(user) => DavError::forbidden(message(user)),
    }
}

/// Refuses with 401 (no credentials) or 403 (logged in but not allowed).
pub fn require(ctx: &Ctx, path: &DavPath, need: Need) -> DavResult<()> {
    if allows(ctx, path, need) {
        return Ok(());
    }
    Err(refusal(ctx, |user| {
        format!("{user} may not {} {path}", need.verb())
    }))
}

/// Checks the resources the request names (the [`requirements`]) before the method runs.
pub fn check_request(ctx: &Ctx) -> DavResult<()> {
    for requirement in requirements(&ctx.request) {
        require(ctx, requirement.path, requirement.need)?;
    }
    Ok(())
}

/// Checks every member the request's tree operations touch (the [`requirements`] that reach
/// below their resource). Called by each tree method once it holds its latch, so that no member
/// can appear between the check and the change.
///
/// Only members in scopes with a rule of their own can be refused where the tree's root is
/// allowed, so only those are looked at: a scope whose rule refuses is touched when a resource
/// exists at it (or, for a tree written from a source, at its counterpart in the source), and
/// always by a deep lock ([`Extent::Reach`]), except a scope nobody may write (a history
/// view): a write lock there would stop no one, so it does not refuse the lock.
pub async fn require_members(ctx: &Ctx) -> DavResult<()> {
    for requirement in requirements(&ctx.request) {
        let tree = requirement.path;
        let (source, always) = match requirement.extent {
            Extent::Resource => continue,
            Extent::Tree => (None, false),
            Extent::Reach => (None, true),
            Extent::TreeFrom(source) => (Some(source), false),
        };
        for scope in refusing_scopes_below(ctx, tree, requirement.need) {
            if always && nobody_writes(ctx, &scope) {
                continue;
            }
            let touched = always
                || ctx.stat(&scope).await?.is_some()
                || match source.and_then(|source| scope.rebase(tree, source)) {
                    Some(counterpart) => ctx.stat(&counterpart).await?.is_some(),
                    None => false,
                };
            if touched {
                return Err(member_refusal(ctx, tree, &scope, requirement.need));
            }
        }
    }
    Ok(())
}

/// True if the rule in force at `scope` lets nobody write there.
fn nobody_writes(ctx: &Ctx, scope: &DavPath) -> bool {
    ctx.registry()
        .access(scope)
        .is_some_and(|rule| rule.write.is_empty())
}

/// Scopes strictly inside `tree` whose rule refuses `need` to the request's principal, in path
/// order.
fn refusing_scopes_below(ctx: &Ctx, tree: &DavPath, need: Need) -> Vec<DavPath> {
    let principal = ctx.client.principal.as_deref();
    ctx.registry()
        .rules_below(tree)
        .into_iter()
        .filter(|(_, rule)| !admits(rule, principal, need))
        .map(|(scope, _)| scope.clone())
        .collect()
}

/// 403 naming `member`, a member of `tree`, unless the user may not read it: then its name
/// stays hidden and only the tree is named.
fn member_refusal(ctx: &Ctx, tree: &DavPath, member: &DavPath, need: Need) -> DavError {
    let visible = may_read(ctx, member);
    refusal(ctx, |user| {
        let verb = need.verb();
        let tree = tree.to_href(true);
        if visible {
            format!(
                "{user} may not {verb} {}, a member of {tree}",
                member.to_href(false)
            )
        } else {
            format!("{tree} holds members {user} may not {verb}")
        }
    })
}

/// The href to name `path` by in an answer: itself if the user may read it, otherwise its
/// nearest ancestor they may read (a lock root the user may not see is reported as the
/// collection that holds it), or the request's own URL.
pub fn disclosed_href(ctx: &Ctx, path: &DavPath) -> String {
    let mut at = Some(path.clone());
    while let Some(candidate) = at {
        if may_read(ctx, &candidate) {
            return candidate.to_href(&candidate != path);
        }
        at = candidate.parent();
    }
    ctx.path().to_href(false)
}

#[cfg(test)]
mod tests {
    use davd_registry::Grantee;

    use super::*;

    #[test]
    fn the_default_decision_is_the_rule_of_its_grantees() {
        for authentication in [false, true] {
            let grantee = if authentication {
                Grantee::Authenticated
            } else {
                Grantee::Anonymous
            };
            let rule = AccessRule {
                read: vec![grantee.clone()],
                write: vec![grantee],
            };
            for principal in [None, Some("alice")] {
                for need in [Need::Read, Need::Write] {
                    assert_eq!(
                        default_admits(authentication, principal),
                        admits(&rule, principal, need),
                        "{authentication} {principal:?} {need:?}"
                    );
                }
            }
        }
    }
}
