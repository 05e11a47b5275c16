//! Where a PUT's work runs when its turn was handed over (`put.rs`, ADR 0025): under the latch
//! on the thread that let the path go, and its answer, with the close of the content it
//! replaced, back in the request's own task.

use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::sync::oneshot;

use davd_protocol::{ByteStream, DavPath, RequestHead};
use davd_registry::{
    MemberStream, Mount, NamespaceManager, Opened, Registry, Replaced, ResourceMeta,
    SubsystemResult, WriteMode, WriteReceipt,
};
use davd_subsystems::live::standard_handlers;
use davd_subsystems::memory::{MemoryLocks, MemoryNamespace, MemoryProperties};

use crate::latch::Claim;
use crate::{Executive, ExecutiveConfig, Identity};

/// Writes down the thread it is dropped on: what a store's replaced content is, to a test.
struct DropProbe(Arc<Mutex<Option<ThreadId>>>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(thread::current().id());
    }
}

/// A memory namespace whose every write hands back replaced content: a probe. It implements
/// what a PUT of a new file reaches; the trait's defaults answer the rest (403).
struct Probed {
    inner: MemoryNamespace,
    dropped_on: Arc<Mutex<Option<ThreadId>>>,
}

#[async_trait]
impl NamespaceManager for Probed {
    fn kind(&self) -> &'static str {
        "probed"
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
        let mut receipt = self.inner.write(p, b, m).await?;
        receipt.replaced = Some(Replaced::new(DropProbe(self.dropped_on.clone())));
        Ok(receipt)
    }
}

fn executive(namespace: Probed) -> Arc<Executive> {
    let root = Mount {
        namespace: Some(Arc::new(namespace)),
        properties: Some(Arc::new(MemoryProperties::new())),
        locks: Some(Arc::new(MemoryLocks::new())),
        live: standard_handlers(),
        access: None,
    };
    let registry = Registry::new(vec![(DavPath::root(), root)]).unwrap();
    Executive::new(
        Arc::new(registry),
        ExecutiveConfig::default(),
        Arc::new(davd_subsystems::journal::MemoryJournal::new()),
    )
}

/// A runtime like a connection thread's.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn put(exec: &Arc<Executive>, path: &'static str) -> StatusCode {
    let mut map = HeaderMap::new();
    map.insert("host", HeaderValue::from_static("localhost"));
    map.insert("content-length", HeaderValue::from(7));
    let head = RequestHead {
        method: "PUT",
        path,
        headers: &map,
        default_port: 80,
        body_may_exist: true,
    };
    let body = stream::once(async { Ok(Bytes::from_static(b"content")) }).boxed();
    exec.handle(head, Identity::default(), body).await.status
}

#[test]
fn a_handed_over_put_closes_what_it_replaced_in_its_own_task() {
    let dropped_on = Arc::new(Mutex::new(None));
    let exec = executive(Probed {
        inner: MemoryNamespace::new(),
        dropped_on: dropped_on.clone(),
    });
    let path = DavPath::parse_url_path("/doc").unwrap().0;
    let holder = runtime();
    let guard = holder.block_on(exec.latches.acquire(vec![Claim::shallow(&path)]));

    let (queued_tx, queued_rx) = std::sync::mpsc::channel();
    let (answered_tx, answered_rx) = oneshot::channel();
    let waiting_exec = exec.clone();
    let waiter = thread::spawn(move || {
        runtime().block_on(async move {
            let request = tokio::spawn(async move { put(&waiting_exec, "/doc").await });
            // The PUT receives its body and hands its turn over to the latch's holder.
            while exec.latches.waiting() == 0 {
                tokio::task::yield_now().await;
            }
            queued_tx.send(thread::current().id()).unwrap();
            answered_tx.send(request.await.unwrap()).unwrap();
        });
    });
    let waiter_thread = queued_rx.recv().unwrap();
    // The turn runs here, where the latch is let go; the answer is made on the waiter's
    // thread, and with it the replaced content goes.
    let status = holder.block_on(async move {
        drop(guard);
        tokio::time::timeout(Duration::from_secs(10), answered_rx)
            .await
            .expect("the PUT never ended")
            .unwrap()
    });
    waiter.join().unwrap();
    assert_eq!(status, StatusCode::CREATED);
    let dropped_on = dropped_on.lock().unwrap().expect("nothing was replaced");
    assert_eq!(dropped_on, waiter_thread);
    assert_ne!(dropped_on, thread::current().id());
}
