//! The `ETag` and `Last-Modified` headers of a response, as header values this thread made
//! last.
//!
//! Both are functions of the resource's entity tag and modification time alone, so a value
//! made for the same two can never be wrong. Quoting the tag into a header value and
//! formatting the date took about 1,000 of a small GET's 23,600 instructions
//! (docs/performance.md); a client reading the same files again and again (a browser, a sync
//! client checking, an editor polling) asks for the same values each time. Each thread keeps
//! the last few it made, so no lock is shared.

use std::cell::RefCell;
use std::time::SystemTime;

use http::HeaderValue;
use http::header::{ETAG, LAST_MODIFIED};

use davd_protocol::Response;
use davd_registry::ResourceMeta;

/// Values kept per thread, replaced in turn.
const KEPT: usize = 8;

struct Made {
    etag: String,
    modified: SystemTime,
    quoted: HeaderValue,
    date: HeaderValue,
}

#[derive(Default)]
struct Recent {
    made: Vec<Made>,
    next: usize,
}

thread_local! {
    static RECENT: RefCell<Recent> = RefCell::new(Recent::default());
}

/// Adds the headers every GET/HEAD/304 of a resource carries: `ETag` and `Last-Modified`.
pub fn add(response: &mut Response, meta: &ResourceMeta) {
    match headers_for(&meta.etag, meta.modified) {
        Some((etag, date)) => {
            response.headers.insert(ETAG, etag);
            response.headers.insert(LAST_MODIFIED, date);
        }
        None => {
            response.set_header_owned(LAST_MODIFIED, davd_protocol::date::http_date(meta.modified))
        }
    }
}

/// Adds the `ETag` header for the entity tag `etag` (unquoted, as stored).
pub fn set_etag(response: &mut Response, etag: &str) {
    if let Some(quoted) = quoted(etag) {
        response.headers.insert(ETAG, quoted);
    }
}

/// The `ETag` value for the entity tag `etag` (unquoted, as stored) and the `Last-Modified`
/// value for `modified`; `None` for a tag that cannot be a header value.
pub fn headers_for(etag: &str, modified: SystemTime) -> Option<(HeaderValue, HeaderValue)> {
    let found = RECENT.with_borrow(|recent| {
        recent
            .made
            .iter()
            .find(|m| m.modified == modified && m.etag == etag)
            .map(|m| (m.quoted.clone(), m.date.clone()))
    });
    if found.is_some() {
        return found;
    }
    let quoted = quoted(etag)?;
    let date = HeaderValue::try_from(davd_protocol::date::http_date(modified)).ok()?;
    RECENT.with_borrow_mut(|recent| {
        let made = Made {
            etag: etag.to_owned(),
            modified,
            quoted: quoted.clone(),
            date: date.clone(),
        };
        let slot = recent.next;
        recent.next = (slot + 1) % KEPT;
        match recent.made.get_mut(slot) {
            Some(old) => *old = made,
            None => recent.made.push(made),
        }
    });
    Some((quoted, date))
}

/// `etag` between double quotes, as a header value.
fn quoted(etag: &str) -> Option<HeaderValue> {
    // Quoted by hand: through `format!` this was as costly as the lookup of the header.
    let mut quoted = String::with_capacity(etag.len() + 2);
    quoted.push('"');
    quoted.push_str(etag);
    quoted.push('"');
    HeaderValue::try_from(quoted).ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn values_are_made_for_their_tag_and_time_only() {
        let (etag, date) = headers_for("a-1", at(784_111_777)).unwrap();
        assert_eq!(etag, "\"a-1\"");
        assert_eq!(date, "Sun, 06 Nov 1994 08:49:37 GMT");
        // Asked again, the same; another tag or another time, their own.
        assert_eq!(headers_for("a-1", at(784_111_777)).unwrap().0, "\"a-1\"");
        let (other, same_date) = headers_for("a-2", at(784_111_777)).unwrap();
        assert_eq!(other, "\"a-2\"");
        assert_eq!(same_date, "Sun, 06 Nov 1994 08:49:37 GMT");
        let (same_tag, later) = headers_for("a-1", at(784_111_778)).unwrap();
        assert_eq!(same_tag, "\"a-1\"");
        assert_eq!(later, "Sun, 06 Nov 1994 08:49:38 GMT");
    }

    #[test]
    fn more_values_than_kept_are_still_right() {
        for round in 0..3 {
            for i in 0..(KEPT as u64 * 2) {
                let tag = format!("t{i}");
                let (etag, date) = headers_for(&tag, at(1_000_000 + i)).unwrap();
                assert_eq!(etag, format!("\"t{i}\"").as_str(), "round {round}");
                assert_eq!(
                    date,
                    davd_protocol::date::http_date(at(1_000_000 + i)).as_str()
                );
            }
        }
    }

    #[test]
    fn a_tag_that_cannot_be_a_header_value_is_refused() {
        assert!(headers_for("a\nb", at(1)).is_none());
        assert!(quoted("a\rb").is_none());
    }
}
