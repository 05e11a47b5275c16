//! PROPFIND: properties of a resource and, with Depth 1 or infinity, of its members.
//!
//! Plan: no queue (nothing changes). Checks: exists (404), Depth infinity allowed (403 with
//! `propfind-finite-depth` otherwise), a well-formed body (400), the If header (412).
//! The 207 is **streamed**: a task walks the tree and sends one batch of `response` elements
//! at a time through a small channel, so the first bytes leave at once and memory stays bounded
//! however large the collection. Dead properties of a collection's members come from one range
//! scan per collection, or, when they are too many to hold at once, one range scan per batch of
//! members as the listing goes (`crate::member_props`).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http::StatusCode;
use tokio::sync::mpsc;
use tracing::warn;

use davd_protocol::headers::Depth;
use davd_protocol::xml::{Condition, MultistatusWriter, PropfindBody, parse_propfind_recent};
use davd_protocol::{Body, ByteStream, DavPath, Response};
use davd_registry::{LockRecord, ResourceMeta, StoredProp, Subsystems};

use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::member_props::{MEMBERS_PER_BATCH, MemberProps};
use crate::policy::if_header;
use crate::props::propstats;
use crate::walk::members;

/// Namespace prefixes declared on every multistatus root besides `D`: Microsoft's three
/// (MS-WDVME 2.2.10), so that `Z:Win32FileAttributes` and the `Repl:`/`Office:` properties
/// come out with the prefixes Windows and Office expect.
pub const RESPONSE_PREFIXES: &[(&str, &str)] = crate::ms::PREFIXES;

pub async fn propfind(ctx: &Ctx, body: ByteStream, depth: Depth) -> DavResult<Response> {
    if depth == Depth::Infinity && !ctx.exec.config.propfind_infinity {
        return Err(DavError::with_condition(
            StatusCode::FORBIDDEN,
            Condition::PropfindFiniteDepth,
            "Depth: infinity PROPFIND is switched off on this server",
        ));
    }
    let path = ctx.path().clone();
    let meta = ctx.stat(&path).await?.ok_or_else(DavError::not_found)?;
    let text = ctx.read_xml_body(body).await?;
    let text =
        davd_protocol::xml::body_text(&text).map_err(|e| DavError::bad_request(e.to_string()))?;
    let request = parse_propfind_recent(text, &ctx.exec.config.xml_limits)
        .map_err(|e| DavError::bad_request(e.to_string()))?;
    if let Some(header) = &ctx.request.conditions.if_header {
        if_header::evaluate(ctx, header, &path).await?;
    }

    // One resource: answer in one piece (headers and body leave in one write).
    if depth == Depth::Zero || !meta.collection {
        let subsystems = ctx.resolve(&path);
        let stats = propstats(&path, &meta, &subsystems, &ctx.client, &request, None, None).await?;
        unavailable(&stats)?;
        let mut writer = MultistatusWriter::new(RESPONSE_PREFIXES);
        writer.prop_response(&path.to_href(meta.collection), &stats);
        return Ok(Response::xml(
            StatusCode::MULTI_STATUS,
            Body::Full(writer.finish()),
        ));
    }

    // The collection's own dead properties are read before the answer starts, so that a store
    // that cannot be read (a cluster's database that is down) is a 503, not a 207 that shows
    // a collection without them.
    let subsystems = ctx.resolve(&path);
    let root_dead = match wants_dead(&request, &subsystems) {
        true => Some(subsystems.properties.get_all(&path).await?),
        false => None,
    };
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    let mut walk = Walk {
        ctx: Ctx {
            exec: ctx.exec.clone(),
            request: ctx.request.clone(),
            client: ctx.client.clone(),
        },
        request,
        tx,
        root_locks: None,
    };
    // So are the locks around it: the lock table the listing needs answers, or this is a 503.
    walk.root_locks = Some(walk.locks_around(&path).await?);
    tokio::spawn(walk.run(path, meta, depth, root_dead));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(Response::xml(
        StatusCode::MULTI_STATUS,
        Body::Stream(stream.boxed()),
    ))
}

