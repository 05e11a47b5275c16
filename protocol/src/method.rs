//! Request line and headers -> one typed method object.
//!
//! [`Request::parse`] is where every WebDAV header is checked; a request that gets through it
//! has a valid path, and the headers its method uses are typed and within the rules of
//! RFC 4918 (for example: COPY allows Depth 0 or infinity, MOVE and DELETE only infinity).

use std::time::SystemTime;

use http::header::{
    HOST, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE, ORIGIN, RANGE,
};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::ProtocolError;
use crate::header_scan::{HeaderScan, IF, SEC_FETCH_SITE};
use crate::headers::destination::DestinationError;
use crate::headers::{
    ContentRange, Depth, Destination, EtagMatch, HeaderError, IfHeader, MsHeaders, RangeRequest,
    Timeout, parse_destination, parse_etag_list, parse_http_date, parse_if, parse_lock_token,
    parse_oc_mtime, parse_overwrite, parse_range, parse_timeout,
};
use crate::method_table::MethodKind;
use crate::path::DavPath;

/// The methods davd implements, with what each one needs from the headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Options,
    /// GET, or HEAD when `head` is true.
    Get {
        head: bool,
        range: Option<RangeRequest>,
    },
    Post,
    Put {
        content_range: Option<ContentRange>,
    },
    Delete,
    Mkcol,
    Copy {
        destination: Destination,
        depth: Depth,
        overwrite: bool,
    },
    Move {
        destination: Destination,
        overwrite: bool,
    },
    Propfind {
        depth: Depth,
    },
    Proppatch,
    Lock {
        depth: Depth,
        timeout: Option<Timeout>,
    },
    // ANCHOR: unlock-variant
    Unlock {
        token: String,
    },
    // ANCHOR_END: unlock-variant
    /// MS-WDVME's GETLIB ("which document library holds this URL?"), also what a PROPFIND
    /// carrying an `MS-Doclib` header is, since MS-WDVME 3.2.5.3.2 makes it behave identically
    /// and ignore its body, Depth and everything else.
    Getlib,
    /// RFC 3253's REPORT; davd answers RFC 6578's `sync-collection` report. RFC 6578 §3.3
    /// allows only `Depth: 0` (what a missing header means): the report's own `sync-level`
    /// says how deep it looks.
    Report,
}

impl Method {
    /// Which method this is, for what the method table says about it.
    pub fn kind(&self) -> MethodKind {
        match self {
            Method::Options => MethodKind::Options,
            Method::Get { head: false, .. } => MethodKind::Get,
            Method::Get { head: true, .. } => MethodKind::Head,
            Method::Post => MethodKind::Post,
            Method::Put { .. } => MethodKind::Put,
            Method::Delete => MethodKind::Delete,
            Method::Mkcol => MethodKind::Mkcol,
            Method::Copy { .. } => MethodKind::Copy,
            Method::Move { .. } => MethodKind::Move,
            Method::Propfind { .. } => MethodKind::Propfind,
            Method::Proppatch => MethodKind::Proppatch,
            Method::Lock { .. } => MethodKind::Lock,
            // ANCHOR: unlock-kind
            Method::Unlock { .. } => MethodKind::Unlock,
            // ANCHOR_END: unlock-kind
            Method::Getlib => MethodKind::Getlib,
            Method::Report => MethodKind::Report,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().token()
    }
}

/// The conditional headers of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub if_header: Option<IfHeader>,
    pub if_match: Option<EtagMatch>,
    pub if_none_match: Option<EtagMatch>,
    pub if_modified_since: Option<SystemTime>,
    pub if_unmodified_since: Option<SystemTime>,
}

impl Conditions {
    pub fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }
}

/// What the request tells about its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyInfo {
    /// True if the request carries a body (Content-Length > 0, or chunked).
    pub present: bool,
    pub length: Option<u64>,
    pub content_type: Option<String>,
    /// True if the client waits for `100 Continue` before it sends the body
    /// (`Expect: 100-continue`, RFC 9110 §10.1.1).
    pub awaits_continue: bool,
}

