//! What the `Allow` header lists for a resource: the methods of the table in `davd-protocol`
//! (`MethodKind`) that apply to what is mapped there.

use davd_protocol::{MethodKind, Target};
use davd_registry::ResourceMeta;

/// Methods that make sense on `meta` (`None`: nothing is mapped at the URL).
pub fn allowed_methods(meta: Option<&ResourceMeta>) -> &'static str {
    MethodKind::allow(match meta {
        None => Target::Unmapped,
        Some(m) if m.collection => Target::Collection,
        Some(_) => Target::Document,
    })
}
