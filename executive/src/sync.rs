//! Collection synchronisation (RFC 6578): what a request tells the change logs, and the tokens
//! a `sync-collection` report hands out and takes back (`methods::report` answers it).
//!
//! A token names a point in a scope's change log (`davd_registry::changes`). A report that had
//! to stop part way through listing every member (its first sync, more members than fit in
//! one answer) also names the last member it reported: `...?after=/docs/m`. The next report
//! lists the members after it, and hands out the plain point it started from once the list is
//! done, so that everything that changed while the client was paging is reported next time.

use std::sync::Arc;

use tracing::error;

use davd_protocol::DavPath;
use davd_registry::{Change, ChangeKind, PropertyManager, SYNC_TOKEN_PREFIX, SyncPoint};

/// Appends what a committed queue changed to the change log of each store it names, in the
/// order the queue declared it. A log that cannot be written is reported, not fatal: the
/// change itself is made and acknowledged, and only a syncing client is left behind, until the
/// path changes again or the log's epoch moves on.
pub async fn record(changes: Vec<(Arc<dyn PropertyManager>, Change)>) {
    let mut rest = changes;
    while let Some((store, _)) = rest.first() {
        let store = store.clone();
        let (mine, others): (Vec<_>, Vec<_>) = rest
            .into_iter()
            .partition(|(other, _)| Arc::ptr_eq(other, &store));
        rest = others;
        let Some(log) = store.change_log() else {
            continue;
        };
        let batch: Vec<Change> = mine.into_iter().map(|(_, change)| change).collect();
        if let Err(e) = log.record(&batch).await {
            error!(
                error = %e,
                path = %batch[0].path,
                "a change was made but not written to the change log: sync clients miss it"
            );
        }
    }
}

/// What a change to `path` is logged as: a collection stands for its whole tree.
pub fn kind(collection: bool) -> ChangeKind {
    match collection {
        true => ChangeKind::Tree,
        false => ChangeKind::Resource,
    }
}

/// A token a client sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub point: SyncPoint,
    /// The last member an unfinished listing reported.
    pub after: Option<DavPath>,
}

impl Token {
    /// Reads a token davd handed out; `None` for anything else.
    pub fn parse(token: &str) -> Option<Token> {
        let rest = token.trim().strip_prefix(SYNC_TOKEN_PREFIX)?;
        let (point, after) = match rest.split_once("?after=") {
            Some((point, after)) => (point, Some(after)),
            None => (rest, None),
        };
        let (epoch, seq) = point.split_once('/')?;
        if epoch.is_empty()
            || !epoch
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
        let point = SyncPoint {
            epoch: epoch.to_owned(),
            seq: seq.parse().ok()?,
        };
        let after = match after {
            Some(href) => Some(DavPath::parse_url_path(href).ok()?.0),
            None => None,
        };
        Some(Token { point, after })
    }

    /// The token's text.
    pub fn render(&self) -> String {
        match &self.after {
            None => self.point.token(),
            Some(after) => format!("{}?after={}", self.point.token(), after.to_href(false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(seq: u64) -> SyncPoint {
        SyncPoint {
            epoch: "5f0c1d2e".into(),
            seq,
        }
    }

    #[test]
    fn tokens_round_trip_with_and_without_a_place_in_a_listing() {
        let after = DavPath::parse_url_path("/docs/a%20b/%C3%A9t%C3%A9.txt")
            .unwrap()
            .0;
        for token in [
            Token {
                point: point(0),
                after: None,
            },
            Token {
                point: point(42),
                after: Some(after),
            },
        ] {
            let text = token.render();
            assert!(text.starts_with(SYNC_TOKEN_PREFIX), "{text}");
            assert!(!text.contains(' '), "{text}");
            assert_eq!(Token::parse(&text), Some(token));
        }
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
            "https://davd.invalid/sync/abc/3?after=/a/../b",
        ] {
            assert_eq!(Token::parse(text), None, "{text}");
        }
    }
}
