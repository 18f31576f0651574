//! The HTTP layer (axum only): one router per listener, shared state, and the layers every
//! request passes through (`layered`) — in order: request id, tracing span, panic catcher, body
//! size limit (not on the proxy, whose bodies stream), metrics, and the logging of internal
//! errors (once each, with the request id).

pub mod admin;
pub mod admin_courier;
pub mod admin_credentials;
pub mod admin_identity;
mod cors;
pub mod credentials;
pub mod decisions;
pub mod error;
pub mod extract;
pub mod kratos_error;
pub mod origin;
pub mod pages;
pub mod proxy;
pub mod public;
pub mod selfservice;
pub mod sessions;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::courier::Courier;
use crate::oauth2::Provider;

/// What every handler reaches: one `Arc`, so the per-request clone that axum's `State` makes
/// is one reference count, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub config: Arc<Config>,
    pub provider: Arc<Provider>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub courier: Arc<Courier>,
    /// The discovery document, serialised once.
    pub discovery: bytes::Bytes,
    /// Dynamic registrations per client IP in the current hour.
    pub registrations: moka::sync::Cache<std::net::IpAddr, Arc<std::sync::atomic::AtomicU32>>,
    pub identities: Arc<crate::identity::IdentityService>,
    pub sessions: Arc<crate::sessions::SessionService>,
    /// The built-in pages' templates and stylesheet, loaded once at start.
    pub pages: Arc<pages::Pages>,
    pub flows: Arc<crate::selfservice::SelfService>,
    pub credentials: Arc<crate::credentials::CredentialService>,
    pub gateway: Arc<crate::gateway::Gateway>,
}

impl AppState {
    #[expect(
        clippy::too_many_arguments,
        reason = "one Arc per service, built once in App::build"
    )]
    pub fn new(
        config: Arc<Config>,
        provider: Arc<Provider>,
        metrics: Arc<crate::metrics::Metrics>,
        courier: Arc<Courier>,
        discovery: bytes::Bytes,
        identities: Arc<crate::identity::IdentityService>,
        sessions: Arc<crate::sessions::SessionService>,
        flows: Arc<crate::selfservice::SelfService>,
        pages: Arc<pages::Pages>,
        credentials: Arc<crate::credentials::CredentialService>,
        gateway: Arc<crate::gateway::Gateway>,
    ) -> AppState {
        AppState(Arc::new(Services {
            gateway,
            credentials,
            flows,
            identities,
            sessions,
            pages,
            config,
            provider,
            metrics,
            courier,
            discovery,
            registrations: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(3600))
                .build(),
        }))
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a random per-process prefix and a counter — unique across replicas and
/// restarts without a system call per request.
#[derive(Clone)]
struct SequentialId {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl SequentialId {
    fn new() -> Self {
        SequentialId {
            prefix: gatehouse_crypto::random::alphanumeric(12).into(),
            next: Arc::default(),
        }
    }
}

impl MakeRequestId for SequentialId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        axum::http::HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// The layers every listener has, outermost first: the request id (`x-request-id`: the
/// client's, or a new one; copied to the answer), the tracing span naming it, the panic catcher,
/// the body size limit (`None`: none, for the proxy), the metrics and the logging of internal
/// errors.
fn layered(router: Router, limit: Option<usize>, observe: crate::metrics::Observe) -> Router {
    let router = router
        .layer(axum::middleware::from_fn(error::log_internal_errors))
        .layer(axum::middleware::from_fn_with_state(
            observe,
            crate::metrics::observe,
        ));
    let router = match limit {
        Some(limit) => router.layer(RequestBodyLimitLayer::new(limit)),
        None => router,
    };
    router
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, SequentialId::new()))
}

pub fn public_router(state: AppState) -> Router {
    let limit = state.config.serve.request_body_limit;
    let observe = crate::metrics::Observe {
        metrics: state.metrics.clone(),
        listener: "public",
    };
    // Browser forms refuse cross-site unsafe requests (see `origin`).
    let same_site_only =
        axum::middleware::from_fn_with_state(state.clone(), origin::refuse_cross_site);
    let cors = cors::layer(&state.config.serve.public.cors);
    let router = layered(
        public::router(state.clone()).merge(
            sessions::router()
                .merge(
                    selfservice::router()
                        .layer(axum::middleware::map_response(no_store_by_default))
                        .layer(same_site_only.clone()),
                )
                .merge(credentials::router().layer(same_site_only.clone()))
                .merge(pages::router().layer(same_site_only))
                .with_state(state),
        ),
        Some(limit),
        observe,
    );
    // Outermost: preflights are answered before anything else looks at the request.
    match cors {
        Some(c) => router.layer(c),
        None => router,
    }
}

pub fn admin_router(state: AppState) -> Router {
    let limit = state.config.serve.request_body_limit;
    let observe = crate::metrics::Observe {
        metrics: state.metrics.clone(),
        listener: "admin",
    };
    layered(
        admin::router(state).layer(axum::middleware::map_response(no_store_by_default)),
        Some(limit),
        observe,
    )
}

/// `Cache-Control: private, no-store` on every answer that did not choose its own caching: the
/// self-service flows' JSON (a settings flow carries a new TOTP secret or backup codes) and the
/// admin API (a created client's `client_secret`, recovery links and codes) must never be kept
/// by a browser or a shared cache.
async fn no_store_by_default(mut resp: Response) -> Response {
    if !resp
        .headers()
        .contains_key(axum::http::header::CACHE_CONTROL)
    {
        resp.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("private, no-store"),
        );
    }
    resp
}

pub fn decisions_router(state: AppState) -> Router {
    let limit = state.config.serve.request_body_limit;
    let observe = crate::metrics::Observe {
        metrics: state.metrics.clone(),
        listener: "decisions",
    };
    layered(decisions::router(state), Some(limit), observe)
}

/// The reverse proxy: no routes of its own, no body limit (bodies stream to the upstream); its
/// layers and phases, in order, are written down at [`proxy::router`].
pub fn proxy_router(state: AppState, proxy: proxy::Proxy) -> Router {
    proxy::router(state, proxy)
}

pub async fn health_alive() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

pub async fn health_ready(State(s): State<AppState>) -> Response {
    match s.provider.store.ping().await {
        Ok(()) => axum::Json(json!({"status": "ok"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"errors": {"database": "not reachable"}})),
            )
                .into_response()
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
