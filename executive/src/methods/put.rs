//! PUT: store a body at a URL.
//!
//! Checks: not a collection (405), parent exists (409), conditional headers (412; a
//! `ResourceTag` in the If header acts like If-Match, MS-WDVME 3.1.5.5), the bundled-lock
//! headers (400/412/423, `crate::ms::bundled`), lock tokens for the resource and, when it is
//! new, for the parent's membership (423; a `Lock-Token` header counts, MS-WDV 3.2.5.2), write
//! hooks.
//! These checks run twice: once before the body is read (so a refused upload is refused before
//! it is sent), then again under the path's latch. In between, the body is streamed into a
//! staging area (`NamespaceManager::stage`) without holding the latch (ADR 0012). What runs
//! under the latch is handed over as a turn, which runs on the thread of the request that
//! lets the path go when there is one (`Executive::latched`, ADR 0025).
//! Queue: [WriteContent (publish the staged body), RecordDocument, (PROPPATCH instructions),
//! (lock), CommitState]. Publishing renames the staged file over the old content, so readers
//! see old or new, never a mix; undo restores the old content. With `Content-Range` the
//! segment is written in place under the latch (resumable upload; not undoable).
//! RecordDocument gives the resource its next version (or a new document id), without a
//! flush of its own (`crate::ms::docid`). A plain PUT has one storage step and needs no
//! journal; with properties or a lock it is journaled, so that a crash between the content
//! and the rest puts the old content back (docs/adr/0017-crash-safety.md). On a mount that
//! keeps history, the fs kind makes the version just before publishing (a hard link); other
//! stores keep the replaced content as a version at commit, and such a PUT is journaled, so
//! that recovery keeps it if a crash comes first.
//! Answer: 201 Created or 204 No Content, with the new ETag, `ResourceTag` and `Repl-uid`,
//! and the bundled-lock headers.
//!
//! `X-OC-Mtime` (ownCloud's header, sent by sync clients and rclone): a `SetModified` after
//! the content gives the file the client's modification time, before the document version is
//! recorded (the entity tag changes with the time); the answer says `X-OC-Mtime: accepted`.
//!
//! `X-MSDAVEXT: PROPPATCH` (MS-WDV 3.2.5.5): the body is a PROPPATCH document followed by the
//! content. Both go into the one queue, so "the command SHOULD be successfully completed only
//! if both operations succeed" holds: a refused property fails the PUT with that property's
//! status (never a 207, which would read as success), the PROPPATCH multistatus as the body.

#[cfg(test)]
#[path = "put_tests.rs"]
mod tests;

use std::sync::Arc;

use http::StatusCode;

use davd_protocol::headers::{ContentRange, MsDavExt, OC_MTIME};
use davd_protocol::xml::{MultistatusWriter, PatchInstruction};
use davd_protocol::{Body, ByteStream, DavPath, PropName, Response};
use davd_registry::{ChangeKind, ResourceMeta, Subsystems, WriteKind, WriteMode};

use crate::commands::commit::CommitState;
use crate::commands::modified::SetModified;
use crate::commands::namespace::WriteContent;
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::instructions::{patch_report, push_instructions};
use crate::latch::{Claim, PendingLatch};
use crate::ms::bundled::{self, Form, Planned};
use crate::ms::docid::{self, RecordDocument};
use crate::ms::multipart;
use crate::ms::times;
use crate::multistatus::prefixes_for;
use crate::policy::locks::{Protected, require_tokens};
use crate::policy::{check_conditions, hooks};
use crate::queue::{Command, CommandQueue, Effects, QueueFailure};

/// Queue position of the first PROPPATCH instruction: after WriteContent and RecordDocument
/// (and a SetModified between them, when the client sends its time).
const FIRST_INSTRUCTION: usize = 2;

pub fn put(
    ctx: &Arc<Ctx>,
    body: ByteStream,
    content_range: Option<ContentRange>,
) -> impl Future<Output = DavResult<Response>> {
    // In a cluster, the reads and the document record's write under the latch ride the
    // latch's own transaction, committed before the answer: one connection and two round
    // trips fewer than a connection each (docs/scaling.md).
    davd_registry::carrying(carried_put(ctx, body, content_range))
}

