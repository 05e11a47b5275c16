//! The change log of a state database: one per database, in [`super::StateDb`], shared by
//! every [`super::SledProperties`] opened on it (several mounts may share one database, and
//! their changes must land in one order).
//!
//! While davd runs the log is a [`MemoryChangeLog`]: an append is a push under a mutex. A
//! sled insert per append cost a PUT about 18,000 instructions (12 % of its user time,
//! callgrind) and a share of sled's background flushes, for entries that need not be durable
//! anyway. The log is read from the database when it opens and written back, the new entries
//! only, when it closes ([`ChangeLog::close`], at a graceful stop).
//!
//! What a crash loses is therefore the whole run's entries, and their seqs would be handed out
//! again: a client holding a token past them would never hear of the changes that got them.
//! So the log marks itself open in the database, durably, before the first append of a run,
//! and clears the mark when it closes. A log that finds its mark at startup (a stop it did not
//! see) cannot vouch for its entries and starts a new epoch, which sends every client back to
//! a full sync.
//!
//! In the database, entries are in the tree `changes`, keyed by seq (8 bytes, big-endian, so
//! that key order is log order), each valued by its kind's letter and its path; the tree
//! `changes_meta` holds the epoch, the log's end and what was pruned, and, while entries may
//! be appended, the `open` mark. Startup writes nothing (a start on a full disk stays free of
//! writes, `state.rs`): a new epoch is decided when the log is opened and written, with the
//! mark, by the first append.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::info;

use davd_registry::{
    Change, ChangeLog, DavPath, LoggedChange, Since, SubsystemError, SubsystemResult, SyncPoint,
};

use super::db_error;
use super::flush_count::FlushCounter;
use crate::blocking::blocking;
use crate::changes::{Bounds, decode, encode};
use crate::memory::MemoryChangeLog;
use crate::space::SpaceGuard;

const ENTRIES: &str = "changes";
const META: &str = "changes_meta";
const EPOCH: &[u8] = b"epoch";
const OPEN: &[u8] = b"open";
const END: &[u8] = b"end";
const PRUNED: &[u8] = b"pruned";

/// What the log must do before its next append (or at [`ChangeLog::close`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// What the database holds cannot be vouched for (a stop the log did not see, a database
    /// adopted without its identity file, or none yet): its entries are ignored, and cleared,
    /// with the new epoch written, before the first append.
    Untrusted,
    /// The stored log is good and no mark is set: set it, durably, before appending.
    Closed,
    /// The mark is set and durable: appends go straight in.
    Open,
}

/// Where the log stands against the database.
struct Stored {
    phase: Phase,
    /// The last entry the database holds.
    written_to: u64,
}

pub struct SledChangeLog {
    entries: sled::Tree,
    meta: sled::Tree,
    /// What a flush of the state database needs (the log is held by `StateDb`, so it cannot
    /// hold one itself).
    db: sled::Db,
    guard: SpaceGuard,
    counter: Arc<FlushCounter>,
    /// The log itself, while davd runs.
    log: MemoryChangeLog,
    /// Shared by appends, exclusive for the first append of a run (setting the mark) and for
    /// `close`, both of which flush while holding it (hence tokio's lock). Appends share it
    /// because they only need `close` kept out: under one exclusive lock, concurrent PUTs
    /// on different connection threads queued for it, and each release woke the next
    /// thread through the kernel (one wake-up per PUT under load, docs/performance.md).
    stored: tokio::sync::RwLock<Stored>,
}

impl SledChangeLog {
    /// Opens the log of `db`. `trusted` is false when the database cannot be vouched for
    /// whatever the log says (it was adopted without its identity file: perhaps put back
    /// from an older copy on purpose, whose seqs clients have seen past).
    pub(crate) fn open(
        db: &sled::Db,
        guard: &SpaceGuard,
        counter: &Arc<FlushCounter>,
        trusted: bool,
    ) -> sled::Result<Self> {
        let entries = db.open_tree(ENTRIES)?;
        let meta = db.open_tree(META)?;
        let epoch = meta
            .get(EPOCH)?
            .and_then(|value| String::from_utf8(value.to_vec()).ok());
        let marked = meta.get(OPEN)?.is_some();
        let stored = match (epoch, trusted && !marked) {
            (Some(epoch), true) => read_back(&entries, &meta)?.map(|(kept, bounds)| {
                (
                    MemoryChangeLog::restored(epoch, kept, bounds),
                    Stored {
                        phase: Phase::Closed,
                        written_to: bounds.end,
                    },
                )
            }),
            _ => None,
        };
        let (log, stored) = match stored {
            Some(found) => found,
            None => {
                if marked {
                    info!("the change log starts a new epoch: davd did not stop cleanly");
                } else if !trusted {
                    info!("the change log starts a new epoch: its database was adopted");
                }
                let fresh = Stored {
                    phase: Phase::Untrusted,
                    written_to: 0,
                };
                (MemoryChangeLog::new(), fresh)
            }
        };
        Ok(SledChangeLog {
            entries,
            meta,
            db: db.clone(),
            guard: guard.clone(),
            counter: counter.clone(),
            log,
            stored: tokio::sync::RwLock::new(stored),
        })
    }

