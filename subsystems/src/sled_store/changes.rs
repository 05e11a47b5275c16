//! The change log of a state database: one per database, in [`super::StateDb`], shared by
//! every [`super::SledProperties`] opened on it (several mounts may share one database, and
//! their changes must land in one order).
//!
//! Entries are in the tree `changes`, keyed by seq (8 bytes, big-endian, so that key order is
//! log order), each valued by its kind's letter and its path. The tree `changes_meta` holds
//! the epoch and, while entries may be appended, the `open` marker.
//!
//! Appends are not flushed: a PUT must not pay a flush for its entry. An entry lost to a crash
//! would let the next run hand its seq to another change, and a client holding a token past
//! it would never hear of that change; so a log that finds its marker at startup (a stop it
//! did not see) cannot vouch for its entries and starts a new epoch, which sends every client
//! back to a full sync. The marker is made durable before the first append of a run, and
//! removed by [`ChangeLog::close`] with a flush.
//!
//! Startup writes nothing (a start on a full disk stays free of writes, `state.rs`): the new
//! epoch is decided when the log is opened and written, with the marker, by the first append.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use tracing::{info, warn};

use davd_registry::{
    Change, ChangeLog, DavPath, KEPT_CHANGES, LoggedChange, Since, SubsystemError, SubsystemResult,
    SyncPoint, concerns,
};

use super::db_error;
use super::flush_count::FlushCounter;
use crate::blocking::blocking;
use crate::changes::{Bounds, answer, decode, encode, prune_point};
use crate::space::SpaceGuard;

const ENTRIES: &str = "changes";
const META: &str = "changes_meta";
const EPOCH: &[u8] = b"epoch";
const OPEN: &[u8] = b"open";

/// What the log must do before its next append (or at [`ChangeLog::close`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// What the database holds cannot be vouched for (a stop the log did not see, a database
    /// adopted without its identity file, or none yet): its entries are ignored, and cleared,
    /// with the new epoch written, before the first append.
    Untrusted,
    /// The stored log is good and no marker is set: set it, durably, before appending.
    Closed,
    /// The marker is set and durable: appends go straight in.
    Open,
}

pub struct SledChangeLog {
    entries: sled::Tree,
    meta: sled::Tree,
    /// What a flush of the state database needs (the log is held by `StateDb`, so it cannot
    /// hold one itself).
    db: sled::Db,
    guard: SpaceGuard,
    counter: Arc<FlushCounter>,
    epoch: String,
    /// Serialises appends: a seq is taken and its entry inserted under it, so entries appear
    /// in seq order. A tokio mutex, because the first append of a run flushes while holding it.
    writer: tokio::sync::Mutex<Phase>,
    /// What readers go by: raised only after the entries it covers are in, and, for pruning,
    /// before any of them is removed.
    bounds: Mutex<Bounds>,
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
        let stored = stored_bounds(&entries)?;
        let (epoch, bounds, phase) = match (epoch, stored) {
            (Some(epoch), Some(bounds)) if trusted && !marked => (epoch, bounds, Phase::Closed),
            (epoch, _) => {
                if marked {
                    info!("the change log starts a new epoch: davd did not stop cleanly");
                } else if epoch.is_some() {
                    info!("the change log starts a new epoch: its database was adopted");
                }
                (new_epoch(), Bounds::default(), Phase::Untrusted)
            }
        };
        Ok(SledChangeLog {
            entries,
            meta,
            db: db.clone(),
            guard: guard.clone(),
            counter: counter.clone(),
            epoch,
            writer: tokio::sync::Mutex::new(phase),
            bounds: Mutex::new(bounds),
        })
    }

    /// The bounds; a panic elsewhere while they were held left them valid (each change of
    /// them is one assignment).
    fn bounds(&self) -> MutexGuard<'_, Bounds> {
        self.bounds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes what was written so far durable (`StateDb::flush`).
    async fn flush(&self) -> SubsystemResult<()> {
        let (db, guard, counter) = (self.db.clone(), self.guard.clone(), self.counter.clone());
        blocking(move || counter.flush(&db, &guard).map_err(db_error)).await
    }

    /// Before the first append of a run: the marker set (and, for an untrusted log, the old
    /// entries cleared and the new epoch written), durably.
    async fn open_for_appends(&self, phase: &mut Phase) -> SubsystemResult<()> {
        if *phase == Phase::Untrusted {
            self.reset().await?;
        } else {
            self.meta.insert(OPEN, &[]).map_err(db_error)?;
        }
        self.flush().await?;
        *phase = Phase::Open;
        Ok(())
    }

    /// Clears the entries of an untrusted log and writes its new epoch, the marker set first
    /// and durably: a crash part way must leave a log that the next start does not trust.
    async fn reset(&self) -> SubsystemResult<()> {
        self.meta.insert(OPEN, &[]).map_err(db_error)?;
        self.flush().await?;
        let entries = self.entries.clone();
        blocking(move || entries.clear().map_err(db_error)).await?;
        self.meta
            .insert(EPOCH, self.epoch.as_bytes())
            .map_err(db_error)?;
        Ok(())
    }

    /// Removes the entries up to and including `cut`. Failing, it is only warned about: the
    /// append it follows is in, and what is left goes with the next prune, which removes
    /// from the first entry kept.
    async fn prune(&self, cut: u64) {
        {
            let mut bounds = self.bounds();
            if cut <= bounds.pruned_to {
                return;
            }
            // Raised before anything is removed: a reader that looks again after reading
            // (`since`) then refuses a token the removal may have cut into.
            bounds.pruned_to = cut;
        }
        let entries = self.entries.clone();
        let removed = blocking(move || {
            let mut batch = sled::Batch::default();
            for old in entries.range(..=key(cut)).keys() {
                batch.remove(old.map_err(db_error)?);
            }
            entries.apply_batch(batch).map_err(db_error)
        })
        .await;
        if let Err(e) = removed {
            warn!(error = %e, "pruning the change log failed");
        }
    }
}

fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn seq_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

/// The bounds of the stored entries (the first kept one tells what was pruned), or `None`
/// when a key is not a seq: such a log is not trusted.
fn stored_bounds(entries: &sled::Tree) -> sled::Result<Option<Bounds>> {
    let first = entries.first()?.map(|(k, _)| seq_of(&k));
    let last = entries.last()?.map(|(k, _)| seq_of(&k));
    Ok(match (first, last) {
        (None, None) => Some(Bounds::default()),
        (Some(Some(first)), Some(Some(last))) if first >= 1 => Some(Bounds {
            end: last,
            pruned_to: first - 1,
        }),
        _ => None,
    })
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
        let Some(count) = u64::try_from(changes.len()).ok().filter(|n| *n > 0) else {
            return Ok(());
        };
        self.guard.check(0)?;
        let mut phase = self.writer.lock().await;
        if *phase != Phase::Open {
            self.open_for_appends(&mut phase).await?;
        }
        let first = self.bounds().end + 1;
        let mut batch = sled::Batch::default();
        for (seq, change) in (first..).zip(changes) {
            batch.insert(&key(seq), encode(change).as_bytes());
        }
        self.entries.apply_batch(batch).map_err(db_error)?;
        let last = first + count - 1;
        self.bounds().end = last;
        if let Some(cut) = prune_point(first, last, KEPT_CHANGES) {
            self.prune(cut).await;
        }
        Ok(())
    }

    async fn current(&self) -> SubsystemResult<SyncPoint> {
        Ok(SyncPoint {
            epoch: self.epoch.clone(),
            seq: self.bounds().end,
        })
    }

    async fn since(&self, from: &SyncPoint, below: &DavPath, max: usize) -> SubsystemResult<Since> {
        let bounds = *self.bounds();
        if !bounds.answers(&self.epoch, from) {
            return Ok(Since::Unknown);
        }
        if from.seq == bounds.end {
            return answer(&self.epoch, from.seq, bounds.end, [], max);
        }
        let (entries, epoch, after, below) = (
            self.entries.clone(),
            self.epoch.clone(),
            from.seq,
            below.clone(),
        );
        // Every entry after the token may have to be looked at: off the connection thread.
        let found = blocking(move || {
            let concerning = entries
                .range(key(after + 1)..=key(bounds.end))
                .map(|item| {
                    let (k, v) = item.map_err(db_error)?;
                    entry(&k, &v)
                })
                .filter(|read| match read {
                    Ok(e) => concerns(&e.change.path, e.change.kind, &below),
                    Err(_) => true,
                });
            answer(&epoch, after, bounds.end, concerning, max)
        })
        .await?;
        // A prune that began while the entries were read may have removed some of them.
        if from.seq < self.bounds().pruned_to {
            return Ok(Since::Unknown);
        }
        Ok(found)
    }

    async fn close(&self) -> SubsystemResult<()> {
        let mut phase = self.writer.lock().await;
        match *phase {
            Phase::Closed => return Ok(()),
            // Nothing was appended this run; the new epoch is written now so that the tokens
            // handed out for it stay good after the restart.
            Phase::Untrusted => {
                self.guard.check(0)?;
                self.reset().await?;
            }
            Phase::Open => self.guard.check(0)?,
        }
        self.meta.remove(OPEN).map_err(db_error)?;
        self.flush().await?;
        *phase = Phase::Closed;
        Ok(())
    }
}

#[cfg(test)]
#[path = "changes_tests.rs"]
mod tests;
