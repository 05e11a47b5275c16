//! GET and HEAD.
//!
//! Plan: no queue, no latch (writes are atomic renames, so a reader sees old or new bytes).
//! The resource is opened once; its metadata comes from the open handle, so the ETag always
//! describes the bytes sent. Conditional headers may answer 304 or 412; a single satisfiable
//! `Range` answers 206, an unsatisfiable one 416. A collection answers an HTML index. Every
//! 2xx carries the resource's `ResourceTag` (MS-WDVME 2.2.4). Nothing is written.
//!
//! Microsoft's additions (`crate::ms`): with bundled-lock headers (MS-WDV 3.2.5.2) the path is
//! latched and the queue [InsertLock | RefreshLock | RemoveLocks] runs after the conditions,
//! before anything is read; with `X-MSDAVEXT: PROPFIND` (MS-WDV 2.2.5) the answer is
//! `multipart/MSDAVEXTPrefixEncoded`: the Depth 0 allprop multistatus (showing the lock just
//! taken) and then the whole content, `Range` ignored. HEAD sends the same headers, the
//! `Content-Length` of the body it leaves out included.

use futures_util::StreamExt;
use http::StatusCode;
use http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderValue, LAST_MODIFIED,
    VARY,
};

use davd_protocol::headers::{MsDavExt, RangeRequest};
use davd_protocol::msdavext::PREFIX_ENCODED;
use davd_protocol::{Body, DavPath, Response};
use davd_registry::{Opened, ResourceMeta};

use crate::commands::commit::CommitState;
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::html::{PageHistory, browser_page, index_page, nonce, page_response, render_page};
use crate::latch::{Claim, LatchGuard};
use crate::ms::bundled::{self, Answer, Form};
use crate::ms::{docid, multipart};
use crate::multistatus::allprop_document;
use crate::policy::{Verdict, check_conditions, hooks};
use crate::queue::CommandQueue;
use crate::validators;
use crate::walk::members;

/// What a GET does besides reading.
struct Extras {
    lock: Form,
    multipart: bool,
    _latch: Option<LatchGuard>,
}

