//! The change log contract: what changed where, in order, so that a syncing client can ask
//! "what changed since my token" (RFC 6578 `sync-collection`) instead of walking a tree.
//!
//! The log belongs to a property store ([`crate::PropertyManager::change_log`]): the store that
//! already keeps a scope's shared state in something that survives a restart (sled) or is
//! shared by every instance of a cluster (PostgreSQL). The executive appends an entry after a
//! request changed a resource and before it answers; a report reads the entries after a
//! token and answers with the **current** state of each path named, so an entry for a change
//! that was then undone only makes a client fetch something that did not change.
//!
//! A log is identified by its **epoch**: tokens carry it, and a token of another epoch is
//! refused, which sends the client back to a full sync. A log starts a new epoch when it
//! cannot vouch for its entries: a memory log at every start, a sled log after a stop it did
//! not see ([`ChangeLog::close`] was not called), and every log for a token older than the
//! entries it still keeps.

use async_trait::async_trait;

use davd_protocol::DavPath;

use crate::error::SubsystemResult;

/// What one entry says changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// One resource that is not a collection (or a collection's own properties): created,
    /// changed or removed (PUT, PROPPATCH, the DELETE of a file).
    Resource,
    /// A collection and everything below it: created, replaced or removed (MKCOL, the DELETE,
    /// COPY or MOVE of a collection, a COPY or MOVE onto one). A report answers a removed tree
    /// with the collection's href alone, as RFC 6578 §3.5.2 allows.
    Tree,
}

impl ChangeKind {
    /// The one-letter form stores keep.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Resource => 'r',
            ChangeKind::Tree => 't',
        }
    }

    pub fn from_letter(letter: char) -> Option<ChangeKind> {
        match letter {
            'r' => Some(ChangeKind::Resource),
            't' => Some(ChangeKind::Tree),
            _ => None,
        }
    }
}

/// One change, as the executive records it. `path` is a full request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: DavPath,
    pub kind: ChangeKind,
}

/// A change as the log returns it, with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    pub seq: u64,
    pub change: Change,
}

/// A point in a log: what a sync token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPoint {
    pub epoch: String,
    /// The last entry before this point (0 before the first).
    pub seq: u64,
}

impl SyncPoint {
    /// The point as a `DAV:sync-token` (`davd_protocol::sync_token`).
    pub fn token(&self) -> String {
        davd_protocol::sync_token::point_text(&self.epoch, self.seq)
    }
}

/// What [`ChangeLog::since`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// The entries after the point that concern the path asked about, in log order, and the
    /// point the answer reaches: the log's end, or the last entry returned when there were
    /// more than `max` (`more`).
    Changes {
        changes: Vec<LoggedChange>,
        upto: SyncPoint,
        more: bool,
    },
    /// The point is not one of this log's: another epoch, beyond its end, or older than the
    /// oldest entry it keeps. The client must sync from scratch.
    Unknown,
}

/// An ordered, append-only log of changes, shared by everything that serves the store's
/// scopes (every instance, for a database).
///
/// The order is the order in which appends **became visible**: once a reader has seen entry
/// `n`, no entry below `n` can appear later. (A database sequence alone does not promise
/// that: two transactions can take 9 and 10 and commit 10 first.)
#[async_trait]
pub trait ChangeLog: Send + Sync {
    /// Appends `changes`, in order; visible to [`ChangeLog::since`] when this returns. Need
    /// not be durable when it returns: a store that may lose unflushed entries in a crash
    /// starts a new epoch after one.
    async fn record(&self, changes: &[Change]) -> SubsystemResult<()>;

    /// The log's current end.
    async fn current(&self) -> SubsystemResult<SyncPoint>;

    /// The entries after `from` whose path is `below`, lies below it, or is an ancestor of it
    /// (an entry of kind [`ChangeKind::Tree`] there replaced `below` whole), at most `max` of
    /// them, in log order.
    async fn since(&self, from: &SyncPoint, below: &DavPath, max: usize) -> SubsystemResult<Since>;

    /// Says the process stops cleanly: a store that starts a new epoch after a stop it did not
    /// see (sled) marks the stop here. Called once, at the end of a graceful shutdown.
    async fn close(&self) -> SubsystemResult<()> {
        Ok(())
    }
}

/// How many entries a log keeps at least: a token older than that is refused and its client
/// syncs from scratch. About 100 bytes an entry.
pub const KEPT_CHANGES: u64 = 100_000;

/// True if an entry at `path` concerns a report on `below`: it is `below`, lies below it, or
/// (for a tree change) is one of its ancestors. What every store's
/// [`ChangeLog::since`] filters by.
pub fn concerns(path: &DavPath, kind: ChangeKind, below: &DavPath) -> bool {
    path.is_within(below) || (kind == ChangeKind::Tree && below.is_within(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    #[test]
    fn an_entry_concerns_its_subtree_and_a_tree_entry_its_descendants() {
        let below = p("/docs/a");
        assert!(concerns(&p("/docs/a"), ChangeKind::Resource, &below));
        assert!(concerns(&p("/docs/a/x"), ChangeKind::Resource, &below));
        assert!(!concerns(&p("/docs/ab"), ChangeKind::Tree, &below));
        assert!(!concerns(&p("/docs"), ChangeKind::Resource, &below));
        assert!(concerns(&p("/docs"), ChangeKind::Tree, &below));
        assert!(concerns(&p("/"), ChangeKind::Tree, &below));
        assert!(!concerns(&p("/other"), ChangeKind::Tree, &below));
    }

    #[test]
    fn kinds_round_trip_through_their_letters() {
        for kind in [ChangeKind::Resource, ChangeKind::Tree] {
            assert_eq!(ChangeKind::from_letter(kind.letter()), Some(kind));
        }
        assert_eq!(ChangeKind::from_letter('x'), None);
    }
}
