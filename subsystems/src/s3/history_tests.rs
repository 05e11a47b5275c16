//! The s3 history area against a real database and store: filing copies no bytes, a blob a
//! version or a trash entry names outlives collection rounds and orphan scans, a pruned
//! one is collected, what a crash left detached is filed by another start, and two instances
//! sweeping at once remove an entry once. Each runs when a test database and a test S3
//! store are configured (`conformance::s3`), in a schema and a bucket prefix of its own.

use bytes::Bytes;
use futures_util::StreamExt;

use davd_registry::{
    Body, ByteStream, DavPath, Detached, HistoryArea, NamespaceManager, Shelf, WriteMode,
};

use super::*;
use crate::conformance::cluster::{SchemaGuard, fresh_schema, test_database};
use crate::conformance::s3::{fresh_prefix, test_store};
use crate::postgres::{Cluster, ClusterTable};

fn p(s: &str) -> DavPath {
    DavPath::from_segments(s.split('/').filter(|s| !s.is_empty())).unwrap()
}

fn body(bytes: &'static str) -> ByteStream {
    Box::pin(futures_util::stream::once(async move {
        Ok(Bytes::from_static(bytes.as_bytes()))
    }))
}

/// Instances `names` of one s3 namespace with no grace period (what is unreferenced is due
/// at once, when a test calls the collector).
async fn instances(names: &[&str]) -> Option<(Vec<S3Namespace>, SchemaGuard)> {
    let store = test_store()?;
    let url = test_database()?;
    let schema = fresh_schema();
    let table: ClusterTable =
        toml::from_str(&format!("database = \"{url}\"\nschema = \"{schema}\"\n")).unwrap();
    let table = table.check(None).unwrap();
    let settings = store.settings_at(&fresh_prefix());
    let mut namespaces = Vec::new();
    for name in names {
        let cluster = Cluster::open(&table, name).await.unwrap();
        namespaces.push(S3Namespace::open(cluster, &settings).await.unwrap());
    }
    Some((namespaces, SchemaGuard { url, schema }))
}

