//! Phase 5, the last: the call to the upstream on the shared connection pool. No response
//! headers within `serve.proxy.timeout` is a 504; a connection refused, a connect timeout
//! (`serve.proxy.connect_timeout`) or a broken exchange is a 502. The response body streams
//! back as it comes.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use super::error::ProxyError;
use super::phase::Phase;

/// How the proxy connects upstream: TCP, then TLS for `https://`.
pub type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The request for the upstream, as built, and the rule's upstream URL (named in the logs).
pub struct Outbound {
    pub request: axum::http::Request<Body>,
    pub upstream: String,
}

pub struct Upstream {
    client: Client<Connector, Body>,
    timeout: Duration,
}

impl Upstream {
    pub fn new(client: Client<Connector, Body>, timeout: Duration) -> Upstream {
        Upstream { client, timeout }
    }
}

impl Phase<Outbound> for Upstream {
    async fn call(&self, o: Outbound) -> Result<Response, ProxyError> {
        let Outbound { request, upstream } = o;
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Err(_) => Err(ProxyError::Timeout { upstream }),
            Ok(Err(error)) => Err(ProxyError::Unreachable { upstream, error }),
            Ok(Ok(resp)) => Ok(resp.map(Body::new)),
        }
    }
}
