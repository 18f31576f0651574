//! Kratos's admin API on the admin listener: identities (CRUD, JSON Patch, batch import) and
//! sessions (list, get, revoke, extend), recovery codes and links. Handlers only translate HTTP
//! to service calls.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use serde_json::Value;

use super::AppState;
use super::extract::QueryPairs;
use super::kratos_error::{KJson, KratosError};
use crate::clock::now;
use crate::error::Error;
use crate::identity::service::{BatchEntry, CreateIdentity, UpdateIdentity};

type Res = Result<Response, KratosError>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/identities",
            get(list_identities)
                .post(create_identity)
                .patch(batch_identities),
        )
        .route(
            "/admin/identities/{id}",
            get(get_identity)
                .put(update_identity)
                .patch(patch_identity)
                .delete(delete_identity),
        )
        .route(
            "/admin/identities/{id}/sessions",
            get(list_identity_sessions).delete(delete_identity_sessions),
        )
        .route("/admin/sessions", get(list_sessions))
        .route(
            "/admin/sessions/{id}",
            get(get_session).delete(disable_session),
        )
        .route("/admin/sessions/{id}/extend", patch(extend_session))
        .route("/admin/recovery/code", axum::routing::post(recovery_code))
        .route("/admin/recovery/link", axum::routing::post(recovery_link))
}

