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
    /// A write over a copy that another request changed since it was read (optimistic
    /// concurrency): nothing was written. 409 at the web edge, unless the caller reloads and
    /// retries.
    #[error("stale write: {0}")]
    Stale(String),
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
            gatehouse_store::StoreError::Stale => Error::Stale(STALE.into()),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<crate::keys::KeysError> for Error {
    fn from(e: crate::keys::KeysError) -> Self {
        Error::Internal(e.to_string())
    }
}

/// The message of a stale write.
pub const STALE: &str =
    "The resource was changed by another request at the same time; reload it and try again.";

pub type Result<T, E = Error> = std::result::Result<T, E>;
