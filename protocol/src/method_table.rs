//! The one table of the methods davd implements: each method's name on the wire, whether it
//! changes state, and on what it can be applied. The list sent with a 501, the `Allow` header
//! and the executive's "runs in a task of its own" test are all read from it, so a method is
//! added here once and nowhere else by hand (`docs/extending.md`, "Adding a method").

/// `yes` or `no` in the table.
macro_rules! yes {
    (yes) => {
        true
    };
    (no) => {
        false
    };
}

/// Declares [`MethodKind`] and its table from one list, so that every kind has exactly one
/// row and the rows are in the order of the kinds.
macro_rules! method_table {
    ($( $kind:ident $token:literal $changes:ident $unmapped:ident $collection:ident $document:ident ;)*) => {
        /// A method davd implements, without what its headers said ([`crate::Method`] carries
        /// that).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MethodKind { $($kind),* }

        const TABLE: &[Row] = &[$(Row {
            kind: MethodKind::$kind,
            token: $token,
            changes_state: yes!($changes),
            unmapped: yes!($unmapped),
            collection: yes!($collection),
            document: yes!($document),
        }),*];
    };
}

// ANCHOR: method-table
// Every method, in the order `Allow` lists them. GETLIB comes last on every line: MS-WDVME 2.2.5
// makes it a MUST in `Allow`, and Office detects the Microsoft extensions by it.
#[rustfmt::skip]
method_table! {
    // kind     token        changes  unmapped  collection  document
    Options   "OPTIONS"      no       yes       yes         yes;
    Get       "GET"          no       no        yes         yes;
    Head      "HEAD"         no       no        yes         yes;
    Post      "POST"         yes      no        yes         yes;
    Put       "PUT"          yes      yes       no          yes;
    Delete    "DELETE"       yes      no        yes         yes;
    Mkcol     "MKCOL"        yes      yes       no          no;
    Copy      "COPY"         yes      no        yes         yes;
    Move      "MOVE"         yes      no        yes         yes;
    Propfind  "PROPFIND"     no       no        yes         yes;
    Proppatch "PROPPATCH"    yes      no        yes         yes;
    Lock      "LOCK"         yes      yes       yes         yes;
    Unlock    "UNLOCK"       yes      no        yes         yes;
    Report    "REPORT"       no       no        yes         no;
    Getlib    "GETLIB"       no       yes       yes         yes;
}
// ANCHOR_END: method-table

/// What is mapped at a request's URL, as far as the methods that make sense there go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Nothing: a PUT or MKCOL could create something here.
    Unmapped,
    Collection,
    Document,
}

/// One row of the table.
struct Row {
    kind: MethodKind,
    token: &'static str,
    changes_state: bool,
    unmapped: bool,
    collection: bool,
    document: bool,
}

impl MethodKind {
    /// Every method davd implements, in the order `Allow` lists them.
    pub const ALL: [MethodKind; TABLE.len()] = {
        let mut all = [MethodKind::Options; TABLE.len()];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].kind;
            i += 1;
        }
        all
    };

    const fn row(self) -> &'static Row {
        // The macro writes one row per kind, in the order of the kinds.
        &TABLE[self as usize]
    }

    /// The name on the request line.
    pub const fn token(self) -> &'static str {
        self.row().token
    }

    /// The kind whose name is `token` (case matters: RFC 9110 §9.1).
    pub fn from_token(token: &str) -> Option<MethodKind> {
        TABLE.iter().find(|r| r.token == token).map(|r| r.kind)
    }

    /// True if the method may change what is stored. The executive runs such methods in a
    /// task of their own, so that they finish or roll back even if the client goes away.
    /// (A GET can change state too, when it carries Microsoft's bundled-lock headers: that is
    /// the executive's call, from the headers.)
    pub const fn changes_state(self) -> bool {
        self.row().changes_state
    }

    /// True if the method makes sense on `target`: what `Allow` lists there.
    pub const fn applies_to(self, target: Target) -> bool {
        let row = self.row();
        match target {
            Target::Unmapped => row.unmapped,
            Target::Collection => row.collection,
            Target::Document => row.document,
        }
    }

    /// The value of `Allow` for `target`: the methods that make sense there.
    pub const fn allow(target: Target) -> &'static str {
        match target {
            Target::Unmapped => ALLOW_UNMAPPED,
            Target::Collection => ALLOW_COLLECTION,
            Target::Document => ALLOW_DOCUMENT,
        }
    }
}

