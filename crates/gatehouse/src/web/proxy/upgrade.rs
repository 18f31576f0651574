//! Phase 4: WebSocket. When the upstream answers a WebSocket request with 101 Switching
//! Protocols, the client's connection and the upstream's are joined (bytes copied both ways
//! until either side closes) in a task of their own; the 101 goes back without a body. A switch
//! the client did not ask for is the upstream's error (502).

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::error::ProxyError;
use super::phase::Phase;
use super::upstream::Outbound;

/// The upstream request and, for a WebSocket request, the client's side of the switch.
pub struct Upgradable {
    pub outbound: Outbound,
    pub client: Option<OnUpgrade>,
}

pub struct Upgrade<P> {
    next: P,
}

/// The layer that puts [`Upgrade`] in front of the next phase.
pub fn layer() -> Layer {
    Layer
}

pub struct Layer;

impl<P> tower::Layer<P> for Layer {
    type Service = Upgrade<P>;

    fn layer(&self, next: P) -> Upgrade<P> {
        Upgrade { next }
    }
}

impl<P: Phase<Outbound>> Phase<Upgradable> for Upgrade<P> {
    async fn call(&self, u: Upgradable) -> Result<Response, ProxyError> {
        let Upgradable { outbound, client } = u;
        let mut resp = self.next.call(outbound).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Ok(resp);
        }
        let Some(client) = client else {
            return Err(ProxyError::UnaskedSwitch);
        };
        let upstream = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let (client, upstream) = match tokio::join!(client, upstream) {
                (Ok(c), Ok(u)) => (c, u),
                _ => return,
            };
            let (mut c, mut u) = (TokioIo::new(client), TokioIo::new(upstream));
            let _ = tokio::io::copy_bidirectional(&mut c, &mut u).await;
        });
        let (parts, _) = resp.into_parts();
        Ok(Response::from_parts(parts, Body::empty()))
    }
}
