//! `GET /ui/error?id=`: a self-service error (Kratos's `{id, error: {code, status, reason,
//! message}}`) in plain language; without an id, or for an unknown one, a generic error.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{error_page, internal, param};
use crate::error::Error;
use crate::web::AppState;
use crate::web::extract::QueryPairs;

const GENERIC: &str = "Something went wrong. Please go back and try again.";

pub async fn error(
    State(s): State<AppState>,
    q: Result<QueryPairs, crate::web::error::ApiError>,
) -> Response {
    let q = q.map(|QueryPairs(q)| q).unwrap_or_default();
    let Some(id) = param(&q, "id") else {
        return error_page(&s, StatusCode::OK, "An error occurred", GENERIC);
    };
    let v = match s.flows.error_json(id).await {
        Ok(v) => v,
        Err(Error::NotFound(_) | Error::Gone(_)) => {
            return error_page(&s, StatusCode::NOT_FOUND, "An error occurred", GENERIC);
        }
        Err(e) => return internal(&s, &e),
    };
    let e = &v["error"];
    let status = e["code"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .filter(|c| c.is_client_error() || c.is_server_error())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let title = e["status"]
        .as_str()
        .filter(|t| !t.is_empty())
        .unwrap_or("An error occurred");
    let message = [e["reason"].as_str(), e["message"].as_str()]
        .into_iter()
        .flatten()
        .find(|m| !m.is_empty())
        .unwrap_or(GENERIC);
    error_page(&s, status, title, message)
}