/// Every method name davd implements, for `Allow` on a 501.
pub const IMPLEMENTED_METHODS: &str = as_str(&IMPLEMENTED_BYTES);

// The `Allow` values are joined at compile time, so answering with one costs nothing.
const IMPLEMENTED_BYTES: [u8; joined_len(None)] = joined(None);
const ALLOW_UNMAPPED_BYTES: [u8; joined_len(Some(Target::Unmapped))] =
    joined(Some(Target::Unmapped));
const ALLOW_COLLECTION_BYTES: [u8; joined_len(Some(Target::Collection))] =
    joined(Some(Target::Collection));
const ALLOW_DOCUMENT_BYTES: [u8; joined_len(Some(Target::Document))] =
    joined(Some(Target::Document));
const ALLOW_UNMAPPED: &str = as_str(&ALLOW_UNMAPPED_BYTES);
const ALLOW_COLLECTION: &str = as_str(&ALLOW_COLLECTION_BYTES);
const ALLOW_DOCUMENT: &str = as_str(&ALLOW_DOCUMENT_BYTES);

const SEPARATOR: &[u8] = b", ";

const fn listed(row: &Row, target: Option<Target>) -> bool {
    match target {
        None => true,
        Some(target) => row.kind.applies_to(target),
    }
}

/// The length of the tokens listed for `target` (all of them for `None`), joined by ", ".
const fn joined_len(target: Option<Target>) -> usize {
    let (mut len, mut i) = (0, 0);
    while i < TABLE.len() {
        if listed(&TABLE[i], target) {
            if len > 0 {
                len += SEPARATOR.len();
            }
            len += TABLE[i].token.len();
        }
        i += 1;
    }
    len
}

/// The tokens listed for `target`, joined by ", ".
const fn joined<const N: usize>(target: Option<Target>) -> [u8; N] {
    let mut out = [0u8; N];
    let (mut at, mut i) = (0, 0);
    while i < TABLE.len() {
        if listed(&TABLE[i], target) {
            if at > 0 {
                let mut j = 0;
                while j < SEPARATOR.len() {
                    out[at] = SEPARATOR[j];
                    at += 1;
                    j += 1;
                }
            }
            let token = TABLE[i].token.as_bytes();
            let mut j = 0;
            while j < token.len() {
                out[at] = token[j];
                at += 1;
                j += 1;
            }
        }
        i += 1;
    }
    out
}

const fn as_str(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => panic!("a method token that is not ASCII"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_row_in_order() {
        for (i, kind) in MethodKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i, "{kind:?} is out of order in TABLE");
            assert_eq!(MethodKind::from_token(kind.token()), Some(*kind));
        }
        assert_eq!(MethodKind::from_token("get"), None);
        assert_eq!(MethodKind::from_token("BREW"), None);
    }

    #[test]
    fn allow_values_are_the_table_filtered() {
        assert_eq!(
            IMPLEMENTED_METHODS,
            "OPTIONS, GET, HEAD, POST, PUT, DELETE, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK, REPORT, GETLIB"
        );
        assert_eq!(
            MethodKind::allow(Target::Unmapped),
            "OPTIONS, PUT, MKCOL, LOCK, GETLIB"
        );
        for target in [Target::Unmapped, Target::Collection, Target::Document] {
            let listed: Vec<_> = MethodKind::allow(target).split(", ").collect();
            let expected: Vec<_> = MethodKind::ALL
                .iter()
                .filter(|k| k.applies_to(target))
                .map(|k| k.token())
                .collect();
            assert_eq!(listed, expected, "{target:?}");
            assert!(listed.ends_with(&["GETLIB"]), "MS-WDVME 2.2.5");
        }
    }

    #[test]
    fn only_reads_leave_state_alone() {
        let reads: Vec<_> = MethodKind::ALL
            .iter()
            .filter(|k| !k.changes_state())
            .map(|k| k.token())
            .collect();
        assert_eq!(
            reads,
            ["OPTIONS", "GET", "HEAD", "PROPFIND", "REPORT", "GETLIB"]
        );
    }
}
