//! Gatehouse's built-in, server-rendered pages under `/ui/`: the self-service flows, OAuth
//! consent, logout (the self-service sign-out and the OAuth 2.0 logout app), a signed-in page, the management of personal access tokens and API keys,
//! and errors. No JavaScript is needed, except for WebAuthn:
//! a flow offering passkeys or security keys loads Gatehouse's own helper
//! (`/.well-known/ory/webauthn.js`, with its integrity and a per-response CSP nonce), which
//! binds the trigger buttons by their `data-webauthn-trigger` attribute; the pages never
//! contain inline scripts or handlers, and password sign-in works without JavaScript.
//!
//! Templates are minijinja, embedded with rust-embed and auto-escaped (every `.html` template);
//! `selfservice.ui.theme_path` can replace any of them, and the stylesheet, by file name. The
//! environment is built once at start — every template is loaded then, so a broken theme fails
//! the start, not a request — and kept in the `AppState`. Every page carries the security
//! headers of [`headers`].

mod consent;
mod credentials;
mod csrf;
mod error;
mod flow;
mod headers;
mod logout;
mod logout_request;
mod signed_in;
mod theme;
mod welcome;
mod when;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

pub use headers::{STATIC_PAGE_CSP, with_csp};
pub use theme::{Pages, TEMPLATES};

use super::AppState;
use crate::config::Config;
use crate::selfservice::return_to;
use crate::sessions::ActiveSession;
use headers::{FormAction, ScriptNonce};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(welcome::welcome))
        .route("/ui/", get(welcome::welcome))
        .route("/ui/welcome", get(welcome::welcome))
        .route("/ui/static/style.css", get(theme::stylesheet))
        .route("/ui/error", get(error::error))
        .route("/ui/logout", get(logout::confirm).post(logout::logout))
        .route("/ui/consent", get(consent::show).post(consent::decide))
        .route(
            credentials::tokens::PATH,
            get(credentials::tokens::show_tokens).post(credentials::tokens::change_tokens),
        )
        .route(
            "/ui/organizations/{org}/keys",
            get(credentials::org_keys::show_keys).post(credentials::org_keys::change_keys),
        )
        .route("/ui/{kind}", get(flow::show))
}

/// The context every template gets: `issuer`, `ui` (the pages' base URL) and `title`.
fn context(s: &AppState, title: &str, extra: Value) -> Value {
    let issuer = s.config.issuer();
    let mut v = json!({ "ui": format!("{issuer}/ui"), "issuer": issuer, "title": title });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

/// Renders `template` into a page with the security headers; a template failure is a plain 500.
fn page(
    s: &AppState,
    status: StatusCode,
    template: &str,
    ctx: Value,
    form_action: &FormAction,
) -> Response {
    page_with_script(s, status, template, ctx, form_action, None)
}

/// [`page`] for a template that renders a `<script>` carrying `script`'s nonce, which the CSP
/// then allows (and nothing else).
fn page_with_script(
    s: &AppState,
    status: StatusCode,
    template: &str,
    ctx: Value,
    form_action: &FormAction,
    script: Option<&ScriptNonce>,
) -> Response {
    match s.pages.render(template, ctx) {
        Ok(html) => headers::html(status, html, form_action, script),
        Err(e) => {
            tracing::error!(template, error = %e, "rendering a page failed");
            headers::html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>The page could not be shown.</p>".into(),
                form_action,
                None,
            )
        }
    }
}

/// The error page with a title and a plain-language message.
fn error_page(s: &AppState, status: StatusCode, title: &str, message: &str) -> Response {
    let ctx = context(
        s,
        title,
        json!({ "status": status.as_u16(), "message": message }),
    );
    page(s, status, "error.html", ctx, &FormAction::new(&s.config))
}

/// A 500 page for an unexpected failure (logged once, by the logging middleware).
fn internal(s: &AppState, e: &crate::error::Error) -> Response {
    super::error::with_internal(
        error_page(
            s,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not complete the request. Please try again.",
        ),
        e.chain(),
    )
}

/// The browser's Gatehouse session, if it has a live one.
async fn browser_session(
    s: &AppState,
    headers: &HeaderMap,
) -> crate::error::Result<Option<Arc<ActiveSession>>> {
    match super::sessions::session_token(s, headers) {
        Some(t) => s.sessions.lookup(&t, crate::clock::now()).await,
        None => Ok(None),
    }
}

/// `return_to` when it is on the issuer's origin or under one of
/// `selfservice.allowed_return_urls` (the flows' one check, [`return_to::allowed`]), as the
/// normalised URL; otherwise `None`.
pub fn allowed_return_to(config: &Config, raw: &str) -> Option<String> {
    return_to::allowed(
        &config.issuer(),
        &config.selfservice.allowed_return_urls,
        raw,
    )
    .map(|u| u.to_string())
}

/// The first value of a query or form parameter.
fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}
