//! `get_now` is a shortcut: wherever it answers, it must give what `get` gives.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use davd_registry::{
    ClientInfo, DavPath, DocumentIdentity, DocumentRecord, LockManager, LockRecord, LockScope,
    PropContext, PropName, PropValue, PropertyManager, ResourceMeta, StoredProp, Subsystems,
    Timeout,
};

use super::microsoft::{OFFICE_NS, WIN32_NS};
use super::standard_handlers;
use crate::memory::{MemoryLocks, MemoryNamespace, MemoryProperties};

/// The identity rule is the executive's; any rule serves to compare `get` with `get_now`.
fn recorded_as_is(
    record: Option<&DocumentRecord>,
    _: &DavPath,
    _: &ResourceMeta,
) -> DocumentIdentity {
    DocumentIdentity {
        guid: record.map_or(1, |r| r.guid),
        version: record.map_or(1, |r| r.version),
        modified_by: record.and_then(|r| r.modified_by.clone()),
        recorded: record.is_some(),
    }
}

fn text(value: &Option<PropValue>) -> String {
    format!("{value:?}")
}

/// A hidden file with a document record, a special folder type and a lock on it.
async fn resource() -> (
    Subsystems,
    DavPath,
    ResourceMeta,
    Vec<StoredProp>,
    Vec<LockRecord>,
) {
    let path = DavPath::root().join("doc.txt").expect("a valid segment");
    let properties: Arc<dyn PropertyManager> = Arc::new(MemoryProperties::new());
    let stored = [
        DocumentRecord {
            guid: 7,
            version: 1,
            etag: "e1".into(),
            modified_by: Some("alice".into()),
        }
        .to_prop(),
        StoredProp {
            name: PropName::new(WIN32_NS, "Win32FileAttributes"),
            xml: format!(
                "<Z:Win32FileAttributes xmlns:Z=\"{WIN32_NS}\">00000022</Z:Win32FileAttributes>"
            ),
        },
        StoredProp {
            name: PropName::new(OFFICE_NS, "specialFolderType"),
            xml: format!("<O:specialFolderType xmlns:O=\"{OFFICE_NS}\">5</O:specialFolderType>"),
        },
        // A name a client stored overrides the computed one, prefetched or not.
        StoredProp {
            name: PropName::dav("displayname"),
            xml: "<D:displayname xmlns:D=\"DAV:\">Shown</D:displayname>".into(),
        },
    ];
    for prop in stored {
        properties.set(&path, prop).await.expect("stored");
    }
    let locks = Arc::new(MemoryLocks::new());
    let lock = LockRecord {
        token: "urn:uuid:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
        root: DavPath::root(),
        scope: LockScope::Exclusive,
        deep: true,
        owner: Some("<D:owner xmlns:D=\"DAV:\">me</D:owner>".into()),
        principal: None,
        timeout: Timeout::Infinite,
        expires: None,
    };
    locks.insert(lock.clone()).await.expect("locked");
    let live = standard_handlers();
    let subsystems = Subsystems {
        namespace: Arc::new(MemoryNamespace::new()),
        scope: DavPath::root(),
        properties: properties.clone(),
        locks: vec![locks as Arc<dyn LockManager>],
        live: live.into(),
        history: None,
    };
    let meta = ResourceMeta {
        collection: false,
        len: 12,
        modified: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        created: None,
        etag: "e1".into(),
        content_type: None,
    };
    let dead = properties.get_all(&path).await.expect("read back");
    (subsystems, path, meta, dead, vec![lock])
}

/// `get` delegates to `get_now` when it can, so the reference is `get` with nothing
/// prefetched (the stores are asked), and the shortcut is `get_now` with everything prefetched.
#[tokio::test]
async fn get_now_agrees_with_get() {
    let (subsystems, path, meta, dead, locks) = resource().await;
    let client = ClientInfo::default();
    let context = |prefetched: bool| PropContext {
        path: &path,
        meta: &meta,
        subsystems: &subsystems,
        client: &client,
        known_locks: prefetched.then_some(locks.as_slice()),
        dead: prefetched.then_some(dead.as_slice()),
        document: Default::default(),
        identify: recorded_as_is,
    };
    let mut answered = 0;
    for handler in &subsystems.live {
        for name in handler.names() {
            let asked = handler.get(&context(false), name).await.expect("a value");
            match handler.get_now(&context(true), name) {
                Some(now) => {
                    assert_eq!(text(&now.expect("a value")), text(&asked), "{name:?}");
                    answered += 1;
                }
                // The quota properties always ask the namespace, the sync properties the
                // change log (and none of them is in allprop).
                None => assert!(
                    name.local.starts_with("quota-")
                        || ["sync-token", "supported-report-set"].contains(&name.local.as_ref()),
                    "{name:?} declined"
                ),
            }
        }
    }
    assert_eq!(answered, 17);
}
