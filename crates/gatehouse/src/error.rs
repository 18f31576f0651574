//! The domain error, classified once: OAuth protocol errors keep their RFC code; everything else
//! maps to a status at the web edge. Internal errors keep their source (the database's, the
//! key store's, a decode error's); the web edge answers 500 without details and hands the whole
//! chain to one middleware that logs it, once, in the request's span.

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
    /// The database failed (not a conflict or a stale write, which have their own kinds).
    #[error("database error: {0}")]
    Database(#[source] gatehouse_store::StoreError),
    /// The signing keys could not be read, made or used.
    #[error("signing keys: {0}")]
    Keys(#[source] crate::keys::KeysError),
    /// A stored row or document that does not decode (`what` names its kind, `id` the row): an
    /// internal error, 500 and logged once where it is answered, and never read as absent,
    /// empty or valid.
    #[error("stored {what} {id:?} is unreadable: {source}")]
    Corrupt {
        what: &'static str,
        id: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// A failure of the server, not of the request: answered 500 without details.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Internal(_) | Error::Database(_) | Error::Keys(_) | Error::Corrupt { .. }
        )
    }

    /// The error and each of its sources, `: `-separated, for the log (a source whose text the
    /// message already shows is not repeated).
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = s.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            source = s.source();
        }
        out
    }

    /// Turns the decode error of stored `what` (row `id`) into [`Error::Corrupt`].
    pub fn corrupt(
        what: &'static str,
        id: impl Into<String>,
    ) -> impl FnOnce(serde_json::Error) -> Error {
        let id = id.into();
        move |source| Error::Corrupt { what, id, source }
    }
}

/// Decodes a stored JSON document: one that does not parse is [`Error::Corrupt`], never a
/// default.
pub fn decode_stored<T: serde::de::DeserializeOwned>(
    what: &'static str,
    id: &str,
    text: &str,
) -> Result<T> {
    serde_json::from_str(text).map_err(Error::corrupt(what, id))
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
            other => Error::Database(other),
        }
    }
}

impl From<crate::keys::KeysError> for Error {
    fn from(e: crate::keys::KeysError) -> Self {
        Error::Keys(e)
    }
}

/// The message of a stale write.
pub const STALE: &str =
    "The resource was changed by another request at the same time; reload it and try again.";

pub type Result<T, E = Error> = std::result::Result<T, E>;
