//! The resource properties of RFC 4918 §15 that come from namespace metadata.

use std::borrow::Cow;

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
            .map(|n| PropName::dav(*n))
            .collect(),
        }
    }
}

/// The media type of a resource: what the store recorded, else a guess from the extension.
pub fn content_type_of(cx: &PropContext<'_>) -> Cow<'static, str> {
    match &cx.meta.content_type {
        Some(recorded) => Cow::Owned(recorded.clone()),
        None => Cow::Borrowed(
            mime_guess::from_path(cx.path.name().unwrap_or(""))
                .first_raw()
                .unwrap_or("application/octet-stream"),
        ),
    }
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
        Ok(match &*name.local {
            "creationdate" => Some(PropValue::Text(
                sized(
                    20,
                    humantime::format_rfc3339_seconds(meta.created.unwrap_or(meta.modified)),
                )
                .into(),
            )),
            "getcontentlength" if !meta.collection => {
                Some(PropValue::Text(meta.len.to_string().into()))
            }
            "getcontenttype" if !meta.collection => Some(PropValue::Text(content_type_of(cx))),
            "getetag" => {
                let mut quoted = String::with_capacity(meta.etag.len() + 2);
                quoted.push('"');
                quoted.push_str(&meta.etag);
                quoted.push('"');
                Some(PropValue::Text(quoted.into()))
            }
            "getlastmodified" => Some(PropValue::Text(
                sized(29, httpdate::HttpDate::from(meta.modified)).into(),
            )),
            "resourcetype" if meta.collection => Some(PropValue::Xml("<D:collection/>".into())),
            "resourcetype" => Some(PropValue::Empty),
            _ => None,
        })
    }
}

/// `value` as text, in a string allocated once at its known length (`to_string` would grow
/// it several times; a listing formats two dates per member).
fn sized(len: usize, value: impl std::fmt::Display) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(len);
    let _ = write!(text, "{value}");
    text
}
