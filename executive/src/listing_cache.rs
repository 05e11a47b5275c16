//! Rendered PROPFIND answers, served again while their sources prove nothing in them changed.
//!
//! A `Depth: 1` PROPFIND of a collection of 1,000 members renders 1,000 `response` elements;
//! clients ask for the same listing again and again (Explorer and Finder each time a folder is
//! shown, sync clients on every pass), and for the same few properties of one document (Office
//! while it has it open). The answer is a function of what it was computed from: the request
//! (its path, depth, body, who asks), the namespace's metadata, the property store's contents
//! and the locks. So the answer is kept with a [`Freshness`] taken *before* it was rendered,
//! and served again only while a freshness taken now is equal: for a listing the namespace's
//! [`ListingVersion`] (inotify for `fs`), for one resource its metadata as just read; the
//! property store's change count; and no lock shown (a lock's remaining timeout is the clock's,
//! so an answer that would show one is never kept). A change that lands while an answer
//! renders moves the freshness past the one it is kept with, so it is never served. Where a
//! source cannot tell (a store shared with other processes), nothing is kept.
//!
//! The cache is bounded in bytes, and an answer larger than an eighth of it is never kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use davd_protocol::xml::PropfindBody;
use davd_protocol::{DavPath, PropName};
use davd_registry::{ListingVersion, LivePropertyHandler, Quirks, ResourceMeta, Subsystems};

use crate::context::Ctx;

/// What a listing's answer depends on besides its sources: two requests with equal keys get
/// the same answer from the same sources.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListingKey {
    pub path: String,
    /// 0: the resource alone; 1: with its members.
    pub depth: u8,
    pub principal: Option<String>,
    pub quirks: Quirks,
    /// The request body's text (the properties asked for).
    pub body: String,
}

/// What proves a kept listing current, taken before it was rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    /// What the namespace shows: a listing's version, or one resource's metadata.
    pub namespace: Shown,
    pub properties: u64,
}

/// The namespace's part of a [`Freshness`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Listing(ListingVersion),
    Resource(ResourceMeta),
}

struct Entry {
    freshness: Freshness,
    body: Bytes,
    /// When it was last served or kept, for eviction (least recently used goes first).
    used: u64,
}

#[derive(Default)]
struct Kept {
    /// Hashed with foldhash, seeded per process: a key holds the request's path and body,
    /// which SipHash took about 900 instructions to hash for every PROPFIND (a tenth of a
    /// Depth 0's own work). The table is bounded by the cache's budget, and the seed keeps
    /// colliding keys from being made up ahead of time.
    entries: HashMap<ListingKey, Entry, foldhash::fast::RandomState>,
    bytes: usize,
    clock: u64,
}

/// The executive's kept answers (listings and single resources), shared by every thread.
pub struct ListingCache {
    budget: usize,
    kept: Mutex<Kept>,
}

impl ListingCache {
    /// A cache of at most `budget` bytes of answers; 0 keeps nothing.
    pub fn new(budget: usize) -> ListingCache {
        ListingCache {
            budget,
            kept: Mutex::new(Kept::default()),
        }
    }

    /// Whether anything is kept at all.
    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// The largest answer kept: larger listings are rendered every time, and one being
    /// rendered is copied aside only up to this.
    pub fn largest(&self) -> usize {
        self.budget / 8
    }

    /// The answer kept for `key` if it was rendered from sources as they are now (`fresh`).
    /// An answer kept from older sources is dropped.
    pub fn get(&self, key: &ListingKey, fresh: &Freshness) -> Option<Bytes> {
        let mut kept = self.kept.lock().ok()?;
        let kept = &mut *kept;
        kept.clock += 1;
        match kept.entries.get_mut(key) {
            Some(entry) if entry.freshness == *fresh => {
                entry.used = kept.clock;
                Some(entry.body.clone())
            }
            Some(_) => {
                if let Some(stale) = kept.entries.remove(key) {
                    kept.bytes -= stale.body.len();
                }
                None
            }
            None => None,
        }
    }

