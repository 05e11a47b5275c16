use std::borrow::Cow;
use std::time::SystemTime;

/// What a namespace manager knows about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMeta {
    pub collection: bool,
    /// Content length in bytes (0 for collections).
    pub len: u64,
    pub modified: SystemTime,
    pub created: Option<SystemTime>,
    /// The opaque part of a strong entity tag. It must change whenever the content changes,
    /// and is derived from metadata, never by hashing content.
    pub etag: String,
    /// A media type the store recorded, if any; otherwise [`ResourceMeta::media_type`]
    /// guesses one from the name.
    pub content_type: Option<String>,
}

impl ResourceMeta {
    /// The media type of the resource named `name`: what the store recorded, else the type
    /// its extension suggests. GET's `Content-Type`, PROPFIND's `getcontenttype` and the
    /// browser page all ask here, so they cannot disagree.
    pub fn media_type(&self, name: &str) -> Cow<'static, str> {
        match &self.content_type {
            Some(recorded) => Cow::Owned(recorded.clone()),
            None => Cow::Borrowed(guess_media_type(name)),
        }
    }
}

/// The media type `mime_guess` gives a name's extension. The guess costs a case-insensitive
/// binary search, and a listing asks once per member, nearly always for the extension asked
/// about just before: so each thread remembers its last answer.
fn guess_media_type(name: &str) -> &'static str {
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
        if last.as_str() != extension {
            *guess = mime_guess::from_ext(extension)
                .first_raw()
                .unwrap_or("application/octet-stream");
            last.clear();
            last.push_str(extension);
        }
        *guess
    })
}

/// One member of a collection, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's segment name (decoded).
    pub name: String,
    pub meta: ResourceMeta,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(content_type: Option<&str>) -> ResourceMeta {
        ResourceMeta {
            collection: false,
            len: 0,
            modified: SystemTime::UNIX_EPOCH,
            created: None,
            etag: String::new(),
            content_type: content_type.map(str::to_owned),
        }
    }

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
            assert_eq!(meta(None).media_type(name), expected, "{name}");
        }
    }

    #[test]
    fn a_recorded_type_wins() {
        assert_eq!(
            meta(Some("text/x-custom")).media_type("a.txt"),
            "text/x-custom"
        );
    }
}
