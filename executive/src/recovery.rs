//! Recovery: finishing or undoing the requests a crash interrupted, before the server serves
//! (docs/adr/0017-crash-safety.md).
//!
//! For each record left in the journal ([`crate::intent`]):
//!
//! - **committed** (the record says so, or the first of its stores that survives a restart
//!   holds its marker): the request is finished. Later batches whose store lacks the marker
//!   are applied (at startup, not those of stores that keep nothing across a restart: what
//!   they held is gone, and a fragment of it would attach properties or locks to paths whose
//!   resources went with it), and the trees it detached are purged.
//! - otherwise nothing of its property and lock changes is in any store that survived
//!   (batches go in order, durable stores first, each flushed before the next is applied),
//!   and its namespace steps are undone in reverse: detached trees are restored, renames
//!   renamed back, what it created removed.
//!
//! Every step is safe to repeat, so a crash during recovery is recovered from the same way.
//! Then every namespace discards what crashed requests left behind (staged uploads, backups)
//! and every store forgets the markers of finished requests.

use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info, warn};

use davd_protocol::DavPath;
use davd_registry::{
    Detached, LockChange, LockManager, Marker, NamespaceManager, PropChange, PropertyManager,
    Registry,
};

use crate::Executive;
use crate::error::{DavError, DavResult};
use crate::history::Removal;
use crate::intent::{IntentRecord, Step, StoreKind, StoreRecord};
use crate::latch::{Claim, LatchGuard};
use crate::state::{Batch, Store};

/// What recovery did with one interrupted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its commit had happened: the request was completed.
    Finished,
    /// Its commit had not happened: everything it did was undone.
    Undone,
}

/// One interrupted request, recovered.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub id: String,
    pub method: String,
    pub path: DavPath,
    pub outcome: Outcome,
}

/// Recovers every request the journal holds, then clears what crashed requests left in the
/// stores. Call once at startup, before serving. An unreadable record stops it with an error
/// naming the record: guessing could lose data.
pub async fn recover(exec: &Executive) -> DavResult<Vec<Recovered>> {
    let mut recovered = Vec::new();
    for (id, bytes) in exec.journal.pending().await? {
        let record = IntentRecord::from_bytes(&bytes).map_err(|e| {
            DavError::internal(format!(
                "the journal record {id} of an interrupted request cannot be read ({e}); \
                 davd will not guess what it was doing. Move the record out of the journal \
                 directory to start without recovering it"
            ))
        })?;
        // Other processes of a cluster serve meanwhile: none touches these paths while the
        // request is put right (the latches the crashed process held went with it).
        let _latch = exec.latch(claims_of(&record)).await?;
        let outcome = recover_one(&exec.registry, &record, Restarted::Yes).await?;
        exec.journal.remove(&id).await?;
        info!(
            method = %record.method,
            path = %record.path,
            outcome = match outcome {
                Outcome::Finished => "finished",
                Outcome::Undone => "undone",
            },
            "recovered a request interrupted by a crash"
        );
        recovered.push(Recovered {
            id,
            method: record.method,
            path: record.path,
            outcome,
        });
    }
    // Leftovers are garbage no record refers to any more: if they cannot go now (a full
    // disk), they stay until the next start, harmlessly.
    if let Err(e) = clear_leftovers(&exec.registry).await {
        warn!(error = %e, "could not clear what interrupted requests left behind");
    }
    // Unlike leftovers, these would attach to new resources: a failure stops startup.
    forget_what_volatile_namespaces_lost(&exec.registry).await?;
    Ok(recovered)
}

/// Every path the record's request changed, with everything below it.
fn claims_of(record: &IntentRecord) -> Vec<Claim> {
    let mut claims = vec![Claim::deep(&record.path)];
    for step in &record.steps {
        match step {
            Step::Detach { path, .. } | Step::Create { path } => claims.push(Claim::deep(path)),
            Step::Rename { from, to } => {
                claims.push(Claim::deep(from));
                claims.push(Claim::deep(to));
            }
        }
    }
    claims
}

