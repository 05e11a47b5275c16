//! The `If` header (RFC 4918 §10.4): never panics, and whatever parses survives
//! render -> parse unchanged (so the parser keeps every list, tag and condition it accepted).
#![no_main]

use davd_fuzz::{render_if, text};
use davd_protocol::headers::parse_if;
use libfuzzer_sys::fuzz_target;

/// The parser's own bound on conditions (`MAX_IF_CONDITIONS`, private to the crate).
const MAX_IF_CONDITIONS: usize = 256;

fuzz_target!(|data: &[u8]| {
    let value = text(data);
    let Ok(header) = parse_if(&value) else {
        return;
    };
    assert!(!header.lists.is_empty(), "an accepted If header has a list");
    assert!(header.lists.iter().all(|l| !l.conditions.is_empty()));
    let conditions: usize = header.lists.iter().map(|l| l.conditions.len()).sum();
    assert!(conditions <= MAX_IF_CONDITIONS);
    // Tagged and untagged lists are never mixed.
    let tagged = header.lists.iter().filter(|l| l.resource.is_some()).count();
    assert!(tagged == 0 || tagged == header.lists.len());

    let rendered = render_if(&header);
    let again = parse_if(&rendered)
        .unwrap_or_else(|e| panic!("{value:?} parsed, but its rendering {rendered:?}: {e}"));
    assert_eq!(header, again, "render -> parse changed {value:?}");
});
