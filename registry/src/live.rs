//! Live properties: values the server computes or enforces (RFC 4918 §4.2), supplied by small
//! handlers the property manager asks before it falls back to the dead-property store.
//!
//! A handler owns some property names. For those names it computes values
//! ([`LivePropertyHandler::get`]), decides whether a PROPPATCH may set or remove them
//! ([`LivePropertyHandler::check_set`]), and it may hook writes and reads of any resource
//! ([`LivePropertyHandler::before_write`], [`LivePropertyHandler::after_read`]): the 1997 paper's
//! read-only flag and hit counter are both handlers of this kind.

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use davd_protocol::xml::PropValue;
use davd_protocol::{DavPath, PropName};

use crate::document::{DocumentIdentity, DocumentRecord, IdentityRule, document_prop_name};
use crate::error::{SubsystemError, SubsystemResult};
use crate::live_handlers::LiveHandlers;
use crate::lock::{LockManager, LockRecord};
use crate::namespace::NamespaceManager;
use crate::property::{PropertyManager, StoredProp};
use crate::resource::ResourceMeta;

/// Who is asking, and what their client needs answered differently: worked out once per
/// request by the executive (`executive/src/client.rs`), read by handlers and methods.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The authenticated user, if authentication is on.
    pub principal: Option<String>,
    pub quirks: Quirks,
    /// Which resources the client may read: what an answer shows about resources other than
    /// the one asked about (a lock's root) is left out where this says no.
    pub readable: Readable,
}

/// Which resources a client may read, by the executive's access decision, lent to the places
/// that name other resources than the one asked about, so that they reveal nothing the client
/// may not read. The default, for a server without access rules, reads everything.
#[derive(Clone, Default)]
pub struct Readable(Option<Arc<ReadDecision>>);

/// The executive's "may this client read the resource at this path?".
type ReadDecision = dyn Fn(&DavPath) -> bool + Send + Sync;

impl Readable {
    /// Reading what `may_read` allows.
    pub fn by(may_read: impl Fn(&DavPath) -> bool + Send + Sync + 'static) -> Readable {
        Readable(Some(Arc::new(may_read)))
    }

    pub fn may_read(&self, path: &DavPath) -> bool {
        self.0.as_ref().is_none_or(|may_read| may_read(path))
    }
}

impl fmt::Debug for Readable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            None => "Readable(everything)",
            Some(_) => "Readable(by rule)",
        })
    }
}

/// The ways particular clients are answered differently from RFC 4918. Each flag is set in
/// one place (the executive's `client` module, from the request's headers and the
/// configuration) and applied in one place, named on the flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Quirks {
    /// Lock discovery without `lockroot`, in LOCK answers and PROPFIND alike: Office's old
    /// Internet Publishing Provider predates RFC 4918 and rejects the element. Applied in
    /// [`LockRecord::view`](crate::LockRecord::view).
    pub omit_lockroot: bool,
    /// `lockdiscovery` in PROPFIND answers without its `activelock`s: Windows mini-redirectors
    /// before 5.2.3718.0 append the lock token to the resource name (MS-WDVME 3.2.5.3.3). A
    /// LOCK answer keeps them (RFC 4918 requires it). Applied by the `lockdiscovery` handler.
    pub hide_activelocks: bool,
}

/// The subsystems that serve one path, as the registry resolved them.
#[derive(Clone)]
pub struct Subsystems {
    /// The namespace manager and the scope it is mounted at.
    pub namespace: Arc<dyn NamespaceManager>,
    pub scope: DavPath,
    pub properties: Arc<dyn PropertyManager>,
    /// Every lock manager whose scope contains the path, nearest first.
    pub locks: Vec<Arc<dyn LockManager>>,
    /// Live-property handlers in force for the path, nearest scope first, with the index of
    /// which owns each name (shared: the registry builds one per scope).
    pub live: LiveHandlers,
    /// The history kept for the namespace's scope, if its mount keeps any.
    pub history: Option<crate::History>,
}

