//! Extractors that turn malformed input into our error shapes instead of axum's plain text.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use gatehouse_protocol::OAuthError;
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

/// Cookies of the request as (name, value) pairs.
pub fn cookies(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            c.trim()
                .split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .take(64)
        .collect()
}
