//! REPORT: RFC 6578's `sync-collection`, "what changed below this collection since my token".
//!
//! Plan: no queue (nothing changes). Checks: exists (404), a collection in a scope whose
//! property store keeps a change log, a well-formed body naming `sync-collection` (403
//! `supported-report` for any other report, 400 for a bad one), the If header (412), a token
//! this log handed out and still covers (403 `valid-sync-token`).
//!
//! Without a token every member is reported. With one, the change log's entries after it
//! are read (`davd_registry::ChangeLog::since`) and each path they name is reported **as it is
//! now**: with the properties asked for if it exists, with 404 if not. An answer holds at most
//! the client's `limit` of responses (and at most [`MOST_RESPONSES`] of davd's own); the
//! rest is left to the next report, which the answer's 507 response for the collection and
//! its token lead to (RFC 6578 §3.6).

use std::collections::HashSet;

use http::StatusCode;

use davd_protocol::sync_token::Place;
use davd_protocol::xml::{
    Condition, MultistatusWriter, PropfindBody, ReportBody, SyncCollection, SyncLevel, parse_report,
};
use davd_protocol::{Body, ByteStream, DavPath, Response};
use davd_registry::{ChangeKind, ChangeLog, ResourceMeta, Since, SyncPoint};

use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::multistatus::propfind_prefixes;
use crate::policy::{access, if_header};
use crate::props::{AllpropReach, propstats_reaching};
use crate::sync::Token;
use crate::walk::TreeWalk;

/// The most responses one answer holds when the client sets no lower `limit`: the answer is
/// built whole before it is sent, so this bounds its memory (about 300 bytes a response).
pub const MOST_RESPONSES: usize = 10_000;

/// Entries read from the change log at a time.
const ENTRIES_PER_READ: usize = 1_000;

pub async fn report(ctx: &Ctx, body: ByteStream) -> DavResult<Response> {
    let path = ctx.path().clone();
    let meta = ctx.stat(&path).await?.ok_or_else(DavError::not_found)?;
    let text = ctx.read_xml_body(body).await?;
    let text =
        davd_protocol::xml::body_text(&text).map_err(|e| DavError::bad_request(e.to_string()))?;
    let sync = match parse_report(text, &ctx.exec.config.xml_limits)
        .map_err(|e| DavError::bad_request(e.to_string()))?
    {
        ReportBody::SyncCollection(sync) => sync,
        ReportBody::Other(name) => {
            return Err(unsupported(format!(
                "davd answers the sync-collection report only, not {{{}}}{}",
                name.namespace, name.local
            )));
        }
    };
    if !meta.collection {
        return Err(unsupported(format!(
            "sync-collection reports on a collection, and {} is not one",
            path.to_href(false)
        )));
    }
    if let Some(header) = &ctx.request.conditions.if_header {
        if_header::evaluate(ctx, header, &path).await?;
    }
    let subsystems = ctx.resolve(&path);
    let Some(log) = subsystems.properties.change_log() else {
        return Err(unsupported(format!(
            "the property store of {} ({}) keeps no change log",
            path.to_href(true),
            subsystems.properties.kind()
        )));
    };
    let token = match &sync.token {
        None => None,
        Some(text) => Some(Token::parse(text).ok_or_else(|| invalid_token(text))?),
    };
    let limit = sync
        .limit
        .map_or(MOST_RESPONSES, |n| (n as usize).min(MOST_RESPONSES));
    let mut answer = Answer::new(ctx, &path, &sync, limit);
    let next = match token {
        None => {
            let start = log.current().await?;
            answer.list_members(start, None).await?
        }
        Some(Token {
            point,
            place: Some(Place::Listing(last)),
        }) => {
            // Still this log's point, or the listing must start again.
            match log.since(&point, &path, 1).await? {
                Since::Unknown => return Err(invalid_token(&sync.token.unwrap_or_default())),
                Since::Changes { .. } => answer.list_members(point, Some(last)).await?,
            }
        }
        Some(Token { point, place }) => {
            let token_text = sync.token.clone().unwrap_or_default();
            let within = match place {
                Some(Place::Change(last)) => Some(last),
                _ => None,
            };
            answer
                .changes_since(log, point, &token_text, within)
                .await?
        }
    };
    Ok(answer.finish(next))
}

/// How far [`Answer::report_walk`] got.
enum Walked {
    /// Every member was reported.
    Done,
    /// The answer filled up; `last` is the last member reported (`None`: none of the walk's).
    Full { last: Option<DavPath> },
}

/// Where the next report starts, and whether this one stopped short.
struct Next {
    token: Token,
    truncated: bool,
}

