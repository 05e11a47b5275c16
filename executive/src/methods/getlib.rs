//! GETLIB (MS-WDVME 3.2.5.2), and PROPFIND with an `MS-Doclib` header (3.2.5.3.2), which
//! the protocol layer parses as the same method.
//!
//! Plan: no queue, nothing read. davd has no document libraries, and "if the server does not
//! implement Document Library collection capabilities, the server MUST respond with an HTTP
//! 404 Not Found": for every URL, whatever the headers and body say, without an `MS-Doclib`
//! header and with an empty body.

use http::StatusCode;
use http::header::CONTENT_LENGTH;

use davd_protocol::Response;

use crate::context::Ctx;
use crate::error::DavResult;

pub async fn getlib(_ctx: &Ctx) -> DavResult<Response> {
    Ok(Response::new(StatusCode::NOT_FOUND).with_header(CONTENT_LENGTH, "0"))
}
