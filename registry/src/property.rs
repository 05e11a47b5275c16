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

/// Some of one resource's dead properties ([`PropertyManager::get_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropPage {
    /// In name order: namespace, then local name (`PropName`'s order).
    pub props: Vec<StoredProp>,
    /// True if more properties follow the last one.
    pub more: bool,
}

impl PropPage {
    /// The first properties of `props` (in name order, after whatever came before) that fit
    /// in `budget` bytes ([`prop_size`] with no member name), and at least one.
    pub fn gather(props: impl IntoIterator<Item = StoredProp>, budget: usize) -> PropPage {
        let mut page = PropPage::default();
        let mut size = 0usize;
        for prop in props {
            let cost = prop_size("", &prop);
            if !page.props.is_empty() && size.saturating_add(cost) > budget {
                page.more = true;
                break;
            }
            size = size.saturating_add(cost);
            page.props.push(prop);
        }
        page
    }
}

/// One change in a batch given to [`PropertyManager::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropChange {
    /// Sets a property, replacing any value it had.
    Set { path: DavPath, prop: StoredProp },
    /// Removes a property (nothing happens if it is absent).
    Remove { path: DavPath, name: PropName },
    /// Removes every property of `path` and of everything below it.
    RemoveTree { path: DavPath },
    /// Moves the properties of `from` and its subtree to `to` (whose own are removed first).
    MoveTree { from: DavPath, to: DavPath },
}

