//! `Range` (RFC 7233) and `Content-Range` on PUT: never panic, never produce a range whose
//! arithmetic overflows, and resolve only to ranges inside the representation.
#![no_main]

use arbitrary::Arbitrary;
use davd_protocol::headers::{ContentRange, RangeRequest, parse_range};
use libfuzzer_sys::fuzz_target;

/// Numbers first and the free text last (it takes the rest of the input, so a seed is a fixed
/// binary prefix followed by a readable header value).
#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Numbers, to exercise the arithmetic: most of the free text never reaches large ones.
    a: u64,
    b: u64,
    c: Option<u64>,
    /// The representation length a Range is resolved against.
    len: u64,
    /// Free text, to exercise the syntax.
    value: &'a str,
}

fn check_range(value: &str, len: u64) {
    let Ok(Some(request)) = parse_range(value) else {
        return;
    };
    if let RangeRequest::FromTo {
        start,
        end: Some(end),
    } = request
    {
        assert!(start <= end, "{value:?}");
    }
    if let Some(range) = request.resolve(len) {
        assert!(range.start <= range.end, "{value:?} on {len}: {range:?}");
        assert!(range.end < len, "{value:?} on {len}: {range:?}");
        assert!(range.len() <= len);
    }
}

fn check_content_range(value: &str) {
    let Ok(range) = ContentRange::parse(value) else {
        return;
    };
    assert!(range.first <= range.last, "{value:?}");
    if let Some(total) = range.total {
        assert!(range.last < total, "{value:?}");
    }
    // Must not overflow: this is what the PUT handler compares with Content-Length.
    assert_eq!(range.len(), range.last - range.first + 1);
    let total = range.total.map_or("*".to_owned(), |t| t.to_string());
    let rendered = format!("bytes {}-{}/{total}", range.first, range.last);
    assert_eq!(ContentRange::parse(&rendered), Ok(range));
}

fuzz_target!(|input: Input<'_>| {
    check_range(input.value, input.len);
    check_content_range(input.value);

    let (a, b) = (input.a, input.b);
    for value in [
        format!("bytes={a}-{b}"),
        format!("bytes={a}-"),
        format!("bytes=-{a}"),
    ] {
        check_range(&value, input.len);
    }
    let total = input.c.map_or("*".to_owned(), |c| c.to_string());
    check_content_range(&format!("bytes {a}-{b}/{total}"));
});
