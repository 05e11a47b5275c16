use std::borrow::Cow;

use http::StatusCode;

use davd_protocol::xml::Condition;
use davd_protocol::{ProtocolError, Response};
use davd_registry::SubsystemError;

/// Why the executive refused or failed a request: a status, an optional RFC 4918 condition
/// element and a human-readable reason that becomes the response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct DavError {
    pub status: StatusCode,
    pub condition: Option<Condition>,
    pub message: Cow<'static, str>,
}

pub type DavResult<T> = Result<T, DavError>;

impl DavError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        DavError {
            status,
            condition: None,
            message: message.into(),
        }
    }

    pub fn with_condition(
        status: StatusCode,
        condition: Condition,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        DavError {
            status,
            condition: Some(condition),
            message: message.into(),
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no resource at this URL")
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub fn precondition_failed(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, message)
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The response a client sees: an RFC 4918 `<D:error>` body when there is a condition,
    /// otherwise the reason as text.
    pub fn into_response(self) -> Response {
        match &self.condition {
            Some(condition) => Response::condition(self.status, condition),
            None => Response::text(self.status, self.message.as_ref()),
        }
    }
}

impl From<SubsystemError> for DavError {
    fn from(e: SubsystemError) -> Self {
        DavError::new(e.status, e.message)
    }
}

impl From<ProtocolError> for DavError {
    fn from(e: ProtocolError) -> Self {
        DavError::new(e.status(), e.to_string())
    }
}
