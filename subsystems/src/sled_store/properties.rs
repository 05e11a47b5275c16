use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::Ordering;

use async_trait::async_trait;

use davd_registry::{
    ChangeLog, DavPath, Marker, PropChange, PropName, PropPage, PropertyManager, PropsByPath,
    StoredProp, SubsystemError, SubsystemResult, prop_size,
};

use super::keys::{children_prefix, dir_prefix, parse_prop_key, prop_key, resource_prefix};
use super::prop_batch::{self, Overlay};
use super::{StateDb, db_error, markers};

/// Dead properties in the sled tree `props`, keyed as described in `keys`.
pub struct SledProperties {
    state: StateDb,
    tree: sled::Tree,
}

impl SledProperties {
    pub fn open(state: &StateDb) -> Result<Self, sled::Error> {
        Ok(SledProperties {
            state: state.clone(),
            tree: state.db.open_tree("props")?,
        })
    }

    /// Counts a change, after it was made (or failed part way): a reader that took the count
    /// before reading sees it differ, so nothing read before the change is trusted after it.
    fn changed(&self) {
        self.state.prop_changes.fetch_add(1, Ordering::Release);
    }

    fn apply_batch(&self, batch: sled::Batch) -> SubsystemResult<()> {
        let applied = self.tree.apply_batch(batch);
        self.changed();
        applied.map_err(db_error)
    }

    fn scan(&self, prefix: &str) -> SubsystemResult<PropsByPath> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefix.as_bytes()) {
            let (key, value) = item.map_err(db_error)?;
            if let Some((path, name)) = parse_prop_key(&key) {
                out.push((path, stored(name, &value)?));
            }
        }
        Ok(out)
    }

    fn scan_tree(&self, path: &DavPath) -> SubsystemResult<PropsByPath> {
        let mut all = self.scan(&resource_prefix(path))?;
        all.extend(self.scan(&dir_prefix(path))?);
        Ok(all)
    }
}

fn stored(name: PropName, value: &[u8]) -> SubsystemResult<StoredProp> {
    let xml = String::from_utf8(value.to_vec())
        .map_err(|_| SubsystemError::internal("a stored property is not UTF-8"))?;
    Ok(StoredProp { name, xml })
}

