//! GET and HEAD.
//!
//! Plan: no queue, no latch (writes are atomic renames, so a reader sees old or new bytes).
//! The resource is opened once; its metadata comes from the open handle, so the ETag always
//! describes the bytes sent. Conditional headers may answer 304 or 412; a single satisfiable
//! `Range` answers 206, an unsatisfiable one 416. A collection answers an HTML index.

use futures_util::StreamExt;
use http::StatusCode;
use http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED, VARY,
};

use davd_protocol::headers::RangeRequest;
use davd_protocol::{Body, Response};
use davd_registry::{Opened, ResourceMeta};

use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::html::{browser_page, index_page, nonce, page_response};
use crate::policy::{Verdict, check_conditions, hooks};
use crate::walk::members;

/// Headers every GET/HEAD/304 of a resource carries.
pub fn validator_headers(response: &mut Response, meta: &ResourceMeta) {
    response.set_header(ETAG, format!("\"{}\"", meta.etag));
    response.set_header(LAST_MODIFIED, httpdate::fmt_http_date(meta.modified));
}

pub fn content_type(ctx: &Ctx, meta: &ResourceMeta) -> String {
    meta.content_type.clone().unwrap_or_else(|| {
        mime_guess::from_path(ctx.path().name().unwrap_or(""))
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_owned()
    })
}

pub async fn get(ctx: &Ctx, head: bool, range: Option<RangeRequest>) -> DavResult<Response> {
    let path = ctx.path();
    let subsystems = ctx.resolve(path);
    let relative = subsystems.relative(path);
    match subsystems.namespace.open(&relative).await {
        Ok(opened) => file(ctx, opened, head, range).await,
        Err(e) if e.status == StatusCode::METHOD_NOT_ALLOWED => collection(ctx, head).await,
        Err(e) => Err(e.into()),
    }
}

async fn file(
    ctx: &Ctx,
    opened: Opened,
    head: bool,
    range: Option<RangeRequest>,
) -> DavResult<Response> {
    let meta = opened.meta;
    let mut response = Response::new(StatusCode::OK);
    validator_headers(&mut response, &meta);
    if check_conditions(ctx, ctx.path(), Some(&meta), true).await? == Verdict::NotModified {
        response.status = StatusCode::NOT_MODIFIED;
        return Ok(response);
    }
    response.set_header(ACCEPT_RANGES, "bytes");
    response.set_header(CONTENT_TYPE, content_type(ctx, &meta));
    let range = match range {
        None => None,
        Some(requested) => match requested.resolve(meta.len) {
            Some(r) => Some(r),
            None => {
                let mut refused = Response::text(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("the resource is {} bytes long", meta.len),
                );
                refused.set_header(CONTENT_RANGE, format!("bytes */{}", meta.len));
                return Ok(refused);
            }
        },
    };
    let length = match range {
        Some(r) => {
            response.status = StatusCode::PARTIAL_CONTENT;
            response.set_header(
                CONTENT_RANGE,
                format!("bytes {}-{}/{}", r.start, r.end, meta.len),
            );
            r.len()
        }
        None => meta.len,
    };
    response.set_header(CONTENT_LENGTH, length.to_string());
    if !head {
        response.body = opened.content.read(range).await?;
        hooks::after_read(ctx, ctx.path()).await;
    }
    Ok(response)
}

/// A collection: a browser (`Accept: text/html`) gets the page to browse and change it with;
/// any other client the plain index, unchanged.
async fn collection(ctx: &Ctx, head: bool) -> DavResult<Response> {
    let path = ctx.path();
    let meta = ctx.stat(path).await?.ok_or_else(DavError::not_found)?;
    let browser = ctx.request.accepts_html;
    let mut response = Response::new(StatusCode::OK);
    if !browser {
        validator_headers(&mut response, &meta);
    }
    if check_conditions(ctx, path, Some(&meta), true).await? == Verdict::NotModified {
        response.status = StatusCode::NOT_MODIFIED;
        response.set_header(VARY, "Accept");
        return Ok(response);
    }
    let mut listed = Vec::new();
    let mut batches = members(ctx, path).await?;
    while let Some(batch) = batches.next().await {
        listed.extend(batch?);
    }
    if browser {
        let nonce = nonce();
        let mut page = page_response(
            StatusCode::OK,
            browser_page(path, listed, &nonce),
            &nonce,
            head,
        );
        page.set_header(VARY, "Accept");
        return Ok(page);
    }
    response.set_header(VARY, "Accept");
    let page = index_page(path, listed);
    response.set_header(CONTENT_TYPE, "text/html; charset=utf-8");
    response.set_header(CONTENT_LENGTH, page.len().to_string());
    if !head {
        response.body = Body::Full(page.into());
    }
    Ok(response)
}