impl Subsystems {
    /// The path as the namespace manager sees it (relative to its scope).
    pub fn relative(&self, path: &DavPath) -> DavPath {
        path.relative_to(&self.scope).unwrap_or_else(DavPath::root)
    }

    /// Unexpired locks that apply to `path`, from every lock manager in force.
    pub async fn locks_covering(&self, path: &DavPath) -> SubsystemResult<Vec<LockRecord>> {
        let mut all = Vec::new();
        for manager in &self.locks {
            all.extend(manager.covering(path).await?);
        }
        Ok(all)
    }

    /// The handler that owns `name`, if any.
    pub fn handler_for(&self, name: &PropName) -> Option<&Arc<dyn LivePropertyHandler>> {
        self.live.handler_for(name)
    }
}

/// Everything a handler may look at to compute a value.
pub struct PropContext<'a> {
    /// The full request path of the resource.
    pub path: &'a DavPath,
    pub meta: &'a ResourceMeta,
    pub subsystems: &'a Subsystems,
    pub client: &'a ClientInfo,
    /// Locks fetched once for a whole listing: every lock that could cover this resource is
    /// among them. `None`: ask the lock managers (see [`PropContext::locks_covering`]).
    pub known_locks: Option<&'a [LockRecord]>,
    /// The resource's dead properties, when the caller has read them already (an allprop
    /// PROPFIND reads them in one scan per collection); `None` means "ask the store".
    pub dead: Option<&'a [StoredProp]>,
    /// Filled by [`PropContext::document_identity`] the first time a handler asks.
    pub document: OnceLock<DocumentIdentity>,
    /// How that identity is worked out: the executive's rule.
    pub identify: IdentityRule,
}

impl PropContext<'_> {
    /// Unexpired locks that apply to this resource, from the prefetched set when there is one.
    pub async fn locks_covering(&self) -> SubsystemResult<Vec<LockRecord>> {
        match self.locks_covering_now() {
            Some(locks) => Ok(locks),
            None => self.subsystems.locks_covering(self.path).await,
        }
    }

    /// The locks that apply to this resource if the caller prefetched them; `None` means only
    /// the lock managers can say.
    pub fn locks_covering_now(&self) -> Option<Vec<LockRecord>> {
        let known = self.known_locks?;
        Some(
            known
                .iter()
                .filter(|l| l.covers(self.path))
                .cloned()
                .collect(),
        )
    }

    /// The resource's document identity (MS-WDV `Repl-uid`, `ResourceTag`, last author),
    /// worked out once per resource however many properties of an answer need it.
    pub async fn document_identity(&self) -> SubsystemResult<&DocumentIdentity> {
        if let Some(identity) = self.document_identity_now() {
            return Ok(identity);
        }
        let record = self
            .subsystems
            .properties
            .get(self.path, &document_prop_name())
            .await?
            .and_then(|p| DocumentRecord::from_prop(&p.xml));
        Ok(self
            .document
            .get_or_init(|| (self.identify)(record.as_ref(), self.path, self.meta)))
    }

    /// The document identity if it is known or can be worked out from the prefetched dead
    /// properties; `None` means the property store must be asked.
    pub fn document_identity_now(&self) -> Option<&DocumentIdentity> {
        if let Some(identity) = self.document.get() {
            return Some(identity);
        }
        let record = self
            .dead_property_now(&document_prop_name())?
            .and_then(|p| DocumentRecord::from_prop(&p.xml));
        Some(
            self.document
                .get_or_init(|| (self.identify)(record.as_ref(), self.path, self.meta)),
        )
    }

    /// One dead property of the resource: from [`PropContext::dead`] if present, else from the
    /// property manager (one lookup).
    pub async fn dead_property(&self, name: &PropName) -> SubsystemResult<Option<StoredProp>> {
        match self.dead_property_now(name) {
            Some(found) => Ok(found.cloned()),
            None => self.subsystems.properties.get(self.path, name).await,
        }
    }

    /// One dead property from the prefetched set: `Some(None)` if the resource has no such
    /// property, `None` if nothing was prefetched (ask [`PropContext::dead_property`]).
    pub fn dead_property_now(&self, name: &PropName) -> Option<Option<&StoredProp>> {
        Some(self.dead?.iter().find(|p| p.name == *name))
    }
}

