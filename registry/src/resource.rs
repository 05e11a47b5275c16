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
    /// A media type the store recorded, if any; otherwise the executive guesses by extension.
    pub content_type: Option<String>,
}

/// One member of a collection, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's segment name (decoded).
    pub name: String,
    pub meta: ResourceMeta,
}
