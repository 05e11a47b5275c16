//! LOCK bodies (RFC 4918 §14.11): never panic, and the stored `owner` (returned verbatim in
//! every lock discovery) is a well-formed `{DAV:}owner` element on its own.
#![no_main]

use davd_fuzz::TIGHT_LIMITS;
use davd_protocol::xml::{XmlLimits, body_text, parse_document, parse_lockinfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = body_text(data) else {
        return;
    };
    let _ = parse_lockinfo(text, &TIGHT_LIMITS);
    let limits = XmlLimits::default();
    let Ok(info) = parse_lockinfo(text, &limits) else {
        return;
    };
    if let Some(owner) = &info.owner {
        let doc = parse_document(owner, &limits)
            .unwrap_or_else(|e| panic!("stored owner {owner:?} is not XML: {e}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().namespace(), Some("DAV:"));
        assert_eq!(root.tag_name().name(), "owner");
    }
});
