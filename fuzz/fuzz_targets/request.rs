//! `Request::parse` with an arbitrary method, path and headers: never panics, refuses with one
//! of the statuses the protocol layer is allowed to produce, and what it accepts is consistent
//! with what was sent.
#![no_main]

use arbitrary::Arbitrary;
use davd_fuzz::check_request;
use davd_protocol::IMPLEMENTED_METHODS;
use davd_protocol::testing::REQUEST_HEADERS;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum MethodName<'a> {
    Known(u8),
    Other(&'a str),
}

/// The headers `Request::parse` reads, so that most inputs exercise a parser rather than be
/// ignored, plus any other name.
#[derive(Arbitrary, Debug)]
enum Name<'a> {
    Known(u8),
    Other(&'a str),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: MethodName<'a>,
    path: &'a str,
    headers: Vec<(Name<'a>, &'a [u8])>,
    tls: bool,
    body_may_exist: bool,
}

fuzz_target!(|input: Input<'_>| {
    let method = match input.method {
        MethodName::Known(i) => {
            let known: Vec<&str> = IMPLEMENTED_METHODS.split(", ").collect();
            known[usize::from(i) % known.len()]
        }
        MethodName::Other(s) => s,
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        let name = match name {
            Name::Known(i) => {
                HeaderName::from_static(REQUEST_HEADERS[usize::from(*i) % REQUEST_HEADERS.len()])
            }
            // Names and values http would refuse never reach the parser (hyper refuses them
            // first), so they are skipped rather than reported.
            Name::Other(s) => match HeaderName::from_bytes(s.as_bytes()) {
                Ok(name) => name,
                Err(_) => continue,
            },
        };
        let Ok(value) = HeaderValue::from_bytes(value) else {
            continue;
        };
        headers.append(name, value);
    }
    check_request(
        method,
        input.path,
        &headers,
        input.tls,
        input.body_may_exist,
    );
});