async fn text(ns: &dyn NamespaceManager, path: &str) -> String {
    let opened = ns.open(&p(path)).await.unwrap();
    match opened.content.read(None).await.unwrap() {
        Body::Empty => String::new(),
        Body::Full(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
        Body::Stream(mut stream) => {
            let mut all = Vec::new();
            while let Some(chunk) = stream.next().await {
                all.extend_from_slice(&chunk.unwrap());
            }
            String::from_utf8(all).unwrap()
        }
    }
}

async fn names(ns: &dyn NamespaceManager, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut batches = ns.list(&p(path)).await.unwrap();
    while let Some(batch) = batches.next().await {
        out.extend(batch.unwrap().into_iter().map(|m| m.name));
    }
    out.sort();
    out
}

/// Writes `old` then `new` at `path`; the old content, detached as a PUT's publish leaves it.
async fn replaced(ns: &S3Namespace, path: &str) -> Detached {
    ns.write(&p(path), body("old"), WriteMode::Replace)
        .await
        .unwrap();
    let staged = ns.stage(&p(path), body("new")).await.unwrap();
    ns.publish(staged).await.unwrap().previous.unwrap()
}

#[tokio::test]
async fn a_version_names_the_same_blob_and_outlives_the_collector() {
    let Some((namespaces, _guard)) = instances(&["a"]).await else {
        return;
    };
    let ns = &namespaces[0];
    let area = ns.history_area().await.unwrap();
    ns.create_collection(&p("/docs")).await.unwrap();
    let previous = replaced(ns, "/docs/f.txt").await;
    let stored_before = ns.audit().await.unwrap().stored;
    let kept = area
        .keep(Shelf::Versions, previous, &p("/docs/f.txt/v1.txt"))
        .await
        .unwrap();
    assert_eq!(kept.at, p("/docs/f.txt/v1.txt"));
    assert_eq!(kept.siblings, [("v1.txt".to_owned(), false)]);
    // No bytes copied: the bucket holds the same objects.
    assert_eq!(ns.audit().await.unwrap().stored, stored_before);

    // A collection round and an orphan scan past the (zero) grace period leave it.
    ns.collect_and_audit()
        .await
        .unwrap()
        .assert_exactly_named("after keeping a version");
    let versions = area.view(Shelf::Versions);
    assert_eq!(names(versions.as_ref(), "/docs/f.txt").await, ["v1.txt"]);
    assert_eq!(text(versions.as_ref(), "/docs/f.txt/v1.txt").await, "old");
    assert_eq!(text(ns, "/docs/f.txt").await, "new");
    // The live tree does not see the shelf, nor the shelf the live tree.
    assert_eq!(names(ns, "/").await, ["docs"]);
    assert!(
        versions
            .stat(&p("/docs/f.txt/v1.txt"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(ns.stat(&p("/docs/f.txt/v1.txt")).await.unwrap().is_none());

    // A second version in the same place gets the next number.
    let previous = replaced(ns, "/docs/f.txt").await;
    let second = area
        .keep(Shelf::Versions, previous, &p("/docs/f.txt/v1.txt"))
        .await
        .unwrap();
    assert_eq!(second.at, p("/docs/f.txt/v1~2.txt"));
    assert_eq!(second.siblings.len(), 2);
}

#[tokio::test]
async fn a_pruned_version_is_collected_and_its_emptied_collections_go() {
    let Some((namespaces, _guard)) = instances(&["a"]).await else {
        return;
    };
    let ns = &namespaces[0];
    let area = ns.history_area().await.unwrap();
    let previous = replaced(ns, "/f.txt").await;
    let at = p("/f.txt/v1.txt");
    area.keep(Shelf::Versions, previous, &at).await.unwrap();
    let blob = {
        let view = ns.on_shelf(VERSIONS);
        view.row(&at).await.unwrap().unwrap().1.unwrap()
    };
    area.remove(Shelf::Versions, &at).await.unwrap();
    let audit = ns.audit().await.unwrap();
    assert!(audit.recorded.contains(&blob), "recorded for the collector");
    assert!(
        audit.stored.contains(&blob),
        "not before the collector's round"
    );
    let audit = ns.collect_and_audit().await.unwrap();
    audit.assert_exactly_named("after pruning");
    assert!(
        !audit.stored.contains(&blob),
        "the pruned version's blob is gone"
    );
    let versions = area.view(Shelf::Versions);
    assert!(versions.stat(&p("/f.txt")).await.unwrap().is_none());
    assert!(names(versions.as_ref(), "/").await.is_empty());
    // Removing what is not there succeeds.
    area.remove(Shelf::Versions, &at).await.unwrap();
}

#[tokio::test]
async fn a_blob_named_by_a_version_and_the_live_tree_goes_with_the_last_of_them() {
    let Some((namespaces, _guard)) = instances(&["a"]).await else {
        return;
    };
    let ns = &namespaces[0];
    let area = ns.history_area().await.unwrap();
    ns.write(&p("/a.txt"), body("shared"), WriteMode::Replace)
        .await
        .unwrap();
    // A copy names the same blob; the original is then removed into the trash.
    ns.copy_file(&p("/a.txt"), &p("/b.txt")).await.unwrap();
    let detached = ns.detach(&p("/a.txt"), "gone").await.unwrap();
    area.keep(Shelf::Trash, detached, &p("/T/a.txt"))
        .await
        .unwrap();
    // Emptying the trash leaves the blob to the copy; removing the copy releases it.
    area.remove(Shelf::Trash, &p("/T")).await.unwrap();
    let audit = ns.collect_and_audit().await.unwrap();
    audit.assert_exactly_named("the copy still names it");
    assert_eq!(audit.named.len(), 1);
    assert_eq!(text(ns, "/b.txt").await, "shared");
    let detached = ns.detach(&p("/b.txt"), "gone too").await.unwrap();
    ns.purge(detached).await.unwrap();
    let audit = ns.collect_and_audit().await.unwrap();
    audit.assert_exactly_named("nothing names it");
    assert!(audit.stored.is_empty());
}

#[tokio::test]
async fn a_trash_entry_keeps_its_tree_and_is_emptied_through_the_view() {
    let Some((namespaces, _guard)) = instances(&["a"]).await else {
        return;
    };
    let ns = &namespaces[0];
    let area = ns.history_area().await.unwrap();
    ns.create_collection(&p("/project")).await.unwrap();
    ns.create_collection(&p("/project/sub")).await.unwrap();
    for (path, content) in [("/project/plan.md", "plan"), ("/project/sub/x", "x")] {
        ns.write(&p(path), body(content), WriteMode::Replace)
            .await
            .unwrap();
    }
    let detached = ns.detach(&p("/project"), "del-1").await.unwrap();
    let kept = area
        .keep(Shelf::Trash, detached, &p("/2026-01-01T00-00-00Z/project"))
        .await
        .unwrap();
    assert_eq!(
        kept.siblings,
        [("project".to_owned(), true)],
        "a collection"
    );
    assert!(!ns.is_detached("del-1").await.unwrap());
    let trash = area.view(Shelf::Trash);
    assert_eq!(names(trash.as_ref(), "/").await, ["2026-01-01T00-00-00Z"]);
    let entry = "/2026-01-01T00-00-00Z/project";
    assert_eq!(names(trash.as_ref(), entry).await, ["plan.md", "sub"]);
    assert_eq!(text(trash.as_ref(), &format!("{entry}/sub/x")).await, "x");
    assert!(ns.stat(&p("/project")).await.unwrap().is_none());
    ns.collect_and_audit()
        .await
        .unwrap()
        .assert_exactly_named("a tree in the trash");

    // A DELETE in the trash view: detach and purge, as the executive does.
    let removed = trash.detach(&p(entry), "empty-1").await.unwrap();
    trash.purge(removed).await.unwrap();
    let audit = ns.collect_and_audit().await.unwrap();
    audit.assert_exactly_named("the trash emptied");
    assert!(audit.stored.is_empty(), "{:?}", audit.stored);
}

/// A request that crashed after its change and before its commit filed the old content
/// leaves it detached under its tag; the next start (another process, the same instance
/// name) finds it there, as recovery asks (`is_detached`), and files it.
#[tokio::test]
async fn what_a_crash_left_detached_is_filed_by_the_next_start() {
    let Some((namespaces, _guard)) = instances(&["a", "a"]).await else {
        return;
    };
    let (before, after) = (&namespaces[0], &namespaces[1]);
    let previous = replaced(before, "/f.txt").await;
    // The crash: the first process is gone; the second opens the history and recovers.
    let area = after.history_area().await.unwrap();
    assert!(after.is_detached(&previous.handle).await.unwrap());
    area.keep(Shelf::Versions, previous.clone(), &p("/f.txt/v1.txt"))
        .await
        .unwrap();
    // Recovery again (a crash during recovery): the tag is no longer detached, and purging
    // it, as recovery then does, takes nothing from the shelf.
    assert!(!after.is_detached(&previous.handle).await.unwrap());
    after.purge(previous).await.unwrap();
    after.discard_leftovers().await.unwrap();
    let versions = area.view(Shelf::Versions);
    assert_eq!(text(versions.as_ref(), "/f.txt/v1.txt").await, "old");
    after
        .collect_and_audit()
        .await
        .unwrap()
        .assert_exactly_named("after recovery");
}

/// Two instances pruning the same entries at once (their hourly sweeps) each succeed; every
/// blob is released once and collected, and the collections go.
#[tokio::test]
async fn two_instances_pruning_at_once_remove_each_entry_once() {
    let Some((namespaces, _guard)) = instances(&["a", "b"]).await else {
        return;
    };
    let (a, b) = (&namespaces[0], &namespaces[1]);
    let area_a = a.history_area().await.unwrap();
    let area_b = b.history_area().await.unwrap();
    let mut kept = Vec::new();
    for n in 0..6 {
        let path = format!("/d/f{n}.txt");
        if n == 0 {
            a.create_collection(&p("/d")).await.unwrap();
        }
        let previous = replaced(a, &path).await;
        let at = p(&format!("{path}/v.txt"));
        kept.push(
            area_a
                .keep(Shelf::Versions, previous, &at)
                .await
                .unwrap()
                .at,
        );
    }
    let sweep = |area: Arc<dyn HistoryArea>, order: Vec<DavPath>| async move {
        for at in order {
            area.remove(Shelf::Versions, &at).await.unwrap();
        }
    };
    let mut reversed = kept.clone();
    reversed.reverse();
    tokio::join!(sweep(area_a.clone(), kept), sweep(area_b, reversed));
    let versions = area_a.view(Shelf::Versions);
    assert!(names(versions.as_ref(), "/").await.is_empty());
    let audit = a.collect_and_audit().await.unwrap();
    audit.assert_exactly_named("after both sweeps");
    assert_eq!(audit.named.len(), 6, "the live files' blobs");
}
