//! One pass over a request's headers, before [`crate::method::Request::parse`] reads them.
//!
//! Asking the `HeaderMap` for a name hashes the name and probes the table, about 150
//! instructions a lookup. Every request's parse reads the same handful of headers (Depth, the
//! body's Content-Length and Content-Type, Accept, User-Agent...), and most requests carry
//! none of the conditional, Microsoft and origin headers: looked up one by one, they were
//! eleven lookups and 2,000 instructions of every GET. A request carries a few headers, so
//! walking them once and sorting each into its slot by name costs less than one lookup.

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::headers::MsHeaders;

/// RFC 4918's `If` header.
pub(crate) const IF: HeaderName = HeaderName::from_static("if");

/// Every header `parse_conditions` reads (kept in step with it; a test checks each).
pub(crate) const CONDITION_NAMES: [HeaderName; 5] = [
    IF,
    IF_MATCH,
    IF_NONE_MATCH,
    IF_MODIFIED_SINCE,
    IF_UNMODIFIED_SINCE,
];

/// Looked up by `HeaderName`: a `&str` name is parsed and checked again on every lookup.
pub(crate) const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// What one pass over the headers found. A slot holds the header's first value, the one
/// `HeaderMap::get` answers.
#[derive(Debug, Default)]
pub(crate) struct HeaderScan<'h> {
    pub depth: Option<&'h HeaderValue>,
    pub content_length: Option<&'h HeaderValue>,
    pub content_type: Option<&'h HeaderValue>,
    pub accept: Option<&'h HeaderValue>,
    pub user_agent: Option<&'h HeaderValue>,
    /// `Transfer-Encoding` is present (a chunked body).
    pub transfer_encoding: bool,
    /// One of the `Expect` values is `100-continue`.
    pub expect_continue: bool,
    /// `MS-Doclib` is present, even empty: a PROPFIND carrying it is GETLIB (MS-WDVME).
    pub ms_doclib: bool,
    /// One of [`CONDITION_NAMES`].
    pub conditions: bool,
    /// One of [`MsHeaders::NAMES`].
    pub ms: bool,
    /// `Origin` or `Sec-Fetch-Site`, without which a request is not cross-site.
    pub origin: bool,
}

impl<'h> HeaderScan<'h> {
    pub fn of(headers: &'h HeaderMap) -> HeaderScan<'h> {
        let mut scan = HeaderScan::default();
        // `iter` yields each name's values in order, so the first seen is the first value.
        for (name, value) in headers.iter() {
            match name.as_str() {
                "depth" => first(&mut scan.depth, value),
                "content-length" => first(&mut scan.content_length, value),
                "content-type" => first(&mut scan.content_type, value),
                "accept" => first(&mut scan.accept, value),
                "user-agent" => first(&mut scan.user_agent, value),
                "transfer-encoding" => scan.transfer_encoding = true,
                "expect" => {
                    scan.expect_continue |= value.as_bytes().eq_ignore_ascii_case(b"100-continue")
                }
                "ms-doclib" => scan.ms_doclib = true,
                "origin" | "sec-fetch-site" => scan.origin = true,
                // Every request carries it; the parse asks the map for it when it needs it
                // (a Destination, an Origin).
                "host" => {}
                _ => {
                    scan.conditions |= CONDITION_NAMES.contains(name);
                    scan.ms |= MsHeaders::NAMES.contains(name);
                }
            }
        }
        scan
    }
}

fn first<'h>(slot: &mut Option<&'h HeaderValue>, value: &'h HeaderValue) {
    slot.get_or_insert(value);
}

#[cfg(test)]
mod tests {
    use http::header::{
        ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, EXPECT, ORIGIN, TRANSFER_ENCODING, USER_AGENT,
    };

    use super::*;
    use crate::headers::ms::names::MS_DOCLIB;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        headers
    }

    /// Each slot answers what asking the map for its name answers, repeated headers included.
    #[test]
    fn slots_hold_what_the_map_answers() {
        let headers = map(&[
            ("depth", "0"),
            ("depth", "1"),
            ("content-type", "text/xml"),
            ("content-length", "12"),
            ("user-agent", "cadaver/0.24"),
            ("accept", "text/html"),
            ("accept", "*/*"),
            ("host", "localhost"),
        ]);
        let scan = HeaderScan::of(&headers);
        let name = HeaderName::from_static("depth");
        assert_eq!(scan.depth, headers.get(&name));
        assert_eq!(scan.depth.unwrap(), "0");
        assert_eq!(scan.content_type, headers.get(CONTENT_TYPE));
        assert_eq!(scan.content_length, headers.get(CONTENT_LENGTH));
        assert_eq!(scan.user_agent, headers.get(USER_AGENT));
        assert_eq!(scan.accept, headers.get(ACCEPT));
        assert!(!scan.transfer_encoding && !scan.expect_continue && !scan.ms_doclib);
        assert!(!scan.conditions && !scan.ms && !scan.origin);
        let none = HeaderMap::new();
        let empty = HeaderScan::of(&none);
        assert!(empty.depth.is_none() && empty.accept.is_none());
    }

    #[test]
    fn groups_and_flags_are_found_wherever_they_are() {
        let headers = map(&[
            ("expect", "100-Continue"),
            ("expect", "something-else"),
            ("transfer-encoding", "chunked"),
            ("ms-doclib", ""),
            ("sec-fetch-site", "same-origin"),
            ("if-none-match", "*"),
            ("translate", "f"),
        ]);
        let scan = HeaderScan::of(&headers);
        assert!(
            scan.expect_continue,
            "any Expect value may ask for 100-continue"
        );
        assert!(scan.transfer_encoding && headers.contains_key(TRANSFER_ENCODING));
        assert!(scan.ms_doclib && headers.contains_key(MS_DOCLIB));
        assert!(scan.origin && scan.conditions && scan.ms);
        assert!(HeaderScan::of(&map(&[("origin", "null")])).origin);
        assert!(headers.get_all(EXPECT).iter().count() == 2 && !headers.contains_key(ORIGIN));
        assert!(HeaderScan::of(&map(&[("if", "(<urn:x>)")])).conditions);
        assert!(!HeaderScan::of(&map(&[("expect", "nothing")])).expect_continue);
    }
}
