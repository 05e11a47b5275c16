//! `Request::parse` on a request head written as text, as it arrives on the wire
//! (`METHOD path HTTP/1.1`, then `Name: value` lines), so that the seeds can be real requests
//! from Windows, Office and litmus and the fuzzer mutates them in place. The `request` target
//! covers the same parser with structured `arbitrary` input.
#![no_main]

use arbitrary::Arbitrary;
use davd_fuzz::check_request;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// Two flag bytes, then the head (any bytes: header values may carry obs-text).
#[derive(Arbitrary, Debug)]
struct Input<'a> {
    tls: bool,
    body_may_exist: bool,
    head: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let mut lines = input
        .head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(request_line) = lines.next() else {
        return;
    };
    // hyper hands over the method and path as text; anything else never reaches the parser.
    let Ok(request_line) = std::str::from_utf8(request_line) else {
        return;
    };
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    check_request(method, path, &headers, input.tls, input.body_may_exist);
});
