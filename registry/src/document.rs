//! Document identity: the id and version behind MS-WDVME's `Repl-uid` and `ResourceTag`.
//!
//! Every resource has a document id (a GUID) that stays with it across content changes, MOVE
//! and restarts, and a version that grows with every content change. The executive records
//! them when it creates or writes a resource; live-property handlers and the executive read
//! them back. They live in the resource's property manager as one reserved dead property in
//! [`INTERNAL_NS`], so MOVE and DELETE carry and drop them like any property, and no store
//! needs a new method. The executive hides that namespace from clients (PROPFIND never shows
//! it, PROPPATCH refuses it) and gives a COPY fresh ids.
//!
//! A resource davd never wrote (a file dropped into the served directory, a generated
//! namespace) has no record. Reading must not write, so its identity is derived instead: the
//! id from its path, the version from its modification time in seconds. A recorded file whose
//! entity tag no longer matches the recorded one was changed behind davd's back and shows its
//! recorded version plus one.

use std::time::UNIX_EPOCH;

use davd_protocol::headers::ResourceTag;
use davd_protocol::headers::ms::{MAX_VERSION, repl_uid};
use davd_protocol::xml::{escape_text, fragment_text};
use davd_protocol::{DavPath, PropName};

use crate::property::StoredProp;
use crate::resource::ResourceMeta;

/// Properties in this namespace belong to davd itself: never shown, never settable.
pub const INTERNAL_NS: &str = "urn:davd:internal:";

/// The name the document record is stored under.
pub fn document_prop_name() -> PropName {
    PropName::new(INTERNAL_NS, "document")
}

/// True for names in davd's reserved namespace.
pub fn is_internal(name: &PropName) -> bool {
    name.namespace == INTERNAL_NS
}

/// What is recorded about a resource's document identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    pub guid: u128,
    /// 1 at creation, +1 with every content change.
    pub version: u64,
    /// The entity tag the content had when `version` was recorded (empty for collections,
    /// whose tag changes with their members).
    pub etag: String,
    /// Who made the last content change (the authenticated principal), if known.
    pub modified_by: Option<String>,
}

/// Version tag of the stored format, so that a later format can be told apart.
const FORMAT: &str = "1";

const RECORD_START: &str = "<i:document xmlns:i=\"urn:davd:internal:\">";
const RECORD_END: &str = "</i:document>";

fn escape_field(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            ';' => out.push_str("%3B"),
            c => out.push(c),
        }
    }
}

fn unescape_field(s: &str) -> String {
    s.replace("%3B", ";").replace("%25", "%")
}

impl DocumentRecord {
    /// A new document: version 1.
    pub fn new(guid: u128, etag: String, modified_by: Option<String>) -> Self {
        DocumentRecord {
            guid,
            version: 1,
            etag,
            modified_by,
        }
    }

    /// The record as the reserved dead property (a self-contained element, like every stored
    /// property, so stores and tools that dump properties see well-formed XML).
    pub fn to_prop(&self) -> StoredProp {
        let mut fields = format!("{FORMAT};{:032x};{};", self.guid, self.version);
        escape_field(&self.etag, &mut fields);
        fields.push(';');
        if let Some(by) = &self.modified_by {
            escape_field(by, &mut fields);
        }
        let mut xml = String::from(RECORD_START);
        escape_text(&fields, &mut xml);
        xml.push_str(RECORD_END);
        StoredProp {
            name: document_prop_name(),
            xml,
        }
    }

    /// Reads a stored record; `None` for anything unreadable (treated as "no record").
    pub fn from_prop(xml: &str) -> Option<DocumentRecord> {
        // Records are read for every resource of an allprop PROPFIND: the form davd writes is
        // unpacked directly, anything else goes through the XML parser.
        let text = match xml
            .strip_prefix(RECORD_START)
            .and_then(|rest| rest.strip_suffix(RECORD_END))
        {
            Some(inner) if !inner.contains(['<', '&']) => inner.to_owned(),
            _ => fragment_text(xml)?,
        };
        let mut fields = text.split(';');
        if fields.next()? != FORMAT {
            return None;
        }
        let guid = u128::from_str_radix(fields.next()?, 16).ok()?;
        let version = fields.next()?.parse().ok()?;
        let etag = unescape_field(fields.next()?);
        let by = fields.next()?;
        if fields.next().is_some() {
            return None;
        }
        Some(DocumentRecord {
            guid,
            version,
            etag,
            modified_by: (!by.is_empty()).then(|| unescape_field(by)),
        })
    }
}

