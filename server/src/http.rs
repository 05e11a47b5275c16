//! The HTTP edge: the hyper service that turns a request into the protocol layer's head and a
//! body stream, hands them to the executive, and turns its response back into HTTP.
//!
//! Every method goes to one handler: davd routes nothing by method or path here (the
//! registry does, by scope), so hyper calls the service directly, without a router in
//! between (ADR 0020).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, Stream};
use futures_util::{FutureExt, StreamExt};
use http::StatusCode;
use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http_body::Body as _;
use hyper::body::Incoming;
use tracing::{debug, warn};

use davd_executive::Identity;
use davd_protocol::{ByteStream, RequestHead, Response};

use crate::auth::Check;
use crate::body::ResponseBody;
use crate::connections::{BusyBody, Tracked};
use crate::exchange::{Exchange, Observed};
use crate::fragment::FragmentLog;
use crate::linger::{self, Lent};
use crate::metrics::names;
use crate::wiring::App;

/// What the listener knows of a request's connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The address of the client.
    pub peer: std::net::SocketAddr,
    /// Request targets the connection sent with a `#fragment`.
    pub fragments: FragmentLog,
}

/// What hyper sends for each response: the body, observed for the access log and metrics,
/// keeping its connection busy until it is sent.
pub type HttpResponse = hyper::Response<BusyBody<Observed>>;

/// The service of one connection: every request goes to [`handle`].
#[derive(Clone)]
pub struct DavService {
    app: Arc<App>,
    connection: ConnectionInfo,
    /// The connection's place in the connection table, busy while a request is in progress.
    tracked: Arc<Tracked>,
}