async fn carried_put(
    ctx: &Arc<Ctx>,
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
    let lock = Form::of(ctx)?;
    let prefixed = ctx.request.ms.extension == Some(MsDavExt::Proppatch);
    let mode = match content_range {
        None => WriteMode::Replace,
        Some(_) if prefixed => {
            return Err(DavError::bad_request(
                "Content-Range cannot be combined with X-MSDAVEXT: PROPPATCH",
            ));
        }
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
    // The properties part is small (under the XML limit) and read before anything is checked,
    // as PROPPATCH reads its body; the content part stays streaming.
    let (body, instructions) = if prefixed {
        let split = multipart::read_put(ctx, body).await?;
        (split.content, split.instructions)
    } else {
        (body, Vec::new())
    };
    let names: Vec<PropName> = instructions.iter().map(|i| i.name().clone()).collect();
    let subsystems = ctx.resolve(&path);

    // Refuse early what would be refused anyway, before the client sends a byte of content
    // (with `Expect: 100-continue` it has not yet). A whole-content body is then received into
    // staging without holding the latch, so concurrent uploads to one path only queue for the
    // publish; everything is checked again under the latch, as the world may have changed.
    // A small body sent without waiting is already on its way: checking it early would save
    // nothing and cost what the check costs (a round trip to a cluster's database), so it is
    // received first and checked once, under the latch, with the same answers (a body the
    // store refuses is answered as the checks would have answered first).
    let existed_before = if checks_early(ctx, &mode) {
        Some(admit(ctx, &path, &lock, &names).await?.0.is_some())
    } else {
        None
    };
    let (content, known_etag) = match mode {
        WriteMode::Replace => {
            let staged = match subsystems
                .namespace
                .stage(&subsystems.relative(&path), body)
                .await
            {
                Ok(staged) => staged,
                Err(e) if existed_before.is_none() => {
                    admit(ctx, &path, &lock, &names).await?;
                    return Err(e.into());
                }
                Err(e) => return Err(e.into()),
            };
            let etag = staged.meta.as_ref().map(|m| m.etag.clone());
            (
                WriteContent::staged(subsystems.namespace.clone(), staged)
                    .keeping_history(subsystems.history.clone()),
                etag,
            )
        }
        segment => (
            WriteContent::new(
                subsystems.namespace.clone(),
                subsystems.relative(&path),
                body,
                segment,
            ),
            None,
        ),
    };
    let publishing = Publishing {
        path,
        lock,
        names,
        instructions,
        subsystems,
        existed_before,
        content,
        known_etag,
    };
    // What follows runs under the path's latch, handed to the executive as a turn: when it
    // has to wait, on the thread of the request that lets the path go (`Executive::latched`).
    let claims = vec![Claim::shallow(&publishing.path)];
    let (publishing, turn_ctx) = (Box::new(publishing), ctx.clone());
    let turn = move |pending| async move { publishing.run(&turn_ctx, pending).await };
    ctx.exec.latched(claims, turn).await?.respond(ctx).await
}

/// A PUT whose body is received, ready to be checked and published under the latch.
struct Publishing {
    path: DavPath,
    lock: Form,
    names: Vec<PropName>,
    instructions: Vec<PatchInstruction>,
    subsystems: Subsystems,
    existed_before: Option<bool>,
    content: WriteContent,
    known_etag: Option<String>,
}

impl Publishing {
    async fn run(self, ctx: &Ctx, pending: DavResult<PendingLatch>) -> DavResult<Published> {
        let pending = match pending {
            Ok(pending) => pending,
            Err(e) => return refused(self.content, e).await,
        };
        let Publishing {
            path,
            lock,
            names,
            instructions,
            subsystems,
            existed_before,
            content,
            known_etag,
        } = self;
        // The checks and the document record are independent reads: on a cluster's database
        // they go out together, right behind the request for the latch (one round trip for the
        // three). The record is read ahead unless the resource was missing a moment ago; a new
        // one needs none.
        let (granted, admitted, prefetched) =
            tokio::join!(pending.granted(), admit(ctx, &path, &lock, &names), async {
                match existed_before {
                    Some(false) => None,
                    _ => Some(docid::record(ctx, &path).await),
                }
            });
        let latch = match granted {
            Ok(latch) => latch,
            Err(e) => return refused(content, e.into()).await,
        };
        let admitted = match (admitted, prefetched) {
            (Ok((meta, planned)), Some(Ok(record))) if meta.is_some() => Ok((
                docid::after_write_of(ctx, &path, record.as_ref(), meta.as_ref()),
                planned,
                true,
            )),
            (Ok((meta, planned)), _) => docid::after_write(ctx, &path, meta.as_ref())
                .await
                .map(|record| (record, planned, meta.is_some())),
            (Err(e), _) => Err(e),
        };
        let (mut record, planned, existed) = match admitted {
            Ok(admitted) => admitted,
            Err(e) => return refused(content, e).await,
        };
        // Properties or a lock besides the content: two storage steps, so the queue is journaled.
        // So is a PUT whose replaced content becomes a version: after a crash between the new
        // content and the version, recovery keeps the version (`crate::history`).
        // Not where the store makes the version before the write (the fs kind), nor where nothing
        // survives a restart anyway (memory).
        let keeps_version = existed
            && subsystems.namespace.survives_restart()
            && subsystems
                .history
                .as_ref()
                .is_some_and(|kept| !kept.area.keeps_current());
        let with_state = !instructions.is_empty() || !planned.is_empty();
        let journaled = with_state || keeps_version;
        if journaled {
            // Each store commits such a batch with its journal marker, on its own.
            davd_registry::stop_carrying();
        }
        let (mut queue, held) = match journaled {
            true => (
                CommandQueue::journaled(ctx.exec.clone(), "PUT", &path, latch),
                None,
            ),
            false => (CommandQueue::new(), Some(latch)),
        };
        queue.changes(&subsystems.properties, &path, ChangeKind::Resource);
        // ownCloud's header, or Windows' time among the prefixed properties: one stored time.
        let client_mtime = ctx
            .request
            .client_mtime
            .or_else(|| times::requested_modified(&instructions));
        let first_instruction = FIRST_INSTRUCTION + usize::from(client_mtime.is_some());
        let answer = match known_etag {
            // The entity tag of the staged content is known: record the version first, so that
            // publishing can be the queue's last step and need no backup of the old content.
            // (Not when the client's time is set after it: that changes the entity tag.)
            Some(etag) if !journaled && client_mtime.is_none() => {
                record.etag = etag;
                queue.push(RecordDocument::new(&subsystems, &path, record, false));
                queue.push(CommitState::without_flush());
                queue.push(content);
                planned.push_into(&mut queue)
            }
            _ => {
                queue.push(if journaled {
                    content.journaled(&path, existed)
                } else {
                    content
                });
                if let Some(modified) = client_mtime {
                    queue.push(SetModified::new(&subsystems, &path, modified));
                }
                queue.push(RecordDocument::new(&subsystems, &path, record, true));
                push_instructions(&mut queue, &subsystems, &path, instructions);
                let answer = planned.push_into(&mut queue);
                // Properties and locks are on disk before the answer. The document record alone
                // is best effort, journaled or not (docs/adr/0007-document-ids.md): a PUT
                // journaled only for its version does not pay a flush of the state database.
                queue.push(match with_state {
                    true => CommitState::durable(),
                    false => CommitState::without_flush(),
                });
                answer
            }
        };
        let store_before = docid::state_before_write(&subsystems.properties);
        let mut effects = match queue.run().await {
            Ok(effects) => effects,
            Err(failure) if !names.is_empty() => {
                return property_failure(ctx, &names, failure, first_instruction)
                    .map(Published::Refused);
            }
            Err(failure) => return Err(failure.into_error()),
        };
        if let Some(record) = &effects.document {
            docid::remember_written(store_before, &subsystems.properties, &path, record);
        }
        if let Some(latch) = held {
            latch.commit().await?;
        }
        crate::sync::record(std::mem::take(&mut effects.changes)).await;
        Ok(Published::Written { effects, answer })
    }
}

/// How a PUT's turn ended, its latch let go: what its answer is made of.
#[allow(
    clippy::large_enum_variant,
    reason = "the large variant is every PUT's: boxing it would cost each an allocation"
)]
enum Published {
    /// The content was written.
    Written {
        effects: Effects,
        answer: bundled::Answer,
    },
    /// A property sent with the content failed, and nothing was written: the 207 that says
    /// which.
    Refused(Response),
}

