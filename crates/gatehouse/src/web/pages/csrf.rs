//! CSRF protection for the pages' own forms (consent, logout): a double-submit token. The token
//! lives in the `gatehouse_ui_csrf` cookie (HttpOnly, SameSite=Lax) and in a hidden
//! `csrf_token` field; a POST is accepted only when both are present and equal (compared in
//! constant time).

use axum::http::{HeaderMap, HeaderValue};

use crate::web::AppState;
use crate::web::extract::cookies;

pub const COOKIE: &str = "gatehouse_ui_csrf";
pub const FIELD: &str = "csrf_token";
const LEN: usize = 32;

fn well_formed(t: &str) -> bool {
    t.len() == LEN && t.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn from_cookie(headers: &HeaderMap) -> Option<String> {
    cookies(headers)
        .into_iter()
        .find(|(k, v)| k == COOKIE && well_formed(v))
        .map(|(_, v)| v)
}

/// The token for a form: the browser's, or a new one with the `Set-Cookie` for it.
pub fn token(s: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(t) = from_cookie(headers) {
        return (t, None);
    }
    let t = gatehouse_crypto::random::alphanumeric(LEN);
    let mut v = format!("{COOKIE}={t}; Path=/ui; HttpOnly; SameSite=Lax");
    if s.config.cookies_secure() {
        v.push_str("; Secure");
    }
    let cookie = HeaderValue::from_str(&v).ok();
    (t, cookie)
}

/// Whether a submitted form carries the browser's token.
pub fn check(headers: &HeaderMap, submitted: Option<&str>) -> bool {
    match (from_cookie(headers), submitted) {
        (Some(c), Some(f)) => gatehouse_crypto::ct_eq(c.as_bytes(), f.as_bytes()),
        _ => false,
    }
}

/// Appends the cookie (if new) to a page response.
pub fn set(resp: &mut axum::response::Response, cookie: Option<HeaderValue>) {
    if let Some(c) = cookie {
        resp.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
}
