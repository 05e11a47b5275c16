//! What the executive hands back for the server to send: status, headers and a body that may
//! be streamed.

use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_core::Stream;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};

use crate::xml::{Condition, error_body};

/// A stream of body chunks. Also the form in which request bodies travel down the layers.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A response body.
pub enum Body {
    Empty,
    Full(Bytes),
    Stream(ByteStream),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Full(b) => write!(f, "Body::Full({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

/// An HTTP response before it is put on the wire.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body,
}

pub const XML_CONTENT_TYPE: &str = "application/xml; charset=utf-8";

impl Response {
    pub fn new(status: StatusCode) -> Self {
        Response {
            status,
            headers: HeaderMap::new(),
            body: Body::Empty,
        }
    }

    /// A response whose body is a short plain-text explanation (for errors).
    pub fn text(status: StatusCode, text: impl Into<String>) -> Self {
        let mut text = text.into();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        // A constant: checked when davd is compiled, never copied.
        const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
        let mut response = Response::new(status);
        response.headers.insert(CONTENT_TYPE, TEXT);
        response.with_body(Body::Full(Bytes::from(text)))
    }

    /// An XML body.
    pub fn xml(status: StatusCode, body: Body) -> Self {
        // A constant: checked when davd is compiled, never copied (every PROPFIND sets it).
        const XML: HeaderValue = HeaderValue::from_static(XML_CONTENT_TYPE);
        let mut response = Response::new(status);
        response.headers.insert(CONTENT_TYPE, XML);
        response.with_body(body)
    }

    /// An error response with an RFC 4918 `<D:error>` body.
    pub fn condition(status: StatusCode, condition: &Condition) -> Self {
        Response::xml(status, Body::Full(error_body(condition)))
    }

    pub fn with_body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Adds a header. Values that are not valid header text are dropped rather than panicking;
    /// every value we build is ASCII.
    pub fn with_header(mut self, name: HeaderName, value: impl AsRef<str>) -> Self {
        self.set_header(name, value);
        self
    }

    pub fn set_header(&mut self, name: HeaderName, value: impl AsRef<str>) {
        if let Ok(value) = HeaderValue::from_str(value.as_ref()) {
            self.headers.insert(name, value);
        }
    }

    /// [`Response::set_header`] with a value built for it: its bytes become the header's
    /// without a copy (a GET sets four such values, and each copy was an allocation).
    pub fn set_header_owned(&mut self, name: HeaderName, value: String) {
        if let Ok(value) = HeaderValue::try_from(value) {
            self.headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use http::header::ETAG;

    use super::*;

    #[test]
    fn an_owned_value_is_set_as_a_copied_one() {
        for value in [
            "bytes",
            "\"a-b\"",
            "text/plain; charset=utf-8",
            "tab\there",
            "caf\u{e9}",
            "",
        ] {
            let mut copied = Response::new(StatusCode::OK);
            copied.set_header(ETAG, value);
            let mut owned = Response::new(StatusCode::OK);
            owned.set_header_owned(ETAG, value.to_owned());
            assert_eq!(copied.headers, owned.headers, "{value:?}");
        }
        // Not header text: dropped by both alike.
        for value in ["line\nbreak", "del\u{7f}"] {
            let mut copied = Response::new(StatusCode::OK);
            copied.set_header(ETAG, value);
            let mut owned = Response::new(StatusCode::OK);
            owned.set_header_owned(ETAG, value.to_owned());
            assert!(
                copied.headers.is_empty() && owned.headers.is_empty(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn constant_content_types() {
        let xml = Response::xml(StatusCode::OK, Body::Empty);
        assert_eq!(xml.headers[CONTENT_TYPE], XML_CONTENT_TYPE);
        let text = Response::text(StatusCode::OK, "x");
        assert_eq!(text.headers[CONTENT_TYPE], "text/plain; charset=utf-8");
    }
}
