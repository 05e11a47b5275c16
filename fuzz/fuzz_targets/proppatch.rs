//! PROPPATCH bodies (RFC 4918 §14.19): never panic, and every `Set` value (the fragment davd
//! stores as the dead property and later pastes into multistatus responses) is well-formed XML
//! on its own, parses again under davd's own limits, is named like the property, and means
//! what the element in the request meant.
#![no_main]

use davd_fuzz::{TIGHT_LIMITS, assert_same_meaning};
use davd_protocol::xml::{
    PatchInstruction, XmlLimits, body_text, parse_document, parse_propertyupdate,
};
use libfuzzer_sys::fuzz_target;

const DAV: &str = "DAV:";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = body_text(data) else {
        return;
    };
    let _ = parse_propertyupdate(text, &TIGHT_LIMITS);
    let limits = XmlLimits::default();
    let Ok(instructions) = parse_propertyupdate(text, &limits) else {
        return;
    };
    assert!(!instructions.is_empty());
    // The property elements of the request, in document order, as the parser walks them.
    let doc = parse_document(text, &limits).expect("parsed once already");
    let properties: Vec<_> = doc
        .root_element()
        .children()
        .filter(|a| a.is_element() && a.tag_name().namespace() == Some(DAV))
        .filter(|a| matches!(a.tag_name().name(), "set" | "remove"))
        .flat_map(|a| a.children())
        .filter(|p| p.is_element() && p.tag_name().namespace() == Some(DAV))
        .filter(|p| p.tag_name().name() == "prop")
        .flat_map(|p| p.children())
        .filter(|n| n.is_element())
        .collect();
    assert_eq!(properties.len(), instructions.len());
    for (instruction, original) in instructions.iter().zip(properties) {
        let PatchInstruction::Set { name, value } = instruction else {
            continue;
        };
        let fragment = roxmltree::Document::parse(value)
            .unwrap_or_else(|e| panic!("stored fragment {value:?} is not XML: {e}"));
        let root = fragment.root_element();
        assert_eq!(
            (
                root.tag_name().namespace().unwrap_or(""),
                root.tag_name().name()
            ),
            (&*name.namespace, &*name.local)
        );
        parse_document(value, &limits)
            .unwrap_or_else(|e| panic!("stored fragment {value:?} fails our limits: {e}"));
        assert!(davd_protocol::xml::fragment_text(value).is_some());
        assert_same_meaning(original, root);
    }
});
