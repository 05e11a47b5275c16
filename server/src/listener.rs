//! Accepting connections and handing each to a connection thread ([`crate::threads`]):
//! TCP_NODELAY, header limits, HTTP/1.1 and HTTP/2, the connection policy of
//! [`crate::connections`] (the limit, idle connections, making room) for every protocol
//! version with and without TLS, and a graceful shutdown that stops accepting and lets
//! requests in flight finish.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::connections::{self, Connections, Tracked};
use crate::fragment::{FragmentLog, FragmentWatch};
use crate::http::{ConnectionInfo, DavService};
use crate::metrics::OpenConnection;
use crate::threads::ConnectionThreads;
use crate::wiring::{App, HISTORY_SWEEP_INTERVAL, LOCK_SWEEP_INTERVAL};

/// Serves `listener` until `shutdown` resolves, then waits (up to the grace period) for the
/// requests in flight and flushes the state.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    // What a crash interrupted is finished or undone before the first request is served
    // (again, if the caller did it already: there is then nothing left to do).
    app.recover().await.map_err(io::Error::other)?;
    let limits = app.settings.limits.clone();
    let mut builder = Builder::new(TokioExecutor::new());
    // No timer for HTTP/1: the connection policy (`connections.rs`) already closes a
    // connection whose request head has not arrived `header_read_timeout` after it fell idle,
    // whatever it speaks. hyper's own timeout for the head re-armed a timer for every request
    // (about 0.2 µs of a GET's user time, docs/performance.md) to enforce the same limit.
    builder
        .http1()
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    // hyper parses the head into arrays on the stack sized for its default of 100 headers;
    // any explicit limit, even 100, makes it build and fill two vectors of that size for every
    // request (1.7K instructions per GET under callgrind). Set only a limit that differs.
    if limits.max_headers != HYPER_DEFAULT_MAX_HEADERS {
        builder.http1().max_headers(limits.max_headers);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(MAX_STREAMS);
    let tls = match &app.settings.tls {
        Some(files) => Some(crate::tls::acceptor(files).map_err(io::Error::other)?),
        None => None,
    };
    let threads = match app.settings.connection_threads {
        0 => None,
        count => Some(ConnectionThreads::start(count)?),
    };
    // After the connection threads started: their runtimes' descriptors count as held.
    let connections = Connections::new(
        connections::fit_to_file_limit(limits.max_connections),
        limits.header_read_timeout,
    );

    let sweeper = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LOCK_SWEEP_INTERVAL);
            let mut history_due = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                app.sweep_locks().await;
                // History is pruned at startup and then once an hour.
                if tokio::time::Instant::now() >= history_due {
                    app.sweep_history().await;
                    history_due = tokio::time::Instant::now() + HISTORY_SWEEP_INTERVAL;
                }
            }
        })
    };

    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors (a process limit below max_connections): close
                    // the connection idle the longest, as at the limit. Then, or on any other
                    // failure, back off briefly instead of spinning.
                    let out_of_descriptors = matches!(e.raw_os_error(), Some(23 | 24));
                    if !(out_of_descriptors && connections.make_room()) {
                        warn!(error = %e, "accept failed");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(50)) => {}
                        () = connections.room_changed(), if out_of_descriptors => {}
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // At the limit, the connection idle the longest makes room; if every connection is
        // busy, this one waits for one to end, and further clients queue in the kernel's
        // backlog instead of being served badly or crashing the server.
        let tracked = tokio::select! {
            tracked = connections.wait_for_room() => tracked,
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let fragments = FragmentLog::default();
        let builder = builder.clone();
        let tls = tls.clone();
        let open = OpenConnection::accepted();
        let app = app.clone();
        let serve_connection = move |stream: TcpStream| async move {
            let _open = open;
            let connection = Connection {
                peer,
                builder,
                fragments,
                tracked,
            };
            connection.serve(stream, tls, app).await;
        };
        match &threads {
            Some(threads) => threads.serve(stream, serve_connection),
            None => {
                tokio::spawn(serve_connection(stream));
            }
        }
    }
    drop(listener);
    sweeper.abort();
    info!("shutting down: waiting for requests in flight");
    connections.close_all();
    if tokio::time::timeout(limits.shutdown_grace, connections.all_closed())
        .await
        .is_err()
    {
        warn!("requests still running after the grace period were cut off");
    }
    // Before the stores close: a connection cut off above must not touch them afterwards.
    if let Some(threads) = threads {
        threads.stop().await;
    }
    app.close().await;
    Ok(())
}

/// hyper's own limit on HTTP/1.1 header lines when none is set (`http1::Builder::max_headers`).
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Concurrent HTTP/2 streams per connection: RFC 9113's recommended minimum, so that one
/// connection cannot carry more requests at once than a hundred HTTP/1.1 connections.
const MAX_STREAMS: u32 = 100;

/// One accepted connection.
struct Connection {
    peer: std::net::SocketAddr,
    builder: Builder<TokioExecutor>,
    fragments: FragmentLog,
    /// Its place in the connection table: idle or busy, told to close.
    tracked: Tracked,
}

impl Connection {
    async fn serve(self, stream: TcpStream, tls: Option<TlsAcceptor>, app: Arc<App>) {
        let peer = self.peer;
        let tracked = Arc::new(self.tracked);
        let info = ConnectionInfo {
            peer,
            fragments: self.fragments.clone(),
        };
        let service = DavService::new(app, info, tracked.clone());
        match tls {
            None => {
                let io = TokioIo::new(FragmentWatch::new(stream, self.fragments));
                serve_io(&self.builder, io, service, &tracked, peer).await;
            }
            Some(acceptor) => {
                // The handshake is idle time like any other: it ends when the connection has
                // been idle too long, or is told to make room.
                let stream = tokio::select! {
                    accepted = acceptor.accept(stream) => match accepted {
                        Ok(stream) => stream,
                        Err(e) => {
                            debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                    },
                    () = tracked.until_closing() => {
                        debug!(%peer, "TLS handshake did not finish in time");
                        return;
                    }
                };
                let io = TokioIo::new(FragmentWatch::new(stream, self.fragments));
                serve_io(&self.builder, io, service, &tracked, peer).await;
            }
        }
    }
}

/// Serves HTTP/1.1 or HTTP/2 on `io` under the connection policy.
async fn serve_io<I>(
    builder: &Builder<TokioExecutor>,
    io: I,
    service: DavService,
    tracked: &Tracked,
    peer: std::net::SocketAddr,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let served = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(served);
    match connections::drive(tracked, served.as_mut(), |c| c.graceful_shutdown()).await {
        Some(Ok(())) => {}
        Some(Err(e)) => debug!(%peer, error = %e, "connection ended with an error"),
        None => debug!(%peer, "dropped a connection that did not close when told"),
    }
}
