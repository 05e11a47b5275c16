//! The `ResourceTag` values this thread's GETs sent last, kept while nothing they depend on
//! can have changed.
//!
//! Every GET carries a `ResourceTag` (MS-WDVME 2.2.3), which costs a read of the resource's
//! document record from the property store and the tag's formatting: about 4,800 of the
//! 44,000 instructions a GET of a small file took (docs/performance.md). A client reading the
//! same files again and again (a browser, a sync client checking, an editor polling) asks for
//! the same answer each time. The tag is a function of the record and of the resource's
//! entity tag, modification time and kind ([`super::docid::identity_of`]), so an answer is
//! reused only when the property store reports that it changed nothing since the record was
//! read ([`PropertyManager::change_count`]) and the resource's metadata is the same. A store
//! that cannot tell (a cluster's database, which other instances write) answers `None`, and
//! nothing is remembered for it. Each thread that runs requests (a connection thread, ADR
//! 0016) keeps its own table, so no lock is shared.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderValue;

use davd_registry::{PropertyManager, ResourceMeta};

/// Paths remembered per thread; past this the table starts again empty, which bounds what a
/// thread keeps to a few hundred KiB.
const REMEMBERED: usize = 1024;

/// Which property store answered, and how many changes it had made when it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreState {
    store: usize,
    changes: u64,
}

impl StoreState {
    /// The state of `store` now, if it can tell one ([`PropertyManager::change_count`]).
    /// Taken before the record is read: a change made meanwhile raises the count after it.
    pub fn of(store: &Arc<dyn PropertyManager>) -> Option<StoreState> {
        Some(StoreState {
            store: Arc::as_ptr(store).cast::<()>() as usize,
            changes: store.change_count()?,
        })
    }

    /// The state of the same store after one more change.
    pub fn after_one_change(self) -> StoreState {
        StoreState {
            changes: self.changes.wrapping_add(1),
            ..self
        }
    }

    #[cfg(test)]
    pub fn for_tests(store: usize, changes: u64) -> StoreState {
        StoreState { store, changes }
    }
}

struct Remembered {
    state: StoreState,
    etag: String,
    modified: SystemTime,
    collection: bool,
    tag: HeaderValue,
}

impl Remembered {
    fn holds_for(&self, state: StoreState, meta: &ResourceMeta) -> bool {
        self.state == state
            && self.etag == meta.etag
            && self.modified == meta.modified
            && self.collection == meta.collection
    }
}

thread_local! {
    static RECENT: RefCell<HashMap<String, Remembered>> = RefCell::new(HashMap::new());
}

/// The tag this thread sent for `path` last, if the store and the resource are as they were.
pub fn find(state: StoreState, path: &str, meta: &ResourceMeta) -> Option<HeaderValue> {
    RECENT.with_borrow(|recent| {
        recent
            .get(path)
            .filter(|r| r.holds_for(state, meta))
            .map(|r| r.tag.clone())
    })
}

/// Remembers the tag sent for `path`, read while the store was in `state`.
pub fn remember(state: StoreState, path: &str, meta: &ResourceMeta, tag: HeaderValue) {
    RECENT.with_borrow_mut(|recent| {
        if recent.len() >= REMEMBERED && !recent.contains_key(path) {
            recent.clear();
        }
        let remembered = Remembered {
            state,
            etag: meta.etag.clone(),
            modified: meta.modified,
            collection: meta.collection,
            tag,
        };
        match recent.get_mut(path) {
            Some(entry) => *entry = remembered,
            None => {
                recent.insert(path.to_owned(), remembered);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn meta(etag: &str) -> ResourceMeta {
        ResourceMeta {
            collection: false,
            len: 4,
            modified: SystemTime::UNIX_EPOCH + Duration::from_secs(100),
            created: None,
            etag: etag.to_owned(),
            content_type: None,
        }
    }

    fn state(changes: u64) -> StoreState {
        StoreState { store: 1, changes }
    }

    #[test]
    fn a_tag_is_found_while_store_and_resource_are_unchanged() {
        let tag = HeaderValue::from_static("rt:x@1");
        remember(state(7), "/a", &meta("\"e\""), tag.clone());
        assert_eq!(find(state(7), "/a", &meta("\"e\"")), Some(tag));
        assert_eq!(
            find(state(8), "/a", &meta("\"e\"")),
            None,
            "the store changed"
        );
        assert_eq!(
            find(state(7), "/a", &meta("\"f\"")),
            None,
            "the content changed"
        );
        assert_eq!(find(state(7), "/b", &meta("\"e\"")), None);
        let other_store = StoreState {
            store: 2,
            changes: 7,
        };
        assert_eq!(find(other_store, "/a", &meta("\"e\"")), None);
        let mut touched = meta("\"e\"");
        touched.modified += Duration::from_secs(1);
        assert_eq!(find(state(7), "/a", &touched), None, "modified differs");
    }

    #[test]
    fn the_table_is_bounded() {
        for i in 0..REMEMBERED + 10 {
            remember(
                state(1),
                &format!("/f{i}"),
                &meta("\"e\""),
                HeaderValue::from_static("t"),
            );
        }
        RECENT.with_borrow(|recent| assert!(recent.len() <= REMEMBERED));
    }
}
