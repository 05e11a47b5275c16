//! What every change log here (`davd_registry::ChangeLog`: memory, sled, postgres) shares:
//! which tokens a log still answers, and how an answer to `since` is cut at `max` entries.
//! A shared shape, so that the three stores cannot differ on the edges (a token at the very
//! end, `max` entries exactly, a log that was pruned).

use davd_registry::{
    Change, ChangeKind, DavPath, LoggedChange, Since, SubsystemError, SubsystemResult, SyncPoint,
};

/// How often a log prunes, in entries: when its end passes a multiple of this, everything
/// more than `KEPT_CHANGES` behind the end goes. In batches, so that pruning costs one
/// removal of many entries now and then, not one removal per append.
pub(crate) const PRUNE_EVERY: u64 = 1000;

/// The bounds of a log, as a reader saw them in one consistent look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// The last entry (0 before the first).
    pub end: u64,
    /// Every entry up to and including this one may have been pruned (0: none was). A token
    /// at it is still answered: the entries after it are all kept.
    pub pruned_to: u64,
}

impl Bounds {
    /// True if `from` names a point of this log whose following entries are all kept: of its
    /// epoch, not beyond its end, not before what was pruned.
    pub(crate) fn answers(&self, epoch: &str, from: &SyncPoint) -> bool {
        from.epoch == epoch && from.seq <= self.end && from.seq >= self.pruned_to
    }
}

/// Where a prune after an append from `first` to `last` cuts (everything up to and including
/// the result goes), or `None` when this append is not the one that prunes: its entries did
/// not pass a multiple of [`PRUNE_EVERY`], or the log is still short.
pub(crate) fn prune_point(first: u64, last: u64, kept: u64) -> Option<u64> {
    let crossed = last / PRUNE_EVERY > first.saturating_sub(1) / PRUNE_EVERY;
    (crossed && last > kept).then(|| last - kept)
}

/// The answer of `since`: `concerning` yields the entries after `from.seq` that concern the
/// path asked about, in log order; at most `max + 1` of them are read (the one past `max`
/// only says more follow). `end` is the log's end as seen when the entries were read.
pub(crate) fn answer(
    epoch: &str,
    from: u64,
    end: u64,
    concerning: impl IntoIterator<Item = SubsystemResult<LoggedChange>>,
    max: usize,
) -> SubsystemResult<Since> {
    let mut changes = Vec::new();
    let mut more = false;
    for entry in concerning {
        let entry = entry?;
        if changes.len() == max {
            more = true;
            break;
        }
        changes.push(entry);
    }
    // With more to come, the answer reaches only its last entry, so that the next question
    // starts right after it; else it reaches the end (entries after `from` that did not
    // concern the path need not be looked at again).
    let upto = match (more, changes.last()) {
        (false, _) => end,
        (true, Some(last)) => last.seq,
        (true, None) => from,
    };
    Ok(Since::Changes {
        changes,
        upto: SyncPoint {
            epoch: epoch.to_owned(),
            seq: upto,
        },
        more,
    })
}

/// A change as sled keeps it: its kind's letter, then the path.
pub(crate) fn encode(change: &Change) -> String {
    let path = change.path.as_str();
    let mut out = String::with_capacity(path.len() + 1);
    out.push(change.kind.letter());
    out.push_str(path);
    out
}

/// The change [`encode`] wrote, or a 500 for something that is not one.
pub(crate) fn decode(stored: &[u8]) -> SubsystemResult<Change> {
    let broken = || SubsystemError::internal("the change log holds an entry that is not one");
    let text = std::str::from_utf8(stored).map_err(|_| broken())?;
    let mut chars = text.chars();
    let kind = chars
        .next()
        .and_then(ChangeKind::from_letter)
        .ok_or_else(broken)?;
    Ok(Change {
        path: stored_path(chars.as_str())?,
        kind,
    })
}

/// A stored path (`/a/b`) back as a [`DavPath`], or a 500.
pub(crate) fn stored_path(stored: &str) -> SubsystemResult<DavPath> {
    if !stored.starts_with('/') {
        return Err(SubsystemError::internal(format!(
            "the change log holds a path that is not one: {stored:?}"
        )));
    }
    DavPath::from_segments(stored.split('/').filter(|s| !s.is_empty())).map_err(|e| {
        SubsystemError::internal(format!(
            "the change log holds a path that is not one: {stored:?} ({e})"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> SubsystemResult<LoggedChange> {
        Ok(LoggedChange {
            seq,
            change: Change {
                path: DavPath::root(),
                kind: ChangeKind::Tree,
            },
        })
    }

    fn cut(answer: Since) -> (Vec<u64>, u64, bool) {
        match answer {
            Since::Changes {
                changes,
                upto,
                more,
            } => (changes.iter().map(|c| c.seq).collect(), upto.seq, more),
            Since::Unknown => panic!("an answer"),
        }
    }

    #[test]
    fn an_answer_reaches_the_end_or_its_last_entry() {
        let all = || (3..=5).map(entry);
        assert_eq!(
            cut(answer("e", 2, 9, all(), 3).unwrap()),
            (vec![3, 4, 5], 9, false)
        );
        assert_eq!(
            cut(answer("e", 2, 9, all(), 2).unwrap()),
            (vec![3, 4], 4, true)
        );
        assert_eq!(cut(answer("e", 2, 9, all(), 0).unwrap()), (vec![], 2, true));
        assert_eq!(cut(answer("e", 2, 9, [], 0).unwrap()), (vec![], 9, false));
    }

    #[test]
    fn a_token_is_answered_from_what_was_pruned_to_the_end() {
        let bounds = Bounds {
            end: 10,
            pruned_to: 4,
        };
        let at = |epoch: &str, seq| SyncPoint {
            epoch: epoch.into(),
            seq,
        };
        assert!(bounds.answers("e", &at("e", 4)));
        assert!(bounds.answers("e", &at("e", 10)));
        assert!(!bounds.answers("e", &at("e", 3)));
        assert!(!bounds.answers("e", &at("e", 11)));
        assert!(!bounds.answers("e", &at("f", 5)));
    }

    #[test]
    fn only_the_append_that_passes_a_multiple_prunes() {
        assert_eq!(prune_point(1, 999, 10), None);
        assert_eq!(prune_point(999, 1000, 10), Some(990));
        assert_eq!(prune_point(1000, 1000, 10), Some(990));
        assert_eq!(prune_point(1001, 1999, 10), None);
        assert_eq!(prune_point(1, 2500, 10), Some(2490));
        assert_eq!(prune_point(1, 1000, 5000), None, "a short log keeps all");
    }

    #[test]
    fn an_entry_reads_back_and_garbage_is_an_error() {
        let change = Change {
            path: DavPath::from_segments(["a b", "é"]).unwrap(),
            kind: ChangeKind::Resource,
        };
        assert_eq!(decode(encode(&change).as_bytes()).unwrap(), change);
        let root = Change {
            path: DavPath::root(),
            kind: ChangeKind::Tree,
        };
        assert_eq!(decode(encode(&root).as_bytes()).unwrap(), root);
        for garbage in [&b""[..], b"x/a", b"r", b"ra/b", b"r/a/\0", b"\xff/a"] {
            assert!(decode(garbage).is_err(), "{garbage:?}");
        }
    }
}
