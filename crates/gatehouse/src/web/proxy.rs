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
//!   never reach the upstream; `X-Forwarded-For`, `-Proto` and `-Host` are set.
//! - No response headers within `serve.proxy.timeout` is a 504; an upstream that cannot be
//!   reached or breaks the exchange is a 502.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::AppState;
use crate::clock::now;
use crate::gateway::model::{self, Decision, IDENTITY_HEADERS};
use gatehouse_protocol::forward;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

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

#[derive(Clone)]
struct ProxyState {
    app: AppState,
    proxy: Proxy,
}

pub fn router(app: AppState, proxy: Proxy) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(ProxyState { app, proxy })
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = model::error_body(status.as_u16(), message, None);
    (status, axum::Json(body)).into_response()
}

fn header_str(h: &HeaderMap, name: HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(
    State(s): State<ProxyState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (mut parts, body) = req.into_parts();
    // HTTP/2 carries the host in the URI (:authority), HTTP/1.1 in Host.
    let own_host = parts
        .uri
        .authority()
        .map(|a| a.as_str().as_bytes())
        .or_else(|| parts.headers.get(header::HOST).map(HeaderValue::as_bytes));
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let proto = s
        .proxy
        .trust_forwarded
        .then(|| {
            parts
                .headers
                .get("x-forwarded-proto")
                .map(HeaderValue::as_bytes)
        })
        .flatten();
    let seen = match forward::parse(&forward::ForwardedHeaders {
        proto,
        own_method: parts.method.as_str(),
        own_host,
        own_uri: &path_and_query,
        ..Default::default()
    }) {
        Ok(f) => f,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    let decision = {
        let r = model::Request {
            method: &seen.method,
            scheme: &seen.scheme,
            host: &seen.host,
            uri: &seen.uri,
            headers: &parts.headers,
            client_ip: Some(peer.ip().to_string()),
        };
        match s.app.gateway.decide(&r, now()).await {
            Ok(d) => d,
            Err(e) => return super::error::ApiError(e).into_response(),
        }
    };
    let (headers, upstream) = match decision {
        Decision::Allow {
            headers, upstream, ..
        } => (headers, upstream),
        deny @ Decision::Deny { .. } => return super::decisions::respond(deny),
    };
    let Some(upstream) = upstream.filter(|u| !u.url.is_empty()) else {
        return error(StatusCode::BAD_GATEWAY, "the rule has no upstream");
    };
    let target = match forward::upstream_uri(
        &upstream.url,
        upstream.strip_path.as_deref(),
        &path_and_query,
    )
    .map_err(|e| e.to_string())
    .and_then(|u| u.parse::<Uri>().map_err(|e| e.to_string()))
    {
        Ok(u) => u,
        Err(why) => {
            tracing::warn!(rule_upstream = %upstream.url, error = %why, "proxy: bad upstream URL");
            return error(StatusCode::BAD_GATEWAY, "the upstream URL is not usable");
        }
    };

    // The headers going upstream: end-to-end ones only, the client's identity headers out,
    // the decision's in.
    let connection = header_str(&parts.headers, header::CONNECTION).map(str::to_owned);
    let upgrade = parts.headers.get(header::UPGRADE).cloned();
    let websocket = forward::wants_websocket(
        connection.as_deref(),
        upgrade.as_ref().and_then(|v| v.to_str().ok()),
    );
    let mut out = HeaderMap::with_capacity(parts.headers.len() + headers.len() + 4);
    let incoming_xff = header_str(&parts.headers, HeaderName::from_static("x-forwarded-for"))
        .filter(|_| s.proxy.trust_forwarded)
        .map(str::to_owned);
    for (name, value) in parts.headers.drain().filter_map(|(k, v)| k.map(|k| (k, v))) {
        let n = name.as_str();
        if forward::is_hop_by_hop(n, connection.as_deref())
            || n == "host"
            || n.starts_with("x-forwarded-")
            || IDENTITY_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(n))
        {
            continue;
        }
        out.append(name, value);
    }
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            out.insert(k, v);
        }
    }
    let xff = match incoming_xff {
        Some(prev) if !prev.trim().is_empty() => format!("{}, {}", prev.trim(), peer.ip()),
        _ => peer.ip().to_string(),
    };
    let set = |out: &mut HeaderMap, name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            out.insert(HeaderName::from_static(name), v);
        }
    };
    set(&mut out, "x-forwarded-for", &xff);
    set(&mut out, "x-forwarded-proto", &seen.scheme);
    set(&mut out, "x-forwarded-host", &seen.host);
    let host = if upstream.preserve_host {
        seen.host.clone()
    } else {
        forward::upstream_authority(&upstream.url)
            .unwrap_or_default()
            .to_owned()
    };
    if let Ok(v) = HeaderValue::from_str(&host) {
        out.insert(header::HOST, v);
    }
    let client_upgrade = if websocket {
        out.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(u) = upgrade {
            out.insert(header::UPGRADE, u);
        }
        parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
    } else {
        None
    };

    let mut request = axum::http::Request::new(body);
    // The method the rules decided on (upper case) is the one the upstream gets.
    *request.method_mut() =
        axum::http::Method::from_bytes(seen.method.as_bytes()).unwrap_or(parts.method);
    *request.uri_mut() = target;
    *request.headers_mut() = out;
    // The client speaks HTTP/1.1 to plain upstreams; TLS ones negotiate.
    *request.version_mut() = Version::HTTP_11;

    let mut resp = match tokio::time::timeout(s.proxy.timeout, s.proxy.client.request(request))
        .await
    {
        Err(_) => {
            tracing::warn!(upstream = %upstream.url, "proxy: the upstream did not answer in time");
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                "the upstream did not answer in time",
            );
        }
        Ok(Err(e)) => {
            tracing::warn!(upstream = %upstream.url, error = %e, "proxy: the upstream failed");
            return error(StatusCode::BAD_GATEWAY, "the upstream could not be reached");
        }
        Ok(Ok(r)) => r,
    };

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return error(
                StatusCode::BAD_GATEWAY,
                "the upstream switched protocols unasked",
            );
        };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let (client, upstream) = match tokio::join!(client_upgrade, upstream_upgrade) {
                (Ok(c), Ok(u)) => (c, u),
                _ => return,
            };
            let (mut c, mut u) = (TokioIo::new(client), TokioIo::new(upstream));
            let _ = tokio::io::copy_bidirectional(&mut c, &mut u).await;
        });
        let (mut rp, _) = resp.into_parts();
        let connection = header_str(&rp.headers, header::CONNECTION).map(str::to_owned);
        let upgrade = rp.headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut rp.headers, connection.as_deref());
        rp.headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(u) = upgrade {
            rp.headers.insert(header::UPGRADE, u);
        }
        return Response::from_parts(rp, Body::empty());
    }

    let (mut rp, body) = resp.into_parts();
    let connection = header_str(&rp.headers, header::CONNECTION).map(str::to_owned);
    strip_hop_by_hop(&mut rp.headers, connection.as_deref());
    Response::from_parts(rp, Body::new(body))
}

fn strip_hop_by_hop(h: &mut HeaderMap, connection: Option<&str>) {
    let names: Vec<HeaderName> = h
        .keys()
        .filter(|k| forward::is_hop_by_hop(k.as_str(), connection))
        .cloned()
        .collect();
    for n in names {
        h.remove(n);
    }
}
