//! Helpers for tests of subsystems: paths, bodies, reading content and listings back,
//! properties and locks to store.

use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{StreamExt, stream};

use davd_registry::{
    Body, ByteRange, ByteStream, DavPath, LockRecord, LockScope, Member, NamespaceManager,
    PropName, StoredProp, Timeout,
};

/// A path from its decoded spelling: `/a b/c` is the segments `a b` and `c`.
pub fn path(decoded: &str) -> DavPath {
    DavPath::from_segments(decoded.split('/').filter(|s| !s.is_empty()))
        .unwrap_or_else(|e| panic!("{decoded:?} is not a path: {e}"))
}

/// A body delivered in uneven pieces, so that stores meet chunk boundaries they did not
/// choose.
pub fn body(data: impl Into<Vec<u8>>) -> ByteStream {
    let data: Vec<u8> = data.into();
    let pieces: Vec<std::io::Result<Bytes>> = data
        .chunks(10_007)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(pieces).boxed()
}

/// A body that delivers `data` and then fails, as when a client goes away mid-upload.
pub fn broken_body(data: &'static [u8]) -> ByteStream {
    stream::iter(vec![
        Ok(Bytes::from_static(data)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ])
    .boxed()
}

/// `len` bytes of a pattern that repeats with a period no store's chunk size divides.
pub fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Collects a body.
pub async fn collect(body: Body) -> Vec<u8> {
    match body {
        Body::Empty => vec![],
        Body::Full(b) => b.to_vec(),
        Body::Stream(mut s) => {
            let mut out = vec![];
            while let Some(chunk) = s.next().await {
                out.extend_from_slice(&chunk.expect("the content reads to its end"));
            }
            out
        }
    }
}

/// The content at `at`, or the range of it.
pub async fn read_range(ns: &dyn NamespaceManager, at: &str, range: Option<ByteRange>) -> Vec<u8> {
    let opened = ns
        .open(&path(at))
        .await
        .unwrap_or_else(|e| panic!("open {at}: {e}"));
    collect(
        opened
            .content
            .read(range)
            .await
            .unwrap_or_else(|e| panic!("read {at}: {e}")),
    )
    .await
}

/// The whole content at `at`.
pub async fn read(ns: &dyn NamespaceManager, at: &str) -> Vec<u8> {
    read_range(ns, at, None).await
}

/// Every member of the collection at `at`, all batches, in the order listed.
pub async fn members(ns: &dyn NamespaceManager, at: &str) -> Vec<Member> {
    let mut out = vec![];
    let mut batches = ns
        .list(&path(at))
        .await
        .unwrap_or_else(|e| panic!("list {at}: {e}"));
    while let Some(batch) = batches.next().await {
        out.extend(batch.unwrap_or_else(|e| panic!("list {at}: {e}")));
    }
    out
}

/// The member names of the collection at `at`, sorted.
pub async fn names(ns: &dyn NamespaceManager, at: &str) -> Vec<String> {
    let mut out: Vec<String> = members(ns, at).await.into_iter().map(|m| m.name).collect();
    out.sort();
    out
}

/// True if something is at `at`.
pub async fn exists(ns: &dyn NamespaceManager, at: &str) -> bool {
    ns.stat(&path(at))
        .await
        .unwrap_or_else(|e| panic!("stat {at}: {e}"))
        .is_some()
}

/// Writes `data` to `at`, replacing what is there.
pub async fn put(ns: &dyn NamespaceManager, at: &str, data: impl Into<Vec<u8>>) {
    ns.write(&path(at), body(data), davd_registry::WriteMode::Replace)
        .await
        .unwrap_or_else(|e| panic!("write {at}: {e}"));
}

/// Creates the collection at `at`.
pub async fn mkcol(ns: &dyn NamespaceManager, at: &str) {
    ns.create_collection(&path(at))
        .await
        .unwrap_or_else(|e| panic!("create {at}: {e}"));
}

/// A dead property `{urn:t}local` whose value is `text`.
pub fn prop(local: &str, text: &str) -> StoredProp {
    StoredProp {
        name: PropName::copied("urn:t", local),
        xml: format!("<{local} xmlns=\"urn:t\">{text}</{local}>"),
    }
}

/// An exclusive lock `token` on `root`, deep or not, ending at `expires` (`None`: never).
pub fn lock(token: &str, root: &str, deep: bool, expires: Option<SystemTime>) -> LockRecord {
    LockRecord {
        token: token.to_owned(),
        root: path(root),
        scope: LockScope::Exclusive,
        deep,
        owner: None,
        principal: None,
        timeout: expires.map_or(Timeout::Infinite, |_| Timeout::Seconds(3600)),
        expires,
    }
}

/// Tokens of `locks`, sorted.
pub fn tokens(locks: &[LockRecord]) -> Vec<&str> {
    let mut out: Vec<&str> = locks.iter().map(|l| l.token.as_str()).collect();
    out.sort_unstable();
    out
}
