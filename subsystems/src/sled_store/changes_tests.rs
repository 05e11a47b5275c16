//! What only the sled change log does: tokens that outlive a clean restart and die with an
//! unclean one, one log per database, appends from many threads in order. The contract every
//! log keeps is checked by the conformance suite (`crate::conformance::changes`).

use std::path::Path;
use std::sync::Arc;

use davd_registry::{Change, ChangeKind, KEPT_CHANGES, PropertyManager, Since, StatusCode};

use super::super::state::reopen_state;
use super::super::{SledProperties, StateDb, StateOptions, open_state};
use super::*;
use crate::conformance::support::path;

fn options() -> StateOptions {
    StateOptions {
        reserve: 0,
        ballast: 0,
    }
}

fn reopen(dir: &Path) -> StateDb {
    reopen_state(dir, &options()).expect("the state database opens")
}

fn change(at: &str) -> Change {
    Change {
        path: path(at),
        kind: ChangeKind::Resource,
    }
}

/// The seqs and paths after `from`, below the root; panics on `Unknown`.
async fn after(log: &SledChangeLog, from: &SyncPoint) -> Vec<(u64, String)> {
    match log.since(from, &DavPath::root(), usize::MAX).await.unwrap() {
        Since::Changes { changes, .. } => changes
            .into_iter()
            .map(|c| (c.seq, c.change.path.as_str().to_owned()))
            .collect(),
        Since::Unknown => panic!("{from:?} is unknown"),
    }
}

fn at(point: &SyncPoint, seq: u64) -> SyncPoint {
    SyncPoint {
        epoch: point.epoch.clone(),
        seq,
    }
}

#[tokio::test]
async fn tokens_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let state = reopen(dir.path());
        state
            .changes
            .record(&[change("/a"), change("/b"), change("/c")])
            .await
            .unwrap();
        let end = state.changes.current().await.unwrap();
        state.changes.close().await.unwrap();
        end
    };
    let state = reopen(dir.path());
    assert_eq!(state.changes.current().await.unwrap(), before);
    assert_eq!(
        after(&state.changes, &at(&before, 1)).await,
        [(2, "/b".to_owned()), (3, "/c".to_owned())]
    );
    state.changes.record(&[change("/d")]).await.unwrap();
    assert_eq!(
        after(&state.changes, &before).await,
        [(4, "/d".to_owned())],
        "the log goes on where it stopped"
    );
}

/// Killed after appending: entries may have been lost unflushed, and their seqs handed out;
/// the next start refuses every token of the old epoch.
#[tokio::test]
async fn a_stop_without_close_starts_a_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let state = reopen(dir.path());
        state.changes.record(&[change("/a")]).await.unwrap();
        state.changes.current().await.unwrap()
    };
    let state = reopen(dir.path());
    let now = state.changes.current().await.unwrap();
    assert_ne!(now.epoch, before.epoch);
    assert_eq!(now.seq, 0);
    for seq in [0, 1] {
        assert_eq!(
            state
                .changes
                .since(&at(&before, seq), &DavPath::root(), 10)
                .await
                .unwrap(),
            Since::Unknown
        );
    }
    state.changes.record(&[change("/b")]).await.unwrap();
    assert_eq!(
        after(&state.changes, &now).await,
        [(1, "/b".to_owned())],
        "the old entries are gone"
    );
}

/// An append after `close` (a request that finished late) sets the marker again.
#[tokio::test]
async fn an_append_after_close_opens_the_log_again() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let state = reopen(dir.path());
        state.changes.record(&[change("/a")]).await.unwrap();
        state.changes.close().await.unwrap();
        state.changes.record(&[change("/b")]).await.unwrap();
        state.changes.current().await.unwrap()
    };
    let state = reopen(dir.path());
    assert_ne!(state.changes.current().await.unwrap().epoch, before.epoch);
}

/// A run that appended nothing could lose nothing: its log stays good without a close.
#[tokio::test]
async fn a_run_without_appends_keeps_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let state = reopen(dir.path());
        state.changes.record(&[change("/a")]).await.unwrap();
        state.changes.close().await.unwrap();
        state.changes.current().await.unwrap()
    };
    drop(reopen(dir.path()));
    let state = reopen(dir.path());
    assert_eq!(state.changes.current().await.unwrap(), before);
}

/// After an unclean stop, a run that appends nothing and closes writes its new epoch, so
/// that the tokens it handed out hold after the next start.
#[tokio::test]
async fn the_new_epoch_of_a_run_without_appends_is_kept_by_its_close() {
    let dir = tempfile::tempdir().unwrap();
    {
        let state = reopen(dir.path());
        state
            .changes
            .record(&[change("/a"), change("/b")])
            .await
            .unwrap();
    }
    let handed_out = {
        let state = reopen(dir.path());
        let point = state.changes.current().await.unwrap();
        state.changes.close().await.unwrap();
        point
    };
    let state = reopen(dir.path());
    assert_eq!(state.changes.current().await.unwrap(), handed_out);
    assert!(after(&state.changes, &handed_out).await.is_empty());
}

