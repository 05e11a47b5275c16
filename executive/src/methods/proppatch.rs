//! PROPPATCH: set and remove properties, all or nothing.
//!
//! Checks: exists (404), a well-formed body (400), conditional headers (412), the lock token
//! (423; a PROPPATCH of only the `Z:Win32*` properties needs none when it comes from the lock's
//! owner, `policy::locks::require_tokens_for_properties`), write hooks (e.g. the read-only
//! flag: 403).
//! Queue: one [SetProperty | RemoveProperty] per instruction in document order, then
//! [CommitState], which applies them all as one atomic batch: all or nothing, across a crash
//! too. Each command's check asks the live handler owning the name (protected:
//! 403 `cannot-modify-protected-property`; invalid value: 409). If any instruction fails,
//! none takes effect: the failing ones carry their own status, all others 424 Failed
//! Dependency (RFC 4918 §9.2). This is the 1997 paper's Figure 2.
//! A valid `Z:Win32LastModifiedTime` also sets the resource's modification time: after the
//! instructions, [SetModified, RecordDocument (the record keeps its version, takes the new
//! ETag)] (`crate::ms::times`); their failure fails the whole request.

use http::StatusCode;

use davd_protocol::xml::{MultistatusWriter, parse_propertyupdate};
use davd_protocol::{Body, ByteStream, PropName, Response};
use davd_registry::{ChangeKind, WriteKind};

use crate::commands::commit::CommitState;
use crate::commands::modified::SetModified;
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::instructions::{patch_report, push_instructions};
use crate::latch::Claim;
use crate::ms::docid::{self, RecordDocument};
use crate::ms::times;
use crate::multistatus::prefixes_for;
use crate::policy::locks::require_tokens_for_properties;
use crate::policy::{check_conditions, hooks};
use crate::queue::CommandQueue;

pub async fn proppatch(ctx: &Ctx, body: ByteStream) -> DavResult<Response> {
    let path = ctx.path().clone();
    let bytes = ctx.read_xml_body(body).await?;
    let text =
        davd_protocol::xml::body_text(&bytes).map_err(|e| DavError::bad_request(e.to_string()))?;
    let instructions = parse_propertyupdate(text, &ctx.exec.config.xml_limits)
        .map_err(|e| DavError::bad_request(e.to_string()))?;

    let _latch = ctx.exec.latch(vec![Claim::shallow(&path)]).await?;
    let meta = ctx.stat(&path).await?.ok_or_else(DavError::not_found)?;
    check_conditions(ctx, &path, Some(&meta), false).await?;
    let names: Vec<PropName> = instructions.iter().map(|i| i.name().clone()).collect();
    require_tokens_for_properties(ctx, &path, &names).await?;
    hooks::before_write(ctx, &path, false, WriteKind::Properties(names.clone())).await?;

    let subsystems = ctx.resolve(&path);
    let mut queue = CommandQueue::new().named("PROPPATCH");
    queue.changes(&subsystems.properties, &path, ChangeKind::Resource);
    let modified = times::requested_modified(&instructions);
    push_instructions(&mut queue, &subsystems, &path, instructions);
    if let Some(modified) = modified {
        // The new time changes the entity tag: the document record takes the new one and
        // keeps its version, so that Office does not read the change as someone else's edit.
        let identity = docid::identity(ctx, &path, &meta).await?;
        queue.push(SetModified::new(&subsystems, &path, modified));
        queue.push(RecordDocument::new(
            &subsystems,
            &path,
            docid::pinned(&identity, meta.etag.clone()),
            true,
        ));
    }
    queue.push(CommitState::durable());
    let outcome = match queue.run().await {
        Ok(effects) => {
            crate::sync::record(effects.changes).await;
            Ok(())
        }
        Err(failure) => Err(failure),
    };
    let propstats = patch_report(&names, outcome, 0)?;
    let mut writer = MultistatusWriter::for_one_resource(&prefixes_for(&names));
    writer.prop_response(&path.to_href(meta.collection), &propstats);
    Ok(Response::xml(
        StatusCode::MULTI_STATUS,
        Body::Full(writer.finish()),
    ))
}
