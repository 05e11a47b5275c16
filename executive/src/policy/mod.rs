//! RFC 4918 and RFC 7232 rules that more than one method applies.

pub mod access;
pub mod allow;
pub mod hooks;
pub mod if_header;
pub mod locks;
pub mod preconditions;

use davd_protocol::DavPath;
use davd_registry::ResourceMeta;

use crate::context::Ctx;
use crate::error::DavResult;

pub use preconditions::Verdict;

/// Every conditional header of the request, for the resource at `path` (`meta` is `None` if
/// it does not exist): the RFC 4918 If header first, then RFC 7232's.
pub async fn check_conditions(
    ctx: &Ctx,
    path: &DavPath,
    meta: Option<&ResourceMeta>,
    safe: bool,
) -> DavResult<Verdict> {
    if let Some(header) = &ctx.request.conditions.if_header {
        if_header::evaluate(ctx, header, path).await?;
    }
    preconditions::evaluate(&ctx.request.conditions, meta, safe)
}
