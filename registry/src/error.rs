use std::borrow::Cow;
use std::io;

use http::StatusCode;

/// A failure inside a subsystem: an HTTP status and a message that reaches the client.
///
/// This is the 1997 paper's "custom response code": a namespace manager backed by some legacy
/// store can refuse a request with any status it likes (403 "quota exceeded", 507, ...) and the
/// executive passes it through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct SubsystemError {
    pub status: StatusCode,
    pub message: Cow<'static, str>,
    /// The change may or may not have been made: the store lost touch with what keeps its
    /// data while the change was being committed (see [`SubsystemError::outcome_unknown`]).
    pub outcome_unknown: bool,
}

pub type SubsystemResult<T> = Result<T, SubsystemError>;

impl SubsystemError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        SubsystemError {
            status,
            message: message.into(),
            outcome_unknown: false,
        }
    }

    /// 503: what the store relies on (a database server) cannot be reached now; the client
    /// may try again shortly (the response carries `Retry-After`).
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// 503 for a change whose outcome is unknown: the connection to the store broke after the
    /// change was sent to be committed and before the store said whether it was. A batch that
    /// carried a marker can be told apart later ([`crate::PropertyManager::has_marker`]): the
    /// executive leaves such a request to recovery instead of undoing the rest of it.
    pub fn outcome_unknown(message: impl Into<Cow<'static, str>>) -> Self {
        SubsystemError {
            outcome_unknown: true,
            ..Self::unavailable(message)
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no such resource")
    }

    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 507: the store is full (RFC 4918 §11.5).
    pub fn insufficient_storage(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::INSUFFICIENT_STORAGE, message)
    }

    pub fn is_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
    }
}

impl From<io::Error> for SubsystemError {
    /// Maps operating-system errors to the status a WebDAV client should see.
    fn from(e: io::Error) -> Self {
        use io::ErrorKind::*;
        let status = match e.kind() {
            NotFound => StatusCode::NOT_FOUND,
            PermissionDenied | ReadOnlyFilesystem => StatusCode::FORBIDDEN,
            AlreadyExists => StatusCode::METHOD_NOT_ALLOWED,
            NotADirectory | IsADirectory | DirectoryNotEmpty => StatusCode::CONFLICT,
            StorageFull | QuotaExceeded | FileTooLarge => StatusCode::INSUFFICIENT_STORAGE,
            InvalidFilename => StatusCode::BAD_REQUEST,
            TimedOut => StatusCode::REQUEST_TIMEOUT,
            UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe => {
                StatusCode::BAD_REQUEST
            }
            InvalidInput | InvalidData => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        SubsystemError::new(status, e.to_string())
    }
}
