//! Handed-over turns (`chain.rs`): where they run, in what order, and that a turn which waits
//! or panics holds up no other.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Claim, LatchTable};
use davd_protocol::DavPath;

fn shallow(path: &str) -> Claim {
    Claim::shallow(&DavPath::parse_url_path(path).unwrap().0)
}

fn deep(path: &str) -> Claim {
    Claim::deep(&DavPath::parse_url_path(path).unwrap().0)
}

/// A runtime like a connection thread's.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Polls `future` once; true if it finished.
async fn ready_now<F: Future + Unpin>(future: &mut F) -> bool {
    tokio::select! {
        biased;
        _ = future => true,
        () = std::future::ready(()) => false,
    }
}

type Turn<T> = Pin<Box<dyn Future<Output = Option<T>> + Send>>;

/// Hands `turn` to `table` for `claim` and checks that it has to wait.
async fn queued<T, F, Fut>(table: &LatchTable, claim: Claim, turn: F) -> Turn<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let table = table.clone();
    let mut waiting: Turn<T> = Box::pin(async move {
        table
            .run(vec![claim], |guard| async move {
                let answer = turn().await;
                drop(guard);
                answer
            })
            .await
    });
    assert!(!ready_now(&mut waiting).await, "granted at once");
    waiting
}

#[tokio::test]
async fn a_free_latch_runs_the_turn_in_the_callers_task() {
    let table = LatchTable::new();
    let caller = table.clone();
    let (caller, ran) = tokio::spawn(async move {
        let ran = caller
            .run(vec![shallow("/a")], |guard| async move {
                assert_eq!(guard.table.lock().unwrap().held.len(), 1);
                tokio::task::try_id()
            })
            .await;
        (tokio::task::try_id(), ran)
    })
    .await
    .unwrap();
    assert!(caller.is_some());
    assert_eq!(ran, Some(caller));
    assert_eq!(table.held(), 0);
}

#[test]
fn a_waiting_turn_runs_on_the_thread_that_lets_the_latch_go() {
    let table = LatchTable::new();
    let holder = runtime();
    let guard = holder.block_on(table.acquire(vec![shallow("/a")]));
    let (queued_tx, queued_rx) = std::sync::mpsc::channel();
    let (answered_tx, answered_rx) = oneshot::channel::<Option<ThreadId>>();
    let waiting_table = table.clone();
    let waiter = thread::spawn(move || {
        runtime().block_on(async move {
            let turn = queued(&waiting_table, shallow("/a"), || async {
                thread::current().id()
            });
            let turn = turn.await;
            queued_tx.send(thread::current().id()).unwrap();
            answered_tx.send(turn.await).unwrap();
        });
    });
    let waiter_thread = queued_rx.recv().unwrap();
    // This thread lets the latch go and keeps its runtime running until the waiter has its
    // answer: the turn runs here, not on the waiter's thread.
    let ran = holder.block_on(async move {
        drop(guard);
        tokio::time::timeout(Duration::from_secs(10), answered_rx)
            .await
            .expect("the turn never ran")
            .unwrap()
    });
    waiter.join().unwrap();
    assert_eq!(ran, Some(thread::current().id()));
    assert_ne!(ran, Some(waiter_thread));
    assert_eq!((table.held(), table.waiting()), (0, 0));
}

