//! Kratos's self-service endpoints on the public listener: `/self-service/<flow>/browser|api`,
//! `/self-service/<flow>/flows?id=`, `POST /self-service/<flow>?flow=`, recovery links
//! (`GET /self-service/recovery?flow=&token=`), logout and errors.
//!
//! Browser flows get a CSRF cookie and 303 redirects to the pages; a browser asking for JSON
//! (`Accept: application/json`) and native apps get JSON. The domain decides; this module only
//! maps its outcomes to HTTP.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{QueryPairs, cookie};
use super::kratos_error::KratosError;
use super::sessions::session_token;
use crate::clock::now;
use crate::config::SameSite;
use crate::error::Error;
use crate::selfservice::login::{Init, InitParams};
use crate::selfservice::{
    Flow, FlowError, FlowKind, FlowType, Outcome, Submission, csrf_cookie_name,
};
use crate::sessions::{Aal, ActiveSession, Device};

type Res = Result<Response, KratosError>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/self-service/{kind}/browser", get(init_browser))
        .route("/self-service/{kind}/api", get(init_api))
        .route("/self-service/{kind}/flows", get(get_flow))
        .route("/self-service/{kind}", get(recovery_link).post(submit))
        .route("/self-service/errors", get(get_error))
        .route(
            crate::selfservice::webauthn::SCRIPT_PATH,
            get(webauthn_script),
        )
        .route("/self-service/logout", get(logout))
        .route(
            "/self-service/logout/api",
            axum::routing::delete(logout_api),
        )
}

/// `GET /.well-known/ory/webauthn.js`: the static WebAuthn helper the `webauthn_script` node loads.
async fn webauthn_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        crate::selfservice::webauthn::SCRIPT,
    )
        .into_response()
}

fn q<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn kind_of(k: &str) -> Result<FlowKind, KratosError> {
    match FlowKind::parse(k) {
        None => Err(KratosError::new(
            StatusCode::NOT_FOUND,
            None,
            "Unable to locate the resource",
        )),
        Some(k) => Ok(k),
    }
}

/// JSON or a page, by content negotiation (quality values), as Kratos decides it.
fn wants_json(h: &HeaderMap) -> bool {
    let get = |name| h.get(name).and_then(|v| v.to_str().ok());
    gatehouse_protocol::media::prefers_json(get(header::ACCEPT), get(header::CONTENT_TYPE))
}

fn cookie_value(h: &HeaderMap, name: &str) -> Option<String> {
    cookie(h, name).map(str::to_owned)
}

fn secure(s: &AppState) -> bool {
    s.config
        .session
        .cookie
        .secure
        .unwrap_or_else(|| s.config.cookies_secure())
}

