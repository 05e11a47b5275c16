//! What the `Allow` header lists for a resource. Every variant ends with GETLIB: MS-WDVME 2.2.5
//! makes it a MUST, and Office detects the Microsoft extensions by it (MS-WDVME 3.1.5).

use davd_registry::ResourceMeta;

/// Methods that make sense on `meta` (`None`: nothing is mapped at the URL).
pub fn allowed_methods(meta: Option<&ResourceMeta>) -> &'static str {
    match meta {
        None => "OPTIONS, PUT, MKCOL, LOCK, GETLIB",
        Some(m) if m.collection => {
            "OPTIONS, GET, HEAD, POST, DELETE, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK, GETLIB"
        }
        Some(_) => {
            "OPTIONS, GET, HEAD, POST, PUT, DELETE, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK, GETLIB"
        }
    }
}
