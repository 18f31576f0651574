//! CORS on the public listener (`serve.public.cors`), built once from the checked config with
//! tower-http's layer. It sits outside everything else, so a preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) is answered without authentication, rate limits or CSRF
//! checks, and a request from an origin not listed gets no CORS headers (the browser keeps the
//! answer from the script).

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{Cors, origin_allowed};

/// The layer for `cfg`, or `None` when CORS is off. `cfg` has been validated
/// (`Cors::validate`), so every name parses and `*` never meets credentials.
pub fn layer(cfg: &Cors) -> Option<CorsLayer> {
    if !cfg.enabled {
        return None;
    }
    let methods: Vec<Method> = cfg
        .allowed_methods
        .iter()
        .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
        .collect();
    let names = |l: &[String]| -> Vec<HeaderName> {
        l.iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
            .collect()
    };
    let origins = if cfg.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let patterns = cfg.allowed_origins.clone();
        AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| origin_allowed(&patterns, o))
        })
    };
    let mut layer = CorsLayer::new()
        .allow_origin(origins)
        .allow_methods(methods)
        .allow_headers(names(&cfg.allowed_headers))
        .expose_headers(names(&cfg.exposed_headers))
        .allow_credentials(cfg.allow_credentials && !cfg.allowed_origins.iter().any(|o| o == "*"));
    if !cfg.max_age.0.is_zero() {
        layer = layer.max_age(Duration::from_secs(cfg.max_age.0.as_secs()));
    }
    Some(layer)
}
