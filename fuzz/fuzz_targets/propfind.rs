//! PROPFIND bodies (RFC 4918 §14.20) parsed under the default limits and under tight ones:
//! never panic, and every property name returned has a local name.
#![no_main]

use davd_protocol::xml::{PropfindBody, XmlLimits, body_text, parse_propfind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = body_text(data) else {
        return;
    };
    for limits in [XmlLimits::default(), davd_fuzz::TIGHT_LIMITS] {
        match parse_propfind(text, &limits) {
            Ok(PropfindBody::AllProp { include: names }) | Ok(PropfindBody::Prop(names)) => {
                assert!(names.iter().all(|n| !n.local.is_empty()));
            }
            Ok(PropfindBody::PropName) | Err(_) => {}
        }
    }
});
