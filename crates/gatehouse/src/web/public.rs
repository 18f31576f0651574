//! The public listener: discovery, JWKS, the authorization, token, revocation and userinfo
//! endpoints (Hydra's paths), and health. Handlers only translate HTTP to provider calls.

use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use gatehouse_protocol::token_request;
use gatehouse_protocol::{ErrorCode, OAuthError};

use super::error::ApiError;
use super::extract::{FormPairs, Json, QueryPairs, bearer, cookies};
use super::pages::{STATIC_PAGE_CSP, with_csp};
use super::{AppState, health_alive, health_ready, html_escape};
use crate::clock::now;
use crate::oauth2::flows::{Outcome, SetCookie};
use crate::oauth2::logout::LogoutOutcome;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/oauth-authorization-server", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/oauth2/auth", get(authorize_get).post(authorize_post))
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/introspect", post(introspect_public))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/oauth2/sessions/logout", get(logout_get).post(logout_post))
        .route("/oauth2/register", post(register))
        .route(
            "/oauth2/register/{id}",
            get(get_registration)
                .put(update_registration)
                .delete(delete_registration),
        )
        .route("/oauth2/fallbacks/logout", get(fallback_logout))
        .route(
            "/oauth2/fallbacks/logout/callback",
            get(fallback_logout_done),
        )
        .route("/oauth2/fallbacks/login", get(fallback_login))
        .route("/oauth2/fallbacks/consent", get(fallback_consent))
        .route("/oauth2/fallbacks/error", get(fallback_error))
        .route("/health/alive", get(health_alive))
        .route("/health/ready", get(health_ready))
        .with_state(state)
}

fn json_bytes(body: bytes::Bytes, cache: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

async fn discovery(State(s): State<AppState>) -> Response {
    json_bytes(s.discovery.clone(), "public, max-age=3600")
}

async fn jwks(State(s): State<AppState>) -> Response {
    json_bytes(
        s.provider.keys.current().jwks_json.clone(),
        "public, max-age=60",
    )
}

async fn authorize_get(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    QueryPairs(q): QueryPairs,
) -> Result<Response, ApiError> {
    let url = format!(
        "{}{}",
        s.provider.issuer,
        uri.path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/oauth2/auth")
    );
    let outcome = s
        .provider
        .authorize(q, &url, &cookies(&headers), now())
        .await?;
    Ok(render_outcome(&s, outcome))
}

async fn authorize_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    FormPairs(f): FormPairs,
) -> Result<Response, ApiError> {
    let url = format!("{}/oauth2/auth", s.provider.issuer);
    let outcome = s
        .provider
        .authorize(f, &url, &cookies(&headers), now())
        .await?;
    Ok(render_outcome(&s, outcome))
}

pub fn cookie_header(s: &AppState, c: &SetCookie) -> Option<HeaderValue> {
    let mut v = format!("{}={}; Path=/; HttpOnly; SameSite=Lax", c.name, c.value);
    if s.config.cookies_secure() {
        v.push_str("; Secure");
    }
    if let Some(age) = c.max_age {
        v.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&v).ok()
}

async fn logout_get(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    QueryPairs(q): QueryPairs,
) -> Result<Response, ApiError> {
    let url = format!(
        "{}{}",
        s.provider.issuer,
        uri.path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/oauth2/sessions/logout")
    );
    logout(s, headers, q, url).await
}

async fn logout_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    FormPairs(f): FormPairs,
) -> Result<Response, ApiError> {
    let url = format!("{}/oauth2/sessions/logout", s.provider.issuer);
    logout(s, headers, f, url).await
}