/// What a batch does with its marker (see [`PropertyManager::apply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker<'a> {
    /// No marker.
    None,
    /// Records the marker with the batch.
    Record(&'a str),
    /// Removes the marker with the batch (a batch that undoes an earlier one).
    Clear(&'a str),
}

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

    /// [`PropertyManager::get_members`], but `None` as soon as the properties come to more than
    /// `limit` bytes ([`prop_size`]): a listing reads each batch of members within its budget,
    /// and reads the members of a batch that does not fit one by one, in pages.
    ///
    /// The default reads the batch and then measures it: correct, but a store should stop
    /// reading at the limit (sled, memory and postgres do), or one batch can still be large.
    async fn get_members_within(
        &self,
        parent: &DavPath,
        names: &[&str],
        limit: usize,
    ) -> SubsystemResult<Option<HashMap<String, Vec<StoredProp>>>> {
        let found = self.get_members(parent, names).await?;
        let size = found.iter().fold(0usize, |total, (member, props)| {
            props
                .iter()
                .fold(total, |total, p| total.saturating_add(prop_size(member, p)))
        });
        Ok((size <= limit).then_some(found))
    }

    /// The dead properties of `path` that come after `after` in name order (all of them for
    /// `None`), as many as fit in `budget` bytes ([`PropPage::gather`]), at least one. A
    /// response reads a resource whose properties are larger than its budget page by page, so
    /// that it never holds them all: ten clients reading 40 MiB of properties at once must not
    /// hold 400 MiB.
    ///
    /// The default reads everything and returns a page of it: correct, but only a store that
    /// reads each page alone (sled, memory and postgres do) keeps memory bounded.
    async fn get_page(
        &self,
        path: &DavPath,
        after: Option<&PropName>,
        budget: usize,
    ) -> SubsystemResult<PropPage> {
        let mut all = self.get_all(path).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let rest = all
            .into_iter()
            .filter(|p| after.is_none_or(|after| p.name > *after));
        Ok(PropPage::gather(rest, budget))
    }

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

    /// Applies `changes`, in order, as **one atomic change**: a crash (of the process, or with
    /// a durable store a power cut after [`PropertyManager::flush`]) leaves all of them or none.
    /// The store records (or removes) the `marker` in the same atomic change, so that recovery
    /// can ask [`PropertyManager::has_marker`] whether the batch went in
    /// (docs/adr/0017-crash-safety.md). Returns the changes that undo the batch, to be applied
    /// in the order given (with `Marker::Clear`).
    ///
    /// This default applies the changes one by one through the methods above: atomic only
    /// while the process lives, and it keeps no marker. Stores that keep data across restarts
    /// override it (sled does with one batch; a database does with one transaction).
    async fn apply(
        &self,
        changes: &[PropChange],
        _marker: Marker<'_>,
    ) -> SubsystemResult<Vec<PropChange>> {
        let mut undo = Vec::new();
        for change in changes {
            match change {
                PropChange::Set { path, prop } => {
                    undo.push(match self.set(path, prop.clone()).await? {
                        Some(old) => PropChange::Set {
                            path: path.clone(),
                            prop: old,
                        },
                        None => PropChange::Remove {
                            path: path.clone(),
                            name: prop.name.clone(),
                        },
                    });
                }
                PropChange::Remove { path, name } => {
                    if let Some(old) = self.remove(path, name).await? {
                        undo.push(PropChange::Set {
                            path: path.clone(),
                            prop: old,
                        });
                    }
                }
                PropChange::RemoveTree { path } => {
                    for (path, prop) in self.remove_tree(path).await? {
                        undo.push(PropChange::Set { path, prop });
                    }
                }
                PropChange::MoveTree { from, to } => {
                    for (path, prop) in self.remove_tree(to).await? {
                        undo.push(PropChange::Set { path, prop });
                    }
                    self.move_tree(from, to).await?;
                    undo.push(PropChange::MoveTree {
                        from: to.clone(),
                        to: from.clone(),
                    });
                }
            }
        }
        undo.reverse();
        Ok(undo)
    }

    /// True if what the store holds survives a restart of the process (sled, a database);
    /// false for a store that starts empty (memory). Recovery decides whether a request
    /// committed by the marker of the first store that survives, and such stores' batches go
    /// first (docs/adr/0017-crash-safety.md). A store that says true must keep markers.
    fn survives_restart(&self) -> bool {
        false
    }

    /// A count that grows after every change this manager makes to what it stores, or `None`
    /// when the store can change without this manager knowing (another process shares it,
    /// as a cluster's database is shared). A reader that took the count before reading and
    /// finds it unchanged later knows its answer still holds: the executive remembers a
    /// GET's document record that way instead of reading it again.
    fn change_count(&self) -> Option<u64> {
        None
    }

    /// The store's change log (`crate::changes`), which `sync-collection` reports read and
    /// every change appends to; `None` for a store that keeps none (the report is then
    /// refused for its scopes).
    fn change_log(&self) -> Option<&dyn crate::ChangeLog> {
        None
    }

    /// True if a batch applied with `marker` is in the store. Stores that keep nothing
    /// across restarts answer false.
    async fn has_marker(&self, _marker: &str) -> SubsystemResult<bool> {
        Ok(false)
    }

    /// Forgets markers once the journal no longer needs them. Need not be durable: recovery
    /// forgets every marker it finds no journal record for.
    async fn forget_markers(&self, _markers: &[String]) -> SubsystemResult<()> {
        Ok(())
    }

    /// Every marker the store holds (so that recovery can forget those of finished requests).
    async fn markers(&self) -> SubsystemResult<Vec<String>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn props(sizes: &[usize]) -> Vec<StoredProp> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, size)| StoredProp {
                name: PropName::new("urn:t", format!("p{i:03}")),
                xml: "v".repeat(*size),
            })
            .collect()
    }

    proptest! {
        /// Pages gathered one after another hold every property once, in order; each is
        /// within the budget unless it holds a single property; only the last says no more.
        #[test]
        fn pages_partition_within_the_budget(
            sizes in proptest::collection::vec(0usize..5000, 0..40),
            budget in 0usize..20_000,
        ) {
            let all = props(&sizes);
            let mut seen: Vec<StoredProp> = Vec::new();
            loop {
                let page = PropPage::gather(all[seen.len()..].to_vec(), budget);
                let kept = page.props.len();
                let size: usize = page.props.iter().map(|p| prop_size("", p)).sum();
                prop_assert!(size <= budget || kept == 1, "{size} bytes in {kept}");
                prop_assert!(kept > 0 || all.len() == seen.len(), "an empty page");
                prop_assert_eq!(page.more, seen.len() + kept < all.len());
                seen.extend(page.props);
                if !page.more {
                    break;
                }
            }
            prop_assert_eq!(seen, all);
        }
    }
}
