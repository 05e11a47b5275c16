//! # davd-protocol: the wire syntax of WebDAV
//!
//! The top layer of davd (see `docs/architecture.md`). It turns the request line and headers
//! into a typed [`Request`] whose [`Method`] carries exactly what that method needs, parses the
//! XML request bodies under explicit limits, and renders responses (`multistatus`, `error`,
//! lock discovery). It does no I/O and knows nothing of tokio or axum, so every parser here can
//! be unit-tested and fuzzed on its own.

pub mod date;
pub mod digits;
mod error;
mod header_scan;
pub mod headers;
mod method;
mod method_table;
pub mod msdavext;
mod name;
mod path;
mod response;
pub mod sync_token;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod xml;

pub use error::ProtocolError;
pub use method::{BodyInfo, Conditions, Method, Request, RequestHead};
pub use method_table::{IMPLEMENTED_METHODS, MethodKind, Target};
pub use name::{DAV_NS, PropName};
pub use path::{DavPath, PathError};
pub use response::{Body, ByteStream, Response};
