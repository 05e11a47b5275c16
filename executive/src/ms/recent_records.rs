//! The document record last read or written for a path, kept while the property store has
//! changed nothing since.
//!
//! Every PUT of an existing file reads the file's document record, to give the next version,
//! and writes the next one: reading it back from sled and parsing it cost about 5,000 of a
//! PUT's 84,000 instructions (docs/performance.md). An editor saving one document again and
//! again asks for the record its own last save wrote. Like a GET's remembered tag
//! (`recent_tags`), a record is used only while the store's change count
//! ([`PropertyManager::change_count`](davd_registry::PropertyManager::change_count)) is the one
//! it was remembered at, so nothing is ever answered that the store does not hold: any change
//! to any property in between (a PROPPATCH, a MOVE, another PUT) makes it read again. A
//! written record is remembered only when the count shows that the write was the store's one
//! change since before the request's queue ran. A store that cannot tell (a cluster's
//! database) remembers nothing.
//!
//! One table for the process, not one per thread as the tags are: PUTs to one path follow
//! each other on whichever connection thread is free, and a table per thread found the
//! record the last PUT wrote in only two PUTs out of five. The table's lock is held for a
//! lookup or an insert, never across an await.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use davd_registry::DocumentRecord;

use super::recent_tags::StoreState;

/// Paths remembered; past this the table starts again empty, which bounds it to about
/// 250 KiB (a record, its path and the table's own share are some 220 bytes).
const REMEMBERED: usize = 1024;

/// What was seen for each path, and in which state of its store.
#[derive(Default)]
struct Table {
    records: HashMap<String, (StoreState, Option<DocumentRecord>)>,
}

impl Table {
    fn find(&self, state: StoreState, path: &str) -> Option<Option<DocumentRecord>> {
        self.records
            .get(path)
            .filter(|(seen, _)| *seen == state)
            .map(|(_, record)| record.clone())
    }

    fn remember(&mut self, state: StoreState, path: &str, record: Option<&DocumentRecord>) {
        if self.records.len() >= REMEMBERED && !self.records.contains_key(path) {
            self.records.clear();
        }
        let entry = (state, record.cloned());
        match self.records.get_mut(path) {
            Some(slot) => *slot = entry,
            None => {
                self.records.insert(path.to_owned(), entry);
            }
        }
    }
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

/// The process's table. A panic while it was held leaves nothing half-done that matters:
/// every entry is checked against its store's state before it is used.
fn table() -> MutexGuard<'static, Option<Table>> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The record of `path` (`Some(None)`: none is stored) if it was seen while the store was in
/// `state`.
pub fn find(state: StoreState, path: &str) -> Option<Option<DocumentRecord>> {
    table().as_ref()?.find(state, path)
}

/// Remembers what the store held for `path` in `state` (read while it was in that state).
pub fn remember(state: StoreState, path: &str, record: Option<&DocumentRecord>) {
    table()
        .get_or_insert_with(Table::default)
        .remember(state, path, record);
}

/// Remembers `record` as written for `path`, if the store is now in the state right after
/// `before` plus that one write: no other change can then have come between.
pub fn remember_written(
    before: StoreState,
    now: Option<StoreState>,
    path: &str,
    record: &DocumentRecord,
) {
    if let Some(state) = written_state(before, now) {
        remember(state, path, Some(record));
    }
}

/// The state in which a request's one write left the store, if `now` shows it was the only
/// change since `before`.
fn written_state(before: StoreState, now: Option<StoreState>) -> Option<StoreState> {
    now.filter(|now| *now == before.after_one_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: u64) -> DocumentRecord {
        DocumentRecord {
            guid: 7,
            version,
            etag: "\"e\"".into(),
            modified_by: None,
        }
    }

    #[test]
    fn a_record_is_found_only_in_the_state_it_was_seen_in() {
        let mut table = Table::default();
        let state = StoreState::for_tests(1, 10);
        table.remember(state, "/a", Some(&record(1)));
        assert_eq!(table.find(state, "/a"), Some(Some(record(1))));
        assert_eq!(table.find(StoreState::for_tests(1, 11), "/a"), None);
        assert_eq!(
            table.find(StoreState::for_tests(2, 10), "/a"),
            None,
            "another store"
        );
        assert_eq!(table.find(state, "/b"), None);
        table.remember(state, "/none", None);
        assert_eq!(
            table.find(state, "/none"),
            Some(None),
            "no record is an answer too"
        );
    }

    #[test]
    fn a_write_counts_only_when_it_was_the_one_change() {
        let before = StoreState::for_tests(1, 20);
        let after = StoreState::for_tests(1, 21);
        assert_eq!(written_state(before, Some(after)), Some(after));
        // Another change came between: the store may hold something else for the path.
        assert_eq!(
            written_state(before, Some(StoreState::for_tests(1, 22))),
            None
        );
        assert_eq!(written_state(before, Some(before)), None, "nothing written");
        assert_eq!(
            written_state(before, None),
            None,
            "a store that cannot tell"
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let mut table = Table::default();
        let state = StoreState::for_tests(1, 1);
        for i in 0..REMEMBERED + 10 {
            table.remember(state, &format!("/f{i}"), None);
        }
        assert!(table.records.len() <= REMEMBERED);
    }
}
