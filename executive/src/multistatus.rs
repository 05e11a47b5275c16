//! What the 207 Multi-Status bodies of several methods share: the namespace prefixes declared
//! on their root, and the single-resource allprop answer that Microsoft's prefix-encoded
//! GET carries.

use bytes::Bytes;

use davd_protocol::DavPath;
use davd_protocol::xml::{MultistatusWriter, PropfindBody};
use davd_registry::ResourceMeta;

use crate::context::Ctx;
use crate::props::propstats;

/// Namespace prefixes declared on every multistatus root besides `D`: Microsoft's three
/// (MS-WDVME 2.2.10), so that `Z:Win32FileAttributes` and the `Repl:`/`Office:` properties
/// come out with the prefixes Windows and Office expect.
pub const RESPONSE_PREFIXES: &[(&str, &str)] = crate::ms::PREFIXES;

/// The body a `Depth: 0` allprop PROPFIND of `path` would get, rendered whole: the properties
/// part of a `multipart/MSDAVEXTPrefixEncoded` answer (MS-WDV 2.2.5 wants exactly that).
pub async fn allprop_document(ctx: &Ctx, path: &DavPath, meta: &ResourceMeta) -> Bytes {
    let subsystems = ctx.resolve(path);
    let allprop = PropfindBody::AllProp { include: vec![] };
    let stats = propstats(path, meta, &subsystems, &ctx.client, &allprop, None, None).await;
    let mut writer = MultistatusWriter::new(RESPONSE_PREFIXES);
    writer.prop_response(&path.to_href(meta.collection), &stats);
    writer.finish()
}
