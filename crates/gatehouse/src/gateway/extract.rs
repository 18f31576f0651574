//! Where an authenticator finds its credential: the bearer token, a cookie, or the header,
//! query parameter or cookie that `token_from` names. Headers are read with
//! `gatehouse_protocol::http_auth`, the readers every listener uses, borrowing from the request
//! until an authenticator keeps a token.

use axum::http::{HeaderMap, HeaderName, header};
use gatehouse_protocol::http_auth;
use serde::Deserialize;

use super::model::Request;

/// The longest token read from `token_from` or a bearer header for `token_for`.
pub const MAX_TOKEN: usize = 16 * 1024;

/// Where a token is read from (`token_from`).
#[derive(Debug, Clone)]
pub enum TokenFrom {
    Header(HeaderName),
    Query(String),
    Cookie(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFromRaw {
    header: Option<String>,
    query_parameter: Option<String>,
    cookie: Option<String>,
}

impl TokenFromRaw {
    pub fn compile(self) -> Result<TokenFrom, String> {
        match (self.header, self.query_parameter, self.cookie) {
            (Some(h), None, None) => HeaderName::from_bytes(h.as_bytes())
                .map(TokenFrom::Header)
                .map_err(|_| format!("`token_from.header`: `{h}` is not a header name")),
            (None, Some(q), None) if !q.is_empty() => Ok(TokenFrom::Query(q)),
            (None, None, Some(c)) if !c.is_empty() => Ok(TokenFrom::Cookie(c)),
            _ => Err("`token_from`: exactly one of `header`, `query_parameter` or `cookie`".into()),
        }
    }
}

/// The token of the request's `Authorization: Bearer` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    http_auth::bearer(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// The request's cookies as (name, value) pairs, borrowed.
pub fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    http_auth::cookies(
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// The value of the first cookie whose name `wanted` accepts, read without copying.
pub fn find_cookie(headers: &HeaderMap, wanted: impl Fn(&str) -> bool) -> Option<&str> {
    cookie_pairs(headers)
        .find(|(k, _)| wanted(k))
        .map(|(_, v)| v)
}

/// The token from where `token_from` says (`Some`, possibly holding nothing), or `None` when it
/// names no place and the authenticator's default applies.
pub fn configured_token(from: &Option<TokenFrom>, r: &Request<'_>) -> Option<Option<String>> {
    Some(match from.as_ref()? {
        TokenFrom::Header(h) => r
            .headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned()),
        TokenFrom::Query(q) => query_param(r.uri, q),
        TokenFrom::Cookie(name) => {
            http_auth::first(cookie_pairs(r.headers), name).map(str::to_owned)
        }
    })
}

fn query_param(uri: &str, name: &str) -> Option<String> {
    let q = uri.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The token for an authenticator with `token_from` and `prefix`: the configured place, or the
/// bearer token (`default_ok` filters it); at most [`MAX_TOKEN`] bytes.
pub fn token_for(
    from: &Option<TokenFrom>,
    prefix: &Option<String>,
    r: &Request<'_>,
    default_ok: impl Fn(&str) -> bool,
) -> Option<String> {
    let t = match configured_token(from, r) {
        Some(t) => t,
        None => bearer(r.headers)
            .filter(|t| default_ok(t))
            .map(str::to_owned),
    }?;
    match prefix {
        Some(p) if !t.starts_with(p.as_str()) => None,
        _ => Some(t).filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN),
    }
}