fn q<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// `page_size` (default 250, at most 1000) and `page_token` (an offset, opaque to clients).
fn paging(p: &[(String, String)]) -> (i64, i64) {
    let size = q(p, "page_size")
        .or_else(|| q(p, "per_page"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(250i64)
        .clamp(1, 1000);
    let offset = q(p, "page_token")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0i64)
        .max(0);
    (size, offset)
}

/// A JSON list with Kratos's `Link` header when there is a next page.
fn page(items: Vec<Value>, size: i64, offset: i64, path: &str, keep: &[(&str, &str)]) -> Response {
    let more = items.len() as i64 > size;
    let items: Vec<Value> = items.into_iter().take(size as usize).collect();
    let mut resp = axum::Json(items).into_response();
    if more {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        next.append_pair("page_size", &size.to_string())
            .append_pair("page_token", &(offset + size).to_string());
        for (k, v) in keep {
            next.append_pair(k, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("<{path}?{}>; rel=\"next\"", next.finish())) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

async fn list_identities(State(s): State<AppState>, QueryPairs(p): QueryPairs) -> Res {
    let (size, offset) = paging(&p);
    let ident = q(&p, "credentials_identifier");
    let include: Vec<&str> = p
        .iter()
        .filter(|(k, _)| k == "include_credential")
        .map(|(_, v)| v.as_str())
        .collect();
    let list = s.identities.list(size + 1, offset, ident).await?;
    let items = list
        .iter()
        .map(|i| i.to_api(&s.identities.issuer, &include))
        .collect();
    let keep: Vec<(&str, &str)> = ident
        .map(|v| ("credentials_identifier", v))
        .into_iter()
        .collect();
    Ok(page(items, size, offset, "/admin/identities", &keep))
}

async fn create_identity(State(s): State<AppState>, KJson(body): KJson<CreateIdentity>) -> Res {
    let i = s.identities.create(body, now()).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(i.to_api(&s.identities.issuer, &[])),
    )
        .into_response())
}

#[derive(serde::Deserialize)]
struct Batch {
    identities: Vec<BatchEntry>,
}

async fn batch_identities(State(s): State<AppState>, KJson(body): KJson<Batch>) -> Res {
    let out = s.identities.batch(body.identities, now()).await?;
    Ok(axum::Json(out).into_response())
}

async fn get_identity(
    State(s): State<AppState>,
    Path(id): Path<String>,
    QueryPairs(p): QueryPairs,
) -> Res {
    let include: Vec<&str> = p
        .iter()
        .filter(|(k, _)| k == "include_credential")
        .map(|(_, v)| v.as_str())
        .collect();
    let i = s.identities.get(&id).await?;
    Ok(axum::Json(i.to_api(&s.identities.issuer, &include)).into_response())
}

async fn update_identity(
    State(s): State<AppState>,
    Path(id): Path<String>,
    KJson(body): KJson<UpdateIdentity>,
) -> Res {
    let i = s.identities.update(&id, body, now()).await?;
    Ok(axum::Json(i.to_api(&s.identities.issuer, &[])).into_response())
}

async fn patch_identity(
    State(s): State<AppState>,
    Path(id): Path<String>,
    KJson(body): KJson<Value>,
) -> Res {
    let i = s.identities.patch(&id, body, now()).await?;
    Ok(axum::Json(i.to_api(&s.identities.issuer, &[])).into_response())
}

async fn delete_identity(State(s): State<AppState>, Path(id): Path<String>) -> Res {
    s.identities.delete(&id, crate::clock::now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn active_filter(p: &[(String, String)]) -> Option<bool> {
    match q(p, "active") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

async fn list_identity_sessions(
    State(s): State<AppState>,
    Path(id): Path<String>,
    QueryPairs(p): QueryPairs,
) -> Res {
    s.identities.get(&id).await?;
    let (size, offset) = paging(&p);
    let items = s
        .sessions
        .list(Some(&id), active_filter(&p), size + 1, offset, now())
        .await?;
    Ok(page(
        items,
        size,
        offset,
        &format!("/admin/identities/{id}/sessions"),
        &[],
    ))
}

async fn delete_identity_sessions(State(s): State<AppState>, Path(id): Path<String>) -> Res {
    s.identities.get(&id).await?;
    s.sessions.revoke_all(&id, None, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_sessions(State(s): State<AppState>, QueryPairs(p): QueryPairs) -> Res {
    let (size, offset) = paging(&p);
    let items = s
        .sessions
        .list(None, active_filter(&p), size + 1, offset, now())
        .await?;
    Ok(page(items, size, offset, "/admin/sessions", &[]))
}

async fn get_session(
    State(s): State<AppState>,
    Path(id): Path<String>,
    QueryPairs(p): QueryPairs,
) -> Res {
    let row = s.sessions.get_row(&id).await?;
    // Expanded, a session shows its identity; an identity deleted since shows as none, and one
    // that cannot be read is an error.
    let identity = if q(&p, "expand").is_some_and(|e| e == "identity" || e == "Identity") {
        match s.identities.get(&row.identity_id).await {
            Ok(i) => Some(i),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    Ok(axum::Json(s.sessions.row_json(&row, identity.as_ref(), now())?).into_response())
}

async fn disable_session(State(s): State<AppState>, Path(id): Path<String>) -> Res {
    s.sessions.get_row(&id).await?;
    s.sessions.revoke(&id, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn extend_session(State(s): State<AppState>, Path(id): Path<String>) -> Res {
    let row = s.sessions.extend(&id, now()).await?;
    Ok(axum::Json(s.sessions.row_json(&row, None, now())?).into_response())
}

#[derive(serde::Deserialize)]
struct RecoveryBody {
    identity_id: String,
    /// A duration like `1h` (Kratos's format).
    #[serde(default)]
    expires_in: Option<String>,
}

impl RecoveryBody {
    fn expires_in(&self) -> Result<Option<i64>, KratosError> {
        match &self.expires_in {
            Some(d) => crate::config::Dur::parse(d)
                .map(|d| Some(d.secs()))
                .ok_or_else(|| KratosError::bad_request("expires_in must be a duration like 1h")),
            None => Ok(None),
        }
    }
}

/// `POST /admin/recovery/code` (Kratos's shape): `{recovery_link, recovery_code, expires_at}`.
async fn recovery_code(State(s): State<AppState>, KJson(b): KJson<RecoveryBody>) -> Res {
    let (link, code, expires) = s
        .flows
        .admin_recovery_code(&b.identity_id, b.expires_in()?, now())
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(serde_json::json!({
            "recovery_link": link,
            "recovery_code": code,
            "expires_at": crate::clock::rfc3339(expires),
        })),
    )
        .into_response())
}

/// `POST /admin/recovery/link` (Kratos's shape): `{recovery_link, expires_at}`; the link works
/// once, in a browser.
async fn recovery_link(State(s): State<AppState>, KJson(b): KJson<RecoveryBody>) -> Res {
    let (link, expires) = s
        .flows
        .admin_recovery_link(&b.identity_id, b.expires_in()?, now())
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(serde_json::json!({
            "recovery_link": link,
            "expires_at": crate::clock::rfc3339(expires),
        })),
    )
        .into_response())
}