/// Whether the process crashed since the request ran (startup), or the request is being
/// put right by the process that ran it (its stores in memory still hold what it did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restarted {
    Yes,
    No,
}

/// Finishes or undoes one request.
pub async fn recover_one(
    registry: &Registry,
    record: &IntentRecord,
    restarted: Restarted,
) -> DavResult<Outcome> {
    let committed = record.committed || first_durable_has_marker(registry, record).await?;
    let mut touched: Vec<Arc<dyn NamespaceManager>> = Vec::new();
    if committed {
        let mut stores = Vec::new();
        if let Some(plan) = &record.commit {
            stores.push(store_of(registry, &plan.first));
            for later in &plan.later {
                let store = store_of(registry, &later.store);
                if restarted == Restarted::Yes && !store.survives_restart() {
                    continue;
                }
                if !store.has_marker(&record.id).await? {
                    let batch = Batch {
                        store: store.clone(),
                        anchor: later.store.anchor.clone(),
                        changes: later.changes.clone().into(),
                    };
                    batch.apply(Some(&record.id)).await?;
                }
                store.flush().await?;
                stores.push(store);
            }
        }
        for step in &record.steps {
            if let Step::Detach { path, tag } = step {
                let (namespace, relative) = namespace_of(registry, path);
                let detached = Detached {
                    path: relative.clone(),
                    handle: tag.clone(),
                };
                // What the request replaced or removed goes where its commit would have put
                // it, if the crash came before it got there.
                match kept_as(registry, record, path) {
                    Some((history, removal)) if namespace.is_detached(tag).await? => {
                        let namespace = namespace.as_ref();
                        crate::history::keep(&history, namespace, detached, &relative, removal)
                            .await?;
                    }
                    _ => namespace.purge(detached).await?,
                }
            }
        }
        for store in stores {
            store.forget_marker(&record.id).await?;
        }
        return Ok(Outcome::Finished);
    }
    for (index, step) in record.steps.iter().enumerate().rev() {
        undo_step(registry, &record.steps[..index], step, &mut touched).await?;
    }
    for namespace in touched {
        namespace.flush().await?;
    }
    Ok(Outcome::Undone)
}

/// True if the first of the request's stores that survives a restart holds its marker: the
/// commit happened. Batches go in that order, each flushed before the next, so no store has
/// a batch in while that one lacks it. Stores that keep nothing cannot tell; when the request
/// had only such stores, the record's committed flag alone decides.
async fn first_durable_has_marker(registry: &Registry, record: &IntentRecord) -> DavResult<bool> {
    let Some(plan) = &record.commit else {
        return Ok(false);
    };
    let stores = std::iter::once(&plan.first).chain(plan.later.iter().map(|b| &b.store));
    for store in stores {
        let store = store_of(registry, store);
        if store.survives_restart() {
            return store.has_marker(&record.id).await;
        }
    }
    Ok(false)
}

