//! The headers every page carries: `Cache-Control: no-store`, `X-Frame-Options: DENY`,
//! `Referrer-Policy: no-referrer` and a Content-Security-Policy without framing and without
//! scripts (`script-src 'none'`), except on a flow page offering WebAuthn: there `script-src`
//! names a per-response nonce that only the page's `<script>` tag for Gatehouse's own
//! WebAuthn helper carries ([`ScriptNonce`]). Inline scripts and handlers stay forbidden.
//!
//! `form-action` is per page: browsers (Chromium) also check it against every redirect that
//! follows a form submission, so a form whose POST ends in a 303 to a client (consent) or a
//! return URL (logout, login) must list those origins, or the browser stops the navigation.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::config::Config;

/// The `form-action` sources of a page: `'self'`, the issuer, and the origins allowed in.
#[derive(Debug, Clone)]
pub struct FormAction(Vec<String>);

impl FormAction {
    /// `'self'` and the issuer's origin.
    pub fn new(config: &Config) -> FormAction {
        let mut f = FormAction(vec!["'self'".into()]);
        f.allow(&config.issuer());
        f
    }

    /// Also allows the origin of `url` (an `http(s)` URL), or its scheme for a private-use URI
    /// scheme (`com.example.app:/cb`, RFC 8252). Anything else is ignored.
    pub fn allow(&mut self, url: &str) -> &mut Self {
        let Ok(u) = url::Url::parse(url) else {
            return self;
        };
        let source = match u.scheme() {
            "http" | "https" if u.host().is_some() => u.origin().ascii_serialization(),
            scheme if !u.has_host() && !matches!(scheme, "javascript" | "data" | "blob") => {
                format!("{scheme}:")
            }
            _ => return self,
        };
        if !self.0.contains(&source) {
            self.0.push(source);
        }
        self
    }

    /// The return URLs an operator allowed (`selfservice.allowed_return_urls`, the default
    /// browser return URL).
    pub fn allow_return_urls(&mut self, config: &Config) -> &mut Self {
        for u in &config.selfservice.allowed_return_urls {
            self.allow(u);
        }
        if let Some(u) = &config.selfservice.default_browser_return_url {
            self.allow(u);
        }
        self
    }

    fn csp(&self, script: Option<&ScriptNonce>) -> String {
        let script = match script {
            Some(n) => format!("'nonce-{}'", n.0),
            None => "'none'".into(),
        };
        format!(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; form-action {}; script-src {script}; frame-ancestors 'none'",
            self.0.join(" ")
        )
    }
}

/// A fresh CSP nonce for one response: the page's only `<script>` carries it.
#[derive(Debug, Clone)]
pub struct ScriptNonce(String);

impl ScriptNonce {
    pub fn new() -> ScriptNonce {
        ScriptNonce(gatehouse_crypto::random::alphanumeric(24))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Adds the page headers to a response; `script` is the nonce of the page's script, if any.
pub fn secure(resp: Response, form_action: &FormAction, script: Option<&ScriptNonce>) -> Response {
    let csp = form_action.csp(script);
    with_csp(resp, &csp)
}

/// The page headers with a CSP of the caller's own, for the few HTML answers outside `/ui/`
/// (OAuth error pages, `/oauth2/fallbacks/*`, the `form_post` and front-channel logout pages):
/// `Cache-Control: no-store`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`,
/// `X-Content-Type-Options: nosniff`, and `csp`, which must say `frame-ancestors 'none'`.
pub fn with_csp(mut resp: Response, csp: &str) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The CSP of a static HTML answer: nothing but its own inline styles, never framed.
pub const STATIC_PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'";

/// An HTML page.
pub fn html(
    status: StatusCode,
    body: String,
    form_action: &FormAction,
    script: Option<&ScriptNonce>,
) -> Response {
    secure((status, Html(body)).into_response(), form_action, script)
}

/// A 303 to `location`, not cached.
pub fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