/// The body a `Depth: 0` allprop PROPFIND of `path` would get, rendered whole: the properties
/// part of a `multipart/MSDAVEXTPrefixEncoded` answer (MS-WDV 2.2.5 wants exactly that).
pub async fn allprop_document(ctx: &Ctx, path: &DavPath, meta: &ResourceMeta) -> DavResult<Bytes> {
    let subsystems = ctx.resolve(path);
    let allprop = PropfindBody::AllProp { include: vec![] };
    let stats = propstats(path, meta, &subsystems, &ctx.client, &allprop, None, None).await?;
    let mut writer = MultistatusWriter::new(RESPONSE_PREFIXES);
    writer.prop_response(&path.to_href(meta.collection), &stats);
    Ok(writer.finish())
}

/// The producer side of a streamed PROPFIND.
struct Walk {
    ctx: Ctx,
    request: Arc<PropfindBody>,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    /// The locks around the listed collection, read before the answer started.
    root_locks: Option<Vec<LockRecord>>,
}

impl Walk {
    async fn run(
        mut self,
        root: DavPath,
        meta: ResourceMeta,
        depth: Depth,
        root_dead: Option<Vec<StoredProp>>,
    ) {
        let mut writer = MultistatusWriter::new(RESPONSE_PREFIXES);
        self.write(&mut writer, &root, &meta, root_dead, None).await;
        if !self.send(&mut writer).await {
            return;
        }
        if depth != Depth::Zero && meta.collection {
            let mut pending = vec![root];
            while let Some(collection) = pending.pop() {
                match self
                    .collection(&mut writer, &collection, depth, &mut pending)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return, // the client went away
                    Err(e) => {
                        warn!(path = %collection, error = %e, "PROPFIND stopped listing a collection");
                        writer.status_response(
                            &collection.to_href(true),
                            e.status,
                            e.condition.as_ref(),
                            Some(&e.message),
                        );
                    }
                }
            }
        }
        let _ = self.tx.send(Ok(writer.finish())).await;
    }

    /// Writes the members of `collection`; returns false if the client is gone.
    async fn collection(
        &mut self,
        writer: &mut MultistatusWriter,
        collection: &DavPath,
        depth: Depth,
        pending: &mut Vec<DavPath>,
    ) -> DavResult<bool> {
        let subsystems = self.ctx.resolve(collection);
        let known_locks = match self.root_locks.take() {
            Some(locks) => locks,
            None => self.locks_around(collection).await?,
        };
        let mut dead = if wants_dead(&self.request, &subsystems) {
            let budget = self.ctx.exec.config.listing_dead_budget;
            let reader =
                MemberProps::open(subsystems.properties.clone(), collection.clone(), budget);
            Some(reader.await?)
        } else {
            // Not read here; a handler that needs one property asks for it alone.
            None
        };
        let mut batches = members(&self.ctx, collection).await?;
        while let Some(batch) = batches.next().await {
            let mut rest = batch?;
            // Sorted, so that each batch of dead properties is one range scan of the store.
            // Siblings share their parent's prefix, so whole paths sort as their names do,
            // without finding the last `/` twice per comparison.
            rest.sort_unstable_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
            while !rest.is_empty() {
                let tail = rest.split_off(rest.len().min(MEMBERS_PER_BATCH));
                let chunk = std::mem::replace(&mut rest, tail);
                // Members whose properties live in another store (a mounted scope) are read
                // by `propstats` on their own.
                let same_store: Vec<bool> = chunk
                    .iter()
                    .map(|member| {
                        let store = self.ctx.registry().properties(&member.path);
                        Arc::ptr_eq(store, &subsystems.properties)
                    })
                    .collect();
                let mut chunk_dead = match &mut dead {
                    Some(reader) => {
                        let names: Vec<&str> = chunk
                            .iter()
                            .zip(&same_store)
                            .filter(|(_, same)| **same)
                            .filter_map(|(member, _)| member.path.name())
                            .collect();
                        Some(reader.fetch(&names).await?)
                    }
                    None => None,
                };
                for (member, same) in chunk.into_iter().zip(same_store) {
                    let member_dead = match &mut chunk_dead {
                        Some(found) if same => Some(
                            member
                                .path
                                .name()
                                .and_then(|n| found.remove(n))
                                .unwrap_or_default(),
                        ),
                        _ => None,
                    };
                    self.write(
                        writer,
                        &member.path,
                        &member.meta,
                        member_dead,
                        Some((&subsystems, &known_locks)),
                    )
                    .await;
                    if depth == Depth::Infinity && member.meta.collection {
                        pending.push(member.path);
                    }
                }
                if !self.send(writer).await {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Every lock that could cover a member of `collection`: those covering the collection and
    /// those rooted below it. One look-up per listed collection instead of one per member.
    async fn locks_around(&self, collection: &DavPath) -> DavResult<Vec<LockRecord>> {
        let mut locks = self
            .ctx
            .resolve(collection)
            .locks_covering(collection)
            .await?;
        for manager in self.ctx.registry().lock_managers_below(collection) {
            for lock in manager.below(collection).await? {
                if !locks.iter().any(|l| l.token == lock.token) {
                    locks.push(lock);
                }
            }
        }
        Ok(locks)
    }

    /// Writes one resource. `parent` holds what was resolved for the collection being listed,
    /// reused for members that are not scopes of their own.
    async fn write(
        &self,
        writer: &mut MultistatusWriter,
        path: &DavPath,
        meta: &ResourceMeta,
        dead: Option<Vec<StoredProp>>,
        parent: Option<(&Subsystems, &[LockRecord])>,
    ) {
        let own;
        let (subsystems, known_locks) = match parent {
            Some((subsystems, locks)) if !self.ctx.registry().is_scope(path) => {
                (subsystems, Some(locks))
            }
            _ => {
                own = self.ctx.resolve(path);
                (&own, None)
            }
        };
        let stats = propstats(
            path,
            meta,
            subsystems,
            &self.ctx.client,
            &self.request,
            dead,
            known_locks,
        )
        .await;
        match stats {
            Ok(stats) => writer.prop_response(&path.to_href(meta.collection), &stats),
            Err(e) => writer.status_response(
                &path.to_href(meta.collection),
                e.status,
                None,
                Some(&e.message),
            ),
        }
    }

    /// Sends what is written so far, then yields: the walk and the connection it writes to
    /// are otherwise always ready to run, and the other connections of this connection thread
    /// (ADR 0016) would wait, unnoticed, until tokio next looked for I/O on its own.
    async fn send(&self, writer: &mut MultistatusWriter) -> bool {
        let chunk = writer.take();
        let sent = chunk.is_empty() || self.tx.send(Ok(chunk)).await.is_ok();
        tokio::task::yield_now().await;
        sent
    }
}

/// A property that failed because a store it needs is unavailable (503, a cluster's database
/// that is down) fails a one-resource PROPFIND as a whole, with `Retry-After`: the client is
/// to try again, not to take the property for missing.
fn unavailable(stats: &[davd_protocol::xml::PropStat]) -> DavResult<()> {
    match stats
        .iter()
        .find(|s| s.status == StatusCode::SERVICE_UNAVAILABLE)
    {
        Some(stat) => Err(DavError::unavailable(
            stat.description
                .clone()
                .unwrap_or_else(|| "a store this request needs is unavailable".into()),
        )),
        None => Ok(()),
    }
}

/// Whether the request needs dead properties at all: a request that names only properties
/// live handlers own does not, and then no store is scanned.
fn wants_dead(request: &PropfindBody, subsystems: &Subsystems) -> bool {
    match request {
        PropfindBody::Prop(names) => names.iter().any(|n| subsystems.handler_for(n).is_none()),
        _ => true,
    }
}