/// Undoes one namespace step if it happened; does nothing if it did not. `earlier` are the
/// steps planned before it.
async fn undo_step(
    registry: &Registry,
    earlier: &[Step],
    step: &Step,
    touched: &mut Vec<Arc<dyn NamespaceManager>>,
) -> DavResult<()> {
    match step {
        Step::Detach { path, tag } => {
            let (namespace, relative) = namespace_of(registry, path);
            let restored = namespace
                .restore(Detached {
                    path: relative,
                    handle: tag.clone(),
                })
                .await;
            match restored {
                Ok(()) => remember(touched, namespace),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Step::Rename { from, to } => {
            let (namespace, from_relative) = namespace_of(registry, from);
            let (_, to_relative) = namespace_of(registry, to);
            let source_gone = namespace.stat(&from_relative).await?.is_none();
            if source_gone && namespace.stat(&to_relative).await?.is_some() {
                namespace.rename(&to_relative, &from_relative).await?;
                remember(touched, namespace);
            }
        }
        Step::Create { path } => {
            let (namespace, relative) = namespace_of(registry, path);
            // When an earlier step was to move an old resource out of the way, whatever is at
            // the path is this request's creation only if that step happened; otherwise it is
            // still the old resource, which must stay.
            let cleared_first = earlier.iter().find_map(|s| match s {
                Step::Detach { path: p, tag } if p == path => Some(tag),
                _ => None,
            });
            let ours = match cleared_first {
                Some(tag) => namespace.is_detached(tag).await?,
                None => true,
            };
            if ours && namespace.stat(&relative).await?.is_some() {
                let tag = uuid::Uuid::new_v4().to_string();
                let detached = namespace.detach(&relative, &tag).await?;
                namespace.purge(detached).await?;
                remember(touched, namespace);
            }
        }
    }
    Ok(())
}

/// Where a finished request's detached resource at `path` belongs when its scope keeps
/// history: a PUT's replaced content is a version; what a DELETE removed, or a COPY or MOVE
/// replaced at its destination, goes to the trash (a file replaced that way would have been
/// a version; after a crash it is kept all the same). A MOVE's own source lives on at its
/// destination and is not kept.
fn kept_as(
    registry: &Registry,
    record: &IntentRecord,
    path: &DavPath,
) -> Option<(davd_registry::History, Removal)> {
    let history = registry.resolve(path).history?;
    let removal = match record.method.as_str() {
        "PUT" | "POST" => Removal::Replaced { collection: false },
        "DELETE" => Removal::Deleted,
        _ if *path == record.path => return None,
        _ => Removal::Replaced { collection: true },
    };
    Some((history, removal))
}

fn remember(touched: &mut Vec<Arc<dyn NamespaceManager>>, namespace: Arc<dyn NamespaceManager>) {
    if !touched.iter().any(|n| Arc::ptr_eq(n, &namespace)) {
        touched.push(namespace);
    }
}

fn namespace_of(registry: &Registry, path: &DavPath) -> (Arc<dyn NamespaceManager>, DavPath) {
    let (scope, namespace) = registry.namespace(path);
    let relative = path.relative_to(scope).unwrap_or_else(DavPath::root);
    (namespace.clone(), relative)
}

fn store_of(registry: &Registry, store: &StoreRecord) -> Store {
    match store.kind {
        StoreKind::Properties => Store::Props(registry.properties(&store.anchor).clone()),
        StoreKind::Locks => Store::Locks(registry.lock_manager(&store.anchor).clone()),
    }
}

/// Lets every namespace discard what crashed requests left, and every store forget the
/// markers of requests that are done.
async fn clear_leftovers(registry: &Registry) -> DavResult<()> {
    let mut namespaces: Vec<Arc<dyn NamespaceManager>> = Vec::new();
    let mut properties: Vec<Arc<dyn PropertyManager>> = Vec::new();
    let mut locks: Vec<Arc<dyn LockManager>> = Vec::new();
    for scope in registry.scopes() {
        let (_, namespace) = registry.namespace(scope);
        if !namespaces.iter().any(|n| Arc::ptr_eq(n, namespace)) {
            namespaces.push(namespace.clone());
        }
        let store = registry.properties(scope);
        if !properties.iter().any(|p| Arc::ptr_eq(p, store)) {
            properties.push(store.clone());
        }
        let store = registry.lock_manager(scope);
        if !locks.iter().any(|l| Arc::ptr_eq(l, store)) {
            locks.push(store.clone());
        }
    }
    for namespace in namespaces {
        namespace.discard_leftovers().await?;
    }
    for store in properties {
        let markers = store.markers().await?;
        if !markers.is_empty() {
            store.forget_markers(&markers).await?;
            store.flush().await?;
        }
    }
    for store in locks {
        let markers = store.markers().await?;
        if !markers.is_empty() {
            store.forget_markers(&markers).await?;
            store.flush().await?;
        }
    }
    Ok(())
}

/// A namespace that keeps nothing across a restart (memory) may share a property or lock
/// store that does (a mount that names only its namespace inherits its parent's sled stores).
/// Its resources are gone after a restart, but their properties and locks would still be
/// there, and a new resource at one of their paths would inherit them: a stranger's dead
/// properties, a lock refusing the PUT with 423. So they are removed before davd serves.
async fn forget_what_volatile_namespaces_lost(registry: &Registry) -> DavResult<()> {
    for scope in registry.scopes() {
        let (owner, namespace) = registry.namespace(scope);
        if owner != scope || namespace.survives_restart() {
            continue;
        }
        // Paths below `scope` that this namespace serves (a mount below it may serve others).
        let lost = |path: &DavPath| {
            path.is_within(scope) && Arc::ptr_eq(registry.namespace(path).1, namespace)
        };
        let mut properties: Vec<Arc<dyn PropertyManager>> = Vec::new();
        let mut locks: Vec<Arc<dyn LockManager>> = Vec::new();
        for within in registry.scopes().filter(|s| lost(s)) {
            let store = registry.properties(within);
            if store.survives_restart() && !properties.iter().any(|p| Arc::ptr_eq(p, store)) {
                properties.push(store.clone());
            }
            let store = registry.lock_manager(within);
            if store.survives_restart() && !locks.iter().any(|l| Arc::ptr_eq(l, store)) {
                locks.push(store.clone());
            }
        }
        for store in properties {
            let changes: Vec<PropChange> = store
                .get_tree(scope)
                .await?
                .into_iter()
                .filter(|(path, _)| lost(path) && Arc::ptr_eq(registry.properties(path), &store))
                .map(|(path, prop)| PropChange::Remove {
                    path,
                    name: prop.name,
                })
                .collect();
            if !changes.is_empty() {
                info!(scope = %scope, properties = changes.len(), "removing the properties of resources a restart emptied");
                store.apply(&changes, Marker::None).await?;
                store.flush().await?;
            }
        }
        for store in locks {
            let mut found = store.covering(scope).await?;
            found.extend(store.below(scope).await?);
            let changes: Vec<LockChange> = found
                .into_iter()
                .filter(|lock| {
                    lost(&lock.root) && Arc::ptr_eq(registry.lock_manager(&lock.root), &store)
                })
                .map(|lock| LockChange::Remove { token: lock.token })
                .collect();
            if !changes.is_empty() {
                info!(scope = %scope, locks = changes.len(), "removing the locks of resources a restart emptied");
                store.apply(&changes, Marker::None).await?;
                store.flush().await?;
            }
        }
    }
    Ok(())
}

/// How long the background recovery of a request waits between attempts.
const RETRY: Duration = Duration::from_secs(2);

/// Recovers, in the background, a request whose queue could not undo itself (a store failed
/// during the undo, typically a full disk). The request's latches stay held meanwhile, so no
/// other request touches what it left until it is put right; attempts repeat until one
/// succeeds, and the record then leaves the journal.
pub fn in_background(exec: Arc<Executive>, record: IntentRecord, latch: LatchGuard) {
    error!(
        method = %record.method,
        path = %record.path,
        "a request could not be undone; recovering it in the background, its resources stay \
         latched until then"
    );
    tokio::spawn(async move {
        let _latch = latch;
        loop {
            match recover_one(&exec.registry, &record, Restarted::No).await {
                Ok(outcome) => {
                    if let Err(e) = exec.journal.remove(&record.id).await {
                        warn!(error = %e, "could not remove a recovered intent");
                    }
                    info!(path = %record.path, ?outcome, "recovered in the background");
                    return;
                }
                Err(e) => {
                    warn!(path = %record.path, error = %e, "background recovery failed; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    });
}
