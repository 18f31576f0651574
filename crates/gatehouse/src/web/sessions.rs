//! Kratos's public session endpoints: `whoami` (the hot path: cached, pre-serialised), the
//! caller's other sessions, and revoking them. The caller's session comes from the session
//! cookie, `X-Session-Token`, or `Authorization: Bearer gst_...`.

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde_json::json;
use std::sync::Arc;

use super::AppState;
use super::extract::{bearer, cookie};
use super::kratos_error::KratosError;
use crate::clock::now;
use crate::sessions::{ActiveSession, SessionError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sessions/whoami", get(whoami))
        .route("/sessions", get(list_mine).delete(revoke_others))
        .route("/sessions/{id}", delete(revoke_one))
        .route("/schemas", get(list_schemas))
        .route("/schemas/{id}", get(get_schema))
}

/// The session token a request carries, if any.
pub fn session_token(s: &AppState, headers: &HeaderMap) -> Option<String> {
    if let Some(t) = headers.get("x-session-token").and_then(|v| v.to_str().ok()) {
        return Some(t.trim().to_owned());
    }
    if let Some(t) = bearer(headers).filter(|t| t.starts_with("gst_")) {
        return Some(t.to_owned());
    }
    cookie(headers, &s.config.session.cookie.name).map(str::to_owned)
}

pub fn session_error(e: SessionError, s: &AppState) -> KratosError {
    match e {
        SessionError::Inactive => KratosError::new(
            StatusCode::UNAUTHORIZED,
            Some("session_inactive"),
            "No valid session credentials found in the request.",
        ),
        SessionError::Aal2Required => KratosError::new(
            StatusCode::FORBIDDEN,
            Some("session_aal2_required"),
            "The session must be upgraded to a second factor (aal2) first.",
        )
        .with_details(json!({
            "redirect_browser_to": format!("{}/self-service/login/browser?aal=aal2", s.identities.issuer)
        })),
    }
}

/// An authenticated caller: a live session meeting `session.whoami.required_aal`.
pub struct Authenticated(pub Arc<ActiveSession>);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = KratosError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let token = session_token(s, &parts.headers);
        match s.sessions.whoami(token.as_deref(), now()).await? {
            Ok(session) => Ok(Authenticated(session)),
            Err(e) => Err(session_error(e, s)),
        }
    }
}

async fn whoami(Authenticated(session): Authenticated) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        session.json.clone(),
    )
        .into_response()
}

async fn list_mine(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
) -> Result<Response, KratosError> {
    let list = s
        .sessions
        .list(Some(&session.identity.id), Some(true), 1000, 0, now())
        .await?;
    let others: Vec<_> = list
        .into_iter()
        .filter(|v| v.get("id").and_then(|i| i.as_str()) != Some(session.id.as_str()))
        .collect();
    Ok(axum::Json(others).into_response())
}

async fn revoke_others(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
) -> Result<Response, KratosError> {
    let n = s
        .sessions
        .revoke_all(&session.identity.id, Some(&session.id), now())
        .await?;
    Ok(axum::Json(json!({ "count": n })).into_response())
}

async fn revoke_one(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, KratosError> {
    if id == session.id {
        return Err(KratosError::new(
            StatusCode::BAD_REQUEST,
            None,
            "Use the logout flow to end the current session.",
        ));
    }
    let row = s.sessions.get_row(&id).await?;
    if row.identity_id != session.identity.id {
        return Err(KratosError::new(
            StatusCode::NOT_FOUND,
            None,
            "Unable to locate the resource",
        ));
    }
    s.sessions.revoke(&id, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_schemas(State(s): State<AppState>) -> Response {
    let list: Vec<_> = s
        .identities
        .schemas
        .all()
        .map(|x| json!({"id": x.id, "schema": x.raw}))
        .collect();
    axum::Json(list).into_response()
}

async fn get_schema(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, KratosError> {
    let schema = s.identities.schemas.get(&id).map_err(|_| {
        KratosError::new(StatusCode::NOT_FOUND, None, "Unable to locate the resource")
    })?;
    Ok(axum::Json(schema.raw.clone()).into_response())
}
