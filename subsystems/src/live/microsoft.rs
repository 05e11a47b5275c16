//! The properties Microsoft clients read (MS-WDVME 2.2.9, 2.2.10, 3.2.5.6).
//!
//! | property                        | value                                   | PROPPATCH |
//! |---------------------------------|-----------------------------------------|-----------|
//! | `D:iscollection`                | `1` / `0`                               | 403       |
//! | `D:isFolder`                    | `t` / `f`                               | 403       |
//! | `D:ishidden`                    | `1` iff `Z:Win32FileAttributes` has 0x2 | 403       |
//! | `Repl:authoritative-directory`  | `t`, collections only                   | 403       |
//! | `Repl:repl-uid`                 | `rid:{GUID}`                            | 403       |
//! | `Repl:resourcetag`              | `rt:GUID@00000000002`                   | 403       |
//! | `Office:modifiedby`             | who made the last content change, `anonymous` without authentication | 403 |
//! | `Office:specialFolderType`      | dead, a 32-bit integer                  | 409 if not|
//!
//! The `Z:Win32*` properties are ordinary dead properties, stored verbatim on files and
//! collections alike; no handler is needed for them. The document id and version come from
//! the record the executive keeps for each resource (`davd_registry::document`), by the
//! executive's rules (`PropContext::document_identity`).

use async_trait::async_trait;

use davd_registry::xml::fragment_text;
use davd_registry::{
    ANONYMOUS, DAV_NS, DocumentIdentity, LivePropertyHandler, PropContext, PropName, PropValue,
    SetVerdict, StatusCode, StoredProp, SubsystemError, SubsystemResult,
};

pub const OFFICE_NS: &str = "urn:schemas-microsoft-com:office:office";
pub const REPL_NS: &str = "http://schemas.microsoft.com/repl/";
pub const WIN32_NS: &str = "urn:schemas-microsoft-com:";

/// FILE_ATTRIBUTE_HIDDEN.
const HIDDEN: u32 = 0x2;

pub struct MicrosoftProperties {
    names: Vec<PropName>,
}

impl Default for MicrosoftProperties {
    fn default() -> Self {
        Self::new()
    }
}

impl MicrosoftProperties {
    pub fn new() -> Self {
        MicrosoftProperties {
            names: vec![
                PropName::dav("iscollection"),
                PropName::dav("isFolder"),
                PropName::dav("ishidden"),
                PropName::new(REPL_NS, "authoritative-directory"),
                PropName::new(REPL_NS, "repl-uid"),
                PropName::new(REPL_NS, "resourcetag"),
                PropName::new(OFFICE_NS, "modifiedby"),
                PropName::new(OFFICE_NS, "specialFolderType"),
            ],
        }
    }

    fn win32_attributes() -> PropName {
        PropName::new(WIN32_NS, "Win32FileAttributes")
    }
}

/// `ishidden` from the stored `Z:Win32FileAttributes`, if any.
fn hidden(attributes: Option<&StoredProp>) -> bool {
    attributes
        .and_then(|p| fragment_text(&p.xml))
        .and_then(|t| u32::from_str_radix(t.trim(), 16).ok())
        .is_some_and(|a| a & HIDDEN != 0)
}

/// The three properties read from the document identity.
fn from_identity(local: &str, identity: &DocumentIdentity) -> Option<PropValue> {
    Some(PropValue::Text(match local {
        "repl-uid" => identity.repl_uid().into(),
        "resourcetag" => identity.resource_tag().encode().into(),
        // The anonymous principal's name when nobody authenticated made the change.
        "modifiedby" => match &identity.modified_by {
            Some(who) => who.clone().into(),
            None => ANONYMOUS.into(),
        },
        _ => return None,
    }))
}

/// `Office:specialFolderType` must be "a value stored in a 32-bit integer" (MS-WDVME
/// 2.2.10.5). SharePoint parses an unsigned decimal into a signed integer (<19>), so both
/// readings are accepted: -2147483648 ..= 4294967295, optional sign, decimal digits only.
fn is_32_bit_integer(text: &str) -> bool {
    let text = text.trim();
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && text
            .parse::<i64>()
            .is_ok_and(|n| (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&n))
}

