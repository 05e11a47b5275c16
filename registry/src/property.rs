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

/// What one property of a member counts against the `limit` of
/// [`PropertyManager::get_children`]: its value, its name, the member's name and a fixed
/// allowance for the containers holding them.
pub fn prop_size(member: &str, prop: &StoredProp) -> usize {
    member.len() + prop.name.namespace.len() + prop.name.local.len() + prop.xml.len() + 64
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
    /// pass over the store (a range scan), not one lookup per member; `None` as soon as they
    /// come to more than `limit` bytes (see [`prop_size`]), so that a listing never holds the
    /// properties of a whole large directory at once: it then asks [`PropertyManager::get_members`]
    /// batch by batch.
    async fn get_children(
        &self,
        parent: &DavPath,
        limit: usize,
    ) -> SubsystemResult<Option<HashMap<String, Vec<StoredProp>>>>;

    /// The dead properties of the direct members of `parent` named in `names`, keyed by member
    /// name. `names` is sorted (byte order) without duplicates; a store that keeps properties
    /// in that order reads them with one range scan from the first name to the last, so that
    /// the batches of a sorted listing read the store once from end to end.
    async fn get_members(
        &self,
        parent: &DavPath,
        names: &[&str],
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
