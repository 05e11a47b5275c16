//! One module per method. Each states its plan: the checks it makes and the CommandQueue it
//! builds.

mod copy_move;
mod delete;
mod get;
mod getlib;
mod lock;
mod mkcol;
mod options;
mod post;
mod propfind;
mod proppatch;
mod put;
mod report;
mod unlock;

use std::sync::Arc;

use davd_protocol::{ByteStream, Method, Response};
use tracing::debug;

use http::StatusCode;
use http::header::ALLOW;

use crate::context::Ctx;
use crate::error::DavResult;
use crate::policy::access;
use crate::policy::allow::allowed_methods;

/// Runs the method of `ctx.request`.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would keep the context twice, see below"
)]
pub fn dispatch(ctx: Ctx, body: ByteStream) -> impl Future<Output = Response> + Send {
    // The context is moved in once and lent out: an `async fn` taking it by value keeps the
    // argument and its own copy of it side by side in the future (392 bytes each).
    async move { dispatch_lent(&Arc::new(ctx), body).await }
}

async fn dispatch_lent(ctx: &Arc<Ctx>, body: ByteStream) -> Response {
    if let Err(e) = access::check_request(ctx) {
        return e.into_response();
    }
    // Each method's future is boxed on its own. Unboxed, the dispatcher's future (and with it
    // the executive's and the server's, which the server boxes for every request) is as large
    // as the largest method's, about 8 KiB that every request, however small, copies to the
    // heap; boxed, a request copies only its own method's state.
    let result: DavResult<Response> = match ctx.request.method.clone() {
        Method::Options => Box::pin(options::options(ctx)).await,
        Method::Get { head, range } => Box::pin(get::get(ctx, head, range)).await,
        Method::Post => match Box::pin(post::post(ctx, body)).await {
            Ok(post::Posted::Answered(response)) => Ok(response),
            Ok(post::Posted::ReadAsGet) => Box::pin(get::get(ctx, false, None)).await,
            Err(e) => Err(e),
        },
        Method::Put { content_range } => Box::pin(put::put(ctx, body, content_range)).await,
        Method::Delete => Box::pin(delete::delete(ctx)).await,
        Method::Mkcol => Box::pin(mkcol::mkcol(ctx)).await,
        Method::Copy {
            destination,
            depth,
            overwrite,
        } => Box::pin(copy_move::copy(ctx, destination, depth, overwrite)).await,
        Method::Move {
            destination,
            overwrite,
        } => Box::pin(copy_move::move_(ctx, destination, overwrite)).await,
        Method::Propfind { depth } => Box::pin(propfind::propfind(ctx, body, depth)).await,
        Method::Proppatch => Box::pin(proppatch::proppatch(ctx, body)).await,
        Method::Lock { depth, timeout } => Box::pin(lock::lock(ctx, body, depth, timeout)).await,
        // ANCHOR: unlock-dispatch
        Method::Unlock { token } => Box::pin(unlock::unlock(ctx, &token)).await,
        // ANCHOR_END: unlock-dispatch
        Method::Getlib => Box::pin(getlib::getlib(ctx)).await,
        Method::Report => Box::pin(report::report(ctx, body)).await,
    };
    let mut response = match result {
        Ok(response) => response,
        Err(e) => {
            debug!(status = %e.status, reason = %e.message, "request refused");
            let message = e.message.clone();
            let mut response = e.into_response();
            crate::ms::errors::annotate(&mut response, &message, false);
            response
        }
    };
    if matches!(ctx.request.method, Method::Options) {
        crate::ms::advertise(&mut response);
    }
    // RFC 9110 §15.5.6: a 405 must say what is allowed.
    if response.status == StatusCode::METHOD_NOT_ALLOWED && !response.headers.contains_key(ALLOW) {
        let meta = ctx.stat(ctx.path()).await.ok().flatten();
        response.set_header(ALLOW, allowed_methods(meta.as_ref()));
    }
    response
}

#[cfg(test)]
mod tests {
    /// Each method file is read on its own: what two methods share lives in the module it
    /// belongs to (`policy`, `multistatus`, `instructions`, ...), never in a sibling, and only
    /// the dispatcher above connects one method to another.
    #[test]
    fn no_method_file_uses_another() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/methods");
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.file_name().is_some_and(|n| n != "mod.rs"))
            .collect();
        assert!(files.len() > 10, "{files:?}");
        let stems: Vec<String> = files
            .iter()
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let mut borrowed = vec!["crate::methods".to_owned()];
            borrowed.extend(stems.iter().map(|stem| format!("super::{stem}")));
            for pattern in borrowed {
                assert!(
                    !text.contains(&pattern),
                    "{} uses {pattern}",
                    file.display()
                );
            }
        }
    }
}
