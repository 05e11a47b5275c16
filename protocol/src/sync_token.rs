//! RFC 6578 sync tokens as davd writes them and reads them back.
//!
//! A token names a point in a change log, `https://davd.invalid/sync/<epoch>/<seq>`: RFC 6578
//! §6.2 wants a URI, and one under a reserved domain (RFC 2606) is never dereferenced by
//! anyone. An answer that stopped part way also says where (docs/sync.md):
//! - a first sync's listing names the last member it reported, `…?last=/docs/m`, and the next
//!   page goes on after it in walk order;
//! - a change that covers a whole tree (a collection copied in) and did not fit names the
//!   last member of that tree it reported, `…?within=/docs/t/m`: the point is just before
//!   that change, and the next page goes on inside it.
//!
//! Anything else a client sends is not one of davd's tokens, including the `?after=` tokens of
//! davd before 2026-12-06, whose place was in plain path order: read in walk order they could
//! skip a member, so a client holding one starts its sync again.

use crate::DavPath;

/// The start of every sync token davd hands out.
pub const SYNC_TOKEN_PREFIX: &str = "https://davd.invalid/sync/";

/// What introduces the place of an unfinished listing, and of an unfinished change.
const LAST: &str = "?last=";
const WITHIN: &str = "?within=";

/// The parts of a sync token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncToken {
    /// The log's epoch: ASCII letters, digits and `-`.
    pub epoch: String,
    /// The last log entry before the point (0 before the first).
    pub seq: u64,
    /// Where an unfinished answer stopped.
    pub place: Option<Place>,
}

/// Where an unfinished answer stopped: the last member it reported, in walk order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// In a first sync's listing of every member.
    Listing(DavPath),
    /// Inside the tree of the first change after the point.
    Change(DavPath),
}

impl SyncToken {
    /// Reads a token davd handed out; `None` for anything else.
    pub fn parse(token: &str) -> Option<SyncToken> {
        let rest = token.trim().strip_prefix(SYNC_TOKEN_PREFIX)?;
        let (point, place) = match (rest.split_once(LAST), rest.split_once(WITHIN)) {
            (Some((point, href)), None) => (point, Some(Place::Listing(href_path(href)?))),
            (None, Some((point, href))) => (point, Some(Place::Change(href_path(href)?))),
            (None, None) => (rest, None),
            (Some(_), Some(_)) => return None,
        };
        let (epoch, seq) = point.split_once('/')?;
        if !is_epoch(epoch) {
            return None;
        }
        Some(SyncToken {
            epoch: epoch.to_owned(),
            seq: seq.parse().ok()?,
            place,
        })
    }

    /// The token's text.
    pub fn render(&self) -> String {
        let point = point_text(&self.epoch, self.seq);
        match &self.place {
            None => point,
            Some(Place::Listing(last)) => format!("{point}{LAST}{}", last.to_href(false)),
            Some(Place::Change(last)) => format!("{point}{WITHIN}{}", last.to_href(false)),
        }
    }
}

fn href_path(href: &str) -> Option<DavPath> {
    Some(DavPath::parse_url_path(href).ok()?.0)
}

/// The text of the token for a point of a log, without a place in a listing.
pub fn point_text(epoch: &str, seq: u64) -> String {
    format!("{SYNC_TOKEN_PREFIX}{epoch}/{seq}")
}

fn is_epoch(epoch: &str) -> bool {
    !epoch.is_empty()
        && epoch
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(seq: u64, place: Option<Place>) -> SyncToken {
        SyncToken {
            epoch: "5f0c1d2e".into(),
            seq,
            place,
        }
    }

    fn p(href: &str) -> DavPath {
        DavPath::parse_url_path(href).unwrap().0
    }

    #[test]
    fn tokens_round_trip_with_and_without_a_place_in_a_listing() {
        for token in [
            token(0, None),
            token(42, Some(Place::Listing(p("/docs/a%20b/%C3%A9t%C3%A9.txt")))),
            token(43, Some(Place::Change(p("/docs/t/m")))),
        ] {
            let text = token.render();
            assert!(text.starts_with(SYNC_TOKEN_PREFIX), "{text}");
            assert!(!text.contains(' '), "{text}");
            assert_eq!(SyncToken::parse(&text), Some(token));
        }
        assert_eq!(
            point_text("5f0c1d2e", 7),
            "https://davd.invalid/sync/5f0c1d2e/7"
        );
    }

    #[test]
    fn other_tokens_are_not_ours() {
        for text in [
            "",
            "http://example.com/ns/sync/1234",
            "https://davd.invalid/sync/",
            "https://davd.invalid/sync/abc",
            "https://davd.invalid/sync/abc/x",
            "https://davd.invalid/sync/abc/-1",
            "https://davd.invalid/sync//3",
            "https://davd.invalid/sync/a<b/3",
            "https://davd.invalid/sync/abc/3?last=/a/../b",
            "https://davd.invalid/sync/abc/3?after=/a",
            "https://davd.invalid/sync/abc/3?last=/a?within=/b",
        ] {
            assert_eq!(SyncToken::parse(text), None, "{text}");
        }
    }
}
