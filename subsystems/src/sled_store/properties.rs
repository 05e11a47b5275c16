use std::collections::HashMap;
use std::ops::Bound;

use async_trait::async_trait;

use davd_registry::{
    DavPath, Marker, PropChange, PropName, PropPage, PropertyManager, PropsByPath, StoredProp,
    SubsystemError, SubsystemResult, prop_size,
};

use super::keys::{children_prefix, dir_prefix, parse_prop_key, prop_key, resource_prefix};
use super::prop_batch::Overlay;
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
            .insert(prop_key(path, &prop.name), prop.xml.as_bytes())
            .map_err(db_error)?;
        old.map(|v| stored(prop.name, &v)).transpose()
    }

    async fn remove(&self, path: &DavPath, name: &PropName) -> SubsystemResult<Option<StoredProp>> {
        self.state.room_for(0)?;
        let old = self.tree.remove(prop_key(path, name)).map_err(db_error)?;
        old.map(|v| stored(name.clone(), &v)).transpose()
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
        self.tree.apply_batch(batch).map_err(db_error)?;
        Ok(removed)
    }

    async fn put_many(&self, props: PropsByPath) -> SubsystemResult<()> {
        self.state.room_for(0)?;
        let mut batch = sled::Batch::default();
        for (p, prop) in props {
            batch.insert(prop_key(&p, &prop.name).as_bytes(), prop.xml.as_bytes());
        }
        self.tree.apply_batch(batch).map_err(db_error)
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
        self.tree.apply_batch(batch).map_err(db_error)
    }

    async fn flush(&self) -> SubsystemResult<()> {
        self.state.flush().await
    }

    /// One sled batch, worked out against an overlay so that later changes see earlier ones
    /// (`prop_batch`), with the marker in it.
    async fn apply(
        &self,
        changes: &[PropChange],
        marker: Marker<'_>,
    ) -> SubsystemResult<Vec<PropChange>> {
        self.state.room_for(0)?;
        let mut overlay = Overlay::new(&self.tree);
        for change in changes {
            overlay.change(change)?;
        }
        let (write, undo) = overlay.finish(marker)?;
        write.apply_to(&self.tree).map_err(db_error)?;
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
