//! Document ids and versions: the rules (which id and version each operation gives, and what
//! a resource davd never recorded shows), reading a resource's identity, recording a new one,
//! and the `ResourceTag` / `Repl-uid` response headers (MS-WDVME 2.2.3, 2.2.4). The record's
//! stored shape is shared with the handlers (`davd_registry::document`); the rules are here,
//! and reach the handlers as [`identity_of`] in `PropContext::identify`.
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
//!
//! A resource davd never wrote (a file dropped into the served directory, a generated
//! namespace) has no record. Reading must not write, so its identity is derived instead: the
//! id from its path, the version from its modification time in seconds. A recorded file whose
//! entity tag no longer matches the recorded one was changed behind davd's back and shows its
//! recorded version plus one.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use http::HeaderValue;

use davd_protocol::headers::ms::MAX_VERSION;
use davd_protocol::headers::ms::names::{REPL_UID, RESOURCE_TAG};
use davd_protocol::{DavPath, Response};
use davd_registry::{
    DocumentIdentity, DocumentRecord, PropChange, PropertyManager, ResourceMeta, Subsystems,
    document_prop_name,
};

use crate::context::Ctx;
use crate::error::DavResult;
use crate::queue::{Command, Effects};

use super::recent_records;
use super::recent_tags::{self, StoreState};

/// The stored record of `path`, if any: the one last read or written for it while the store
/// has changed nothing since (`recent_records`), else read from the store.
pub async fn record(ctx: &Ctx, path: &DavPath) -> DavResult<Option<DocumentRecord>> {
    // Only the property manager: resolving every subsystem of the path would cost a GET more
    // than the lookup itself.
    let properties = ctx.exec.registry.properties(path);
    // Taken before the read: a change made meanwhile raises the count after it.
    let state = StoreState::of(properties);
    if let Some(seen) = state.and_then(|state| recent_records::find(state, path.as_str())) {
        return Ok(seen);
    }
    let record = record_in(properties, path).await?;
    if let Some(state) = state {
        recent_records::remember(state, path.as_str(), record.as_ref());
    }
    Ok(record)
}

/// The property store's state before a request writes `path`'s record, so that
/// [`remember_written`] can tell whether that write was the store's only change.
pub fn state_before_write(properties: &Arc<dyn PropertyManager>) -> Option<StoreState> {
    StoreState::of(properties)
}

/// Remembers the record a request wrote for `path` (see `recent_records`).
pub fn remember_written(
    before: Option<StoreState>,
    properties: &Arc<dyn PropertyManager>,
    path: &DavPath,
    record: &DocumentRecord,
) {
    if let Some(before) = before {
        recent_records::remember_written(before, StoreState::of(properties), path.as_str(), record);
    }
}

async fn record_in(
    properties: &Arc<dyn PropertyManager>,
    path: &DavPath,
) -> DavResult<Option<DocumentRecord>> {
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
    Ok(identity_of(record(ctx, path).await?.as_ref(), path, meta))
}

/// A record for a new document. Its entity tag is filled in from the write when the
/// [`RecordDocument`] command runs.
pub fn fresh(ctx: &Ctx) -> DocumentRecord {
    new_document(String::new(), ctx.client.principal.clone())
}

/// The record of a new document: a random (version 4) id, version 1.
pub fn new_document(etag: String, modified_by: Option<String>) -> DocumentRecord {
    DocumentRecord {
        guid: uuid::Uuid::new_v4().as_u128(),
        version: 1,
        etag,
        modified_by,
    }
}

/// The identity a resource shows, from its stored record (if any) and its current metadata:
/// the record's, unless the content changed behind davd's back (then its version + 1); for a
/// resource without a record, one derived from its path and modification time.
pub fn identity_of(
    record: Option<&DocumentRecord>,
    path: &DavPath,
    meta: &ResourceMeta,
) -> DocumentIdentity {
    match record {
        Some(r) if meta.collection || r.etag.is_empty() || r.etag == meta.etag => {
            DocumentIdentity {
                guid: r.guid,
                version: r.version,
                modified_by: r.modified_by.clone(),
                recorded: true,
            }
        }
        Some(r) => DocumentIdentity {
            guid: r.guid,
            version: (r.version + 1).min(MAX_VERSION),
            modified_by: None,
            recorded: false,
        },
        None => DocumentIdentity {
            guid: derived_guid(path),
            version: if meta.collection {
                1
            } else {
                meta.modified
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_secs())
                    .clamp(1, MAX_VERSION)
            },
            modified_by: None,
            recorded: false,
        },
    }
}

/// The record of the next content change of a resource showing `identity`: same id, version
/// + 1 (at most 11 digits).
pub fn next_version(
    identity: &DocumentIdentity,
    etag: String,
    modified_by: Option<String>,
) -> DocumentRecord {
    DocumentRecord {
        guid: identity.guid,
        version: (identity.version + 1).min(MAX_VERSION),
        etag,
        modified_by,
    }
}

/// The record that keeps `identity` as it is (to pin a derived identity before a MOVE).
pub fn pinned(identity: &DocumentIdentity, etag: String) -> DocumentRecord {
    DocumentRecord {
        guid: identity.guid,
        version: identity.version,
        etag,
        modified_by: identity.modified_by.clone(),
    }
}