/// The parts of the request line and headers the parser needs.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// The path of the request target, still percent-encoded, without the query.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    /// 80 for plain HTTP, 443 for TLS: what a Host without a port means.
    pub default_port: u16,
    /// The transport may deliver a body even without Content-Length (HTTP/2 data frames).
    pub body_may_exist: bool,
}

/// A parsed request: the typed method plus what every method shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub path: DavPath,
    /// The URL ended with `/`.
    pub trailing_slash: bool,
    pub conditions: Conditions,
    pub body: BodyInfo,
    pub user_agent: Option<String>,
    /// The client prefers HTML (a browser).
    pub accepts_html: bool,
    /// The raw Accept header.
    pub accept: Option<String>,
    /// The browser says the request comes from another site (`Sec-Fetch-Site: cross-site`, or
    /// an `Origin` whose host is not this request's `Host`).
    pub cross_site: bool,
    /// Microsoft's extension headers (Translate, X-MSDAVEXT, bundled locks).
    pub ms: MsHeaders,
    /// The modification time a PUT or MKCOL asks the new content to carry (`X-OC-Mtime`,
    /// ownCloud's header); other methods ignore the header.
    pub client_mtime: Option<SystemTime>,
}

impl Request {
    /// Parses the request line and headers. Unknown methods are 501; any malformed header that
    /// the method uses is 400 naming the header; a Destination on another server is 502.
    pub fn parse(head: RequestHead<'_>) -> Result<Request, ProtocolError> {
        let headers = head.headers;
        let (path, trailing_slash) = DavPath::parse_url_path(head.path)?;
        let scan = HeaderScan::of(headers);
        let method = parse_method(head, &scan)?;
        let body = body_info(&scan, head.body_may_exist)?;
        // GETLIB is answered whatever else the request says (MS-WDVME 3.2.5.3.2: "MUST ignore
        // the contents"), so a malformed If header must not turn it into a 400.
        let (conditions, ms) = match method {
            Method::Getlib => Default::default(),
            _ => (
                if scan.conditions {
                    parse_conditions(headers)?
                } else {
                    Conditions::default()
                },
                if scan.ms {
                    MsHeaders::parse(headers, head.method)?
                } else {
                    MsHeaders::default()
                },
            ),
        };
        let client_mtime = match method {
            Method::Put { .. } | Method::Mkcol => text(headers, &names::OC_MTIME)?
                .map(parse_oc_mtime)
                .transpose()?,
            _ => None,
        };
        let accept = value_text(scan.accept, "Accept")?;
        Ok(Request {
            method,
            path,
            trailing_slash,
            conditions,
            ms,
            body,
            user_agent: value_text(scan.user_agent, "User-Agent")?.map(str::to_owned),
            accepts_html: accept.is_some_and(|accept| accept.contains("text/html")),
            accept: accept.map(str::to_owned),
            cross_site: scan.origin && cross_site(headers),
            client_mtime,
        })
    }
}

