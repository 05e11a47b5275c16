//! PROPFIND: properties of a resource and, with Depth 1 or infinity, of its members.
//!
//! Plan: no queue (nothing changes). Checks: exists (404), Depth infinity allowed (403 with
//! `propfind-finite-depth` otherwise), a well-formed body (400), the If header (412).
//! The 207 is **streamed**: a task walks the tree and sends one batch of `response` elements
//! at a time through a small channel, so the first bytes leave at once and memory stays bounded
//! however large the collection. Dead properties of a collection's members come from one range
//! scan per collection, or, when they are too many to hold at once, one range scan per batch of
//! members as the listing goes (`crate::member_props`). A member collection that leads back to a
//! collection above it (a symbolic link cycle) is reported with 508 Loop Detected and not
//! entered (RFC 5842 §7.2). When the client goes away the walk stops at once.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use http::StatusCode;
use tokio::sync::mpsc;
use tracing::warn;

use davd_protocol::headers::Depth;
use davd_protocol::xml::{Condition, MultistatusWriter, PropfindBody};
use davd_protocol::{Body, ByteStream, DavPath, Response};
use davd_registry::{LockRecord, ResourceMeta, StoredProp, Subsystems};

use crate::context::Ctx;
use crate::dead_pages;
use crate::error::{DavError, DavResult};
use crate::listing_cache::{Recording, Shown, keepable, reaches_locks, stable_request};
use crate::member_props::{MEMBERS_PER_BATCH, MemberProps};
use crate::multistatus::propfind_prefixes;
use crate::policy::if_header;
use crate::propfind_cache::parse_propfind_recent;
use crate::props::{AllpropReach, propstats, propstats_reaching};
use crate::walk::{loop_detected, members, revisits_ancestor};

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

    // One resource: answer in one piece (headers and body leave in one write), unless its dead
    // properties are too large to hold at once.
    let depth = if meta.collection { depth } else { Depth::Zero };
    if depth == Depth::Zero {
        let subsystems = ctx.resolve(&path);
        // An answer kept from the resource as just stated, and the stores as they are now, is
        // served again; it shows no lock, and is rendered from the same empty lock table.
        let no_locks: &[LockRecord] = &[];
        let mut keeping = None;
        if !reaches_locks(&request) || subsystems.locks_covering(&path).await?.is_empty() {
            let shown = Shown::Resource(meta.clone());
            keeping = keepable(ctx, &path, &subsystems, text, &request, shown);
        }
        let cache = &ctx.exec.listing_cache;
        if let Some((key, fresh)) = &keeping {
            let kept = cache.get(key, fresh);
            crate::metrics::answer_cache(0, kept.is_some());
            if let Some(body) = kept {
                return Ok(Response::xml(StatusCode::MULTI_STATUS, Body::Full(body)));
            }
        }
        let known_locks = keeping.as_ref().map(|_| no_locks);
        let props = propstats(
            &path,
            &meta,
            &subsystems,
            &ctx.client,
            &request,
            None,
            known_locks,
        )
        .await?;
        unavailable(&props.stats)?;
        if props.large.is_none() {
            let mut writer = MultistatusWriter::for_one_resource(&propfind_prefixes(
                &request,
                AllpropReach::WithExtensions,
                &subsystems,
            ));
            writer.prop_response(&path.to_href(meta.collection), &props.stats);
            let body = writer.finish();
            let failed = props.stats.iter().any(|s| s.status.is_server_error());
            if let Some((key, fresh)) = keeping.filter(|_| !failed) {
                cache.insert(key, fresh, body.clone());
            }
            return Ok(Response::xml(StatusCode::MULTI_STATUS, Body::Full(body)));
        }
    }

    let subsystems = ctx.resolve(&path);
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    let mut walk = Walk {
        ctx: Ctx {
            exec: ctx.exec.clone(),
            request: ctx.request.clone(),
            client: ctx.client.clone(),
        },
        request,
        reach: AllpropReach::at(depth),
        tx,
        root_locks: None,
        recording: None,
    };
    // The locks around the collection are read before the answer starts: the lock table the
    // listing needs answers, or this is a 503.
    let root_locks = walk.locks_around(&path).await?;
    // A listing kept from sources as they are now is served again as it was rendered.
    if depth == Depth::One && root_locks.is_empty() {
        let relative = subsystems.relative(&path);
        // Asked only when the answer could be kept: a version may cost a directory scan.
        let worth_asking =
            ctx.exec.listing_cache.enabled() && stable_request(&walk.request, &subsystems);
        let version = match worth_asking {
            true => subsystems.namespace.listing_version(&relative).await?,
            false => None,
        };
        let shown = version.map(Shown::Listing);
        let keeping = match shown {
            Some(shown) => keepable(ctx, &path, &subsystems, text, &walk.request, shown),
            None => None,
        };
        if let Some((key, fresh)) = keeping {
            let cache = &ctx.exec.listing_cache;
            let kept = cache.get(&key, &fresh);
            crate::metrics::answer_cache(1, kept.is_some());
            if let Some(body) = kept {
                return Ok(Response::xml(StatusCode::MULTI_STATUS, Body::Full(body)));
            }
            walk.recording = Some(Mutex::new(Recording::new(cache, key, fresh)));
        }
    }
    walk.root_locks = Some(root_locks);
    // So are the collection's own dead properties, so that a store that cannot be read (a
    // cluster's database that is down) is a 503, not a 207 that shows a collection without
    // them. Only a page of them: a collection with more is written page by page, as a file is.
    let root_dead = match wants_dead(&walk.request, &subsystems) {
        true => {
            let page = subsystems
                .properties
                .get_page(&path, None, crate::props::PAGE_BYTES)
                .await?;
            (!page.more).then_some(page.props)
        }
        false => None,
    };
    tokio::spawn(walk.run(path, meta, depth, root_dead));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(Response::xml(
        StatusCode::MULTI_STATUS,
        Body::Stream(stream.boxed()),
    ))
}

