//! The PROPFIND bodies parsed last on this thread, kept with what they parsed to.
//!
//! Clients send the same PROPFIND body again and again: Windows and Finder one per folder they
//! show, sync clients one per file they check. Parsing it (roxmltree builds a document for it)
//! was almost half of what davd's own code does for a Depth 0 PROPFIND. Parsing is a function
//! of the text and the limits alone, so an answer found here is the answer parsing would give.
//! Each thread that runs requests (a connection thread, ADR 0016) keeps its own few, so no lock
//! is shared. The cache is the executive's: the protocol layer only parses, and knows nothing
//! of the threads it is called on.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;

use davd_protocol::xml::{PropfindBody, XmlError, XmlLimits, parse_propfind};

/// Bodies remembered per thread.
const REMEMBERED: usize = 8;
/// Longer bodies are parsed every time: the common ones are a few hundred bytes, and this
/// bounds what a thread keeps to a few tens of KiB.
const LONGEST_REMEMBERED: usize = 4 * 1024;

thread_local! {
    static RECENT: RefCell<VecDeque<(String, XmlLimits, Arc<PropfindBody>)>> =
        const { RefCell::new(VecDeque::new()) };
}

/// [`parse_propfind`], answered from the bodies this thread parsed last when `text` is one of
/// them (under the same limits). Errors are not remembered.
pub fn parse_propfind_recent(
    text: &str,
    limits: &XmlLimits,
) -> Result<Arc<PropfindBody>, XmlError> {
    if text.len() > LONGEST_REMEMBERED {
        return parse_propfind(text, limits).map(Arc::new);
    }
    let found = RECENT.with_borrow_mut(|recent| {
        let at = recent
            .iter()
            .position(|(t, l, _)| t == text && l == limits)?;
        // Move it to the front: the least recently used is the one that falls out.
        let entry = recent.remove(at)?;
        let parsed = entry.2.clone();
        recent.push_front(entry);
        Some(parsed)
    });
    if let Some(parsed) = found {
        return Ok(parsed);
    }
    let parsed = Arc::new(parse_propfind(text, limits)?);
    RECENT.with_borrow_mut(|recent| {
        recent.truncate(REMEMBERED - 1);
        recent.push_front((text.to_owned(), *limits, parsed.clone()));
    });
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use davd_protocol::PropName;

    const FOUR: &str =
        r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>"#;

    #[test]
    fn a_body_seen_before_is_answered_from_memory() {
        let limits = XmlLimits::default();
        let first = parse_propfind_recent(FOUR, &limits).unwrap();
        let again = parse_propfind_recent(FOUR, &limits).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(
            *again,
            PropfindBody::Prop(vec![
                PropName::dav("getetag"),
                PropName::dav("resourcetype")
            ])
        );
    }

    #[test]
    fn other_limits_parse_again_and_keep_their_own_errors() {
        let roomy = XmlLimits::default();
        assert!(parse_propfind_recent(FOUR, &roomy).is_ok());
        let tight = XmlLimits {
            max_nodes: 3,
            ..roomy
        };
        assert!(
            parse_propfind_recent(FOUR, &tight).is_err(),
            "the body remembered under other limits was used"
        );
        assert!(parse_propfind_recent(FOUR, &tight).is_err());
    }

    #[test]
    fn the_least_recently_used_falls_out() {
        let limits = XmlLimits::default();
        RECENT.with_borrow_mut(VecDeque::clear);
        let body = |n: usize| {
            format!(r#"<D:propfind xmlns:D="DAV:"><D:prop><x{n} xmlns="u"/></D:prop></D:propfind>"#)
        };
        let remembered = |n: usize| RECENT.with_borrow(|r| r.iter().any(|(t, _, _)| *t == body(n)));
        for n in 0..REMEMBERED {
            parse_propfind_recent(&body(n), &limits).unwrap();
        }
        // Asked for again, body 0 becomes the most recent; a new body then pushes out body 1.
        parse_propfind_recent(&body(0), &limits).unwrap();
        parse_propfind_recent(&body(REMEMBERED), &limits).unwrap();
        assert!(remembered(0));
        assert!(!remembered(1));
        assert!(remembered(REMEMBERED));
        assert_eq!(RECENT.with_borrow(VecDeque::len), REMEMBERED);
    }

    #[test]
    fn long_bodies_and_errors_are_not_kept() {
        let limits = XmlLimits::default();
        RECENT.with_borrow_mut(VecDeque::clear);
        let long = format!(
            r#"<D:propfind xmlns:D="DAV:"><!--{}--><D:allprop/></D:propfind>"#,
            "x".repeat(LONGEST_REMEMBERED)
        );
        assert!(parse_propfind_recent(&long, &limits).is_ok());
        assert!(parse_propfind_recent("<not-closed>", &limits).is_err());
        assert_eq!(RECENT.with_borrow(|r| r.len()), 0);
    }
}

/// Whatever the body, the remembered answer is the parsed one, the first time and after.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Pieces of PROPFIND bodies, so that generated texts parse as often as they fail.
    const PIECES: &[&str] = &[
        r#"<D:propfind xmlns:D="DAV:">"#,
        "</D:propfind>",
        "<D:prop>",
        "</D:prop>",
        "<D:allprop/>",
        "<D:propname/>",
        "<D:include>",
        "</D:include>",
        "<D:getetag/>",
        r#"<x:a xmlns:x="urn:x"/>"#,
        r#"<b xmlns="urn:b">t</b>"#,
        "<!--c-->",
        " ",
        "&amp;",
        "<",
    ];

    fn body() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(PIECES), 0..12)
            .prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn remembered_answers_are_parsed_answers(text in body()) {
            let limits = XmlLimits::default();
            let parsed = parse_propfind(&text, &limits);
            for _ in 0..2 {
                let recent = parse_propfind_recent(&text, &limits);
                match (&parsed, &recent) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, &**b),
                    (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                    _ => prop_assert!(false, "{text:?}: {parsed:?} against {recent:?}"),
                }
            }
        }
    }
}