/// A report's answer as it is written.
struct Answer<'a> {
    ctx: &'a Ctx,
    collection: &'a DavPath,
    level: SyncLevel,
    props: &'a PropfindBody,
    /// The client asked for no more than this (or davd's own bound).
    limit: usize,
    writer: MultistatusWriter,
    reported: HashSet<DavPath>,
    scope: DavPath,
}

impl<'a> Answer<'a> {
    fn new(ctx: &'a Ctx, collection: &'a DavPath, sync: &'a SyncCollection, limit: usize) -> Self {
        let subsystems = ctx.resolve(collection);
        let prefixes = propfind_prefixes(&sync.props, AllpropReach::Rfc4918, &subsystems);
        Answer {
            ctx,
            collection,
            level: sync.level,
            props: &sync.props,
            limit,
            writer: MultistatusWriter::new(&prefixes),
            reported: HashSet::new(),
            scope: subsystems.scope,
        }
    }

    /// True if `path` is reported by this collection's log: in the same scope (a scope
    /// mounted below keeps a log of its own, or none), and readable by the client.
    fn follows(&self, path: &DavPath) -> bool {
        self.ctx.registry().namespace(path).0 == &self.scope && access::may_read(self.ctx, path)
    }

    /// Every member (at the report's level), in walk order (`crate::walk::TreeWalk`: a
    /// collection before its members, siblings by name), from after `after`; `start` is the
    /// log's point read before the listing began. The walk stops at the answer's limit, so a
    /// page costs the members it reports (and the directories on the way to the first), not
    /// the whole tree.
    async fn list_members(&mut self, start: SyncPoint, after: Option<DavPath>) -> DavResult<Next> {
        let depth = match self.level {
            SyncLevel::Infinite => usize::MAX,
            SyncLevel::One => 1,
        };
        let next = match self.report_walk(self.collection, after, depth).await? {
            Walked::Done => Next {
                token: Token::at(start),
                truncated: false,
            },
            Walked::Full { last } => Next {
                token: Token {
                    point: start,
                    place: last.map(Place::Listing),
                },
                truncated: true,
            },
        };
        Ok(next)
    }

    /// Reports every member below `root`, to `depth` levels, in walk order after `after`
    /// (`crate::walk::TreeWalk`), until the answer is full. What the answer holds already is
    /// not reported again; scopes mounted below keep logs of their own (or none) and are not
    /// walked into.
    async fn report_walk(
        &mut self,
        root: &DavPath,
        after: Option<DavPath>,
        depth: usize,
    ) -> DavResult<Walked> {
        let base = root.depth();
        let mut walk = TreeWalk::after(self.ctx, root, after).await?;
        let mut last = None;
        let (ctx, scope) = (self.ctx, self.scope.clone());
        let enter = |path: &DavPath| {
            path.depth() - base < depth && ctx.registry().namespace(path).0 == &scope
        };
        while let Some(member) = walk.next(enter).await? {
            if self.reported.contains(&member.path) || !self.follows(&member.path) {
                continue;
            }
            if self.reported.len() == self.limit {
                return Ok(Walked::Full { last });
            }
            self.changed(&member.path, &member.meta).await?;
            last = Some(member.path);
        }
        Ok(Walked::Done)
    }

    /// The members that changed after `point`, as they are now. `within`: the first change
    /// after the point covers a tree that an earlier answer reported up to this member.
    async fn changes_since(
        &mut self,
        log: &dyn ChangeLog,
        point: SyncPoint,
        token_text: &str,
        mut within: Option<DavPath>,
    ) -> DavResult<Next> {
        let mut from = point;
        loop {
            let (changes, upto, more) =
                match log.since(&from, self.collection, ENTRIES_PER_READ).await? {
                    Since::Unknown => return Err(invalid_token(token_text)),
                    Since::Changes {
                        changes,
                        upto,
                        more,
                    } => (changes, upto, more),
                };
            for entry in changes {
                let resume = within.take();
                let (path, kind) = (&entry.change.path, entry.change.kind);
                if !path.is_strictly_within(self.collection) {
                    // The collection's own properties are not a member's change; a tree
                    // replaced at or above it changed every member the client knows.
                    if kind == ChangeKind::Tree {
                        return Err(replaced(self.collection, token_text));
                    }
                    continue;
                }
                if self.level == SyncLevel::One && path.parent().as_ref() != Some(self.collection) {
                    continue;
                }
                if !self.follows(path) {
                    continue;
                }
                // Everything before this entry is answered: a page that stops here hands out
                // the point just before it.
                let before = SyncPoint {
                    epoch: from.epoch.clone(),
                    seq: entry.seq - 1,
                };
                let meta = self.ctx.stat(path).await?;
                if kind == ChangeKind::Tree
                    && self.level == SyncLevel::Infinite
                    && let Some(collection) = meta.as_ref().filter(|m| m.collection)
                {
                    if let Some(next) = self.tree(path, collection, before, resume).await? {
                        return Ok(next);
                    }
                    continue;
                }
                if self.reported.contains(path) {
                    continue;
                }
                if self.reported.len() == self.limit {
                    return Ok(Next {
                        token: Token::at(before),
                        truncated: true,
                    });
                }
                match meta {
                    Some(meta) => self.changed(path, &meta).await?,
                    None => self.removed(path, kind),
                }
            }
            from = upto;
            if !more {
                return Ok(Next {
                    token: Token::at(from),
                    truncated: false,
                });
            }
        }
    }

