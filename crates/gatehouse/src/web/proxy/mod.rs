//! The gateway's reverse proxy (Oathkeeper's proxy port): every request is decided by the
//! access rules, then passed to the matching rule's `upstream` with the mutated identity
//! headers, or refused as the rule's error handlers say.
//!
//! - HTTP/1.1 and HTTP/2 (cleartext, prior knowledge) in; HTTP/1.1 to `http://` upstreams, and
//!   HTTP/2 or HTTP/1.1 (ALPN) to `https://` ones.
//! - Bodies stream both ways; nothing is buffered.
//! - WebSockets: an allowed upgrade request is passed on, and when the upstream switches
//!   protocols the two connections are joined.
//! - Hop-by-hop headers are removed both ways; the client's copies of the identity headers
//!   never reach the upstream; `X-Forwarded-For`, `-Proto` and `-Host` are set. The request id
//!   (`x-request-id`, set as on every listener) goes upstream with the other end-to-end headers.
//! - No response headers within `serve.proxy.timeout` is a 504; an upstream that cannot be
//!   reached or breaks the exchange is a 502.
//!
//! The proxy is a stack of single-purpose phases (one file each), in the order [`router`]
//! writes down. Each phase takes the request in the type the phase before made of it
//! (`Request` → `Inbound` → `Allowed` → `Upgradable` → `Outbound`), so the order is also checked
//! by the compiler, and a failure is a [`ProxyError`] that says whose it is.

mod decide;
mod error;
mod forwarded;
mod phase;
mod rewrite;
mod upgrade;
mod upstream;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::ServiceBuilder;

pub use error::{ProxyError, Source};
pub use phase::Phase;

use super::AppState;
use upstream::Connector;

/// The proxy's upstream client and settings, built once.
#[derive(Clone)]
pub struct Proxy {
    client: Client<Connector, Body>,
    timeout: Duration,
    trust_forwarded: bool,
}

impl Proxy {
    pub fn new(cfg: &crate::config::ProxyListener) -> anyhow::Result<Proxy> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(cfg.connect_timeout.0));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(https);
        Ok(Proxy {
            client,
            timeout: cfg.timeout.0,
            trust_forwarded: cfg.trust_forwarded_headers,
        })
    }
}

/// The proxy listener's router. A request passes through, outermost first:
///
/// 1. the layers every listener has (`web::layered`): the request id (`x-request-id`, kept
///    when the client sent one, and copied to the answer), the tracing span (with the request
///    id), the panic catcher (500) and the metrics; no body size limit, bodies stream;
/// 2. [`forwarded::ReadForwarded`]: the method, scheme, host and path the rules decide on
///    (`X-Forwarded-Proto` only with `serve.proxy.trust_forwarded_headers`); malformed: 400;
/// 3. [`decide::Decide`]: the access rules' decision; a refusal is answered here as the rule's
///    error handlers say (401, 403, a redirect, 429 ...);
/// 4. [`rewrite::Rewrite`]: the request the upstream gets (the rule's upstream URL, the
///    decided method, end-to-end headers only, the identity headers from the mutators,
///    `X-Forwarded-*`, `Host`), and on the way back the answer's hop-by-hop headers removed;
///    no usable upstream in the rule: 502;
/// 5. [`upgrade::Upgrade`]: when the upstream switches to WebSocket, the client's and the
///    upstream's connections joined; a switch the client did not ask for: 502;
/// 6. [`upstream::Upstream`]: the call, within `serve.proxy.timeout` (504) and its
///    `connect_timeout`; unreachable or broken: 502.
///
/// A phase's failure is answered in one place, by who failed ([`ProxyError`]): the client 400,
/// the upstream 502 or 504, Gatehouse 500.
pub fn router(app: AppState, proxy: Proxy) -> Router {
    let observe = crate::metrics::Observe {
        metrics: app.metrics.clone(),
        listener: "proxy",
    };
    let phases = ServiceBuilder::new()
        .layer(forwarded::layer(proxy.trust_forwarded))
        .layer(decide::layer(app.gateway.clone()))
        .layer(rewrite::layer(proxy.trust_forwarded))
        .layer(upgrade::layer())
        .service(upstream::Upstream::new(proxy.client, proxy.timeout));
    super::layered(
        Router::new().fallback_service(Serve(Arc::new(phases))),
        None,
        observe,
    )
}

/// The phases as the `tower::Service` axum routes to: one boxed future per request, inside
/// which every phase runs; a failure becomes its answer here.
struct Serve<P>(Arc<P>);

impl<P> Clone for Serve<P> {
    fn clone(&self) -> Self {
        Serve(self.0.clone())
    }
}

impl<P: Phase<Request>> tower::Service<Request> for Serve<P> {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let phases = self.0.clone();
        Box::pin(async move {
            Ok(phases
                .call(req)
                .await
                .unwrap_or_else(IntoResponse::into_response))
        })
    }
}
