//! The [`NamespaceManager`] contract, case by case. Each case starts from an empty namespace
//! and leaves the subject as it pleases.

use davd_registry::{ByteRange, NamespaceManager, StatusCode, SubsystemResult, WriteMode};

use super::support::{
    body, broken_body, exists, members, mkcol, names, path, patterned, put, read, read_range,
};

/// The status of a call that must fail.
fn status<T>(what: &str, result: SubsystemResult<T>) -> StatusCode {
    match result {
        Ok(_) => panic!("{what} succeeded; it must fail"),
        Err(e) => e.status,
    }
}

/// Names that sort between `/c` and `/c/` in byte order (space, `-`, `.` come before `/`),
/// and one after: a store that treats a subtree as a key range must stop at the right key.
const NEIGHBOURS: [&str; 4] = ["/c b", "/c-d", "/c.txt", "/cd"];

async fn neighbours(ns: &dyn NamespaceManager) {
    for n in NEIGHBOURS {
        put(ns, n, n).await;
    }
}

async fn neighbours_untouched(ns: &dyn NamespaceManager) {
    for n in NEIGHBOURS {
        assert_eq!(read(ns, n).await, n.as_bytes(), "{n} changed");
    }
}

pub async fn the_root_is_an_empty_collection(ns: &dyn NamespaceManager) {
    let root = ns.stat(&path("/")).await.unwrap().expect("the root exists");
    assert!(root.collection);
    assert!(names(ns, "/").await.is_empty());
    assert!(!exists(ns, "/missing").await);
}