/// A stable id for a resource without a record: FNV-1a (128 bit) of its path, shaped as a
/// version-8 ("custom") UUID so it never collides with the random version-4 ids davd records.
pub fn derived_guid(path: &DavPath) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut hash = OFFSET;
    for b in b"davd-document:"
        .iter()
        .chain(path.as_str().as_bytes().iter())
    {
        hash ^= u128::from(*b);
        hash = hash.wrapping_mul(PRIME);
    }
    // Version nibble 8, variant bits 10 (RFC 9562).
    (hash & !(0xF << 76) & !(0x3 << 62)) | (0x8 << 76) | (0x2 << 62)
}

/// The record a content write of `path` leaves: the next version of what is there, or a new
/// document if nothing is.
pub async fn after_write(
    ctx: &Ctx,
    path: &DavPath,
    before: Option<&ResourceMeta>,
) -> DavResult<DocumentRecord> {
    Ok(match before {
        Some(_) => after_write_of(ctx, path, record(ctx, path).await?.as_ref(), before),
        None => fresh(ctx),
    })
}

/// Like [`after_write`], with the stored record of `path` already read.
pub fn after_write_of(
    ctx: &Ctx,
    path: &DavPath,
    stored: Option<&DocumentRecord>,
    before: Option<&ResourceMeta>,
) -> DocumentRecord {
    match before {
        Some(meta) => next_version(
            &identity_of(stored, path, meta),
            String::new(),
            ctx.client.principal.clone(),
        ),
        None => fresh(ctx),
    }
}

/// Adds the `ResourceTag` `path` shows now to a GET's response: the answer this thread sent
/// last for it while the property store has changed nothing since and the resource is the
/// same (`recent_tags`), else from its record, read once.
pub async fn add_resource_tag(
    ctx: &Ctx,
    response: &mut Response,
    path: &DavPath,
    meta: &ResourceMeta,
) -> DavResult<()> {
    let properties = ctx.exec.registry.properties(path);
    let state = StoreState::of(properties);
    if let Some(tag) = state.and_then(|state| recent_tags::find(state, path.as_str(), meta)) {
        response.headers.insert(RESOURCE_TAG, tag);
        return Ok(());
    }
    let record = record_in(properties, path).await?;
    let identity = identity_of(record.as_ref(), path, meta);
    let Ok(tag) = HeaderValue::try_from(identity.resource_tag().encode()) else {
        return Ok(());
    };
    if let Some(state) = state {
        recent_tags::remember(state, path.as_str(), meta, tag.clone());
    }
    response.headers.insert(RESOURCE_TAG, tag);
    Ok(())
}

// ANCHOR: response-header
/// Adds `ResourceTag` (and, for a PUT, `Repl-uid`) to a response.
pub fn add_headers(response: &mut Response, identity: &DocumentIdentity, repl_uid: bool) {
    response.set_header_owned(RESOURCE_TAG, identity.resource_tag().encode());
    if repl_uid {
        response.set_header(REPL_UID, identity.repl_uid());
    }
}
// ANCHOR_END: response-header

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
    /// For `path` in the property store of `subsystems`.
    pub fn new(
        subsystems: &Subsystems,
        path: &DavPath,
        record: DocumentRecord,
        etag_from_write: bool,
    ) -> Self {
        RecordDocument {
            properties: subsystems.properties.clone(),
            path: path.clone(),
            record,
            etag_from_write,
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn meta(collection: bool, etag: &str, secs: u64) -> ResourceMeta {
        ResourceMeta {
            collection,
            len: 0,
            modified: UNIX_EPOCH + Duration::from_secs(secs),
            created: None,
            etag: etag.into(),
            content_type: None,
        }
    }

    fn p(s: &str) -> DavPath {
        DavPath::parse_url_path(s).unwrap().0
    }

    #[test]
    fn identities() {
        let record = DocumentRecord {
            guid: 7,
            version: 1,
            etag: "e1".into(),
            modified_by: Some("alice".into()),
        };
        let same = identity_of(Some(&record), &p("/a"), &meta(false, "e1", 5));
        assert_eq!((same.guid, same.version, same.recorded), (7, 1, true));
        assert_eq!(same.modified_by.as_deref(), Some("alice"));
        let changed = identity_of(Some(&record), &p("/a"), &meta(false, "e2", 5));
        assert_eq!((changed.guid, changed.version), (7, 2));
        let collection = identity_of(Some(&record), &p("/a"), &meta(true, "e2", 5));
        assert_eq!(collection.version, 1);
        let derived = identity_of(None, &p("/a"), &meta(false, "e", 1_700_000_000));
        assert_eq!(derived.guid, derived_guid(&p("/a")));
        assert_eq!(derived.version, 1_700_000_000);
        assert_eq!(identity_of(None, &p("/a"), &meta(false, "e", 0)).version, 1);
        assert_ne!(derived_guid(&p("/a")), derived_guid(&p("/b")));
        assert_eq!((derived_guid(&p("/a")) >> 76) & 0xF, 8);
        assert_eq!(next_version(&same, "e3".into(), None).version, 2);
        assert_eq!(pinned(&derived, "e".into()).version, 1_700_000_000);
        assert_eq!(
            same.resource_tag().to_string(),
            "rt:00000000-0000-0000-0000-000000000007@00000000001"
        );
        let new = new_document("e".into(), None);
        assert_eq!(new.version, 1);
        assert_eq!((new.guid >> 76) & 0xF, 4, "a random version 4 id");
    }
}
