//! The admin listener, in Hydra's paths and shapes: clients, introspection, login/consent
//! requests, consent and login sessions, tokens, keys, and health (Kratos's courier messages are
//! merged in from `admin_courier`). When `serve.admin.auth.token` is set, every request but
//! health must carry it as a bearer token.

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use gatehouse_protocol::hydra::{AcceptConsent, AcceptLogin, Reject};
use serde_json::{Value, json};

use super::error::ApiError;
use super::extract::{FormPairs, Json, QueryPairs, bearer};
use super::{AppState, health_alive, health_ready};
use crate::clock::now;
use crate::error::Error;
use crate::oauth2::clients::Created;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/admin/clients", get(list_clients).post(create_client))
        .route(
            "/admin/clients/{id}",
            get(get_client)
                .put(update_client)
                .patch(patch_client)
                .delete(delete_client),
        )
        .route("/admin/oauth2/introspect", axum::routing::post(introspect))
        .route("/admin/oauth2/auth/requests/login", get(get_login))
        .route(
            "/admin/oauth2/auth/requests/login/accept",
            put(accept_login),
        )
        .route(
            "/admin/oauth2/auth/requests/login/reject",
            put(reject_login),
        )
        .route("/admin/oauth2/auth/requests/consent", get(get_consent))
        .route(
            "/admin/oauth2/auth/requests/consent/accept",
            put(accept_consent),
        )
        .route(
            "/admin/oauth2/auth/requests/consent/reject",
            put(reject_consent),
        )
        .route("/admin/oauth2/auth/requests/logout", get(get_logout))
        .route(
            "/admin/oauth2/auth/requests/logout/accept",
            put(accept_logout),
        )
        .route(
            "/admin/oauth2/auth/requests/logout/reject",
            put(reject_logout),
        )
        .route(
            "/admin/oauth2/auth/sessions/consent",
            get(list_consent_sessions).delete(revoke_consent_sessions),
        )
        .route(
            "/admin/oauth2/auth/sessions/login",
            axum::routing::delete(revoke_login_sessions),
        )
        .route(
            "/admin/oauth2/tokens",
            axum::routing::delete(delete_client_tokens),
        )
        .route("/admin/keys/{set}", get(get_key_set))
        .route("/admin/audit-events", get(list_audit_events))
        .route("/metrics", get(metrics))
        .merge(super::admin_identity::router())
        .merge(super::admin_credentials::router())
        .merge(super::admin_courier::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_admin_token,
        ))
        .route("/health/alive", get(health_alive))
        .route("/health/ready", get(health_ready))
        .with_state(state)
}

async fn require_admin_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(expected) = &s.config.serve.admin.auth.token {
        let given = bearer(req.headers()).unwrap_or_default();
        if !gatehouse_crypto::ct_eq(given.as_bytes(), expected.expose().as_bytes()) {
            let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "unauthorized", "error_description": "The admin API requires a valid bearer token.", "status_code": 401}))).into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"gatehouse-admin\""),
            );
            return resp;
        }
    }
    next.run(req).await
}

fn q<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn required<'a>(pairs: &'a [(String, String)], k: &str) -> Result<&'a str, ApiError> {
    q(pairs, k).ok_or_else(|| {
        ApiError(Error::BadRequest(format!(
            "the {k} query parameter is required"
        )))
    })
}

fn created_json(c: Created) -> Value {
    let mut v = serde_json::to_value(&c.client).unwrap_or_default();
    if let Value::Object(m) = &mut v {
        if let Some(s) = c.secret {
            m.insert("client_secret".into(), json!(s));
        }
        if let Some(t) = c.registration_token {
            m.insert("registration_access_token".into(), json!(t));
        }
    }
    v
}

async fn create_client(
    State(s): State<AppState>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let created = s.provider.create_client(body, false, now()).await?;
    tracing::info!(client_id = %created.client.client_id, "client created");
    Ok((StatusCode::CREATED, axum::Json(created_json(created))).into_response())
}

