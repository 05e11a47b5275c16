//! # davd-registry: the contracts between policy and mechanism
//!
//! The 1997 architecture's third layer. The executive never talks to a store directly: it asks
//! the [`Registry`] for the subsystem of a given kind responsible for a URL, and talks to it
//! through one of the traits defined here:
//!
//! - [`NamespaceManager`]: where resources live and how their bytes move;
//! - [`PropertyManager`]: dead properties;
//! - [`LockManager`]: the lock table;
//! - [`LivePropertyHandler`]: computed and enforced properties;
//! - [`Journal`]: where the executive keeps the plans of requests in flight, for recovery;
//! - [`SharedLatches`]: per-path write latches that hold across the processes of a cluster.
//!
//! Each kind is registered per URL scope independently, and the longest scope wins.

mod access;
mod changes;
mod document;
mod error;
mod history;
mod journal;
mod latch;
mod live;
mod live_handlers;
mod lock;
mod namespace;
mod property;
mod registry;
mod resource;

pub use access::{ANONYMOUS, AccessRule, Grantee};
pub use changes::{
    Change, ChangeKind, ChangeLog, KEPT_CHANGES, LoggedChange, Since, SyncPoint, concerns,
};
pub use document::{
    DocumentIdentity, DocumentRecord, INTERNAL_NS, IdentityRule, document_prop_name, is_internal,
};
pub use error::{SubsystemError, SubsystemResult};
pub use history::{History, HistoryArea, HistoryMount, Kept, Retention, Shelf};
pub use journal::Journal;
pub use latch::{
    CarriedTransaction, HeldLatches, LatchClaim, SharedLatches, carried_transaction, carrying,
    offer_transaction, stop_carrying,
};
pub use live::{
    ClientInfo, HookContext, LivePropertyHandler, PropContext, Quirks, Readable, SetVerdict,
    Subsystems, WriteKind,
};
pub use live_handlers::LiveHandlers;
pub use lock::{LockChange, LockManager, LockRecord};
pub use namespace::{
    Detached, ListingVersion, MemberStream, NamespaceManager, Opened, OpenedContent, Replaced,
    Staged, WriteMode, WriteReceipt,
};
pub use property::{
    Marker, PropChange, PropPage, PropertyManager, PropsByPath, StoredProp, prop_size,
};
pub use registry::{Mount, Registry, RegistryError};
pub use resource::{Member, ResourceMeta};

/// The shared vocabulary, re-exported so subsystems depend on this crate alone.
pub use davd_protocol::headers::{ByteRange, Depth, Timeout};
pub use davd_protocol::xml::{LockScope, PropValue};
/// Microsoft's wire vocabulary that handlers need (ResourceTags).
pub mod ms {
    pub use davd_protocol::headers::ResourceTag;
    pub use davd_protocol::headers::ms::repl_uid;
}
/// Dates as properties write them.
pub use davd_protocol::date;
/// Numbers as entity tags and stored records write them.
pub use davd_protocol::digits;
/// XML helpers for handlers (reading stored fragments, rendering lock discovery).
pub mod xml {
    pub use davd_protocol::xml::{ActiveLockView, escape_text, fragment_text, render_activelock};
}
pub use davd_protocol::{Body, ByteStream, DAV_NS, DavPath, PropName};
pub use http::StatusCode;