#[async_trait]
impl PropertyManager for SledProperties {
    fn kind(&self) -> &'static str {
        "sled"
    }

    fn survives_restart(&self) -> bool {
        true
    }

    /// The database's one log, whichever mount's manager is asked.
    fn change_log(&self) -> Option<&dyn ChangeLog> {
        Some(&*self.state.changes)
    }

    async fn get(&self, path: &DavPath, name: &PropName) -> SubsystemResult<Option<StoredProp>> {
        match self.tree.get(prop_key(path, name)).map_err(db_error)? {
            Some(value) => Ok(Some(stored(name.clone(), &value)?)),
            None => Ok(None),
        }
    }

    async fn get_all(&self, path: &DavPath) -> SubsystemResult<Vec<StoredProp>> {
        Ok(self
            .scan(&resource_prefix(path))?
            .into_iter()
            .map(|(_, p)| p)
            .collect())
    }

    async fn get_children(
        &self,
        parent: &DavPath,
        limit: usize,
    ) -> SubsystemResult<Option<HashMap<String, Vec<StoredProp>>>> {
        let mut out: HashMap<String, Vec<StoredProp>> = HashMap::new();
        let mut size = 0usize;
        for item in self.tree.scan_prefix(children_prefix(parent).as_bytes()) {
            let (key, value) = item.map_err(db_error)?;
            let Some((path, name)) = parse_prop_key(&key) else {
                continue;
            };
            let Some(member) = path.name() else { continue };
            let prop = stored(name, &value)?;
            size = size.saturating_add(prop_size(member, &prop));
            if size > limit {
                return Ok(None);
            }
            out.entry(member.to_owned()).or_default().push(prop);
        }
        Ok(Some(out))
    }

    async fn get_members(
        &self,
        parent: &DavPath,
        names: &[&str],
    ) -> SubsystemResult<HashMap<String, Vec<StoredProp>>> {
        let mut out: HashMap<String, Vec<StoredProp>> = HashMap::new();
        let (Some(first), Some(last)) = (names.first(), names.last()) else {
            return Ok(out);
        };
        // Keys are `children-prefix name NUL ...`; names never contain NUL, so key order is
        // name order and every key of `last` sorts below `children-prefix last \x01`.
        let prefix = children_prefix(parent);
        let start = format!("{prefix}{first}\0");
        let end = format!("{prefix}{last}\u{1}");
        for item in self.tree.range(start.as_bytes()..end.as_bytes()) {
            let (key, value) = item.map_err(db_error)?;
            let Some((path, name)) = parse_prop_key(&key) else {
                continue;
            };
            let Some(member) = path.name() else { continue };
            if names.binary_search(&member).is_ok() {
                out.entry(member.to_owned())
                    .or_default()
                    .push(stored(name, &value)?);
            }
        }
        Ok(out)
    }

    async fn get_members_within(
        &self,
        parent: &DavPath,
        names: &[&str],
        limit: usize,
    ) -> SubsystemResult<Option<HashMap<String, Vec<StoredProp>>>> {
        let mut out: HashMap<String, Vec<StoredProp>> = HashMap::new();
        let (Some(first), Some(last)) = (names.first(), names.last()) else {
            return Ok(Some(out));
        };
        let prefix = children_prefix(parent);
        let start = format!("{prefix}{first}\0");
        let end = format!("{prefix}{last}\u{1}");
        let mut size = 0usize;
        for item in self.tree.range(start.as_bytes()..end.as_bytes()) {
            let (key, value) = item.map_err(db_error)?;
            let Some((path, name)) = parse_prop_key(&key) else {
                continue;
            };
            let Some(member) = path.name() else { continue };
            if names.binary_search(&member).is_err() {
                continue;
            }
            let prop = stored(name, &value)?;
            size = size.saturating_add(prop_size(member, &prop));
            if size > limit {
                return Ok(None);
            }
            out.entry(member.to_owned()).or_default().push(prop);
        }
        Ok(Some(out))
    }

    /// One range scan from the key after `after`: values are read one at a time, and the
    /// scan stops at the budget.
    async fn get_page(
        &self,
        path: &DavPath,
        after: Option<&PropName>,
        budget: usize,
    ) -> SubsystemResult<PropPage> {
        let prefix = resource_prefix(path);
        let start = match after {
            Some(name) => Bound::Excluded(prop_key(path, name).into_bytes()),
            None => Bound::Included(prefix.clone().into_bytes()),
        };
        let mut page = PropPage::default();
        let mut size = 0usize;
        for item in self.tree.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (key, value) = item.map_err(db_error)?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            let Some((_, name)) = parse_prop_key(&key) else {
                continue;
            };
            let prop = stored(name, &value)?;
            let cost = prop_size("", &prop);
            if !page.props.is_empty() && size.saturating_add(cost) > budget {
                page.more = true;
                break;
            }
            size = size.saturating_add(cost);
            page.props.push(prop);
        }
        Ok(page)
    }

    async fn set(&self, path: &DavPath, prop: StoredProp) -> SubsystemResult<Option<StoredProp>> {
        self.state.room_for(prop.xml.len() as u64)?;
        let old = self
            .tree
            .insert(prop_key(path, &prop.name), prop.xml.as_bytes());
        self.changed();
        old.map_err(db_error)?
            .map(|v| stored(prop.name, &v))
            .transpose()
    }

    async fn remove(&self, path: &DavPath, name: &PropName) -> SubsystemResult<Option<StoredProp>> {
        self.state.room_for(0)?;
        let old = self.tree.remove(prop_key(path, name));
        self.changed();
        old.map_err(db_error)?
            .map(|v| stored(name.clone(), &v))
            .transpose()
    }

    async fn get_tree(&self, path: &DavPath) -> SubsystemResult<PropsByPath> {
        self.scan_tree(path)
    }

    async fn remove_tree(&self, path: &DavPath) -> SubsystemResult<PropsByPath> {
        self.state.room_for(0)?;
        let removed = self.scan_tree(path)?;
        let mut batch = sled::Batch::default();
        for (p, prop) in &removed {
            batch.remove(prop_key(p, &prop.name).as_bytes());
        }
        self.apply_batch(batch)?;
        Ok(removed)
    }

    async fn put_many(&self, props: PropsByPath) -> SubsystemResult<()> {
        self.state.room_for(0)?;
        let mut batch = sled::Batch::default();
        for (p, prop) in props {
            batch.insert(prop_key(&p, &prop.name).as_bytes(), prop.xml.as_bytes());
        }
        self.apply_batch(batch)
    }

    async fn move_tree(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        self.state.room_for(0)?;
        let moving = self.scan_tree(from)?;
        let mut batch = sled::Batch::default();
        for (old, prop) in &moving {
            batch.remove(prop_key(old, &prop.name).as_bytes());
        }
        for (old, prop) in &moving {
            if let Some(new) = old.rebase(from, to) {
                batch.insert(prop_key(&new, &prop.name).as_bytes(), prop.xml.as_bytes());
            }
        }
        self.apply_batch(batch)
    }

    async fn flush(&self) -> SubsystemResult<()> {
        self.state.flush().await
    }

    /// Only this process writes the database (sled holds a lock on it), and every write of
    /// `props` goes through a `SledProperties` of this `StateDb`.
    fn change_count(&self) -> Option<u64> {
        Some(self.state.prop_changes.load(Ordering::Acquire))
    }

    /// One sled batch, worked out against an overlay so that later changes see earlier ones
    /// (`prop_batch`), with the marker in it.
    async fn apply(
        &self,
        changes: &[PropChange],
        marker: Marker<'_>,
    ) -> SubsystemResult<Vec<PropChange>> {
        self.state.room_for(0)?;
        if let ([change @ (PropChange::Set { .. } | PropChange::Remove { .. })], Marker::None) =
            (changes, &marker)
        {
            let undo = prop_batch::write_one(&self.tree, change);
            self.changed();
            return Ok(vec![undo?]);
        }
        let mut overlay = Overlay::new(&self.tree);
        for change in changes {
            overlay.change(change)?;
        }
        let (write, undo) = overlay.finish(marker)?;
        let written = write.apply_to(&self.tree);
        self.changed();
        written.map_err(db_error)?;
        Ok(undo)
    }

    async fn has_marker(&self, marker: &str) -> SubsystemResult<bool> {
        markers::has(&self.tree, marker)
    }

    async fn forget_markers(&self, forget: &[String]) -> SubsystemResult<()> {
        self.state.room_for(0)?;
        markers::forget(&self.tree, forget)
    }

    async fn markers(&self) -> SubsystemResult<Vec<String>> {
        markers::all(&self.tree)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::conformance::support::{path, prop};

    /// Two mounts may keep their properties in one state database; a reader of either must
    /// see a write through the other as a change.
    #[tokio::test]
    async fn managers_of_one_database_share_their_change_count() {
        let state = StateDb::temporary().unwrap();
        let first = SledProperties::open(&state).unwrap();
        let second = SledProperties::open(&state).unwrap();
        let before = second.change_count().unwrap();
        first.set(&path("/a"), prop("p", "1")).await.unwrap();
        assert!(second.change_count().unwrap() > before);
        assert_eq!(first.change_count(), second.change_count());
    }
}
