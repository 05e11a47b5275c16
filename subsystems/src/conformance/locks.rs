//! The [`LockManager`] contract, case by case. Each case starts from an empty table.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use davd_registry::{LockChange, LockManager, LockScope, Marker, Timeout};

use super::support::{lock, path, tokens};

/// A whole second well in the future (stores may keep expiry in whole seconds).
fn later() -> SystemTime {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    UNIX_EPOCH + Duration::from_secs(now + 3600)
}

fn earlier() -> SystemTime {
    SystemTime::now() - Duration::from_secs(60)
}

pub async fn a_lock_is_stored_as_given(locks: &dyn LockManager) {
    let mut record = lock("urn:uuid:1", "/doc", true, Some(later()));
    record.scope = LockScope::Shared;
    record.owner = Some("<D:href xmlns:D=\"DAV:\">mailto:a@example.com</D:href>".into());
    record.principal = Some("alice".into());
    record.timeout = Timeout::Seconds(3600);
    locks.insert(record.clone()).await.unwrap();
    assert_eq!(locks.get("urn:uuid:1").await.unwrap(), Some(record.clone()));
    let forever = lock("urn:uuid:2", "/", false, None);
    locks.insert(forever.clone()).await.unwrap();
    assert_eq!(locks.get("urn:uuid:2").await.unwrap(), Some(forever));
    assert_eq!(locks.get("urn:uuid:none").await.unwrap(), None);

    assert_eq!(locks.remove("urn:uuid:1").await.unwrap(), Some(record));
    assert_eq!(locks.get("urn:uuid:1").await.unwrap(), None);
    assert_eq!(locks.remove("urn:uuid:1").await.unwrap(), None);
    assert!(locks.covering(&path("/doc")).await.unwrap().is_empty());
}

pub async fn a_refresh_replaces_the_record(locks: &dyn LockManager) {
    let mut record = lock("urn:uuid:r", "/doc", false, Some(later()));
    locks.insert(record.clone()).await.unwrap();
    record.expires = Some(later() + Duration::from_secs(3600));
    record.timeout = Timeout::Seconds(7200);
    locks.update(record.clone()).await.unwrap();
    assert_eq!(locks.get("urn:uuid:r").await.unwrap(), Some(record));
    assert_eq!(locks.covering(&path("/doc")).await.unwrap().len(), 1);
}

pub async fn covering_finds_the_path_s_own_locks_and_deep_ones_above(locks: &dyn LockManager) {
    locks
        .insert(lock("deep-a", "/a", true, None))
        .await
        .unwrap();
    locks
        .insert(lock("flat-ab", "/a/b", false, None))
        .await
        .unwrap();
    locks
        .insert(lock("flat-a", "/a", false, None))
        .await
        .unwrap();
    locks
        .insert(lock("deep-a b", "/a b", true, None))
        .await
        .unwrap();
    locks
        .insert(lock("deep-ax", "/ax", true, None))
        .await
        .unwrap();
    let covering = |at: &'static str| async move { locks.covering(&path(at)).await.unwrap() };
    assert_eq!(tokens(&covering("/a").await), ["deep-a", "flat-a"]);
    assert_eq!(tokens(&covering("/a/b").await), ["deep-a", "flat-ab"]);
    assert_eq!(tokens(&covering("/a/b/c").await), ["deep-a"]);
    assert_eq!(tokens(&covering("/ax/y").await), ["deep-ax"]);
    assert_eq!(tokens(&covering("/a b/y").await), ["deep-a b"]);
    assert!(covering("/").await.is_empty());
    assert!(covering("/b").await.is_empty());
    locks
        .insert(lock("deep-root", "/", true, None))
        .await
        .unwrap();
    assert_eq!(tokens(&covering("/b/c").await), ["deep-root"]);
    assert_eq!(
        tokens(&covering("/a/b").await),
        ["deep-a", "deep-root", "flat-ab"]
    );
}

pub async fn below_finds_locks_rooted_strictly_below(locks: &dyn LockManager) {
    locks.insert(lock("a", "/a", true, None)).await.unwrap();
    locks.insert(lock("ab", "/a/b", false, None)).await.unwrap();
    locks
        .insert(lock("abc", "/a/b/c", true, None))
        .await
        .unwrap();
    locks
        .insert(lock("a b", "/a b", false, None))
        .await
        .unwrap();
    locks
        .insert(lock("ax", "/ax/y", false, None))
        .await
        .unwrap();
    assert_eq!(
        tokens(&locks.below(&path("/a")).await.unwrap()),
        ["ab", "abc"]
    );
    assert_eq!(tokens(&locks.below(&path("/a/b")).await.unwrap()), ["abc"]);
    assert!(locks.below(&path("/a/b/c")).await.unwrap().is_empty());
    assert_eq!(
        tokens(&locks.below(&path("/")).await.unwrap()),
        ["a", "a b", "ab", "abc", "ax"]
    );
}