/// What a handler says about a PROPPATCH instruction on one of its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetVerdict {
    /// The server owns this value: 403 with `cannot-modify-protected-property`.
    Protected,
    /// Valid: store (or remove) it as a dead property.
    Store,
    /// Invalid value: refused with this status (409 Conflict in RFC 4918 terms).
    Reject(SubsystemError),
}

/// The kind of change a request is about to make, for [`LivePropertyHandler::before_write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteKind {
    /// PUT, POST or a COPY/MOVE onto the resource.
    Content,
    /// DELETE, or MOVE away.
    Remove,
    /// PROPPATCH of these properties.
    Properties(Vec<PropName>),
    /// MKCOL, or anything creating a member inside a collection.
    Membership,
}

/// Context for the write and read hooks.
pub struct HookContext<'a> {
    pub path: &'a DavPath,
    /// The change also affects everything below `path` (DELETE or MOVE of a collection).
    pub deep: bool,
    pub kind: WriteKind,
    pub properties: &'a Arc<dyn PropertyManager>,
    pub client: &'a ClientInfo,
}

/// A live-property handler. Register it with a scope in the registry.
#[async_trait]
pub trait LivePropertyHandler: Send + Sync {
    /// The property names this handler owns.
    fn names(&self) -> &[PropName];

    /// Whether `name` appears in an `allprop` PROPFIND. RFC 4918 leaves some out (for example
    /// quota properties); those are returned only when named.
    fn in_allprop(&self, _name: &PropName) -> bool {
        true
    }

    /// Whether `name` is an extension of some vendor's rather than a property RFC 4918
    /// defines. allprop returns extensions for a single resource but leaves them out of
    /// listings, where they are returned only when named (the executive's `AllpropReach`).
    fn is_extension(&self, _name: &PropName) -> bool {
        false
    }

    /// Whether this handler's values depend only on what the stores hold for the resource:
    /// its path, its metadata (namespace), its dead properties and document record (property
    /// store) and its locks; never on the clock, on reads, on free space or on anything kept
    /// elsewhere. The executive serves a listing again without rendering it while those are
    /// unchanged, and only when every handler the request reaches says true (and no lock is
    /// shown: a lock's remaining timeout is the clock's). The default, false, is always safe.
    fn stable(&self) -> bool {
        false
    }

    /// The value for this resource, or `None` if the property is not defined on it (404).
    async fn get(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> SubsystemResult<Option<PropValue>>;

    /// The same answer as [`LivePropertyHandler::get`] when it needs nothing to wait for: the
    /// metadata, or what the caller prefetched (`*_now` on [`PropContext`]). `None` means
    /// "call `get`". A listing asks this first for every property of every member, because
    /// an `async` trait method costs a boxed future per call.
    fn get_now(
        &self,
        _cx: &PropContext<'_>,
        _name: &PropName,
    ) -> Option<SubsystemResult<Option<PropValue>>> {
        None
    }

    /// May a PROPPATCH set `name` to `value` (a self-contained XML element)?
    fn check_set(&self, _name: &PropName, _value: &str) -> SetVerdict {
        SetVerdict::Protected
    }

    /// May a PROPPATCH remove `name`?
    fn check_remove(&self, _name: &PropName) -> SetVerdict {
        SetVerdict::Protected
    }

    /// Called before any change to a resource; an error refuses the request.
    async fn before_write(&self, _cx: &HookContext<'_>) -> SubsystemResult<()> {
        Ok(())
    }

    /// Whether [`LivePropertyHandler::after_read`] does anything: reads are the hot path, so
    /// handlers that do not watch them are not called for them.
    fn observes_reads(&self) -> bool {
        false
    }

    /// Called after a successful GET of a resource (only if `observes_reads`).
    async fn after_read(&self, _path: &DavPath, _properties: &Arc<dyn PropertyManager>) {}
}
