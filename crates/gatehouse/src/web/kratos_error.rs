//! The error shape of Kratos's endpoints (Ory's herodot):
//! `{"error": {"code", "status", "reason", "message"}}`, so `@ory/kratos-client` and friends parse
//! our errors. `message` is the generic text for the status; `reason` says what was wrong.
//! Internal errors are logged here, once, and never described to the caller.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

pub struct KratosError(pub Error);

impl From<Error> for KratosError {
    fn from(e: Error) -> Self {
        KratosError(e)
    }
}

impl KratosError {
    pub fn bad_request(reason: impl Into<String>) -> KratosError {
        KratosError(Error::BadRequest(reason.into()))
    }
}

fn body(status: StatusCode, message: &str, reason: Option<&str>) -> Response {
    let mut error = json!({
        "code": status.as_u16(),
        "status": status.canonical_reason().unwrap_or_default(),
        "message": message,
    });
    if let Some(r) = reason {
        error["reason"] = json!(r);
    }
    (status, axum::Json(json!({ "error": error }))).into_response()
}

impl IntoResponse for KratosError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::NotFound(r) => body(
                StatusCode::NOT_FOUND,
                "The requested resource could not be found",
                Some(&r),
            ),
            Error::BadRequest(r) => body(
                StatusCode::BAD_REQUEST,
                "The request was malformed or contained invalid parameters",
                Some(&r),
            ),
            Error::Conflict(r) => body(
                StatusCode::CONFLICT,
                "The resource could not be created due to a conflict",
                Some(&r),
            ),
            Error::Gone(_) => body(StatusCode::GONE, "The requested resource is gone", None),
            Error::OAuth(e) => {
                let status =
                    StatusCode::from_u16(e.error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
                body(
                    status,
                    "The request could not be processed",
                    e.error_description.as_deref(),
                )
            }
            Error::Internal(d) => {
                tracing::error!(error = %d, "internal error");
                body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An internal server error occurred, please contact the system administrator",
                    None,
                )
            }
        }
    }
}
