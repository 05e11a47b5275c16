//! What the `Allow` header lists for a resource.

use davd_registry::ResourceMeta;

/// Methods that make sense on `meta` (`None`: nothing is mapped at the URL).
pub fn allowed_methods(meta: Option<&ResourceMeta>) -> &'static str {
    match meta {
        None => "OPTIONS, PUT, MKCOL, LOCK",
        Some(m) if m.collection => {
            "OPTIONS, GET, HEAD, POST, DELETE, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK"
        }
        Some(_) => {
            "OPTIONS, GET, HEAD, POST, PUT, DELETE, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK"
        }
    }
}
