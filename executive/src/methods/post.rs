//! POST: `multipart/form-data` upload into a collection (what a browser's upload form sends).
//!
//! Each file part is a PUT of its own into the collection, with the same checks (write
//! permission on the file itself, locks, write hooks, a parent that is a collection) and its own queue [WriteContent], streamed straight
//! from the request body: a file that fails does not undo the ones before it, and the answer
//! lists what happened to each. Answer: 201 if a file was created, else 200, else the first
//! failure's status; JSON when the client asks for `application/json` (the page's script),
//! otherwise a page listing each file with a link back (a browser posting the form without
//! script). Each stored file gets its document
//! record (`crate::ms::docid`), and the answer the collection's `ResourceTag`.
//!
//! Microsoft's POST (MS-WDV 2.2.1, 3.2.5.2; ADR 0008): a POST to a file carrying
//! `X-MSDAVEXT: PROPFIND` or `X-MSDAVEXTLockTimeout` is read as the GET the mini-redirector
//! means; to a file otherwise it stays 405. On a collection the lock headers lock, refresh
//! or unlock the collection per the table (checked before the upload, applied after it, so
//! that the new lock does not refuse the files being uploaded), and `X-MSDAVEXT: PROPFIND` is
//! ignored.

use std::fmt::Write;

use futures_util::StreamExt;
use http::StatusCode;
use http::header::{ALLOW, CONTENT_TYPE};

use davd_protocol::headers::MsDavExt;
use davd_protocol::{Body, ByteStream, DavPath, Response};
use davd_registry::{ChangeKind, WriteKind, WriteMode};

use crate::commands::commit::CommitState;
use crate::commands::namespace::WriteContent;
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::html::{Uploaded, nonce, page_response, upload_page};
use crate::latch::Claim;
use crate::ms::bundled::{self, Answer, Form};
use crate::ms::docid::{self, RecordDocument};
use crate::policy::access::{self, Need};
use crate::policy::allow::allowed_methods;
use crate::policy::locks::{Protected, require_tokens};
use crate::policy::{check_conditions, hooks};
use crate::queue::CommandQueue;

/// What became of a POST.
pub enum Posted {
    Answered(Response),
    /// Microsoft's POST to a file: the dispatcher answers it as the GET it means.
    ReadAsGet,
}

pub async fn post(ctx: &Ctx, body: ByteStream) -> DavResult<Posted> {
    let path = ctx.path().clone();
    let meta = ctx.stat(&path).await?.ok_or_else(DavError::not_found)?;
    let ms = &ctx.request.ms;
    if !meta.collection && (ms.extension == Some(MsDavExt::Propfind) || ms.lock_timeout.is_some()) {
        return Ok(Posted::ReadAsGet);
    }
    if !meta.collection {
        let mut refused = DavError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST uploads files into a collection",
        )
        .into_response();
        refused.set_header(ALLOW, allowed_methods(Some(&meta)));
        return Ok(Posted::Answered(refused));
    }
    // A form on another web site can make a visitor's browser post here, credentials included;
    // WebDAV clients send no Origin, so refusing cross-site posts costs them nothing.
    if ctx.request.cross_site {
        return Err(DavError::forbidden(
            "uploads from another web site are refused",
        ));
    }
    check_conditions(ctx, &path, Some(&meta), false).await?;
    let lock = Form::of(ctx)?;
    if !lock.is_none() {
        // Refuse now rather than after the upload; the real plan is made under the latch.
        bundled::plan(ctx, &path, &lock).await?;
    }
    let content_type = ctx.request.body.content_type.clone().unwrap_or_default();
    let boundary = multer::parse_boundary(&content_type).map_err(|_| {
        DavError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST to a collection takes multipart/form-data",
        )
    })?;
    let mut multipart = multer::Multipart::new(body, boundary);
    let mut results = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                return Err(DavError::bad_request(format!(
                    "malformed multipart body: {e}"
                )));
            }
        };
        let Some(name) = field.file_name().map(file_name) else {
            continue; // a plain form field, not a file
        };
        let stream = field
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed();
        let outcome = store(ctx, &path, &name, stream).await;
        results.push(match outcome {
            Ok(created) => Uploaded {
                name,
                status: if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::NO_CONTENT
                },
                message: if created {
                    "created".into()
                } else {
                    "replaced".into()
                },
            },
            Err(e) => Uploaded {
                name,
                status: e.status,
                message: e.message.into_owned(),
            },
        });
    }
    let status = if results.iter().any(|r| r.status == StatusCode::CREATED) {
        StatusCode::CREATED
    } else if results.iter().all(|r| r.status.is_success()) {
        StatusCode::OK
    } else {
        results
            .iter()
            .map(|r| r.status)
            .find(|s| !s.is_success())
            .unwrap_or(StatusCode::BAD_REQUEST)
    };
    let answer = if lock.is_none() {
        Answer::default()
    } else {
        let _latch = ctx.exec.latch(vec![Claim::shallow(&path)]).await?;
        let planned = bundled::plan(ctx, &path, &lock).await?;
        let mut queue = CommandQueue::new();
        let answer = planned.push_into(&mut queue);
        queue.push(CommitState::durable());
        queue.run().await.map_err(|f| f.into_error())?;
        answer
    };
    let identity = docid::identity(ctx, &path, &meta).await?;
    let wants_json = ctx
        .request
        .accept
        .as_deref()
        .is_some_and(|a| a.contains("application/json"));
    let mut response = if wants_json {
        Response::new(status)
            .with_header(CONTENT_TYPE, "application/json")
            .with_body(Body::Full(json(&results).into()))
    } else {
        let nonce = nonce();
        page_response(status, upload_page(&path, &results, &nonce), &nonce, false)
    };
    if status.is_success() {
        docid::add_headers(&mut response, &identity, false);
    }
    let answer = answer.with_owner_token(ctx, &path).await;
    answer.add_headers(&mut response);
    Ok(Posted::Answered(response))
}

