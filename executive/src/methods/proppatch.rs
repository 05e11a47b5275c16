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

use http::StatusCode;

use davd_protocol::xml::{MultistatusWriter, PatchInstruction, PropStat, parse_propertyupdate};
use davd_protocol::{Body, ByteStream, DavPath, PropName, Response};
use davd_registry::{StoredProp, Subsystems, WriteKind};

use crate::commands::commit::CommitState;
use crate::commands::properties::{RemoveProperty, SetProperty};
use crate::context::Ctx;
use crate::error::{DavError, DavResult};
use crate::latch::Claim;
use crate::methods::propfind::RESPONSE_PREFIXES;
use crate::policy::locks::require_tokens_for_properties;
use crate::policy::{check_conditions, hooks};
use crate::queue::{CommandQueue, QueueFailure};

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
    push_instructions(&mut queue, &subsystems, &path, instructions);
    queue.push(CommitState::durable());
    let outcome = queue.run().await.map(|_| ());
    let propstats = patch_report(&names, outcome, 0)?;
    let mut writer = MultistatusWriter::new(RESPONSE_PREFIXES);
    writer.prop_response(&path.to_href(meta.collection), &propstats);
    Ok(Response::xml(
        StatusCode::MULTI_STATUS,
        Body::Full(writer.finish()),
    ))
}

/// One [SetProperty | RemoveProperty] per instruction, in document order, each told which
/// live handler owns its name. Returns the names, in the same order.
pub(crate) fn push_instructions(
    queue: &mut CommandQueue,
    subsystems: &Subsystems,
    path: &DavPath,
    instructions: Vec<PatchInstruction>,
) -> Vec<PropName> {
    let mut names = Vec::with_capacity(instructions.len());
    for instruction in instructions {
        names.push(instruction.name().clone());
        let handler = subsystems.handler_for(instruction.name()).cloned();
        match instruction {
            PatchInstruction::Set { name, value } => queue.push(SetProperty::new(
                subsystems.properties.clone(),
                path.clone(),
                StoredProp { name, xml: value },
                handler,
            )),
            PatchInstruction::Remove { name } => queue.push(RemoveProperty::new(
                subsystems.properties.clone(),
                path.clone(),
                name,
                handler,
            )),
        };
    }
    names
}

/// The propstats of a PROPPATCH whose instructions (`names`) sit in a queue from index
/// `first` on, once the queue ran: all 200, or the failing ones with their own status and
/// every other 424 Failed Dependency. A failure outside the instructions (the flush, or a
/// content write that shares the queue) is returned as the error of the whole request.
pub(crate) fn patch_report(
    names: &[PropName],
    outcome: Result<(), QueueFailure>,
    first: usize,
) -> DavResult<Vec<PropStat>> {
    let mut statuses: Vec<(StatusCode, Option<DavError>)> =
        vec![(StatusCode::OK, None); names.len()];
    if let Err(failure) = outcome {
        statuses.fill((StatusCode::FAILED_DEPENDENCY, None));
        let failures = match failure {
            QueueFailure::Check(failures) => failures,
            QueueFailure::Execute { index, error } => vec![(index, error)],
        };
        for (index, error) in failures {
            match index.checked_sub(first).filter(|i| *i < names.len()) {
                Some(i) => statuses[i] = (error.status, Some(error)),
                // Not an instruction's failure: nothing was kept, the store is the culprit.
                None => return Err(error),
            }
        }
    }
    let mut propstats: Vec<PropStat> = Vec::new();
    for (name, (status, error)) in names.iter().cloned().zip(statuses) {
        let condition = error.as_ref().and_then(|e| e.condition.clone());
        let description = error.map(|e| e.message.into_owned());
        match propstats
            .iter_mut()
            .find(|p| p.status == status && p.error == condition && p.description == description)
        {
            Some(stat) => {
                if !stat.props.iter().any(|(n, _)| *n == name) {
                    stat.props.push((name, None));
                }
            }
            None => propstats.push(PropStat {
                status,
                props: vec![(name, None)],
                error: condition,
                description,
            }),
        }
    }
    Ok(propstats)
}
