//! What can go wrong while proxying, tagged by who failed (pingora's `ErrorSource`): the client
//! (400), the upstream (502, or 504 when it is too slow) or Gatehouse itself (500). Answered
//! and logged in one place, `into_response`, in the gateway's error shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::gateway::model::error_body;
use crate::web::error::ApiError;

/// Who failed: decides the status family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The request cannot be passed on as sent: 400.
    Client,
    /// The upstream, or the rule's way to it: 502 or 504.
    Upstream,
    /// Gatehouse: 500.
    Internal,
}

#[derive(Debug)]
pub enum ProxyError {
    /// The forwarded request is malformed (the reason says which part).
    Client(String),
    /// The rule that allowed the request has no `upstream`.
    NoUpstream,
    /// The rule's upstream URL cannot be joined with the request's path.
    BadUpstreamUrl { upstream: String, why: String },
    /// The upstream could not be reached, or broke the exchange.
    Unreachable {
        upstream: String,
        error: hyper_util::client::legacy::Error,
    },
    /// No response headers within `serve.proxy.timeout`.
    Timeout { upstream: String },
    /// The upstream switched protocols though the client did not ask to.
    UnaskedSwitch,
    /// Gatehouse failed (the decision could not be made).
    Internal(crate::error::Error),
}

impl ProxyError {
    pub fn source(&self) -> Source {
        match self {
            ProxyError::Client(_) => Source::Client,
            ProxyError::NoUpstream
            | ProxyError::BadUpstreamUrl { .. }
            | ProxyError::Unreachable { .. }
            | ProxyError::Timeout { .. }
            | ProxyError::UnaskedSwitch => Source::Upstream,
            ProxyError::Internal(_) => Source::Internal,
        }
    }
}

fn answer(status: StatusCode, message: &str) -> Response {
    let body = error_body(status.as_u16(), message, None);
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        match self {
            ProxyError::Client(why) => answer(StatusCode::BAD_REQUEST, &why),
            ProxyError::NoUpstream => answer(StatusCode::BAD_GATEWAY, "the rule has no upstream"),
            ProxyError::BadUpstreamUrl { upstream, why } => {
                tracing::warn!(rule_upstream = %upstream, error = %why, "proxy: bad upstream URL");
                answer(StatusCode::BAD_GATEWAY, "the upstream URL is not usable")
            }
            ProxyError::Unreachable { upstream, error } => {
                tracing::warn!(upstream = %upstream, error = %error, "proxy: the upstream failed");
                answer(StatusCode::BAD_GATEWAY, "the upstream could not be reached")
            }
            ProxyError::Timeout { upstream } => {
                tracing::warn!(upstream = %upstream, "proxy: the upstream did not answer in time");
                answer(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the upstream did not answer in time",
                )
            }
            ProxyError::UnaskedSwitch => answer(
                StatusCode::BAD_GATEWAY,
                "the upstream switched protocols unasked",
            ),
            ProxyError::Internal(e) => ApiError(e).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_decides_the_status() {
        let cases = [
            (
                ProxyError::Client("X-Forwarded-Proto".into()),
                Source::Client,
                400,
            ),
            (ProxyError::NoUpstream, Source::Upstream, 502),
            (
                ProxyError::BadUpstreamUrl {
                    upstream: "x".into(),
                    why: "no scheme".into(),
                },
                Source::Upstream,
                502,
            ),
            (
                ProxyError::Timeout {
                    upstream: "http://127.0.0.1:1".into(),
                },
                Source::Upstream,
                504,
            ),
            (ProxyError::UnaskedSwitch, Source::Upstream, 502),
            (
                ProxyError::Internal(crate::error::Error::Internal("db".into())),
                Source::Internal,
                500,
            ),
        ];
        for (e, source, status) in cases {
            assert_eq!(e.source(), source, "{e:?}");
            assert_eq!(e.into_response().status().as_u16(), status);
        }
    }
}
