//! The [`ChangeLog`] contract, case by case, on the log of a fresh, empty property store
//! ([`PropertyManager::change_log`]; a store that keeps none fails every case).

use davd_registry::{
    Change, ChangeKind, ChangeLog, KEPT_CHANGES, LoggedChange, PropertyManager, Since, SyncPoint,
};

use super::support::path;

fn log_of(store: &dyn PropertyManager) -> &dyn ChangeLog {
    store
        .change_log()
        .unwrap_or_else(|| panic!("the {} store keeps no change log", store.kind()))
}

fn resource(at: &str) -> Change {
    Change {
        path: path(at),
        kind: ChangeKind::Resource,
    }
}

fn tree(at: &str) -> Change {
    Change {
        path: path(at),
        kind: ChangeKind::Tree,
    }
}

fn at(point: &SyncPoint, seq: u64) -> SyncPoint {
    SyncPoint {
        epoch: point.epoch.clone(),
        seq,
    }
}

/// The entries, where the answer reaches and whether more follow; panics on `Unknown`.
async fn since(
    log: &dyn ChangeLog,
    from: &SyncPoint,
    below: &str,
    max: usize,
) -> (Vec<LoggedChange>, SyncPoint, bool) {
    match log.since(from, &path(below), max).await.unwrap() {
        Since::Changes {
            changes,
            upto,
            more,
        } => (changes, upto, more),
        Since::Unknown => panic!("{from:?} below {below} is unknown"),
    }
}

/// Paths (with a `t:` before tree entries) of `entries`.
fn described(entries: &[LoggedChange]) -> Vec<String> {
    entries
        .iter()
        .map(|e| match e.change.kind {
            ChangeKind::Tree => format!("t:{}", e.change.path.as_str()),
            ChangeKind::Resource => e.change.path.as_str().to_owned(),
        })
        .collect()
}

pub async fn an_empty_log_starts_at_zero_with_nothing_after(store: &dyn PropertyManager) {
    let log = log_of(store);
    let start = log.current().await.unwrap();
    assert_eq!(start.seq, 0);
    assert!(!start.epoch.is_empty());
    let (changes, upto, more) = since(log, &start, "/", 10).await;
    assert!(changes.is_empty() && !more);
    assert_eq!(upto, start);
    // An empty append appends nothing.
    log.record(&[]).await.unwrap();
    assert_eq!(log.current().await.unwrap(), start);
}

