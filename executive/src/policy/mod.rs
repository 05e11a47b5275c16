//! RFC 4918 and RFC 7232 rules that more than one method applies.

pub mod access;
pub mod allow;
pub mod hooks;
pub mod if_header;
pub mod locks;
pub mod preconditions;

use davd_protocol::{DavPath, Method};
use davd_registry::ResourceMeta;

use crate::context::Ctx;
use crate::error::DavResult;

pub use preconditions::Verdict;

/// Every conditional header of the request, for the resource at `path` (`meta` is `None` if
/// it does not exist): the RFC 4918 If header first, then RFC 7232's. `safe` is true for
/// methods that change nothing (GET, HEAD).
pub async fn check_conditions(
    ctx: &Ctx,
    path: &DavPath,
    meta: Option<&ResourceMeta>,
    safe: bool,
) -> DavResult<Verdict> {
    if let Some(header) = &ctx.request.conditions.if_header
        && let Err(failed) = if_header::evaluate(ctx, header, path).await
    {
        // A state token that is not a URI names no lock: where the request would change a
        // locked resource the real problem is the missing lock token, so 423 rather than 412
        // (issue 4 §4). COPY only reads its source.
        let changes_path = !safe && !matches!(ctx.request.method, Method::Copy { .. });
        if changes_path && header.mentions_malformed_tokens() {
            locks::require_tokens(ctx, &[locks::Protected::Resource(path.clone())]).await?;
        }
        return Err(failed);
    }
    preconditions::evaluate(&ctx.request.conditions, meta, safe)
}