pub async fn held_by_counts_each_principal_s_locks(locks: &dyn LockManager) {
    for (token, principal) in [
        ("1", Some("alice")),
        ("2", Some("alice")),
        ("3", Some("bob")),
        ("4", None),
    ] {
        let mut record = lock(token, &format!("/{token}"), false, None);
        record.principal = principal.map(str::to_owned);
        locks.insert(record).await.unwrap();
    }
    assert_eq!(locks.held_by(Some("alice")).await.unwrap(), 2);
    assert_eq!(locks.held_by(Some("bob")).await.unwrap(), 1);
    assert_eq!(locks.held_by(None).await.unwrap(), 1);
    assert_eq!(locks.held_by(Some("carol")).await.unwrap(), 0);
    locks.remove("1").await.unwrap();
    assert_eq!(locks.held_by(Some("alice")).await.unwrap(), 1);
}

pub async fn expired_locks_are_never_returned_and_are_swept(locks: &dyn LockManager) {
    let mut old = lock("old", "/a", true, Some(earlier()));
    old.principal = Some("alice".into());
    locks.insert(old).await.unwrap();
    locks
        .insert(lock("old-below", "/a/b", false, Some(earlier())))
        .await
        .unwrap();
    locks
        .insert(lock("live", "/a/c", false, Some(later())))
        .await
        .unwrap();
    locks
        .insert(lock("forever", "/z", false, None))
        .await
        .unwrap();

    assert_eq!(locks.get("old").await.unwrap(), None);
    assert!(locks.covering(&path("/a/b")).await.unwrap().is_empty());
    assert_eq!(tokens(&locks.below(&path("/a")).await.unwrap()), ["live"]);
    assert_eq!(locks.held_by(Some("alice")).await.unwrap(), 0);

    assert_eq!(locks.sweep().await.unwrap(), 2);
    assert_eq!(locks.sweep().await.unwrap(), 0, "nothing left to sweep");
    assert!(locks.get("live").await.unwrap().is_some());
    assert!(locks.get("forever").await.unwrap().is_some());
    assert_eq!(locks.remove("old").await.unwrap(), None, "swept for good");
}

pub async fn flush_is_a_barrier_that_succeeds(locks: &dyn LockManager) {
    locks.insert(lock("f", "/f", false, None)).await.unwrap();
    locks.flush().await.unwrap();
    assert!(locks.get("f").await.unwrap().is_some());
}

pub async fn a_batch_of_lock_changes_and_its_undo(locks: &dyn LockManager) {
    let kept = lock("kept", "/k", false, None);
    let refreshed = lock("refreshed", "/r", false, Some(later()));
    let removed = lock("removed", "/x", true, None);
    for record in [&kept, &refreshed, &removed] {
        locks.insert(record.clone()).await.unwrap();
    }
    let mut refresh = refreshed.clone();
    refresh.expires = Some(later() + Duration::from_secs(600));
    let added = lock("added", "/a", true, None);
    let changes = vec![
        LockChange::Put(added.clone()),
        LockChange::Put(refresh.clone()),
        LockChange::Remove {
            token: "removed".into(),
        },
        LockChange::Remove {
            token: "absent".into(),
        },
    ];
    let undo = locks.apply(&changes, Marker::Record("l-1")).await.unwrap();
    assert_eq!(locks.get("added").await.unwrap(), Some(added));
    assert_eq!(locks.get("refreshed").await.unwrap(), Some(refresh));
    assert_eq!(locks.get("removed").await.unwrap(), None);
    let durable = locks.has_marker("l-1").await.unwrap();
    assert_eq!(
        locks.markers().await.unwrap().contains(&"l-1".to_owned()),
        durable
    );

    locks.apply(&undo, Marker::Clear("l-1")).await.unwrap();
    assert!(!locks.has_marker("l-1").await.unwrap());
    assert_eq!(locks.get("added").await.unwrap(), None);
    assert_eq!(locks.get("refreshed").await.unwrap(), Some(refreshed));
    assert_eq!(locks.get("removed").await.unwrap(), Some(removed));
    assert_eq!(locks.get("kept").await.unwrap(), Some(kept));
    assert_eq!(
        tokens(&locks.covering(&path("/x/y")).await.unwrap()),
        ["removed"]
    );

    locks
        .apply(
            &[LockChange::Remove {
                token: "kept".into(),
            }],
            Marker::Record("l-2"),
        )
        .await
        .unwrap();
    locks.forget_markers(&["l-2".to_owned()]).await.unwrap();
    assert!(!locks.has_marker("l-2").await.unwrap());
    assert_eq!(
        locks.get("kept").await.unwrap(),
        None,
        "forgetting a marker keeps its batch"
    );
}
