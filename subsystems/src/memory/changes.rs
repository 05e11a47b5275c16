//! The change log of [`super::MemoryProperties`]: entries in memory, gone with the process.
//! Each log has an epoch of its own, made when it is, so that a token handed out before a
//! restart is refused after it rather than read against a log that starts again at 1.
//!
//! The sled log (`crate::sled_store::changes`) is this log, restored from the state database
//! when it opens and written back when it closes.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use davd_registry::{
    Change, ChangeLog, DavPath, KEPT_CHANGES, LoggedChange, Since, SubsystemResult, SyncPoint,
    concerns,
};

use crate::changes::{Bounds, answer};

pub struct MemoryChangeLog {
    epoch: String,
    log: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// The kept entries, oldest first, with consecutive seqs ending at `bounds.end`.
    entries: VecDeque<LoggedChange>,
    bounds: Bounds,
}

impl Default for MemoryChangeLog {
    fn default() -> Self {
        MemoryChangeLog {
            epoch: uuid::Uuid::new_v4().simple().to_string(),
            log: Mutex::new(Entries::default()),
        }
    }
}

impl MemoryChangeLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A log of `epoch` holding `entries` (oldest first, consecutive seqs ending at
    /// `bounds.end`, none at or below `bounds.pruned_to`).
    pub(crate) fn restored(epoch: String, entries: Vec<LoggedChange>, bounds: Bounds) -> Self {
        MemoryChangeLog {
            epoch,
            log: Mutex::new(Entries {
                entries: entries.into(),
                bounds,
            }),
        }
    }

    pub(crate) fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The entries after `seq`, and the bounds they were read with.
    pub(crate) fn after(&self, seq: u64) -> (Vec<LoggedChange>, Bounds) {
        let log = self.entries();
        let skip = usize::try_from(seq.saturating_sub(log.bounds.pruned_to)).unwrap_or(usize::MAX);
        (log.entries.iter().skip(skip).cloned().collect(), log.bounds)
    }

    /// The entries; a panic elsewhere while they were held left them whole (every change
    /// below is made in steps that each leave a valid log).
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ChangeLog for MemoryChangeLog {
    async fn record(&self, changes: &[Change]) -> SubsystemResult<()> {
        let mut log = self.entries();
        for change in changes {
            log.bounds.end += 1;
            let seq = log.bounds.end;
            log.entries.push_back(LoggedChange {
                seq,
                change: change.clone(),
            });
        }
        while log.entries.len() as u64 > KEPT_CHANGES {
            if let Some(dropped) = log.entries.pop_front() {
                log.bounds.pruned_to = dropped.seq;
            }
        }
        Ok(())
    }

    async fn current(&self) -> SubsystemResult<SyncPoint> {
        Ok(SyncPoint {
            epoch: self.epoch.clone(),
            seq: self.entries().bounds.end,
        })
    }

    async fn since(&self, from: &SyncPoint, below: &DavPath, max: usize) -> SubsystemResult<Since> {
        let log = self.entries();
        if !log.bounds.answers(&self.epoch, from) {
            return Ok(Since::Unknown);
        }
        // Seqs are consecutive: the first entry after `from` is at a known place.
        let skip = usize::try_from(from.seq - log.bounds.pruned_to).unwrap_or(usize::MAX);
        let concerning = log
            .entries
            .iter()
            .skip(skip)
            .filter(|e| concerns(&e.change.path, e.change.kind, below))
            .map(|e| Ok(e.clone()));
        answer(&self.epoch, from.seq, log.bounds.end, concerning, max)
    }
}