#[tokio::test]
async fn turns_queued_on_one_path_run_in_arrival_order() {
    let table = LatchTable::new();
    let order = Arc::new(Mutex::new(Vec::new()));
    let holder = table.acquire(vec![shallow("/a")]).await;
    let mut turns = Vec::new();
    for n in 0..5 {
        let order = order.clone();
        let turn = queued(&table, shallow("/a"), move || async move {
            order.lock().unwrap().push(n);
            n
        });
        turns.push(tokio::spawn(turn.await));
    }
    assert_eq!(table.waiting(), 5);
    drop(holder);
    for (n, turn) in turns.into_iter().enumerate() {
        assert_eq!(turn.await.unwrap(), Some(n));
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!((table.held(), table.waiting()), (0, 0));
}

/// The first turn holds the whole tree; when it ends it grants two turns at once into its
/// chain. The first of them waits for the second: were the chain to wait for it before
/// running the second, neither would ever end.
#[tokio::test]
async fn a_turn_that_waits_does_not_hold_up_the_turns_granted_behind_it() {
    let table = LatchTable::new();
    let holder = table.acquire(vec![shallow("/")]).await;
    let tree = queued(&table, deep("/"), || async { "tree" }).await;
    let (go, gone) = oneshot::channel::<()>();
    let waits = queued(&table, shallow("/x"), || async move {
        gone.await.unwrap();
        "x"
    })
    .await;
    let frees = queued(&table, shallow("/y"), || async move {
        go.send(()).unwrap();
        "y"
    })
    .await;
    let (tree, waits, frees) = (tokio::spawn(tree), tokio::spawn(waits), tokio::spawn(frees));
    drop(holder);
    let all = tokio::time::timeout(Duration::from_secs(10), async {
        (
            tree.await.unwrap(),
            waits.await.unwrap(),
            frees.await.unwrap(),
        )
    })
    .await
    .expect("a waiting turn held up the one behind it");
    assert_eq!(all, (Some("tree"), Some("x"), Some("y")));
    assert_eq!((table.held(), table.waiting()), (0, 0));
}

/// Two turns granted into one chain at once; the first panics, and the second still runs.
#[tokio::test]
async fn a_turn_that_panics_fails_alone() {
    let table = LatchTable::new();
    let holder = table.acquire(vec![shallow("/")]).await;
    let tree = queued(&table, deep("/"), || async { 0 }).await;
    let panics = queued(&table, shallow("/x"), || async {
        if true {
            panic!("a bug in one turn");
        }
        1
    })
    .await;
    let next = queued(&table, shallow("/y"), || async { 2 }).await;
    let (tree, panics, next) = (tokio::spawn(tree), tokio::spawn(panics), tokio::spawn(next));
    drop(holder);
    assert_eq!(tree.await.unwrap(), Some(0));
    assert_eq!(panics.await.unwrap(), None);
    assert_eq!(next.await.unwrap(), Some(2));
    assert_eq!((table.held(), table.waiting()), (0, 0));
}

/// A path under a steady stream of PUTs: its chain never runs dry. It must still let its
/// thread read its connections every few turns, not only when the runtime's own count of
/// tasks polled comes round (every 61: with 16 turns a poll, hundreds of turns).
#[tokio::test]
async fn a_chain_that_never_runs_dry_lets_its_thread_read_its_sockets() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const TURNS: usize = 200;
    let table = LatchTable::new();
    let holder = table.acquire(vec![shallow("/a")]).await;
    let ran = Arc::new(AtomicUsize::new(0));
    let mut turns = Vec::new();
    for _ in 0..TURNS {
        let ran = ran.clone();
        turns.push(
            queued(&table, shallow("/a"), move || async move {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .await,
        );
    }
    let receiver = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = receiver.local_addr().unwrap();
    let reader = tokio::spawn({
        let ran = ran.clone();
        async move {
            let mut buffer = [0u8; 8];
            receiver.recv(&mut buffer).await.unwrap();
            ran.load(Ordering::SeqCst)
        }
    });
    // The reader waits on its socket before the datagram is there.
    tokio::task::yield_now().await;
    let sender = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sender.send_to(b"ping", address).await.unwrap();
    drop(holder);
    let turns_before_reading = reader.await.unwrap();
    for turn in turns {
        assert_eq!(turn.await, Some(()));
    }
    assert_eq!(ran.load(Ordering::SeqCst), TURNS);
    // Read while the chain still had turns to run (waking itself, it ran all of them first).
    assert!(
        turns_before_reading < TURNS,
        "the socket was read only after all {turns_before_reading} turns"
    );
}
