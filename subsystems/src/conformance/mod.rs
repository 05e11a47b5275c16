//! A conformance suite for storage backends: the contracts of [`NamespaceManager`],
//! [`PropertyManager`] (and the [`ChangeLog`](davd_registry::ChangeLog) it keeps) and
//! [`LockManager`] written once as test cases, run on every kind davd has (fs, sled, memory;
//! postgres's properties and locks when a test database is configured; the s3 namespace when
//! a test S3 store is too) and on yours.
//!
//! Each case is an async function taking the manager under test, fresh and empty. The macros
//! [`namespace_conformance!`](crate::namespace_conformance),
//! [`properties_conformance!`](crate::properties_conformance),
//! [`changes_conformance!`](crate::changes_conformance) and
//! [`locks_conformance!`](crate::locks_conformance) write one `#[test]` per case for a function
//! that opens a fresh manager:
//!
//! ```ignore
//! fn fresh() -> Subject<dyn NamespaceManager> {
//!     Subject::new(Arc::new(MyNamespace::new()))
//! }
//! davd_subsystems::namespace_conformance!(my_namespace, fresh);
//! ```
//!
//! `docs/extending.md` shows it in a compiled test (`tests/tests/conformance.rs`).
//!
//! A backend that needs something the machine may lack (a database server) adds
//! `when FUNCTION`: each case first calls the function and, when it returns false, passes
//! without running (the function says why, loudly): `locks_conformance!(my_locks, open,
//! when database_available)`.
//!
//! Outside this crate, turn on the `testing` feature of `davd-subsystems`. Cases make no
//! assumption about timing, and each runs on a runtime of its own.

// Test code, compiled into the library for other crates' tests: a store call that fails
// where the contract says it succeeds is a failed case, and unwrap's panic says which call.
#![allow(clippy::unwrap_used)]

pub mod changes;
pub mod cluster;
pub mod locks;
pub mod namespace;
pub mod properties;
pub mod s3;
pub mod support;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

/// A manager under test, with whatever must live as long as it (a temporary directory).
pub struct Subject<M: ?Sized> {
    pub manager: Arc<M>,
    _keep: Vec<Box<dyn Any>>,
}

impl<M: ?Sized> Subject<M> {
    pub fn new(manager: Arc<M>) -> Self {
        Subject {
            manager,
            _keep: Vec::new(),
        }
    }

    /// A manager and what must outlive it (a temporary directory), kept until the case ends.
    pub fn holding(manager: Arc<M>, guard: impl Any) -> Self {
        Subject::new(manager).keeping(guard)
    }

    /// Keeps `guard` alive until the case ends.
    pub fn keeping(mut self, guard: impl Any) -> Self {
        self._keep.push(Box::new(guard));
        self
    }
}

/// What a fixture function returns: a [`Subject`], or a future of one for a backend that
/// must connect to something first.
pub trait Fixture<M: ?Sized> {
    fn subject(self) -> impl Future<Output = Subject<M>>;
}

impl<M: ?Sized> Fixture<M> for Subject<M> {
    fn subject(self) -> impl Future<Output = Subject<M>> {
        std::future::ready(self)
    }
}

impl<M: ?Sized, F: Future<Output = Subject<M>>> Fixture<M> for F {
    fn subject(self) -> impl Future<Output = Subject<M>> {
        self
    }
}

/// Runs a case on a runtime of its own (one thread, with the blocking pool stores use).
pub fn block_on<F: Future>(case: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime starts")
        .block_on(case)
}

/// Writes a module `$module` with one `#[test]` per case of `$suite`, each for the manager
/// `$open()` returns.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($suite:ident, $module:ident, $open:expr; $($case:ident),* $(,)?) => {
        $crate::__conformance_cases!($suite, $module, $open, when || true; $($case),*);
    };
    ($suite:ident, $module:ident, $open:expr, when $run:expr; $($case:ident),* $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    if !($run)() {
                        return;
                    }
                    $crate::conformance::block_on(async {
                        let subject = $crate::conformance::Fixture::subject(($open)()).await;
                        $crate::conformance::$suite::$case(&*subject.manager).await;
                        drop(subject);
                    });
                }
            )*
        }
    };
}

