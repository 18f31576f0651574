//! The public credentials API:
//!
//! * `POST /credentials/validate` `{token, required_scope}` — for services and gateways; also
//!   `GET` with the token in `Authorization: Bearer …` or `X-API-Key:` and the scope in
//!   `?required_scope=`, answering 200 with the identity headers (nginx `auth_request`).
//! * the caller's personal access tokens, authenticated by session: `/credentials/tokens…`;
//! * an organisation's API keys, for its admins: `/credentials/organizations/{org}/keys…`.
//!
//! State-changing calls on the session API need a JSON body (a cross-site form cannot send one)
//! or a session token header; creating or regenerating a secret needs a recent login (the
//! settings flow's privileged window) meeting the settings flow's `required_aal`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::admin_credentials::{CreateBody, RevokeBody};
use super::extract::{QueryPairs, bearer};
use super::kratos_error::KratosError;
use super::sessions::Authenticated;
use crate::clock::now;
use crate::credentials::{Kind, Lifetime, NewCredential, Rejection, issued_view, view};
use crate::error::Error;
use crate::sessions::ActiveSession;

type Res = Result<Response, KratosError>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/credentials/validate",
            get(validate_headers).post(validate),
        )
        .route("/credentials/scopes", get(scopes))
        .route("/credentials/tokens", get(list_tokens).post(create_token))
        .route(
            "/credentials/tokens/{id}",
            get(get_token).delete(revoke_token_delete),
        )
        .route(
            "/credentials/tokens/{id}/regenerate",
            post(regenerate_token),
        )
        .route("/credentials/tokens/{id}/revoke", post(revoke_token))
        .route("/credentials/organizations", get(my_orgs))
        .route(
            "/credentials/organizations/{org}/keys",
            get(list_keys).post(create_key),
        )
        .route(
            "/credentials/organizations/{org}/keys/{id}",
            get(get_key).delete(revoke_key_delete),
        )
        .route(
            "/credentials/organizations/{org}/keys/{id}/regenerate",
            post(regenerate_key),
        )
        .route(
            "/credentials/organizations/{org}/keys/{id}/revoke",
            post(revoke_key),
        )
}

// --- validation -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateBody {
    token: String,
    required_scope: Option<String>,
}

fn rejection_response(r: &Rejection) -> Response {
    let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut challenge = format!("Bearer error=\"{}\"", r.error());
    if let Rejection::InsufficientScope(s) = r {
        challenge.push_str(&format!(", scope=\"{s}\""));
    }
    let mut resp = (
        status,
        axum::Json(json!({
            "valid": false,
            "error": r.error(),
            "error_description": r.description(),
        })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn run_validation(
    s: &AppState,
    token: &str,
    required_scope: Option<&str>,
    peer: SocketAddr,
) -> Result<Response, KratosError> {
    let verdict = s
        .credentials
        .validate(token, required_scope, Some(peer.ip().to_string()), now())
        .await?;
    Ok(no_store(match verdict {
        Ok(valid) => {
            let mut resp = axum::Json(valid.json()).into_response();
            // Every identity header is present, empty where it does not apply: a gateway that
            // copies a fixed list (Caddy's `copy_headers`; 2.6 copies an unresolved placeholder
            // for a missing one) then overwrites the client's copies of all of them.
            let empty = crate::credentials::HEADER_NAMES.map(|n| (n, String::new()));
            for (name, value) in empty.into_iter().chain(valid.headers()) {
                if let (Ok(k), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) {
                    resp.headers_mut().insert(k, v);
                }
            }
            resp
        }
        Err(r) => rejection_response(&r),
    }))
}

async fn validate(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Res {
    let b: ValidateBody = serde_json::from_slice(&body).map_err(|e| {
        KratosError::bad_request(format!(
            "expected a JSON body {{\"token\": \"...\", \"required_scope\": \"...\"}}: {e}"
        ))
    })?;
    run_validation(&s, &b.token, b.required_scope.as_deref(), peer).await
}

/// The presented credential: `Authorization: Bearer <token>` or `X-API-Key: <token>`.
pub fn presented_credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.trim());
    }
    bearer(headers)
}

async fn validate_headers(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    QueryPairs(p): QueryPairs,
) -> Res {
    let scope = p
        .iter()
        .find(|(k, _)| k == "required_scope")
        .map(|(_, v)| v.as_str());
    let token = presented_credential(&headers).unwrap_or_default();
    run_validation(&s, token, scope, peer).await
}

// --- the caller's own credentials ---------------------------------------------------------------

/// A state-changing call must carry JSON or a session token header: a cross-site form can send
/// neither, so a session cookie alone cannot be ridden.
fn csrf_safe(headers: &HeaderMap) -> Result<(), KratosError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    let token_header = headers.contains_key("x-session-token")
        || bearer(headers).is_some_and(|t| t.starts_with("gst_"));
    if json || token_header {
        Ok(())
    } else {
        Err(KratosError::new(
            StatusCode::FORBIDDEN,
            Some("security_csrf_violation"),
            "Send this request with Content-Type: application/json (or an X-Session-Token header).",
        ))
    }
}

