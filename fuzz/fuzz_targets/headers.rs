//! Every other WebDAV/HTTP header parser, fed the same value: Depth, Overwrite, Timeout,
//! Lock-Token, If-Match/If-None-Match lists, HTTP dates and Destination (against an arbitrary
//! Host). None may panic, and each value that parses renders back to text that parses to the
//! same value.
#![no_main]

use arbitrary::Arbitrary;
use davd_fuzz::render_etag_list;
use davd_protocol::headers::{
    Depth, parse_destination, parse_etag_list, parse_http_date, parse_lock_token, parse_overwrite,
    parse_timeout,
};
use libfuzzer_sys::fuzz_target;

/// One flag byte, then text: the header value, and after a newline the request's Host (so that
/// seeds stay readable: `\0http://127.0.0.1:8080/b\n127.0.0.1:8080`).
#[derive(Arbitrary, Debug)]
struct Input<'a> {
    tls: bool,
    text: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let (value, host) = match input.text.split_once('\n') {
        Some((value, host)) => (value, Some(host)),
        None => (input.text, None),
    };

    if let Ok(depth) = Depth::parse(value) {
        assert_eq!(Depth::parse(depth.as_str()), Ok(depth));
    }

    let _ = parse_overwrite(value);

    if let Ok(timeout) = parse_timeout(value) {
        assert_eq!(parse_timeout(&timeout.to_header()), Ok(timeout));
    }

    if let Ok(token) = parse_lock_token(value) {
        assert!(!token.is_empty());
        assert_eq!(parse_lock_token(&format!("<{token}>")), Ok(token.clone()));
        assert_eq!(parse_lock_token(&token), Ok(token));
    }

    for header in ["If-Match", "If-None-Match"] {
        if let Ok(list) = parse_etag_list(header, value) {
            let rendered = render_etag_list(&list);
            assert_eq!(
                parse_etag_list(header, &rendered),
                Ok(list),
                "{value:?} -> {rendered:?}"
            );
        }
    }

    if let Some(time) = parse_http_date(value) {
        let rendered = httpdate::fmt_http_date(time);
        assert_eq!(parse_http_date(&rendered), Some(time), "{value:?}");
    }

    let port = if input.tls { 443 } else { 80 };
    if let Ok(dest) = parse_destination(value, host, port) {
        // The href of what was parsed names the same path when sent back as a Destination.
        // The root's trailing slash is not compared: `//` sets it, `/` does not, and the href
        // of the root is always `/` (nothing reads the flag for the root).
        let href = dest.path.to_href(dest.trailing_slash);
        let again = parse_destination(&href, host, port)
            .unwrap_or_else(|e| panic!("{value:?} parsed, its href {href:?} did not: {e}"));
        assert_eq!(again.path, dest.path, "{value:?} -> {href:?}");
        if !dest.path.is_root() {
            assert_eq!(again.trailing_slash, dest.trailing_slash, "{value:?}");
        }
    }
});