impl DavService {
    pub fn new(app: Arc<App>, connection: ConnectionInfo, tracked: Arc<Tracked>) -> Self {
        DavService {
            app,
            connection,
            tracked,
        }
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for DavService {
    type Response = HttpResponse;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, Self::Error>> + Send>,
    >;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        // Busy from the request's arrival until its response body has been sent.
        let busy = self.tracked.busy();
        let app = self.app.clone();
        let connection = self.connection.clone();
        Box::pin(async move {
            let response = handle(&app, &connection, request).await;
            Ok(response.map(|body| BusyBody::new(body, busy)))
        })
    }
}

async fn handle(
    app: &App,
    connection: &ConnectionInfo,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Observed> {
    let (parts, body) = request.into_parts();
    let exchange = Exchange::begin(&parts, Some(connection.peer.ip()), app.access_log.as_ref());
    // Most reads come without a body: they get an empty stream, which takes neither an
    // allocation nor the timeout's state (both cost a small GET a measurable share).
    let idle = app.settings.limits.body_idle_timeout;
    let (lent, body) = if body.is_end_stream() {
        (None, None)
    } else {
        let (lent, stream) = Lent::new(body);
        (Some(lent), Some(with_idle_timeout(stream, idle)))
    };
    let (response, user) = respond(app, connection, &parts, body).await;
    if let Some(rest) = lent.and_then(Lent::unread) {
        if linger::wanted(parts.version, &parts.headers) {
            linger::drain(rest, idle);
        }
    }
    exchange.finish(response, user)
}

/// The response, and the user it was given to (for the access log).
async fn respond(
    app: &App,
    connection: &ConnectionInfo,
    parts: &http::request::Parts,
    body: Option<ByteStream>,
) -> (hyper::Response<ResponseBody>, Option<String>) {
    let started = Instant::now();
    // `OPTIONS *` asks about the server as a whole: answer as for the root.
    let path = match parts.uri.path() {
        "*" => "/",
        p => p,
    };
    if connection
        .fragments
        .had_fragment(parts.method.as_str(), path)
    {
        return (
            into_http(Response::text(
                StatusCode::BAD_REQUEST,
                "the request target contains a #fragment, which HTTP does not allow",
            )),
            None,
        );
    }
    // hyper bounds its read buffer, not the head: a head larger than the limit that arrives in
    // one read can still be parsed. Measure it here so the limit always holds.
    let limit = app.settings.limits.max_header_bytes;
    if head_bytes(parts) > limit {
        return (
            into_http(Response::text(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("the request head is larger than {limit} bytes"),
            )),
            None,
        );
    }
    // hyper counts HTTP/1.1 header lines (`max_headers`), but its HTTP/2 has no count, only
    // the size of the header block: the count is checked here for every version.
    let count = app.settings.limits.max_headers;
    if parts.headers.len() > count {
        return (
            into_http(Response::text(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("the request has more than {count} headers"),
            )),
            None,
        );
    }
    let identity = match authenticate(app, parts, connection.peer.ip()).await {
        Ok(identity) => identity,
        Err(refused) => return (refused, None),
    };
    let user = identity.principal.clone();
    let body_may_exist = body.is_some();
    let body = body.unwrap_or_else(|| stream::empty().boxed());
    let head = RequestHead {
        method: parts.method.as_str(),
        path,
        headers: &parts.headers,
        default_port: 80,
        body_may_exist,
    };
    let mut response = app.executive.handle(head, identity, body).await;
    if let (StatusCode::UNAUTHORIZED, Some(auth)) = (response.status, &app.auth) {
        response.set_header(WWW_AUTHENTICATE, auth.challenge());
    }
    let status = response.status;
    if status.is_server_error() {
        warn!(method = %parts.method, path, status = status.as_u16(), "request failed");
    } else {
        debug!(
            method = %parts.method,
            path,
            status = status.as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
    }
    (into_http(response), user)
}

/// Ends the body with an error if no data arrives for `idle`, so a client that stalls mid-upload
/// cannot hold the request (its upload is undone like any other failure).
fn with_idle_timeout<S, E>(body: S, idle: Duration) -> ByteStream
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    E: std::fmt::Display,
{
    let body = Box::pin(body);
    stream::unfold((body, false), move |(mut body, done)| async move {
        if done {
            return None;
        }
        // A chunk that is already here needs no timer: most small bodies arrive with their
        // head, and a timer armed and dropped per chunk cost more than reading the chunk.
        let next = if let Some(ready) = body.next().now_or_never() {
            Ok(ready)
        } else {
            tokio::time::timeout(idle, body.next()).await
        };
        match next {
            Ok(Some(Ok(chunk))) => {
                metrics::counter!(names::BYTES_IN).increment(chunk.len() as u64);
                Some((Ok(chunk), (body, false)))
            }
            Ok(Some(Err(e))) => Some((Err(io::Error::other(e.to_string())), (body, true))),
            Ok(None) => None,
            Err(_) => Some((
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request body stalled",
                )),
                (body, true),
            )),
        }
    })
    .boxed()
}

/// The size of the request head as sent on HTTP/1.1: request line and header lines.
fn head_bytes(parts: &http::request::Parts) -> usize {
    let line = parts.method.as_str().len()
        + parts.uri.path_and_query().map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n".len()
        + 1;
    parts.headers.iter().fold(line, |total, (name, value)| {
        total + name.as_str().len() + value.len() + ": \r\n".len()
    })
}

/// Who the request comes from. OPTIONS never needs credentials (clients probe with it before
/// they log in); wrong credentials are refused here (401), and guesses beyond the throttle's
/// pace with 429 (`auth::throttle`).
async fn authenticate(
    app: &App,
    parts: &http::request::Parts,
    peer: std::net::IpAddr,
) -> Result<Identity, hyper::Response<ResponseBody>> {
    let Some(auth) = &app.auth else {
        return Ok(Identity::default());
    };
    if parts.method == http::Method::OPTIONS {
        return Ok(Identity::default());
    }
    let header = parts.headers.get(AUTHORIZATION).map(|v| v.as_bytes());
    match auth.check(header, peer).await {
        Check::Anonymous => Ok(Identity::default()),
        Check::User(name) => Ok(Identity {
            principal: Some(name),
        }),
        Check::Rejected => {
            let mut refused =
                Response::text(StatusCode::UNAUTHORIZED, "wrong user name or password");
            refused.set_header(WWW_AUTHENTICATE, auth.challenge());
            Err(into_http(refused))
        }
        Check::Throttled { retry_after } => {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let mut refused = Response::text(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many failed logins; try again in {seconds} s"),
            );
            refused.set_header(RETRY_AFTER, seconds.to_string());
            Err(into_http(refused))
        }
    }
}

fn into_http(response: Response) -> hyper::Response<ResponseBody> {
    let mut out = hyper::Response::new(ResponseBody::from(response.body));
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}
