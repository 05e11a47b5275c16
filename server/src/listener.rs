//! Accepting connections and handing each to a connection thread ([`crate::threads`]):
//! TCP_NODELAY, header limits and timeouts, HTTP/1.1 and HTTP/2, and a graceful shutdown that
//! stops accepting and lets requests in flight finish.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use tower::ServiceExt;

use crate::first_byte::{FirstByte, silent_for};
use crate::fragment::{FragmentLog, FragmentWatch};
use crate::http::{Peer, router};
use crate::threads::ConnectionThreads;
use crate::wiring::{App, LOCK_SWEEP_INTERVAL};

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
    let service = router(app.clone());
    let limits = app.settings.limits.clone();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let tls = match &app.settings.tls {
        Some(files) => Some(crate::tls::acceptor(files).map_err(io::Error::other)?),
        None => None,
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let threads = match app.settings.connection_threads {
        0 => None,
        count => Some(ConnectionThreads::start(count)?),
    };

    let sweeper = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LOCK_SWEEP_INTERVAL);
            loop {
                tick.tick().await;
                app.sweep_locks().await;
            }
        })
    };

    tokio::pin!(shutdown);
    loop {
        // Past the connection limit, wait for a slot before accepting: further clients queue
        // in the kernel's backlog instead of being served badly or crashing the server.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let fragments = FragmentLog::default();
        let per_connection = service.clone().map_request({
            let fragments = fragments.clone();
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(fragments.clone());
                request.extensions_mut().insert(Peer(peer));
                request
            }
        });
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let tls = tls.clone();
        let handshake_limit = limits.header_read_timeout;
        let serve_connection = move |stream: TcpStream| async move {
            let _slot = slot;
            let connection = Connection {
                peer,
                builder,
                watcher,
                fragments,
                limit: handshake_limit,
            };
            connection
                .serve(stream, tls, TowerToHyperService::new(per_connection))
                .await;
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
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
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

/// One accepted connection.
struct Connection {
    peer: std::net::SocketAddr,
    builder: Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    fragments: FragmentLog,
    /// A plain connection must start talking within this time; a TLS one must finish its
    /// handshake within it.
    limit: Duration,
}

impl Connection {
    async fn serve<S>(self, stream: TcpStream, tls: Option<TlsAcceptor>, service: S)
    where
        S: hyper::service::Service<
                hyper::Request<hyper::body::Incoming>,
                Response = hyper::Response<axum::body::Body>,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let peer = self.peer;
        let (stream, first_byte) = FirstByte::new(stream);
        let result = match tls {
            None => {
                let io = TokioIo::new(FragmentWatch::new(stream, self.fragments));
                let served = self
                    .builder
                    .serve_connection_with_upgrades(io, service)
                    .into_owned();
                tokio::select! {
                    result = self.watcher.watch(served) => result,
                    () = silent_for(first_byte, self.limit) => {
                        debug!(%peer, "closed a connection that sent nothing");
                        return;
                    }
                }
            }
            Some(acceptor) => {
                let stream = match tokio::time::timeout(self.limit, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let io = TokioIo::new(FragmentWatch::new(stream, self.fragments));
                let served = self
                    .builder
                    .serve_connection_with_upgrades(io, service)
                    .into_owned();
                self.watcher.watch(served).await
            }
        };
        if let Err(e) = result {
            debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}
