//! Accepting connections: TCP_NODELAY, header limits and timeouts, HTTP/1.1 and HTTP/2, and a
//! graceful shutdown that stops accepting and lets requests in flight finish.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use tower::ServiceExt;

use crate::fragment::{FragmentLog, FragmentWatch};
use crate::http::router;
use crate::wiring::{App, LOCK_SWEEP_INTERVAL};

/// Serves `listener` until `shutdown` resolves, then waits (up to the grace period) for the
/// requests in flight and flushes the state.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
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
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let fragments = FragmentLog::default();
                let per_connection = service.clone().map_request({
                    let fragments = fragments.clone();
                    move |mut request: hyper::Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(fragments.clone());
                        request
                    }
                });
                let connection = builder
                    .serve_connection_with_upgrades(
                        TokioIo::new(FragmentWatch::new(stream, fragments)),
                        TowerToHyperService::new(per_connection),
                    )
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
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
    app.close().await;
    Ok(())
}
