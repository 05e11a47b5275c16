//! Turning a request's property changes into one sled batch.
//!
//! The changes are worked out against an overlay (the store as it would be after the changes
//! so far), so that a later change sees an earlier one: a MOVE pins a document record on the
//! source and then moves the source's properties, and the record must move too. The result
//! is a single `apply_batch`, which sled writes atomically: after a crash, all of the changes
//! are in the store or none are (docs/adr/0017-crash-safety.md). A single change without a
//! marker (a PUT's document record) is a single insert or remove instead, atomic by itself
//! and much cheaper for sled.

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
    pub(super) fn finish(self, marker: Marker<'_>) -> SubsystemResult<(Write, Vec<PropChange>)> {
        let write = match (self.pending.len(), marker) {
            // One key and no marker: a single insert or remove is atomic by itself, and
            // spares sled a batch, which writes out its log buffer twice (rolling it, then
            // the batch's manifest), each write waited for with `sync_file_range`.
            (1, Marker::None) => match self.pending.iter().next() {
                Some((key, value)) => Write::One(key.clone(), value.clone()),
                None => unreachable!("one pending write"),
            },
            (_, marker) => {
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
                Write::Batch(batch)
            }
        };
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
        Ok((write, undo))
    }
}

/// Writes a single `Set` or `Remove` that comes without a marker (a PUT's document record)
/// at once, and returns the change that undoes it. sled's insert and remove are atomic by
/// themselves and hand back the value they replaced, so the key is looked up once, where an
/// overlay reads it first and writes it after.
pub(super) fn write_one(tree: &sled::Tree, change: &PropChange) -> SubsystemResult<PropChange> {
    let (path, name, old) = match change {
        PropChange::Set { path, prop } => {
            let key = prop_key(path, &prop.name);
            let old = tree.insert(key.as_bytes(), prop.xml.as_bytes());
            (path, &prop.name, old.map_err(db_error)?)
        }
        PropChange::Remove { path, name } => {
            let old = tree.remove(prop_key(path, name).as_bytes());
            (path, name, old.map_err(db_error)?)
        }
        PropChange::RemoveTree { .. } | PropChange::MoveTree { .. } => {
            return Err(SubsystemError::internal(
                "a tree change is not a single write",
            ));
        }
    };
    Ok(match old {
        // Every value davd stores was text; bytes that are not would be a damaged store,
        // and the write has happened by now, so the undo keeps what can be read of them.
        Some(xml) => PropChange::Set {
            path: path.clone(),
            prop: StoredProp {
                name: name.clone(),
                xml: text_of(&xml),
            },
        },
        None => PropChange::Remove {
            path: path.clone(),
            name: name.clone(),
        },
    })
}

/// A stored value as text. `from_utf8` first: it checks ASCII a word at a time, where
/// `from_utf8_lossy` walks the bytes in chunks (about 900 instructions for a document
/// record, the undo of every PUT).
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// What a finished overlay writes to the tree.
pub(super) enum Write {
    /// One key set (`Some`) or removed (`None`).
    One(Vec<u8>, Option<Vec<u8>>),
    Batch(sled::Batch),
}

impl Write {
    /// Writes it to `tree`, atomically.
    pub(super) fn apply_to(self, tree: &sled::Tree) -> sled::Result<()> {
        match self {
            Write::One(key, Some(value)) => tree.insert(key, value).map(drop),
            Write::One(key, None) => tree.remove(key).map(drop),
            Write::Batch(batch) => tree.apply_batch(batch),
        }
    }
}

#[cfg(test)]
mod tests {
    use davd_registry::PropName;

    use super::*;

    fn set(path: &str, text: &str) -> PropChange {
        PropChange::Set {
            path: DavPath::from_segments([path]).unwrap(),
            prop: StoredProp {
                name: PropName::new("urn:t", "p"),
                xml: format!("<p xmlns=\"urn:t\">{text}</p>"),
            },
        }
    }

    /// A single write hands back the change that undoes it: a remove for a new key, the old
    /// value for a replaced one, and applying the undos in reverse restores the store.
    #[test]
    fn a_single_write_returns_its_undo() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("props").unwrap();
        let first = write_one(&tree, &set("a", "1")).unwrap();
        assert!(matches!(&first, PropChange::Remove { .. }), "{first:?}");
        let second = write_one(&tree, &set("a", "2")).unwrap();
        match &second {
            PropChange::Set { prop, .. } => assert_eq!(prop.xml, "<p xmlns=\"urn:t\">1</p>"),
            other => panic!("{other:?}"),
        }
        let key = prop_key(
            &DavPath::from_segments(["a"]).unwrap(),
            &PropName::new("urn:t", "p"),
        );
        assert_eq!(
            tree.get(key.as_bytes()).unwrap().as_deref(),
            Some(b"<p xmlns=\"urn:t\">2</p>".as_slice())
        );
        write_one(&tree, &second).unwrap();
        assert_eq!(
            tree.get(key.as_bytes()).unwrap().as_deref(),
            Some(b"<p xmlns=\"urn:t\">1</p>".as_slice())
        );
        write_one(&tree, &first).unwrap();
        assert!(tree.is_empty());
        let tree_change = PropChange::RemoveTree {
            path: DavPath::from_segments(["a"]).unwrap(),
        };
        assert!(write_one(&tree, &tree_change).is_err());
    }

    /// One change without a marker is a single write (no sled batch, which writes its log
    /// out twice); more changes, or a marker, are one batch; both land in the tree.
    #[test]
    fn one_change_without_a_marker_is_a_single_write() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("props").unwrap();

        let mut overlay = Overlay::new(&tree);
        overlay.change(&set("a", "1")).unwrap();
        let (write, undo) = overlay.finish(Marker::None).unwrap();
        assert!(matches!(write, Write::One(_, Some(_))));
        assert!(matches!(&undo[..], [PropChange::Remove { .. }]));
        write.apply_to(&tree).unwrap();
        assert_eq!(tree.len(), 1);

        let mut overlay = Overlay::new(&tree);
        overlay.change(&set("a", "2")).unwrap();
        let (write, undo) = overlay.finish(Marker::Record("m1")).unwrap();
        assert!(matches!(write, Write::Batch(_)));
        assert!(matches!(&undo[..], [PropChange::Set { .. }]));
        write.apply_to(&tree).unwrap();
        assert_eq!(tree.len(), 2, "the value and the marker");

        let mut overlay = Overlay::new(&tree);
        overlay.change(&set("b", "1")).unwrap();
        overlay.change(&set("c", "1")).unwrap();
        let (write, _) = overlay.finish(Marker::None).unwrap();
        assert!(matches!(write, Write::Batch(_)));
        write.apply_to(&tree).unwrap();
        assert_eq!(tree.len(), 4);
    }

    #[test]
    fn a_stored_value_reads_as_its_text_and_damage_as_replacement_characters() {
        assert_eq!(text_of(b"<x>caf\xc3\xa9</x>"), "<x>caf\u{e9}</x>");
        assert_eq!(text_of(b"<x>\xff</x>"), "<x>\u{fffd}</x>");
        assert_eq!(text_of(b""), "");
    }
}
