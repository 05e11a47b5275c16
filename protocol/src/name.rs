//! Property names: a namespace URI and a local name, as RFC 4918 §4.4 defines them.

use std::borrow::Cow;
use std::fmt;

/// The WebDAV namespace.
pub const DAV_NS: &str = "DAV:";

/// A property name `{namespace}local`. The namespace may be empty (RFC 4918 §17 allows it).
///
/// The parts are `Cow<'static, str>` because a listing copies every live property's name
/// into every member's answer: names the server defines are string constants and cost
/// nothing to copy; only names read from a request or a store own their text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PropName {
    pub namespace: Cow<'static, str>,
    pub local: Cow<'static, str>,
}

impl PropName {
    pub fn new(
        namespace: impl Into<Cow<'static, str>>,
        local: impl Into<Cow<'static, str>>,
    ) -> Self {
        PropName {
            namespace: namespace.into(),
            local: local.into(),
        }
    }

    /// A name copied out of borrowed text (a parsed document, a stored key). The `DAV:`
    /// namespace, by far the most common, is shared rather than copied.
    pub fn copied(namespace: &str, local: &str) -> Self {
        let namespace = match namespace {
            DAV_NS => Cow::Borrowed(DAV_NS),
            "" => Cow::Borrowed(""),
            other => Cow::Owned(other.to_owned()),
        };
        PropName {
            namespace,
            local: Cow::Owned(local.to_owned()),
        }
    }

    /// A name in the `DAV:` namespace.
    pub fn dav(local: impl Into<Cow<'static, str>>) -> Self {
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