/// The identity a resource shows right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentIdentity {
    pub guid: u128,
    pub version: u64,
    pub modified_by: Option<String>,
    /// False when derived (no record, or one the content has moved on from).
    pub recorded: bool,
}

impl DocumentIdentity {
    /// From the stored record (if any) and the resource's current metadata.
    pub fn of(record: Option<&DocumentRecord>, path: &DavPath, meta: &ResourceMeta) -> Self {
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

    /// `rt:GUID@00000000002`
    pub fn resource_tag(&self) -> ResourceTag {
        ResourceTag {
            guid: self.guid,
            version: self.version,
        }
    }

    /// `rid:{GUID}`
    pub fn repl_uid(&self) -> String {
        repl_uid(self.guid)
    }

    /// The record of the next content change: same id, version + 1 (at most 11 digits).
    pub fn next(&self, etag: String, modified_by: Option<String>) -> DocumentRecord {
        DocumentRecord {
            guid: self.guid,
            version: (self.version + 1).min(MAX_VERSION),
            etag,
            modified_by,
        }
    }

    /// The record that keeps this identity as it is (to pin a derived identity before a MOVE).
    pub fn pinned(&self, etag: String) -> DocumentRecord {
        DocumentRecord {
            guid: self.guid,
            version: self.version,
            etag,
            modified_by: self.modified_by.clone(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn records_round_trip() {
        let record = DocumentRecord {
            guid: 0x93DAE904C4AE4B5FA7F6BDF4FAACEF5F,
            version: 2,
            etag: "a;b%c<d>".into(),
            modified_by: Some("DOMAIN\\al;ice & bob".into()),
        };
        let prop = record.to_prop();
        assert_eq!(prop.name, document_prop_name());
        assert!(fragment_text(&prop.xml).is_some(), "{}", prop.xml);
        assert_eq!(DocumentRecord::from_prop(&prop.xml), Some(record.clone()));
        let anonymous = DocumentRecord {
            modified_by: None,
            ..record
        };
        assert_eq!(
            DocumentRecord::from_prop(&anonymous.to_prop().xml),
            Some(anonymous)
        );
        let plain = DocumentRecord::new(7, "ab-12".into(), Some("alice".into()));
        assert_eq!(DocumentRecord::from_prop(&plain.to_prop().xml), Some(plain));
        assert!(RECORD_START.contains(INTERNAL_NS));
        assert_eq!(DocumentRecord::from_prop("<x>2;1;1;;</x>"), None);
        assert_eq!(DocumentRecord::from_prop("not xml"), None);
    }

    #[test]
    fn identities() {
        let record = DocumentRecord::new(7, "e1".into(), Some("alice".into()));
        let same = DocumentIdentity::of(Some(&record), &p("/a"), &meta(false, "e1", 5));
        assert_eq!((same.guid, same.version, same.recorded), (7, 1, true));
        assert_eq!(same.modified_by.as_deref(), Some("alice"));
        let changed = DocumentIdentity::of(Some(&record), &p("/a"), &meta(false, "e2", 5));
        assert_eq!((changed.guid, changed.version), (7, 2));
        let collection = DocumentIdentity::of(Some(&record), &p("/a"), &meta(true, "e2", 5));
        assert_eq!(collection.version, 1);
        let derived = DocumentIdentity::of(None, &p("/a"), &meta(false, "e", 1_700_000_000));
        assert_eq!(derived.guid, derived_guid(&p("/a")));
        assert_eq!(derived.version, 1_700_000_000);
        assert_eq!(
            DocumentIdentity::of(None, &p("/a"), &meta(false, "e", 0)).version,
            1
        );
        assert_ne!(derived_guid(&p("/a")), derived_guid(&p("/b")));
        assert_eq!((derived_guid(&p("/a")) >> 76) & 0xF, 8);
        assert_eq!(same.next("e3".into(), None).version, 2);
        assert_eq!(
            same.resource_tag().to_string(),
            "rt:00000000-0000-0000-0000-000000000007@00000000001"
        );
    }
}
