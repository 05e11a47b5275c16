//! The connection policy, one for every protocol version, with and without TLS.
//!
//! Every accepted connection is entered in a table and counted against `max_connections`
//! until it closes, and the table knows whether it has a request in progress:
//!
//! - a connection with no request in progress (just accepted, in its TLS handshake, between
//!   keep-alive requests, an HTTP/2 connection with no open stream, or one sending a request
//!   head) is **idle**; after `header_read_timeout` idle it is closed, whatever protocol it
//!   speaks. hyper's own timeout covered only an HTTP/1 head; an HTTP/2 connection, or a TLS
//!   one that never spoke, stayed open forever, and 1,100 of them took every slot;
//! - when every slot is taken, the next connection is accepted and the connection idle the
//!   longest is closed to make room, so silent or idle connections cannot keep new clients
//!   out (2,000 silent connections used to hold everyone else up for about 20 s). Only when
//!   every connection has a request in progress do new ones wait, in the kernel's backlog;
//! - at shutdown every connection is told to finish its requests and close.
//!
//! Closing is graceful (HTTP/2 sends GOAWAY; HTTP/1 closes after the response in progress); a
//! connection that has no request in progress and has not gone [`CLOSE_GRACE`] later is
//! dropped.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::woken::WhenWoken;

/// How long a connection told to close may take to go once it has no request in progress
/// (an HTTP/2 client that never answers the GOAWAY's ping, say).
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The number of connections the process can hold with room to spare: `wanted`, lowered if
/// the limit on open files (`ulimit -n`), less the descriptors the process already holds
/// (stores, runtimes, the listener: about 35), would not leave a quarter
/// of it (at least 32) for the files, listings and database the requests themselves open. A
/// connection accepted at the very limit could otherwise not open the file it asks for (500
/// "Too many open files"). The soft limit is first raised as far as the hard limit allows, as
/// Go does for its servers.
pub fn fit_to_file_limit(wanted: usize) -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let mut files = limit.current;
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            files = limit.maximum;
        }
    }
    let Some(files) = files.and_then(|f| usize::try_from(f).ok()) else {
        return wanted;
    };
    let fits = files
        .saturating_sub(open_descriptors())
        .saturating_sub((files / 4).max(32))
        .max(1);
    if fits < wanted {
        tracing::warn!(
            max_connections = wanted,
            open_files = files,
            serving = fits,
            "max_connections lowered to leave room under the limit on open files (ulimit -n)"
        );
    }
    wanted.min(fits)
}

/// Descriptors the process holds now (0 where `/proc` does not list them).
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |listed| listed.count())
}

/// The table of open connections.
pub struct Connections {
    max: usize,
    idle_limit: Duration,
    table: Mutex<Table>,
    /// Woken whenever a connection leaves the table, or falls idle while someone waits for
    /// room: either may make room.
    room: Notify,
    /// How many wait for room ([`Connections::wait_for_room`]): only then does a connection
    /// falling idle wake them, instead of every request taking the lock of `room`.
    room_wanted: AtomicUsize,
    /// What [`Activity::idle_since`] counts from.
    epoch: Instant,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// Keyed by ids davd hands out itself, so a fast hash serves (SipHash cost each request
    /// about 280 instructions, marking its connection busy and then idle).
    entries: HashMap<u64, Entry, foldhash::fast::RandomState>,
    /// Entries told to close and not gone yet.
    closing: usize,
}

struct Entry {
    activity: Arc<Activity>,
    /// Told to close (to make room, or at shutdown).
    closing: bool,
}

/// What a connection's requests change, kept outside the table so that a request starting and
/// ending takes no lock: the table's lock, taken twice per request by every connection thread,
/// was one of the costs davd adds to a bare hyper server (docs/performance.md).
struct Activity {
    /// Requests in progress.
    busy: AtomicU32,
    /// Since when it has had none (or since it was accepted), in nanoseconds from
    /// [`Connections::epoch`]. Written before `busy` falls to zero, so a reader that sees it
    /// idle sees when it fell idle.
    idle_since: AtomicU64,
    /// [`Tracked::until_closing`] saw the connection busy and waits to hear that it fell
    /// idle; while it sleeps until an idle deadline instead, requests coming and going need
    /// not wake it (the deadline is checked again when it passes).
    watching_for_idle: AtomicBool,
    /// Wakes the connection's [`Tracked::until_closing`]: told to close, or fell idle while
    /// it was watching for that.
    changed: Notify,
}

impl Activity {
    fn is_idle(&self) -> bool {
        self.busy.load(Ordering::SeqCst) == 0
    }
}

