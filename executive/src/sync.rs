//! Collection synchronisation (RFC 6578): what a request tells the change logs, and the tokens
//! a `sync-collection` report hands out and takes back (`methods::report` answers it).
//!
//! A token names a point in a scope's change log (`davd_registry::changes`). A report that had
//! to stop part way through listing every member (its first sync, more members than fit in
//! one answer) also names the last member it reported: `...?last=/docs/m`. The next report
//! lists the members after it, and hands out the plain point it started from once the list is
//! done, so that everything that changed while the client was paging is reported next time.
//! A report that stopped inside one change covering a tree names the point just before that
//! change and the last member of the tree it reported: `...?within=/docs/t/m`.

use std::sync::Arc;

use tracing::error;

use davd_protocol::sync_token::{Place, SyncToken};
use davd_registry::{Change, ChangeKind, PropertyManager, SyncPoint};

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

/// A token a client sent back: a point in a log, and perhaps where an unfinished answer
/// stopped. Its text is wire syntax (`davd_protocol::sync_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub point: SyncPoint,
    pub place: Option<Place>,
}

impl Token {
    /// A token at `point` with nothing left unfinished.
    pub fn at(point: SyncPoint) -> Token {
        Token { point, place: None }
    }

    /// Reads a token davd handed out; `None` for anything else.
    pub fn parse(token: &str) -> Option<Token> {
        let SyncToken { epoch, seq, place } = SyncToken::parse(token)?;
        Some(Token {
            point: SyncPoint { epoch, seq },
            place,
        })
    }

    /// The token's text.
    pub fn render(&self) -> String {
        SyncToken {
            epoch: self.point.epoch.clone(),
            seq: self.point.seq,
            place: self.place.clone(),
        }
        .render()
    }
}

#[cfg(test)]
mod tests {
    use davd_protocol::DavPath;

    use super::*;

    /// The parsing itself is tested with the syntax, in `davd_protocol::sync_token`.
    #[test]
    fn a_token_is_read_back_as_it_was_handed_out() {
        let point = SyncPoint {
            epoch: "5f0c1d2e".into(),
            seq: 42,
        };
        let last = DavPath::parse_url_path("/docs/m").unwrap().0;
        for place in [
            None,
            Some(Place::Listing(last.clone())),
            Some(Place::Change(last)),
        ] {
            let token = Token {
                point: point.clone(),
                place,
            };
            assert_eq!(Token::parse(&token.render()), Some(token));
        }
        assert_eq!(Token::at(point.clone()).render(), point.token());
    }
}