async fn list_clients(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
) -> Result<Response, ApiError> {
    let size: i64 = q(&p, "page_size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(250)
        .clamp(1, 500);
    let offset: i64 = q(&p, "page_token")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
        .max(0);
    let clients = s
        .provider
        .list_clients(size + 1, offset, q(&p, "client_name"), q(&p, "owner"))
        .await?;
    let more = clients.len() as i64 > size;
    let page: Vec<_> = clients.into_iter().take(size as usize).collect();
    let mut resp = axum::Json(page).into_response();
    let mut next = url::form_urlencoded::Serializer::new(String::new());
    next.append_pair("page_size", &size.to_string())
        .append_pair("page_token", &(offset + size).to_string());
    for k in ["client_name", "owner"] {
        if let Some(v) = q(&p, k) {
            next.append_pair(k, v);
        }
    }
    if more
        && let Ok(v) = header::HeaderValue::from_str(&format!(
            "</admin/clients?{}>; rel=\"next\"",
            next.finish()
        ))
    {
        resp.headers_mut().insert(header::LINK, v);
    }
    Ok(resp)
}

async fn get_client(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = s.provider.get_client(&id).await?;
    Ok(axum::Json(c.client.clone()).into_response())
}

async fn update_client(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let c = s.provider.update_client(&id, body, now()).await?;
    Ok(axum::Json(created_json(c)).into_response())
}

async fn patch_client(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let c = s.provider.patch_client(&id, body, now()).await?;
    Ok(axum::Json(created_json(c)).into_response())
}

async fn delete_client(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.provider.delete_client(&id).await?;
    tracing::info!(client_id = %id, "client deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn introspect(
    State(s): State<AppState>,
    FormPairs(f): FormPairs,
) -> Result<Response, ApiError> {
    let token = q(&f, "token").ok_or_else(|| {
        ApiError::from(gatehouse_protocol::OAuthError::invalid_request(
            "The token parameter is missing.",
        ))
    })?;
    if crate::credentials::Kind::looks_like(token.trim()) {
        let result = s
            .credentials
            .introspect(token, q(&f, "scope"), now())
            .await?;
        return Ok(axum::Json(result).into_response());
    }
    let result = s.provider.introspect(token, q(&f, "scope"), now()).await?;
    Ok(axum::Json(result).into_response())
}

async fn get_login(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
) -> Result<Response, ApiError> {
    Ok(axum::Json(
        s.provider
            .login_request(required(&p, "login_challenge")?, now())
            .await?,
    )
    .into_response())
}

async fn accept_login(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
    Json(body): Json<AcceptLogin>,
) -> Result<Response, ApiError> {
    let to = s
        .provider
        .accept_login(required(&p, "login_challenge")?, body, now())
        .await?;
    Ok(axum::Json(json!({"redirect_to": to})).into_response())
}

async fn reject_login(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
    Json(body): Json<Reject>,
) -> Result<Response, ApiError> {
    let to = s
        .provider
        .reject_login(required(&p, "login_challenge")?, body, now())
        .await?;
    Ok(axum::Json(json!({"redirect_to": to})).into_response())
}

async fn get_consent(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
) -> Result<Response, ApiError> {
    Ok(axum::Json(
        s.provider
            .consent_request(required(&p, "consent_challenge")?, now())
            .await?,
    )
    .into_response())
}

async fn accept_consent(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
    Json(body): Json<AcceptConsent>,
) -> Result<Response, ApiError> {
    let to = s
        .provider
        .accept_consent(required(&p, "consent_challenge")?, body, now())
        .await?;
    Ok(axum::Json(json!({"redirect_to": to})).into_response())
}

async fn reject_consent(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
    Json(body): Json<Reject>,
) -> Result<Response, ApiError> {
    let to = s
        .provider
        .reject_consent(required(&p, "consent_challenge")?, body, now())
        .await?;
    Ok(axum::Json(json!({"redirect_to": to})).into_response())
}

async fn get_logout(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
) -> Result<Response, ApiError> {
    Ok(axum::Json(
        s.provider
            .logout_request(required(&p, "logout_challenge")?, now())
            .await?,
    )
    .into_response())
}

async fn accept_logout(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
) -> Result<Response, ApiError> {
    let to = s
        .provider
        .accept_logout(required(&p, "logout_challenge")?, now())
        .await?;
    Ok(axum::Json(json!({"redirect_to": to})).into_response())
}

async fn reject_logout(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
) -> Result<Response, ApiError> {
    s.provider
        .reject_logout(required(&p, "logout_challenge")?, now())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_consent_sessions(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
) -> Result<Response, ApiError> {
    let list = s
        .provider
        .list_consent_sessions(required(&p, "subject")?, q(&p, "login_session_id"))
        .await?;
    Ok(axum::Json(list).into_response())
}

async fn revoke_consent_sessions(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
) -> Result<Response, ApiError> {
    let subject = required(&p, "subject")?;
    let client = q(&p, "client");
    if client.is_none() && q(&p, "all") != Some("true") {
        return Err(ApiError(Error::BadRequest(
            "either client or all=true is required".into(),
        )));
    }
    s.provider.revoke_consent_sessions(subject, client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn revoke_login_sessions(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
) -> Result<Response, ApiError> {
    let (subject, sid) = (q(&p, "subject"), q(&p, "sid"));
    if subject.is_none() && sid.is_none() {
        return Err(ApiError(Error::BadRequest(
            "either subject or sid is required".into(),
        )));
    }
    s.provider.revoke_login_sessions(subject, sid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_client_tokens(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
) -> Result<Response, ApiError> {
    let client_id = required(&p, "client_id")?;
    let revoked = s
        .provider
        .store
        .revoke_client_tokens(client_id)
        .await
        .map_err(Error::from)?;
    s.provider.purge_tokens(&revoked);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_key_set(
    State(s): State<AppState>,
    Path(set): Path<String>,
) -> Result<Response, ApiError> {
    if set != crate::keys::DEFAULT_SET {
        return Err(ApiError(Error::NotFound(format!(
            "key set {set:?} does not exist"
        ))));
    }
    // Public keys only: private keys never leave the server.
    Ok(axum::Json(&s.provider.keys.current().jwks).into_response())
}

/// `GET /admin/audit-events?kind=&subject=&limit=` (Gatehouse's own): newest first.
async fn list_audit_events(
    State(s): State<AppState>,
    QueryPairs(p): QueryPairs,
) -> Result<Response, ApiError> {
    let limit: i64 = q(&p, "limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let rows = s
        .provider
        .store
        .list_audit(q(&p, "kind"), q(&p, "subject"), limit)
        .await
        .map_err(Error::from)?;
    // An event whose data cannot be read is an error, never an event without its data.
    let out = rows
        .into_iter()
        .map(|r| {
            let data: Value = crate::error::decode_stored("audit event", &r.id, &r.data)?;
            Ok(json!({
                "id": r.id,
                "at": crate::clock::rfc3339(r.at),
                "kind": r.kind,
                "subject": r.subject,
                "client_id": r.client_id,
                "ip": r.ip,
                "data": data,
            }))
        })
        .collect::<Result<Vec<Value>, Error>>()?;
    Ok(axum::Json(out).into_response())
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}
