//! What the server observes of each request: its access-log line and its metrics, both
//! finished when the response body has been sent (or the client went away), so that the bytes
//! and the duration are those of the whole exchange.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::Version;
use http::header::{REFERER, USER_AGENT};
use http_body::{Body, Frame, SizeHint};

use crate::access_log::{AccessLog, AccessRecord};
use crate::body::ResponseBody;
use crate::metrics::names;

/// One request on its way through the server. Dropped before it is finished (the client went
/// away before the response was ready), it is recorded with status 499, as nginx does.
pub struct Exchange {
    begun: Option<Begun>,
}

struct Begun {
    started: Instant,
    received: SystemTime,
    method: http::Method,
    target: String,
    version: Version,
    remote: Option<IpAddr>,
    /// Counted in the metrics (a recorder was installed when the request arrived).
    metered: bool,
    referer: Option<Vec<u8>>,
    user_agent: Option<Vec<u8>>,
    log: Option<AccessLog>,
}

impl Exchange {
    /// Notes the request as it arrives (counted in flight from now on).
    pub fn begin(
        parts: &http::request::Parts,
        remote: Option<IpAddr>,
        log: Option<&AccessLog>,
    ) -> Exchange {
        let metered = crate::metrics::recording();
        if !metered && log.is_none() {
            // Nothing would be recorded (no access log, no metrics recorder): the exchange
            // stays empty, which saves a small request its clocks and copies.
            return Exchange { begun: None };
        }
        if metered {
            metrics::gauge!(names::IN_FLIGHT).increment(1.0);
        }
        let header = |name| {
            parts
                .headers
                .get(name)
                .map(|v: &http::HeaderValue| v.as_bytes().to_vec())
        };
        Exchange {
            begun: Some(Begun {
                started: Instant::now(),
                received: SystemTime::now(),
                method: parts.method.clone(),
                target: parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
                version: parts.version,
                remote,
                metered,
                // Only kept when a log wants them.
                referer: log.and_then(|_| header(REFERER)),
                user_agent: log.and_then(|_| header(USER_AGENT)),
                log: log.cloned(),
            }),
        }
    }

    /// Wraps the response so that the exchange is finished when its body has been sent.
    pub fn finish(
        mut self,
        response: hyper::Response<ResponseBody>,
        user: Option<String>,
    ) -> hyper::Response<Observed> {
        let status = response.status().as_u16();
        let done = self.begun.take().map(|exchange| Done {
            exchange,
            status,
            user,
        });
        response.map(|body| Observed {
            inner: body,
            sent: 0,
            done: Mutex::new(done),
        })
    }
}

/// The status logged for a request whose client went away before it was answered.
const CLIENT_CLOSED: u16 = 499;

impl Drop for Exchange {
    fn drop(&mut self) {
        if let Some(exchange) = self.begun.take() {
            Done {
                exchange,
                status: CLIENT_CLOSED,
                user: None,
            }
            .record(0);
        }
    }
}

struct Done {
    exchange: Begun,
    status: u16,
    user: Option<String>,
}

impl Done {
    fn record(self, sent: u64) {
        let e = self.exchange;
        let duration = e.started.elapsed();
        if e.metered {
            let method = names::method_label(&e.method);
            metrics::gauge!(names::IN_FLIGHT).decrement(1.0);
            metrics::counter!(names::REQUESTS, "method" => method, "status" => self.status.to_string())
                .increment(1);
            metrics::histogram!(names::DURATION, "method" => method).record(duration.as_secs_f64());
            metrics::counter!(names::BYTES_OUT).increment(sent);
        }
        if let Some(log) = &e.log {
            log.record(&AccessRecord {
                remote: e.remote,
                user: self.user,
                received: e.received,
                method: e.method.as_str().to_owned(),
                target: e.target,
                version: version_name(e.version),
                status: self.status,
                bytes_sent: sent,
                referer: e.referer,
                user_agent: e.user_agent,
                duration,
            });
        }
    }
}

fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// The response body, counting what is sent. The exchange is recorded when the body's last
/// frame is handed to hyper (so a client that has read the whole response finds it counted),
/// or when the body is dropped unfinished (a client that went away mid-body is logged with
/// what it was sent). Without an exchange to finish it only passes the body on.
pub struct Observed {
    inner: ResponseBody,
    sent: u64,
    done: Mutex<Option<Done>>,
}

impl Observed {
    fn record(&self) {
        let done = self.done.lock().ok().and_then(|mut d| d.take());
        if let Some(done) = done {
            done.record(self.sent);
        }
    }
}

impl Body for Observed {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.sent += data.len() as u64;
                }
                if self.inner.is_end_stream() {
                    self.record();
                }
            }
            Poll::Ready(None) => self.record(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.record();
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.record();
    }
}
