//! Metrics for Prometheus, served on a listener of their own (`--metrics-listen`), never on
//! the WebDAV port: a scrape needs no credentials and must not be reachable by WebDAV clients.
//!
//! Every layer counts through the `metrics` facade (the way every layer logs through
//! `tracing`): the executive its queue rollbacks, latch waits and store flushes
//! (`davd_executive::metrics`), this crate the HTTP side ([`names`]). Without
//! `--metrics-listen` no recorder is installed and every count is a no-op. Gauges that are a
//! question to the stores (locks held) are asked when scraped. Every metric is listed, with its
//! labels, in docs/operations.md.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tracing::warn;

use crate::wiring::App;

/// The names of the metrics this crate records.
pub mod names {
    use davd_protocol::MethodKind;

    pub const REQUESTS: &str = "davd_http_requests_total";
    pub const DURATION: &str = "davd_http_request_duration_seconds";
    pub const IN_FLIGHT: &str = "davd_http_requests_in_flight";
    pub const BYTES_IN: &str = "davd_http_request_bytes_total";
    pub const BYTES_OUT: &str = "davd_http_response_bytes_total";
    pub const CONNECTIONS_OPEN: &str = "davd_connections_open";
    pub const CONNECTIONS: &str = "davd_connections_total";
    pub const LOCKS_HELD: &str = "davd_locks_held";

    /// The `method` label: the methods davd implements (its method table) and a few of other
    /// specifications that clients send, each by name; every other as `OTHER`, so that a
    /// client inventing methods cannot make the metrics grow without bound. Read from the
    /// table, so a method added to davd gets its own series without a change here.
    pub fn method_label(method: &http::Method) -> &'static str {
        const OTHER_SPECIFICATIONS: [&str; 4] = ["TRACE", "PATCH", "CONNECT", "SEARCH"];
        let token = method.as_str();
        MethodKind::from_token(token)
            .map(MethodKind::token)
            .or_else(|| OTHER_SPECIFICATIONS.iter().find(|m| **m == token).copied())
            .unwrap_or("OTHER")
    }
}

/// Latency buckets in seconds: from a cached small GET to a long upload.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// How often recorded latencies are folded into their buckets between scrapes, which bounds
/// the memory they take when nobody scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// Whether a recorder is installed. Without one every count is a no-op, but the labels are
/// still built (the status as a `String`, a `Key` per metric); the per-request counts look
/// here first, so a server without `--metrics-listen` pays one load per request for them.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// Whether the per-request metrics are recorded (`--metrics-listen` was given).
pub fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Installs the process's recorder. Call once, before the server starts.
pub fn install() -> Result<PrometheusHandle, String> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .map_err(|e| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
    RECORDING.store(true, Ordering::Relaxed);
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    use names::*;
    describe_counter!(REQUESTS, "Requests answered, by method and status.");
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "Time from a request's arrival to the end of its response, by method."
    );
    describe_gauge!(IN_FLIGHT, "Requests received and not yet answered in full.");
    describe_counter!(BYTES_IN, Unit::Bytes, "Bytes of request bodies received.");
    describe_counter!(BYTES_OUT, Unit::Bytes, "Bytes of response bodies sent.");
    describe_gauge!(CONNECTIONS_OPEN, "Client connections open.");
    describe_counter!(CONNECTIONS, "Client connections accepted.");
    describe_gauge!(
        LOCKS_HELD,
        "Unexpired WebDAV locks, by the kind of lock store."
    );
    describe_counter!(
        crate::access_log::DROPPED_METRIC,
        "Access-log lines dropped because the writer could not keep up."
    );
    davd_executive::metrics::describe();
}

/// Serves `GET /metrics` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle, app: Arc<App>) {
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let router = Router::new()
        .route("/metrics", get(scrape))
        .with_state((handle, app));
    if let Err(e) = axum::serve(listener, router).await {
        warn!(error = %e, "the metrics listener stopped");
    }
}

async fn scrape(State((handle, app)): State<(PrometheusHandle, Arc<App>)>) -> impl IntoResponse {
    for (kind, held) in app.locks_held().await {
        metrics::gauge!(names::LOCKS_HELD, "kind" => kind).set(held as f64);
    }
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
}

/// Binds the metrics listener (before the server says it serves, so a port in use stops it).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// A client connection, counted open while it lives.
pub struct OpenConnection(());

impl OpenConnection {
    pub fn accepted() -> OpenConnection {
        metrics::counter!(names::CONNECTIONS).increment(1);
        metrics::gauge!(names::CONNECTIONS_OPEN).increment(1.0);
        OpenConnection(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!(names::CONNECTIONS_OPEN).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use davd_protocol::MethodKind;

    use super::names::method_label;

    fn label(token: &str) -> &'static str {
        method_label(&http::Method::from_bytes(token.as_bytes()).expect("a method token"))
    }

    #[test]
    fn every_method_davd_implements_has_a_label_of_its_own() {
        for kind in MethodKind::ALL {
            assert_eq!(label(kind.token()), kind.token(), "{kind:?}");
        }
    }

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(label("BREW"), "OTHER");
        assert_eq!(label("get"), "OTHER");
        // Methods of other specifications keep their own series: a client probing for them is
        // worth seeing.
        assert_eq!(label("PATCH"), "PATCH");
    }
}
