use std::borrow::Cow;

use http::StatusCode;
use http::header::RETRY_AFTER;

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
    /// A store could not say whether a change it was committing went in
    /// (`SubsystemError::outcome_unknown`): recovery decides, not an undo.
    pub outcome_unknown: bool,
}

pub type DavResult<T> = Result<T, DavError>;

impl DavError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        DavError {
            status,
            condition: None,
            message: message.into(),
            outcome_unknown: false,
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
            outcome_unknown: false,
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

    /// 503: a store this request needs cannot be reached now.
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// The response a client sees: an RFC 4918 `<D:error>` body when there is a condition,
    /// otherwise the reason as text. A 503 says when to try again (RFC 9110 §10.2.3): what
    /// was unreachable (the cluster's database) is usually back within seconds.
    pub fn into_response(self) -> Response {
        let mut response = match &self.condition {
            Some(condition) => Response::condition(self.status, condition),
            None => Response::text(self.status, self.message.as_ref()),
        };
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.set_header(RETRY_AFTER, RETRY_AFTER_SECONDS.to_string());
        }
        response
    }
}

/// What a 503 answers in `Retry-After`, in seconds.
pub const RETRY_AFTER_SECONDS: u32 = 2;

impl From<SubsystemError> for DavError {
    fn from(e: SubsystemError) -> Self {
        DavError {
            outcome_unknown: e.outcome_unknown,
            ..DavError::new(e.status, e.message)
        }
    }
}

impl From<ProtocolError> for DavError {
    fn from(e: ProtocolError) -> Self {
        DavError::new(e.status(), e.to_string())
    }
}
