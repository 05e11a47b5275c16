//! `DAV:displayname` (RFC 4918 §15.2): a name to show for a resource. Client libraries list it
//! and some show it; answering 404 made them fall back to parsing the href, or show nothing.
//!
//! The value is the last segment of the resource's path, decoded (`back\slash.txt`,
//! `Café`), and the empty string for the root, which has no name in its URL (a `/` would be
//! read as a path by a client that joins names). RFC 4918 says the property SHOULD NOT be
//! protected, and CalDAV/CardDAV-style clients (Thunderbird, DAVx⁵) PROPPATCH it to name a
//! collection: so a PROPPATCH stores it as a dead property, which then overrides the computed
//! value, and removing it brings the computed value back. A stored name travels with the
//! resource through MOVE and COPY like any dead property (docs/clients.md, "displayname").

use async_trait::async_trait;

use davd_registry::{
    LivePropertyHandler, PropContext, PropName, PropValue, SetVerdict, StoredProp, SubsystemResult,
};

/// `DAV:displayname`, computed from the path unless a client stored one.
pub struct DisplayName {
    names: [PropName; 1],
}

impl Default for DisplayName {
    fn default() -> Self {
        Self::new()
    }
}

impl DisplayName {
    pub fn new() -> Self {
        DisplayName {
            names: [PropName::dav("displayname")],
        }
    }
}

/// The stored value if a client set one, else the decoded last segment.
fn value(cx: &PropContext<'_>, stored: Option<&StoredProp>) -> PropValue {
    match stored {
        Some(prop) => PropValue::Fragment(prop.xml.clone()),
        None => PropValue::Text(cx.path.name().unwrap_or("").to_owned().into()),
    }
}

#[async_trait]
impl LivePropertyHandler for DisplayName {
    fn stable(&self) -> bool {
        true
    }

    fn names(&self) -> &[PropName] {
        &self.names
    }

    async fn get(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> SubsystemResult<Option<PropValue>> {
        let stored = cx.dead_property(name).await?;
        Ok(Some(value(cx, stored.as_ref())))
    }

    fn get_now(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> Option<SubsystemResult<Option<PropValue>>> {
        let stored = cx.dead_property_now(name)?;
        Some(Ok(Some(value(cx, stored))))
    }

    fn check_set(&self, _name: &PropName, _value: &str) -> SetVerdict {
        SetVerdict::Store
    }

    fn check_remove(&self, _name: &PropName) -> SetVerdict {
        SetVerdict::Store
    }
}
