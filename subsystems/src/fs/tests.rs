//! What only the file system namespace does: symlinks that must not lead out of the root, its
//! staging directory, names stored in NFD by other programs. The contract every namespace
//! keeps is checked by the conformance suite (`crate::conformance`).
use std::os::unix::fs::symlink;

use davd_registry::{DavPath, NamespaceManager, WriteMode};

use super::{FsNamespace, FsOptions, STAGING};
use crate::conformance::support::{body, broken_body, mkcol, names, path as p, put, read};

fn staged_files(root: &std::path::Path) -> usize {
    super::staged_leftovers(&root.join(STAGING)).unwrap().len()
}

#[tokio::test]
async fn symlinks_out_of_the_root_are_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "secret").unwrap();
    let root = tempfile::tempdir().unwrap();
    let ns = FsNamespace::open(root.path(), FsOptions::default()).unwrap();
    symlink(outside.path().join("secret"), root.path().join("link")).unwrap();
    symlink(outside.path(), root.path().join("dirlink")).unwrap();
    symlink("../../../../../../etc/passwd", root.path().join("relative")).unwrap();
    std::fs::write(root.path().join("inside"), "ok").unwrap();
    symlink("inside", root.path().join("good-link")).unwrap();

    for path in ["/link", "/dirlink/secret", "/relative"] {
        assert!(ns.open(&p(path)).await.is_err(), "{path} escaped the root");
    }
    assert!(
        ns.write(&p("/dirlink/new"), body("x"), WriteMode::Replace)
            .await
            .is_err()
    );
    assert!(!outside.path().join("new").exists());
    // A symlink that stays inside works, and escaping ones are left out of listings.
    assert_eq!(read(&ns, "/good-link").await, b"ok");
    assert_eq!(names(&ns, "/").await, vec!["good-link", "inside"]);
}

/// A write onto a symbolic link replaces the link, never the file it points to, with or
/// without a backup for undo (without one, `fs/landing.rs` hands a link to cap-std).
#[tokio::test]
async fn a_write_onto_a_link_replaces_the_link() {
    let root = tempfile::tempdir().unwrap();
    let ns = FsNamespace::open(root.path(), FsOptions::default()).unwrap();
    std::fs::create_dir(root.path().join("d")).unwrap();
    std::fs::write(root.path().join("d/target"), "target").unwrap();
    symlink("target", root.path().join("d/link")).unwrap();
    symlink("d/target", root.path().join("top-link")).unwrap();
    for (at, keep_previous) in [("/d/link", false), ("/top-link", true)] {
        let mut staged = ns.stage(&p(at), body("new")).await.unwrap();
        staged.keep_previous = keep_previous;
        let receipt = ns.publish(staged).await.unwrap();
        assert!(!receipt.created, "{at}");
        if let Some(previous) = receipt.previous {
            ns.purge(previous).await.unwrap();
        }
        let on_disk = root.path().join(&at[1..]);
        assert!(!on_disk.symlink_metadata().unwrap().is_symlink(), "{at}");
        assert_eq!(std::fs::read(&on_disk).unwrap(), b"new");
    }
    assert_eq!(
        std::fs::read(root.path().join("d/target")).unwrap(),
        b"target"
    );
    // Through a linked parent that stays inside the root, the write lands where it points.
    symlink("d", root.path().join("d-link")).unwrap();
    let mut staged = ns.stage(&p("/d-link/via"), body("via")).await.unwrap();
    staged.keep_previous = false;
    assert!(ns.publish(staged).await.unwrap().created);
    assert_eq!(std::fs::read(root.path().join("d/via")).unwrap(), b"via");
    assert_eq!(staged_files(root.path()), 0);
}

/// Undo, commit and a failed upload each leave the staging directory as they found it.
#[tokio::test]
async fn the_staging_directory_is_left_empty() {
    let root = tempfile::tempdir().unwrap();
    let ns = FsNamespace::open(root.path(), FsOptions::default()).unwrap();
    put(&ns, "/f", "old").await;
    let receipt = ns
        .write(&p("/f"), body("new"), WriteMode::Replace)
        .await
        .unwrap();
    ns.restore(receipt.previous.unwrap()).await.unwrap();
    assert_eq!(staged_files(root.path()), 0, "after undo");

    mkcol(&ns, "/c").await;
    put(&ns, "/c/f", "x").await;
    let detached = ns.detach(&p("/c"), "tag-c").await.unwrap();
    assert_eq!(
        staged_files(root.path()),
        1,
        "the detached tree waits there"
    );
    ns.purge(detached).await.unwrap();
    assert_eq!(staged_files(root.path()), 0, "after commit");

    let failed = ns
        .write(&p("/f"), broken_body(b"partial"), WriteMode::Replace)
        .await;
    assert!(failed.is_err());
    assert_eq!(staged_files(root.path()), 0, "after a failed upload");
}

