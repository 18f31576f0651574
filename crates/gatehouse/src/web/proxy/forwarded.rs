//! Phase 1: what the rules decide on, read from the request — its method, its host (the
//! `:authority` of HTTP/2, `Host` of HTTP/1.1), its path and query, and the scheme
//! (`X-Forwarded-Proto` when `serve.proxy.trust_forwarded_headers` says a proxy in front sets
//! it, else `http`), all through `gatehouse_protocol::forward`. A malformed one is the client's
//! error (400), before any rule runs.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use gatehouse_protocol::forward::{self, Forwarded};

use super::error::ProxyError;
use super::phase::Phase;

/// The request as read: its parts and body, the peer's address, and what the rules decide on.
pub struct Inbound {
    pub parts: Parts,
    pub body: Body,
    pub peer: SocketAddr,
    pub seen: Forwarded,
}

pub struct ReadForwarded<P> {
    next: P,
    trust_forwarded: bool,
}

/// The layer that puts [`ReadForwarded`] in front of the next phase.
pub fn layer(trust_forwarded: bool) -> Layer {
    Layer { trust_forwarded }
}

pub struct Layer {
    trust_forwarded: bool,
}

impl<P> tower::Layer<P> for Layer {
    type Service = ReadForwarded<P>;

    fn layer(&self, next: P) -> ReadForwarded<P> {
        ReadForwarded {
            next,
            trust_forwarded: self.trust_forwarded,
        }
    }
}

/// The path and query of the request (`/` when it has none).
pub fn path_and_query(parts: &Parts) -> &str {
    parts.uri.path_and_query().map_or("/", |p| p.as_str())
}

fn read(parts: &Parts, trust_forwarded: bool) -> Result<Forwarded, String> {
    // HTTP/2 carries the host in the URI (:authority), HTTP/1.1 in Host.
    let own_host = parts
        .uri
        .authority()
        .map(|a| a.as_str().as_bytes())
        .or_else(|| parts.headers.get(header::HOST).map(HeaderValue::as_bytes));
    let proto = trust_forwarded
        .then(|| {
            parts
                .headers
                .get("x-forwarded-proto")
                .map(HeaderValue::as_bytes)
        })
        .flatten();
    forward::parse(&forward::ForwardedHeaders {
        proto,
        own_method: parts.method.as_str(),
        own_host,
        own_uri: path_and_query(parts),
        ..Default::default()
    })
}

impl<P: Phase<Inbound>> Phase<Request> for ReadForwarded<P> {
    async fn call(&self, req: Request) -> Result<Response, ProxyError> {
        let (parts, body) = req.into_parts();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .ok_or_else(|| {
                ProxyError::Internal(crate::error::Error::Internal(
                    "the proxy listener has no peer addresses".into(),
                ))
            })?;
        let seen = read(&parts, self.trust_forwarded).map_err(ProxyError::Client)?;
        self.next
            .call(Inbound {
                parts,
                body,
                peer,
                seen,
            })
            .await
    }
}