pub async fn entries_come_back_in_order_after_a_token(store: &dyn PropertyManager) {
    let log = log_of(store);
    let start = log.current().await.unwrap();
    log.record(&[resource("/docs/a"), tree("/docs/b")])
        .await
        .unwrap();
    let middle = log.current().await.unwrap();
    assert_eq!(middle, at(&start, 2));
    log.record(&[resource("/x y/é")]).await.unwrap();
    let end = log.current().await.unwrap();
    assert_eq!(end, at(&start, 3));

    let (changes, upto, more) = since(log, &start, "/", 10).await;
    assert_eq!(changes.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(described(&changes), ["/docs/a", "t:/docs/b", "/x y/é"]);
    assert_eq!((upto, more), (end.clone(), false));

    let (changes, upto, _) = since(log, &middle, "/", 10).await;
    assert_eq!(described(&changes), ["/x y/é"]);
    assert_eq!(upto, end);
    let (changes, upto, more) = since(log, &end, "/", 10).await;
    assert!(changes.is_empty() && !more);
    assert_eq!(upto, end);
}

/// A report on `/docs/a` hears of `/docs/a` and what is below it, and of tree changes at its
/// ancestors (which replaced it whole); not of neighbours whose names extend its own.
pub async fn a_report_hears_of_its_subtree_and_of_trees_above_it(store: &dyn PropertyManager) {
    let log = log_of(store);
    let start = log.current().await.unwrap();
    log.record(&[
        resource("/docs/a/x"),
        resource("/docs/ab"),
        tree("/docs/ab"),
        resource("/docs/a b"),
        tree("/docs/a.txt"),
        tree("/docs"),
        resource("/docs"),
        resource("/other"),
        tree("/"),
        resource("/"),
        resource("/docs/a"),
        tree("/docs/a/y/z"),
        tree("/docs/a0"),
    ])
    .await
    .unwrap();
    let end = log.current().await.unwrap();
    let (changes, upto, more) = since(log, &start, "/docs/a", 100).await;
    assert_eq!(
        described(&changes),
        ["/docs/a/x", "t:/docs", "t:/", "/docs/a", "t:/docs/a/y/z"]
    );
    assert_eq!(
        changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [1, 6, 9, 11, 12]
    );
    assert_eq!((upto, more), (end.clone(), false));
    // The root hears of everything.
    let (changes, _, _) = since(log, &start, "/", 100).await;
    assert_eq!(changes.len(), 13);
    // A report on a resource with nothing about it reaches the end all the same.
    let (changes, upto, more) = since(log, &start, "/nothing/here", 100).await;
    assert_eq!(described(&changes), ["t:/"]);
    assert_eq!((upto, more), (end, false));
}

/// At most `max` entries come back; with more, the answer reaches its last entry, and asking
/// again from there gives the rest, each entry once.
pub async fn max_cuts_an_answer_that_continues_from_where_it_reached(store: &dyn PropertyManager) {
    let log = log_of(store);
    let start = log.current().await.unwrap();
    for i in 0..5 {
        log.record(&[resource(&format!("/in/{i}")), resource("/out")])
            .await
            .unwrap();
    }
    let end = log.current().await.unwrap();
    let mut from = start.clone();
    let mut seen = Vec::new();
    let mut answers = 0;
    loop {
        let (changes, upto, more) = since(log, &from, "/in", 2).await;
        answers += 1;
        assert!(changes.len() <= 2);
        if more {
            assert_eq!(changes.len(), 2);
            assert_eq!(upto.seq, changes[1].seq, "reaches its last entry");
        } else {
            assert_eq!(upto, end, "the last answer reaches the end");
        }
        seen.extend(described(&changes));
        from = upto;
        if !more {
            break;
        }
    }
    assert_eq!(seen, ["/in/0", "/in/1", "/in/2", "/in/3", "/in/4"]);
    assert_eq!(answers, 3);
    // Exactly `max` entries left: no more, and the end reached.
    let (changes, upto, more) = since(log, &at(&start, 6), "/in", 2).await;
    assert_eq!(described(&changes), ["/in/3", "/in/4"]);
    assert_eq!((upto, more), (end, false));
}

/// A token of another epoch, or beyond the end, is not one of this log's.
pub async fn foreign_and_future_tokens_are_unknown(store: &dyn PropertyManager) {
    let log = log_of(store);
    log.record(&[resource("/a")]).await.unwrap();
    let end = log.current().await.unwrap();
    let foreign = SyncPoint {
        epoch: format!("{}x", end.epoch),
        seq: 0,
    };
    let below = path("/");
    assert_eq!(
        log.since(&foreign, &below, 10).await.unwrap(),
        Since::Unknown
    );
    let empty = SyncPoint {
        epoch: String::new(),
        seq: 0,
    };
    assert_eq!(log.since(&empty, &below, 10).await.unwrap(), Since::Unknown);
    for seq in [end.seq + 1, u64::MAX] {
        assert_eq!(
            log.since(&at(&end, seq), &below, 10).await.unwrap(),
            Since::Unknown,
            "{seq}"
        );
    }
    // The log's own points stay good.
    assert!(matches!(
        log.since(&end, &below, 10).await.unwrap(),
        Since::Changes { .. }
    ));
}

/// A log keeps at least [`KEPT_CHANGES`] entries, and does not grow without bound: after
/// 10 000 more, a token from before them all is refused, and one from within what is kept is
/// answered whole.
pub async fn old_tokens_are_refused_once_their_entries_are_pruned(store: &dyn PropertyManager) {
    let log = log_of(store);
    let start = log.current().await.unwrap();
    const CHUNK: u64 = 10_000;
    let total = KEPT_CHANGES + CHUNK;
    let chunk: Vec<Change> = (0..CHUNK).map(|_| resource("/busy")).collect();
    for _ in 0..total / CHUNK {
        log.record(&chunk).await.unwrap();
    }
    let end = log.current().await.unwrap();
    assert_eq!(end.seq, total);
    let below = path("/");
    assert_eq!(log.since(&start, &below, 1).await.unwrap(), Since::Unknown);
    let oldest_kept = at(&end, end.seq - KEPT_CHANGES);
    let (changes, upto, more) = since(log, &oldest_kept, "/", 1).await;
    assert_eq!(changes[0].seq, oldest_kept.seq + 1);
    assert_eq!(upto.seq, oldest_kept.seq + 1);
    assert!(more);
}

/// Appends that run at once each get their own seqs, one after another without gaps, and
/// each append's entries stay in its order.
pub async fn appends_at_once_get_consecutive_seqs(store: &dyn PropertyManager) {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let log = log_of(store);
    let start = log.current().await.unwrap();
    let writers = (0..WRITERS).map(|w| async move {
        for i in 0..EACH {
            log.record(&[resource(&format!("/w{w}/{i}")), tree(&format!("/w{w}/{i}"))])
                .await
                .unwrap();
        }
    });
    futures_util::future::join_all(writers).await;
    let (changes, upto, more) = since(log, &start, "/", 10_000).await;
    assert!(!more);
    let total = (WRITERS * EACH * 2) as u64;
    assert_eq!(upto.seq, total);
    let seqs: Vec<u64> = changes.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    for w in 0..WRITERS {
        let mine: Vec<String> = described(&changes)
            .into_iter()
            .filter(|d| d.contains(&format!("/w{w}/")))
            .collect();
        let expected: Vec<String> = (0..EACH)
            .flat_map(|i| [format!("/w{w}/{i}"), format!("t:/w{w}/{i}")])
            .collect();
        assert_eq!(mine, expected, "writer {w}");
    }
    // An append's two entries are adjacent.
    for pair in changes.chunks(2) {
        assert_eq!(pair[0].change.path, pair[1].change.path);
    }
}