impl Published {
    /// The answer, made in the request's own task once its turn has ended. A turn handed over
    /// runs in a chain on another request's thread, with the turns queued behind it waiting
    /// for it to end, though the latch is let go already: the headers, the owner's lock token
    /// and the close of the replaced file (freeing its inode, tens of microseconds of the
    /// kernel's time) need not keep them waiting.
    async fn respond(self, ctx: &Ctx) -> DavResult<Response> {
        let (effects, answer) = match self {
            Published::Written { effects, answer } => (effects, answer),
            Published::Refused(response) => return Ok(response),
        };
        let mut response = Response::new(if effects.created {
            StatusCode::CREATED
        } else {
            StatusCode::NO_CONTENT
        });
        if let Some(meta) = &effects.meta {
            crate::validators::set_etag(&mut response, &meta.etag);
        }
        if effects.modified_set && ctx.request.client_mtime.is_some() {
            response.set_header(OC_MTIME, "accepted");
        }
        if let Some(record) = &effects.document {
            docid::add_headers(&mut response, &docid::recorded(record), true);
        }
        let answer = answer.with_owner_token(ctx, ctx.path()).await;
        answer.add_headers(&mut response);
        Ok(response)
    }
}

/// Lets the staged body go (the PUT was refused under the latch, or never got it) and answers
/// `error`.
async fn refused<T>(mut content: WriteContent, error: DavError) -> DavResult<T> {
    content.abandon().await;
    Err(error)
}

