//! CSRF protection for the pages' own forms (consent, logout, tokens and keys): a random value
//! in the `gatehouse_ui_csrf` cookie (HttpOnly, SameSite=Lax; `__Host-gatehouse_ui_csrf` with
//! `Path=/` when the issuer is https and no cookie domain is set), and in the hidden
//! `csrf_token` field an HMAC, under the keyring (`secrets.system`), of that cookie value and of
//! the browser's session token. A POST is accepted only when the field is the MAC of the cookie
//! it came with and of the session it acts for (checked in constant time).
//!
//! So a cookie tossed in with a chosen value is useless without the server's key, and a token
//! from one session (an attacker's own) does not work with another. Cross-site requests are
//! refused before they get here ([`crate::web::origin`]).

use axum::http::{HeaderMap, HeaderValue};

use crate::web::AppState;
use crate::web::extract::cookie_pairs;

pub const COOKIE: &str = "gatehouse_ui_csrf";
pub const FIELD: &str = "csrf_token";
const LEN: usize = 32;
/// The MAC's purpose, so that no other MAC under the keyring is a valid token.
const PURPOSE: &[u8] = b"gatehouse ui csrf v1";

/// The cookie's name under this configuration.
fn cookie_name(s: &AppState) -> String {
    format!("{}{COOKIE}", s.config.host_cookie_prefix())
}

fn well_formed(t: &str) -> bool {
    t.len() == LEN && t.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn from_cookie(s: &AppState, headers: &HeaderMap) -> Option<String> {
    let name = cookie_name(s);
    cookie_pairs(headers)
        .find(|(k, v)| *k == name && well_formed(v))
        .map(|(_, v)| v.to_owned())
}

/// What the token binds: the cookie value and a digest of the browser's session token (empty
/// without a session), each length-prefixed.
fn bound(s: &AppState, headers: &HeaderMap, cookie: &str) -> Vec<u8> {
    let session = crate::web::sessions::session_token(s, headers)
        .map(|t| gatehouse_crypto::sha256(t.as_bytes()).to_vec())
        .unwrap_or_default();
    let mut v = Vec::with_capacity(16 + cookie.len() + session.len());
    v.extend_from_slice(&(cookie.len() as u64).to_be_bytes());
    v.extend_from_slice(cookie.as_bytes());
    v.extend_from_slice(&(session.len() as u64).to_be_bytes());
    v.extend_from_slice(&session);
    v
}

/// The token for a form: the MAC for the browser's cookie (or a new one, with the `Set-Cookie`
/// for it) and its session.
pub fn token(s: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    let (value, cookie) = match from_cookie(s, headers) {
        Some(v) => (v, None),
        None => {
            let v = gatehouse_crypto::random::alphanumeric(LEN);
            let prefixed = !s.config.host_cookie_prefix().is_empty();
            let path = if prefixed { "/" } else { "/ui" };
            let mut c = format!(
                "{}={v}; Path={path}; HttpOnly; SameSite=Lax",
                cookie_name(s)
            );
            if prefixed || s.config.cookies_secure() {
                c.push_str("; Secure");
            }
            let header = HeaderValue::from_str(&c).ok();
            (v, header)
        }
    };
    let mac = s.flows.keyring.mac(PURPOSE, &bound(s, headers, &value));
    (gatehouse_crypto::b64::encode(mac), cookie)
}

/// Whether a submitted form carries the token for the browser's cookie and session.
pub fn check(s: &AppState, headers: &HeaderMap, submitted: Option<&str>) -> bool {
    let (Some(cookie), Some(given)) = (from_cookie(s, headers), submitted) else {
        return false;
    };
    let Some(tag) = gatehouse_crypto::b64::decode(given) else {
        return false;
    };
    s.flows
        .keyring
        .verify_mac(PURPOSE, &bound(s, headers, &cookie), &tag)
}

/// Appends the cookie (if new) to a page response.
pub fn set(resp: &mut axum::response::Response, cookie: Option<HeaderValue>) {
    if let Some(c) = cookie {
        resp.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
}
