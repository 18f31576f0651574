//! Cross-site requests are refused on the browser forms — the self-service flows
//! (`/self-service/*`), the built-in pages (`/ui/*`) and the cookie-authenticated credential
//! endpoints (`/credentials/*`) — before any token is looked at: an unsafe request (not GET,
//! HEAD or OPTIONS) whose `Sec-Fetch-Site` is `cross-site`, or is `same-site` from an origin
//! Gatehouse does not serve forms on, or which has no `Sec-Fetch-Site` but an `Origin` that is
//! not one of those origins (`null` included), gets `403 security_csrf_violation`.
//!
//! The origins forms come from are the issuer's and those of the configured
//! `selfservice.flows.*.ui_url` (a custom UI on a sibling subdomain, as with Kratos). A request
//! with neither header (a native app, an SDK, curl) is let through: the flows' own CSRF
//! tokens still apply to browser flows. This is a layer in front of the token checks, not a
//! replacement for them; `SameSite=Lax` does not stop a sibling subdomain, this does.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::kratos_error::KratosError;
use crate::config::Config;

/// The origins the browser forms are served from.
pub fn trusted_origins(config: &Config) -> Vec<String> {
    let f = &config.selfservice.flows;
    std::iter::once(Some(config.issuer()))
        .chain([
            f.login.ui_url.clone(),
            f.registration.ui_url.clone(),
            f.settings.ui_url.clone(),
            f.recovery.ui_url.clone(),
            f.verification.ui_url.clone(),
            f.error.ui_url.clone(),
        ])
        .flatten()
        .filter_map(|u| origin_of(&u))
        .collect()
}

fn origin_of(u: &str) -> Option<String> {
    let u = url::Url::parse(u).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| u.origin().ascii_serialization())
}

/// Why an unsafe request must be refused as cross-site, or `None`.
pub fn cross_site(
    method: &Method,
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    trusted: &[String],
) -> Option<&'static str> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let origin_trusted = || {
        origin
            .and_then(origin_of)
            .is_some_and(|o| trusted.contains(&o))
    };
    match sec_fetch_site.map(str::to_ascii_lowercase).as_deref() {
        Some("same-origin" | "none") => None,
        Some("cross-site") => Some("The request was sent from another site."),
        Some("same-site") if !origin_trusted() => {
            Some("The request was sent from another origin of this site.")
        }
        Some("same-site") => None,
        // No (or an unknown) Sec-Fetch-Site: decide on Origin, when there is one.
        _ => match origin {
            Some(_) if !origin_trusted() => Some("The request was sent from another origin."),
            _ => None,
        },
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The layer: refuses cross-site unsafe requests with `403 security_csrf_violation`.
pub async fn refuse_cross_site(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let h = req.headers();
    let why = cross_site(
        req.method(),
        header(h, "sec-fetch-site"),
        header(h, "origin"),
        &trusted_origins(&s.config),
    );
    match why {
        Some(reason) => {
            tracing::info!(path = %req.uri().path(), reason, "cross-site request refused");
            KratosError::new(
                StatusCode::FORBIDDEN,
                Some("security_csrf_violation"),
                reason,
            )
            .into_response()
        }
        None => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUSTED: [&str; 2] = ["https://auth.example.com", "https://login.example.com"];

    fn refused(method: Method, site: Option<&str>, origin: Option<&str>) -> bool {
        let trusted: Vec<String> = TRUSTED.iter().map(|s| (*s).to_owned()).collect();
        cross_site(&method, site, origin, &trusted).is_some()
    }

    #[test]
    fn cross_site_unsafe_requests_are_refused() {
        assert!(refused(Method::POST, Some("cross-site"), None));
        assert!(refused(
            Method::POST,
            Some("cross-site"),
            Some("https://auth.example.com")
        ));
        assert!(refused(
            Method::DELETE,
            Some("same-site"),
            Some("https://evil.example.com")
        ));
        assert!(refused(Method::POST, None, Some("https://evil.example")));
        assert!(refused(Method::POST, None, Some("null")));
        assert!(refused(Method::PUT, None, Some("http://auth.example.com")));
    }

    #[test]
    fn same_origin_and_header_less_requests_pass() {
        assert!(!refused(Method::POST, Some("same-origin"), None));
        assert!(!refused(Method::POST, Some("none"), None));
        assert!(!refused(
            Method::POST,
            Some("same-site"),
            Some("https://login.example.com")
        ));
        assert!(!refused(
            Method::POST,
            None,
            Some("https://AUTH.example.com")
        ));
        assert!(!refused(Method::POST, None, None));
        assert!(!refused(
            Method::GET,
            Some("cross-site"),
            Some("https://evil.example")
        ));
    }
}