/// Instantiates the namespace cases in a module: `namespace_conformance!(my_namespace, open)`,
/// where `open()` returns a fresh, empty [`Subject`]`<dyn NamespaceManager>` (or a future of
/// one: `open` may be an `async fn`); it is called inside the case's runtime.
#[macro_export]
macro_rules! namespace_conformance {
    ($module:ident, $open:expr) => {
        $crate::namespace_conformance!($module, $open, when || true);
    };
    ($module:ident, $open:expr, when $run:expr) => {
        $crate::__conformance_cases!(namespace, $module, $open, when $run;
            the_root_is_an_empty_collection,
            collections_are_created_once_under_a_collection,
            a_replace_keeps_the_old_content_for_undo,
            writes_need_a_parent_collection_and_refuse_collections,
            staged_content_is_invisible_until_published,
            discarded_content_never_appears,
            publish_checks_the_parent_and_the_target,
            a_failed_upload_changes_nothing,
            content_reads_back_whole_and_in_ranges,
            open_refuses_collections_and_missing_resources,
            listings_name_each_direct_member_once,
            a_detached_subtree_can_be_restored_or_purged,
            a_restore_replaces_what_is_there_now,
            a_replaced_content_can_be_kept_under_the_executive_s_tag,
            leftovers_are_discarded_when_asked_and_live_content_stays,
            flush_and_sync_are_barriers_that_succeed,
            a_rename_moves_a_whole_subtree,
            a_copy_has_its_own_content,
            segments_are_written_in_place,
            entity_tags_follow_the_content,
            names_keep_their_spelling,
            a_backslash_is_an_ordinary_character,
            a_modification_time_can_be_set,
        );
    };
}

/// Instantiates the property cases in a module: `properties_conformance!(my_properties, open)`,
/// where `open()` returns a fresh, empty [`Subject`]`<dyn PropertyManager>`.
#[macro_export]
macro_rules! properties_conformance {
    ($module:ident, $open:expr) => {
        $crate::properties_conformance!($module, $open, when || true);
    };
    ($module:ident, $open:expr, when $run:expr) => {
        $crate::__conformance_cases!(properties, $module, $open, when $run;
            set_get_and_remove_report_the_previous_value,
            names_differ_by_namespace_and_values_are_kept_verbatim,
            get_all_is_one_resource_only,
            children_are_the_direct_members_keyed_by_name,
            children_past_the_limit_are_not_gathered,
            members_are_exactly_the_named_ones,
            members_within_a_limit_are_all_or_none,
            pages_return_each_property_once_in_name_order,
            a_tree_is_a_resource_and_everything_below_it,
            a_removed_tree_is_returned_and_can_be_put_back,
            put_many_sets_every_entry,
            a_moved_tree_leaves_its_neighbours,
            every_write_raises_the_change_count,
            a_batch_applies_in_order_and_its_undo_restores_everything,
            markers_go_in_and_out_with_their_batches,
            flush_is_a_barrier_that_succeeds,
        );
    };
}

/// Instantiates the change log cases in a module: `changes_conformance!(my_changes, open)`,
/// where `open()` returns a fresh, empty [`Subject`]`<dyn PropertyManager>` whose
/// [`PropertyManager::change_log`](davd_registry::PropertyManager::change_log) is the log under
/// test.
#[macro_export]
macro_rules! changes_conformance {
    ($module:ident, $open:expr) => {
        $crate::changes_conformance!($module, $open, when || true);
    };
    ($module:ident, $open:expr, when $run:expr) => {
        $crate::__conformance_cases!(changes, $module, $open, when $run;
            an_empty_log_starts_at_zero_with_nothing_after,
            entries_come_back_in_order_after_a_token,
            a_report_hears_of_its_subtree_and_of_trees_above_it,
            max_cuts_an_answer_that_continues_from_where_it_reached,
            foreign_and_future_tokens_are_unknown,
            old_tokens_are_refused_once_their_entries_are_pruned,
            appends_at_once_get_consecutive_seqs,
        );
    };
}

/// Instantiates the lock cases in a module: `locks_conformance!(my_locks, open)`, where
/// `open()` returns a fresh, empty [`Subject`]`<dyn LockManager>`.
#[macro_export]
macro_rules! locks_conformance {
    ($module:ident, $open:expr) => {
        $crate::locks_conformance!($module, $open, when || true);
    };
    ($module:ident, $open:expr, when $run:expr) => {
        $crate::__conformance_cases!(locks, $module, $open, when $run;
            a_lock_is_stored_as_given,
            a_refresh_replaces_the_record,
            covering_finds_the_path_s_own_locks_and_deep_ones_above,
            below_finds_locks_rooted_strictly_below,
            held_by_counts_each_principal_s_locks,
            expired_locks_are_never_returned_and_are_swept,
            a_batch_of_lock_changes_and_its_undo,
            flush_is_a_barrier_that_succeeds,
        );
    };
}

#[cfg(test)]
mod builtin;