/// A database found without its identity file may be an older copy put back on purpose:
/// clients may hold tokens past its end, so its log starts a new epoch.
#[tokio::test]
async fn an_adopted_database_starts_a_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let state = reopen(dir.path());
        state.changes.record(&[change("/a")]).await.unwrap();
        state.changes.close().await.unwrap();
        state.changes.current().await.unwrap()
    };
    std::fs::remove_file(dir.path().join("db.identity")).unwrap();
    let state = reopen(dir.path());
    let now = state.changes.current().await.unwrap();
    assert_ne!(now.epoch, before.epoch);
    assert_eq!(now.seq, 0);
}

#[tokio::test]
async fn what_was_pruned_stays_refused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let chunk: Vec<Change> = (0..10_000).map(|_| change("/busy")).collect();
    let end = {
        let state = reopen(dir.path());
        for _ in 0..(KEPT_CHANGES / 10_000 + 1) {
            state.changes.record(&chunk).await.unwrap();
        }
        state.changes.close().await.unwrap();
        state.changes.current().await.unwrap()
    };
    let state = reopen(dir.path());
    let oldest = end.seq - KEPT_CHANGES;
    let root = DavPath::root();
    let log = &state.changes;
    assert_eq!(
        log.since(&at(&end, oldest - 1), &root, 1).await.unwrap(),
        Since::Unknown
    );
    match log.since(&at(&end, oldest), &root, 1).await.unwrap() {
        Since::Changes { changes, .. } => assert_eq!(changes[0].seq, oldest + 1),
        Since::Unknown => panic!("the oldest kept token is refused"),
    }
}

#[tokio::test]
async fn every_manager_on_one_database_shares_its_log() {
    let state = StateDb::temporary().unwrap();
    let first = SledProperties::open(&state).unwrap();
    let second = SledProperties::open(&state).unwrap();
    fn log(p: &SledProperties) -> &dyn ChangeLog {
        p.change_log().expect("a log")
    }
    log(&first).record(&[change("/a")]).await.unwrap();
    log(&second).record(&[change("/b")]).await.unwrap();
    assert_eq!(
        log(&first).current().await.unwrap(),
        log(&second).current().await.unwrap()
    );
    assert_eq!(log(&first).current().await.unwrap().seq, 2);
}

#[tokio::test]
async fn an_append_on_a_full_disk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let full = StateOptions {
        reserve: u64::MAX / 2,
        ballast: 0,
    };
    let state = open_state(dir.path(), &full).unwrap();
    let start = state.changes.current().await.unwrap();
    let e = state.changes.record(&[change("/a")]).await.unwrap_err();
    assert_eq!(e.status, StatusCode::INSUFFICIENT_STORAGE, "{e}");
    assert_eq!(state.changes.current().await.unwrap(), start);
}

/// Many threads append at once while a reader follows the log: every seq is taken once, and
/// the reader never finds an entry appear behind one it has seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_from_many_threads_appear_in_order() {
    const WRITERS: usize = 16;
    const EACH: usize = 100;
    let state = StateDb::temporary().unwrap();
    let log: Arc<SledChangeLog> = state.changes.clone();
    let start = log.current().await.unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    log.record(&[change(&format!("/w{w}/{i}"))]).await.unwrap();
                }
            })
        })
        .collect();
    let total = (WRITERS * EACH) as u64;
    let reader = {
        let log = log.clone();
        let start = start.clone();
        tokio::spawn(async move {
            let mut from = start;
            while from.seq < total {
                let Since::Changes { changes, upto, .. } =
                    log.since(&from, &DavPath::root(), 37).await.unwrap()
                else {
                    panic!("{from:?} is unknown");
                };
                for (expected, entry) in (from.seq + 1..).zip(&changes) {
                    assert_eq!(entry.seq, expected, "a gap after {}", from.seq);
                }
                from = upto;
                tokio::task::yield_now().await;
            }
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    reader.await.unwrap();
    let seen = after(&log, &start).await;
    assert_eq!(
        seen.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    let mut paths: Vec<&str> = seen.iter().map(|(_, p)| p.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), WRITERS * EACH, "each append once");
}

/// Appends share the log's lock: one held by another append does not make the next wait (an
/// exclusive lock made concurrent PUTs queue for it, each handed on through the kernel), while
/// `close` still waits for appends in progress and appends wait for a `close`.
#[tokio::test]
async fn appends_share_the_lock_and_close_excludes_them() {
    use futures_util::FutureExt;

    let state = StateDb::temporary().unwrap();
    let log: Arc<SledChangeLog> = state.changes.clone();
    log.record(&[change("/first")]).await.unwrap();
    {
        let _append_in_progress = log.stored.read().await;
        assert!(
            log.record(&[change("/second")]).now_or_never().is_some(),
            "an append waited for another append"
        );
        assert!(
            log.close().now_or_never().is_none(),
            "close went ahead of an append in progress"
        );
    }
    {
        let _closing = log.stored.write().await;
        assert!(
            log.record(&[change("/third")]).now_or_never().is_none(),
            "an append went ahead during close"
        );
    }
    let seen = after(&log, &at(&log.current().await.unwrap(), 0)).await;
    assert_eq!(
        seen.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(),
        ["/first", "/second"]
    );
}