/// What the accept loop may do with the connection it holds.
pub enum Admission {
    /// Serve it.
    Admitted(Tracked),
    /// Wait until a connection leaves or falls idle, and ask again.
    Wait,
}

impl Connections {
    pub fn new(max: usize, idle_limit: Duration) -> Arc<Connections> {
        Arc::new(Connections {
            max: max.max(1),
            idle_limit,
            table: Mutex::new(Table::default()),
            room: Notify::new(),
            room_wanted: AtomicUsize::new(0),
            epoch: Instant::now(),
        })
    }

    /// Now, as an [`Activity::idle_since`].
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant an [`Activity::idle_since`] stands for.
    fn instant(&self, since_epoch: u64) -> Instant {
        self.epoch + Duration::from_nanos(since_epoch)
    }

    /// Counts the caller among those waiting for room until the guard is dropped.
    fn wanting_room(&self) -> WantingRoom<'_> {
        self.room_wanted.fetch_add(1, Ordering::SeqCst);
        WantingRoom(&self.room_wanted)
    }

    /// Tells the connection idle the longest to close; false if none is idle.
    fn evict_longest_idle(&self, table: &mut Table) -> bool {
        let longest_idle = table
            .entries
            .values_mut()
            .filter(|e| e.activity.is_idle() && !e.closing)
            .min_by_key(|e| e.activity.idle_since.load(Ordering::SeqCst));
        match longest_idle {
            Some(entry) => {
                entry.closing = true;
                entry.activity.changed.notify_waiters();
                table.closing += 1;
                true
            }
            None => false,
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // A panic while the lock was held leaves counts that are still usable.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enters a connection if there is room. Otherwise, unless a connection already on its way
    /// out will make room, tells the one idle the longest to close; the caller then waits for
    /// a connection to leave and asks again.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let mut table = self.table();
        if table.entries.len() < self.max {
            let id = table.next_id;
            table.next_id += 1;
            let activity = Arc::new(Activity {
                busy: AtomicU32::new(0),
                idle_since: AtomicU64::new(self.now()),
                watching_for_idle: AtomicBool::new(false),
                changed: Notify::new(),
            });
            table.entries.insert(
                id,
                Entry {
                    activity: activity.clone(),
                    closing: false,
                },
            );
            return Admission::Admitted(Tracked {
                id,
                connections: self.clone(),
                activity,
            });
        }
        if table.entries.len() - table.closing >= self.max {
            self.evict_longest_idle(&mut table);
        }
        Admission::Wait
    }

    /// Tells the connection idle the longest to close, unless one is already on its way out:
    /// for when the process has run out of file descriptors before reaching the limit (an
    /// `ulimit -n` below `max_connections`), so that a new client can still get in. Returns
    /// false if no connection is idle.
    pub fn make_room(&self) -> bool {
        let mut table = self.table();
        table.closing > 0 || self.evict_longest_idle(&mut table)
    }

    /// Resolves when a connection leaves or falls idle.
    pub async fn room_changed(&self) {
        let _wanting = self.wanting_room();
        self.room.notified().await;
    }

    /// Admits a connection, making room for it ([`Connections::admit`]) as often as needed.
    pub async fn wait_for_room(self: &Arc<Self>) -> Tracked {
        // Counted before looking: a connection that falls idle after the look wakes the wait.
        let _wanting = self.wanting_room();
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.admit() {
                Admission::Admitted(tracked) => return tracked,
                Admission::Wait => room.await,
            }
        }
    }

    /// Tells every connection to finish its requests and close.
    pub fn close_all(&self) {
        let mut table = self.table();
        let mut newly = 0;
        for entry in table.entries.values_mut() {
            if !entry.closing {
                entry.closing = true;
                newly += 1;
            }
            entry.activity.changed.notify_waiters();
        }
        table.closing += newly;
    }

    /// Resolves when no connection is left.
    pub async fn all_closed(&self) {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.table().entries.is_empty() {
                return;
            }
            room.await;
        }
    }

    /// Open connections (for tests and diagnostics).
    pub fn open(&self) -> usize {
        self.table().entries.len()
    }
}

/// One connection's place in the table; leaving it frees the slot.
pub struct Tracked {
    id: u64,
    connections: Arc<Connections>,
    activity: Arc<Activity>,
}

impl Tracked {
    /// Marks a request in progress until the returned guard is dropped (with the response
    /// body, once it is sent).
    pub fn busy(&self) -> Busy {
        // A connection falling busy never has to close sooner: nobody is woken.
        self.activity.busy.fetch_add(1, Ordering::SeqCst);
        Busy {
            connections: self.connections.clone(),
            activity: self.activity.clone(),
        }
    }

