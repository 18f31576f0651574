//! The domain error, classified once: OAuth protocol errors keep their RFC code; everything else
//! maps to a status at the web edge. Internal details are logged there, never sent.

use gatehouse_protocol::OAuthError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    OAuth(OAuthError),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The caller is known but may not do this: 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("gone: {0}")]
    Gone(String),
    /// Too much load (e.g. every password-hashing slot taken): 429 with `Retry-After`.
    #[error("too many requests")]
    Busy,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<OAuthError> for Error {
    fn from(e: OAuthError) -> Self {
        Error::OAuth(e)
    }
}

impl From<gatehouse_store::StoreError> for Error {
    fn from(e: gatehouse_store::StoreError) -> Self {
        match e {
            gatehouse_store::StoreError::Conflict => {
                Error::Conflict("the resource already exists".into())
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<crate::keys::KeysError> for Error {
    fn from(e: crate::keys::KeysError) -> Self {
        Error::Internal(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