pub async fn get(ctx: &Ctx, head: bool, range: Option<RangeRequest>) -> DavResult<Response> {
    let path = ctx.path();
    let lock = Form::of(ctx)?;
    let latch = if lock.is_none() {
        None
    } else {
        Some(ctx.exec.latch(vec![Claim::shallow(path)]).await?)
    };
    let extras = Extras {
        lock,
        multipart: ctx.request.ms.extension == Some(MsDavExt::Propfind),
        _latch: latch,
    };
    // Only the namespace: the other subsystems are resolved where they are needed.
    let (scope, namespace) = ctx.exec.registry.namespace(path);
    let relative = path.relative_to(scope).unwrap_or_else(DavPath::root);
    match namespace.open(&relative).await {
        Ok(opened) => file(ctx, opened, head, range, extras).await,
        // Boxed, like the other rare branches below: their state would otherwise be part of
        // every GET's future, which the dispatcher boxes (and so copies) per request.
        Err(e) if e.status == StatusCode::METHOD_NOT_ALLOWED => {
            Box::pin(collection(ctx, head, extras)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Conditions, then the bundled lock operation; the response so far and what it says.
async fn prepare(
    ctx: &Ctx,
    meta: &ResourceMeta,
    extras: &Extras,
) -> DavResult<(Response, Verdict)> {
    let mut response = Response::new(StatusCode::OK);
    validators::add(&mut response, meta);
    let verdict = check_conditions(ctx, ctx.path(), Some(meta), true).await?;
    let answer = if extras.lock.is_none() {
        Answer::default()
    } else {
        Box::pin(async {
            let planned = bundled::plan(ctx, ctx.path(), &extras.lock).await?;
            let mut queue = CommandQueue::new();
            let answer = planned.push_into(&mut queue);
            queue.push(CommitState::durable());
            queue.run().await.map_err(|f| f.into_error())?;
            DavResult::Ok(answer)
        })
        .await?
    };
    let answer = answer.with_owner_token(ctx, ctx.path()).await;
    answer.add_headers(&mut response);
    if verdict == Verdict::Proceed {
        match docid::add_resource_tag(ctx, &mut response, ctx.path(), meta).await {
            Ok(()) => {}
            // The content needs no shared state: while the property store cannot be reached
            // (a cluster's database is down), a plain download goes on without its
            // `ResourceTag`, which Office reads only to compare with one it already holds.
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE && extras.lock.is_none() => {
                tracing::warn!(error = %e, "GET without ResourceTag: the property store is unavailable");
            }
            Err(e) => return Err(e),
        }
    } else {
        response.status = StatusCode::NOT_MODIFIED;
    }
    Ok((response, verdict))
}

/// Turns `response` into the prefix-encoded answer with `properties` and `content` of `len`
/// bytes.
fn multipart_answer(
    response: &mut Response,
    properties: bytes::Bytes,
    content: Body,
    len: u64,
    head: bool,
) {
    let (body, total) = multipart::response_body(properties, content, len);
    response.set_header(CONTENT_TYPE, PREFIX_ENCODED);
    response.set_header(CONTENT_LENGTH, total.to_string());
    if !head {
        response.body = body;
    }
}

async fn file(
    ctx: &Ctx,
    opened: Opened,
    head: bool,
    range: Option<RangeRequest>,
    extras: Extras,
) -> DavResult<Response> {
    let meta = opened.meta;
    let (mut response, verdict) = prepare(ctx, &meta, &extras).await?;
    if verdict == Verdict::NotModified {
        return Ok(response);
    }
    // The properties part must be whole before it is sent; a resource whose dead properties
    // are too large to hold at once gets the plain answer (clients read it by its type).
    let properties = match extras.multipart {
        true => Box::pin(allprop_document(ctx, ctx.path(), &meta)).await?,
        false => None,
    };
    if let Some(properties) = properties {
        let content = if head {
            Body::Empty
        } else {
            opened.content.read(None).await?
        };
        multipart_answer(&mut response, properties, content, meta.len, head);
        if !head {
            hooks::after_read(ctx, ctx.path()).await;
        }
        return Ok(response);
    }
    // A constant: checked when davd is compiled, never copied.
    const BYTES: HeaderValue = HeaderValue::from_static("bytes");
    response.headers.insert(ACCEPT_RANGES, BYTES);
    response.set_header(
        CONTENT_TYPE,
        meta.media_type(ctx.path().name().unwrap_or("")).as_ref(),
    );
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
    response
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(length));
    if !head {
        response.body = opened.content.read(range).await?;
        hooks::after_read(ctx, ctx.path()).await;
    }
    Ok(response)
}

/// A collection: a browser (`Accept: text/html`) gets the page to browse and change it with;
/// any other client the plain index, unchanged.
async fn collection(ctx: &Ctx, head: bool, extras: Extras) -> DavResult<Response> {
    let path = ctx.path();
    let meta = ctx.stat(path).await?.ok_or_else(DavError::not_found)?;
    let browser = ctx.request.accepts_html && !extras.multipart;
    let (mut response, verdict) = prepare(ctx, &meta, &extras).await?;
    response.set_header(VARY, "Accept");
    if verdict == Verdict::NotModified {
        return Ok(response);
    }
    let mut listed = Vec::new();
    let mut batches = members(ctx, path).await?;
    while let Some(batch) = batches.next().await {
        listed.extend(batch?);
    }
    if browser {
        // The page is not cached (a member's change does not change the collection's ETag),
        // so it carries no validators; the other headers (ResourceTag, lock headers) stay.
        let nonce = nonce();
        let scope = ctx.resolve(path).scope;
        let history = PageHistory::of(ctx.registry(), path, &scope);
        let page = render_page(listed, {
            let (path, nonce) = (path.clone(), nonce.clone());
            move |listed| browser_page(&path, listed, &nonce, &history)
        })
        .await?;
        let mut page = page_response(StatusCode::OK, page, &nonce, head);
        for (name, value) in &response.headers {
            if name != ETAG && name != LAST_MODIFIED && !page.headers.contains_key(name) {
                page.headers.insert(name.clone(), value.clone());
            }
        }
        return Ok(page);
    }
    let page = render_page(listed, {
        let path = path.clone();
        move |listed| index_page(&path, listed)
    })
    .await?;
    let properties = match extras.multipart {
        true => allprop_document(ctx, path, &meta).await?,
        false => None,
    };
    if let Some(properties) = properties {
        let len = page.len() as u64;
        multipart_answer(
            &mut response,
            properties,
            Body::Full(page.into()),
            len,
            head,
        );
        return Ok(response);
    }
    response.set_header(CONTENT_TYPE, "text/html; charset=utf-8");
    response.set_header(CONTENT_LENGTH, page.len().to_string());
    if !head {
        response.body = Body::Full(page.into());
    }
    Ok(response)
}
