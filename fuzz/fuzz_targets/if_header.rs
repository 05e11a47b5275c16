//! The `If` header (RFC 4918 §10.4): never panics, and whatever parses survives
//! render -> parse unchanged (so the parser keeps every list, tag and condition it accepted).
#![no_main]

use davd_fuzz::{render_if, text};
use davd_protocol::headers::parse_if;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let value = text(data);
    let Ok(header) = parse_if(&value) else {
        return;
    };
    assert!(!header.lists.is_empty(), "an accepted If header has a list");
    assert!(header.lists.iter().all(|l| !l.conditions.is_empty()));
    // No count limit (the header is bounded by its size, issue 16), but every condition
    // takes at least three bytes of the header (`<t>`, `[""]`, more with `Not`).
    let conditions: usize = header.lists.iter().map(|l| l.conditions.len()).sum();
    assert!(conditions * 3 <= value.len(), "{conditions} conditions in {} bytes", value.len());
    // Tagged and untagged lists are never mixed.
    let tagged = header.lists.iter().filter(|l| l.resource.is_some()).count();
    assert!(tagged == 0 || tagged == header.lists.len());

    let rendered = render_if(&header);
    let again = parse_if(&rendered)
        .unwrap_or_else(|e| panic!("{value:?} parsed, but its rendering {rendered:?}: {e}"));
    assert_eq!(header, again, "render -> parse changed {value:?}");
});
