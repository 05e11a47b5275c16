//! Turning a request's property changes into one sled batch.
//!
//! The changes are worked out against an overlay (the store as it would be after the changes
//! so far), so that a later change sees an earlier one: a MOVE pins a document record on the
//! source and then moves the source's properties, and the record must move too. The result
//! is a single `apply_batch`, which sled writes atomically: after a crash, all of the changes
//! are in the store or none are (docs/adr/0017-crash-safety.md).

use std::collections::BTreeMap;

use davd_registry::{DavPath, Marker, PropChange, StoredProp, SubsystemError, SubsystemResult};

use super::db_error;
use super::keys::{dir_prefix, parse_prop_key, prop_key, resource_prefix};
use super::markers;

/// The store as the batch would leave it: keys written (`Some`) or removed (`None`).
pub(super) struct Overlay<'a> {
    tree: &'a sled::Tree,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The value each touched key had in the store before the batch, for the undo list.
    before: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Overlay<'a> {
    pub(super) fn new(tree: &'a sled::Tree) -> Self {
        Overlay {
            tree,
            pending: BTreeMap::new(),
            before: BTreeMap::new(),
        }
    }

    fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) -> SubsystemResult<()> {
        if !self.before.contains_key(&key) {
            let old = self.tree.get(&key).map_err(db_error)?.map(|v| v.to_vec());
            self.before.insert(key.clone(), old);
        }
        self.pending.insert(key, value);
        Ok(())
    }

    /// Keys under `prefix` with their values, as the batch so far would leave them.
    fn scan(&self, prefix: &[u8]) -> SubsystemResult<BTreeMap<Vec<u8>, Vec<u8>>> {
        let mut view = BTreeMap::new();
        for item in self.tree.scan_prefix(prefix) {
            let (key, value) = item.map_err(db_error)?;
            view.insert(key.to_vec(), value.to_vec());
        }
        for (key, value) in self
            .pending
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            match value {
                Some(v) => view.insert(key.clone(), v.clone()),
                None => view.remove(key),
            };
        }
        Ok(view)
    }

    /// The keys of `path` and of everything below it.
    fn scan_tree(&self, path: &DavPath) -> SubsystemResult<BTreeMap<Vec<u8>, Vec<u8>>> {
        let mut all = self.scan(resource_prefix(path).as_bytes())?;
        all.extend(self.scan(dir_prefix(path).as_bytes())?);
        Ok(all)
    }

    pub(super) fn change(&mut self, change: &PropChange) -> SubsystemResult<()> {
        match change {
            PropChange::Set { path, prop } => self.write(
                prop_key(path, &prop.name).into_bytes(),
                Some(prop.xml.as_bytes().to_vec()),
            ),
            PropChange::Remove { path, name } => {
                self.write(prop_key(path, name).into_bytes(), None)
            }
            PropChange::RemoveTree { path } => {
                for key in self.scan_tree(path)?.into_keys() {
                    self.write(key, None)?;
                }
                Ok(())
            }
            PropChange::MoveTree { from, to } => {
                for key in self.scan_tree(to)?.into_keys() {
                    self.write(key, None)?;
                }
                for (key, value) in self.scan_tree(from)? {
                    let (old, name) = parse_prop_key(&key)
                        .ok_or_else(|| SubsystemError::internal("an unreadable property key"))?;
                    self.write(key, None)?;
                    if let Some(new) = old.rebase(from, to) {
                        self.write(prop_key(&new, &name).into_bytes(), Some(value))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// The batch to apply, with `marker` recorded or removed in it, and the changes that undo it.
    pub(super) fn finish(
        self,
        marker: Marker<'_>,
    ) -> SubsystemResult<(sled::Batch, Vec<PropChange>)> {
        let mut batch = sled::Batch::default();
        for (key, value) in &self.pending {
            match value {
                Some(v) => batch.insert(key.as_slice(), v.as_slice()),
                None => batch.remove(key.as_slice()),
            }
        }
        match marker {
            Marker::Record(m) => batch.insert(markers::key(m), b"".as_slice()),
            Marker::Clear(m) => batch.remove(markers::key(m)),
            Marker::None => {}
        }
        let mut undo = Vec::with_capacity(self.before.len());
        for (key, old) in self.before {
            let (path, name) = parse_prop_key(&key)
                .ok_or_else(|| SubsystemError::internal("an unreadable property key"))?;
            undo.push(match old {
                Some(xml) => PropChange::Set {
                    path,
                    prop: StoredProp {
                        name,
                        xml: String::from_utf8(xml).map_err(|_| {
                            SubsystemError::internal("a stored property is not UTF-8")
                        })?,
                    },
                },
                None => PropChange::Remove { path, name },
            });
        }
        Ok((batch, undo))
    }
}
