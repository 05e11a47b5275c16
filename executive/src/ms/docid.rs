//! Document ids and versions for the methods: reading a resource's identity, recording a new
//! one, and the `ResourceTag` / `Repl-uid` response headers (MS-WDVME 2.2.3, 2.2.4).
//!
//! | operation                          | id                  | version |
//! |------------------------------------|---------------------|---------|
//! | create (PUT, MKCOL, POST, LOCK)    | new (random v4)     | 1       |
//! | content change (PUT, POST)         | kept                | + 1     |
//! | PROPPATCH, LOCK, UNLOCK            | kept                | kept    |
//! | MOVE                               | kept (moves along)  | kept    |
//! | COPY                               | new for every copy  | 1       |
//! | DELETE, then re-create             | new                 | 1       |
//!
//! The record is written in the request's CommandQueue, right after the content, so an undone
//! write undoes it too. It is **not** flushed on its own: a PUT costs one small property write
//! and no extra disk flush. A crash in the store's flush interval (sled: 500 ms) can lose the
//! newest record; the next read then sees an entity tag that differs from the recorded one and
//! reports the recorded version + 1, which is the lost version. What can be lost for good is
//! the `modifiedby` of that write and, for a resource created just before the crash, its id
//! (it is then derived from the path). See `docs/adr/0007-document-ids.md`.

use std::sync::Arc;

use async_trait::async_trait;

use davd_protocol::headers::ms::names::{REPL_UID, RESOURCE_TAG};
use davd_protocol::{DavPath, Response};
use davd_registry::{
    DocumentIdentity, DocumentRecord, PropChange, PropertyManager, ResourceMeta, document_prop_name,
};

use crate::context::Ctx;
use crate::error::DavResult;
use crate::queue::{Command, Effects};

/// The stored record of `path`, if any.
pub async fn record(ctx: &Ctx, path: &DavPath) -> DavResult<Option<DocumentRecord>> {
    let properties = ctx.resolve(path).properties;
    Ok(properties
        .get(path, &document_prop_name())
        .await?
        .and_then(|p| DocumentRecord::from_prop(&p.xml)))
}

/// The identity `path` shows now (one property lookup; never writes).
pub async fn identity(
    ctx: &Ctx,
    path: &DavPath,
    meta: &ResourceMeta,
) -> DavResult<DocumentIdentity> {
    Ok(DocumentIdentity::of(
        record(ctx, path).await?.as_ref(),
        path,
        meta,
    ))
}

/// A record for a new document. Its entity tag is filled in from the write when the
/// [`RecordDocument`] command runs.
pub fn fresh(ctx: &Ctx) -> DocumentRecord {
    DocumentRecord::new(
        uuid::Uuid::new_v4().as_u128(),
        String::new(),
        ctx.client.principal.clone(),
    )
}

/// The record a content write of `path` leaves: the next version of what is there, or a new
/// document if nothing is.
pub async fn after_write(
    ctx: &Ctx,
    path: &DavPath,
    before: Option<&ResourceMeta>,
) -> DavResult<DocumentRecord> {
    Ok(match before {
        Some(meta) => identity(ctx, path, meta)
            .await?
            .next(String::new(), ctx.client.principal.clone()),
        None => fresh(ctx),
    })
}

/// Adds `ResourceTag` (and, for a PUT, `Repl-uid`) to a response.
pub fn add_headers(response: &mut Response, identity: &DocumentIdentity, repl_uid: bool) {
    response.set_header(RESOURCE_TAG, identity.resource_tag().to_string());
    if repl_uid {
        response.set_header(REPL_UID, identity.repl_uid());
    }
}

/// The identity a record written by this request gives its resource.
pub fn recorded(record: &DocumentRecord) -> DocumentIdentity {
    DocumentIdentity {
        guid: record.guid,
        version: record.version,
        modified_by: record.modified_by.clone(),
        recorded: true,
    }
}

/// Writes a document record (declared, applied at the queue's commit point). With
/// `etag_from_write`, the entity tag is the one the content write before it in the queue
/// reported, so the version matches exactly those bytes.
pub struct RecordDocument {
    properties: Arc<dyn PropertyManager>,
    path: DavPath,
    record: DocumentRecord,
    etag_from_write: bool,
}

impl RecordDocument {
    pub fn new(
        properties: Arc<dyn PropertyManager>,
        path: DavPath,
        record: DocumentRecord,
        etag_from_write: bool,
    ) -> Self {
        RecordDocument {
            properties,
            path,
            record,
            etag_from_write,
        }
    }

    /// For the resource of a request.
    pub fn for_request(
        ctx: &Ctx,
        path: &DavPath,
        record: DocumentRecord,
        etag_from_write: bool,
    ) -> Self {
        Self::new(
            ctx.resolve(path).properties,
            path.clone(),
            record,
            etag_from_write,
        )
    }
}

#[async_trait]
impl Command for RecordDocument {
    fn describe(&self) -> String {
        format!(
            "record document version {} of {}",
            self.record.version, self.path
        )
    }

    async fn execute(&mut self, effects: &mut Effects) -> DavResult<()> {
        if self.etag_from_write
            && let Some(meta) = &effects.meta
            && !meta.collection
        {
            self.record.etag = meta.etag.clone();
        }
        effects.state.props(
            &self.properties,
            &self.path,
            PropChange::Set {
                path: self.path.clone(),
                prop: self.record.to_prop(),
            },
        );
        effects.document = Some(self.record.clone());
        Ok(())
    }

    async fn undo(&mut self) -> DavResult<()> {
        Ok(())
    }
}
