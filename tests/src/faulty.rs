//! Stores that work like the ones they wrap but fail on command, as a full disk would: for
//! tests of what the executive does when a store fails part way. The namespace also writes
//! down the calls whose order matters for crash safety (`sync`, `detach`), so that a test
//! can check it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use davd_protocol::{ByteStream, DavPath, PropName};
use davd_registry::{
    Detached, MemberStream, NamespaceManager, Opened, PropertyManager, PropsByPath, ResourceMeta,
    StatusCode, StoredProp, SubsystemError, SubsystemResult, WriteMode, WriteReceipt,
};
use davd_subsystems::memory::MemoryProperties;

/// What [`Faulty`] is told to fail. The switches can be flipped while the server runs.
#[derive(Default, Clone)]
pub struct Faults {
    /// Fail writes of any path containing "poison".
    pub poison: bool,
    /// Fail every detach.
    pub detach: Arc<AtomicBool>,
    /// Fail every restore of a detached resource (an undo that cannot be done).
    pub restore: Arc<AtomicBool>,
    /// Where `sync` and `detach` calls are written down, as "NAME: sync PATH" (several
    /// namespaces may share one list, to show the order across them).
    pub calls: Arc<Mutex<Vec<String>>>,
    /// The name this namespace's calls carry in `calls`.
    pub name: &'static str,
}

impl Faults {
    fn record(&self, call: &str, path: &DavPath) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(format!("{}: {call} {path}", self.name));
        }
    }
}

/// The wrapped namespace, failing as [`Faults`] says.
pub struct Faulty {
    pub inner: Arc<dyn NamespaceManager>,
    pub faults: Faults,
}

impl Faulty {
    pub fn new(inner: impl NamespaceManager + 'static, faults: Faults) -> Self {
        Faulty {
            inner: Arc::new(inner),
            faults,
        }
    }
}

fn injected() -> SubsystemError {
    SubsystemError::new(StatusCode::INSUFFICIENT_STORAGE, "injected")
}

#[async_trait]
impl NamespaceManager for Faulty {
    fn kind(&self) -> &'static str {
        "faulty"
    }
    async fn stat(&self, p: &DavPath) -> SubsystemResult<Option<ResourceMeta>> {
        self.inner.stat(p).await
    }
    async fn list(&self, p: &DavPath) -> SubsystemResult<MemberStream> {
        self.inner.list(p).await
    }
    async fn open(&self, p: &DavPath) -> SubsystemResult<Opened> {
        self.inner.open(p).await
    }
    async fn write(
        &self,
        p: &DavPath,
        b: ByteStream,
        m: WriteMode,
    ) -> SubsystemResult<WriteReceipt> {
        if self.faults.poison && p.as_str().contains("poison") {
            return Err(injected());
        }
        self.inner.write(p, b, m).await
    }
    async fn create_collection(&self, p: &DavPath) -> SubsystemResult<()> {
        self.inner.create_collection(p).await
    }
    async fn detach(&self, p: &DavPath, tag: &str) -> SubsystemResult<Detached> {
        self.faults.record("detach", p);
        if self.faults.detach.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.detach(p, tag).await
    }
    async fn restore(&self, d: Detached) -> SubsystemResult<()> {
        if self.faults.restore.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.restore(d).await
    }
    async fn is_detached(&self, handle: &str) -> SubsystemResult<bool> {
        self.inner.is_detached(handle).await
    }
    async fn purge(&self, d: Detached) -> SubsystemResult<()> {
        self.inner.purge(d).await
    }
    async fn copy_file(&self, a: &DavPath, b: &DavPath) -> SubsystemResult<()> {
        self.inner.copy_file(a, b).await
    }
    async fn rename(&self, a: &DavPath, b: &DavPath) -> SubsystemResult<()> {
        self.inner.rename(a, b).await
    }
    async fn flush(&self) -> SubsystemResult<()> {
        self.inner.flush().await
    }
    async fn sync(&self, p: &DavPath) -> SubsystemResult<()> {
        self.faults.record("sync", p);
        self.inner.sync(p).await
    }
}

/// A property manager that works until told to fail its durability flush: the last command
/// of every queue that touches properties.
pub struct FailingFlush {
    inner: MemoryProperties,
    fail: Arc<AtomicBool>,
}

impl FailingFlush {
    /// In-memory properties whose flush fails while `fail` is set.
    pub fn new(fail: Arc<AtomicBool>) -> Self {
        FailingFlush {
            inner: MemoryProperties::new(),
            fail,
        }
    }
}

#[async_trait]
impl PropertyManager for FailingFlush {
    fn kind(&self) -> &'static str {
        "failing"
    }
    async fn get(&self, path: &DavPath, name: &PropName) -> SubsystemResult<Option<StoredProp>> {
        self.inner.get(path, name).await
    }
    async fn get_all(&self, path: &DavPath) -> SubsystemResult<Vec<StoredProp>> {
        self.inner.get_all(path).await
    }
    async fn get_children(
        &self,
        parent: &DavPath,
        limit: usize,
    ) -> SubsystemResult<Option<HashMap<String, Vec<StoredProp>>>> {
        self.inner.get_children(parent, limit).await
    }
    async fn get_members(
        &self,
        parent: &DavPath,
        names: &[&str],
    ) -> SubsystemResult<HashMap<String, Vec<StoredProp>>> {
        self.inner.get_members(parent, names).await
    }
    async fn set(&self, path: &DavPath, prop: StoredProp) -> SubsystemResult<Option<StoredProp>> {
        self.inner.set(path, prop).await
    }
    async fn remove(&self, path: &DavPath, name: &PropName) -> SubsystemResult<Option<StoredProp>> {
        self.inner.remove(path, name).await
    }
    async fn get_tree(&self, path: &DavPath) -> SubsystemResult<PropsByPath> {
        self.inner.get_tree(path).await
    }
    async fn remove_tree(&self, path: &DavPath) -> SubsystemResult<PropsByPath> {
        self.inner.remove_tree(path).await
    }
    async fn put_many(&self, props: PropsByPath) -> SubsystemResult<()> {
        self.inner.put_many(props).await
    }
    async fn move_tree(&self, from: &DavPath, to: &DavPath) -> SubsystemResult<()> {
        self.inner.move_tree(from, to).await
    }
    async fn flush(&self) -> SubsystemResult<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(SubsystemError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "injected: disk full",
            ));
        }
        Ok(())
    }
}
