//! The decision API (Oathkeeper's `/decisions`), for Traefik ForwardAuth, Caddy `forward_auth`,
//! nginx `auth_request` and Envoy `ext_authz` (HTTP): the request the gateway received comes in
//! `X-Forwarded-Method`, `-Proto`, `-Host` and `-Uri` (falling back to this request's own method,
//! `Host` and the path after `/decisions`). 200 with the identity headers, or the refusal.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::clock::now;
use crate::gateway::decide::{self, Decision};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/decisions", axum::routing::any(decision))
        .route("/decisions/{*rest}", axum::routing::any(decision))
        .route("/health/alive", axum::routing::get(super::health_alive))
        .route("/health/ready", axum::routing::get(super::health_ready))
        .with_state(state)
}

/// A forwarded header, refused when it is too long or not text.
fn forwarded<'a>(req: &'a Request, name: &str) -> Result<Option<&'a str>, String> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) if v.len() > 8192 => Err(format!("{name} is too long")),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| format!("{name} is not text")),
    }
}

fn bad_request(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({"error": {"code": 400, "status": "Bad Request", "message": "The forwarded request is malformed", "reason": why}})),
    )
        .into_response()
}

async fn decision(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let own_uri = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/decisions");
    let own_uri = own_uri.strip_prefix("/decisions").unwrap_or(own_uri);
    let own_uri = if own_uri.starts_with('/') {
        own_uri.to_owned()
    } else {
        format!("/{own_uri}")
    };
    let parts = (|| -> Result<_, String> {
        let method = forwarded(&req, "x-forwarded-method")?.unwrap_or(req.method().as_str());
        if method.is_empty()
            || method.len() > 16
            || !method.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return Err("X-Forwarded-Method is not a method".into());
        }
        let scheme = forwarded(&req, "x-forwarded-proto")?.unwrap_or("http");
        let host = match forwarded(&req, "x-forwarded-host")? {
            Some(h) => h,
            None => forwarded(&req, "host")?.unwrap_or_default(),
        };
        let uri = forwarded(&req, "x-forwarded-uri")?
            .map(str::to_owned)
            .unwrap_or_else(|| own_uri.clone());
        Ok((
            method.to_owned(),
            scheme.to_ascii_lowercase(),
            host.to_owned(),
            uri,
        ))
    })();
    let (method, scheme, host, uri) = match parts {
        Ok(p) => p,
        Err(why) => return bad_request(&why),
    };
    let r = decide::Request {
        method: &method,
        scheme: &scheme,
        host: &host,
        uri: &uri,
        headers: req.headers(),
        client_ip: Some(peer.ip().to_string()),
    };
    let decision = match s.gateway.decide(&r, now()).await {
        Ok(d) => d,
        Err(e) => return super::error::ApiError(e).into_response(),
    };
    let (status, headers, body) = match decision {
        Decision::Allow { headers, .. } => (200, headers, None),
        Decision::Deny {
            status,
            headers,
            body,
        } => (status, headers, body),
    };
    let mut resp = match body {
        Some(b) => axum::Json(b).into_response(),
        None => ().into_response(),
    };
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    resp
}
