//! The resource properties of RFC 4918 §15 that come from namespace metadata.

use async_trait::async_trait;

use davd_registry::{LivePropertyHandler, PropContext, PropName, PropValue, SubsystemResult};

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
            .map(|n| PropName::dav(n))
            .collect(),
        }
    }
}

/// The media type of a resource: what the store recorded, else a guess from the extension.
pub fn content_type_of(cx: &PropContext<'_>) -> String {
    cx.meta.content_type.clone().unwrap_or_else(|| {
        mime_guess::from_path(cx.path.name().unwrap_or(""))
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_owned()
    })
}

#[async_trait]
impl LivePropertyHandler for CoreProperties {
    fn names(&self) -> &[PropName] {
        &self.names
    }

    async fn get(
        &self,
        cx: &PropContext<'_>,
        name: &PropName,
    ) -> SubsystemResult<Option<PropValue>> {
        let meta = cx.meta;
        Ok(match name.local.as_str() {
            "creationdate" => Some(PropValue::Text(
                humantime::format_rfc3339_seconds(meta.created.unwrap_or(meta.modified))
                    .to_string(),
            )),
            "getcontentlength" if !meta.collection => Some(PropValue::Text(meta.len.to_string())),
            "getcontenttype" if !meta.collection => Some(PropValue::Text(content_type_of(cx))),
            "getetag" => Some(PropValue::Text(format!("\"{}\"", meta.etag))),
            "getlastmodified" => Some(PropValue::Text(httpdate::fmt_http_date(meta.modified))),
            "resourcetype" if meta.collection => Some(PropValue::Xml("<D:collection/>".into())),
            "resourcetype" => Some(PropValue::Empty),
            _ => None,
        })
    }
}
