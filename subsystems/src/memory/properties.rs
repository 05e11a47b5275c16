use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::RwLock;

use async_trait::async_trait;

use davd_registry::{
    ChangeLog, DavPath, PropName, PropPage, PropertyManager, PropsByPath, StoredProp,
    SubsystemResult, prop_size,
};

use super::{MemoryChangeLog, read, write};

/// path -> name -> XML.
type Props = BTreeMap<DavPath, BTreeMap<PropName, String>>;

/// Dead properties in memory: path -> name -> XML.
#[derive(Default)]
pub struct MemoryProperties {
    props: RwLock<Props>,
    changes: MemoryChangeLog,
}

impl MemoryProperties {
    pub fn new() -> Self {
        Self::default()
    }
}

fn to_stored(props: &BTreeMap<PropName, String>) -> Vec<StoredProp> {
    props
        .iter()
        .map(|(name, xml)| StoredProp {
            name: name.clone(),
            xml: xml.clone(),
        })
        .collect()
}

/// The properties of `path` and of everything below it.
fn tree_of(props: &Props, path: &DavPath) -> PropsByPath {
    props
        .iter()
        .filter(|(p, _)| p.is_within(path))
        .flat_map(|(p, named)| to_stored(named).into_iter().map(move |s| (p.clone(), s)))
        .collect()
}

#[async_trait]
impl PropertyManager for MemoryProperties {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn change_log(&self) -> Option<&dyn ChangeLog> {
        Some(&self.changes)
    }

    async fn get(&self, path: &DavPath, name: &PropName) -> SubsystemResult<Option<StoredProp>> {
        Ok(read(&self.props)
            .get(path)
            .and_then(|p| p.get(name))
            .map(|xml| StoredProp {
                name: name.clone(),
                xml: xml.clone(),
            }))
    }

    async fn get_all(&self, path: &DavPath) -> SubsystemResult<Vec<StoredProp>> {
        Ok(read(&self.props)
            .get(path)
            .map(to_stored)
            .unwrap_or_default())
    }

    async fn get_children(
        &self,
        parent: &DavPath,
        limit: usize,
    ) -> SubsystemResult<Option<HashMap<String, Vec<StoredProp>>>> {
        let props = read(&self.props);
        let mut out = HashMap::new();
        let mut size = 0usize;
        for (path, named) in props.iter() {
            if path.parent().as_ref() != Some(parent) {
                continue;
            }
            let Some(member) = path.name() else { continue };
            let stored = to_stored(named);
            for prop in &stored {
                size = size.saturating_add(prop_size(member, prop));
            }
            if size > limit {
                return Ok(None);
            }
            out.insert(member.to_owned(), stored);
        }
        Ok(Some(out))
    }

    async fn get_members(
        &self,
        parent: &DavPath,
        names: &[&str],
    ) -> SubsystemResult<HashMap<String, Vec<StoredProp>>> {
        let props = read(&self.props);
        let mut out = HashMap::new();
        for name in names {
            let Ok(path) = parent.join(name) else {
                continue;
            };
            if let Some(named) = props.get(&path) {
                out.insert((*name).to_owned(), to_stored(named));
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
        let props = read(&self.props);
        let mut out = HashMap::new();
        let mut size = 0usize;
        for name in names {
            let Ok(path) = parent.join(name) else {
                continue;
            };
            if let Some(named) = props.get(&path) {
                for (prop_name, xml) in named {
                    size = size.saturating_add(
                        name.len()
                            + prop_name.namespace.len()
                            + prop_name.local.len()
                            + xml.len()
                            + 64,
                    );
                }
                if size > limit {
                    return Ok(None);
                }
                out.insert((*name).to_owned(), to_stored(named));
            }
        }
        Ok(Some(out))
    }

    /// Copies only the page's values.
    async fn get_page(
        &self,
        path: &DavPath,
        after: Option<&PropName>,
        budget: usize,
    ) -> SubsystemResult<PropPage> {
        let props = read(&self.props);
        let Some(named) = props.get(path) else {
            return Ok(PropPage::default());
        };
        let rest = match after {
            Some(after) => named.range::<PropName, _>((Bound::Excluded(after), Bound::Unbounded)),
            None => named.range::<PropName, _>(..),
        };
        let mut page = PropPage::default();
        let mut size = 0usize;
        for (name, xml) in rest {
            let cost = name.namespace.len() + name.local.len() + xml.len() + 64;
            if !page.props.is_empty() && size.saturating_add(cost) > budget {
                page.more = true;
                break;
            }
            size = size.saturating_add(cost);
            page.props.push(StoredProp {
                name: name.clone(),
                xml: xml.clone(),
            });
        }
        Ok(page)
    }

    async fn set(&self, path: &DavPath, prop: StoredProp) -> SubsystemResult<Option<StoredProp>> {
        let mut props = write(&self.props);
        let old = props
            .entry(path.clone())
            .or_default()
            .insert(prop.name.clone(), prop.xml);
        Ok(old.map(|xml| StoredProp {
            name: prop.name,
            xml,
        }))
    }

    async fn remove(&self, path: &DavPath, name: &PropName) -> SubsystemResult<Option<StoredProp>> {
        let mut props = write(&self.props);
        let old = props.get_mut(path).and_then(|p| p.remove(name));
        if props.get(path).is_some_and(|p| p.is_empty()) {
            props.remove(path);
        }
        Ok(old.map(|xml| StoredProp {
            name: name.clone(),
            xml,
        }))
    }

    async fn get_tree(&self, path: &DavPath) -> SubsystemResult<PropsByPath> {
        Ok(tree_of(&read(&self.props), path))
    }

    /// Under one lock: what it returns is exactly what it removed.
    async fn remove_tree(&self, path: &DavPath) -> SubsystemResult<PropsByPath> {
        let mut props = write(&self.props);
        let removed = tree_of(&props, path);
        props.retain(|p, _| !p.is_within(path));
        Ok(removed)
    }

    async fn put_many(&self, entries: PropsByPath) -> SubsystemResult<()> {
        let mut props = write(&self.props);
        for (path, prop) in entries {
            props.entry(path).or_default().insert(prop.name, prop.xml);
        }
        Ok(())
    }

    async fn move_tree(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        let mut props = write(&self.props);
        let moving: Vec<DavPath> = props
            .keys()
            .filter(|p| p.is_within(from))
            .cloned()
            .collect();
        for old in moving {
            if let (Some(named), Some(new)) = (props.remove(&old), old.rebase(from, to)) {
                props.insert(new, named);
            }
        }
        Ok(())
    }
}
