use std::os::unix::fs::symlink;

use futures_util::{StreamExt, stream};

use davd_registry::{Body, ByteStream, DavPath, NamespaceManager, WriteMode};

use super::{FsNamespace, FsOptions, STAGING};

fn p(s: &str) -> DavPath {
    DavPath::parse_url_path(s).unwrap().0
}

fn body(bytes: &'static [u8]) -> ByteStream {
    stream::once(async move { Ok(bytes::Bytes::from_static(bytes)) }).boxed()
}

async fn read(ns: &FsNamespace, path: &str) -> Vec<u8> {
    let opened = ns.open(&p(path)).await.unwrap();
    match opened.content.read(None).await.unwrap() {
        Body::Full(b) => b.to_vec(),
        Body::Empty => vec![],
        Body::Stream(mut s) => {
            let mut out = vec![];
            while let Some(c) = s.next().await {
                out.extend_from_slice(&c.unwrap());
            }
            out
        }
    }
}

async fn names(ns: &FsNamespace, path: &str) -> Vec<String> {
    let mut out = vec![];
    let mut batches = ns.list(&p(path)).await.unwrap();
    while let Some(batch) = batches.next().await {
        out.extend(batch.unwrap().into_iter().map(|m| m.name));
    }
    out.sort();
    out
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
        ns.write(&p("/dirlink/new"), body(b"x"), WriteMode::Replace)
            .await
            .is_err()
    );
    assert!(!outside.path().join("new").exists());
    // A symlink that stays inside works, and escaping ones are left out of listings.
    assert_eq!(read(&ns, "/good-link").await, b"ok");
    assert_eq!(names(&ns, "/").await, vec!["good-link", "inside"]);
}

#[tokio::test]
async fn replace_keeps_the_old_content_until_commit() {
    let root = tempfile::tempdir().unwrap();
    let ns = FsNamespace::open(root.path(), FsOptions::default()).unwrap();
    let first = ns
        .write(&p("/f"), body(b"old"), WriteMode::Replace)
        .await
        .unwrap();
    assert!(first.created && first.previous.is_none());
    let second = ns
        .write(&p("/f"), body(b"new"), WriteMode::Replace)
        .await
        .unwrap();
    assert!(!second.created);
    assert_eq!(read(&ns, "/f").await, b"new");
    // Undo: the old bytes come back.
    ns.restore(second.previous.unwrap()).await.unwrap();
    assert_eq!(read(&ns, "/f").await, b"old");
    let staged = std::fs::read_dir(root.path().join(STAGING))
        .unwrap()
        .count();
    assert_eq!(staged, 0);
}

#[tokio::test]
async fn detach_restore_and_purge() {
    let root = tempfile::tempdir().unwrap();
    let ns = FsNamespace::open(root.path(), FsOptions::default()).unwrap();
    ns.create_collection(&p("/c")).await.unwrap();
    ns.write(&p("/c/f"), body(b"x"), WriteMode::Replace)
        .await
        .unwrap();
    let detached = ns.detach(&p("/c"), "tag-1").await.unwrap();
    assert_eq!(detached.handle, "tag-1");
    assert!(ns.stat(&p("/c")).await.unwrap().is_none());
    ns.restore(detached).await.unwrap();
    assert_eq!(read(&ns, "/c/f").await, b"x");
    let detached = ns.detach(&p("/c"), "tag-2").await.unwrap();
    ns.purge(detached.clone()).await.unwrap();
    ns.purge(detached.clone()).await.unwrap();
    assert!(
        ns.restore(detached).await.unwrap_err().is_not_found(),
        "nothing left to restore, nothing changed"
    );
    assert_eq!(
        std::fs::read_dir(root.path().join(STAGING))
            .unwrap()
            .count(),
        0
    );
    assert!(ns.detach(&DavPath::root(), "tag-3").await.is_err());
}

#[tokio::test]
async fn failed_upload_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let ns = FsNamespace::open(root.path(), FsOptions::default()).unwrap();
    ns.write(&p("/f"), body(b"kept"), WriteMode::Replace)
        .await
        .unwrap();
    let broken: ByteStream = stream::iter(vec![
        Ok(bytes::Bytes::from_static(b"partial")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ])
    .boxed();
    assert!(
        ns.write(&p("/f"), broken, WriteMode::Replace)
            .await
            .is_err()
    );
    assert_eq!(read(&ns, "/f").await, b"kept");
    assert_eq!(
        std::fs::read_dir(root.path().join(STAGING))
            .unwrap()
            .count(),
        0
    );
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
    assert_eq!(
        std::fs::read_dir(root.path().join(STAGING))
            .unwrap()
            .count(),
        0
    );
    assert!(names(&ns, "/").await.is_empty());
    assert!(ns.stat(&p(&format!("/{STAGING}"))).await.unwrap().is_none());
}

#[tokio::test]
async fn segments_write_in_place() {
    let root = tempfile::tempdir().unwrap();
    let ns = FsNamespace::open(root.path(), FsOptions::default()).unwrap();
    ns.write(
        &p("/f"),
        body(b"world"),
        WriteMode::Segment {
            offset: 5,
            total: Some(10),
        },
    )
    .await
    .unwrap();
    ns.write(
        &p("/f"),
        body(b"hello"),
        WriteMode::Segment {
            offset: 0,
            total: Some(10),
        },
    )
    .await
    .unwrap();
    assert_eq!(read(&ns, "/f").await, b"helloworld");
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
    let nfc = |s: &str| p(&format!("/Ph%C3%B4tos{s}"));
    assert!(ns.stat(&nfc("")).await.unwrap().unwrap().collection);
    assert_eq!(read(&ns, "/Ph%C3%B4tos/%C3%A9t%C3%A9.jpg").await, b"summer");
    assert_eq!(read(&ns, "/Ph%C3%B4tos/na%C3%AFve").await, b"nfc");
    assert_eq!(
        names(&ns, "/Ph%C3%B4tos").await,
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
