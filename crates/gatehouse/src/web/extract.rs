//! Extractors that turn malformed input into our error shapes instead of axum's plain text.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use gatehouse_protocol::{OAuthError, http_auth};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::error::Error;

/// A JSON body; a malformed body is a 400 in Hydra's error shape.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(e) => Err(ApiError(Error::BadRequest(format!(
                "The request body is not valid JSON for this endpoint: {}",
                e.body_text()
            )))),
        }
    }
}

/// Form pairs in order, from an `application/x-www-form-urlencoded` body. Anything else is an
/// OAuth `invalid_request`.
pub struct FormPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for FormPairs {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';').next().is_some_and(|m| {
                    m.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
        if !is_form {
            return Err(OAuthError::invalid_request(
                "The request must be application/x-www-form-urlencoded.",
            )
            .into());
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| {
                ApiError::from(OAuthError::invalid_request(
                    "The request body is too large or unreadable.",
                ))
            })?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            ApiError::from(OAuthError::invalid_request(
                "The request body is not valid form data.",
            ))
        })?;
        Ok(FormPairs(pairs))
    }
}

/// Query pairs in order.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).map_err(|_| {
            ApiError::from(OAuthError::invalid_request(
                "The query string is malformed.",
            ))
        })?;
        Ok(QueryPairs(pairs))
    }
}

/// The request's `Cookie` header values (those that are text).
fn cookie_headers(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// The request's cookies as borrowed (name, value) pairs, read by `http_auth::cookies`.
pub fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    http_auth::cookies(cookie_headers(headers))
}

/// Cookies of the request as owned (name, value) pairs, read by `http_auth::cookies`, for code
/// that keeps them past the request (the OAuth and self-service flows).
pub fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    cookie_pairs(headers)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The value of the request's first cookie named `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    http_auth::cookie(cookie_headers(headers), name)
}

/// The token of the request's `Authorization: Bearer` header (`http_auth::bearer`).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    http_auth::bearer(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}
