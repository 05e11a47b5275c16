//! # davd-executive: RFC 4918 policy
//!
//! The second layer of davd. For each parsed request it checks the preconditions RFC 4918 and
//! RFC 7232 impose (the If header, entity tags, lock tokens, Depth and Overwrite rules), builds
//! a [`queue::CommandQueue`] of undoable commands over the subsystems the registry resolves,
//! runs it, and turns the outcome into a response.
//!
//! Policy lives here and only here: a change of the specification should touch this crate
//! alone, a new storage backend only `davd-subsystems`.

pub mod client;
pub mod commands;
mod context;
mod dead_pages;
mod error;
mod failpoint;
pub mod history;
mod html;
mod instructions;
pub mod intent;
mod latch;
pub mod listing_cache;
mod member_props;
mod methods;
pub mod metrics;
mod ms;
mod multistatus;
mod policy;
mod propfind_cache;
mod props;
pub mod queue;
pub mod recovery;
mod state;
mod sync;
pub mod validators;
mod walk;

use std::sync::Arc;

use http::StatusCode;
use http::header::ALLOW;
use tracing::error;

use davd_protocol::xml::XmlLimits;
use davd_protocol::{
    ByteStream, IMPLEMENTED_METHODS, ProtocolError, Request, RequestHead, Response,
};
use davd_registry::{Journal, Registry};

pub use context::Ctx;
pub use error::{DavError, DavResult};
pub use latch::LatchTable;

/// Tunable policy.
#[derive(Debug, Clone)]
pub struct ExecutiveConfig {
    pub xml_limits: XmlLimits,
    /// Allow `Depth: infinity` PROPFIND (some clients need it); when off, such requests get
    /// 403 with `propfind-finite-depth`.
    pub propfind_infinity: bool,
    /// Lock timeout when the client asks for none, in seconds.
    pub default_lock_timeout: u64,
    /// Longest lock timeout granted, in seconds; longer requests (and `Infinite`) are capped.
    pub max_lock_timeout: u64,
    /// Most locks one principal (or the anonymous user) may hold at once.
    pub max_locks_per_principal: usize,
    /// Authentication is on: where no access rule says otherwise, only authenticated users may
    /// read and write.
    pub authentication: bool,
    /// User-Agent substrings of clients that get lock discovery without `lockroot`, in LOCK
    /// responses and in PROPFIND (old Office versions reject the RFC 4918 element).
    pub omit_lockroot_for: Vec<String>,
    /// How many bytes of dead properties a listing may read for one collection's members at
    /// once (one range scan before the listing starts); above it they are read batch by batch
    /// as the members are written, so memory stays bounded however large the directory.
    pub listing_dead_budget: usize,
    /// Bytes of rendered PROPFIND answers kept to be served again while nothing in them
    /// changed (`listing_cache`); 0 keeps none.
    pub listing_cache_bytes: usize,
}

impl Default for ExecutiveConfig {
    fn default() -> Self {
        ExecutiveConfig {
            xml_limits: XmlLimits::default(),
            propfind_infinity: true,
            default_lock_timeout: 3600,
            max_lock_timeout: 7 * 24 * 3600,
            max_locks_per_principal: 1000,
            authentication: false,
            omit_lockroot_for: client::DEFAULT_OMIT_LOCKROOT_FOR
                .iter()
                .map(|s| s.to_string())
                .collect(),
            listing_dead_budget: 4 * 1024 * 1024,
            listing_cache_bytes: 32 * 1024 * 1024,
        }
    }
}

/// The executive: shared by every request.
pub struct Executive {
    pub registry: Arc<Registry>,
    pub config: ExecutiveConfig,
    pub latches: LatchTable,
    /// Latches for decisions no path covers (`max_locks_per_user`).
    pub(crate) named_latches: latch::NamedLatches,
    /// Where journaled queues write their plans (docs/adr/0017-crash-safety.md).
    pub journal: Arc<dyn Journal>,
    /// Rendered PROPFIND answers kept while their sources are unchanged.
    pub listing_cache: listing_cache::ListingCache,
}

/// Who the server says is asking (authentication happens in the server layer).
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub principal: Option<String>,
}

impl Executive {
    pub fn new(
        registry: Arc<Registry>,
        config: ExecutiveConfig,
        journal: Arc<dyn Journal>,
    ) -> Arc<Self> {
        Arc::new(Executive {
            registry,
            latches: LatchTable::new(),
            named_latches: latch::NamedLatches::default(),
            journal,
            listing_cache: listing_cache::ListingCache::new(config.listing_cache_bytes),
            config,
        })
    }

    /// Latches `claims` for a request that changes state: in this process's table, then, when
    /// the registry has latches shared with other processes (a cluster), there too. A shared
    /// latch that cannot be had (its database is down) is a 503; the local one is released.
    pub(crate) async fn latch(&self, claims: Vec<latch::Claim>) -> DavResult<latch::LatchGuard> {
        Ok(self.latch_pending(claims).await?.granted().await?)
    }

