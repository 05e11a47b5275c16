//! OPTIONS: what the server and this resource support.
//!
//! Plan: no queue. `DAV: 1, 2, 3` (Class 1, locking, RFC 4918), an `Allow` listing what makes
//! sense on this resource (GETLIB always: MS-WDVME 2.2.5), and Microsoft's advertisements
//! (`MS-Author-Via: DAV` so that Office authors through WebDAV, `X-MSDAVEXT: 1`,
//! `Public-Extension`), added by the dispatcher to every OPTIONS answer, errors included. Any
//! URL answers 200, mapped or not: Word asks the folder of a document and its parent. OPTIONS
//! is answered without credentials; for a URL the requester may not read, `Allow` lists every
//! method whether or not something is there (docs/security.md).

use http::StatusCode;
use http::header::{ALLOW, HeaderName};

use davd_protocol::{IMPLEMENTED_METHODS, Response};

use crate::context::Ctx;
use crate::error::DavResult;
use crate::policy::access;
use crate::policy::allow::allowed_methods;

pub async fn options(ctx: &Ctx) -> DavResult<Response> {
    // OPTIONS needs no credentials, so it must not tell whether a resource the requester may
    // not read exists: such a URL gets every method davd implements, mapped or not.
    let allow = if access::may_read(ctx, ctx.path()) {
        allowed_methods(ctx.stat(ctx.path()).await?.as_ref())
    } else {
        IMPLEMENTED_METHODS
    };
    Ok(Response::new(StatusCode::OK)
        .with_header(HeaderName::from_static("dav"), "1, 2, 3")
        .with_header(ALLOW, allow))
}
