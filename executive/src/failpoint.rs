//! Fail points: places where a test can make the server die as if killed, to check that
//! recovery leaves every resource whole (docs/adr/0017-crash-safety.md).
//!
//! A journaled queue passes a numbered *boundary* after writing its plan, after each of its
//! steps and before it removes its journal record, and names each one `METHOD:N`
//! (`DELETE:0`, `DELETE:1`, ...); a queue without a journal that is named for tests
//! (`CommandQueue::named`, PROPPATCH) passes `METHOD:N` before each command and `METHOD:end`
//! after the last. Points inside commands have names of their own: `METHOD:copied-1` and
//! `METHOD:copied-half` in a tree copy, `METHOD:batch-N` before the Nth batch of a commit (the
//! earlier ones applied and flushed), `METHOD:applied` once every batch is in, before the
//! last is flushed, and `METHOD:flushed` once all are flushed, before the journal records the
//! commit. In a debug build
//! (what `cargo test` runs), setting `DAVD_FAIL_AT` to a comma-separated list of names makes
//! the process abort at the first point named, without unwinding, flushing or running any
//! destructor, as a `kill -9` would. Release builds compile all of this away.

/// The environment variable naming where to abort.
#[cfg(debug_assertions)]
pub const VARIABLE: &str = "DAVD_FAIL_AT";

/// Aborts the process here if the test asked for it.
#[cfg(debug_assertions)]
pub fn boundary(method: &str, point: &str) {
    use std::sync::OnceLock;
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        std::env::var(VARIABLE)
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default()
    });
    if names.is_empty() {
        return;
    }
    let name = format!("{method}:{point}");
    if names.contains(&name) {
        eprintln!("davd: fail point {name} reached: aborting as if killed");
        std::process::abort();
    }
}

/// Release builds have no fail points.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn boundary(_method: &str, _point: &str) {}
