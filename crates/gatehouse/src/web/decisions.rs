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
use crate::gateway::model::{self, Decision};
use gatehouse_protocol::forward;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/decisions", axum::routing::any(decision))
        .route("/decisions/{*rest}", axum::routing::any(decision))
        .route("/health/alive", axum::routing::get(super::health_alive))
        .route("/health/ready", axum::routing::get(super::health_ready))
        .with_state(state)
}

fn bad_request(why: &str) -> Response {
    let body = model::error_body(400, "The forwarded request is malformed", Some(why));
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
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
    let headers = req.headers();
    let h = |name: &str| headers.get(name).map(HeaderValue::as_bytes);
    let seen = match forward::parse(&forward::ForwardedHeaders {
        method: h("x-forwarded-method"),
        proto: h("x-forwarded-proto"),
        host: h("x-forwarded-host"),
        uri: h("x-forwarded-uri"),
        own_method: req.method().as_str(),
        own_host: h("host"),
        own_uri: &own_uri,
    }) {
        Ok(f) => f,
        Err(why) => return bad_request(&why),
    };
    let r = model::Request {
        method: &seen.method,
        scheme: &seen.scheme,
        host: &seen.host,
        uri: &seen.uri,
        headers,
        client_ip: Some(peer.ip().to_string()),
    };
    let decision = match s.gateway.decide(&r, now()).await {
        Ok(d) => d,
        Err(e) => return super::error::ApiError(e).into_response(),
    };
    respond(decision)
}

/// The decision as an HTTP answer: 200 with the identity headers, or the refusal.
pub fn respond(decision: Decision) -> Response {
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