fn parse_method(head: RequestHead<'_>, scan: &HeaderScan<'_>) -> Result<Method, ProtocolError> {
    let headers = head.headers;
    let depth = || -> Result<Option<Depth>, ProtocolError> {
        Ok(value_text(scan.depth, "Depth")?
            .map(Depth::parse)
            .transpose()?)
    };
    let overwrite = || -> Result<bool, ProtocolError> {
        Ok(text(headers, &names::OVERWRITE)?
            .map(parse_overwrite)
            .transpose()?
            .unwrap_or(true))
    };
    let destination = || -> Result<Destination, ProtocolError> {
        let value = text(headers, &names::DESTINATION)?
            .ok_or_else(|| HeaderError::new("Destination", "missing"))?;
        let host = text(headers, &HOST)?;
        parse_destination(value, host, head.default_port).map_err(|e| match e {
            DestinationError::Invalid(h) => ProtocolError::Header(h),
            DestinationError::OtherServer(s) => ProtocolError::BadGateway(s),
        })
    };
    let only_infinity = |method: &str| -> Result<(), ProtocolError> {
        match depth()? {
            None | Some(Depth::Infinity) => Ok(()),
            Some(d) => Err(HeaderError::new(
                "Depth",
                format!("{method} only allows Depth: infinity, not {}", d.as_str()),
            )
            .into()),
        }
    };
    let Some(kind) = MethodKind::from_token(head.method) else {
        return Err(ProtocolError::NotImplemented(head.method.to_owned()));
    };
    Ok(match kind {
        MethodKind::Options => Method::Options,
        MethodKind::Get | MethodKind::Head => Method::Get {
            head: kind == MethodKind::Head,
            // RFC 7233 §3.1: an invalid Range header is ignored.
            range: text(headers, &RANGE)?.and_then(|v| parse_range(v).ok().flatten()),
        },
        MethodKind::Post => Method::Post,
        MethodKind::Put => Method::Put {
            content_range: text(headers, &names::CONTENT_RANGE)?
                .map(ContentRange::parse)
                .transpose()?,
        },
        MethodKind::Delete => {
            only_infinity("DELETE")?;
            Method::Delete
        }
        MethodKind::Mkcol => Method::Mkcol,
        MethodKind::Copy => {
            let depth = match depth()? {
                None | Some(Depth::Infinity) => Depth::Infinity,
                Some(Depth::Zero) => Depth::Zero,
                Some(Depth::One) => {
                    return Err(HeaderError::new("Depth", "COPY allows Depth 0 or infinity").into());
                }
            };
            Method::Copy {
                destination: destination()?,
                depth,
                overwrite: overwrite()?,
            }
        }
        MethodKind::Move => {
            only_infinity("MOVE")?;
            Method::Move {
                destination: destination()?,
                overwrite: overwrite()?,
            }
        }
        // Presence decides, even with an empty value (hyper keeps empty headers).
        MethodKind::Propfind if scan.ms_doclib => Method::Getlib,
        MethodKind::Propfind => Method::Propfind {
            depth: depth()?.unwrap_or(Depth::Infinity),
        },
        MethodKind::Getlib => Method::Getlib,
        MethodKind::Proppatch => Method::Proppatch,
        MethodKind::Lock => {
            let depth = match depth()? {
                None | Some(Depth::Infinity) => Depth::Infinity,
                Some(Depth::Zero) => Depth::Zero,
                Some(Depth::One) => {
                    return Err(HeaderError::new("Depth", "LOCK allows Depth 0 or infinity").into());
                }
            };
            Method::Lock {
                depth,
                timeout: text(headers, &names::TIMEOUT)?
                    .map(parse_timeout)
                    .transpose()?,
            }
        }
        MethodKind::Report => match depth()? {
            None | Some(Depth::Zero) => Method::Report,
            Some(_) => {
                return Err(HeaderError::new(
                    "Depth",
                    "REPORT sync-collection takes Depth 0; its sync-level says how deep it looks",
                )
                .into());
            }
        },
        // ANCHOR: unlock-parse
        MethodKind::Unlock => Method::Unlock {
            token: parse_lock_token(
                text(headers, &names::LOCK_TOKEN)?
                    .ok_or_else(|| HeaderError::new("Lock-Token", "UNLOCK needs a Lock-Token"))?,
            )?,
        },
        // ANCHOR_END: unlock-parse
    })
}

/// Browsers mark where a request comes from; other clients send neither header.
fn cross_site(headers: &HeaderMap) -> bool {
    let value = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if value(&SEC_FETCH_SITE) == Some("cross-site") {
        return true;
    }
    match (value(&ORIGIN), value(&HOST)) {
        (Some(origin), Some(host)) if origin != "null" => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            !origin_host.eq_ignore_ascii_case(host)
        }
        (Some("null"), _) => true,
        _ => false,
    }
}