#[tokio::test]
async fn staging_is_kept_at_open_emptied_after_recovery_and_hidden() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join(STAGING)).unwrap();
    std::fs::write(root.path().join(STAGING).join("put-leftover"), "x").unwrap();
    let ns = FsNamespace::open(root.path(), FsOptions::default()).unwrap();
    assert!(
        root.path().join(STAGING).join("put-leftover").exists(),
        "recovery may still need it"
    );
    ns.discard_leftovers().await.unwrap();
    assert_eq!(staged_files(root.path()), 0);
    assert!(names(&ns, "/").await.is_empty());
    assert!(ns.stat(&p(&format!("/{STAGING}"))).await.unwrap().is_none());
}

#[tokio::test]
async fn nfd_names_on_disk_are_found_under_their_nfc_spelling() {
    let root = tempfile::tempdir().unwrap();
    let ns = FsNamespace::open(root.path(), FsOptions::default()).unwrap();
    std::fs::create_dir(root.path().join("Pho\u{302}tos")).unwrap();
    std::fs::write(
        root.path().join("Pho\u{302}tos/e\u{301}te\u{301}.jpg"),
        "summer",
    )
    .unwrap();
    // Twins: the NFC one is the one found and listed.
    std::fs::write(root.path().join("Pho\u{302}tos/na\u{ef}ve"), "nfc").unwrap();
    std::fs::write(root.path().join("Pho\u{302}tos/nai\u{308}ve"), "nfd").unwrap();
    let url = |s: &str| DavPath::parse_url_path(s).unwrap().0;
    let nfc = |s: &str| url(&format!("/Ph%C3%B4tos{s}"));
    assert!(ns.stat(&nfc("")).await.unwrap().unwrap().collection);
    assert_eq!(read(&ns, "/Ph\u{f4}tos/\u{e9}t\u{e9}.jpg").await, b"summer");
    assert_eq!(read(&ns, "/Ph\u{f4}tos/na\u{ef}ve").await, b"nfc");
    assert_eq!(
        names(&ns, "/Ph\u{f4}tos").await,
        vec!["na\u{ef}ve", "\u{e9}t\u{e9}.jpg"]
    );
    assert_eq!(
        ns.stored_spelling(&nfc("/new")).await.unwrap().as_str(),
        "/Pho\u{302}tos/new"
    );
    assert_eq!(
        ns.stored_spelling(&p("/ascii/only"))
            .await
            .unwrap()
            .as_str(),
        "/ascii/only"
    );
    ns.create_collection(&nfc("/sub")).await.unwrap();
    assert!(root.path().join("Pho\u{302}tos/sub").is_dir());
    ns.rename(&nfc("/%C3%A9t%C3%A9.jpg"), &nfc("/sub/%C3%A9t%C3%A9.jpg"))
        .await
        .unwrap();
    assert!(
        root.path()
            .join("Pho\u{302}tos/sub/\u{e9}t\u{e9}.jpg")
            .is_file()
    );
    // Detached and restored under the spelling it had.
    let detached = ns.detach(&nfc(""), "tag-nfd").await.unwrap();
    assert!(!root.path().join("Pho\u{302}tos").exists());
    ns.restore(detached).await.unwrap();
    assert!(root.path().join("Pho\u{302}tos/sub").is_dir());
}

/// On a Unix host a backslash is an ordinary character of a file name: `back\slash.txt` is one
/// file in the directory it is put in, and a name with one that another program left on disk
/// is listed and served (it used to be hidden).
#[tokio::test]
async fn backslash_names_are_single_files_on_unix() {
    let root = tempfile::tempdir().unwrap();
    let ns = FsNamespace::open(root.path(), FsOptions::default()).unwrap();
    mkcol(&ns, "/d").await;
    put(&ns, "/d/back\\slash.txt", "one file").await;
    assert_eq!(
        std::fs::read(root.path().join("d").join("back\\slash.txt")).unwrap(),
        b"one file"
    );
    assert!(!root.path().join("d").join("back").exists());
    mkcol(&ns, "/d/..\\..").await;
    assert!(root.path().join("d").join("..\\..").is_dir());
    std::fs::write(root.path().join("left\\by\\rsync"), "found").unwrap();
    assert_eq!(names(&ns, "/d").await, ["..\\..", "back\\slash.txt"]);
    assert_eq!(names(&ns, "/").await, ["d", "left\\by\\rsync"]);
    assert_eq!(read(&ns, "/left\\by\\rsync").await, b"found");
}

#[test]
fn relative_paths_are_the_segments_pushed_onto_dot() {
    // `relative` copies the path's text on Unix; it must stay what pushing each segment onto
    // `.` gives, which is what every other place in this module assumes.
    for path in ["/", "/a", "/a/b.txt", "/a%20b/c%5Cd/%C3%A9", "/.hidden/x"] {
        let path = p(path);
        let mut pushed = std::path::PathBuf::from(".");
        for segment in path.segments() {
            pushed.push(segment);
        }
        assert_eq!(super::resolve::relative(&path), Some(pushed), "{path:?}");
    }
    assert_eq!(super::resolve::relative(&p(&format!("/{STAGING}/x"))), None);
}
