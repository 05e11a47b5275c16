//! The `[limits]` table of the configuration file, checked.

use serde::Deserialize;
use toml::Spanned;

use crate::config::Problem;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    xml_max_bytes: Option<Spanned<usize>>,
    propfind_infinity: Option<bool>,
    lock_timeout_default: Option<Spanned<u64>>,
    lock_timeout_max: Option<Spanned<u64>>,
    max_locks_per_user: Option<usize>,
    header_read_timeout_secs: Option<Spanned<u64>>,
    body_idle_timeout_secs: Option<Spanned<u64>>,
    max_headers: Option<Spanned<usize>>,
    max_header_bytes: Option<Spanned<usize>>,
    max_connections: Option<Spanned<usize>>,
    min_free_mib: Option<u64>,
    listing_dead_budget: Option<Spanned<usize>>,
    listing_cache_mib: Option<usize>,
}

/// Limits from `[limits]`, each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitsConfig {
    pub xml_max_bytes: Option<usize>,
    pub propfind_infinity: Option<bool>,
    pub lock_timeout_default: Option<u64>,
    pub lock_timeout_max: Option<u64>,
    pub max_locks_per_user: Option<usize>,
    pub header_read_timeout_secs: Option<u64>,
    pub body_idle_timeout_secs: Option<u64>,
    pub max_headers: Option<usize>,
    pub max_header_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    /// Writes are refused with 507 while less than this many MiB are free on a store's disk.
    pub min_free_mib: Option<u64>,
    /// Bytes of its members' dead properties a listing reads at once.
    pub listing_dead_budget: Option<usize>,
    /// MiB of rendered listings kept to be served again (0: none).
    pub listing_cache_mib: Option<usize>,
}

/// Checks `[limits]`: what it sets, with what is wrong in it added to `found`.
pub(crate) fn check(l: RawLimits, found: &mut Vec<Problem>) -> LimitsConfig {
    // A zero in any of these would refuse every request (or every body, header,
    // lock); it is a mistake, so it stops startup naming its line.
    let mut at_least_one = |name: &str, value: Option<Spanned<u64>>| match value {
        Some(v) if *v.get_ref() == 0 => {
            found.push((Some(v.span()), format!("{name} must be at least 1")));
            None
        }
        other => other.map(Spanned::into_inner),
    };
    let widen = |v: Option<Spanned<usize>>| {
        v.map(|v| {
            let span = v.span();
            Spanned::new(span, v.into_inner() as u64)
        })
    };
    let narrow = |v: Option<u64>| v.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    LimitsConfig {
        xml_max_bytes: narrow(at_least_one("xml_max_bytes", widen(l.xml_max_bytes))),
        propfind_infinity: l.propfind_infinity,
        lock_timeout_default: at_least_one("lock_timeout_default", l.lock_timeout_default),
        lock_timeout_max: at_least_one("lock_timeout_max", l.lock_timeout_max),
        max_locks_per_user: l.max_locks_per_user,
        header_read_timeout_secs: at_least_one(
            "header_read_timeout_secs",
            l.header_read_timeout_secs,
        ),
        body_idle_timeout_secs: at_least_one("body_idle_timeout_secs", l.body_idle_timeout_secs),
        max_headers: narrow(at_least_one("max_headers", widen(l.max_headers))),
        max_header_bytes: narrow(at_least_one("max_header_bytes", widen(l.max_header_bytes))),
        max_connections: narrow(at_least_one("max_connections", widen(l.max_connections))),
        min_free_mib: l.min_free_mib,
        listing_dead_budget: narrow(at_least_one(
            "listing_dead_budget",
            widen(l.listing_dead_budget),
        )),
        listing_cache_mib: l.listing_cache_mib,
    }
}
