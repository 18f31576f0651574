//! The one error type of the web layer. OAuth errors get RFC 6749 §5.2 JSON (with
//! `WWW-Authenticate` for `invalid_client`); admin errors get Hydra's `{error, error_description,
//! status_code}`. Internal errors are never described to the caller: the response carries the
//! error's chain in an [`InternalError`] extension, which [`log_internal_errors`] logs once.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_protocol::OAuthError;
use serde_json::json;

use crate::error::Error;

pub struct ApiError(pub Error);

/// The source chain of an internal error, carried on its 500 response to the logging
/// middleware (and never sent).
#[derive(Clone, Debug)]
pub struct InternalError(pub String);

/// Attaches an internal error's chain to its response, for [`log_internal_errors`].
pub fn with_internal(mut resp: Response, chain: String) -> Response {
    resp.extensions_mut().insert(InternalError(chain));
    resp
}

/// Logs each internal error once, inside the request's span (so with its request id), whatever
/// shape its response had (Hydra's, Kratos's, a page).
pub async fn log_internal_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let resp = next.run(req).await;
    if let Some(InternalError(chain)) = resp.extensions().get::<InternalError>() {
        tracing::error!(
            error = %chain,
            status = resp.status().as_u16(),
            request_id,
            "internal error"
        );
    }
    resp
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        ApiError(Error::OAuth(e))
    }
}

pub fn oauth_response(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, axum::Json(e)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Some(c) = e
        .www_authenticate("gatehouse")
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        h.insert(header::WWW_AUTHENTICATE, c);
    }
    resp
}

fn generic(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description, "status_code": status.as_u16()}))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::OAuth(e) => oauth_response(&e),
            Error::NotFound(d) => generic(StatusCode::NOT_FOUND, "not_found", &d),
            Error::Conflict(d) | Error::Stale(d) => generic(StatusCode::CONFLICT, "conflict", &d),
            Error::Forbidden(d) => generic(StatusCode::FORBIDDEN, "forbidden", &d),
            Error::BadRequest(d) => generic(StatusCode::BAD_REQUEST, "invalid_request", &d),
            Error::Gone(redirect_to) => (
                StatusCode::GONE,
                axum::Json(json!({"error": "request_handled", "error_description": "The request was handled already.", "status_code": 410, "redirect_to": redirect_to})),
            )
                .into_response(),
            Error::Busy => {
                let mut r = generic(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "Too many requests; try again shortly.");
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            e @ (Error::Internal(_) | Error::Database(_) | Error::Keys(_) | Error::Corrupt { .. }) => with_internal(
                generic(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "The server failed to handle the request."),
                e.chain(),
            ),
        }
    }
}
