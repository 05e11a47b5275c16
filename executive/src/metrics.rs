//! What the executive counts, through the `metrics` facade (a no-op until the server installs
//! a recorder; the executive knows no exporter). The names are listed in docs/operations.md.

use std::time::Duration;

/// Queues that failed after running some of their commands and were undone.
pub const QUEUE_ROLLBACKS: &str = "davd_queue_rollbacks_total";
/// Requests that had to wait for another's latch.
pub const LATCH_WAITS: &str = "davd_latch_waits_total";
/// How long those requests waited.
pub const LATCH_WAIT_SECONDS: &str = "davd_latch_wait_seconds";
/// How long making a commit durable took, by store (`properties`, `locks`) and kind.
pub const STORE_FLUSH_SECONDS: &str = "davd_store_flush_seconds";

/// PROPFIND answers served from the listing cache, by depth (`0` or `1`).
pub const LISTING_CACHE_HITS: &str = "davd_listing_cache_hits_total";
/// PROPFIND answers that could have been served from it but were rendered (first asked for,
/// changed since, or pushed out), by depth.
pub const LISTING_CACHE_MISSES: &str = "davd_listing_cache_misses_total";

/// Describes the executive's metrics to the installed recorder.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        QUEUE_ROLLBACKS,
        "Command queues undone after a command failed part way."
    );
    describe_counter!(
        LATCH_WAITS,
        "Requests that waited for another request's latch."
    );
    describe_counter!(
        LISTING_CACHE_HITS,
        "PROPFIND answers served again from the listing cache, by depth."
    );
    describe_counter!(
        LISTING_CACHE_MISSES,
        "PROPFIND answers the listing cache could have served but had to render, by depth."
    );
    describe_histogram!(
        LATCH_WAIT_SECONDS,
        Unit::Seconds,
        "Time requests waited for a latch."
    );
    describe_histogram!(
        STORE_FLUSH_SECONDS,
        Unit::Seconds,
        "Time a property or lock store took to make a commit durable, by store and kind."
    );
}

pub(crate) fn rolled_back() {
    metrics::counter!(QUEUE_ROLLBACKS).increment(1);
}

pub(crate) fn answer_cache(depth: u8, hit: bool) {
    let name = if hit {
        LISTING_CACHE_HITS
    } else {
        LISTING_CACHE_MISSES
    };
    let depth = if depth == 0 { "0" } else { "1" };
    metrics::counter!(name, "depth" => depth).increment(1);
}

pub(crate) fn latch_waited(waited: Duration) {
    metrics::counter!(LATCH_WAITS).increment(1);
    metrics::histogram!(LATCH_WAIT_SECONDS).record(waited.as_secs_f64());
}

pub(crate) fn store_flushed(store: &'static str, kind: &'static str, took: Duration) {
    metrics::histogram!(STORE_FLUSH_SECONDS, "store" => store, "kind" => kind)
        .record(took.as_secs_f64());
}