fn parse_conditions(headers: &HeaderMap) -> Result<Conditions, ProtocolError> {
    // Several If headers are one list of lists (RFC 7230 §3.2.2 field combination).
    let if_values: Vec<&str> = headers
        .get_all(&IF)
        .iter()
        .map(|v| {
            v.to_str()
                .map_err(|_| HeaderError::new("If", "not ASCII text"))
        })
        .collect::<Result<_, _>>()?;
    let if_header = if if_values.is_empty() {
        None
    } else {
        Some(parse_if(&if_values.join(" "))?)
    };
    Ok(Conditions {
        if_header,
        if_match: text(headers, &IF_MATCH)?
            .map(|v| parse_etag_list("If-Match", v))
            .transpose()?,
        if_none_match: text(headers, &IF_NONE_MATCH)?
            .map(|v| parse_etag_list("If-None-Match", v))
            .transpose()?,
        if_modified_since: text(headers, &IF_MODIFIED_SINCE)?.and_then(parse_http_date),
        if_unmodified_since: text(headers, &IF_UNMODIFIED_SINCE)?.and_then(parse_http_date),
    })
}

fn body_info(scan: &HeaderScan<'_>, body_may_exist: bool) -> Result<BodyInfo, ProtocolError> {
    let length = match value_text(scan.content_length, "Content-Length")?.map(str::trim) {
        // Digits only (RFC 9110 §8.6): `u64::from_str` alone would also take a leading `+`.
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => Some(
            v.parse::<u64>()
                .map_err(|_| HeaderError::new("Content-Length", "too large"))?,
        ),
        Some(_) => return Err(HeaderError::new("Content-Length", "not a number").into()),
        None => None,
    };
    Ok(BodyInfo {
        present: match length {
            Some(n) => n > 0,
            None => scan.transfer_encoding || body_may_exist,
        },
        length,
        content_type: value_text(scan.content_type, "Content-Type")?.map(str::to_owned),
        awaits_continue: scan.expect_continue,
    })
}

/// The WebDAV request headers, as names that need no parsing when looked up.
mod names {
    use http::HeaderName;

    pub const OVERWRITE: HeaderName = HeaderName::from_static("overwrite");
    pub const DESTINATION: HeaderName = HeaderName::from_static("destination");
    pub const TIMEOUT: HeaderName = HeaderName::from_static("timeout");
    // ANCHOR: header-name
    pub const LOCK_TOKEN: HeaderName = HeaderName::from_static("lock-token");
    // ANCHOR_END: header-name
    pub const CONTENT_RANGE: HeaderName = HeaderName::from_static("content-range");
    pub use crate::headers::OC_MTIME;
}

/// A header as text; a value that is not visible ASCII is a 400 rather than silently ignored.
fn text<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, HeaderError> {
    value_text(headers.get(name), static_name(name.as_str()))
}

/// A value [`HeaderScan`] found, as [`text`] reads it.
fn value_text<'h>(
    value: Option<&'h HeaderValue>,
    header: &'static str,
) -> Result<Option<&'h str>, HeaderError> {
    match value {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| HeaderError {
            header,
            reason: "not ASCII text".into(),
        }),
    }
}

fn static_name(name: &str) -> &'static str {
    match name {
        "depth" => "Depth",
        "overwrite" => "Overwrite",
        "destination" => "Destination",
        "timeout" => "Timeout",
        "lock-token" => "Lock-Token",
        "content-range" => "Content-Range",
        "host" => "Host",
        "range" => "Range",
        "if-match" => "If-Match",
        "if-none-match" => "If-None-Match",
        "content-length" => "Content-Length",
        "content-type" => "Content-Type",
        "x-oc-mtime" => "X-OC-Mtime",
        _ => "a request header",
    }
}

#[cfg(test)]
#[path = "method_tests.rs"]
mod tests;
