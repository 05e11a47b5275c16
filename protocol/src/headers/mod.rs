//! Typed WebDAV and HTTP request headers. Each parser takes the raw header value and either
//! returns a typed value or a [`HeaderError`] that becomes a 400 naming the header.

mod conditional;
mod content_range;
mod depth;
pub(crate) mod destination;
mod if_header;
mod lock_token;
pub mod ms;
mod oc_mtime;
mod overwrite;
mod range;
mod timeout;

pub use conditional::{EntityTag, EtagMatch, parse_etag_list, parse_http_date};
pub use content_range::ContentRange;
pub use depth::Depth;
pub use destination::{Destination, parse_destination};
pub use if_header::{IfCondition, IfHeader, IfList, parse_if};
pub use lock_token::parse_lock_token;
pub use ms::{MsDavExt, MsHeaders, ResourceTag, Translate};
pub use oc_mtime::{OC_MTIME, parse_oc_mtime};
pub use overwrite::parse_overwrite;
pub use range::{ByteRange, RangeRequest, parse_range};
pub use timeout::{Timeout, parse_timeout};

/// A header value that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {header} header: {reason}")]
pub struct HeaderError {
    pub header: &'static str,
    pub reason: String,
}

impl HeaderError {
    pub(crate) fn new(header: &'static str, reason: impl Into<String>) -> Self {
        HeaderError {
            header,
            reason: reason.into(),
        }
    }
}
