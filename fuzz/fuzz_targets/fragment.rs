//! `serialize_element` on every element of an arbitrary document: the fragment parses on its
//! own, means the same (names, namespaces, attributes, text, language in force), and
//! serialising it again reaches a fixed point.
#![no_main]

use davd_fuzz::assert_same_meaning;
use davd_protocol::xml::{XmlLimits, body_text, parse_document, serialize_element};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = body_text(data) else {
        return;
    };
    let Ok(doc) = parse_document(text, &XmlLimits::default()) else {
        return;
    };
    // Bounded so that one wide document does not make an iteration slow (the serialisation of
    // each element is linear in its size).
    for element in doc.descendants().filter(|n| n.is_element()).take(32) {
        let fragment = serialize_element(element);
        let copy = roxmltree::Document::parse(&fragment)
            .unwrap_or_else(|e| panic!("{fragment:?} is not XML: {e}"));
        assert_same_meaning(element, copy.root_element());
        // The spelling may change once (an empty CDATA section leaves an empty text node,
        // written as `<a></a>`, which reparses as `<a/>`), then it is stable.
        let again = serialize_element(copy.root_element());
        let copy = roxmltree::Document::parse(&again).expect("reparses");
        assert_eq!(serialize_element(copy.root_element()), again);
    }
});
