use http::StatusCode;

use crate::headers::HeaderError;
use crate::path::PathError;
use crate::xml::XmlError;

/// A request refused by the protocol layer before it reaches the executive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("{0}")]
    Path(#[from] PathError),
    #[error("{0}")]
    Header(#[from] HeaderError),
    #[error("{0}")]
    Xml(#[from] XmlError),
    #[error("{0}")]
    BadRequest(String),
    #[error("the method {0} is not implemented")]
    NotImplemented(String),
    #[error("the Destination names another server ({0})")]
    BadGateway(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
}

impl ProtocolError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProtocolError::Path(_)
            | ProtocolError::Header(_)
            | ProtocolError::Xml(_)
            | ProtocolError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProtocolError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ProtocolError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ProtocolError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProtocolError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}