    /// A change that covers the tree at `path` (a collection copied or moved in): the
    /// collection and every member below it, as they are now, walked a collection at a time
    /// and after `resume` when an earlier answer stopped inside this change. An answer that
    /// fills up here stops inside the change (`Some`): its token is the point `before` the
    /// change and the last member reported, so a tree larger than any answer is paged like
    /// a first sync.
    async fn tree(
        &mut self,
        path: &DavPath,
        meta: &ResourceMeta,
        before: SyncPoint,
        resume: Option<DavPath>,
    ) -> DavResult<Option<Next>> {
        let full = |last: Option<DavPath>| Next {
            token: Token {
                point: before.clone(),
                place: last.map(Place::Change),
            },
            truncated: true,
        };
        if resume.is_none() && !self.reported.contains(path) {
            if self.reported.len() == self.limit {
                return Ok(Some(full(None)));
            }
            self.changed(path, meta).await?;
        }
        // Stopped before any member: the next answer goes on after the last one reported
        // earlier, or after the collection itself.
        let from = resume.clone().unwrap_or_else(|| path.clone());
        Ok(match self.report_walk(path, resume, usize::MAX).await? {
            Walked::Done => None,
            Walked::Full { last } => Some(full(Some(last.unwrap_or(from)))),
        })
    }

    async fn changed(&mut self, path: &DavPath, meta: &ResourceMeta) -> DavResult<()> {
        let subsystems = self.ctx.resolve(path);
        let props = propstats_reaching(
            path,
            meta,
            &subsystems,
            &self.ctx.client,
            self.props,
            AllpropReach::Rfc4918,
            None,
            None,
        )
        .await?;
        if let Some(stat) = props
            .stats
            .iter()
            .find(|s| s.status == StatusCode::SERVICE_UNAVAILABLE)
        {
            return Err(DavError::unavailable(
                stat.description
                    .clone()
                    .unwrap_or_else(|| "a store this report needs is unavailable".into()),
            ));
        }
        self.writer
            .prop_response(&path.to_href(meta.collection), &props.stats);
        self.reported.insert(path.clone());
        Ok(())
    }

    /// RFC 6578 §3.5.2: a member removed is reported with 404 and nothing else; a removed
    /// collection stands for everything below it.
    fn removed(&mut self, path: &DavPath, kind: ChangeKind) {
        let href = path.to_href(kind == ChangeKind::Tree);
        self.writer
            .status_response(&href, StatusCode::NOT_FOUND, None, None);
        self.reported.insert(path.clone());
    }

    fn finish(mut self, next: Next) -> Response {
        if next.truncated {
            self.writer.status_response(
                &self.collection.to_href(true),
                StatusCode::INSUFFICIENT_STORAGE,
                Some(&Condition::Other("number-of-matches-within-limits")),
                Some("more changes follow: report again from this answer's sync-token"),
            );
        }
        self.writer.sync_token(&next.token.render());
        Response::xml(StatusCode::MULTI_STATUS, Body::Full(self.writer.finish()))
    }
}

/// RFC 3253 §3.6: a report this resource does not support.
fn unsupported(message: String) -> DavError {
    DavError::with_condition(
        StatusCode::FORBIDDEN,
        Condition::Other("supported-report"),
        message,
    )
}

/// RFC 6578 §3.2: a token this log did not hand out, or no longer covers; the client starts
/// again with an empty token.
fn invalid_token(token: &str) -> DavError {
    DavError::with_condition(
        StatusCode::FORBIDDEN,
        Condition::Other("valid-sync-token"),
        format!(
            "the sync-token {token:?} is not one this collection's change log covers (too old, \
             from before a restart that lost changes, or from elsewhere); sync again without a \
             token"
        ),
    )
}

/// The collection itself was replaced, or one above it: every member may be new.
fn replaced(collection: &DavPath, token: &str) -> DavError {
    DavError::with_condition(
        StatusCode::FORBIDDEN,
        Condition::Other("valid-sync-token"),
        format!(
            "{} was replaced whole since the sync-token {token:?}; sync again without a token",
            collection.to_href(true)
        ),
    )
}
