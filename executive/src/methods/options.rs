//! OPTIONS: what the server and this resource support.
//!
//! Plan: no queue. `DAV: 1, 2, 3` (Class 1, locking, RFC 4918), an `Allow` listing what makes
//! sense on this resource (GETLIB always: MS-WDVME 2.2.5), and Microsoft's advertisements
//! (`MS-Author-Via: DAV` so that Office authors through WebDAV, `X-MSDAVEXT: 1`,
//! `Public-Extension`), added by the dispatcher to every OPTIONS answer, errors included. Any
//! URL answers 200, mapped or not: Word asks the folder of a document and its parent.

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
        .with_header(ALLOW, allowed_methods(meta.as_ref())))
}