    /// True if the connection has no request in progress.
    pub fn is_idle(&self) -> bool {
        self.activity.is_idle()
    }

    /// Resolves when the connection should close: it was told to (to make room, or at
    /// shutdown), or it has been idle for the idle limit.
    ///
    /// Requests coming and going on a keep-alive connection do not wake it: while idle it
    /// sleeps until the idle deadline it saw, and then looks again (a request since has moved
    /// the deadline on, or holds the connection busy). Only a connection it saw busy is
    /// watched for falling idle. Waking on every change armed a new timer twice per request
    /// (1,800 instructions of a GET, docs/performance.md).
    pub async fn until_closing(&self) {
        let activity = &self.activity;
        loop {
            let changed = activity.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            // Watching before looking: a request that ends in between still wakes this.
            activity.watching_for_idle.store(true, Ordering::SeqCst);
            let deadline = {
                let mut table = self.connections.table();
                let Some(entry) = table.entries.get_mut(&self.id) else {
                    return;
                };
                if entry.closing {
                    return;
                }
                let idle = activity.is_idle();
                let deadline = idle.then(|| {
                    activity.watching_for_idle.store(false, Ordering::SeqCst);
                    let since = activity.idle_since.load(Ordering::SeqCst);
                    self.connections.instant(since) + self.connections.idle_limit
                });
                if deadline.is_some_and(|deadline| deadline <= Instant::now()) {
                    entry.closing = true;
                    table.closing += 1;
                    return;
                }
                deadline
            };
            match deadline {
                Some(deadline) => {
                    tokio::select! {
                        () = &mut changed => {}
                        () = tokio::time::sleep_until(deadline) => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// One caller waiting for room ([`Connections::wanting_room`]).
struct WantingRoom<'a>(&'a AtomicUsize);

impl Drop for WantingRoom<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        {
            let mut table = self.connections.table();
            if let Some(entry) = table.entries.remove(&self.id)
                && entry.closing
            {
                table.closing -= 1;
            }
        }
        self.connections.room.notify_waiters();
    }
}

/// A request in progress on a connection.
pub struct Busy {
    connections: Arc<Connections>,
    activity: Arc<Activity>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.activity;
        // The time first: whoever sees the connection idle must see since when.
        activity
            .idle_since
            .store(self.connections.now(), Ordering::SeqCst);
        if activity.busy.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        if activity.watching_for_idle.swap(false, Ordering::SeqCst) {
            activity.changed.notify_waiters();
        }
        if self.connections.room_wanted.load(Ordering::SeqCst) > 0 {
            self.connections.room.notify_waiters();
        }
    }
}

/// A response body that keeps its request counted as in progress until it is sent (or
/// dropped).
pub struct BusyBody<B> {
    body: B,
    _busy: Busy,
}

impl<B> BusyBody<B> {
    pub fn new(body: B, busy: Busy) -> Self {
        BusyBody { body, _busy: busy }
    }
}

impl<B> Body for BusyBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Drives `connection` until it ends, telling it to close gracefully (`graceful`) when
/// `tracked` says so, and dropping it if it has not gone [`CLOSE_GRACE`] after that while it
/// has no request in progress.
pub async fn drive<C, E>(
    tracked: &Tracked,
    connection: Pin<&mut C>,
    graceful: impl Fn(Pin<&mut C>),
) -> Option<Result<(), E>>
where
    C: Future<Output = Result<(), E>>,
{
    let mut connection = connection;
    // The watcher is looked at only when it woke (`WhenWoken`), and the connection first
    // (`biased`: no random pick for every poll).
    let closing = WhenWoken::new(tracked.until_closing());
    tokio::pin!(closing);
    tokio::select! {
        biased;
        result = connection.as_mut() => return Some(result),
        () = closing => graceful(connection.as_mut()),
    }
    loop {
        tokio::select! {
            result = connection.as_mut() => return Some(result),
            () = tokio::time::sleep(CLOSE_GRACE) => {
                if tracked.is_idle() {
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(connections: &Arc<Connections>) -> Tracked {
        match connections.admit() {
            Admission::Admitted(tracked) => tracked,
            Admission::Wait => panic!("no room"),
        }
    }

    /// Full: the connection idle the longest is told to close, one at a time, and its leaving
    /// makes room; busy connections are never chosen.
    #[tokio::test(start_paused = true)]
    async fn the_longest_idle_makes_room() {
        let connections = Connections::new(3, Duration::from_secs(30));
        let oldest = admitted(&connections);
        tokio::time::advance(Duration::from_secs(1)).await;
        let busy_one = admitted(&connections);
        let _request = busy_one.busy();
        tokio::time::advance(Duration::from_secs(1)).await;
        let newest = admitted(&connections);
        assert!(matches!(connections.admit(), Admission::Wait));
        // The oldest idle one was told; asking again while it is on its way tells nobody else.
        tokio::time::timeout(Duration::from_millis(1), oldest.until_closing())
            .await
            .expect("the oldest is closing");
        assert!(matches!(connections.admit(), Admission::Wait));
        let not_yet = tokio::time::timeout(Duration::from_millis(1), newest.until_closing()).await;
        assert!(
            not_yet.is_err(),
            "only one is evicted per waiting connection"
        );
        drop(oldest);
        let _fourth = admitted(&connections);
        assert_eq!(connections.open(), 3);
        // Now the newest is the only idle one.
        assert!(matches!(connections.admit(), Admission::Wait));
        tokio::time::timeout(Duration::from_millis(1), newest.until_closing())
            .await
            .expect("the newest is closing");
    }

    /// Every slot busy: the new connection waits, and the moment one falls idle it is told to
    /// make room (not after the idle limit).
    #[tokio::test(start_paused = true)]
    async fn a_connection_falling_idle_makes_room() {
        let connections = Connections::new(1, Duration::from_secs(30));
        let only = admitted(&connections);
        let request = only.busy();
        let waiting = tokio::spawn({
            let connections = connections.clone();
            async move { connections.wait_for_room().await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(
            !waiting.is_finished(),
            "no room while the only connection is busy"
        );
        let fell_idle = Instant::now();
        drop(request);
        only.until_closing().await;
        assert_eq!(fell_idle.elapsed(), Duration::ZERO);
        drop(only);
        let tracked = waiting.await.expect("the waiting connection");
        assert!(tracked.is_idle());
        assert_eq!(connections.open(), 1);
    }

    /// Idle for the limit: told to close; a request in progress holds the clock.
    #[tokio::test(start_paused = true)]
    async fn idle_connections_close_after_the_limit() {
        let connections = Connections::new(10, Duration::from_secs(30));
        let tracked = admitted(&connections);
        let request = tracked.busy();
        let early = tokio::time::timeout(Duration::from_secs(60), tracked.until_closing()).await;
        assert!(early.is_err(), "busy connections are not idle");
        drop(request);
        let started = Instant::now();
        tracked.until_closing().await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    /// A request in the middle of an idle period moves the deadline on without waking the
    /// watcher: it finds the later deadline when the first one passes.
    #[tokio::test(start_paused = true)]
    async fn a_request_while_idle_restarts_the_idle_limit() {
        let connections = Connections::new(10, Duration::from_secs(30));
        let tracked = admitted(&connections);
        let started = Instant::now();
        let watch = tracked.until_closing();
        tokio::pin!(watch);
        let early = tokio::time::timeout(Duration::from_secs(20), &mut watch).await;
        assert!(early.is_err(), "idle for 20 s of 30");
        let request = tracked.busy();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(request);
        // Idle again since 25 s: not closed at 30 s, closed at 55 s.
        let at_thirty = tokio::time::timeout(Duration::from_secs(10), &mut watch).await;
        assert!(at_thirty.is_err(), "the request moved the deadline");
        watch.await;
        assert_eq!(started.elapsed(), Duration::from_secs(55));
    }

    /// A connection busy when its deadline passes stays open however long the request takes,
    /// and closes the idle limit after the request ends.
    #[tokio::test(start_paused = true)]
    async fn a_long_request_outlasts_the_deadline_it_began_in() {
        let connections = Connections::new(10, Duration::from_secs(30));
        let tracked = admitted(&connections);
        let started = Instant::now();
        let watch = tracked.until_closing();
        tokio::pin!(watch);
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut watch).await;
        let request = tracked.busy();
        let during = tokio::time::timeout(Duration::from_secs(100), &mut watch).await;
        assert!(during.is_err(), "busy connections are not idle");
        drop(request);
        watch.await;
        assert_eq!(started.elapsed(), Duration::from_secs(140));
    }

    #[tokio::test(start_paused = true)]
    async fn close_all_reaches_every_connection() {
        let connections = Connections::new(10, Duration::from_secs(30));
        let a = admitted(&connections);
        let b = admitted(&connections);
        let _request = b.busy();
        connections.close_all();
        a.until_closing().await;
        b.until_closing().await;
        drop((a, b));
        connections.all_closed().await;
        assert_eq!(connections.open(), 0);
    }
}