/// The producer side of a streamed PROPFIND.
struct Walk {
    ctx: Ctx,
    request: Arc<PropfindBody>,
    /// The live properties an allprop returns: fewer in a listing than for one resource.
    reach: AllpropReach,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    /// The locks around the listed collection, read before the answer started.
    root_locks: Option<Vec<LockRecord>>,
    /// The answer copied aside to be kept (`crate::listing_cache`), when it may be.
    recording: Option<Mutex<Recording>>,
}

impl Walk {
    /// Walks and sends until done, or until the client has gone: the body's receiver is then
    /// dropped, and the walk stops at once, even inside a slow listing.
    async fn run(
        mut self,
        root: DavPath,
        meta: ResourceMeta,
        depth: Depth,
        root_dead: Option<Vec<StoredProp>>,
    ) {
        let tx = self.tx.clone();
        tokio::select! {
            () = self.walk(root, meta, depth, root_dead) => {}
            () = tx.closed() => {}
        }
    }

    async fn walk(
        &mut self,
        root: DavPath,
        meta: ResourceMeta,
        depth: Depth,
        root_dead: Option<Vec<StoredProp>>,
    ) {
        let resolved = self.ctx.resolve(&root);
        let prefixes = propfind_prefixes(&self.request, self.reach, &resolved);
        let mut writer = MultistatusWriter::new(&prefixes);
        // The collection shows the same locks as its members: those read before the answer
        // started (a kept listing shows none, and is kept only while there are none).
        let root_locks = self.root_locks.clone();
        let around = root_locks.as_deref().map(|locks| (&resolved, locks));
        if !self
            .write(&mut writer, &root, &meta, root_dead, around, false)
            .await
            || !self.send(&mut writer).await
        {
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
                        self.spoil();
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
        let last = writer.finish();
        self.record(&last);
        if self.tx.send(Ok(last)).await.is_ok() {
            self.keep();
        }
    }

    /// Copies a chunk of the answer aside, if it is being recorded.
    fn record(&self, chunk: &Bytes) {
        if let Some(Ok(mut recording)) = self.recording.as_ref().map(Mutex::lock) {
            recording.record(chunk);
        }
    }

    /// The answer shows something that must not be served again (an error, a member from
    /// another scope's stores): it is not kept.
    fn spoil(&self) {
        if let Some(Ok(mut recording)) = self.recording.as_ref().map(Mutex::lock) {
            recording.spoil();
        }
    }

    /// Keeps the complete answer, if it was recorded and not spoiled.
    fn keep(&mut self) {
        if let Some(Ok(recording)) = self.recording.take().map(Mutex::into_inner) {
            recording.keep(&self.ctx.exec.listing_cache);
        }
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
                        Some(fetched) if same => member.path.name().and_then(|n| fetched.take(n)),
                        _ => None,
                    };
                    let descend = depth == Depth::Infinity && member.meta.collection;
                    if descend && revisits_ancestor(&self.ctx, &member.path).await? {
                        // RFC 5842 §7.2: the binding that would loop is answered 508 instead
                        // of its properties, and the walk goes on elsewhere.
                        let refused = loop_detected(&member.path);
                        writer.status_response(
                            &member.path.to_href(true),
                            refused.status,
                            None,
                            Some(&refused.message),
                        );
                        continue;
                    }
                    let written = self
                        .write(
                            writer,
                            &member.path,
                            &member.meta,
                            member_dead,
                            Some((&subsystems, &known_locks)),
                            true,
                        )
                        .await;
                    if !written {
                        return Ok(false);
                    }
                    if descend {
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

    /// Writes one resource; false if the client went away while its large dead properties
    /// were being sent. `parent` holds what was resolved for the collection being listed
    /// (and the locks around it), reused for the collection itself and for its `member`s
    /// that are not scopes of their own.
    async fn write(
        &self,
        writer: &mut MultistatusWriter,
        path: &DavPath,
        meta: &ResourceMeta,
        dead: Option<Vec<StoredProp>>,
        parent: Option<(&Subsystems, &[LockRecord])>,
        member: bool,
    ) -> bool {
        let own;
        let (subsystems, known_locks) = match parent {
            Some((subsystems, locks)) if !member || !self.ctx.registry().is_scope(path) => {
                (subsystems, Some(locks))
            }
            _ => {
                if member {
                    // A member that is a scope of its own: its stores are not the ones whose
                    // freshness a kept listing was checked against.
                    self.spoil();
                }
                own = self.ctx.resolve(path);
                (&own, None)
            }
        };
        let props = propstats_reaching(
            path,
            meta,
            subsystems,
            &self.ctx.client,
            &self.request,
            self.reach,
            dead,
            known_locks,
        )
        .await;
        let href = path.to_href(meta.collection);
        match props {
            Ok(props) => {
                if props.stats.iter().any(|s| s.status.is_server_error()) {
                    self.spoil();
                }
                dead_pages::write_response(writer, self, path, &href, props, subsystems).await
            }
            Err(e) => {
                self.spoil();
                writer.status_response(&href, e.status, None, Some(&e.message));
                true
            }
        }
    }

    /// Sends what is written so far, then yields: the walk and the connection it writes to
    /// are otherwise always ready to run, and the other connections of this connection thread
    /// (ADR 0016) would wait, unnoticed, until tokio next looked for I/O on its own.
    async fn send(&self, writer: &mut MultistatusWriter) -> bool {
        let chunk = writer.take();
        self.record(&chunk);
        let sent = chunk.is_empty() || self.tx.send(Ok(chunk)).await.is_ok();
        tokio::task::yield_now().await;
        sent
    }
}

impl dead_pages::Sink for Walk {
    async fn send(&self, writer: &mut MultistatusWriter) -> bool {
        Walk::send(self, writer).await
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