    /// Makes what was written so far durable (`StateDb::flush`).
    async fn flush(&self) -> SubsystemResult<()> {
        let (db, guard, counter) = (self.db.clone(), self.guard.clone(), self.counter.clone());
        blocking(move || counter.flush(&db, &guard).map_err(db_error)).await
    }

    /// Before the first append of a run: the mark set (and, for an untrusted log, the old
    /// entries cleared and the new epoch written), durably.
    async fn open_for_appends(&self, stored: &mut Stored) -> SubsystemResult<()> {
        self.guard.check(0)?;
        self.meta.insert(OPEN, &[]).map_err(db_error)?;
        if stored.phase == Phase::Untrusted {
            // The mark goes first and durably: a crash part way leaves a log the next start
            // does not trust.
            self.flush().await?;
            self.reset().await?;
        }
        self.flush().await?;
        stored.phase = Phase::Open;
        Ok(())
    }

    /// Clears the entries of an untrusted log and writes its new epoch.
    async fn reset(&self) -> SubsystemResult<()> {
        let entries = self.entries.clone();
        blocking(move || entries.clear().map_err(db_error)).await?;
        self.meta
            .insert(EPOCH, self.log.epoch().as_bytes())
            .map_err(db_error)?;
        for key in [END, PRUNED] {
            self.meta.remove(key).map_err(db_error)?;
        }
        Ok(())
    }

    /// Writes the entries after `written_to` and removes those pruned since, with the bounds,
    /// in one batch per tree.
    async fn write_back(&self, written_to: u64) -> SubsystemResult<u64> {
        let (new, bounds) = self.log.after(written_to);
        let (entries, meta) = (self.entries.clone(), self.meta.clone());
        blocking(move || {
            let mut batch = sled::Batch::default();
            for entry in &new {
                batch.insert(&key(entry.seq), encode(&entry.change).as_bytes());
            }
            for old in entries.range(..=key(bounds.pruned_to)).keys() {
                batch.remove(old.map_err(db_error)?);
            }
            entries.apply_batch(batch).map_err(db_error)?;
            let mut batch = sled::Batch::default();
            batch.insert(END, &key(bounds.end));
            batch.insert(PRUNED, &key(bounds.pruned_to));
            meta.apply_batch(batch).map_err(db_error)
        })
        .await?;
        Ok(bounds.end)
    }
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn seq_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

/// The stored entries and bounds, or `None` when they do not fit together (a key that is not
/// a seq, a gap, bounds that disagree with the entries): such a log is not trusted.
fn read_back(
    entries: &sled::Tree,
    meta: &sled::Tree,
) -> sled::Result<Option<(Vec<LoggedChange>, Bounds)>> {
    let bound = |name: &[u8]| -> sled::Result<Option<u64>> {
        Ok(match meta.get(name)? {
            Some(value) => match seq_of(&value) {
                Some(seq) => Some(seq),
                None => return Ok(None),
            },
            None => Some(0),
        })
    };
    let (Some(end), Some(pruned_to)) = (bound(END)?, bound(PRUNED)?) else {
        return Ok(None);
    };
    let mut kept = Vec::new();
    for item in entries.iter() {
        let (k, v) = item?;
        let Ok(entry) = entry(&k, &v) else {
            return Ok(None);
        };
        if entry.seq != pruned_to + 1 + kept.len() as u64 {
            return Ok(None);
        }
        kept.push(entry);
    }
    if pruned_to + kept.len() as u64 != end {
        return Ok(None);
    }
    Ok(Some((kept, Bounds { end, pruned_to })))
}

/// The entry stored under `key`, or a 500 for something that is not one.
fn entry(key: &[u8], value: &[u8]) -> SubsystemResult<LoggedChange> {
    let seq = seq_of(key)
        .ok_or_else(|| SubsystemError::internal("the change log holds a key that is not a seq"))?;
    Ok(LoggedChange {
        seq,
        change: decode(value)?,
    })
}

#[async_trait]
impl ChangeLog for SledChangeLog {
    async fn record(&self, changes: &[Change]) -> SubsystemResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        // Held while the entries go in: a `close` in between would write the log back and
        // clear the mark without them, and a crash after would lose them unnoticed.
        {
            let stored = self.stored.read().await;
            if stored.phase == Phase::Open {
                return self.log.record(changes).await;
            }
        }
        let mut stored = self.stored.write().await;
        if stored.phase != Phase::Open {
            self.open_for_appends(&mut stored).await?;
        }
        self.log.record(changes).await
    }

    async fn current(&self) -> SubsystemResult<SyncPoint> {
        self.log.current().await
    }

    async fn since(&self, from: &SyncPoint, below: &DavPath, max: usize) -> SubsystemResult<Since> {
        self.log.since(from, below, max).await
    }

    async fn close(&self) -> SubsystemResult<()> {
        let mut stored = self.stored.write().await;
        match stored.phase {
            Phase::Closed => return Ok(()),
            // Nothing was appended this run; the new epoch is written now so that the tokens
            // handed out for it stay good after the restart.
            Phase::Untrusted => {
                self.guard.check(0)?;
                self.reset().await?;
            }
            Phase::Open => self.guard.check(0)?,
        }
        stored.written_to = self.write_back(stored.written_to).await?;
        self.meta.remove(OPEN).map_err(db_error)?;
        self.flush().await?;
        stored.phase = Phase::Closed;
        Ok(())
    }
}

#[cfg(test)]
#[path = "changes_tests.rs"]
mod tests;