/// What a session lacks to issue a secret, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivilegeGap {
    /// The session does not meet `selfservice.flows.settings.required_aal`.
    SecondFactor,
    /// The login is older than `selfservice.flows.settings.privileged_session_max_age`.
    Refresh,
}

impl PrivilegeGap {
    /// Where a browser closes the gap: the login flow, back to `return_to` afterwards.
    pub fn login_url(self, issuer: &str, return_to: &str) -> String {
        let ask = match self {
            PrivilegeGap::SecondFactor => "aal=aal2",
            PrivilegeGap::Refresh => "refresh=true",
        };
        let back: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        format!("{issuer}/self-service/login/browser?{ask}&return_to={back}")
    }
}

/// Issuing a secret needs a recent login meeting the settings flow's `required_aal` (the rule
/// the JSON API and the management pages share).
pub fn privilege_gap(
    config: &crate::config::Config,
    session: &ActiveSession,
    now: i64,
) -> Option<PrivilegeGap> {
    let settings = &config.selfservice.flows.settings;
    if !session.meets(&settings.required_aal) {
        Some(PrivilegeGap::SecondFactor)
    } else if now - session.authenticated_at > settings.privileged_session_max_age.secs() {
        Some(PrivilegeGap::Refresh)
    } else {
        None
    }
}

/// [`privilege_gap`] as the API's error, with where to send a browser.
pub fn require_privileged(
    s: &AppState,
    session: &ActiveSession,
    return_to: &str,
) -> Result<(), KratosError> {
    let Some(gap) = privilege_gap(&s.config, session, now()) else {
        return Ok(());
    };
    let (id, message) = match gap {
        PrivilegeGap::SecondFactor => (
            "session_aal2_required",
            "A second factor is required to manage credentials.",
        ),
        PrivilegeGap::Refresh => (
            "session_refresh_required",
            "The login session is too old to issue credentials. Please re-authenticate.",
        ),
    };
    Err(
        KratosError::new(StatusCode::FORBIDDEN, Some(id), message).with_details(json!({
            "redirect_browser_to": gap.login_url(&s.identities.issuer, return_to)
        })),
    )
}

fn parse_json<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, KratosError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        KratosError::bad_request(format!(
            "the request body is not valid JSON for this endpoint: {e}"
        ))
    })
}

fn tokens_page(s: &AppState) -> String {
    format!("{}/ui/settings/tokens", s.identities.issuer)
}

async fn scopes(State(s): State<AppState>, Authenticated(session): Authenticated) -> Res {
    let roles = crate::credentials::roles_of(&session.identity);
    Ok(axum::Json(json!({
        "scopes": s.credentials.catalogue(),
        "allowed_for_personal_access_tokens": s.credentials.pickable_for_roles(&roles),
    }))
    .into_response())
}

async fn list_tokens(State(s): State<AppState>, Authenticated(session): Authenticated) -> Res {
    let t = now();
    let rows = s
        .credentials
        .list(Some(Kind::Pat), Some(&session.identity.id), 1000, 0, t)
        .await?;
    Ok(axum::Json(
        rows.iter()
            .map(|r| view(r, t))
            .collect::<Result<Vec<_>, _>>()?,
    )
    .into_response())
}

/// A credential of `kind` owned by `owner`, or `NotFound` (another owner's ids are not
/// revealed).
pub async fn owned_by(
    s: &AppState,
    id: &str,
    kind: Kind,
    owner: &str,
) -> Result<gatehouse_store::CredentialRow, Error> {
    match s.credentials.get(id).await {
        Ok(row) if row.kind == kind.as_str() && row.owner == owner => Ok(row),
        Ok(_) | Err(Error::NotFound(_)) => Err(Error::NotFound("no such credential".into())),
        Err(e) => Err(e),
    }
}

async fn owned(
    s: &AppState,
    id: &str,
    kind: Kind,
    owner: &str,
) -> Result<gatehouse_store::CredentialRow, KratosError> {
    Ok(owned_by(s, id, kind, owner).await?)
}

/// Issues a credential of `kind` for `owner` from the caller's body (which may not name either).
async fn create_owned(
    s: &AppState,
    session: &ActiveSession,
    kind: Kind,
    owner: String,
    implied: &'static str,
    body: &Bytes,
) -> Res {
    let b: CreateBody = serde_json::from_slice(body).map_err(|e| {
        KratosError::bad_request(format!(
            "the request body is not valid JSON for this endpoint: {e}"
        ))
    })?;
    if b.kind.is_some() || b.owner.is_some() {
        return Err(KratosError::bad_request(implied));
    }
    let t = now();
    let issued = s
        .credentials
        .create(
            NewCredential {
                kind,
                owner,
                name: b.name,
                scopes: b.scopes,
                lifetime: Lifetime::from_json(b.expires_in.as_ref())?,
                created_by: session.identity.id.clone(),
            },
            t,
        )
        .await?;
    Ok(no_store(
        (StatusCode::CREATED, axum::Json(issued_view(&issued, t)?)).into_response(),
    ))
}

