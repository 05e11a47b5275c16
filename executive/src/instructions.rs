//! PROPPATCH instructions as commands of a queue, and the propstats they come to once it ran:
//! shared by PROPPATCH and by a PUT carrying `X-MSDAVEXT: PROPPATCH` (MS-WDV 3.2.5.5), whose
//! instructions share the queue with the content.

use http::StatusCode;

use davd_protocol::xml::{PatchInstruction, PropStat};
use davd_protocol::{DavPath, PropName};
use davd_registry::{StoredProp, Subsystems};

use crate::commands::properties::{RemoveProperty, SetProperty};
use crate::error::{DavError, DavResult};
use crate::queue::{CommandQueue, QueueFailure};

/// One [SetProperty | RemoveProperty] per instruction, in document order, each told which
/// live handler owns its name. Returns the names, in the same order.
pub fn push_instructions(
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
pub fn patch_report(
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
