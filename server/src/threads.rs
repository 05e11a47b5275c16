//! Connection threads: each accepted connection is served, start to finish, by one of a fixed
//! set of threads, each running its own single-threaded tokio runtime (ADR 0016).
//!
//! A shared work-stealing runtime moves tasks between threads and wakes idle threads to look
//! for work; on a busy server most of those wake-ups find nothing and cost a trip through the
//! kernel. A connection that stays on one thread needs none of that: its requests, its timers
//! and its HTTP/2 streams run where its socket is registered. The listener hands connections
//! out in turn, so long-lived connections are spread evenly.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tracing::{debug, info};

/// The default number of connection threads: two per core. Measured on two cores with the
/// benchmark's 16 connections, one per core left a thread's connections stalled whenever
/// another process took its core; two per core served 20-30 % more small GETs, and four per
/// core no more (ADR 0016).
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

/// Threads that serve connections. Dropping it stops them; a connection still open then is
/// cut off.
pub struct ConnectionThreads {
    runtimes: Vec<Handle>,
    threads: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
    next: AtomicUsize,
}

impl ConnectionThreads {
    /// Starts `count` threads (at least one) and returns once each is running under its name.
    pub fn start(count: usize) -> io::Result<ConnectionThreads> {
        let mut runtimes = Vec::new();
        let mut threads = Vec::new();
        let (running, all_running) = std::sync::mpsc::channel::<()>();
        for number in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtimes.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            let running = running.clone();
            let thread = std::thread::Builder::new()
                .name(format!("davd-conn-{number}"))
                .spawn(move || {
                    // The thread names itself as it starts; saying so only now means that
                    // whoever looks at the process after `start` finds every thread named.
                    let _ = running.send(());
                    // Runs the connections spawned onto this runtime until told to stop
                    // (or until the sender is dropped with the threads).
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                    // Work on the blocking pool (an upload being written) finishes on its
                    // own; shutdown does not wait for it.
                    runtime.shutdown_background();
                })?;
            threads.push((stop, thread));
        }
        drop(running);
        // Ends early only if a thread died before reporting, which the join at stop reveals.
        for _ in all_running.iter().take(threads.len()) {}
        info!("{} connection threads running", threads.len());
        Ok(ConnectionThreads {
            runtimes,
            threads,
            next: AtomicUsize::new(0),
        })
    }

    /// Serves `stream` on the next thread in turn: `serve` is called there, with the stream
    /// registered with that thread's runtime.
    pub fn serve<F, Fut>(&self, stream: TcpStream, serve: F)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // The socket is registered with the accepting runtime; it must move to the serving
        // one, which is what the round trip through the standard library's type does.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                debug!(error = %e, "could not hand a connection to a thread");
                return;
            }
        };
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.runtimes.len();
        self.runtimes[turn].spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => {
                    // Which thread serves whom: what an operator (and the test that connections
                    // are dealt out in turn) can follow without reading scheduler statistics.
                    if let Ok(peer) = stream.peer_addr() {
                        debug!("connection thread {turn} serves {peer}");
                    }
                    serve(stream).await
                }
                Err(e) => debug!(error = %e, "could not register a connection with its thread"),
            }
        });
    }

    /// Stops every thread and waits for them to end.
    pub async fn stop(self) {
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for (stop, thread) in threads {
                let _ = stop.send(());
                let _ = thread.join();
            }
        })
        .await;
    }
}
