//! The dead properties of a listed collection's members, read with bounded memory.
//!
//! A collection whose members' dead properties come to at most the configured budget
//! (`ExecutiveConfig::listing_dead_budget`) is read with one range scan before the listing
//! starts ([`PropertyManager::get_children`]). A larger one is read as the listing goes, one
//! batch of at most [`MEMBERS_PER_BATCH`] members at a time: the batch is sorted and its
//! properties read with one range scan from its first name to its last
//! ([`PropertyManager::get_members`]), so the batches of a sorted listing read the store once
//! from end to end, as long as they fit in the budget: a batch whose properties do not
//! ([`PropertyManager::get_members_within`]) is left for each member to read alone, page by
//! page (`crate::dead_pages`). A namespace that lists in no particular order can hand over a
//! member whose name sorts before a range already read; such a member's properties are read
//! alone too.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use davd_protocol::DavPath;
use davd_registry::{PropertyManager, StoredProp, SubsystemResult};

/// How many listed members share one range scan when a collection is read batch by batch.
pub const MEMBERS_PER_BATCH: usize = 256;

/// The reader for the members of one collection.
pub struct MemberProps {
    properties: Arc<dyn PropertyManager>,
    parent: DavPath,
    budget: usize,
    mode: Mode,
}

/// What [`MemberProps::fetch`] read for a batch.
#[derive(Debug, Default)]
pub struct Fetched {
    /// The properties of the members that have any, by name.
    pub found: HashMap<String, Vec<StoredProp>>,
    /// Members whose properties were not read here: each reads its own.
    pub unread: HashSet<String>,
}

impl Fetched {
    /// The properties of `name` if they were read (empty if it has none), `None` if the member
    /// must read its own.
    pub fn take(&mut self, name: &str) -> Option<Vec<StoredProp>> {
        if self.unread.contains(name) {
            None
        } else {
            Some(self.found.remove(name).unwrap_or_default())
        }
    }
}

enum Mode {
    /// Everything was read at once; each member's entry is taken out as it is listed.
    All(HashMap<String, Vec<StoredProp>>),
    /// Batch by batch; the highest name a range scan has covered so far.
    Batches { scanned_through: Option<String> },
}

impl MemberProps {
    /// Reads everything at once if it fits in `budget` bytes, otherwise prepares for batches.
    pub async fn open(
        properties: Arc<dyn PropertyManager>,
        parent: DavPath,
        budget: usize,
    ) -> SubsystemResult<MemberProps> {
        let mode = match properties.get_children(&parent, budget).await? {
            Some(all) => Mode::All(all),
            None => Mode::Batches {
                scanned_through: None,
            },
        };
        Ok(MemberProps {
            properties,
            parent,
            budget,
            mode,
        })
    }

    /// True if the properties were too many to read at once.
    #[cfg(test)]
    pub fn in_batches(&self) -> bool {
        matches!(self.mode, Mode::Batches { .. })
    }

    /// The dead properties of the members `names` (sorted, no duplicates, at most
    /// [`MEMBERS_PER_BATCH`] of them), as far as they fit in the budget.
    pub async fn fetch(&mut self, names: &[&str]) -> SubsystemResult<Fetched> {
        let scanned_through = match &mut self.mode {
            Mode::All(all) => {
                return Ok(Fetched {
                    found: names
                        .iter()
                        .filter_map(|name| all.remove_entry(*name))
                        .collect(),
                    unread: HashSet::new(),
                });
            }
            Mode::Batches { scanned_through } => scanned_through,
        };
        // Names at or below what an earlier scan covered came out of order: read them alone.
        let split = names.partition_point(|name| {
            scanned_through
                .as_deref()
                .is_some_and(|through| *name <= through)
        });
        let (late, fresh) = names.split_at(split);
        let mut fetched = Fetched {
            unread: late.iter().map(|name| (*name).to_owned()).collect(),
            ..Fetched::default()
        };
        if let Some(last) = fresh.last() {
            *scanned_through = Some((*last).to_owned());
            match self
                .properties
                .get_members_within(&self.parent, fresh, self.budget)
                .await?
            {
                Some(found) => fetched.found = found,
                None => fetched
                    .unread
                    .extend(fresh.iter().map(|name| (*name).to_owned())),
            }
        }
        Ok(fetched)
    }
}

#[cfg(test)]
mod tests {
    use davd_protocol::PropName;
    use davd_subsystems::memory::MemoryProperties;

    use super::*;

    async fn store(members: &[String]) -> Arc<dyn PropertyManager> {
        let store = MemoryProperties::new();
        let parent = DavPath::root().join("c").expect("a valid segment");
        for name in members {
            let path = parent.join(name).expect("a valid segment");
            let prop = StoredProp {
                name: PropName::new("urn:t", "owner"),
                xml: format!("<owner xmlns=\"urn:t\">{name}</owner>"),
            };
            store.set(&path, prop).await.expect("memory store");
        }
        Arc::new(store)
    }

    /// Every member gets its own properties, in order or not, within one batch or across many.
    #[tokio::test]
    async fn each_member_gets_its_own_properties_at_any_budget() {
        let members: Vec<String> = (0..40).map(|i| format!("m{i:02}")).collect();
        let properties = store(&members).await;
        let parent = DavPath::root().join("c").expect("a valid segment");
        for budget in [usize::MAX, 0] {
            let mut reader = MemberProps::open(properties.clone(), parent.clone(), budget)
                .await
                .expect("open");
            assert_eq!(reader.in_batches(), budget == 0);
            // Three batches: one, one after it, one before both (out of order); each with a
            // member that has no properties.
            let mut seen = 0;
            for batch in [&members[10..20], &members[30..40], &members[0..10]] {
                let none = format!("{}-none", batch[0]);
                let mut names: Vec<&str> = batch.iter().map(String::as_str).collect();
                names.push(&none);
                names.sort_unstable();
                let mut got = reader.fetch(&names).await.expect("fetch");
                let mut props_of = HashMap::new();
                for name in &names {
                    let props = match got.take(name) {
                        Some(read) => read,
                        // Not read with the batch: the member reads its own.
                        None => {
                            let path = parent.join(name).expect("a valid segment");
                            properties.get_all(&path).await.expect("read")
                        }
                    };
                    if !props.is_empty() {
                        props_of.insert((*name).to_owned(), props);
                    }
                }
                assert_eq!(props_of.len(), batch.len(), "{budget} {names:?}");
                for name in batch {
                    let props = &props_of[name.as_str()];
                    assert_eq!(props.len(), 1);
                    assert!(props[0].xml.contains(&format!(">{name}<")), "{props:?}");
                    seen += 1;
                }
            }
            assert_eq!(seen, 30);
        }
    }
}