fn flag(on: bool, yes: &'static str, no: &'static str) -> Option<PropValue> {
    Some(PropValue::Text(if on { yes } else { no }.into()))
}

#[async_trait]
impl LivePropertyHandler for MicrosoftProperties {
    fn stable(&self) -> bool {
        true
    }

    fn names(&self) -> &[PropName] {
        &self.names
    }

    /// All of them: MS-WDVME's, not RFC 4918's.
    fn is_extension(&self, _name: &PropName) -> bool {
        true
    }

    async fn get(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> SubsystemResult<Option<PropValue>> {
        if let Some(value) = self.get_now(cx, name) {
            return value;
        }
        // Only the values stored with the resource are left, and nothing was prefetched.
        Ok(match (&*name.namespace, &*name.local) {
            (DAV_NS, "ishidden") => {
                let attributes = cx.dead_property(&Self::win32_attributes()).await?;
                flag(hidden(attributes.as_ref()), "1", "0")
            }
            (REPL_NS, local @ ("repl-uid" | "resourcetag")) | (OFFICE_NS, local @ "modifiedby") => {
                from_identity(local, cx.document_identity().await?)
            }
            (OFFICE_NS, "specialFolderType") => cx
                .dead_property(name)
                .await?
                .map(|p| PropValue::Fragment(p.xml)),
            _ => None,
        })
    }

    fn get_now(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> Option<SubsystemResult<Option<PropValue>>> {
        let collection = cx.meta.collection;
        Some(Ok(match (&*name.namespace, &*name.local) {
            (DAV_NS, "iscollection") => flag(collection, "1", "0"),
            (DAV_NS, "isFolder") => flag(collection, "t", "f"),
            (DAV_NS, "ishidden") => flag(
                hidden(cx.dead_property_now(&Self::win32_attributes())?),
                "1",
                "0",
            ),
            // davd lists every member of a collection.
            (REPL_NS, "authoritative-directory") if collection => flag(true, "t", "f"),
            (REPL_NS, local @ ("repl-uid" | "resourcetag")) | (OFFICE_NS, local @ "modifiedby") => {
                from_identity(local, cx.document_identity_now()?)
            }
            (OFFICE_NS, "specialFolderType") => cx
                .dead_property_now(name)?
                .map(|p| PropValue::Fragment(p.xml.clone())),
            _ => None,
        }))
    }

    fn check_set(&self, name: &PropName, value: &str) -> SetVerdict {
        if !name.is(OFFICE_NS, "specialFolderType") {
            return SetVerdict::Protected;
        }
        match fragment_text(value) {
            Some(text) if is_32_bit_integer(&text) => SetVerdict::Store,
            _ => SetVerdict::Reject(SubsystemError::new(
                StatusCode::CONFLICT,
                "Office:specialFolderType must be a 32-bit integer",
            )),
        }
    }

    fn check_remove(&self, name: &PropName) -> SetVerdict {
        if name.is(OFFICE_NS, "specialFolderType") {
            SetVerdict::Store
        } else {
            SetVerdict::Protected
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_folder_types() {
        for ok in ["5", " 0 ", "-2147483648", "4294967295", "+7"] {
            assert!(is_32_bit_integer(ok), "{ok}");
        }
        for bad in [
            "",
            "abc",
            "1.5",
            "0x10",
            "4294967296",
            "-2147483649",
            "+",
            "1 2",
        ] {
            assert!(!is_32_bit_integer(bad), "{bad}");
        }
        let h = MicrosoftProperties::new();
        let name = PropName::new(OFFICE_NS, "specialFolderType");
        let fragment = |v: &str| {
            format!(
                "<Office:specialFolderType xmlns:Office=\"{OFFICE_NS}\">{v}</Office:specialFolderType>"
            )
        };
        assert_eq!(h.check_set(&name, &fragment("5")), SetVerdict::Store);
        assert!(matches!(
            h.check_set(&name, &fragment("five")),
            SetVerdict::Reject(e) if e.status == StatusCode::CONFLICT
        ));
        assert_eq!(h.check_remove(&name), SetVerdict::Store);
        assert_eq!(
            h.check_set(
                &PropName::dav("isFolder"),
                "<D:isFolder xmlns:D=\"DAV:\">t</D:isFolder>"
            ),
            SetVerdict::Protected
        );
    }
}