    /// Keeps `body`, the answer to `key` rendered from sources as `fresh` described them.
    pub fn insert(&self, key: ListingKey, fresh: Freshness, body: Bytes) {
        if !self.enabled() || body.len() > self.largest() {
            return;
        }
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        let kept = &mut *kept;
        kept.clock += 1;
        if let Some(old) = kept.entries.remove(&key) {
            kept.bytes -= old.body.len();
        }
        if kept.bytes + body.len() > self.budget {
            // The least recently used go, down to seven eighths of the budget: one sort per
            // eighth of the budget inserted, however small the answers.
            let mut by_use: Vec<(u64, ListingKey)> = kept
                .entries
                .iter()
                .map(|(k, e)| (e.used, k.clone()))
                .collect();
            by_use.sort_unstable_by_key(|(used, _)| *used);
            let room = self.budget - self.budget / 8;
            for (_, oldest) in by_use {
                if kept.bytes + body.len() <= room {
                    break;
                }
                if let Some(gone) = kept.entries.remove(&oldest) {
                    kept.bytes -= gone.body.len();
                }
            }
        }
        kept.bytes += body.len();
        kept.entries.insert(
            key,
            Entry {
                freshness: fresh,
                body,
                used: kept.clock,
            },
        );
    }

    /// Bytes of answers kept.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.kept.lock().map(|k| k.bytes).unwrap_or(0)
    }
}

/// The key and freshness the answer to a PROPFIND of `path` is kept under (`shown`: what the
/// namespace shows of it, taken by the caller), or `None` when it may not be kept: the cache is off, a store cannot tell whether it changed (shared with other
/// processes), or the request reaches a live property whose value is not a function of the
/// stores ([`LivePropertyHandler::stable`](davd_registry::LivePropertyHandler::stable)). Taken
/// before anything is rendered, so that a change made while rendering is never hidden.
pub(crate) fn keepable(
    ctx: &Ctx,
    path: &DavPath,
    subsystems: &Subsystems,
    text: &str,
    request: &PropfindBody,
    shown: Shown,
) -> Option<(ListingKey, Freshness)> {
    if !ctx.exec.listing_cache.enabled() || !stable_request(request, subsystems) {
        return None;
    }
    let properties = subsystems.properties.change_count()?;
    let key = ListingKey {
        path: path.as_str().to_owned(),
        depth: match shown {
            Shown::Resource(_) => 0,
            Shown::Listing(_) => 1,
        },
        principal: ctx.client.principal.clone(),
        quirks: ctx.client.quirks,
        body: text.to_owned(),
    };
    let fresh = Freshness {
        namespace: shown,
        properties,
    };
    Some((key, fresh))
}

/// Whether the answer to `request` can show a lock.
pub(crate) fn reaches_locks(request: &PropfindBody) -> bool {
    match request {
        PropfindBody::Prop(names) => names.iter().any(|n| *n == PropName::dav("lockdiscovery")),
        PropfindBody::AllProp { .. } => true,
        PropfindBody::PropName => false,
    }
}

/// Whether every live property `request` reaches is stable.
pub(crate) fn stable_request(request: &PropfindBody, subsystems: &Subsystems) -> bool {
    let reached = |handler: &Arc<dyn LivePropertyHandler>, include: &[PropName]| {
        handler
            .names()
            .iter()
            .any(|n| handler.in_allprop(n) || include.contains(n))
    };
    match request {
        PropfindBody::Prop(names) => names
            .iter()
            .all(|n| subsystems.handler_for(n).is_none_or(|h| h.stable())),
        PropfindBody::AllProp { include } => subsystems
            .live
            .iter()
            .all(|h| h.stable() || !reached(h, include)),
        PropfindBody::PropName => subsystems
            .live
            .iter()
            .all(|h| h.stable() || !reached(h, &[])),
    }
}

/// A listing being rendered, copied aside to be kept once it is complete; spoiled (and kept
/// nowhere) when it grows past what is kept or shows something that cannot be kept.
pub struct Recording {
    key: ListingKey,
    fresh: Freshness,
    chunks: Vec<Bytes>,
    size: usize,
    largest: usize,
    spoiled: bool,
}

impl Recording {
    pub fn new(cache: &ListingCache, key: ListingKey, fresh: Freshness) -> Recording {
        Recording {
            key,
            fresh,
            chunks: Vec::new(),
            size: 0,
            largest: cache.largest(),
            spoiled: false,
        }
    }

    /// Copies a chunk of the answer as it is sent (a reference count, not the bytes).
    pub fn record(&mut self, chunk: &Bytes) {
        if self.spoiled {
            return;
        }
        self.size += chunk.len();
        if self.size > self.largest {
            self.spoil();
        } else {
            self.chunks.push(chunk.clone());
        }
    }