pub async fn collections_are_created_once_under_a_collection(ns: &dyn NamespaceManager) {
    mkcol(ns, "/c").await;
    let meta = ns.stat(&path("/c")).await.unwrap().expect("created");
    assert!(meta.collection);
    assert_eq!(meta.len, 0);
    assert_eq!(names(ns, "/").await, ["c"]);
    assert!(names(ns, "/c").await.is_empty());
    let again = ns.create_collection(&path("/c")).await;
    assert_eq!(
        status("creating /c twice", again),
        StatusCode::METHOD_NOT_ALLOWED
    );
    put(ns, "/f", "file").await;
    let onto_file = ns.create_collection(&path("/f")).await;
    assert_eq!(
        status("creating over a file", onto_file),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let orphan = ns.create_collection(&path("/x/y")).await;
    assert_eq!(
        status("creating without a parent", orphan),
        StatusCode::CONFLICT
    );
    let under_file = ns.create_collection(&path("/f/y")).await;
    assert_eq!(
        status("creating under a file", under_file),
        StatusCode::CONFLICT
    );
}

pub async fn a_replace_keeps_the_old_content_for_undo(ns: &dyn NamespaceManager) {
    let first = ns
        .write(&path("/f"), body("old"), WriteMode::Replace)
        .await
        .unwrap();
    assert!(first.created && first.previous.is_none());
    assert_eq!((first.meta.len, first.meta.collection), (3, false));
    assert_eq!(read(ns, "/f").await, b"old");

    let second = ns
        .write(&path("/f"), body("new!"), WriteMode::Replace)
        .await
        .unwrap();
    assert!(!second.created);
    assert_eq!(second.meta.len, 4);
    assert_eq!(read(ns, "/f").await, b"new!");
    // Undo: the old content comes back.
    let previous = second.previous.expect("the replaced content is kept");
    assert_eq!(previous.path, path("/f"));
    ns.restore(previous).await.unwrap();
    assert_eq!(read(ns, "/f").await, b"old");

    // Commit: the kept content is forgotten, the new one stays.
    let third = ns
        .write(&path("/f"), body("newer"), WriteMode::Replace)
        .await
        .unwrap();
    ns.purge(third.previous.expect("kept")).await.unwrap();
    assert_eq!(read(ns, "/f").await, b"newer");
    assert_eq!(names(ns, "/").await, ["f"]);
}

pub async fn writes_need_a_parent_collection_and_refuse_collections(ns: &dyn NamespaceManager) {
    mkcol(ns, "/c").await;
    put(ns, "/f", "file").await;
    for (at, expected) in [
        ("/c", StatusCode::METHOD_NOT_ALLOWED),
        ("/", StatusCode::METHOD_NOT_ALLOWED),
        ("/missing/f", StatusCode::CONFLICT),
        ("/f/g", StatusCode::CONFLICT),
    ] {
        let written = ns.write(&path(at), body("x"), WriteMode::Replace).await;
        assert_eq!(status(at, written), expected, "write {at}");
    }
    assert!(ns.stat(&path("/c")).await.unwrap().unwrap().collection);
    assert_eq!(read(ns, "/f").await, b"file");
    assert_eq!(names(ns, "/").await, ["c", "f"]);
}

pub async fn staged_content_is_invisible_until_published(ns: &dyn NamespaceManager) {
    let staged = ns.stage(&path("/s"), body("first")).await.unwrap();
    assert_eq!(staged.len, 5);
    assert_eq!(staged.path, path("/s"));
    assert!(!exists(ns, "/s").await, "staged content is not visible");
    assert!(names(ns, "/").await.is_empty(), "nor listed");
    let receipt = ns.publish(staged).await.unwrap();
    assert!(receipt.created && receipt.previous.is_none());
    assert_eq!(receipt.meta.len, 5);
    assert_eq!(read(ns, "/s").await, b"first");

    // Publishing over content keeps it for undo...
    let staged = ns.stage(&path("/s"), body("second")).await.unwrap();
    let receipt = ns.publish(staged).await.unwrap();
    assert!(!receipt.created);
    assert_eq!(read(ns, "/s").await, b"second");
    ns.restore(receipt.previous.expect("kept for undo"))
        .await
        .unwrap();
    assert_eq!(read(ns, "/s").await, b"first");

    // When nothing will undo it, the manager may skip the backup; one it keeps anyway is
    // purged at commit like any other.
    let mut staged = ns.stage(&path("/s"), body("third")).await.unwrap();
    staged.keep_previous = false;
    let receipt = ns.publish(staged).await.unwrap();
    assert!(!receipt.created);
    if let Some(previous) = receipt.previous {
        ns.purge(previous).await.unwrap();
    }
    assert_eq!(read(ns, "/s").await, b"third");
    assert_eq!(names(ns, "/").await, ["s"]);
}

pub async fn discarded_content_never_appears(ns: &dyn NamespaceManager) {
    put(ns, "/d", "kept").await;
    let staged = ns.stage(&path("/d"), body("dropped")).await.unwrap();
    ns.discard(staged).await.unwrap();
    let staged = ns.stage(&path("/new"), body("dropped")).await.unwrap();
    ns.discard(staged).await.unwrap();
    assert_eq!(read(ns, "/d").await, b"kept");
    assert_eq!(names(ns, "/").await, ["d"]);
    // The staging area still works afterwards.
    let staged = ns.stage(&path("/new"), body("kept too")).await.unwrap();
    ns.publish(staged).await.unwrap();
    assert_eq!(read(ns, "/new").await, b"kept too");
}

pub async fn publish_checks_the_parent_and_the_target(ns: &dyn NamespaceManager) {
    mkcol(ns, "/c").await;
    // Staging does not look at the parent; publishing does.
    let orphan = ns.stage(&path("/missing/f"), body("x")).await.unwrap();
    assert_eq!(
        status("publishing without a parent", ns.publish(orphan).await),
        StatusCode::CONFLICT
    );
    let onto = ns.stage(&path("/c"), body("x")).await.unwrap();
    assert_eq!(
        status("publishing onto a collection", ns.publish(onto).await),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert!(ns.stat(&path("/c")).await.unwrap().unwrap().collection);
    assert_eq!(names(ns, "/").await, ["c"]);

    // The same when nothing will undo the write, where a store may take a shorter way.
    put(ns, "/f", "file").await;
    for (at, expected) in [
        ("/missing/f", StatusCode::CONFLICT),
        ("/c", StatusCode::METHOD_NOT_ALLOWED),
        ("/f/g", StatusCode::CONFLICT),
    ] {
        let mut staged = ns.stage(&path(at), body("x")).await.unwrap();
        staged.keep_previous = false;
        assert_eq!(status(at, ns.publish(staged).await), expected, "{at}");
    }
    let mut staged = ns.stage(&path("/c/new"), body("below")).await.unwrap();
    staged.keep_previous = false;
    assert!(ns.publish(staged).await.unwrap().created);
    assert_eq!(read(ns, "/c/new").await, b"below");
    assert_eq!(read(ns, "/f").await, b"file");
    assert_eq!(names(ns, "/").await, ["c", "f"]);
}

pub async fn a_failed_upload_changes_nothing(ns: &dyn NamespaceManager) {
    put(ns, "/f", "kept").await;
    let written = ns
        .write(&path("/f"), broken_body(b"partial"), WriteMode::Replace)
        .await;
    assert!(written.is_err(), "a body that fails fails the write");
    let staged = ns.stage(&path("/g"), broken_body(b"partial")).await;
    assert!(staged.is_err(), "a body that fails fails the staging");
    assert_eq!(read(ns, "/f").await, b"kept");
    assert_eq!(ns.stat(&path("/f")).await.unwrap().unwrap().len, 4);
    assert_eq!(names(ns, "/").await, ["f"]);
}

pub async fn content_reads_back_whole_and_in_ranges(ns: &dyn NamespaceManager) {
    // Larger than any store keeps in one piece: several chunks, a file too big to read inline.
    let data = patterned(300_000);
    let receipt = ns
        .write(&path("/big"), body(data.clone()), WriteMode::Replace)
        .await
        .unwrap();
    assert_eq!(receipt.meta.len, 300_000);
    assert_eq!(read(ns, "/big").await, data);
    for (start, end) in [
        (0, 0),
        (65_530, 131_080),
        (4_095, 4_096),
        (299_999, 299_999),
    ] {
        let range = ByteRange { start, end };
        assert_eq!(
            read_range(ns, "/big", Some(range)).await,
            &data[start as usize..=end as usize],
            "bytes {start}-{end}"
        );
    }
    put(ns, "/empty", "").await;
    assert_eq!(ns.stat(&path("/empty")).await.unwrap().unwrap().len, 0);
    assert!(read(ns, "/empty").await.is_empty());
}

pub async fn open_refuses_collections_and_missing_resources(ns: &dyn NamespaceManager) {
    mkcol(ns, "/c").await;
    assert_eq!(
        status("opening a collection", ns.open(&path("/c")).await),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        status("opening nothing", ns.open(&path("/missing")).await),
        StatusCode::NOT_FOUND
    );
}

pub async fn listings_name_each_direct_member_once(ns: &dyn NamespaceManager) {
    mkcol(ns, "/l").await;
    mkcol(ns, "/l/sub").await;
    put(ns, "/l/sub/deep", "below a member").await;
    // More than one batch of any store's listing.
    let mut expected = vec!["sub".to_owned()];
    for i in 0..600 {
        let name = format!("f{i:03}");
        put(ns, &format!("/l/{name}"), name.clone()).await;
        expected.push(name);
    }
    expected.sort();
    let listed = members(ns, "/l").await;
    let mut listed_names: Vec<String> = listed.iter().map(|m| m.name.clone()).collect();
    listed_names.sort();
    assert_eq!(listed_names, expected, "each member once, nothing deeper");
    for member in &listed {
        let meta = ns
            .stat(&path(&format!("/l/{}", member.name)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(member.meta.collection, meta.collection, "{}", member.name);
        assert_eq!(member.meta.len, meta.len, "{}", member.name);
        assert_eq!(member.meta.etag, meta.etag, "{}", member.name);
    }
    assert_eq!(names(ns, "/").await, ["l"]);
}

pub async fn a_detached_subtree_can_be_restored_or_purged(ns: &dyn NamespaceManager) {
    mkcol(ns, "/c").await;
    mkcol(ns, "/c/d").await;
    put(ns, "/c/d/f", "deep").await;
    put(ns, "/c/g", "g").await;
    neighbours(ns).await;

    let detached = ns.detach(&path("/c"), "tag-1").await.unwrap();
    assert_eq!(detached.handle, "tag-1", "kept under the caller's tag");
    assert_eq!(detached.path, path("/c"));
    assert!(ns.is_detached("tag-1").await.unwrap());
    for gone in ["/c", "/c/d", "/c/d/f", "/c/g"] {
        assert!(!exists(ns, gone).await, "{gone} is still there");
    }
    neighbours_untouched(ns).await;
    ns.restore(detached).await.unwrap();
    assert!(!ns.is_detached("tag-1").await.unwrap());
    assert_eq!(names(ns, "/c").await, ["d", "g"]);
    assert_eq!(read(ns, "/c/d/f").await, b"deep");
    neighbours_untouched(ns).await;

    let detached = ns.detach(&path("/c"), "tag-2").await.unwrap();
    ns.purge(detached.clone()).await.unwrap();
    assert!(!ns.is_detached("tag-2").await.unwrap());
    ns.purge(detached.clone()).await.unwrap();
    assert_eq!(
        status("restoring what was purged", ns.restore(detached).await),
        StatusCode::NOT_FOUND
    );
    assert!(!exists(ns, "/c").await && !exists(ns, "/c/d/f").await);
    neighbours_untouched(ns).await;
    assert_eq!(names(ns, "/").await, ["c b", "c-d", "c.txt", "cd"]);

    assert!(
        ns.detach(&path("/"), "tag-3").await.is_err(),
        "the root stays"
    );
    assert_eq!(
        status(
            "detaching nothing",
            ns.detach(&path("/missing"), "tag-4").await
        ),
        StatusCode::NOT_FOUND
    );
    assert!(!ns.is_detached("tag-4").await.unwrap());
}

pub async fn a_restore_replaces_what_is_there_now(ns: &dyn NamespaceManager) {
    put(ns, "/r", "one").await;
    let detached = ns.detach(&path("/r"), "tag-r").await.unwrap();
    put(ns, "/r", "two").await;
    ns.restore(detached).await.unwrap();
    assert_eq!(read(ns, "/r").await, b"one");
    assert_eq!(names(ns, "/").await, ["r"]);
}

pub async fn a_replaced_content_can_be_kept_under_the_executive_s_tag(ns: &dyn NamespaceManager) {
    put(ns, "/t", "old").await;
    let mut staged = ns.stage(&path("/t"), body("new")).await.unwrap();
    staged.backup_tag = Some("backup-1".to_owned());
    let receipt = ns.publish(staged).await.unwrap();
    assert_eq!(read(ns, "/t").await, b"new");
    let previous = receipt.previous.expect("the replaced content is kept");
    // A store whose detached content survives a crash keeps it under the tag the journal
    // wrote down; one that keeps nothing across restarts may name it itself.
    if previous.handle == "backup-1" {
        assert!(ns.is_detached("backup-1").await.unwrap());
    }
    ns.restore(previous).await.unwrap();
    assert_eq!(read(ns, "/t").await, b"old");
    assert!(!ns.is_detached("backup-1").await.unwrap());
}

pub async fn leftovers_are_discarded_when_asked_and_live_content_stays(ns: &dyn NamespaceManager) {
    mkcol(ns, "/c").await;
    put(ns, "/c/kept", "kept").await;
    put(ns, "/gone", "gone").await;
    let detached = ns.detach(&path("/gone"), "left-1").await.unwrap();
    let _staged = ns
        .stage(&path("/c/upload"), body("never published"))
        .await
        .unwrap();
    put(ns, "/replaced", "old").await;
    let _receipt = ns
        .write(&path("/replaced"), body("new"), WriteMode::Replace)
        .await
        .unwrap();
    ns.discard_leftovers().await.unwrap();
    assert!(!ns.is_detached("left-1").await.unwrap());
    assert_eq!(
        status("restoring a discarded leftover", ns.restore(detached).await),
        StatusCode::NOT_FOUND
    );
    assert_eq!(names(ns, "/").await, ["c", "replaced"]);
    assert_eq!(names(ns, "/c").await, ["kept"]);
    assert_eq!(read(ns, "/c/kept").await, b"kept");
    assert_eq!(read(ns, "/replaced").await, b"new");
    // The store works on afterwards.
    put(ns, "/after", "after").await;
    assert_eq!(read(ns, "/after").await, b"after");
}

pub async fn flush_and_sync_are_barriers_that_succeed(ns: &dyn NamespaceManager) {
    mkcol(ns, "/c").await;
    put(ns, "/c/f", "f").await;
    ns.flush().await.unwrap();
    ns.sync(&path("/c")).await.unwrap();
    ns.sync(&path("/c/f")).await.unwrap();
    assert_eq!(read(ns, "/c/f").await, b"f");
}

pub async fn a_rename_moves_a_whole_subtree(ns: &dyn NamespaceManager) {
    mkcol(ns, "/c").await;
    mkcol(ns, "/c/s").await;
    put(ns, "/c/x", "x").await;
    put(ns, "/c/s/y", "y").await;
    neighbours(ns).await;
    mkcol(ns, "/to").await;

    ns.rename(&path("/c"), &path("/to/c2")).await.unwrap();
    assert!(!exists(ns, "/c").await && !exists(ns, "/c/s/y").await);
    assert_eq!(read(ns, "/to/c2/x").await, b"x");
    assert_eq!(read(ns, "/to/c2/s/y").await, b"y");
    assert_eq!(names(ns, "/to/c2").await, ["s", "x"]);
    neighbours_untouched(ns).await;

    ns.rename(&path("/c.txt"), &path("/to/c.txt"))
        .await
        .unwrap();
    assert_eq!(read(ns, "/to/c.txt").await, b"/c.txt");
    assert_eq!(
        status(
            "renaming without a parent",
            ns.rename(&path("/cd"), &path("/missing/cd")).await
        ),
        StatusCode::CONFLICT
    );
    assert_eq!(
        read(ns, "/cd").await,
        b"/cd",
        "a refused rename moves nothing"
    );
    assert_eq!(
        status(
            "renaming nothing",
            ns.rename(&path("/missing"), &path("/elsewhere")).await
        ),
        StatusCode::NOT_FOUND
    );
}

pub async fn a_copy_has_its_own_content(ns: &dyn NamespaceManager) {
    put(ns, "/s", "one").await;
    mkcol(ns, "/c").await;
    ns.copy_file(&path("/s"), &path("/c/t")).await.unwrap();
    assert_eq!(read(ns, "/c/t").await, b"one");
    put(ns, "/s", "two").await;
    assert_eq!(read(ns, "/c/t").await, b"one", "the copy is independent");
    let big = patterned(200_000);
    put(ns, "/big", big.clone()).await;
    ns.copy_file(&path("/big"), &path("/big2")).await.unwrap();
    assert_eq!(read(ns, "/big2").await, big);
    assert_eq!(
        status(
            "copying nothing",
            ns.copy_file(&path("/missing"), &path("/t")).await
        ),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(
            "copying without a parent",
            ns.copy_file(&path("/s"), &path("/missing/t")).await
        ),
        StatusCode::CONFLICT
    );
}

pub async fn segments_are_written_in_place(ns: &dyn NamespaceManager) {
    let segment = |offset, total| WriteMode::Segment { offset, total };
    let first = ns
        .write(&path("/s"), body("world"), segment(5, Some(10)))
        .await
        .unwrap();
    assert!(first.created && first.previous.is_none());
    let second = ns
        .write(&path("/s"), body("hello"), segment(0, Some(10)))
        .await
        .unwrap();
    assert!(!second.created && second.previous.is_none());
    assert_eq!(second.meta.len, 10);
    assert_eq!(read(ns, "/s").await, b"helloworld");
    // A smaller total cuts the content there.
    ns.write(&path("/s"), body("HEL"), segment(0, Some(3)))
        .await
        .unwrap();
    assert_eq!(read(ns, "/s").await, b"HEL");
    // Without a total, a segment past the end extends the content.
    ns.write(&path("/s"), body("LO"), segment(3, None))
        .await
        .unwrap();
    assert_eq!(read(ns, "/s").await, b"HELLO");
}

pub async fn entity_tags_follow_the_content(ns: &dyn NamespaceManager) {
    let first = ns
        .write(&path("/e"), body("a"), WriteMode::Replace)
        .await
        .unwrap();
    let stat = ns.stat(&path("/e")).await.unwrap().unwrap();
    assert_eq!(
        stat.etag, first.meta.etag,
        "the receipt describes what was stored"
    );
    let opened = ns.open(&path("/e")).await.unwrap();
    assert_eq!(
        opened.meta.etag, stat.etag,
        "open describes the same content"
    );
    let second = ns
        .write(&path("/e"), body("b"), WriteMode::Replace)
        .await
        .unwrap();
    assert_ne!(second.meta.etag, first.meta.etag, "new content, new tag");
    assert_eq!(
        ns.stat(&path("/e")).await.unwrap().unwrap().etag,
        second.meta.etag
    );
}

pub async fn names_keep_their_spelling(ns: &dyn NamespaceManager) {
    for name in ["/é t.txt", "/日本語", "/%41", "/a+b", "/emoji \u{1f600}"] {
        put(ns, name, name).await;
        assert_eq!(read(ns, name).await, name.as_bytes());
        let spelt = ns.stored_spelling(&path(name)).await.unwrap();
        assert_eq!(spelt, path(name), "stored as asked");
    }
    assert_eq!(
        names(ns, "/").await,
        ["%41", "a+b", "emoji \u{1f600}", "é t.txt", "日本語"]
    );
}

/// A backslash is an ordinary character of a name (rclone and Linux users store
/// `back\slash.txt`): one resource in the collection it is put in, listed under its name, and
/// renamed, copied and removed like any other. A store whose host reads `\` as a separator
/// (the fs kind off Unix) may instead refuse such names with 400, creating nothing.
pub async fn a_backslash_is_an_ordinary_character(ns: &dyn NamespaceManager) {
    mkcol(ns, "/d").await;
    let first = ns
        .write(&path("/d/back\\slash.txt"), body("b"), WriteMode::Replace)
        .await;
    if let Err(e) = first {
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "refused, with a reason");
        assert!(names(ns, "/d").await.is_empty(), "and nothing created");
        return;
    }
    assert_eq!(read(ns, "/d/back\\slash.txt").await, b"b");
    assert!(!exists(ns, "/d/back").await, "not a member of a `back`");
    mkcol(ns, "/d/..\\..").await;
    put(ns, "/d/..\\../x\\y", "inner").await;
    assert_eq!(names(ns, "/d").await, ["..\\..", "back\\slash.txt"]);
    assert_eq!(names(ns, "/d/..\\..").await, ["x\\y"]);
    assert_eq!(names(ns, "/").await, ["d"], "nothing climbed out");

    ns.copy_file(&path("/d/back\\slash.txt"), &path("/d/copy\\of"))
        .await
        .unwrap();
    ns.rename(&path("/d/..\\.."), &path("/moved\\dir"))
        .await
        .unwrap();
    assert_eq!(read(ns, "/moved\\dir/x\\y").await, b"inner");
    assert_eq!(read(ns, "/d/copy\\of").await, b"b");
    let detached = ns
        .detach(&path("/d/back\\slash.txt"), "tag-b")
        .await
        .unwrap();
    ns.purge(detached).await.unwrap();
    assert_eq!(names(ns, "/d").await, ["copy\\of"]);
    assert_eq!(names(ns, "/").await, ["d", "moved\\dir"]);
}

/// A client's own modification time (`X-OC-Mtime`, `Win32LastModifiedTime`) is kept on files
/// and collections, to the second at least; the entity tag changes with it, the content does
/// not; the previous time comes back for undo.
pub async fn a_modification_time_can_be_set(ns: &dyn NamespaceManager) {
    use std::time::{Duration, UNIX_EPOCH};
    let at = UNIX_EPOCH + Duration::new(1_234_567_890, 500_000_000);
    let seconds = |t: std::time::SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    put(ns, "/f", "content").await;
    mkcol(ns, "/c").await;
    for target in ["/f", "/c"] {
        let before = ns.stat(&path(target)).await.unwrap().unwrap();
        let previous = ns.set_modified(&path(target), at).await.unwrap();
        assert_eq!(seconds(previous), seconds(before.modified), "{target}");
        let after = ns.stat(&path(target)).await.unwrap().unwrap();
        assert_eq!(seconds(after.modified), 1_234_567_890, "{target}");
        assert_ne!(after.etag, before.etag, "{target}: the entity tag follows");
        ns.set_modified(&path(target), previous).await.unwrap();
        let undone = ns.stat(&path(target)).await.unwrap().unwrap();
        assert_eq!(
            seconds(undone.modified),
            seconds(before.modified),
            "{target}"
        );
    }
    ns.set_modified(&path("/f"), at).await.unwrap();
    assert_eq!(read(ns, "/f").await, b"content");
    let listed = members(ns, "/").await;
    let f = listed.iter().find(|m| m.name == "f").unwrap();
    assert_eq!(seconds(f.meta.modified), 1_234_567_890, "listings agree");
    assert_eq!(
        status(
            "a missing resource",
            ns.set_modified(&path("/missing"), at).await
        ),
        StatusCode::NOT_FOUND
    );
}
