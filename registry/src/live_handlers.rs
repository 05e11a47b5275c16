//! The live-property handlers in force at one scope, built once when the registry is.
//!
//! Every property of every PROPFIND asks which handler owns a name, several times. Scanning
//! every name of every handler for it was a thousand instructions for a four-property
//! PROPFIND, and collecting the handlers into a new vector on every request cost allocations
//! besides; so the registry builds one `LiveHandlers` per scope, with a small hash index from
//! name to owner, and a request shares it. (A sorted index with a binary search cost three
//! times the scan: every step compares whole strings.)

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use davd_protocol::PropName;

use crate::live::LivePropertyHandler;

/// Handlers in force at a scope, nearest scope first: where two claim one name, the first
/// (the nearer) owns it.
#[derive(Clone, Default)]
pub struct LiveHandlers(Arc<Index>);

#[derive(Default)]
struct Index {
    handlers: Vec<Arc<dyn LivePropertyHandler>>,
    /// Every name some handler owns, with the position of its owner, in buckets by
    /// [`bucket`]; a power of two of them, about two per name, so most hold one name.
    buckets: Vec<Vec<(PropName, usize)>>,
    /// Whether two handlers claim one name.
    overlap: bool,
}

impl LiveHandlers {
    pub fn new(handlers: Vec<Arc<dyn LivePropertyHandler>>) -> LiveHandlers {
        let names: usize = handlers.iter().map(|h| h.names().len()).sum();
        let mut buckets = vec![Vec::new(); buckets_len(names)];
        let mut overlap = false;
        for (position, handler) in handlers.iter().enumerate() {
            for name in handler.names() {
                let slot = &mut buckets[bucket(name, buckets_len(names))];
                if slot.iter().any(|(owned, _)| owned == name) {
                    overlap = true; // the nearer handler keeps it
                } else {
                    slot.push((name.clone(), position));
                }
            }
        }
        LiveHandlers(Arc::new(Index {
            handlers,
            buckets,
            overlap,
        }))
    }

    /// The handler that owns `name`, if any.
    pub fn handler_for(&self, name: &PropName) -> Option<&Arc<dyn LivePropertyHandler>> {
        let index = &self.0;
        if index.buckets.is_empty() {
            return None;
        }
        let (_, position) = index.buckets[bucket(name, index.buckets.len())]
            .iter()
            .find(|(owned, _)| owned.local == name.local && owned.namespace == name.namespace)?;
        index.handlers.get(*position)
    }

    /// Whether two handlers claim one name (a listing must then skip the later claims).
    pub fn names_overlap(&self) -> bool {
        self.0.overlap
    }
}

fn buckets_len(names: usize) -> usize {
    (2 * names).next_power_of_two()
}

/// A name's bucket among `buckets` (a power of two), from its local name's length and its
/// first and last bytes: cheap, and enough to tell apart the few dozen names handlers own.
fn bucket(name: &PropName, buckets: usize) -> usize {
    let local = name.local.as_bytes();
    let first = usize::from(local.first().copied().unwrap_or(0));
    let last = usize::from(local.last().copied().unwrap_or(0));
    (local.len().wrapping_mul(31) ^ first.wrapping_mul(7) ^ last) & (buckets - 1)
}

impl Deref for LiveHandlers {
    type Target = [Arc<dyn LivePropertyHandler>];

    fn deref(&self) -> &Self::Target {
        &self.0.handlers
    }
}

impl<'a> IntoIterator for &'a LiveHandlers {
    type Item = &'a Arc<dyn LivePropertyHandler>;
    type IntoIter = std::slice::Iter<'a, Arc<dyn LivePropertyHandler>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.handlers.iter()
    }
}

impl From<Vec<Arc<dyn LivePropertyHandler>>> for LiveHandlers {
    fn from(handlers: Vec<Arc<dyn LivePropertyHandler>>) -> LiveHandlers {
        LiveHandlers::new(handlers)
    }
}

impl fmt::Debug for LiveHandlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveHandlers")
            .field("handlers", &self.0.handlers.len())
            .field("names", &self.0.buckets.iter().map(Vec::len).sum::<usize>())
            .field("overlap", &self.0.overlap)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use async_trait::async_trait;
    use davd_protocol::xml::PropValue;

    use crate::error::SubsystemResult;
    use crate::live::PropContext;

    struct Owns(Vec<PropName>);

    #[async_trait]
    impl LivePropertyHandler for Owns {
        fn names(&self) -> &[PropName] {
            &self.0
        }

        async fn get(
            &self,
            _: &PropContext<'_>,
            _: &PropName,
        ) -> SubsystemResult<Option<PropValue>> {
            Ok(None)
        }
    }

    fn name(namespace: &'static str, local: &'static str) -> PropName {
        PropName::new(namespace, local)
    }

    fn handlers(sets: &[&[PropName]]) -> LiveHandlers {
        LiveHandlers::new(
            sets.iter()
                .map(|names| Arc::new(Owns(names.to_vec())) as Arc<dyn LivePropertyHandler>)
                .collect(),
        )
    }

    /// Which handler (by position) owns `name`.
    fn owner(live: &LiveHandlers, name: &PropName) -> Option<usize> {
        let found = live.handler_for(name)?;
        live.iter().position(|h| Arc::ptr_eq(h, found))
    }

    #[test]
    fn each_name_finds_its_owner_and_the_namespace_counts() {
        let live = handlers(&[
            &[name("DAV:", "getetag"), name("DAV:", "resourcetype")],
            &[name("urn:x", "getetag"), name("urn:x", "quota")],
        ]);
        assert_eq!(owner(&live, &name("DAV:", "getetag")), Some(0));
        assert_eq!(owner(&live, &name("DAV:", "resourcetype")), Some(0));
        assert_eq!(owner(&live, &name("urn:x", "getetag")), Some(1));
        assert_eq!(owner(&live, &name("urn:x", "quota")), Some(1));
        assert_eq!(owner(&live, &name("DAV:", "quota")), None);
        assert_eq!(owner(&live, &name("urn:y", "nothing")), None);
        assert!(!live.names_overlap());
    }

    #[test]
    fn a_name_claimed_twice_belongs_to_the_nearer_handler() {
        let live = handlers(&[
            &[name("DAV:", "b"), name("DAV:", "a")],
            &[name("DAV:", "a"), name("DAV:", "c")],
            &[name("DAV:", "a")],
        ]);
        assert_eq!(owner(&live, &name("DAV:", "a")), Some(0));
        assert_eq!(owner(&live, &name("DAV:", "c")), Some(1));
        assert!(live.names_overlap());
        assert_eq!(live.len(), 3, "every handler stays in force, in order");
    }

    #[test]
    fn no_handlers_own_nothing() {
        let live = LiveHandlers::default();
        assert!(live.handler_for(&name("DAV:", "getetag")).is_none());
        assert!(!live.names_overlap());
        assert!(live.is_empty());
    }
}