/// The session cookie (name, domain, path, SameSite from `session.cookie`); `None` clears it.
pub fn session_cookie(s: &AppState, value: Option<&str>, max_age: i64) -> HeaderValue {
    let c = &s.config.session.cookie;
    let mut v = format!(
        "{}={}; Path={}; HttpOnly; SameSite={}",
        c.name,
        value.unwrap_or(""),
        c.path,
        c.same_site
    );
    if let Some(d) = &c.domain {
        v.push_str(&format!("; Domain={d}"));
    }
    if secure(s) || c.same_site == SameSite::None {
        v.push_str("; Secure");
    }
    if value.is_none() {
        v.push_str("; Max-Age=0");
    } else if c.persistent {
        v.push_str(&format!("; Max-Age={max_age}"));
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn csrf_cookie(s: &AppState, value: &str) -> HeaderValue {
    let name = csrf_cookie_name(&s.config);
    let mut v = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000");
    if secure(s) || !s.config.host_cookie_prefix().is_empty() {
        v.push_str("; Secure");
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The browser's flow CSRF cookie.
fn csrf_from(s: &AppState, h: &HeaderMap) -> Option<String> {
    cookie_value(h, &csrf_cookie_name(&s.config))
}

/// The browser's CSRF cookie for self-service flows, or a new one (`true`: set it).
fn browser_csrf(s: &AppState, h: &HeaderMap) -> (String, bool) {
    match csrf_from(s, h).filter(|c| c.len() == 43) {
        Some(c) => (c, false),
        None => (gatehouse_crypto::random::alphanumeric(43), true),
    }
}

/// The client's device; its address is the peer's, or behind a proxy listed in
/// `rate_limits.trusted_proxies`, the client address the proxy forwarded for.
fn device(s: &AppState, addr: SocketAddr, h: &HeaderMap) -> Device {
    let forwarded = h.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    Device {
        id: String::new(),
        ip_address: Some(s.flows.limits.client_ip(addr.ip(), forwarded).to_string()),
        user_agent: h
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|u| u.chars().take(256).collect()),
    }
}

async fn current_session(
    s: &AppState,
    h: &HeaderMap,
) -> Result<Option<Arc<ActiveSession>>, KratosError> {
    match session_token(s, h) {
        Some(t) => Ok(s.sessions.lookup(&t, now()).await?),
        None => Ok(None),
    }
}

fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn flow_error(e: FlowError) -> KratosError {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut k = KratosError::new(status, Some(e.id), e.reason);
    k.details = e.details;
    k
}

/// A refusal: JSON clients get the error; browsers the error page.
async fn refused(s: &AppState, e: FlowError, json: bool) -> Res {
    if json {
        return Err(flow_error(e));
    }
    if let Some(to) = e.details.get("redirect_browser_to").and_then(Value::as_str) {
        return Ok(see_other(to));
    }
    let id = s.flows.save_error(&e, now()).await?;
    let base = s
        .config
        .selfservice
        .flows
        .error
        .ui_url
        .clone()
        .unwrap_or_else(|| format!("{}/ui/error", s.flows.issuer));
    Ok(see_other(&format!("{base}?id={id}")))
}

async fn init_browser(
    State(s): State<AppState>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    QueryPairs(p): QueryPairs,
) -> Res {
    if kind == "logout" {
        return logout_browser(s, headers).await;
    }
    init(s, kind, FlowType::Browser, headers, uri, p).await
}

/// `GET /self-service/logout/browser`: the URL that logs this browser out (Kratos's shape).
async fn logout_browser(s: AppState, headers: HeaderMap) -> Res {
    let Some(session) = current_session(&s, &headers).await? else {
        return Err(super::sessions::session_error(
            crate::sessions::SessionError::Inactive,
            &s,
        ));
    };
    let token = s.flows.logout_token(&session);
    Ok(axum::Json(json!({
        "logout_token": token,
        "logout_url": format!("{}/self-service/logout?token={token}", s.flows.issuer),
    }))
    .into_response())
}

async fn init_api(
    State(s): State<AppState>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    QueryPairs(p): QueryPairs,
) -> Res {
    init(s, kind, FlowType::Api, headers, uri, p).await
}

async fn init(
    s: AppState,
    kind: String,
    ft: FlowType,
    headers: HeaderMap,
    uri: axum::http::Uri,
    p: Vec<(String, String)>,
) -> Res {
    let kind = kind_of(&kind)?;
    let now = now();
    let browser = ft == FlowType::Browser;
    let json = !browser || wants_json(&headers);
    let (csrf, new_csrf) = if browser {
        let (c, new) = browser_csrf(&s, &headers);
        (Some(c), new)
    } else {
        (None, false)
    };
    let session = current_session(&s, &headers).await?;
    let request_url = format!(
        "{}{}",
        s.flows.issuer,
        uri.path_and_query().map(|x| x.as_str()).unwrap_or("")
    );
    let return_to = q(&p, "return_to");
    let flow: Flow = match kind {
        FlowKind::Login => {
            let aal = match q(&p, "aal") {
                Some(a) => Some(Aal::parse(a).ok_or_else(|| {
                    KratosError::new(StatusCode::BAD_REQUEST, None, "aal must be aal1 or aal2")
                })?),
                None => None,
            };
            let params = InitParams {
                flow_type: ft,
                refresh: q(&p, "refresh") == Some("true"),
                aal,
                return_to: return_to.map(str::to_owned),
                login_challenge: q(&p, "login_challenge").map(str::to_owned),
                request_url,
                csrf: csrf.clone(),
                cookies: super::extract::cookies(&headers),
            };
            match s.flows.init_login(params, session, now).await? {
                Init::Flow(f) => *f,
                Init::AlreadyAuthenticated { return_to } => {
                    if json {
                        return Err(KratosError::new(StatusCode::BAD_REQUEST, Some("session_already_available"), "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?").with_details(json!({"redirect_browser_to": return_to})));
                    }
                    return Ok(see_other(&return_to));
                }
                Init::Refused(e) => return refused(&s, e, json).await,
            }
        }
        FlowKind::Registration => match s
            .flows
            .init_registration(ft, return_to, request_url, csrf.as_deref(), session, now)
            .await?
        {
            Ok(f) => f,
            Err(e) if !json && e.id == "session_already_available" => {
                return Ok(see_other(&s.flows.default_return_to()));
            }
            Err(e) => return refused(&s, e, json).await,
        },
        FlowKind::Settings => {
            let Some(session) = session else {
                if json {
                    return Err(super::sessions::session_error(
                        crate::sessions::SessionError::Inactive,
                        &s,
                    ));
                }
                let back = format!("{}/self-service/settings/browser", s.flows.issuer);
                return Ok(see_other(&format!(
                    "{}/self-service/login/browser?return_to={}",
                    s.flows.issuer,
                    urlenc(&back)
                )));
            };
            s.flows
                .init_settings(ft, return_to, request_url, csrf.as_deref(), &session, now)
                .await?
        }
        FlowKind::Recovery | FlowKind::Verification => {
            match s
                .flows
                .init_code_flow(kind, ft, return_to, request_url, csrf.as_deref(), now)
                .await?
            {
                Ok(f) => f,
                Err(e) => return refused(&s, e, json).await,
            }
        }
    };
    let mut resp = if json {
        axum::Json(s.flows.render(&flow, csrf.as_deref()).await?).into_response()
    } else {
        see_other(&s.flows.flow_page(&flow))
    };
    if new_csrf && let Some(c) = &csrf {
        resp.headers_mut()
            .append(header::SET_COOKIE, csrf_cookie(&s, c));
    }
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}

async fn get_flow(
    State(s): State<AppState>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    QueryPairs(p): QueryPairs,
) -> Res {
    let kind = kind_of(&kind)?;
    let id = q(&p, "id").ok_or_else(|| {
        KratosError::new(
            StatusCode::BAD_REQUEST,
            None,
            "the id query parameter is required",
        )
    })?;
    let csrf = csrf_from(&s, &headers);
    let viewer = current_session(&s, &headers).await?;
    match s
        .flows
        .flow_json_for(
            kind,
            id,
            csrf.as_deref(),
            viewer.as_ref().map(|v| v.identity.id.as_str()),
            now(),
        )
        .await
    {
        Ok(v) => Ok(axum::Json(v).into_response()),
        Err(Error::Gone(_)) => Err(KratosError::new(
            StatusCode::GONE,
            Some("self_service_flow_expired"),
            "The self-service flow expired, please start again.",
        )),
        Err(e) => Err(e.into()),
    }
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Submission, KratosError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Submission::parse(ct, body).map_err(KratosError::from)
}

async fn submit(
    State(s): State<AppState>,
    Path(kind): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    QueryPairs(p): QueryPairs,
    body: Bytes,
) -> Res {
    let kind = kind_of(&kind)?;
    let flow_id = q(&p, "flow")
        .ok_or_else(|| {
            KratosError::new(
                StatusCode::BAD_REQUEST,
                None,
                "the flow query parameter is required",
            )
        })?
        .to_owned();
    let sub = parse_body(&headers, &body)?;
    let json = wants_json(&headers);
    let mut csrf = csrf_from(&s, &headers);
    // A browser entering the code of an administrator's recovery flow may have no CSRF cookie
    // yet; it gets one, which the settings flow after the recovery is bound to.
    let mut new_csrf = None;
    if kind == FlowKind::Recovery {
        let (c, minted) = browser_csrf(&s, &headers);
        if minted {
            new_csrf = Some(c.clone());
        }
        csrf = Some(c);
    }
    let session = current_session(&s, &headers).await?;
    let dev = device(&s, addr, &headers);
    let now = now();
    let outcome = match kind {
        FlowKind::Login => {
            s.flows
                .submit_login(&flow_id, sub, csrf.as_deref(), session, dev, now)
                .await
        }
        FlowKind::Registration => {
            s.flows
                .submit_registration(&flow_id, sub, csrf.as_deref(), session, dev, now)
                .await
        }
        FlowKind::Settings => {
            s.flows
                .submit_settings(&flow_id, sub, csrf.as_deref(), session, dev, now)
                .await
        }
        FlowKind::Recovery => {
            s.flows
                .submit_recovery(&flow_id, sub, csrf.as_deref(), dev, now)
                .await
        }
        FlowKind::Verification => {
            s.flows
                .submit_verification(&flow_id, sub, csrf.as_deref(), dev, now)
                .await
        }
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(Error::Busy) => {
            return Err(KratosError::new(
                StatusCode::TOO_MANY_REQUESTS,
                Some("rate_limit_exceeded"),
                "Too many password checks in progress; try again shortly.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    match outcome {
        Outcome::Refused(e) => {
            let limited = e.status == 429;
            let mut resp = match refused(&s, e, json).await {
                Ok(r) => r,
                Err(k) => k.into_response(),
            };
            if limited {
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(crate::selfservice::ratelimit::WINDOW_SECS),
                );
            }
            Ok(resp)
        }
        Outcome::Invalid(flow) => {
            if json || flow.flow_type == FlowType::Api {
                let v = s.flows.render(&flow, csrf.as_deref()).await?;
                Ok((StatusCode::BAD_REQUEST, axum::Json(v)).into_response())
            } else {
                Ok(see_other(&s.flows.flow_page(&flow)))
            }
        }
        Outcome::Success {
            return_to,
            body,
            session,
        } => {
            let api = body.get("session_token").is_some();
            let mut resp = if json || api {
                axum::Json(body).into_response()
            } else {
                see_other(&return_to)
            };
            if let Some(c) = &new_csrf
                && !api
            {
                resp.headers_mut()
                    .append(header::SET_COOKIE, csrf_cookie(&s, c));
            }
            if let Some((token, active)) = session
                && !api
            {
                resp.headers_mut().append(
                    header::SET_COOKIE,
                    session_cookie(&s, Some(token.expose()), active.expires_at - now),
                );
            }
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            Ok(resp)
        }
    }
}

/// `GET /self-service/recovery?flow=&token=`: a recovery link (`POST /admin/recovery/link`),
/// opened in a browser. Passed: the new session's cookie and on to the settings flow; refused:
/// on to a new recovery flow that says why.
async fn recovery_link(
    State(s): State<AppState>,
    Path(kind): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    QueryPairs(p): QueryPairs,
) -> Res {
    if kind_of(&kind)? != FlowKind::Recovery {
        return Err(KratosError::new(
            StatusCode::NOT_FOUND,
            None,
            "Unable to locate the resource",
        ));
    }
    let (Some(flow_id), Some(token)) = (q(&p, "flow"), q(&p, "token")) else {
        return Err(KratosError::bad_request(
            "the flow and token query parameters are required",
        ));
    };
    let (csrf, new_csrf) = browser_csrf(&s, &headers);
    let now = now();
    let outcome = s
        .flows
        .redeem_recovery_link(flow_id, token, &csrf, device(&s, addr, &headers), now)
        .await?;
    let mut resp = match outcome {
        Outcome::Success {
            return_to, session, ..
        } => {
            let mut r = see_other(&return_to);
            if let Some((token, active)) = session {
                r.headers_mut().append(
                    header::SET_COOKIE,
                    session_cookie(&s, Some(token.expose()), active.expires_at - now),
                );
            }
            r
        }
        Outcome::Invalid(flow) => see_other(&s.flows.flow_page(&flow)),
        Outcome::Refused(e) => refused(&s, e, false).await?,
    };
    if new_csrf {
        resp.headers_mut()
            .append(header::SET_COOKIE, csrf_cookie(&s, &csrf));
    }
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}

async fn get_error(State(s): State<AppState>, QueryPairs(p): QueryPairs) -> Res {
    let id = q(&p, "id").unwrap_or("");
    Ok(axum::Json(s.flows.error_json(id).await?).into_response())
}

/// `GET /self-service/logout?token=`: the browser's logout URL (see `logout_browser`).
async fn logout(State(s): State<AppState>, headers: HeaderMap, QueryPairs(p): QueryPairs) -> Res {
    let token = q(&p, "token").unwrap_or("");
    let return_to = s.flows.checked_return_to(q(&p, "return_to"))?;
    let Some(session) = current_session(&s, &headers).await? else {
        let mut r = see_other(&return_to.unwrap_or_else(|| format!("{}/ui/login", s.flows.issuer)));
        r.headers_mut()
            .append(header::SET_COOKIE, session_cookie(&s, None, 0));
        return Ok(r);
    };
    if !s.flows.check_logout_token(&session, token) {
        return Err(KratosError::new(
            StatusCode::UNAUTHORIZED,
            Some("security_csrf_violation"),
            "The logout token is invalid.",
        ));
    }
    s.sessions.logout(&session, None, now()).await?;
    let mut r = see_other(&return_to.unwrap_or_else(|| format!("{}/ui/login", s.flows.issuer)));
    r.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&s, None, 0));
    Ok(r)
}

#[derive(serde::Deserialize)]
struct LogoutApi {
    session_token: String,
}

/// `DELETE /self-service/logout/api` with `{session_token}`: 204.
async fn logout_api(
    State(s): State<AppState>,
    super::kratos_error::KJson(b): super::kratos_error::KJson<LogoutApi>,
) -> Res {
    match s.sessions.lookup(&b.session_token, now()).await? {
        Some(session) => {
            s.sessions.logout(&session, None, now()).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => Err(KratosError::new(
            StatusCode::FORBIDDEN,
            Some("session_inactive"),
            "The session is not active.",
        )),
    }
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
