//! The resource properties of RFC 4918 §15 that come from namespace metadata.

use std::borrow::Cow;

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

/// The media type of a resource: what the store recorded, else a guess from the extension.
pub fn content_type_of(cx: &PropContext<'_>) -> Cow<'static, str> {
    match &cx.meta.content_type {
        Some(recorded) => Cow::Owned(recorded.clone()),
        None => Cow::Borrowed(guess_content_type(cx.path.name().unwrap_or(""))),
    }
}

/// The media type `mime_guess` gives a name's extension. The guess costs a case-insensitive
/// binary search, and a listing asks once per member, nearly always for the extension asked
/// about just before: so each thread remembers its last answer.
fn guess_content_type(name: &str) -> &'static str {
    thread_local! {
        static LAST: std::cell::RefCell<(String, &'static str)> =
            const { std::cell::RefCell::new((String::new(), "")) };
    }
    let extension = match name.rsplit_once('.') {
        // As `Path::extension`: `.profile` has none.
        Some((stem, extension)) if !stem.is_empty() && !extension.is_empty() => extension,
        _ => return "application/octet-stream",
    };
    LAST.with_borrow_mut(|(last, guess)| {
        if guess.is_empty() || *last != extension {
            *guess = mime_guess::from_ext(extension)
                .first_raw()
                .unwrap_or("application/octet-stream");
            last.clear();
            last.push_str(extension);
        }
        *guess
    })
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
        "getcontenttype" if !meta.collection => Some(PropValue::Text(content_type_of(cx))),
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

#[cfg(test)]
mod tests {
    use super::guess_content_type;

    #[test]
    fn the_remembered_guess_agrees_with_mime_guess() {
        let names = [
            "a.txt",
            "b.txt",
            "c.DOCX",
            "d.docx",
            "e.tar.gz",
            "f",
            ".profile",
            ".txt",
            "g.",
            "h.unknownext",
            "i.html",
            "i.html",
            "j.txt",
        ];
        for name in names {
            let expected = mime_guess::from_path(name)
                .first_raw()
                .unwrap_or("application/octet-stream");
            assert_eq!(guess_content_type(name), expected, "{name}");
        }
    }
}