/// The file name a browser supplied, without the folder some send with it. Old Internet
/// Explorer sent the whole Windows path (`C:\\Users\\me\\a.txt`, or `\\\\server\\share\\a.txt`):
/// from such a path only the last component is kept. Otherwise a backslash belongs to the name
/// (`back\\slash.txt` uploaded from Linux or macOS), as in a URL.
fn file_name(raw: &str) -> String {
    let raw = raw.rsplit('/').next().unwrap_or(raw);
    let name = if is_windows_path(raw) {
        raw.rsplit('\\').next().unwrap_or(raw)
    } else {
        raw
    };
    name.trim().to_owned()
}

/// `C:\\…` or `\\\\server\\…`: a Windows absolute path, not a name.
fn is_windows_path(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let drive =
        bytes.len() > 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'\\';
    drive || raw.starts_with("\\\\")
}

/// Stores one file; true if it was created.
async fn store(ctx: &Ctx, collection: &DavPath, name: &str, body: ByteStream) -> DavResult<bool> {
    if name.is_empty() || name == "." {
        return Err(DavError::bad_request("the file has no usable name"));
    }
    let target = collection
        .join_name(name)
        .map_err(|e| DavError::bad_request(format!("bad file name: {e}")))?;
    // The file may have a rule of its own: writing into the collection is not enough.
    access::require(ctx, &target, Need::Write)?;
    let _latch = ctx.exec.latch(vec![Claim::shallow(&target)]).await?;
    let meta = ctx.stat(&target).await?;
    if meta.as_ref().is_some_and(|m| m.collection) {
        return Err(DavError::conflict("a collection of that name exists"));
    }
    let mut protected = vec![Protected::Resource(target.clone())];
    if meta.is_none() {
        protected.push(Protected::Membership(collection.clone()));
    }
    require_tokens(ctx, &protected).await?;
    hooks::before_write(ctx, &target, false, WriteKind::Content).await?;
    if meta.is_none() {
        hooks::before_membership_change(ctx, &target).await?;
    }
    let subsystems = ctx.resolve(&target);
    let record = docid::after_write(ctx, &target, meta.as_ref()).await?;
    let mut queue = CommandQueue::new();
    queue.changes(&subsystems.properties, &target, ChangeKind::Resource);
    queue.push(
        WriteContent::new(
            subsystems.namespace.clone(),
            subsystems.relative(&target),
            body,
            WriteMode::Replace,
        )
        .keeping_history(subsystems.history.clone()),
    );
    queue.push(RecordDocument::new(&subsystems, &target, record, true));
    queue.push(CommitState::without_flush());
    let effects = queue.run().await.map_err(|f| f.into_error())?;
    crate::sync::record(effects.changes).await;
    Ok(effects.created)
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json(results: &[Uploaded]) -> String {
    let mut out = String::from("{\"files\":[");
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_string(&r.name, &mut out);
        let _ = write!(out, ",\"status\":{},\"message\":", r.status.as_u16());
        json_string(&r.message, &mut out);
        out.push('}');
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn a_backslash_belongs_to_the_name_unless_it_is_a_windows_path() {
        assert_eq!(file_name("back\\slash.txt"), "back\\slash.txt");
        assert_eq!(file_name("..\\..\\x"), "..\\..\\x");
        assert_eq!(file_name("C:\\Users\\me\\a.txt"), "a.txt");
        assert_eq!(file_name("\\\\server\\share\\b.txt"), "b.txt");
        assert_eq!(file_name("dir/c.txt"), "c.txt");
        assert_eq!(file_name("  spaced.txt "), "spaced.txt");
    }
}
