//! Document identity, as stored and as shown: the id and version behind MS-WDVME's `Repl-uid`
//! and `ResourceTag`.
//!
//! Every resource has a document id (a GUID) that stays with it across content changes, MOVE
//! and restarts, and a version that grows with every content change. The executive records
//! them when it creates or writes a resource; live-property handlers and the executive read
//! them back. They live in the resource's property manager as one reserved dead property in
//! [`INTERNAL_NS`], so MOVE and DELETE carry and drop them like any property, and no store
//! needs a new method. The executive hides that namespace from clients (PROPFIND never shows
//! it, PROPPATCH refuses it).
//!
//! This module holds only the shapes the layers share: the record and its stored form, and the
//! identity a resource shows. The rules (which id and version a new, written, copied or
//! unrecorded resource gets) are policy, in the executive (`executive/src/ms/docid.rs`), which
//! hands them to handlers through [`PropContext`](crate::PropContext).

use davd_protocol::digits::{push_decimal, push_hex};
use davd_protocol::headers::ResourceTag;
use davd_protocol::headers::ms::repl_uid;
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

/// A field as it appears in the stored element: `%` and `;` escaped for the record's syntax,
/// then the result escaped as XML text. Most fields (entity tags, user names) need neither.
fn push_field(field: &str, xml: &mut String) {
    if field.contains(['%', ';']) {
        let mut escaped = String::with_capacity(field.len() + 8);
        escape_field(field, &mut escaped);
        escape_text(&escaped, xml);
    } else {
        escape_text(field, xml);
    }
}

/// 32 hex digits (as `to_prop` writes them; fewer are read too). `u128::from_str_radix`
/// multiplies a 128-bit number with overflow checks for every digit; this shifts.
fn parse_guid(hex: &str) -> Option<u128> {
    if hex.is_empty() || hex.len() > 32 {
        return None;
    }
    hex.bytes().try_fold(0u128, |guid, b| {
        let digit = (b as char).to_digit(16)?;
        Some(guid << 4 | u128::from(digit))
    })
}

fn unescape_field(s: &str) -> String {
    if s.contains('%') {
        s.replace("%3B", ";").replace("%25", "%")
    } else {
        s.to_owned()
    }
}

impl DocumentRecord {
    /// The record as the reserved dead property (a self-contained element, like every stored
    /// property, so stores and tools that dump properties see well-formed XML).
    pub fn to_prop(&self) -> StoredProp {
        let by = self.modified_by.as_deref().unwrap_or("");
        let mut xml = String::with_capacity(
            RECORD_START.len() + RECORD_END.len() + 64 + self.etag.len() + by.len(),
        );
        xml.push_str(RECORD_START);
        xml.push_str(FORMAT);
        xml.push(';');
        push_hex(&mut xml, self.guid, 32);
        xml.push(';');
        push_decimal(&mut xml, self.version, 0);
        xml.push(';');
        push_field(&self.etag, &mut xml);
        xml.push(';');
        push_field(by, &mut xml);
        xml.push_str(RECORD_END);
        StoredProp {
            name: document_prop_name(),
            xml,
        }
    }

    /// Reads a stored record; `None` for anything unreadable (treated as "no record").
    pub fn from_prop(xml: &str) -> Option<DocumentRecord> {
        // Records are read for every resource of an allprop PROPFIND and every PUT: the form
        // davd writes is unpacked in place, anything else goes through the XML parser.
        let parsed;
        let text = match xml
            .strip_prefix(RECORD_START)
            .and_then(|rest| rest.strip_suffix(RECORD_END))
        {
            // Bytes, not chars: a char-set search decodes every character, and was most of
            // the cost of reading a record.
            Some(inner) if !inner.bytes().any(|b| b == b'<' || b == b'&') => inner,
            _ => {
                parsed = fragment_text(xml)?;
                parsed.as_str()
            }
        };
        let mut fields = text.split(';');
        if fields.next()? != FORMAT {
            return None;
        }
        let guid = parse_guid(fields.next()?)?;
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

/// How the identity a resource shows is worked out from its record (if any), its path and its
/// metadata: the executive's rule (`executive/src/ms/docid.rs`), handed to handlers in
/// [`PropContext::identify`](crate::PropContext::identify).
pub type IdentityRule = fn(Option<&DocumentRecord>, &DavPath, &ResourceMeta) -> DocumentIdentity;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_read_as_written() {
        assert_eq!(parse_guid("0"), Some(0));
        assert_eq!(parse_guid("fF"), Some(255));
        assert_eq!(parse_guid(&"f".repeat(32)), Some(u128::MAX));
        assert_eq!(
            parse_guid("93DAE904C4AE4B5FA7F6BDF4FAACEF5F"),
            Some(0x93DAE904C4AE4B5FA7F6BDF4FAACEF5F)
        );
        for bad in ["", "g", "+1", "-1", " 1", &"1".repeat(33), "\u{e9}"] {
            assert_eq!(parse_guid(bad), None, "{bad:?}");
        }
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
        let plain = DocumentRecord {
            guid: 7,
            version: 1,
            etag: "ab-12".into(),
            modified_by: Some("alice".into()),
        };
        assert_eq!(DocumentRecord::from_prop(&plain.to_prop().xml), Some(plain));
        assert!(RECORD_START.contains(INTERNAL_NS));
        assert_eq!(DocumentRecord::from_prop("<x>2;1;1;;</x>"), None);
        assert_eq!(DocumentRecord::from_prop("not xml"), None);
    }

    /// The stored text is exactly what the first format wrote (`format!` with `{:032x}`):
    /// records written by earlier versions and by this one read alike.
    #[test]
    fn the_stored_text_keeps_its_form() {
        let record = DocumentRecord {
            guid: 0x93DAE904C4AE4B5FA7F6BDF4FAACEF5F,
            version: 18_446_744_073_709_551_615,
            etag: "a;b%c<d>".into(),
            modified_by: Some("al;ice & bob".into()),
        };
        assert_eq!(
            record.to_prop().xml,
            format!(
                "{RECORD_START}1;93dae904c4ae4b5fa7f6bdf4faacef5f;18446744073709551615;\
                 a%3Bb%25c&lt;d&gt;;al%3Bice &amp; bob{RECORD_END}"
            )
        );
        let first = DocumentRecord {
            guid: 7,
            version: 0,
            etag: String::new(),
            modified_by: None,
        };
        assert_eq!(
            first.to_prop().xml,
            format!("{RECORD_START}1;00000000000000000000000000000007;0;;{RECORD_END}")
        );
    }
}
