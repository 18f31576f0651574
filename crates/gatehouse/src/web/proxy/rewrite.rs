//! Phase 3: the request the upstream gets, and the answer the client gets back.
//!
//! Upstream: the rule's upstream URL joined with the request's path and query (`strip_path`
//! removed), the method the rules decided on (upper case), HTTP/1.1 (TLS upstreams negotiate);
//! the client's end-to-end headers only — hop-by-hop headers (and those its `Connection`
//! names), `Host`, every `X-Forwarded-*` and the client's copies of the identity headers
//! dropped — then the decision's headers (identity headers, mutators), `X-Forwarded-For`
//! (the client's address, after the incoming list when `trust_forwarded_headers`),
//! `X-Forwarded-Proto` and `-Host` as the rules saw them, and `Host` (the upstream's, or the
//! request's with `preserve_host`). A WebSocket request keeps `Connection: upgrade` and its
//! `Upgrade`, and hands the client's side of the switch to the next phase.
//!
//! Back: the upstream's hop-by-hop headers removed; a switch to WebSocket keeps
//! `Connection: upgrade` and the upstream's `Upgrade`.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version, header};
use axum::response::Response;
use gatehouse_protocol::forward;

use super::decide::Allowed;
use super::error::ProxyError;
use super::forwarded::{Inbound, path_and_query};
use super::phase::Phase;
use super::upgrade::Upgradable;
use super::upstream::Outbound;
use crate::gateway::model::IDENTITY_HEADERS;

pub struct Rewrite<P> {
    next: P,
    trust_forwarded: bool,
}

/// The layer that puts [`Rewrite`] in front of the next phase.
pub fn layer(trust_forwarded: bool) -> Layer {
    Layer { trust_forwarded }
}

pub struct Layer {
    trust_forwarded: bool,
}

impl<P> tower::Layer<P> for Layer {
    type Service = Rewrite<P>;

    fn layer(&self, next: P) -> Rewrite<P> {
        Rewrite {
            next,
            trust_forwarded: self.trust_forwarded,
        }
    }
}

fn header_str(h: &HeaderMap, name: HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
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

impl<P: Phase<Upgradable>> Phase<Allowed> for Rewrite<P> {
    async fn call(&self, allowed: Allowed) -> Result<Response, ProxyError> {
        let Allowed {
            inbound:
                Inbound {
                    mut parts,
                    body,
                    peer,
                    seen,
                },
            headers,
            upstream,
        } = allowed;
        let Some(upstream) = upstream.filter(|u| !u.url.is_empty()) else {
            return Err(ProxyError::NoUpstream);
        };
        let target = match forward::upstream_uri(
            &upstream.url,
            upstream.strip_path.as_deref(),
            path_and_query(&parts),
        )
        .map_err(|e| e.to_string())
        .and_then(|u| u.parse::<Uri>().map_err(|e| e.to_string()))
        {
            Ok(u) => u,
            Err(why) => {
                return Err(ProxyError::BadUpstreamUrl {
                    upstream: upstream.url,
                    why,
                });
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
            .filter(|_| self.trust_forwarded)
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
        let client = if websocket {
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

        let mut resp = self
            .next
            .call(Upgradable {
                outbound: Outbound {
                    request,
                    upstream: upstream.url,
                },
                client,
            })
            .await?;
        let connection = header_str(resp.headers(), header::CONNECTION).map(str::to_owned);
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let h = resp.headers_mut();
            let upgrade = h.get(header::UPGRADE).cloned();
            strip_hop_by_hop(h, connection.as_deref());
            h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(u) = upgrade {
                h.insert(header::UPGRADE, u);
            }
        } else {
            strip_hop_by_hop(resp.headers_mut(), connection.as_deref());
        }
        Ok(resp)
    }
}
