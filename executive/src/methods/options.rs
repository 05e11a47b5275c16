//! OPTIONS: what the server and this resource support.
//!
//! Plan: no queue. `DAV: 1, 2, 3` (Class 1, locking, RFC 4918), `MS-Author-Via: DAV` so that
//! Office authors through WebDAV, and an `Allow` listing what makes sense on this resource.

use http::StatusCode;
use http::header::{ALLOW, HeaderName};

use davd_protocol::Response;

use crate::context::Ctx;
use crate::error::DavResult;
use crate::policy::allow::allowed_methods;

pub async fn options(ctx: &Ctx) -> DavResult<Response> {
    let meta = ctx.stat(ctx.path()).await?;
    Ok(Response::new(StatusCode::OK)
        .with_header(HeaderName::from_static("dav"), "1, 2, 3")
        .with_header(HeaderName::from_static("ms-author-via"), "DAV")
        .with_header(ALLOW, allowed_methods(meta.as_ref())))
}
