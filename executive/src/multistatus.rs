//! What the 207 Multi-Status bodies of several methods share: which namespace prefixes their
//! root declares, and the single-resource allprop answer that Microsoft's prefix-encoded GET
//! carries.
//!
//! The root declares `D` and, of Microsoft's three prefixes (MS-WDVME 2.2.10: `Z:` for the Win32
//! properties, `Repl:` and `Office:`, the aliases Windows and Office expect), only those whose
//! namespace the answer can name. Which names an answer can hold is known before its first byte
//! is written: those the request names (PROPFIND `prop`, PROPPATCH), for `allprop` those of the
//! live properties it returns (fewer in a listing: `AllpropReach`) and those it `include`s, for
//! `propname` those of the live handlers in force. A name in any other namespace declares its
//! own prefix where it appears (`MultistatusWriter`), so the document is right either way; the
//! root only decides which prefixes clients see.

use bytes::Bytes;

use davd_protocol::xml::{MultistatusWriter, PropfindBody};
use davd_protocol::{DavPath, PropName};
use davd_registry::{ResourceMeta, Subsystems};

use crate::context::Ctx;
use crate::error::DavResult;
use crate::props::{AllpropReach, propstats};

/// The prefixes to declare on the root of a multistatus that holds properties named among
/// `names`: Microsoft's, for the namespaces that occur.
pub fn prefixes_for<'a>(
    names: impl IntoIterator<Item = &'a PropName>,
) -> Vec<(&'static str, &'static str)> {
    let mut used = [false; crate::ms::PREFIXES.len()];
    for name in names {
        if let Some(i) = crate::ms::PREFIXES
            .iter()
            .position(|(_, ns)| *ns == name.namespace)
        {
            used[i] = true;
        }
    }
    crate::ms::PREFIXES
        .iter()
        .zip(used)
        .filter_map(|(prefix, used)| used.then_some(*prefix))
        .collect()
}

/// The prefixes for a PROPFIND answer of `request` over resources served by `subsystems`,
/// where an allprop returns the live properties within `reach`: a listing's allprop, which
/// leaves Microsoft's out, declares none of their prefixes unless `include` names them.
pub fn propfind_prefixes(
    request: &PropfindBody,
    reach: AllpropReach,
    subsystems: &Subsystems,
) -> Vec<(&'static str, &'static str)> {
    match request {
        PropfindBody::Prop(names) => prefixes_for(names),
        PropfindBody::AllProp { include } => {
            let reached = subsystems.live.iter().flat_map(|handler| {
                handler
                    .names()
                    .iter()
                    .filter(|name| reach.returns(handler.as_ref(), name))
            });
            prefixes_for(include.iter().chain(reached))
        }
        PropfindBody::PropName => prefixes_for(subsystems.live.iter().flat_map(|h| h.names())),
    }
}

/// The body a `Depth: 0` allprop PROPFIND of `path` would get, rendered whole: the properties
/// part of a `multipart/MSDAVEXTPrefixEncoded` answer (MS-WDV 2.2.5 wants exactly that).
/// `None` when the resource's dead properties are too large to hold at once
/// ([`crate::props::PAGE_BYTES`]): the part's length must be known before it is sent.
pub async fn allprop_document(
    ctx: &Ctx,
    path: &DavPath,
    meta: &ResourceMeta,
) -> DavResult<Option<Bytes>> {
    let subsystems = ctx.resolve(path);
    let allprop = PropfindBody::AllProp { include: vec![] };
    let props = propstats(path, meta, &subsystems, &ctx.client, &allprop, None, None).await?;
    if props.large.is_some() {
        return Ok(None);
    }
    let mut writer = MultistatusWriter::new(&propfind_prefixes(
        &allprop,
        AllpropReach::WithExtensions,
        &subsystems,
    ));
    writer.prop_response(&path.to_href(meta.collection), &props.stats);
    Ok(Some(writer.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_namespaces_named_are_declared() {
        let custom = PropName::new("urn:example", "colour");
        assert!(prefixes_for([&custom, &PropName::dav("getetag")]).is_empty());
        let win32 = PropName::new("urn:schemas-microsoft-com:", "Win32FileAttributes");
        let author = PropName::new("urn:schemas-microsoft-com:office:office", "modifiedby");
        assert_eq!(
            prefixes_for([&win32, &custom, &author, &win32]),
            [
                ("Office", "urn:schemas-microsoft-com:office:office"),
                ("Z", "urn:schemas-microsoft-com:")
            ]
        );
    }
}