/// A new secret for a credential of `kind` owned by `owner`.
async fn regenerate_owned(s: &AppState, id: &str, kind: Kind, owner: &str) -> Res {
    owned(s, id, kind, owner).await?;
    let t = now();
    let issued = s.credentials.regenerate(id, t).await?;
    Ok(no_store(
        axum::Json(issued_view(&issued, t)?).into_response(),
    ))
}

/// Revokes a credential of `kind` owned by `owner`.
async fn revoke_owned(s: &AppState, id: &str, kind: Kind, owner: &str, b: RevokeBody) -> Res {
    owned(s, id, kind, owner).await?;
    let t = now();
    let row = s.credentials.revoke(id, b.reason.as_deref(), t).await?;
    Ok(axum::Json(view(&row, t)?).into_response())
}

async fn create_token(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    csrf_safe(&headers)?;
    require_privileged(&s, &session, &tokens_page(&s))?;
    let owner = session.identity.id.clone();
    create_owned(
        &s,
        &session,
        Kind::Pat,
        owner,
        "`kind` and `owner` are implied: a personal access token of the caller",
        &body,
    )
    .await
}

async fn get_token(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    Path(id): Path<String>,
) -> Res {
    let row = owned(&s, &id, Kind::Pat, &session.identity.id).await?;
    Ok(axum::Json(view(&row, now())?).into_response())
}

async fn regenerate_token(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Res {
    csrf_safe(&headers)?;
    require_privileged(&s, &session, &tokens_page(&s))?;
    regenerate_owned(&s, &id, Kind::Pat, &session.identity.id).await
}

async fn revoke_token(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    csrf_safe(&headers)?;
    let b: RevokeBody = parse_json(&body)?;
    revoke_owned(&s, &id, Kind::Pat, &session.identity.id, b).await
}

async fn revoke_token_delete(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    Path(id): Path<String>,
) -> Res {
    // DELETE cannot be sent by a cross-site form, and cross-site fetch needs CORS we never grant.
    owned(&s, &id, Kind::Pat, &session.identity.id).await?;
    s.credentials.revoke(&id, None, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// --- organisations' API keys --------------------------------------------------------------------

async fn my_orgs(State(s): State<AppState>, Authenticated(session): Authenticated) -> Res {
    let list: Vec<Value> = s
        .credentials
        .memberships(&session.identity.id)
        .await?
        .iter()
        .map(|(o, role)| {
            let mut v = crate::credentials::orgs::org_view(o);
            v["role"] = json!(role);
            v
        })
        .collect();
    Ok(axum::Json(list).into_response())
}

async fn list_keys(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    Path(org): Path<String>,
) -> Res {
    s.credentials
        .org_as_admin(&org, &session.identity.id)
        .await?;
    let t = now();
    let rows = s
        .credentials
        .list(Some(Kind::ApiKey), Some(&org), 1000, 0, t)
        .await?;
    Ok(axum::Json(
        rows.iter()
            .map(|r| view(r, t))
            .collect::<Result<Vec<_>, _>>()?,
    )
    .into_response())
}

fn keys_page(s: &AppState, org: &str) -> String {
    format!("{}/ui/organizations/{org}/keys", s.identities.issuer)
}

async fn create_key(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    csrf_safe(&headers)?;
    s.credentials
        .org_as_admin(&org, &session.identity.id)
        .await?;
    require_privileged(&s, &session, &keys_page(&s, &org))?;
    create_owned(
        &s,
        &session,
        Kind::ApiKey,
        org,
        "`kind` and `owner` are implied: an API key of this organization",
        &body,
    )
    .await
}

async fn get_key(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> Res {
    s.credentials
        .org_as_admin(&org, &session.identity.id)
        .await?;
    let row = owned(&s, &id, Kind::ApiKey, &org).await?;
    Ok(axum::Json(view(&row, now())?).into_response())
}

async fn regenerate_key(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Res {
    csrf_safe(&headers)?;
    s.credentials
        .org_as_admin(&org, &session.identity.id)
        .await?;
    require_privileged(&s, &session, &keys_page(&s, &org))?;
    regenerate_owned(&s, &id, Kind::ApiKey, &org).await
}

async fn revoke_key(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    csrf_safe(&headers)?;
    let b: RevokeBody = parse_json(&body)?;
    s.credentials
        .org_as_admin(&org, &session.identity.id)
        .await?;
    revoke_owned(&s, &id, Kind::ApiKey, &org, b).await
}

async fn revoke_key_delete(
    State(s): State<AppState>,
    Authenticated(session): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> Res {
    s.credentials
        .org_as_admin(&org, &session.identity.id)
        .await?;
    owned(&s, &id, Kind::ApiKey, &org).await?;
    s.credentials.revoke(&id, None, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
