//! Errors in Kratos's shape, for the identity APIs and self-service flows:
//! `{"error": {"id", "code", "status", "reason", "message"}}`. Internal details are never sent:
//! they travel to the logging middleware ([`super::error::log_internal_errors`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::Error;

pub struct KratosError {
    pub status: StatusCode,
    pub id: Option<&'static str>,
    pub reason: String,
    pub message: &'static str,
    /// Extra fields merged into `error.details` (e.g. `redirect_browser_to`).
    pub details: Value,
    /// An internal error's source chain, for the log only.
    pub internal: Option<String>,
}

impl KratosError {
    pub fn new(status: StatusCode, id: Option<&'static str>, reason: impl Into<String>) -> Self {
        let message = match status.as_u16() {
            400 => "The request was malformed or contained invalid parameters",
            401 => "The request could not be authorized",
            403 => "The requested action was forbidden",
            404 => "The requested resource could not be found",
            409 => "The resource could not be created due to a conflict",
            410 => "The requested resource is no longer available",
            429 => "Too many requests",
            _ => "An internal server error occurred, please contact the system administrator",
        };
        KratosError {
            status,
            id,
            reason: reason.into(),
            message,
            details: Value::Null,
            internal: None,
        }
    }

    pub fn bad_request(reason: impl Into<String>) -> KratosError {
        KratosError::new(StatusCode::BAD_REQUEST, None, reason)
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn body(&self) -> Value {
        let mut e = json!({
            "code": self.status.as_u16(),
            "status": self.status.canonical_reason().unwrap_or(""),
            "reason": self.reason,
            "message": self.message,
        });
        if let Some(id) = self.id {
            e["id"] = json!(id);
        }
        if !self.details.is_null() {
            e["details"] = self.details.clone();
        }
        json!({ "error": e })
    }
}

impl From<Error> for KratosError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(d) => KratosError::new(StatusCode::NOT_FOUND, None, d),
            Error::Conflict(d) | Error::Stale(d) => KratosError::new(StatusCode::CONFLICT, None, d),
            Error::Forbidden(d) => KratosError::new(StatusCode::FORBIDDEN, None, d),
            Error::BadRequest(d) => KratosError::new(StatusCode::BAD_REQUEST, None, d),
            Error::Gone(d) => KratosError::new(StatusCode::GONE, None, d),
            Error::Busy => KratosError::new(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "Too many requests; try again shortly.",
            ),
            Error::OAuth(o) => KratosError::new(
                StatusCode::BAD_REQUEST,
                None,
                o.error_description.unwrap_or_default(),
            ),
            e @ (Error::Internal(_)
            | Error::Database(_)
            | Error::Keys(_)
            | Error::Corrupt { .. }) => KratosError {
                internal: Some(e.chain()),
                ..KratosError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "The server failed to handle the request.",
                )
            },
        }
    }
}

impl IntoResponse for KratosError {
    fn into_response(self) -> Response {
        let retry = self.status == StatusCode::TOO_MANY_REQUESTS;
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(chain) = self.internal {
            r.extensions_mut()
                .insert(super::error::InternalError(chain));
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if retry {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// A JSON body for Kratos's endpoints; a malformed body is a 400 in Kratos's shape.
pub struct KJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for KJson<T> {
    type Rejection = KratosError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(KJson(v)),
            Err(e) => Err(KratosError::new(
                StatusCode::BAD_REQUEST,
                None,
                format!(
                    "The request body is not valid JSON for this endpoint: {}",
                    e.body_text()
                ),
            )),
        }
    }
}
