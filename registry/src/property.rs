//! The property manager contract: dead properties, stored as the XML the client sent.

use std::collections::HashMap;

use async_trait::async_trait;

use davd_protocol::{DavPath, PropName};

use crate::error::SubsystemResult;

/// A dead property: its name and its value as a self-contained XML element (see
/// `davd_protocol::xml::serialize_element`), returned verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProp {
    pub name: PropName,
    pub xml: String,
}

/// Properties of many resources, keyed by their path.
pub type PropsByPath = Vec<(DavPath, StoredProp)>;

/// Stores dead properties. Paths are full request paths (not relative to a scope), so one
/// property manager can serve several namespace scopes.
///
/// Changes need not be durable when a method returns: the executive calls
/// [`PropertyManager::flush`] once, when a request's CommandQueue commits, before the response
/// is sent. That keeps a PROPPATCH of ten properties to one disk flush.
#[async_trait]
pub trait PropertyManager: Send + Sync {
    fn kind(&self) -> &'static str;

    /// The value of one property of one resource.
    async fn get(&self, path: &DavPath, name: &PropName) -> SubsystemResult<Option<StoredProp>>;

    /// All dead properties of one resource.
    async fn get_all(&self, path: &DavPath) -> SubsystemResult<Vec<StoredProp>>;

    /// All dead properties of every direct member of `parent`, keyed by member name, in one
    /// pass over the store (a range scan), not one lookup per member.
    async fn get_children(
        &self,
        parent: &DavPath,
    ) -> SubsystemResult<HashMap<String, Vec<StoredProp>>>;

    /// Sets a property and returns the value it replaces.
    async fn set(&self, path: &DavPath, prop: StoredProp) -> SubsystemResult<Option<StoredProp>>;

    /// Removes a property and returns the value it had.
    async fn remove(&self, path: &DavPath, name: &PropName) -> SubsystemResult<Option<StoredProp>>;

    /// Every property of `path` and everything below it.
    async fn get_tree(&self, path: &DavPath) -> SubsystemResult<PropsByPath>;

    /// Removes the properties of `path` and everything below it, returning what was removed.
    async fn remove_tree(&self, path: &DavPath) -> SubsystemResult<PropsByPath>;

    /// Writes many properties at once (used to restore and to copy).
    async fn put_many(&self, props: PropsByPath) -> SubsystemResult<()>;

    /// Moves the properties of `from` and its subtree to `to`, as one atomic change.
    async fn move_tree(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()>;

    /// Durability barrier: returns when everything written before is on disk.
    async fn flush(&self) -> SubsystemResult<()> {
        Ok(())
    }
}
