//! The resource properties of RFC 4918 §15 that come from namespace metadata.

use async_trait::async_trait;

use davd_registry::{LivePropertyHandler, PropContext, PropName, PropValue, SubsystemResult, date};

/// `creationdate`, `getcontentlength`, `getcontenttype`, `getetag`, `getlastmodified` and
/// `resourcetype`: all computed from the namespace manager's metadata, all protected.
pub struct CoreProperties {
    names: Vec<PropName>,
}

impl Default for CoreProperties {
    fn default() -> Self {
        Self::new()
    }
}

impl CoreProperties {
    pub fn new() -> Self {
        CoreProperties {
            names: [
                "creationdate",
                "getcontentlength",
                "getcontenttype",
                "getetag",
                "getlastmodified",
                "resourcetype",
            ]
            .iter()
            .map(|n| PropName::dav(*n))
            .collect(),
        }
    }
}

/// The value of one of the six properties; all come from the metadata, so nothing waits.
fn value(cx: &PropContext<'_>, name: &PropName) -> Option<PropValue> {
    let meta = cx.meta;
    match &*name.local {
        "creationdate" => Some(PropValue::Text(
            date::rfc3339(meta.created.unwrap_or(meta.modified)).into(),
        )),
        "getcontentlength" if !meta.collection => {
            Some(PropValue::Text(meta.len.to_string().into()))
        }
        "getcontenttype" if !meta.collection => Some(PropValue::Text(
            meta.media_type(cx.path.name().unwrap_or("")),
        )),
        "getetag" => {
            let mut quoted = String::with_capacity(meta.etag.len() + 2);
            quoted.push('"');
            quoted.push_str(&meta.etag);
            quoted.push('"');
            Some(PropValue::Text(quoted.into()))
        }
        "getlastmodified" => Some(PropValue::Text(date::http_date(meta.modified).into())),
        "resourcetype" if meta.collection => Some(PropValue::Xml("<D:collection/>".into())),
        "resourcetype" => Some(PropValue::Empty),
        _ => None,
    }
}

#[async_trait]
impl LivePropertyHandler for CoreProperties {
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
        Ok(value(cx, name))
    }

    fn get_now(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> Option<SubsystemResult<Option<PropValue>>> {
        Some(Ok(value(cx, name)))
    }
}
