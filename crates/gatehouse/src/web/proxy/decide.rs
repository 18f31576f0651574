//! Phase 2: the access rules' decision for the request, by the same gateway as the decision
//! API (rate limits included). A refusal is answered here, as the rule's error handlers say;
//! an allowed request goes on with the headers the mutators set and the rule's upstream. A
//! decision that cannot be made (the database) is Gatehouse's error (500).

use std::sync::Arc;

use axum::response::Response;
use gatehouse_protocol::access_rule::Upstream;

use super::error::ProxyError;
use super::forwarded::Inbound;
use super::phase::Phase;
use crate::clock::now;
use crate::gateway::Gateway;
use crate::gateway::model::{self, Decision};

/// An allowed request: as read, with the decision's headers and the rule's upstream.
pub struct Allowed {
    pub inbound: Inbound,
    /// The identity headers and what the mutators set, replacing the client's copies.
    pub headers: Vec<(String, String)>,
    pub upstream: Option<Upstream>,
}

pub struct Decide<P> {
    next: P,
    gateway: Arc<Gateway>,
}

/// The layer that puts [`Decide`] in front of the next phase.
pub fn layer(gateway: Arc<Gateway>) -> Layer {
    Layer { gateway }
}

pub struct Layer {
    gateway: Arc<Gateway>,
}

impl<P> tower::Layer<P> for Layer {
    type Service = Decide<P>;

    fn layer(&self, next: P) -> Decide<P> {
        Decide {
            next,
            gateway: self.gateway.clone(),
        }
    }
}

impl<P: Phase<Allowed>> Phase<Inbound> for Decide<P> {
    async fn call(&self, inbound: Inbound) -> Result<Response, ProxyError> {
        let decision = {
            let seen = &inbound.seen;
            let r = model::Request {
                method: &seen.method,
                scheme: &seen.scheme,
                host: &seen.host,
                uri: &seen.uri,
                headers: &inbound.parts.headers,
                client_ip: Some(inbound.peer.ip().to_string()),
            };
            self.gateway
                .decide(&r, now())
                .await
                .map_err(ProxyError::Internal)?
        };
        match decision {
            Decision::Allow {
                headers, upstream, ..
            } => {
                self.next
                    .call(Allowed {
                        inbound,
                        headers,
                        upstream,
                    })
                    .await
            }
            deny @ Decision::Deny { .. } => Ok(crate::web::decisions::respond(deny)),
        }
    }
}