    /// This answer is not to be kept.
    pub fn spoil(&mut self) {
        self.spoiled = true;
        self.chunks = Vec::new();
    }

    /// Keeps the complete answer in `cache`, unless it was spoiled.
    pub fn keep(self, cache: &ListingCache) {
        if self.spoiled {
            return;
        }
        let mut body = bytes::BytesMut::with_capacity(self.size);
        for chunk in &self.chunks {
            body.extend_from_slice(chunk);
        }
        cache.insert(self.key, self.fresh, body.freeze());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str) -> ListingKey {
        ListingKey {
            path: path.into(),
            depth: 1,
            principal: None,
            quirks: Quirks::default(),
            body: String::new(),
        }
    }

    fn fresh(listing: u64, properties: u64) -> Freshness {
        Freshness {
            namespace: Shown::Listing(ListingVersion(vec![listing])),
            properties,
        }
    }

    #[test]
    fn an_answer_is_served_only_while_its_sources_are_unchanged() {
        let cache = ListingCache::new(1024);
        cache.insert(key("/a/"), fresh(1, 1), Bytes::from_static(b"first"));
        assert_eq!(
            cache.get(&key("/a/"), &fresh(1, 1)).as_deref(),
            Some(&b"first"[..])
        );
        assert_eq!(cache.get(&key("/b/"), &fresh(1, 1)), None);
        // Another principal, another body: another answer.
        let mut other = key("/a/");
        other.principal = Some("alice".into());
        assert_eq!(cache.get(&other, &fresh(1, 1)), None);
        // The namespace or the property store moved: dropped for good.
        assert_eq!(cache.get(&key("/a/"), &fresh(1, 2)), None);
        assert_eq!(cache.get(&key("/a/"), &fresh(1, 1)), None);
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn a_recording_is_kept_whole_or_not_at_all() {
        let cache = ListingCache::new(8 * 20);
        let mut recording = Recording::new(&cache, key("/a/"), fresh(1, 1));
        recording.record(&Bytes::from_static(b"<multi"));
        recording.record(&Bytes::from_static(b"status/>"));
        recording.keep(&cache);
        assert_eq!(
            cache.get(&key("/a/"), &fresh(1, 1)).as_deref(),
            Some(&b"<multistatus/>"[..])
        );
        let mut too_large = Recording::new(&cache, key("/b/"), fresh(1, 1));
        too_large.record(&Bytes::from_static(b"01234567890123456789"));
        too_large.record(&Bytes::from_static(b"0"));
        too_large.keep(&cache);
        assert!(cache.get(&key("/b/"), &fresh(1, 1)).is_none());
        let mut spoiled = Recording::new(&cache, key("/c/"), fresh(1, 1));
        spoiled.record(&Bytes::from_static(b"x"));
        spoiled.spoil();
        spoiled.keep(&cache);
        assert!(cache.get(&key("/c/"), &fresh(1, 1)).is_none());
    }

    #[test]
    fn the_least_recently_used_answer_makes_room_and_large_ones_are_not_kept() {
        let cache = ListingCache::new(800);
        let body = Bytes::from(vec![b'x'; 100]);
        for path in ["/1/", "/2/", "/3/", "/4/", "/5/", "/6/", "/7/", "/8/"] {
            cache.insert(key(path), fresh(1, 1), body.clone());
        }
        assert!(cache.get(&key("/1/"), &fresh(1, 1)).is_some());
        // Full: the least recently used go until the new one fits in seven eighths.
        cache.insert(key("/9/"), fresh(1, 1), body.clone());
        assert_eq!(cache.bytes(), 700);
        assert!(cache.get(&key("/1/"), &fresh(1, 1)).is_some(), "just used");
        for gone in ["/2/", "/3/"] {
            assert!(cache.get(&key(gone), &fresh(1, 1)).is_none(), "{gone}");
        }
        assert!(cache.get(&key("/4/"), &fresh(1, 1)).is_some());
        assert!(cache.get(&key("/9/"), &fresh(1, 1)).is_some());
        cache.insert(key("/big/"), fresh(1, 1), Bytes::from(vec![b'x'; 101]));
        assert!(cache.get(&key("/big/"), &fresh(1, 1)).is_none());
        let off = ListingCache::new(0);
        off.insert(key("/a/"), fresh(1, 1), Bytes::new());
        assert!(!off.enabled());
    }
}
