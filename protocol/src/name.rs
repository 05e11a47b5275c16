//! Property names: a namespace URI and a local name, as RFC 4918 §4.4 defines them.

use std::fmt;

/// The WebDAV namespace.
pub const DAV_NS: &str = "DAV:";

/// A property name `{namespace}local`. The namespace may be empty (RFC 4918 §17 allows it).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PropName {
    pub namespace: String,
    pub local: String,
}

impl PropName {
    pub fn new(namespace: impl Into<String>, local: impl Into<String>) -> Self {
        PropName {
            namespace: namespace.into(),
            local: local.into(),
        }
    }

    /// A name in the `DAV:` namespace.
    pub fn dav(local: &str) -> Self {
        PropName::new(DAV_NS, local)
    }

    pub fn is_dav(&self) -> bool {
        self.namespace == DAV_NS
    }

    /// True for `{ns}local` with exactly these parts (cheap comparison without allocation).
    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.namespace == namespace && self.local == local
    }
}

impl fmt::Debug for PropName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}{}", self.namespace, self.local)
    }
}

impl fmt::Display for PropName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
