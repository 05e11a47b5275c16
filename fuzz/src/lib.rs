//! Helpers shared by the fuzz targets. The renderers and the comparison of XML elements by
//! meaning come from `davd_protocol::testing` (its `testing` feature), which the protocol
//! crate's property tests use too.

use davd_protocol::{DavPath, Method, Request, RequestHead};
use http::{HeaderMap, StatusCode};
use roxmltree::Node;

/// Turns a fuzzer's bytes into text the way a server would see them if they were valid UTF-8,
/// and otherwise lossily, so that non-UTF-8 inputs still exercise the parser.
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

pub use davd_protocol::testing::{render_etag_list, render_if};

/// Panics with a description if `copy` (the reparsed fragment's root) does not mean what
/// `original` meant (`davd_protocol::testing::same_meaning`).
pub fn assert_same_meaning(original: Node<'_, '_>, copy: Node<'_, '_>) {
    if let Err(difference) = davd_protocol::testing::same_meaning(original, copy) {
        panic!("the fragment does not mean what the element meant: {difference}");
    }
}

/// Small limits, so that the fuzzers reach the node and depth refusals with short inputs.
pub const TIGHT_LIMITS: davd_protocol::xml::XmlLimits = davd_protocol::xml::XmlLimits {
    max_bytes: 4096,
    max_nodes: 64,
    max_depth: 6,
};

/// Runs `Request::parse` on one request head and checks what it returns: a refusal carries
/// one of the statuses the protocol layer may produce; an accepted request names the method
/// and path that were sent, and its paths' hrefs parse again.
pub fn check_request(
    method: &str,
    path: &str,
    headers: &HeaderMap,
    tls: bool,
    body_may_exist: bool,
) {
    let result = Request::parse(RequestHead {
        method,
        path,
        headers,
        default_port: if tls { 443 } else { 80 },
        body_may_exist,
    });
    let request = match result {
        Ok(request) => request,
        Err(error) => {
            let status = error.status();
            assert!(
                [
                    StatusCode::BAD_REQUEST,
                    StatusCode::NOT_IMPLEMENTED,
                    StatusCode::BAD_GATEWAY,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    StatusCode::PAYLOAD_TOO_LARGE,
                ]
                .contains(&status),
                "{error:?}"
            );
            let _ = error.to_string();
            return;
        }
    };
    // A PROPFIND carrying `MS-Doclib` is a GETLIB (MS-WDVME 3.2.5.3.2).
    let expected = match method {
        "PROPFIND" if headers.contains_key("ms-doclib") => "GETLIB",
        other => other,
    };
    assert_eq!(request.method.name(), expected);
    assert_eq!(
        DavPath::parse_url_path(path).map(|(p, _)| p).as_ref(),
        Ok(&request.path)
    );
    let href = request.path.to_href(request.trailing_slash);
    assert_eq!(
        DavPath::parse_url_path(&href).map(|(p, _)| p),
        Ok(request.path.clone())
    );
    if let Method::Copy { destination, .. } | Method::Move { destination, .. } = &request.method {
        let dest_href = destination.path.to_href(destination.trailing_slash);
        assert!(DavPath::parse_url_path(&dest_href).is_ok());
    }
    if request.body.length.is_some_and(|n| n > 0) {
        assert!(request.body.present);
    }
}