    /// Like [`Executive::latch`], for a request that is carrying the cluster latches'
    /// transaction (`davd_registry::carrying`): the request for the cluster's latches may
    /// still be on its way, with the request's reads sent behind it, so that they cost no
    /// round trip of their own. Only [`latch::PendingLatch::granted`] gives the latches.
    pub(crate) async fn latch_pending(
        &self,
        claims: Vec<latch::Claim>,
    ) -> DavResult<latch::PendingLatch> {
        let shared_claims: Vec<_> = match self.registry.shared_latches() {
            Some(_) => claims.iter().map(latch::Claim::shared).collect(),
            None => Vec::new(),
        };
        let guard = self.latches.acquire(claims).await;
        match self.registry.shared_latches() {
            Some(shared) => Ok(latch::PendingLatch::new(
                guard.with_shared(shared.acquire(&shared_claims).await?),
            )),
            None => Ok(latch::PendingLatch::new(guard)),
        }
    }

    /// Runs `turn` holding `claims` ([`Executive::latch_pending`]'s latches, given to the turn
    /// as they come, or the error that kept them). In this process alone the turn is handed to
    /// the latch table ([`LatchTable::run`]): when it has to wait, it runs on the thread of the
    /// request that lets the claims go, right after it, where waking this request's thread
    /// would leave the latch idle until the kernel runs it (ADR 0025). In a cluster it runs
    /// in this task, whose latches' transaction its statements ride.
    pub(crate) async fn latched<F, Fut, T>(
        &self,
        claims: Vec<latch::Claim>,
        turn: F,
    ) -> DavResult<T>
    where
        F: FnOnce(DavResult<latch::PendingLatch>) -> Fut + Send + 'static,
        Fut: Future<Output = DavResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        if self.registry.shared_latches().is_some() {
            // Boxed, as the latch table boxes it: the turn stays out of the caller's future.
            return Box::pin(turn(self.latch_pending(claims).await)).await;
        }
        let turn = |guard| turn(Ok(latch::PendingLatch::new(guard)));
        match self.latches.run(claims, turn).await {
            Some(answer) => answer,
            None => Err(DavError::internal("the request failed inside the server")),
        }
    }

    /// Latches `name` for a decision no path covers (how many locks one user holds), in this
    /// process and, in a cluster, across every process. Take it only while holding the path
    /// latches of the request, and no path latch after it.
    pub(crate) async fn latch_named(&self, name: &str) -> DavResult<latch::NamedGuard> {
        let guard = self.named_latches.acquire(name).await;
        match self.registry.shared_latches() {
            Some(shared) => Ok(guard.with_shared(shared.acquire_named(name).await?)),
            None => Ok(guard),
        }
    }

    /// Handles one request from head to response.
    ///
    /// Methods that change state run in a task of their own: if the client goes away, the
    /// server drops this future, but the CommandQueue still finishes or rolls back.
    pub async fn handle(
        self: &Arc<Self>,
        head: RequestHead<'_>,
        identity: Identity,
        body: ByteStream,
    ) -> Response {
        // Parsed outside this future: as its locals, the request and the context built from
        // it each kept a place in it (and in every future awaiting it) beside the method's
        // own copy, and all of it was copied whenever the futures moved.
        let (ctx, read_only) = match self.context(head, identity) {
            Ok(parsed) => parsed,
            Err(refused) => return *refused,
        };
        if read_only {
            return methods::dispatch(ctx, body).await;
        }
        match tokio::spawn(methods::dispatch(ctx, body)).await {
            Ok(response) => response,
            Err(e) => {
                error!(error = %e, "request task failed");
                DavError::internal("the request failed inside the server").into_response()
            }
        }
    }

    /// The context of the request `head` from `identity`, and whether its method only reads;
    /// or the answer to a request the protocol layer refuses.
    fn context(
        self: &Arc<Self>,
        head: RequestHead<'_>,
        identity: Identity,
    ) -> Result<(Ctx, bool), Box<Response>> {
        let request = Request::parse(head).map_err(|e| {
            let mut response = protocol_error(e);
            if head.method == "OPTIONS" {
                ms::advertise(&mut response);
            }
            Box::new(response)
        })?;
        let mut client = client::client_info(&request, identity.principal, &self.config);
        client.readable = policy::access::readable(self, client.principal.as_deref());
        // A GET that takes, refreshes or releases a bundled lock (MS-WDV 2.2.4) changes state.
        let read_only = !request.method.kind().changes_state() && !request.ms.has_lock_headers();
        let ctx = Ctx {
            exec: self.clone(),
            client,
            request,
        };
        Ok((ctx, read_only))
    }
}

/// The response for a request the protocol layer refused.
pub fn protocol_error(e: ProtocolError) -> Response {
    let status = e.status();
    let message = e.to_string();
    let mut response = Response::text(status, &message);
    if status == StatusCode::NOT_IMPLEMENTED {
        response.set_header(ALLOW, IMPLEMENTED_METHODS);
    }
    ms::errors::annotate(&mut response, &message, matches!(e, ProtocolError::Path(_)));
    response
}
