//! Lets live-property handlers veto writes and observe reads (the read-only flag and the hit
//! counter of the 1997 paper are both such handlers).

use davd_protocol::DavPath;
use davd_registry::{HookContext, WriteKind};

use crate::context::Ctx;
use crate::error::DavResult;

/// Asks every handler in force at `path` whether the change may go ahead.
pub async fn before_write(ctx: &Ctx, path: &DavPath, deep: bool, kind: WriteKind) -> DavResult<()> {
    let subsystems = ctx.resolve(path);
    let hook = HookContext {
        path,
        deep,
        kind,
        properties: &subsystems.properties,
        client: &ctx.client,
    };
    for handler in &subsystems.live {
        handler.before_write(&hook).await?;
    }
    Ok(())
}

/// The same for a new or removed member of `path`'s parent.
pub async fn before_membership_change(ctx: &Ctx, path: &DavPath) -> DavResult<()> {
    match path.parent() {
        Some(parent) => before_write(ctx, &parent, false, WriteKind::Membership).await,
        None => Ok(()),
    }
}

/// Tells every handler in force at `path` that watches reads that it was read.
pub async fn after_read(ctx: &Ctx, path: &DavPath) {
    if !ctx
        .registry()
        .any_live_handler(path, |h| h.observes_reads())
    {
        return;
    }
    let subsystems = ctx.resolve(path);
    for handler in subsystems.live.iter().filter(|h| h.observes_reads()) {
        handler.after_read(path, &subsystems.properties).await;
    }
}