async fn logout(
    s: AppState,
    headers: HeaderMap,
    pairs: Vec<(String, String)>,
    url: String,
) -> Result<Response, ApiError> {
    let outcome = s
        .provider
        .logout(pairs, &url, &cookies(&headers), now())
        .await?;
    Ok(match outcome {
        LogoutOutcome::Redirect { location, cookies } => {
            deliver_logouts_now(&s);
            render_outcome(&s, Outcome::Redirect { location, cookies })
        }
        LogoutOutcome::Frontchannel {
            iframes,
            next,
            cookies,
        } => {
            deliver_logouts_now(&s);
            let frames: String = iframes
                .iter()
                .map(|u| {
                    format!(
                        r#"<iframe src="{}" style="display:none"></iframe>"#,
                        html_escape(u)
                    )
                })
                .collect();
            let body = format!(
                r#"<!doctype html><html><head><meta charset="utf-8"><title>Logging out</title><meta http-equiv="refresh" content="2;url={n}"></head><body style="font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto"><p>Logging you out of every application…</p>{frames}<p><a href="{n}">Continue</a></p></body></html>"#,
                n = html_escape(&next)
            );
            let mut resp = with_csp(
                Html(body).into_response(),
                "default-src 'none'; style-src 'unsafe-inline'; frame-src http: https:; form-action 'none'; frame-ancestors 'none'",
            );
            for c in &cookies {
                if let Some(v) = cookie_header(&s, c) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        LogoutOutcome::Page(e) => error_page(StatusCode::BAD_REQUEST, &e),
    })
}

/// Back-channel logout tokens go out at once; the janitor retries what fails.
fn deliver_logouts_now(s: &AppState) {
    s.provider.deliver_logouts_soon();
}

fn registration_enabled(s: &AppState) -> Result<(), ApiError> {
    if s.config.oidc.dynamic_client_registration.enabled {
        Ok(())
    } else {
        Err(ApiError(crate::error::Error::NotFound(
            "dynamic client registration is disabled (oidc.dynamic_client_registration.enabled)"
                .into(),
        )))
    }
}

/// `POST /oauth2/register` (RFC 7591), limited per client IP.
async fn register(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    registration_enabled(&s)?;
    let count = s.registrations.get_with(peer.ip(), Default::default);
    let limit = s
        .config
        .oidc
        .dynamic_client_registration
        .rate_limit_per_hour;
    if count.fetch_add(1, Ordering::Relaxed) >= limit {
        let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(serde_json::json!({"error": "too_many_requests", "error_description": "Too many client registrations from this address; try again later."}))).into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("3600"));
        return Ok(resp);
    }
    let v = s.provider.register_client(body, now()).await?;
    tracing::info!(client_id = v["client_id"].as_str().unwrap_or_default(), ip = %peer.ip(), "client registered dynamically");
    let mut r = (StatusCode::CREATED, axum::Json(v)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

async fn get_registration(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    registration_enabled(&s)?;
    s.provider
        .check_registration_token(&id, bearer(&headers))
        .await?;
    Ok(axum::Json(s.provider.registered_client(&id).await?).into_response())
}

async fn update_registration(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    registration_enabled(&s)?;
    s.provider
        .check_registration_token(&id, bearer(&headers))
        .await?;
    let mut r = axum::Json(
        s.provider
            .update_registered_client(&id, body, now())
            .await?,
    )
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

async fn delete_registration(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    registration_enabled(&s)?;
    s.provider
        .check_registration_token(&id, bearer(&headers))
        .await?;
    s.provider.delete_client(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn render_outcome(s: &AppState, outcome: Outcome) -> Response {
    match outcome {
        Outcome::Redirect { location, cookies } => {
            let mut resp = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            for c in &cookies {
                if let Some(v) = cookie_header(s, c) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Outcome::FormPost {
            action,
            fields,
            cookies,
        } => {
            let inputs: String = fields
                .iter()
                .map(|(k, v)| {
                    format!(
                        r#"<input type="hidden" name="{}" value="{}">"#,
                        html_escape(k),
                        html_escape(v)
                    )
                })
                .collect();
            let body = format!(
                r#"<!doctype html><html><head><meta charset="utf-8"><title>Submit</title></head><body onload="document.forms[0].submit()"><form method="post" action="{}">{inputs}<noscript><button type="submit">Continue</button></noscript></form></body></html>"#,
                html_escape(&action)
            );
            let mut resp = with_csp(
                Html(body).into_response(),
                "default-src 'none'; script-src 'unsafe-inline'; form-action *; frame-ancestors 'none'",
            );
            for c in &cookies {
                if let Some(v) = cookie_header(s, c) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Outcome::Page(e) => error_page(StatusCode::BAD_REQUEST, &e),
    }
}

pub fn error_page(status: StatusCode, e: &OAuthError) -> Response {
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Authorization error</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2937}}code{{background:#f3f4f6;padding:.1rem .3rem;border-radius:.25rem}}</style></head><body><h1>The request could not be completed</h1><p><code>{}</code></p><p>{}</p></body></html>"#,
        html_escape(e.error.as_str()),
        html_escape(e.error_description.as_deref().unwrap_or_default())
    );
    with_csp((status, Html(body)).into_response(), STATIC_PAGE_CSP)
}

fn authorization_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

async fn token(
    State(s): State<AppState>,
    headers: HeaderMap,
    FormPairs(f): FormPairs,
) -> Result<Response, ApiError> {
    let req = token_request::parse(f, authorization_header(&headers))?;
    let resp = s.provider.token(req, now()).await?;
    let mut r = axum::Json(resp).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(r)
}

/// The form of a client-authenticated endpoint (revocation, introspection): each parameter once,
/// the client authenticated by any method the token endpoint takes, and the `token` parameter.
async fn client_and_token(
    s: &AppState,
    headers: &HeaderMap,
    f: Vec<(String, String)>,
) -> Result<
    (
        Arc<crate::oauth2::clients::StoredClient>,
        std::collections::HashMap<String, String>,
        token_request::ClientCredentials,
    ),
    ApiError,
> {
    let mut form: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (k, v) in f {
        if form.insert(k.clone(), v).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "The {k} parameter must not be repeated."
            ))
            .into());
        }
    }
    let creds = token_request::parse_client_auth(&mut form, authorization_header(headers))?;
    let client = s.provider.authenticate(&creds, now()).await?;
    if !form.contains_key("token") {
        return Err(OAuthError::invalid_request("The token parameter is missing.").into());
    }
    Ok((client, form, creds))
}

async fn revoke(
    State(s): State<AppState>,
    headers: HeaderMap,
    FormPairs(f): FormPairs,
) -> Result<Response, ApiError> {
    let (client, form, _) = client_and_token(&s, &headers, f).await?;
    s.provider.revoke(&client, &form["token"]).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /oauth2/introspect` (RFC 7662) for resource servers outside the admin network: the
/// caller authenticates as a confidential client and sees only its own tokens and tokens
/// issued for an audience it may see; anything else is `{"active": false}`.
async fn introspect_public(
    State(s): State<AppState>,
    headers: HeaderMap,
    FormPairs(f): FormPairs,
) -> Result<Response, ApiError> {
    let (client, form, creds) = client_and_token(&s, &headers, f).await?;
    if matches!(creds, token_request::ClientCredentials::None { .. }) {
        return Err(OAuthError::invalid_client(
            "Introspection needs client authentication; a public client cannot introspect.",
        )
        .into());
    }
    let result = s
        .provider
        .introspect_for(
            &client.client,
            &form["token"],
            form.get("scope").map(String::as_str),
            now(),
        )
        .await?;
    let mut resp = axum::Json(result).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn bearer_error(code: ErrorCode, description: &str) -> Response {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let challenge = format!(
        r#"Bearer error="{}", error_description="{}""#,
        code.as_str(),
        description
    );
    let mut resp = (status, axum::Json(OAuthError::new(code, description))).into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some(token) = bearer(&headers) else {
        let mut resp = StatusCode::UNAUTHORIZED.into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(resp);
    };
    let Some(active) = s.provider.active_access_token(token, now()).await? else {
        return Ok(bearer_error(
            ErrorCode::InvalidToken,
            "The access token is invalid or has expired.",
        ));
    };
    if !active.grant.scope.iter().any(|s| s == "openid") {
        return Ok(bearer_error(
            ErrorCode::InsufficientScope,
            "The access token lacks the openid scope.",
        ));
    }
    let mut r = axum::Json(s.provider.userinfo(&active)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

fn fallback(title: &str, text: &str) -> Response {
    let page = Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{t}</title></head><body style="font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto"><h1>{t}</h1><p>{x}</p></body></html>"#,
        t = html_escape(title),
        x = html_escape(text)
    ));
    with_csp(page.into_response(), STATIC_PAGE_CSP)
}

async fn fallback_login() -> Response {
    fallback(
        "No login app is configured",
        "Set urls.login to the URL of your login app; it receives the login_challenge and accepts it through the admin API.",
    )
}

async fn fallback_consent() -> Response {
    fallback(
        "No consent app is configured",
        "Set urls.consent to the URL of your consent app; it receives the consent_challenge and accepts it through the admin API.",
    )
}

async fn fallback_logout() -> Response {
    fallback(
        "No logout app is configured",
        "Set urls.logout to the URL of your logout app; it receives the logout_challenge and accepts it through the admin API.",
    )
}

async fn fallback_logout_done() -> Response {
    fallback("You are signed out", "You can close this window.")
}

async fn fallback_error(QueryPairs(q): QueryPairs) -> Response {
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    fallback(
        &format!("Error: {}", get("error")),
        &get("error_description"),
    )
}