/// Bodies up to this size, sent without `Expect: 100-continue`, are received before anything
/// is checked: a client that does not wait has sent most of such a body before the check could
/// answer, so refusing it early saves the client nothing.
const SMALL_BODY: u64 = 64 * 1024;

/// Whether [`admit`] runs before the body is received as well as under the latch.
fn checks_early(ctx: &Ctx, mode: &WriteMode) -> bool {
    let body = &ctx.request.body;
    let small = body.length.is_some_and(|n| n <= SMALL_BODY);
    !(matches!(mode, WriteMode::Replace) && small && !body.awaits_continue)
}

/// Everything that decides whether this PUT may happen: the target is not a collection (405),
/// its parent exists (409), conditional headers (412), the bundled-lock plan (400/412/423),
/// lock tokens (423) and write hooks. Returns the target's metadata and the lock plan.
async fn admit(
    ctx: &Ctx,
    path: &DavPath,
    lock: &Form,
    names: &[PropName],
) -> DavResult<(Option<ResourceMeta>, Planned)> {
    let meta = ctx.stat(path).await?;
    if meta.as_ref().is_some_and(|m| m.collection) {
        return Err(DavError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "cannot PUT onto a collection",
        ));
    }
    if meta.is_none() {
        // An existing resource has a parent collection; only a new one needs the check (409).
        ctx.require_parent_collection(path).await?;
    }
    check_conditions(ctx, path, meta.as_ref(), false).await?;
    let planned = bundled::plan(ctx, path, lock).await?;
    let mut protected = vec![Protected::Resource(path.clone())];
    if meta.is_none()
        && let Some(parent) = path.parent()
    {
        protected.push(Protected::Membership(parent));
    }
    require_tokens(ctx, &protected).await?;
    hooks::before_write(ctx, path, false, WriteKind::Content).await?;
    if meta.is_none() {
        hooks::before_membership_change(ctx, path).await?;
    }
    if !names.is_empty() {
        hooks::before_write(ctx, path, false, WriteKind::Properties(names.to_vec())).await?;
    }
    Ok((meta, planned))
}

/// The answer to a prefix-encoded PUT whose queue failed. A failed instruction fails the whole
/// request with its own status, and the PROPPATCH multistatus says which property it was.
fn property_failure(
    ctx: &Ctx,
    names: &[PropName],
    failure: QueueFailure,
    first: usize,
) -> DavResult<Response> {
    let propstats = patch_report(names, Err(failure), first)?;
    let status = propstats
        .iter()
        .map(|p| p.status)
        .find(|s| *s != StatusCode::FAILED_DEPENDENCY)
        .ok_or_else(|| DavError::internal("a property failed without a status"))?;
    let mut writer = MultistatusWriter::for_one_resource(&prefixes_for(names));
    writer.prop_response(&ctx.path().to_href(false), &propstats);
    Ok(Response::xml(status, Body::Full(writer.finish())))
}
